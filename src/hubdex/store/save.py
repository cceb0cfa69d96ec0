"""Write units of work: a page of models, a page of metrics, details, cards, router offers,
tombstones, quarantine and state. Every row the crawl stores is written here.

The caller wraps each unit, with its checkpoint written last, in one transaction. This is the
crawl's hot path (10,000 models a second is the target), so it speaks SQL through `executemany` on
the tables the migrations created, instead of sqlite-utils' per-row upserts: one SELECT tells which
of a page's models are known, and only new, changed, renamed or revived models are written. The
new models' tags, file names and Spaces (about 20 rows a model) go in as one statement per table
and page, their lists as one JSON array that SQLite's `json_each` unrolls: bound a row at a time,
they cost more than the models' own rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import orjson

from ..records.evidence import model_index_rows
from ..records.models import MODEL_COLUMNS, ModelRecord

METRIC_COLUMNS = ("downloads", "downloads_all_time", "likes", "trending_score")
_INSERT_MODEL = (f"INSERT INTO models ({', '.join(MODEL_COLUMNS + ('key',) + METRIC_COLUMNS)}, first_seen, "
                 f"updated_at) VALUES ({', '.join('?' * (len(MODEL_COLUMNS) + 1 + len(METRIC_COLUMNS) + 2))})")
_UPDATE_MODEL = (f"UPDATE models SET {', '.join(c + ' = ?' for c in MODEL_COLUMNS[1:])}, updated_at = ?, "
                 f"removed_at = NULL WHERE key = ?")
_UPDATE_METRICS = f"UPDATE models SET {', '.join(c + ' = ?' for c in METRIC_COLUMNS)} WHERE key = ?"
_HASH = MODEL_COLUMNS.index("meta_hash")
_AUTHOR = MODEL_COLUMNS.index("author")
# The search row of a new, changed or renamed model; its card text, if read, stays.
_UPSERT_SEARCH = ("INSERT INTO model_search (model_key, id, author, tags) VALUES (?, ?, ?, ?) ON CONFLICT (model_key) "
                  "DO UPDATE SET id = excluded.id, author = excluded.author, tags = excluded.tags")
CARD_SEARCH_CHARS = 20_000  # enough of a card to find it by; the rest is in card_sections
_UPSERT_HISTORY = ("INSERT INTO metrics_history (model_key, day, downloads, downloads_all_time, likes, trending_score) "
                   "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (model_key, day) DO UPDATE SET "
                   "downloads = excluded.downloads, downloads_all_time = excluded.downloads_all_time, "
                   "likes = excluded.likes, trending_score = excluded.trending_score")


@dataclass
class Counts:
    seen: int = 0
    new: int = 0
    changed: int = 0
    renamed: int = 0
    revived: int = 0
    metrics_moved: int = 0

    def add(self, other: "Counts"):
        for f in self.__dataclass_fields__:
            setattr(self, f, getattr(self, f) + getattr(other, f))


def _chunks(seq, size=900):  # SQLite's default limit on bound variables is 999 on old builds
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


# A page's new models' lists of one child table in one statement: `?1` the first new model's key,
# `?2` a JSON array holding one array of strings per new model, in key order (json_each's `key` is
# the index). One statement a page instead of a bound row per tag or file: a third of the inserts' CPU.
_INSERT_LISTS = ("INSERT OR IGNORE INTO {table} (model_key, {column}) SELECT ?1 + m.key, e.value "
                 "FROM json_each(?2) m, json_each(m.value) e")
_LIST_COLUMNS = {"model_tags": "tag", "model_files": "path", "model_spaces": "space_id"}


class _NewLists:
    """The child rows of a page's new models that are lists of strings: tags, file names (a listing's
    siblings) and Spaces. Anything else (files with sizes, relations, providers) goes as rows."""

    def __init__(self):
        self.tags, self.files, self.spaces = [], [], []

    def add(self, key: int, r: ModelRecord, rows: dict):
        self.tags.append(r.tags)
        self.spaces.append(r.spaces if r.has_spaces else ())
        if r.file_names is not None:
            self.files.append(r.file_names)
        else:
            self.files.append(())
            if r.has_files:
                rows["model_files"] += [(key,) + f for f in r.files]
        if r.relations:
            rows["model_relations"] += [(key, parent, rel) for parent, rel in r.relations]
        if r.has_providers and r.providers:
            rows["model_providers"] += [(key,) + p for p in r.providers]

    def write(self, conn, first_key: int, rows: dict):
        for table, lists in (("model_tags", self.tags), ("model_files", self.files), ("model_spaces", self.spaces)):
            if not any(lists):
                continue
            blob = None
            try:
                blob = orjson.dumps(lists)
            except (TypeError, orjson.JSONEncodeError):
                pass
            # SQLite's JSON reads every escape orjson writes but \u0000 (a NUL in a string, which it
            # would cut short): such a page, if one ever comes, goes row by row.
            if blob is None or b"\\u0000" in blob:
                column = "model_files_names" if table == "model_files" else table
                rows[column] = rows.get(column, []) + [(first_key + i, v) for i, vs in enumerate(lists) for v in vs]
                continue
            conn.execute(_INSERT_LISTS.format(table=table, column=_LIST_COLUMNS[table]), (first_key, blob))


class Writer:
    def __init__(self, conn, day: int, now: str):
        self.conn = conn
        self.day, self.now = day, now
        self.next_key = (conn.execute("SELECT max(key) FROM models").fetchone()[0] or 0) + 1

    def _known(self, oids: list) -> dict:
        known = {}
        for chunk in _chunks(oids):
            sql = (f"SELECT oid, id, key, meta_hash, removed_at, {', '.join(METRIC_COLUMNS)} FROM models "
                   f"WHERE oid IN ({', '.join('?' * len(chunk))})")
            for row in self.conn.execute(sql, chunk):
                known[row[0]] = row
        return known

    def _free_ids(self, records: list[ModelRecord], known: dict):
        """An id held by another model (a deleted repo's name reused, two renames crossing) is moved
        aside to `<id>@<old _id>` and tombstoned, so the id can go to the model that has it now."""
        ids = [r.id for r in records]
        owners = {}
        for chunk in _chunks(ids):
            sql = f"SELECT id, oid FROM models WHERE id IN ({', '.join('?' * len(chunk))})"
            owners.update(self.conn.execute(sql, chunk).fetchall())
        for r in records:
            owner = owners.get(r.id)
            if owner is not None and owner != r.oid:
                aside = f"{r.id}@{owner}"
                self._rename(r.id, aside)
                self.conn.execute("UPDATE models SET removed_at = coalesce(removed_at, ?) WHERE id = ?", (self.now, aside))
                if owner in known:
                    known[owner] = (owner, aside) + tuple(known[owner][2:])

    def _rename(self, old: str, new: str):
        self.conn.execute("UPDATE models SET id = ? WHERE id = ?", (new, old))  # children hang on the key

    def save_models(self, records: list[ModelRecord]) -> Counts:
        counts = Counts(seen=len(records))
        known = self._known([r.oid for r in records])
        self._free_ids(records, known)
        inserts, updates, metric_updates, history, search, new_evals = [], [], [], [], [], []
        rewrite, children = [], {t: [] for t in ("model_tags", "model_relations", "model_files", "model_spaces", "model_providers")}
        # New models' tags, file names and Spaces as lists, one per new model in key order: each
        # table's lists go in as one statement (_INSERT_LISTS) instead of a row at a time.
        first_new, lists = self.next_key, _NewLists()
        for r in records:
            ex = known.get(r.oid)
            values = r.values
            if ex is None:
                key = self.next_key
                self.next_key += 1
                inserts.append(values + (key,) + r.metrics + (self.now, self.now))
                history.append((key, self.day) + r.metrics)
                counts.new += 1
                lists.add(key, r, children)
                if r.evals:  # a new model has nothing stored: only results to add cost a statement
                    new_evals.append((key, r))
                search.append((key, r.id, values[_AUTHOR], " ".join(r.tags)))
                continue
            _oid, old_id, key, meta_hash, removed_at = ex[:5]
            renamed = old_id != r.id
            if renamed:
                self._rename(old_id, r.id)
                if "@" not in old_id:  # (not an id moved aside): the old id still leads to the model
                    self.conn.execute("INSERT INTO model_renames (old_id, model_key, renamed_at) VALUES (?, ?, ?) "
                                      "ON CONFLICT (old_id) DO UPDATE SET model_key = excluded.model_key, "
                                      "renamed_at = excluded.renamed_at", (old_id, key, self.now))
                counts.renamed += 1
            if renamed or meta_hash != r.values[_HASH] or removed_at is not None:
                updates.append(values[1:] + (self.now, key))
                rewrite.append((key, r))
                self._children(key, r, children)
                search.append((key, r.id, values[_AUTHOR], " ".join(r.tags)))
                counts.changed += meta_hash != r.values[_HASH] and not renamed  # a rename counts once
                counts.revived += removed_at is not None
            if tuple(ex[5:9]) != r.metrics:
                metric_updates.append(r.metrics + (key,))
                history.append((key, self.day) + r.metrics)
        conn = self.conn
        if inserts:
            conn.executemany(_INSERT_MODEL, inserts)
        if updates:
            conn.executemany(_UPDATE_MODEL, updates)
            for key, r in rewrite:  # only the kinds the payload carried are replaced
                for table, present in (("model_tags", True), ("model_relations", True), ("model_files", r.has_files),
                                       ("model_spaces", r.has_spaces), ("model_providers", r.has_providers)):
                    if present:
                        conn.execute(f"DELETE FROM {table} WHERE model_key = ?", (key,))
        lists.write(conn, first_new, children)
        self._write_children(children)
        for key, r in new_evals + [(key, r) for key, r in rewrite if r.evals is not None]:
            replace_results(conn, r.evals, now=self.now, model_key=key, origin="evalResults")
        if search:
            conn.executemany(_UPSERT_SEARCH, search)
        if metric_updates:
            conn.executemany(_UPDATE_METRICS, metric_updates)
        if history:
            conn.executemany(_UPSERT_HISTORY, history)
        counts.metrics_moved = len(history)
        return counts

    @staticmethod
    def _children(mid: int, r: ModelRecord, out: dict):
        out["model_tags"] += [(mid, t) for t in r.tags]
        out["model_relations"] += [(mid, parent, rel) for parent, rel in r.relations]
        if r.has_files:
            out["model_files"] += [(mid,) + f for f in r.files]
        if r.has_spaces:
            out["model_spaces"] += [(mid, s) for s in r.spaces]
        if r.has_providers:
            out["model_providers"] += [(mid,) + p for p in r.providers]

    def _write_children(self, children: dict):
        sql = {"model_tags": "INSERT OR IGNORE INTO model_tags VALUES (?, ?)",
               "model_relations": "INSERT OR IGNORE INTO model_relations VALUES (?, ?, ?)",
               "model_files": "INSERT OR IGNORE INTO model_files VALUES (?, ?, ?, ?, ?)",
               "model_files_names": "INSERT OR IGNORE INTO model_files (model_key, path) VALUES (?, ?)",
               "model_spaces": "INSERT OR IGNORE INTO model_spaces VALUES (?, ?)",
               "model_providers": "INSERT OR IGNORE INTO model_providers VALUES (?, ?, ?, ?, ?)"}
        for table, rows in children.items():
            if rows:
                self.conn.executemany(sql[table], rows)

    def save_metrics(self, items: list[tuple]) -> tuple[int, int]:
        """(id, _id, metrics) triples from a metrics listing; returns (moved, unknown)."""
        known = self._known([oid for _id, oid, _m in items])
        updates, history, unknown = [], [], 0
        for _mid, oid, metrics in items:
            ex = known.get(oid)
            if ex is None:
                unknown += 1
            elif tuple(ex[5:9]) != metrics:
                updates.append(metrics + (ex[2],))
                history.append((ex[2], self.day) + metrics)
        if updates:
            self.conn.executemany(_UPDATE_METRICS, updates)
            self.conn.executemany(_UPSERT_HISTORY, history)
        return len(updates), unknown

    def save_details(self, r: ModelRecord):
        """What only `model_info` gives (file sizes and LFS ids, model-index, widget data): the body is
        kept whole in `detail`, and the files are replaced by their sized versions."""
        row = self.conn.execute("SELECT key FROM models WHERE oid = ?", (r.oid,)).fetchone()
        if row is None:
            return
        self.conn.execute("UPDATE models SET detail = ?, mask_token = coalesce(?, mask_token), detail_at = ? "
                          "WHERE key = ?", (r.row["raw"], r.row["mask_token"], self.now, row[0]))
        if r.has_files:
            self.conn.execute("DELETE FROM model_files WHERE model_key = ?", (row[0],))
            self.conn.executemany("INSERT OR IGNORE INTO model_files VALUES (?, ?, ?, ?, ?)",
                                  [(row[0],) + f for f in r.files])

    # -- bookkeeping ------------------------------------------------------------------------------
    def set_state(self, key: str, value):
        set_state(self.conn, key, value, self.now)

    def record_pass_page(self, pass_id: str, page: int, oids: list):
        self.conn.execute("INSERT OR REPLACE INTO pass_pages VALUES (?, ?, ?)", (pass_id, page, json.dumps(oids)))

    def finish_pass(self, pass_id: str) -> int:
        """Tombstone the models a completed full pass did not see; returns how many."""
        conn = self.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS seen_oids (oid TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM seen_oids")
        conn.execute("INSERT OR IGNORE INTO seen_oids SELECT j.value FROM pass_pages p, json_each(p.oids) j "
                     "WHERE p.pass_id = ?", (pass_id,))
        removed = conn.execute("UPDATE models SET removed_at = ? WHERE removed_at IS NULL AND oid NOT IN "
                               "(SELECT oid FROM seen_oids)", (self.now,)).rowcount
        conn.execute("DELETE FROM pass_pages")  # this pass's, and any an earlier, abandoned pass left
        conn.execute("DELETE FROM seen_oids")
        return removed

    def quarantine(self, run_id: int, url: str, model_id, reason: str, raw: bytes):
        quarantine(self.conn, run_id, self.now, url, model_id, reason, raw)


def quarantine(conn, run_id: int, now: str, url: str, model_id, reason: str, raw: bytes):
    """A payload that could not be used, with why and its bytes; the crawl goes on."""
    conn.execute("INSERT INTO quarantine (run_id, seen_at, url, model_id, reason, raw) VALUES (?, ?, ?, ?, ?, ?)",
                 (run_id, now, url, model_id, reason, raw))


def get_state(conn, key: str, default=None):
    row = conn.execute("SELECT value FROM crawl_state WHERE key = ?", (key,)).fetchone()
    return default if row is None else row[0]


def set_state(conn, key: str, value, now: str):
    """A checkpoint, watermark or mark in `crawl_state`; values that aren't text are stored as JSON."""
    conn.execute("INSERT INTO crawl_state (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) "
                 "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                 (key, value if value is None or isinstance(value, str) else json.dumps(value), now))


def save_card(conn, key: int, sha: str, now: str, source: str, parsed, size: int, blob_id: str | None = None):
    """Replace a model's card rows (sections, evaluations, capabilities) with what `parsed` found;
    `blob_id` is the git blob id of the README.md read (None for other sources)."""
    for table in ("card_sections", "evaluations", "capabilities"):
        conn.execute(f"DELETE FROM {table} WHERE model_key = ?", (key,))
    sections = [(key, i, s["level"], s["title"], json.dumps(s["path"]), "\n".join(s["paragraphs"] + s["list_items"]))
                for i, s in enumerate(parsed.sections)] if parsed else []
    evaluations = [(key, i, e["metric"], e["value"], e["dataset"], e["subject"], e["split"], e["task"], e["source"],
                    e["where"]) for i, e in enumerate(parsed.evaluations)] if parsed else []
    capabilities = [(key, i, c["capability"], c["detail"], c["evidence_kind"], c["evidence_source"], c["confidence"])
                    for i, c in enumerate(parsed.capabilities)] if parsed else []
    conn.executemany("INSERT INTO card_sections VALUES (?, ?, ?, ?, ?, ?)", sections)
    text = "\n".join(f"{s[3]}\n{s[5]}" for s in sections)[:CARD_SEARCH_CHARS]
    conn.execute("UPDATE model_search SET card = ? WHERE model_key = ?", (text, key))
    conn.executemany("INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", evaluations)
    model_id = conn.execute("SELECT id FROM models WHERE key = ?", (key,)).fetchone()
    if model_id is not None:
        rows = model_index_rows(model_id[0], parsed.front_matter) if parsed and parsed.front_matter else []
        replace_results(conn, rows, now=now, model_key=key, origin="model-index")
    conn.executemany("INSERT INTO capabilities VALUES (?, ?, ?, ?, ?, ?, ?)", capabilities)
    conn.execute("INSERT OR REPLACE INTO cards (model_key, sha, fetched_at, source, bytes, truncated, problems, "
                 "front_matter, sections_count, evaluations_count, capabilities_count, blob_id) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (key, sha, now, source, size, int(bool(parsed and parsed.truncated)),
                  json.dumps(parsed.problems) if parsed else "[]",
                  json.dumps(parsed.front_matter, default=str) if parsed else None,
                  len(sections), len(evaluations), len(capabilities), blob_id))


def save_configs(conn, key: int, sha: str, configs: dict):
    """A model's configuration files as read at `sha` (path -> JSON text), replacing what was there."""
    conn.execute("DELETE FROM model_configs WHERE model_key = ?", (key,))
    conn.executemany("INSERT INTO model_configs VALUES (?, ?, ?, ?)", ((key, p, sha, body) for p, body in configs.items()))


def save_offers(conn, offers, day: int, date: str) -> int:
    """The router's offers (hub.router.Offer) as seen on `day`, replacing any seen earlier that day."""
    conn.execute("DELETE FROM router_prices WHERE day = ?", (day,))
    conn.executemany("INSERT OR REPLACE INTO router_prices (model_id, provider, day, date, status, input_usd_per_m, "
                     "output_usd_per_m, context_length, supports_tools, supports_structured_output, is_free) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(o.model_id, o.provider, day, date, o.status, o.input_usd_per_m, o.output_usd_per_m,
                       o.context_length, o.supports_tools, o.supports_structured_output, o.is_free) for o in offers])
    return len(offers)


_RESULT_COLUMNS = ("model_id", "model_key", "origin", "dataset_id", "task_id", "split", "metric", "value", "kind",
                   "source_name", "source_url", "source_by", "date", "notes", "filename", "rank")


def replace_results(conn, rows: list[dict], *, now: str, run_id: int | None = None, model_key: int | None = None,
                    origin: str, dataset_id: str | None = None) -> bool:
    """Replace one scope of `eval_results` (a model's rows of one origin, by `model_key`; or a
    benchmark's leaderboard, by `dataset_id`) with `rows`, only if they differ from what is stored
    (so an unchanged leaderboard writes nothing). Returns whether anything was written."""
    if model_key is not None:
        where, params = "model_key = ? AND origin = ?", (model_key, origin)
    else:
        where, params = "dataset_id = ? AND origin = ?", (dataset_id, origin)
    shown = ("model_id",) + _RESULT_COLUMNS[3:]
    stored = sorted(conn.execute(f"SELECT {', '.join(shown)} FROM eval_results WHERE {where}", params).fetchall(),
                    key=repr)
    new = [tuple(r.get(c) for c in shown) for r in rows]
    if sorted(new, key=repr) == stored:
        return False
    conn.execute(f"DELETE FROM eval_results WHERE {where}", params)
    if model_key is None:  # a leaderboard names models by id: their keys where they are crawled
        keys = {}
        for r in rows:
            if r["model_id"] not in keys:
                found = conn.execute("SELECT key FROM models WHERE id = ?", (r["model_id"],)).fetchone()
                keys[r["model_id"]] = found[0] if found else None
    conn.executemany(f"INSERT INTO eval_results ({', '.join(_RESULT_COLUMNS)}, fetched_at, run_id) "
                     f"VALUES ({', '.join('?' * (len(_RESULT_COLUMNS) + 2))})",
                     [(r["model_id"], model_key if model_key is not None else keys[r["model_id"]], origin)
                      + tuple(r.get(c) for c in shown[1:]) + (now, run_id) for r in rows])
    return True

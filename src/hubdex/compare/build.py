"""The comparisons step of `hubdex derive` (after scores): which pairs, and which entries to rebuild.

Pairs: for every canonical model (copies fold into what they copy and never appear in edges), its
top M competitor edges by weight (M = TOP_M, default 5), each unordered pair once. For each pair the
sides are read (entry.sides) and the inputs hash is taken over the two sides and the edge, which is
exactly what the entry shows at the precision it shows it. An entry is (re)built only when its hash
differs from the stored one; a stored entry whose pair is no longer chosen is marked stale (its side
was removed, or it dropped out of the top M), never deleted; a stale entry chosen again is revived.
The step's counts go to the derive summary and to `comparison_runs` (a row per derive run).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import orjson

from ..store.save import get_state, set_state
from . import entry as entry_
from . import reading, render

TOP_M = 5


@dataclass
class CompareResult:
    pairs: int = 0
    built: int = 0
    rebuilt: int = 0
    unchanged: int = 0
    stale: int = 0
    revived: int = 0
    sides_read: int = 0
    top_m: int = TOP_M
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time: what the step costs whatever else the machine runs

    def summary(self) -> str:
        return (f"comparisons: {self.pairs:,} pairs (top {self.top_m} competitors of each model): {self.built:,} built, "
                f"{self.rebuilt:,} rebuilt, {self.unchanged:,} left alone, {self.stale:,} marked stale"
                + (f", {self.revived:,} revived" if self.revived else "")
                + f"; {self.sides_read:,} sides read ({self.seconds:.1f} s, {self.cpu_seconds:.1f} s CPU)")


BATCH = 2000  # pairs per batch: sides are read and entries written batch by batch, never all held


def pairs(conn, top_m: int = TOP_M) -> list[tuple[int, int]]:
    """(a_key, b_key) with a_key < b_key: every model's top M competitors, each pair once."""
    return reading.pairs(conn, top_m)


def _choose(conn, top_m: int) -> int:
    """The chosen pairs into a temp table (SQLite holds them, not Python): how many."""
    conn.execute("DROP TABLE IF EXISTS temp.compare_chosen")
    conn.execute("CREATE TEMP TABLE compare_chosen (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b)) "
                 "WITHOUT ROWID")
    conn.execute("""INSERT INTO temp.compare_chosen WITH e AS (
            SELECT a_key AS k, b_key AS o, a_standing AS standing, weight, a_key + b_key AS t FROM match_edges
            WHERE relation = 'competitor'
            UNION ALL SELECT b_key, a_key, b_standing, weight, a_key + b_key FROM match_edges WHERE relation = 'competitor'),
        r AS (SELECT k, o, row_number() OVER (PARTITION BY k ORDER BY standing DESC, weight DESC, t, o) AS n FROM e)
        SELECT DISTINCT min(k, o), max(k, o) FROM r WHERE n <= ?""", (top_m,))
    return conn.execute("SELECT count(*) FROM temp.compare_chosen").fetchone()[0]


def _batches(conn, size: int):
    last = (-1, -1)
    while True:
        rows = conn.execute("SELECT a, b FROM temp.compare_chosen WHERE (a, b) > (?, ?) ORDER BY a, b LIMIT ?",
                            (*last, size)).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1]


def _edge_for(edge_rows: dict, ka: int, kb: int):
    return edge_rows.get((min(ka, kb), max(ka, kb)))


def _known(conn, keys) -> dict:
    reading._keys_table(conn, keys)
    out = {k: (h, sh) for k, h, sh in conn.execute(
        "SELECT s.model_key, s.side_hash, s.shown FROM temp.compare_keys k JOIN comparison_sides s "
        "ON s.model_key = k.key")}
    conn.execute("DELETE FROM temp.compare_keys")
    return out


def _stored(conn, idents) -> dict:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS compare_ids (a TEXT, b TEXT, PRIMARY KEY (a, b))")
    conn.execute("DELETE FROM temp.compare_ids")
    conn.executemany("INSERT OR IGNORE INTO temp.compare_ids VALUES (?, ?)", idents)
    out = {(a, b): (h, st) for a, b, h, st in conn.execute(
        "SELECT c.model_a, c.model_b, c.inputs_hash, c.stale FROM temp.compare_ids i JOIN comparisons c "
        "ON c.model_a = i.a AND c.model_b = i.b")}
    conn.execute("DELETE FROM temp.compare_ids")
    return out


def build(conn, *, run_id: int, now: str, top_m: int = TOP_M, rebuild_all: bool = False,
          batch: int = BATCH) -> CompareResult:
    """Rebuild the comparisons whose inputs moved (in the caller's transaction), batch by batch. Sides
    are read again only for models that changed in this derive run (model_changes, any reason but
    'scores'), whose shown key moved (rounded scores, times matched, copies, strongest rivals) or that
    no entry showed before; all of them after a derive that rebuilt everything or when the entry's
    code changed (ENTRY_VERSION)."""
    started, cpu = time.monotonic(), time.process_time()
    res = CompareResult(top_m=top_m)
    res.pairs = _choose(conn, top_m)
    everything = rebuild_all or get_state(conn, "compare.version") != entry_.ENTRY_VERSION
    conn.execute("DROP TABLE IF EXISTS temp.compare_changed")
    conn.execute("CREATE TEMP TABLE compare_changed (key INTEGER PRIMARY KEY)")
    conn.execute("INSERT OR IGNORE INTO temp.compare_changed SELECT model_key FROM model_changes "
                 "WHERE run_id = ? AND reason != 'scores'", (run_id,))
    conn.execute("DROP TABLE IF EXISTS temp.compare_seen")
    conn.execute("CREATE TEMP TABLE compare_seen (a TEXT, b TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID")
    if everything:
        conn.execute("DELETE FROM comparison_sides")
    for chosen in _batches(conn, batch):
        _build_batch(conn, chosen, res, run_id=run_id, now=now, everything=everything)
    # sides no entry shows any more
    conn.execute("""DELETE FROM comparison_sides WHERE model_key NOT IN (SELECT a FROM temp.compare_chosen)
        AND model_key NOT IN (SELECT b FROM temp.compare_chosen)""")
    # entries no longer chosen: stale, with why (a side gone from the Hub, or no longer a top pair)
    marks = []
    for a, b, ra, rb in conn.execute("""SELECT c.model_a, c.model_b, ma.removed_at IS NOT NULL OR ma.id IS NULL,
            mb.removed_at IS NOT NULL OR mb.id IS NULL FROM comparisons c LEFT JOIN models ma ON ma.id = c.model_a
            LEFT JOIN models mb ON mb.id = c.model_b WHERE c.stale = 0
            AND NOT EXISTS (SELECT 1 FROM temp.compare_seen s WHERE s.a = c.model_a AND s.b = c.model_b)""").fetchall():
        lost = [i for i, gone in ((a, ra), (b, rb)) if gone]
        reason = (f"removed: {', '.join(lost)}" if lost else f"no longer among either model's top {top_m} competitors")
        marks.append((reason, now, a, b))
    conn.executemany("UPDATE comparisons SET stale = 1, stale_reason = ?, stale_since = ? WHERE model_a = ? AND model_b = ?",
                     marks)
    res.stale = len(marks)
    for t in ("compare_chosen", "compare_changed", "compare_seen"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{t}")
    set_state(conn, "compare.version", entry_.ENTRY_VERSION, now)
    res.seconds, res.cpu_seconds = time.monotonic() - started, time.process_time() - cpu
    conn.execute("INSERT OR REPLACE INTO comparison_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (run_id, res.pairs, res.built, res.rebuilt, res.unchanged, res.stale, res.revived, res.sides_read,
                  top_m, round(res.seconds, 3), round(res.cpu_seconds, 3)))
    return res


def _read(conn, keys) -> dict:
    return {k: entry_.prepare(s) for k, s in reading.sides(conn, keys, history=False).items()}


def _build_batch(conn, chosen, res: CompareResult, *, run_id, now, everything):
    keys = sorted({k for p in chosen for k in p})
    shown = reading.shown_keys(conn, keys)
    ids = reading.ids(conn, keys)
    known = _known(conn, keys)
    if everything:
        read = set(keys)
    else:
        reading._keys_table(conn, keys)
        changed = {r[0] for r in conn.execute(
            "SELECT k.key FROM temp.compare_keys k JOIN temp.compare_changed c ON c.key = k.key")}
        read = {k for k in keys if k in changed or k not in known or known[k][1] != shown.get(k)}
    side = _read(conn, read)
    res.sides_read += len(side)
    hashes = {k: known[k][0] for k in keys if k in known}
    hashes.update({k: s.hash() for k, s in side.items()})
    edge_rows = reading.edges(conn, chosen)
    idents = [(ids[a], ids[b]) if ids[a] < ids[b] else (ids[b], ids[a]) for a, b in chosen if a in ids and b in ids]
    stored = _stored(conn, idents)
    conn.executemany("INSERT OR IGNORE INTO temp.compare_seen VALUES (?, ?)", idents)
    todo = []
    for ka, kb in chosen:
        if ka not in ids or kb not in ids or ka not in hashes or kb not in hashes:
            continue
        if ids[ka] > ids[kb]:
            ka, kb = kb, ka
        edge = _edge_for(edge_rows, ka, kb)
        h = _pair_hash(hashes[ka], hashes[kb], edge)
        ident = (ids[ka], ids[kb])
        old = stored.get(ident)
        if old is not None and old[0].split(":")[0] == h:
            if old[1]:
                conn.execute("UPDATE comparisons SET stale = 0, stale_reason = NULL, stale_since = NULL "
                             "WHERE model_a = ? AND model_b = ?", ident)
                res.revived += 1
            res.unchanged += 1
            continue
        todo.append((ka, kb, edge, h, old))
    missing = {k for ka, kb, *_ in todo for k in (ka, kb)} - set(side)
    if missing:  # the other side of a pair that moved: read, not changed
        side.update(_read(conn, missing))
    writes, rehashed = [], []
    for ka, kb, edge, h, old in todo:
        sa, sb = side[ka], side[kb]
        e = entry_.build_entry(sa, sb, edge)
        content = content_hash(e)
        if old is not None and old[0].split(":")[-1] == content:
            # its inputs moved but nothing it shows did: the new inputs hash only, the entry stays as written
            rehashed.append((f"{h}:{content}", sa.id, sb.id))
            if old[1]:
                res.revived += 1
            res.unchanged += 1
            continue
        writes.append((sa.id, sb.id, ka, kb, f"{h}:{content}", now, run_id, render.render_json(e)))
        if old is None:
            res.built += 1
        else:
            res.rebuilt += 1
    conn.executemany("UPDATE comparisons SET inputs_hash = ?, stale = 0, stale_reason = NULL, stale_since = NULL "
                     "WHERE model_a = ? AND model_b = ?", rehashed)
    conn.executemany("""INSERT INTO comparisons (model_a, model_b, a_key, b_key, inputs_hash, generated_at, run_id,
        entry, stale, stale_reason, stale_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL)
        ON CONFLICT (model_a, model_b) DO UPDATE SET a_key = excluded.a_key, b_key = excluded.b_key,
        inputs_hash = excluded.inputs_hash, generated_at = excluded.generated_at, run_id = excluded.run_id,
        entry = excluded.entry, stale = 0, stale_reason = NULL, stale_since = NULL""",
                     writes)
    conn.executemany("INSERT OR REPLACE INTO comparison_sides VALUES (?, ?, ?)",
                     ((k, hashes[k], shown[k]) for k in side if k in shown))


def _pair_hash(ha: str, hb: str, edge) -> str:
    h = hashlib.blake2b(digest_size=12)
    for part in (ha.encode(), hb.encode(), orjson.dumps(edge.shown() if edge is not None else None,
                                                        option=orjson.OPT_SORT_KEYS),
                 entry_.ENTRY_VERSION.encode()):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()


def content_hash(e: dict) -> str:
    """What an entry shows (every shown text, source and statement; not the rows' values kept beside)."""
    return hashlib.blake2b(orjson.dumps(_shown(e), option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()


def _shown(x):
    if isinstance(x, dict):
        return {k: _shown(v) for k, v in x.items() if k not in ("value", "day")}
    if isinstance(x, list):
        return [_shown(v) for v in x]
    return x


def pair_hash(sa, sb, edge) -> str:
    """The inputs hash of the entry for sides sa, sb (sa's id first) and their edge."""
    return _pair_hash(sa.hash(), sb.hash(), edge)


class UnknownModel(LookupError):
    pass


def one(conn, a_id: str, b_id: str) -> tuple[dict, str, str]:
    """The entry for any two models: (entry, markdown, how) where how is 'stored' when the stored entry
    is fresh (its inputs hash is what the two models show now), else 'built on the spot'."""
    ra, rb = reading.resolve(conn, a_id), reading.resolve(conn, b_id)
    for r, given in ((ra, a_id), (rb, b_id)):
        if r is None:
            raise UnknownModel(f"unknown model: {given}")
    ka, kb = ra[0], rb[0]
    if ka == kb:
        raise UnknownModel(f"a model compared with itself: {a_id}")
    side = _read(conn, [ka, kb])
    sa, sb = (side[ka], side[kb]) if side[ka].id < side[kb].id else (side[kb], side[ka])
    edge = _edge_for(reading.edges(conn, [(min(ka, kb), max(ka, kb))]), ka, kb)
    h = pair_hash(sa, sb, edge)
    row = conn.execute("SELECT inputs_hash, stale, entry FROM comparisons WHERE model_a = ? AND model_b = ?",
                       (sa.id, sb.id)).fetchone()
    if row is not None and row[0].split(":")[0] == h and not row[1]:
        e = json.loads(row[2])  # the stored form; its Markdown is rendered from it, as it was when built
        return e, render.render_markdown(e), "stored"
    e = entry_.build_entry(sa, sb, edge)
    return e, render.render_markdown(e), "built on the spot"

"""The comparisons step of `hubdex derive` (after scores): which pairs, and which entries to rebuild.

Pairs: for every canonical model (copies fold into what they copy and never appear in edges), its
top M competitor edges in the match graph's order (standing, then weight; M = TOP_M, default 5), each unordered pair once. For each pair the
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


def pairs(conn, top_m: int = TOP_M) -> list[tuple[int, int]]:
    """(a_key, b_key) with a_key < b_key: every model's top M competitors, each pair once."""
    return conn.execute("""WITH e AS (
            SELECT a_key AS k, b_key AS o, standing, weight, a_key + b_key AS t FROM match_edges
            WHERE relation = 'competitor'
            UNION ALL SELECT b_key, a_key, standing, weight, a_key + b_key FROM match_edges WHERE relation = 'competitor'),
        r AS (SELECT k, o, row_number() OVER (PARTITION BY k ORDER BY standing DESC, weight DESC, t, o) AS n FROM e)
        SELECT DISTINCT min(k, o), max(k, o) FROM r WHERE n <= ? ORDER BY 1, 2""", (top_m,)).fetchall()


def edges(conn, wanted) -> dict:
    """(a_key, b_key) -> the match_edges row, for the wanted pairs."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS compare_pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b))")
    conn.execute("DELETE FROM temp.compare_pairs")
    conn.executemany("INSERT OR IGNORE INTO temp.compare_pairs VALUES (?, ?)", wanted)
    out = {(r[0], r[1]): r for r in conn.execute(
        """SELECT e.a_key, e.b_key, e.relation, e.task, e.weight, e.search, e.benchmark, e.card_table, e.sibling,
        e.size, e.evidence, e.spaces FROM temp.compare_pairs p JOIN match_edges e ON e.a_key = p.a AND e.b_key = p.b""")}
    conn.execute("DELETE FROM temp.compare_pairs")
    return out


def ordered(sa: dict, sb: dict) -> tuple[dict, dict]:
    return (sa, sb) if sa["id"] < sb["id"] else (sb, sa)


def edge_for(edge_rows: dict, ka: int, kb: int):
    row = edge_rows.get((min(ka, kb), max(ka, kb)))
    shown = entry_.edge_shown(row)
    if shown is not None and ka > kb:  # the edge is stored by key; the entry by id: same edge either way
        shown["source"]["row"] = {"a_key": min(ka, kb), "b_key": max(ka, kb)}
    return shown


def build(conn, *, run_id: int, now: str, top_m: int = TOP_M, rebuild_all: bool = False) -> CompareResult:
    """Rebuild the comparisons whose inputs moved (in the caller's transaction). Sides are read again
    only for models that changed in this derive run (model_changes, any reason but 'scores'), whose
    shown key moved (rounded scores, times matched, copies) or that no entry showed before; all of
    them after a derive that rebuilt everything or when the entry's code changed (ENTRY_VERSION)."""
    started, cpu = time.monotonic(), time.process_time()
    res = CompareResult(top_m=top_m)
    chosen = pairs(conn, top_m)
    res.pairs = len(chosen)
    keys = sorted({k for p in chosen for k in p})
    shown = entry_.shown_keys(conn, keys)
    ids = _ids(conn, keys)
    known = {k: (h, sh) for k, h, sh in conn.execute("SELECT model_key, side_hash, shown FROM comparison_sides")}
    everything = rebuild_all or get_state(conn, "compare.version") != entry_.ENTRY_VERSION
    if everything:
        read = set(keys)
    else:
        changed = {r[0] for r in conn.execute(
            "SELECT DISTINCT model_key FROM model_changes WHERE run_id = ? AND reason != 'scores'", (run_id,))}
        read = {k for k in keys if k in changed or k not in known or known[k][1] != shown.get(k)}
    side = {k: entry_.prepare(s) for k, s in entry_.sides(conn, read).items()}
    res.sides_read = len(side)
    hashes = {k: known[k][0] for k in keys if k in known}
    hashes.update({k: entry_.side_hash(s) for k, s in side.items()})
    edge_rows = edges(conn, chosen)
    stored = {(a, b): (h, st) for a, b, h, st in conn.execute(
        "SELECT model_a, model_b, inputs_hash, stale FROM comparisons")}
    todo, seen = [], set()
    for ka, kb in chosen:
        if ka not in ids or kb not in ids:
            continue
        if ids[ka] > ids[kb]:
            ka, kb = kb, ka
        edge = edge_for(edge_rows, ka, kb)
        h = _pair_hash(hashes[ka], hashes[kb], edge)
        ident = (ids[ka], ids[kb])
        seen.add(ident)
        old = stored.get(ident)
        if old is not None and old[0] == h:
            if old[1]:
                conn.execute("UPDATE comparisons SET stale = 0, stale_reason = NULL, stale_since = NULL "
                             "WHERE model_a = ? AND model_b = ?", ident)
                res.revived += 1
            res.unchanged += 1
            continue
        todo.append((ka, kb, edge, h, old is None))
    missing = {k for ka, kb, *_ in todo for k in (ka, kb)} - set(side)
    if missing:  # the other side of a pair that moved: read, not changed
        side.update({k: entry_.prepare(s) for k, s in entry_.sides(conn, missing).items()})
    writes = []
    for ka, kb, edge, h, new in todo:
        sa, sb = side[ka], side[kb]
        e = entry_.build_entry(sa, sb, edge)
        writes.append((sa["id"], sb["id"], ka, kb, h, now, run_id, entry_.entry_json(e, sa, sb),
                       entry_.render_markdown(e, sa, sb)))
        if new:
            res.built += 1
        else:
            res.rebuilt += 1
    conn.executemany("""INSERT INTO comparisons (model_a, model_b, a_key, b_key, inputs_hash, generated_at, run_id,
        entry, markdown, stale, stale_reason, stale_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL)
        ON CONFLICT (model_a, model_b) DO UPDATE SET a_key = excluded.a_key, b_key = excluded.b_key,
        inputs_hash = excluded.inputs_hash, generated_at = excluded.generated_at, run_id = excluded.run_id,
        entry = excluded.entry, markdown = excluded.markdown, stale = 0, stale_reason = NULL, stale_since = NULL""",
                     writes)
    # what each side is now, for the next build to compare with
    if everything:
        conn.execute("DELETE FROM comparison_sides")
    conn.executemany("INSERT OR REPLACE INTO comparison_sides VALUES (?, ?, ?)",
                     ((k, hashes[k], shown[k]) for k in side if k in shown))
    gone = set(known) - set(keys)
    conn.executemany("DELETE FROM comparison_sides WHERE model_key = ?", ((k,) for k in gone))
    # entries no longer chosen: stale, with why (a side gone from the Hub, or no longer a top pair)
    current = {r[0] for r in conn.execute("SELECT id FROM models WHERE removed_at IS NULL")} if stored else set()
    marks = []
    for ident, (_h, st) in stored.items():
        if ident in seen or st:
            continue
        lost = [i for i in ident if i not in current]
        reason = (f"removed: {', '.join(lost)}" if lost else f"no longer among either model's top {top_m} competitors")
        marks.append((reason, now) + ident)
    conn.executemany("UPDATE comparisons SET stale = 1, stale_reason = ?, stale_since = ? WHERE model_a = ? AND model_b = ?",
                     marks)
    res.stale = len(marks)
    set_state(conn, "compare.version", entry_.ENTRY_VERSION, now)
    res.seconds, res.cpu_seconds = time.monotonic() - started, time.process_time() - cpu
    conn.execute("INSERT OR REPLACE INTO comparison_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (run_id, res.pairs, res.built, res.rebuilt, res.unchanged, res.stale, res.revived, res.sides_read,
                  top_m, round(res.seconds, 3), round(res.cpu_seconds, 3)))
    return res


def _ids(conn, keys) -> dict:
    entry_._keys_table(conn, keys)
    out = dict(conn.execute("SELECT m.key, m.id FROM temp.compare_keys k JOIN models m ON m.key = k.key"))
    conn.execute("DELETE FROM temp.compare_keys")
    return out


def _pair_hash(ha: str, hb: str, edge) -> str:
    h = hashlib.blake2b(digest_size=12)
    for part in (ha.encode(), hb.encode(), orjson.dumps(edge, option=orjson.OPT_SORT_KEYS),
                 entry_.ENTRY_VERSION.encode()):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()


def pair_hash(sa: dict, sb: dict, edge) -> str:
    """The inputs hash of the entry for sides sa, sb (sa's id first) and their edge."""
    return _pair_hash(entry_.side_hash(sa), entry_.side_hash(sb), edge)


class UnknownModel(LookupError):
    pass


def _resolve(conn, model_id: str):
    row = conn.execute("SELECT key, id FROM models WHERE id = ? AND removed_at IS NULL", (model_id,)).fetchone()
    if row is None:
        row = conn.execute("SELECT key, id FROM models WHERE lower(id) = lower(?) AND removed_at IS NULL",
                           (model_id,)).fetchone()
    if row is None:
        raise UnknownModel(f"unknown model: {model_id}")
    return row


def one(conn, a_id: str, b_id: str) -> tuple[dict, str, str]:
    """The entry for any two models: (entry, markdown, how) where how is 'stored' when the stored entry
    is fresh (its inputs hash is what the two models show now), else 'built on the spot'."""
    ka, _ = _resolve(conn, a_id)
    kb, _ = _resolve(conn, b_id)
    if ka == kb:
        raise UnknownModel(f"a model compared with itself: {a_id}")
    side = entry_.sides(conn, [ka, kb])
    sa, sb = ordered(side[ka], side[kb])
    edge = edge_for(edges(conn, [(min(ka, kb), max(ka, kb))]), ka, kb)
    h = pair_hash(sa, sb, edge)
    row = conn.execute("SELECT inputs_hash, stale, entry, markdown FROM comparisons WHERE model_a = ? AND model_b = ?",
                       (sa["id"], sb["id"])).fetchone()
    if row is not None and row[0] == h and not row[1]:
        return json.loads(row[2]), row[3], "stored"
    e = entry_.build_entry(sa, sb, edge)
    return e, entry_.render_markdown(e), "built on the spot"

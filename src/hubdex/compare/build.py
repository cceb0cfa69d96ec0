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
    top_m: int = TOP_M
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"comparisons: {self.pairs:,} pairs (top {self.top_m} competitors of each model): {self.built:,} built, "
                f"{self.rebuilt:,} rebuilt, {self.unchanged:,} left alone, {self.stale:,} marked stale"
                + (f", {self.revived:,} revived" if self.revived else "") + f" ({self.seconds:.1f} s)")


def pairs(conn, top_m: int = TOP_M) -> list[tuple[int, int]]:
    """(a_key, b_key) with a_key < b_key: every model's top M competitors, each pair once."""
    return conn.execute("""WITH e AS (
            SELECT a_key AS k, b_key AS o, weight, a_key + b_key AS t FROM match_edges WHERE relation = 'competitor'
            UNION ALL SELECT b_key, a_key, weight, a_key + b_key FROM match_edges WHERE relation = 'competitor'),
        r AS (SELECT k, o, row_number() OVER (PARTITION BY k ORDER BY weight DESC, t, o) AS n FROM e)
        SELECT DISTINCT min(k, o), max(k, o) FROM r WHERE n <= ? ORDER BY 1, 2""", (top_m,)).fetchall()


def edges(conn, wanted) -> dict:
    """(a_key, b_key) -> the match_edges row, for the wanted pairs."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS compare_pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b))")
    conn.execute("DELETE FROM temp.compare_pairs")
    conn.executemany("INSERT OR IGNORE INTO temp.compare_pairs VALUES (?, ?)", wanted)
    out = {(r[0], r[1]): r for r in conn.execute(
        """SELECT e.a_key, e.b_key, e.relation, e.task, e.weight, e.search, e.benchmark, e.card_table, e.sibling,
        e.size, e.evidence FROM temp.compare_pairs p JOIN match_edges e ON e.a_key = p.a AND e.b_key = p.b""")}
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


def build(conn, *, run_id: int, now: str, top_m: int = TOP_M) -> CompareResult:
    """Rebuild the comparisons whose inputs moved (in the caller's transaction)."""
    started = time.monotonic()
    res = CompareResult(top_m=top_m)
    chosen = pairs(conn, top_m)
    res.pairs = len(chosen)
    keys = sorted({k for p in chosen for k in p})
    side = entry_.sides(conn, keys)
    hashes = {k: entry_.side_hash(s) for k, s in side.items()}
    edge_rows = edges(conn, chosen)
    stored = {(a, b): (h, st) for a, b, h, st in conn.execute(
        "SELECT model_a, model_b, inputs_hash, stale FROM comparisons")}
    writes, seen = [], set()
    for ka, kb in chosen:
        if ka not in side or kb not in side:
            continue
        sa, sb = ordered(side[ka], side[kb])
        edge = edge_for(edge_rows, ka, kb)
        h = _pair_hash(hashes[sa["key"]], hashes[sb["key"]], edge)
        ident = (sa["id"], sb["id"])
        seen.add(ident)
        old = stored.get(ident)
        if old is not None and old[0] == h:
            if old[1]:
                conn.execute("UPDATE comparisons SET stale = 0, stale_reason = NULL, stale_since = NULL "
                             "WHERE model_a = ? AND model_b = ?", ident)
                res.revived += 1
            res.unchanged += 1
            continue
        e = entry_.build_entry(sa, sb, edge)
        writes.append((sa["id"], sb["id"], sa["key"], sb["key"], h, now, run_id,
                       json.dumps(e, ensure_ascii=False, sort_keys=True), entry_.render_markdown(e)))
        if old is None:
            res.built += 1
        else:
            res.rebuilt += 1
    conn.executemany("""INSERT INTO comparisons (model_a, model_b, a_key, b_key, inputs_hash, generated_at, run_id,
        entry, markdown, stale, stale_reason, stale_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL)
        ON CONFLICT (model_a, model_b) DO UPDATE SET a_key = excluded.a_key, b_key = excluded.b_key,
        inputs_hash = excluded.inputs_hash, generated_at = excluded.generated_at, run_id = excluded.run_id,
        entry = excluded.entry, markdown = excluded.markdown, stale = 0, stale_reason = NULL, stale_since = NULL""",
                     writes)
    # entries no longer chosen: stale, with why (a side gone from the Hub, or no longer a top pair)
    current = {r[0] for r in conn.execute("SELECT id FROM models WHERE removed_at IS NULL")} if stored else set()
    marks = []
    for ident, (_h, st) in stored.items():
        if ident in seen or st:
            continue
        gone = [i for i in ident if i not in current]
        reason = (f"removed: {', '.join(gone)}" if gone else f"no longer among either model's top {top_m} competitors")
        marks.append((reason, now) + ident)
    conn.executemany("UPDATE comparisons SET stale = 1, stale_reason = ?, stale_since = ? WHERE model_a = ? AND model_b = ?",
                     marks)
    res.stale = len(marks)
    res.seconds = time.monotonic() - started
    conn.execute("INSERT OR REPLACE INTO comparison_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (run_id, res.pairs, res.built, res.rebuilt, res.unchanged, res.stale, res.revived, top_m,
                  round(res.seconds, 3)))
    return res


def _pair_hash(ha: str, hb: str, edge) -> str:
    h = hashlib.blake2b(digest_size=12)
    for part in (ha, hb, json.dumps(edge, sort_keys=True), entry_.ENTRY_VERSION):
        h.update(part.encode())
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

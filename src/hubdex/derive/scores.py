"""The derive's outputs: `model_scores` (rewritten only where a value moved) and `signals_history`.

Each score row carries `row_hash`, a 64-bit hash of every value in it. The new rows' hashes are
computed over the arrays (no Python loop per model for numbers; strings hashed once per distinct
value: see columns.py), compared with the stored ones, and only rows that differ are written, each recorded in
`model_changes` with reason `scores`; rows of models no longer current are deleted. A derive in
which nothing moved writes no row of `model_scores`.
"""

from __future__ import annotations

import numpy as np

from . import columns as columns_
from ..store.schema import PERCENTILE_SIGNALS
from .signals import SIGNALS

HISTORY_MOVE = 1.0  # a point on the 0-100 scale: smaller moves are percentile jitter, not news
SLICE = 20_000  # rows bound per executemany: a slice of fifty columns as Python values stays small
_PRIME = np.uint64(0x100000001B3)


def row_hashes(out: dict, columns: list[str]) -> np.ndarray:
    """FNV-style mix of each column's bits, column by column (order matters), as signed int64."""
    h = np.full(len(out["model_key"]), 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in columns:
            h = (h ^ columns_.bits(out[c])) * _PRIME
            h ^= h >> np.uint64(29)
    return h.view(np.int64)


def _stored_hashes(conn) -> tuple[np.ndarray, np.ndarray]:
    cur = conn.execute("SELECT model_key, coalesce(row_hash, 0) FROM model_scores ORDER BY model_key")
    parts = []
    while rows := cur.fetchmany(200_000):
        parts.append(np.array(rows, dtype=np.int64))
    a = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)
    return np.ascontiguousarray(a[:, 0]), np.ascontiguousarray(a[:, 1])


def write_scores(conn, out: dict, run_id: int, record: bool = True) -> tuple[int, int]:
    """Write the rows of `out` whose values differ from the stored ones; delete the rows of models
    not in `out`; with `record`, note each written row in model_changes (reason `scores`). Returns
    (rows written, rows deleted). NaN needs no conversion: SQLite stores a NaN bound as REAL as NULL."""
    columns = [r[1] for r in conn.execute("PRAGMA table_info(model_scores)") if r[1] != "row_hash"]
    keys = out["model_key"]
    new_hash = row_hashes(out, columns)
    old_keys, old_hash = _stored_hashes(conn)
    pos = np.searchsorted(old_keys, keys)
    clipped = np.minimum(pos, max(len(old_keys) - 1, 0))
    known = (pos < len(old_keys)) & (old_keys[clipped] == keys) if len(old_keys) else np.zeros(len(keys), bool)
    same = known & (old_hash[clipped] == new_hash) if len(old_keys) else known
    changed = np.nonzero(~same)[0]
    gone = np.setdiff1d(old_keys, keys, assume_unique=True)
    for start in range(0, len(gone), SLICE):
        conn.executemany("DELETE FROM model_scores WHERE model_key = ?", ((int(k),) for k in gone[start:start + SLICE]))
    sql = (f"INSERT OR REPLACE INTO model_scores ({', '.join(columns)}, row_hash) "
           f"VALUES ({', '.join('?' * (len(columns) + 1))})")
    for start in range(0, len(changed), SLICE):
        idx = changed[start:start + SLICE]
        conn.executemany(sql, zip(*(columns_.values(out[c], idx) for c in columns), new_hash[idx].tolist()))
        if record:
            conn.executemany("INSERT OR IGNORE INTO model_changes (run_id, model_key, reason) VALUES (?, ?, 'scores')",
                             ((run_id, k) for k in keys[idx].tolist()))
    return len(changed), len(gone)


def _rows_by_key(cur, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(keys, values) of a query returning model_key then `width` numbers, ordered by key; None -> NaN."""
    chunks = []
    while rows := cur.fetchmany(100_000):
        chunks.append(np.array(rows, dtype=float))
    if not chunks:
        return np.zeros(0, dtype=np.int64), np.zeros((0, width))
    a = np.concatenate(chunks)
    return a[:, 0].astype(np.int64), a[:, 1:]


def _lookup(keys: np.ndarray, stored_keys: np.ndarray, stored: np.ndarray, width: int):
    """(hit, values) for each of `keys` (sorted stored_keys): the stored row where there is one."""
    pos = np.searchsorted(stored_keys, keys)
    hit = (pos < len(stored_keys)) & (stored_keys[np.minimum(pos, max(len(stored_keys) - 1, 0))] == keys) \
        if len(stored_keys) else np.zeros(len(keys), dtype=bool)
    values = np.full((len(keys), width), np.nan)
    values[hit] = stored[pos[hit]]
    return hit, values


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row by row: every value equal, NaN (unknown) equal to NaN."""
    return ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1)


def write_percentiles(conn, out: dict) -> int:
    """score_percentiles: each signal's percentile by value (out[s + "_pct"], computed over all models
    by signals.compute), one row per distinct value; only rows that moved are written, values no model
    has any more deleted. Returns rows written or deleted."""
    written = 0
    for s in PERCENTILE_SIGNALS:
        v, p = columns_.as_float(out[s]), columns_.as_float(out[s + "_pct"])
        known = ~np.isnan(v)
        values, first = np.unique(v[known], return_index=True)
        pct = p[known][first]
        stored = conn.execute("SELECT value, pct FROM score_percentiles WHERE signal = ? ORDER BY value", (s,)).fetchall()
        sv = np.array([r[0] for r in stored], dtype=float)
        sp = np.array([np.nan if r[1] is None else r[1] for r in stored], dtype=float)
        hit, old = _lookup(values, sv, sp[:, None] if len(sp) else np.zeros((0, 1)), 1)
        same = hit & _same(old, pct[:, None])
        write = np.nonzero(~same)[0]
        gone = np.setdiff1d(sv, values, assume_unique=True)
        conn.executemany("DELETE FROM score_percentiles WHERE signal = ? AND value = ?", ((s, x) for x in gone.tolist()))
        conn.executemany("INSERT OR REPLACE INTO score_percentiles (signal, value, pct) VALUES (?, ?, ?)",
                         ((s, x, y) for x, y in zip(values[write].tolist(), pct[write].tolist())))
        written += len(write) + len(gone)
    return written


def write_history(conn, out: dict, day: int) -> tuple[int, int]:
    """A `signals_history` row for each model whose signals moved by HISTORY_MOVE or more since its
    last row before `day` (or that has none); a rerun the same day brings that day's rows up to date,
    writing only those that differ from what is stored (a rerun that moved nothing writes nothing).
    Returns (the day's rows, how many of them this run added, changed or removed)."""
    names = SIGNALS + ("rank",)
    keys = out["model_key"]
    now = np.column_stack([columns_.as_float(out[s]) for s in names]) if len(keys) else np.zeros((0, len(names)))
    # (a bare column beside max() comes from the row holding the max: each model's last row)
    lk, lv = _rows_by_key(conn.execute(f"SELECT model_key, max(day), {', '.join(names)} FROM signals_history "
                                       "WHERE day < ? GROUP BY model_key ORDER BY model_key", (day,)), len(names) + 1)
    hit, prev = _lookup(keys, lk, lv[:, 1:], len(names))
    del lk, lv
    # NaN on both sides (an unknown signal still unknown) is no move; unknown to known is one
    delta = np.abs(now - prev)
    both_nan = np.isnan(now) & np.isnan(prev)
    moved = ~hit | (np.where(both_nan, 0.0, np.nan_to_num(delta, nan=HISTORY_MOVE)) >= HISTORY_MOVE).any(axis=1)
    del prev, delta, both_nan
    idx = np.nonzero(moved)[0]
    # the day's rows already stored (an earlier derive today): only the differing ones are written
    tk, tv = _rows_by_key(conn.execute(f"SELECT model_key, {', '.join(names)} FROM signals_history WHERE day = ? "
                                       "ORDER BY model_key", (day,)), len(names))
    there, stored = _lookup(keys[idx], tk, tv, len(names))
    write = idx[~(there & _same(stored, now[idx]))]
    gone = np.setdiff1d(tk, keys[idx], assume_unique=True)
    for start in range(0, len(gone), SLICE):
        conn.executemany("DELETE FROM signals_history WHERE model_key = ? AND day = ?",
                         ((int(k), day) for k in gone[start:start + SLICE]))
    for start in range(0, len(write), SLICE):
        part = write[start:start + SLICE]
        conn.executemany(f"INSERT OR REPLACE INTO signals_history (model_key, day, {', '.join(names)}) VALUES "
                         f"({', '.join('?' * (len(names) + 2))})",
                         zip(keys[part].tolist(), [day] * len(part), *(now[part, i].tolist() for i in range(len(names)))))
    return len(idx), len(write) + len(gone)

"""`hubdex derive`: capabilities, licences, pricing, signals and rank from the stored tables.

What changed since the last derive (a model's metadata, id, details or card differ from what its
rows were derived from, kept in `derive_inputs`; or the router catalogue is newer) gets its
metadata capabilities rebuilt; `--all`, a first run, or a new licence
catalogue or capability code rebuilds them all. Signals are percentiles, relative to every other
model, so they are recomputed for all current models each time (vectorised: seconds for a
million); `model_scores` is rewritten, and `signals_history` gets a row only for the models whose
signals moved by a point or more since their last row. The whole derive is one transaction: a
reader sees the previous derive or this one, never half of it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources

import numpy as np

from . import capabilities, licences, signals
from .crawl import now_iso, run_day
from .store.db import BUSY_TIMEOUT_MS
from .store.save import get_state, set_state

HISTORY_MOVE = 1.0  # a point on the 0-100 scale: smaller moves are percentile jitter, not news


@dataclass
class DeriveResult:
    models: int
    rebuilt: int
    capability_rows: int
    history_rows: int
    weights_id: str
    unknown_licences: list
    seconds: float

    def summary(self) -> str:
        line = (f"derived {self.models:,} models: capabilities rebuilt for {self.rebuilt:,} "
                f"({self.capability_rows:,} rows), signals and rank for all, {self.history_rows:,} history rows "
                f"(moved); weights {self.weights_id}; {self.seconds:.1f} s")
        if self.unknown_licences:
            shown = ", ".join(f"{lic} ({n})" for lic, n in self.unknown_licences[:10])
            line += f"\nlicences not in the catalogue (kept as given): {shown}"
        return line


def _code_version() -> str:
    """Changes when what capabilities are derived from, or how, changes: then all are rebuilt."""
    h = hashlib.blake2b(digest_size=8)
    h.update(repr(capabilities.STATEMENTS).encode())
    h.update(resources.files("hubdex").joinpath("data/licences.csv").read_bytes())
    return h.hexdigest()


def classify_licences(conn) -> dict:
    """temp.licence_triples: each distinct (license, license_name, license_link) of the current
    models, classified once (a few thousand on the whole Hub); capabilities join it, and the
    signals spread the returned {triple: classification} to the models."""
    cat = licences.catalogue()
    conn.execute("DELETE FROM licences")
    conn.executemany("INSERT INTO licences VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(c.id, c.family, c.commercial, c.attribution, c.share_alike, int(c.hub_listed), c.name)
                      for c in sorted(cat.values())])
    conn.execute("""CREATE TEMP TABLE IF NOT EXISTS licence_triples (license TEXT, license_name TEXT, license_link TEXT,
        licence TEXT, family TEXT, commercial TEXT, attribution TEXT, share_alike TEXT, via TEXT)""")
    conn.execute("DELETE FROM temp.licence_triples")
    triples = conn.execute("SELECT DISTINCT license, license_name, license_link FROM models "
                           "WHERE removed_at IS NULL").fetchall()
    classified = {t: licences.classify(*t) for t in triples}
    conn.executemany("INSERT INTO temp.licence_triples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [t + tuple(c) for t, c in classified.items()])
    return classified


def unrecognised_licences(out: dict) -> list:
    """The licence ids not in the catalogue, with how many models carry each (most first)."""
    ids, counts = np.unique(out["licence"][out["licence_via"] == "unrecognised"].astype(str), return_counts=True)
    return sorted(zip(ids.tolist(), counts.tolist()), key=lambda p: (-p[1], p[0]))


_INPUTS = """SELECT m.key, m.id, m.meta_hash, m.detail_at, c.sha, c.fetched_at FROM models m
    LEFT JOIN cards c ON c.model_key = m.key WHERE m.removed_at IS NULL"""


def _changed_keys(conn, everything: bool) -> bool:
    """Fill temp.derive_keys with the models whose capabilities need rebuilding; True if all."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS derive_keys (key INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM temp.derive_keys")
    if everything or get_state(conn, "derive.version") != _code_version():
        conn.execute("INSERT INTO temp.derive_keys SELECT key FROM models WHERE removed_at IS NULL")
        return True
    conn.execute(f"""INSERT OR IGNORE INTO temp.derive_keys
        SELECT i.key FROM ({_INPUTS}) i LEFT JOIN derive_inputs d ON d.model_key = i.key
        WHERE d.model_key IS NULL OR d.id IS NOT i.id OR d.meta_hash IS NOT i.meta_hash
              OR d.detail_at IS NOT i.detail_at OR d.card_sha IS NOT i.sha OR d.card_fetched_at IS NOT i.fetched_at""")
    # the router catalogue gives context lengths: models it lists are rebuilt when it is newer
    conn.execute("""INSERT OR IGNORE INTO temp.derive_keys SELECT m.key FROM models m JOIN router_prices r
        ON r.model_id = m.id WHERE r.day > coalesce(?, -1) AND m.removed_at IS NULL""",
                 (get_state(conn, "derive.prices_day"),))
    return False


def _record_inputs(conn, everything: bool):
    if everything:
        conn.execute("DELETE FROM derive_inputs")
    conn.execute(f"INSERT OR REPLACE INTO derive_inputs SELECT * FROM ({_INPUTS}) "
                 "WHERE key IN (SELECT key FROM temp.derive_keys)")


def _write_scores(conn, out: dict, chunk: int = 50_000):
    """Rewrite model_scores from the arrays, a slice at a time (bounded memory). NaN needs no
    conversion: SQLite stores a NaN bound as REAL as NULL."""
    columns = [r[1] for r in conn.execute("PRAGMA table_info(model_scores)")]
    sql = f"INSERT INTO model_scores ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    conn.execute("DELETE FROM model_scores")
    for start in range(0, len(out["model_key"]), chunk):
        conn.executemany(sql, zip(*(out[c][start:start + chunk].tolist() for c in columns)))


def _write_history(conn, out: dict, day: int) -> int:
    names = signals.SIGNALS + ("rank",)
    cur = conn.execute(f"SELECT model_key, max(day), {', '.join(names)} FROM signals_history WHERE day < ? "
                       "GROUP BY model_key ORDER BY model_key", (day,))
    chunks = []
    while rows := cur.fetchmany(100_000):
        chunks.append(np.array(rows, dtype=float))  # None becomes NaN
    keys = out["model_key"]
    now = np.column_stack([out[s] for s in names]) if len(keys) else np.zeros((0, len(names)))
    moved = np.ones(len(keys), dtype=bool)
    if chunks:
        last = np.concatenate(chunks)
        lk, lv = last[:, 0].astype(np.int64), last[:, 2:]
        pos = np.searchsorted(lk, keys)
        hit = (pos < len(lk)) & (lk[np.minimum(pos, len(lk) - 1)] == keys)
        prev = np.full_like(now, np.nan)
        prev[hit] = lv[pos[hit]]
        moved = ~hit | (np.nan_to_num(np.abs(now - prev), nan=HISTORY_MOVE) >= HISTORY_MOVE).any(axis=1)
    conn.execute("DELETE FROM signals_history WHERE day = ?", (day,))  # a rerun the same day replaces its rows
    rows = zip(keys[moved].tolist(), [day] * int(moved.sum()), *(now[moved, i].tolist() for i in range(len(names))))
    conn.executemany(f"INSERT INTO signals_history (model_key, day, {', '.join(names)}) VALUES "
                     f"({', '.join('?' * (len(names) + 2))})", rows)
    return int(moved.sum())


def _gather(path: str, day: int, weights: dict, classified: dict):
    read = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        read.execute("PRAGMA query_only = 1")
        read.execute("PRAGMA cache_size = -65536")
        read.execute("BEGIN")  # one snapshot for every read
        return signals.gather(read, day, weights, classified)
    finally:
        read.close()


def derive(db, *, everything: bool = False, weights_path: str | None = None) -> DeriveResult:
    started = time.monotonic()
    conn = db.conn
    weights = signals.load_weights(weights_path)
    wid = signals.weights_id(weights)
    day = run_day()
    now = now_iso()
    with db.atomic():
        classified = classify_licences(conn)
        everything = _changed_keys(conn, everything)
        rebuilt = conn.execute("SELECT count(*) FROM temp.derive_keys").fetchone()[0]
        # Two cores: while this connection rebuilds capabilities, a second one reads the inputs the
        # other signals need (tables a derive does not write) and computes their percentiles.
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        with ThreadPoolExecutor(1) as pool:
            gathering = pool.submit(_gather, path, day, weights, classified) if path else None
            rows = capabilities.derive(conn, everything)
            gathered = gathering.result() if gathering else None
        out = signals.compute(conn, day, weights, gathered or signals.gather(conn, day, weights, classified))
        unknown = unrecognised_licences(out)
        out["weights_id"] = np.full(len(out["model_key"]), wid, dtype=object)
        _write_scores(conn, out)
        history = _write_history(conn, out, day)
        conn.execute("INSERT OR IGNORE INTO rank_weights VALUES (?, ?, ?)", (wid, json.dumps(weights, sort_keys=True),
                                                                              now))
        _record_inputs(conn, everything)
        set_state(conn, "derive.version", _code_version(), now)
        set_state(conn, "derive.prices_day", conn.execute("SELECT max(day) FROM router_prices").fetchone()[0], now)
        set_state(conn, "derive.weights", wid, now)
    return DeriveResult(len(out["model_key"]), rebuilt, rows, history, wid, unknown, time.monotonic() - started)

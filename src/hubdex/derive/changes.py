"""What changed since the last derive, and why: the derive's first record, `model_changes`.

Each model's inputs are compared with what its derived rows were last computed from
(`derive_inputs`): its id, metadata hash, detail time, card sha and fetch time, and its figures
(downloads, likes, trending). A difference is a row (run, model, reason):

  new       no derive has seen the model yet
  renamed   its id moved
  metadata  its metadata hash moved (tags, licence, files, config, ...)
  details   model_info was fetched again (file sizes, model-index)
  card      its card was read again
  prices    the router's offers for it differ from those the last derive read
  metrics   its downloads, likes or trending moved
  removed   it was tombstoned or is gone

The first six rebuild the model's capabilities; all of them (and the scores step's own `scores`
rows) tell what comes downstream which models to look at again. A run that rebuilds everything
(`derive_runs.rebuilt_all`) writes no per-model rows: every model is to be looked at again. One scan of the models, with
each reason a bit of a mask, so this costs about one read of `models` at any size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..store.save import get_state

REBUILD_REASONS = ("new", "renamed", "metadata", "details", "card", "prices")
KEEP_DAYS = 30  # model_changes rows of older derive runs are pruned (a consumer behind that rebuilds all)

_INPUTS = """SELECT m.key, m.id, m.meta_hash, m.detail_at, c.sha AS card_sha, c.fetched_at AS card_fetched_at,
    m.downloads, m.downloads_all_time, m.likes, m.trending_score
    FROM models m LEFT JOIN cards c ON c.model_key = m.key WHERE m.removed_at IS NULL"""
_INPUT_COLUMNS = ("model_key", "id", "meta_hash", "detail_at", "card_sha", "card_fetched_at", "downloads",
                  "downloads_all_time", "likes", "trending_score")

# Each reason is a bit; a model new to the derive carries only `new`.
_MASK = """CASE WHEN d.model_key IS NULL THEN 1 ELSE
      (d.id IS NOT i.id) * 2 | (d.meta_hash IS NOT i.meta_hash) * 4 | (d.detail_at IS NOT i.detail_at) * 8
    | (d.card_sha IS NOT i.card_sha OR d.card_fetched_at IS NOT i.card_fetched_at) * 16
    | (d.downloads IS NOT i.downloads OR d.downloads_all_time IS NOT i.downloads_all_time
       OR d.likes IS NOT i.likes OR d.trending_score IS NOT i.trending_score) * 64 END"""
_BITS = {"new": 1, "renamed": 2, "metadata": 4, "details": 8, "card": 16, "metrics": 64}  # prices: by id, below

_OFFER = ("model_id, provider, status, input_usd_per_m, output_usd_per_m, context_length, supports_tools, "
          "supports_structured_output, is_free")


@dataclass
class Changes:
    """This run's changes: `rebuild_all` when every model's capabilities are rebuilt (a first
    derive, --all, new capability code or licence catalogue); `counts` by reason; `inputs_changed`
    the models with any reason (all current and removed ones when everything is rebuilt)."""

    run_id: int
    rebuild_all: bool
    counts: dict = field(default_factory=dict)
    inputs_changed: int = 0

    def rebuild_keys(self, conn) -> np.ndarray:
        """The models whose capabilities are rebuilt, in key order (an array: a million Python ints
        held through the whole rebuild would be 40 MB)."""
        if self.rebuild_all:
            cur = conn.execute("SELECT key FROM models WHERE removed_at IS NULL ORDER BY key")
        else:
            marks = ", ".join("?" * len(REBUILD_REASONS))
            cur = conn.execute(f"SELECT DISTINCT model_key FROM model_changes WHERE run_id = ? AND "
                               f"reason IN ({marks}) ORDER BY model_key", (self.run_id, *REBUILD_REASONS))
        return np.fromiter((r[0] for r in cur), dtype=np.int64)

    def removed_keys(self, conn) -> list[int]:
        if self.rebuild_all:
            return []  # a rebuild of everything starts from empty tables
        return [r[0] for r in conn.execute("SELECT model_key FROM model_changes WHERE run_id = ? AND reason = 'removed' "
                                           "ORDER BY model_key", (self.run_id,))]


def _catalogue_digest(conn, day) -> str | None:
    if day is None:
        return None
    h = hashlib.blake2b(digest_size=8)
    for row in conn.execute(f"SELECT {_OFFER} FROM router_prices WHERE day = ? ORDER BY model_id, provider", (day,)):
        h.update(repr(row).encode())
    return h.hexdigest()


def _price_changes(conn) -> list[str]:
    """Model ids whose current offers differ from those the last derive read (added, dropped,
    repriced, status moved). A catalogue fetched again the same day with other offers is compared
    by digest: then every model it lists counts as changed (the earlier rows were replaced)."""
    cur = conn.execute("SELECT max(day) FROM router_prices").fetchone()[0]
    if cur is None:
        return []
    prev = get_state(conn, "derive.prices_day")
    prev = int(prev) if prev not in (None, "null") else None
    if prev == cur:
        if get_state(conn, "derive.prices_digest") == _catalogue_digest(conn, cur):
            return []
        return [r[0] for r in conn.execute("SELECT DISTINCT model_id FROM router_prices WHERE day = ?", (cur,))]
    rows = conn.execute(f"""
        SELECT model_id FROM (SELECT {_OFFER} FROM router_prices WHERE day = :cur
                              EXCEPT SELECT {_OFFER} FROM router_prices WHERE day = :prev)
        UNION
        SELECT model_id FROM (SELECT {_OFFER} FROM router_prices WHERE day = :prev
                              EXCEPT SELECT {_OFFER} FROM router_prices WHERE day = :cur)""",
                        {"cur": cur, "prev": prev if prev is not None else -1}).fetchall()
    return [r[0] for r in rows]


def find(conn, run_id: int, rebuild_all: bool) -> Changes:
    """Write this run's `model_changes` rows (inputs only) and return what they say. A run that
    rebuilds everything writes no per-model rows (its `derive_runs.rebuilt_all` says every model
    is to be looked at again: a million rows of `new` would say no more); its counts by reason are
    still taken."""
    # one row per (model, reason): the mask's bits joined to their names
    bits = " UNION ALL ".join(f"SELECT {bit} AS bit, '{name}' AS reason" for name, bit in _BITS.items())
    found = f"""WITH reasons AS ({bits})
        SELECT x.key, r.reason FROM (
            SELECT i.key, {_MASK} AS mask FROM ({_INPUTS}) i LEFT JOIN derive_inputs d ON d.model_key = i.key) x
        JOIN reasons r ON x.mask & r.bit WHERE x.mask != 0"""
    removed = """SELECT d.model_key, 'removed' FROM derive_inputs d LEFT JOIN models m ON m.key = d.model_key
        WHERE m.key IS NULL OR m.removed_at IS NOT NULL"""
    priced = _price_changes(conn)
    if rebuild_all:
        if conn.execute("SELECT 1 FROM derive_inputs LIMIT 1").fetchone() is None:  # a first derive: all new
            current = conn.execute("SELECT count(*) FROM models WHERE removed_at IS NULL").fetchone()[0]
            return Changes(run_id, True, {"new": current, **({"prices": len(priced)} if priced else {})}, current)
        counts = dict(conn.execute(f"SELECT reason, count(*) FROM ({found}) GROUP BY reason").fetchall())
        gone = conn.execute(f"SELECT count(*) FROM ({removed})").fetchone()[0]
        if gone:
            counts["removed"] = gone
        if priced:
            counts["prices"] = len(priced)
        current = conn.execute("SELECT count(*) FROM models WHERE removed_at IS NULL").fetchone()[0]
        return Changes(run_id, True, counts, current + gone)
    conn.execute(f"INSERT INTO model_changes (run_id, model_key, reason) SELECT ?, * FROM ({found})", (run_id,))
    for start in range(0, len(priced), 500):
        chunk = priced[start:start + 500]
        conn.execute(f"""INSERT OR IGNORE INTO model_changes (run_id, model_key, reason)
            SELECT ?, key, 'prices' FROM models WHERE removed_at IS NULL AND id IN ({', '.join('?' * len(chunk))})""",
                     (run_id, *chunk))
    conn.execute(f"INSERT INTO model_changes (run_id, model_key, reason) SELECT ?, * FROM ({removed})", (run_id,))
    counts = dict(conn.execute("SELECT reason, count(*) FROM model_changes WHERE run_id = ? GROUP BY reason",
                               (run_id,)).fetchall())
    changed = conn.execute("SELECT count(DISTINCT model_key) FROM model_changes WHERE run_id = ?",
                           (run_id,)).fetchone()[0]
    return Changes(run_id, False, counts, changed)


def record_inputs(conn, changes: Changes):
    """What this run derived from, for the next run to compare with: the rows of every model that
    changed (all, after a full rebuild); removed models' rows go."""
    cols = ", ".join(_INPUT_COLUMNS)
    if changes.rebuild_all:
        conn.execute("DELETE FROM derive_inputs")
        conn.execute(f"INSERT INTO derive_inputs ({cols}) SELECT * FROM ({_INPUTS})")
    else:
        conn.execute(f"""INSERT OR REPLACE INTO derive_inputs ({cols}) SELECT * FROM ({_INPUTS}) i
            WHERE i.key IN (SELECT model_key FROM model_changes WHERE run_id = ? AND reason != 'removed')""",
                     (changes.run_id,))
    conn.execute("DELETE FROM derive_inputs WHERE model_key IN (SELECT model_key FROM model_changes "
                 "WHERE run_id = ? AND reason = 'removed')", (changes.run_id,))
    cur = conn.execute("SELECT max(day) FROM router_prices").fetchone()[0]
    return cur, _catalogue_digest(conn, cur)


def prune(conn, day: int):
    """Drop the change rows of derive runs older than KEEP_DAYS (their derive_runs rows stay)."""
    conn.execute("DELETE FROM model_changes WHERE run_id IN (SELECT run_id FROM derive_runs WHERE day < ?)",
                 (day - KEEP_DAYS,))

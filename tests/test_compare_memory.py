"""The comparisons step reads sides and writes entries in batches, never holding them all (issue 25, item 1):
its peak memory grows from 10,000 to 40,000 models by no more than the rank's own columns do."""

from __future__ import annotations

import sqlite3
import tracemalloc

from hubdex.compare import build
from hubdex.replica.server import start_replica

from .conftest import UNLIMITED, crawl, derive


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


BATCH = 200  # small, so that both catalogues' entries take many batches


def _measure(tmp_path, n: int) -> tuple[int, int, int, int]:
    server = start_replica(f"synthetic:{n}", quotas=UNLIMITED)
    db = tmp_path / f"hub-{n}.db"
    try:
        for mode in ("full", "search"):
            assert crawl(db, server.url, mode=mode).ok
    finally:
        server.stop()
    derive(db)
    conn = sqlite3.connect(db)
    pairs = conn.execute("SELECT count(*) FROM comparisons").fetchone()[0]
    # the rank's columns, as the rank step holds them: one row of scores per model
    rank = _peak(lambda: conn.execute("SELECT model_key, rank, adoption, quality, ecosystem, pricing, match "
                                      "FROM model_scores").fetchall())
    # every entry rebuilt (the heaviest run of the step), in a transaction thrown away
    step = _peak(lambda: build.build(conn, run_id=10**6, now="2026-12-06T00:00:00Z", rebuild_all=True, batch=BATCH))
    conn.rollback()
    # the same step in one batch holding every side and entry: what batching saves
    whole = _peak(lambda: build.build(conn, run_id=10**6, now="2026-12-06T00:00:00Z", rebuild_all=True,
                                      batch=10**9))
    conn.rollback()
    conn.close()
    return step, rank, pairs, whole


def test_the_comparisons_step_peak_memory_grows_no_more_than_the_rank_columns(tmp_path):
    small, rank_small, pairs_small, _ = _measure(tmp_path, 10_000)
    large, rank_large, pairs_large, whole = _measure(tmp_path, 40_000)
    print(f"\ncomparisons step peak: {small / 1e6:.1f} MB at 10,000 models ({pairs_small:,} entries), "
          f"{large / 1e6:.1f} MB at 40,000 ({pairs_large:,}); the rank's columns {rank_small / 1e6:.1f} -> "
          f"{rank_large / 1e6:.1f} MB; all entries in one batch {whole / 1e6:.1f} MB")
    assert min(pairs_small, pairs_large) > 5 * BATCH  # many batches in both
    assert large - small <= rank_large - rank_small
    # and it is the batching that bounds it: holding every side and entry at once costs far more
    assert large < whole / 2

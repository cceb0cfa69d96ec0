"""Seeded catalogue changes between crawls, reported exactly so tests can check what a crawler found.

One step advances the replica's clock and then, among synthetic models (real recorded models are
snapshots and never change): updates some (new sha, card text, a new file, lastModified inside the
step), adds new ones (created inside the step), renames some (a new owner; the old id answers 307; no
commit, so the sha stays, but lastModified moves), deletes some (gone from listings, RepoNotFound), and
moves the downloads, likes and trending score of others (no commit either).
"""

from __future__ import annotations

import numpy as np

from . import synthetic
from .render import iso
from .store import Store

DEFAULT_STEP_SECONDS = 3600


def _count(value, population: int) -> int:
    if value is None:
        return 0
    value = float(value)
    return int(round(value * population)) if 0 < value < 1 else int(value)


def apply_step(store: Store, seed: int, update=0, add=0, rename=0, delete=0, metrics=0,
               advance: int = DEFAULT_STEP_SECONDS) -> dict:
    """Apply one step; counts may be fractions of the alive synthetic models (0.01 = 1%)."""
    for name, value in (("update", update), ("add", add), ("rename", rename), ("delete", delete),
                        ("metrics", metrics), ("advance", advance)):
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < float("inf"):
            raise ValueError(f"{name}={value!r}: counts, fractions and the advance are numbers, not negative")
    rng = np.random.default_rng(seed)
    with store.lock:
        before = store.clock
        store.clock = before + int(advance)
        alive = store.col("alive").copy()
        alive[list(store.bodies)] = False  # real models don't change
        pool = np.flatnonzero(alive)
        n_update, n_rename = _count(update, len(pool)), _count(rename, len(pool))
        n_delete, n_metrics = _count(delete, len(pool)), _count(metrics, len(pool))
        if n_update + n_rename + n_delete > len(pool):
            raise ValueError("the step asks to change more models than the catalogue has")
        chosen = rng.choice(pool, size=n_update + n_rename + n_delete, replace=False)
        upd = np.sort(chosen[:n_update])
        ren = np.sort(chosen[n_update:n_update + n_rename])
        dele = np.sort(chosen[n_update + n_rename:])
        cols = store.cols

        cols["version"][upd] += 1
        cols["modified"][upd] = before + 1 + rng.integers(0, max(int(advance) - 1, 1), len(upd))
        updated = [store.model_id(int(r)) for r in upd]

        renamed = []
        for r in ren.tolist():
            old = store.model_id(r)
            owner = store.authors[int(rng.integers(0, len(store.authors)))]
            new = f"{owner}/{old.split('/', 1)[1]}"
            if new == old or store.find(new)[0] is not None:
                new = f"{owner}-renamed/{old.split('/', 1)[1]}"
            store.rename(r, new)
            # No commit (the sha stays), but the repo changed: its lastModified moves. UNVERIFIED on
            # the Hub; it is what lets a lastModified-sorted listing show a rename at all.
            cols["modified"][r] = before + 1 + int(rng.integers(0, max(int(advance) - 1, 1)))
            renamed.append([old, new])

        deleted = [store.model_id(int(r)) for r in dele]
        cols["alive"][dele] = False

        still = pool[store.col("alive")[pool]]  # synthetic and not deleted by this step
        moved = rng.choice(still, size=min(n_metrics, len(still)), replace=False) if n_metrics else np.zeros(0, np.int64)
        moved = np.sort(moved)
        if len(moved):
            factor = rng.lognormal(0.0, 0.3, len(moved))
            dl = cols["downloads"][moved].astype(np.float64)
            cols["downloads"][moved] = np.minimum(np.floor(dl * factor + rng.integers(0, 20, len(moved))), 4e9)
            cols["downloads_all"][moved] += cols["downloads"][moved].astype(np.int64) // 30 + 1
            cols["likes"][moved] += rng.integers(0, 3, len(moved)).astype(np.uint32)
            cols["trending"][moved] = np.maximum(cols["trending"][moved] + rng.integers(-2, 5, len(moved)), 0)

        n_add = _count(add, len(pool)) if add and float(add) < 1 else int(add or 0)
        added_rows = synthetic.add_models(store, n_add, rng, before + 1, store.clock)
        added = [store.model_id(r) for r in added_rows]
        store.changed()
        return {"clock": iso(store.clock), "previous_clock": iso(before), "updated": updated, "added": added,
                "renamed": renamed, "deleted": deleted,
                "metrics_changed": [store.model_id(int(r)) for r in moved]}

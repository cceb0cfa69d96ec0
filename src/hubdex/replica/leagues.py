"""The synthetic catalogue's competitive structure: leagues of rival models, with a known truth.

A league is a handful of well-adopted base models of one task and one size, from (mostly) different
authors: the models an analyst would put side by side. The generator gives every member evidence of
the league and nothing of it to anyone else: a `model-index` result on the league's own benchmark
(beside the task's generic benchmark, which every evaluated model of the task reports, and which
the match graph must therefore discount), and, on half of the members' cards, a comparison table
whose rows name rival members. Quantised copies of a member repeat its benchmark (as real GGUF
repos copy their base's card): the match graph must fold them into the model they copy.

`competitors(store)` is the truth the match graph is measured against.

The truth is made hard on purpose, as the real Hub's is:

- every third member skips the league benchmark (its rivals must be found some other way);
- every other table also names a decoy: a same-task model of another size class that is no rival;
- a family name is shared across tasks and sizes (names are Word-TaskWord-Size: `Nova-7B` and
  `Nova-ASR-base` are different families of work under one word);
- for every other league, a "sibling": a base model of the same task under a member's author and name word,
  10x the member's size (7B -> 70B, 1B -> 13B, ...), that reports the league benchmark too, and is no rival
  (another size class);
- the task's generic benchmark, which every evaluated model reports, is a leaderboard that mixes size classes.
"""

from __future__ import annotations

import numpy as np

from . import vocab
from .store import Store

LEAGUE_SIZE = 6       # members per league, at least (the last league of a group takes any remainder)
TOP_SHARE = 0.03      # the most downloaded 3% of each task's base models form leagues
MIN_PER_TASK = 24     # (at least this many of them, where the task has them)
MIN_DOWNLOADS = 100   # and only models with real use
TABLE_RIVALS = 3      # rivals a member's comparison table names


# vocab.SIZES -> class: tiny LLMs, small, mid, large LLMs; encoder sizes (base / large / small) apart.
_CLASS_OF = {"135M": 0, "0.5B": 0, "1B": 1, "1.5B": 1, "3B": 1, "7B": 2, "8B": 2, "13B": 2, "14B": 2,
             "32B": 3, "70B": 3, "base": 4, "large": 5, "small": 4}
SIZE_CLASS = np.array([_CLASS_OF[s] for s in vocab.SIZES] + [0] * (16 - len(vocab.SIZES)))


def assign(store: Store) -> int:
    """Group the current base models into leagues (store.cols['league']); returns how many."""
    c = {name: store.col(name) for name in ("alive", "relation", "pipeline", "downloads", "name_code", "league")}
    c["league"][:] = -1
    eligible = c["alive"] & (c["relation"] == 0) & (c["pipeline"] > 0) & (c["downloads"] >= MIN_DOWNLOADS)
    store.league_members = {}
    if store.bodies:  # real and hand-written models keep their own cards: no synthetic evidence
        eligible[list(store.bodies)] = False
    # Size classes, not sizes: a 7B model competes with 8B and 14B ones, not with 135M or 70B ones.
    size = SIZE_CLASS[(c["name_code"].astype(np.int64) >> 5) & 0xF]
    league = 0
    for pipe in np.unique(c["pipeline"][eligible]).tolist():
        rows = np.flatnonzero(eligible & (c["pipeline"] == pipe))
        base_count = int(np.count_nonzero(c["alive"] & (c["relation"] == 0) & (c["pipeline"] == pipe)))
        keep = max(MIN_PER_TASK, int(base_count * TOP_SHARE))
        rows = rows[np.argsort(-c["downloads"][rows].astype(np.int64), kind="stable")][:keep]
        for s in np.unique(size[rows]).tolist():
            group = rows[size[rows] == s]
            if len(group) < LEAGUE_SIZE:
                continue
            chunks = [group[i:i + LEAGUE_SIZE] for i in range(0, len(group), LEAGUE_SIZE)]
            if len(chunks) > 1 and len(chunks[-1]) < LEAGUE_SIZE:  # too few: they join the league above
                last = chunks.pop()
                chunks[-1] = np.concatenate([chunks[-1], last])
            for members in chunks:
                c["league"][members] = league
                store.league_members[league] = [int(r) for r in members]
                league += 1
    store.cols["has_evals"][: store.n][c["league"] >= 0] = True
    _make_harder(store, eligible, size)
    return league


# A size 10x away (up for the small, down for the largest), by vocab.SIZES name.
TENFOLD = {"135M": "1.5B", "0.5B": "7B", "1B": "13B", "1.5B": "14B", "3B": "32B", "7B": "70B", "8B": "70B",
           "13B": "1.5B", "14B": "1.5B", "32B": "3B", "70B": "7B", "small": "large", "base": "large", "large": "small"}


def _make_harder(store: Store, eligible: np.ndarray, size: np.ndarray):
    """Skippers, decoys in tables, and 10x siblings (see the module docstring). Per task, the candidate rows
    are computed once (numpy over the whole catalogue), so a million models cost a few passes, not one per
    league."""
    cols = store.cols
    store.league_skips = set()
    store.table_decoys = {}
    store.league_siblings = {}
    alive, relation, pipeline = store.col("alive"), store.col("relation"), store.col("pipeline")
    base = alive & (relation == 0) & (store.col("league") < 0)
    downloads = store.col("downloads")
    per_pipe: dict[int, tuple] = {}
    taken: set[int] = set()
    for league, members in sorted(store.league_members.items()):
        store.league_skips.update(members[2::3])
        first = members[0]
        pipe = int(pipeline[first])
        cls = int(size[first])
        if pipe not in per_pipe:
            rows = np.flatnonzero(base & (pipeline == pipe))
            by_downloads = rows[np.argsort(-downloads[rows].astype(np.int64), kind="stable")]
            per_pipe[pipe] = (by_downloads[:256], rows[~eligible[rows]])
        top, quiet = per_pipe[pipe]
        # decoy: the most downloaded same-task base model of another size class, in no league
        other = top[size[top] != cls]
        if len(other):
            for r in members[::2]:
                store.table_decoys[r] = int(other[0])
        if league % 2 or not len(quiet):
            continue
        # sibling: a quiet base model of the task, moved into a member's family at 10x its size
        sib = None
        for step in range(min(len(quiet), 16)):
            candidate = int(quiet[(league * 7919 + step) % len(quiet)])
            if candidate not in taken:
                sib = candidate
                break
        if sib is None:
            continue
        taken.add(sib)
        code = int(cols["name_code"][first])
        own_size = vocab.SIZES[(code >> 5) & 0xF]
        target = vocab.SIZES.index(TENFOLD[own_size])
        new_code = (code & 0x1F) | (target << 5) | (int(cols["name_code"][sib]) & ~0x1FF & 0xFFFF)
        cols["name_code"][sib] = new_code
        cols["author"][sib] = cols["author"][first]
        cols["params"][sib] = int(vocab.SIZE_PARAMS[vocab.SIZES[target]])
        cols["has_evals"][sib] = True
        store.league_siblings[sib] = league
    store.shared.pop("name_prefixes", None)
    store.changed()


def league_of(store: Store, row: int) -> int:
    """The league whose evidence the row carries: its own, (a quantised copy) its base's, or (a 10x sibling)
    its family's."""
    sibling = store.league_siblings.get(row)
    if sibling is not None:
        return sibling
    league = int(store.cols["league"][row])
    parent = int(store.cols["parent"][row])
    if league < 0 and parent >= 0 and int(store.cols["relation"][row]) == 3:
        league = int(store.cols["league"][parent])
    return league


def benchmark(store: Store, league: int) -> str:
    """The league's own benchmark dataset (a name no other league reports)."""
    first = store.league_members[league][0]
    pipe = store.pipelines.values[int(store.cols["pipeline"][first])] or "task"
    return f"hubdex-evals/{pipe}-arena-{league}"


def score(row: int, league: int) -> float:
    return round(0.5 + ((row * 2654435761 + league * 97) % 4500) / 10000, 4)


def rivals(store: Store, row: int, league: int) -> list[int]:
    """The models a comparison table on `row`'s card names (none for half of the members): rivals, and for
    every other table a decoy that is no rival."""
    members = store.league_members.get(league, [])
    if row not in members or members.index(row) % 2:
        return []
    others = [r for r in members if r != row][:TABLE_RIVALS]
    decoy = store.table_decoys.get(row)
    return others + ([decoy] if decoy is not None else [])


def reports(store: Store, row: int, league: int) -> bool:
    """Whether the row's evaluations include the league benchmark (skippers don't; a sibling does)."""
    own = row if int(store.cols["league"][row]) >= 0 else int(store.cols["parent"][row])
    return own not in store.league_skips


def competitors(store: Store) -> dict[str, set[str]]:
    """The truth: for each league member alive now, the ids of its rivals alive now."""
    alive = store.cols["alive"]
    out = {}
    for members in getattr(store, "league_members", {}).values():
        live = [r for r in members if alive[r]]
        for r in live:
            out[store.model_id(r)] = {store.model_id(o) for o in live if o != r}
    return out

"""The synthetic catalogue's competitive structure: leagues of rival models, with a known truth.

A league is a handful of well-adopted base models of one task, one size and one language (the
members state the first member's languages), from (mostly) different authors: the models an analyst would put side by side. The generator gives every member evidence of
the league and nothing of it to anyone else: a `model-index` result on the league's own benchmark
(beside the task's generic benchmark, which every evaluated model of the task reports, and which
the match graph must therefore discount), and, on half of the members' cards, a comparison table
whose rows name rival members. Quantised copies of a member repeat its benchmark (as real GGUF
repos copy their base's card): the match graph must fold them into the model they copy.

`competitors(store)` is the truth the match graph is measured against.
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
                # Rivals share a language (an English model and a Danish one are not rivals): the
                # members state the languages of the league's first member.
                store.col("lang")[members] = store.col("lang")[members[0]]
                store.league_members[league] = [int(r) for r in members]
                league += 1
    store.cols["has_evals"][: store.n][c["league"] >= 0] = True
    return league


def league_of(store: Store, row: int) -> int:
    """The league whose evidence the row carries: its own, or (a quantised copy) its base's."""
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
    """The members a comparison table on `row`'s card names (none for half of the members)."""
    members = store.league_members.get(league, [])
    if row not in members or members.index(row) % 2:
        return []
    others = [r for r in members if r != row]
    return others[:TABLE_RIVALS]


def competitors(store: Store) -> dict[str, set[str]]:
    """The truth: for each league member alive now, the ids of its rivals alive now."""
    alive = store.cols["alive"]
    out = {}
    for members in getattr(store, "league_members", {}).values():
        live = [r for r in members if alive[r]]
        for r in live:
            out[store.model_id(r)] = {store.model_id(o) for o in live if o != r}
    return out

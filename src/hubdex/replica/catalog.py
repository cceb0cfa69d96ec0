"""Build the replica's catalogue from a spec: `recorded`, `synthetic:N` or `demo`."""

from __future__ import annotations

import json
import os
import re
from importlib import resources

import numpy as np

from . import leagues, recorded, synthetic
from .store import Store

# The replica's "now": fixed, so that a seed gives the same catalogue on every machine and day.
DEFAULT_NOW = 1793491200  # 2026-11-01T00:00:00Z
DEMO_SYNTHETIC = 3000
MAX_SYNTHETIC = 2_000_000


class CatalogSpecError(ValueError):
    pass


def parse_spec(spec: str) -> tuple[str, int]:
    spec = (spec or "").strip()
    if spec in ("demo", "recorded"):
        return spec, 0
    m = re.fullmatch(r"synthetic:(\d+)([kKmM]?)", spec)
    if not m:
        raise CatalogSpecError(f"unknown catalogue {spec!r}: use demo, recorded or synthetic:N (N from 10 to 2M)")
    n = int(m.group(1)) * {"": 1, "k": 1000, "m": 1_000_000}[m.group(2).lower()]
    if not 10 <= n <= MAX_SYNTHETIC:
        raise CatalogSpecError(f"synthetic:N needs 10 <= N <= {MAX_SYNTHETIC:,}; got {n:,}")
    return "synthetic", n


def _demo_dir() -> str:
    return str(resources.files("hubdex.replica") / "data" / "demo")


def add_demo_models(store: Store) -> list[int]:
    base = _demo_dir()
    with open(os.path.join(base, "models.json")) as f:
        data = json.load(f)
    rows = []
    for body in data["bodies"]:
        row = recorded.add_body_row(store, body)
        card = os.path.join(base, body["id"].replace("/", "__") + ".md")
        with open(card, "rb") as f:
            store.cards[row] = f.read()
        mapping = data["provider_maps"].get(body["id"])
        if mapping:
            store.provider_maps[row] = mapping
        rows.append(row)
    return rows


def build(spec: str, seed: int = 0, now: int = DEFAULT_NOW) -> tuple[Store, recorded.Recordings]:
    kind, n = parse_spec(spec)
    store = Store(capacity=max(n, 1024) + 256)
    store.clock = now
    recs = recorded.Recordings()
    rng = np.random.default_rng(seed)
    if kind in ("recorded", "demo"):
        recs = recorded.load_recordings()
        recorded.load_into(store, recs)
    if kind == "demo":
        add_demo_models(store)
        n = DEMO_SYNTHETIC
    if n:
        synthetic.add_models(store, n, rng, synthetic.EPOCH_START, now)
        leagues.assign(store)
    return store, recs

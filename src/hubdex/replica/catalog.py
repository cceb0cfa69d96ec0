"""Build the replica's catalogue from a spec: `recorded`, `synthetic:N`, `demo`, or a corpus directory.

`demo` is the recorded real models, the two hand-described ones, the leaderboard corpus shipped in the
package (`data/corpus/`, real results of real models) and DEMO_SYNTHETIC synthetic models; a directory in
the corpus's format (`corpus.py`) serves that corpus's models, built through the same path.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources

import numpy as np

from . import corpus as corpus_mod
from . import evidence, leagues, realmodels, recorded, synthetic
from .store import Store

# The replica's "now": fixed, so that a seed gives the same catalogue on every machine and day.
DEFAULT_NOW = 1793491200  # 2026-11-01T00:00:00Z
DEMO_SYNTHETIC = 3000
MAX_SYNTHETIC = 2_000_000


class CatalogSpecError(ValueError):
    pass


class CorpusError(CatalogSpecError):
    """A corpus directory that can't be served (the message names the file and line)."""


def parse_spec(spec: str) -> tuple[str, int]:
    spec = (spec or "").strip()
    if spec in ("demo", "recorded"):
        return spec, 0
    if spec and os.path.isdir(spec):
        return "corpus", 0
    m = re.fullmatch(r"synthetic:(\d+)([kKmM]?)", spec)
    if not m:
        raise CatalogSpecError(f"unknown catalogue {spec!r}: use demo, recorded, synthetic:N (N from 10 to 2M) "
                               "or a corpus directory (models.jsonl, benchmarks.jsonl, benchmarks.json)")
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
        store.hand_written.add(row)
        card = os.path.join(base, body["id"].replace("/", "__") + ".md")
        with open(card, "rb") as f:
            store.cards[row] = f.read()
        mapping = data["provider_maps"].get(body["id"])
        if mapping:
            store.provider_maps[row] = mapping
        rows.append(row)
    return rows


def add_corpus(store: Store, corpus: corpus_mod.Corpus, now: int) -> dict[str, int]:
    """Every corpus model as a row (a model already in the catalogue keeps its recorded body and gets the
    corpus's results); then evidence: eval results, leaderboards, Spaces. Returns {model id: row}."""
    official = set()
    for mid in corpus.models:
        if any(g["fields"].get("official_provider") for g in corpus.models[mid]["metadata"]):
            official.add(mid.split("/")[0])
    rows_of, new_rows = {}, []
    for mid in sorted(corpus.models):
        row, _moved = store.find(mid)
        if row is None:
            known = realmodels.known_from_corpus(corpus, mid)
            body, files, prov = realmodels.build_body(known, now, mid.split("/")[0] in official)
            row = recorded.add_body_row(store, body, changed=False)
            store.weights_of[row] = known.weights
            store.files_text[row] = files
            store.provenance[row] = prov
            new_rows.append(row)
        else:
            _sentence_configs_from_corpus(store, row, corpus.facts(mid))
        rows_of[mid] = row
    store.changed()
    recorded.link_relations(store, new_rows)
    evidence.attach(store, corpus, rows_of)
    evidence.build_spaces(store, rows_of)
    store.changed()
    return rows_of


def _sentence_configs_from_corpus(store: Store, row: int, facts: dict) -> None:
    """A recorded body keeps its own figures, but the sentence-transformers files a library reads its
    embedding dimension and maximum input from carry the corpus's values (MTEB's model_meta), never
    ones derived from a synthesised tensor shape (all-MiniLM-L6-v2 had been served as 512-dimensional)."""
    embed_dim, max_tokens = (facts.get(f, (None,))[0] for f in ("embed_dim", "max_tokens"))
    files = dict(store.files_text.get(row, {}))
    if isinstance(embed_dim, int):
        files["1_Pooling/config.json"] = {"word_embedding_dimension": embed_dim, "pooling_mode_cls_token": False,
                                          "pooling_mode_mean_tokens": True}
    if isinstance(max_tokens, int):
        files["sentence_bert_config.json"] = {"max_seq_length": max_tokens, "do_lower_case": False}
    if files:
        store.files_text[row] = files


def load_corpus(path: str) -> corpus_mod.Corpus:
    try:
        return corpus_mod.load(path)
    except corpus_mod.CorpusError as e:
        raise CorpusError(str(e)) from None


def build(spec: str, seed: int = 0, now: int = DEFAULT_NOW) -> tuple[Store, recorded.Recordings]:
    kind, n = parse_spec(spec)
    if kind == "corpus":
        corpus = load_corpus(spec)
        store = Store(capacity=len(corpus.models) + 256)
        store.clock = now
        add_corpus(store, corpus, now)
        return store, recorded.Recordings()
    store = Store(capacity=max(n, 1024) + 256)
    store.clock = now
    recs = recorded.Recordings()
    rng = np.random.default_rng(seed)
    corpus = load_corpus(corpus_mod.shipped_dir()) if kind == "demo" else None
    if kind in ("recorded", "demo"):
        recs = recorded.load_recordings()
        recorded.load_into(store, recs, corpus=corpus)
    if kind == "demo":
        add_demo_models(store)
        add_corpus(store, corpus, now)
        n = DEMO_SYNTHETIC
    if n:
        synthetic.add_models(store, n, rng, synthetic.EPOCH_START, now)
        leagues.assign(store)
    return store, recs

"""The Hub's computed `tags` for synthetic rows, and `filter=` masks over them, from one definition.

A row's tags are the concatenation of pieces, each a function of at most two columns. Rendering
calls the pieces; filtering builds a lookup table per piece over the column values present and
indexes it with the columns, so a `filter=` tag matches exactly the rows whose rendered tags hold it,
at numpy speed, with no per-row Python.
"""

from __future__ import annotations

import numpy as np

from . import vocab
from .store import Store

_ARCHS = {p[0]: p[3] for p in vocab.PIPELINES}


def _library(store, lib):
    name = store.libraries.values[lib]
    return [name] if name else []


def _formats(store, fmt, lib):
    name = store.libraries.values[lib]
    return [f for f in vocab.FORMATS if fmt & vocab.FMT[f] and f != name]


def model_type(store, pipe, arch):
    archs = _ARCHS.get(store.pipelines.values[pipe], ["custom"])
    return archs[arch % len(archs)]


def _arch(store, pipe, arch):
    return [model_type(store, pipe, arch)]


def _pipeline(store, pipe):
    name = store.pipelines.values[pipe]
    if not name:
        return []
    return [name, "conversational"] if name in vocab.CHAT_PIPELINES else [name]


def _langs(store, lang):
    return list(store.languages.values[lang] or ())


def _dataset(store, ds):
    name = store.datasets.values[ds]
    return [f"dataset:{name}"] if name else []


def _license(store, lic):
    name = store.licenses.values[lic]
    return [f"license:{name}"] if name else []


def _compat(store, lib, pipe):
    lib_name, pipe_name = store.libraries.values[lib], store.pipelines.values[pipe]
    tags = []
    if lib_name == "transformers":
        tags.append("autotrain_compatible")
        if pipe_name == "text-generation":
            tags.append("text-generation-inference")
    if lib_name in ("transformers", "diffusers", "sentence-transformers"):
        tags.append("endpoints_compatible")
    tags.append("region:us")
    return tags


# The same pieces grouped by the columns they read, in tag order, for rendering a page: each group's
# lists are cached by column values (a few hundred entries). base_model tags go before "tail".
GROUPS = [
    ("lib_fmt", ("library", "fmt"), lambda st, lib, fmt: _library(st, lib) + _formats(st, fmt, lib)),
    ("pipe_arch", ("pipeline", "arch"), lambda st, pipe, arch: _arch(st, pipe, arch) + _pipeline(st, pipe)),
    ("lang", ("lang",), _langs),
    ("dataset", ("dataset",), _dataset),
    ("tail", ("license", "library", "pipeline"), lambda st, lic, lib, pipe: _license(st, lic) + _compat(st, lib, pipe)),
]


class _GroupCache(dict):
    def __init__(self, store, fn):
        super().__init__()
        self.store, self.fn = store, fn

    def __missing__(self, key):
        tags = self[key] = self.fn(self.store, *key)
        return tags


def group_cache(store: Store, name: str) -> dict:
    caches = store.shared.setdefault("tag_groups", {})
    cache = caches.get(name)
    if cache is None:
        fn = next(g[2] for g in GROUPS if g[0] == name)
        cache = caches[name] = _GroupCache(store, fn)
    return cache


HEAD_PIECES = [(("library",), _library), (("fmt", "library"), _formats), (("pipeline", "arch"), _arch),
               (("pipeline",), _pipeline), (("lang",), _langs), (("dataset",), _dataset)]
TAIL_PIECES = [(("license",), _license), (("library", "pipeline"), _compat)]

_VOCAB_OF = {"library": lambda s: s.libraries, "pipeline": lambda s: s.pipelines, "lang": lambda s: s.languages,
             "dataset": lambda s: s.datasets, "license": lambda s: s.licenses}


def _piece_mask(store: Store, cols, fn, tag) -> np.ndarray:
    if len(cols) == 1:
        col = store.col(cols[0])
        size = len(_VOCAB_OF[cols[0]](store).values)
        table = np.zeros(256, dtype=bool)
        table[:size] = [tag in fn(store, v) for v in range(size)]
        return table[col]
    a, b = store.col(cols[0]).astype(np.int64), store.col(cols[1]).astype(np.int64)
    combined = (a << 16) | b
    uniq, inverse = np.unique(combined, return_inverse=True)
    hit = np.array([tag in fn(store, int(u) >> 16, int(u) & 0xFFFF) for u in uniq], dtype=bool)
    return hit[inverse] if len(uniq) else np.zeros(store.n, bool)


def tag_mask(store: Store, tag: str) -> np.ndarray:
    """Rows whose tags contain `tag` (body-backed rows are answered from their real tags)."""
    n = store.n
    if tag.startswith("base_model:"):
        parts = tag.split(":")
        mask = np.zeros(n, bool)
        base_id = parts[-1] if len(parts) in (2, 3) else None
        rel = parts[1] if len(parts) == 3 else None
        if base_id and (rel is None or rel in vocab.RELATIONS[1:]):
            base, moved = store.find(base_id)
            if base is not None and not moved:
                mask = store.col("parent") == base
                if rel:
                    mask &= store.col("relation") == vocab.RELATIONS.index(rel)
    else:
        mask = np.zeros(n, bool)
        for cols, fn in HEAD_PIECES + TAIL_PIECES:
            mask |= _piece_mask(store, cols, fn, tag)
    for row, body in store.bodies.items():
        mask[row] = tag in (body.get("tags") or ())
    return mask

"""`GET /api/quicksearch`: the Hub's search bar, as its OpenAPI spec shapes it (HUB-API.md §8).

`q` is matched as a case-insensitive substring of the repo id (as `search=` is: how the Hub's own
matching ranks is undocumented, a choice listed in docs/REPLICA.md); results come most trending
first, then most downloaded; `limit` is 1 to 20. Answers ids only: `{"q", "models": [{"id",
"private", "trendingWeight"}], "modelsCount"}`, plus empty `datasets` / `spaces` lists when `type`
does not restrict the answer to models.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import numpy as np

from . import listing
from .store import Store

MAX_LIMIT = 20
DEFAULT_LIMIT = 10


class BadQuery(ValueError):
    pass


def answer(store: Store, query: str) -> dict:
    pairs = parse_qsl(query, keep_blank_values=True)
    args = dict(pairs)
    q = args.get("q", "")
    try:
        limit = int(args.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise BadQuery(f"limit must be an integer, got {args['limit']!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(f"limit must be between 1 and {MAX_LIMIT}")
    types = {v for k, v in pairs if k in ("type", "type[]")}
    namespace = args.get("namespace")
    excluded = {v for k, v in pairs if k in ("exclude", "exclude[]")}
    with store.lock:
        n = store.n
        mask = store.col("alive").copy()
        if q:
            mask &= listing._search_mask(store, q)[:n]
        rows = np.flatnonzero(mask)
        if namespace:
            rows = np.array([r for r in rows.tolist() if store.model_id(r).split("/")[0] == namespace], dtype=np.int64)
        trending = store.col("trending")[rows].astype(np.int64)
        downloads = store.col("downloads")[rows].astype(np.int64)
        order = np.lexsort((rows, -downloads, -trending))
        ranked = [(r, store.model_id(r)) for r in rows[order].tolist()] if excluded else None
        if ranked is not None:
            ranked = [(r, i) for r, i in ranked if i not in excluded]
        count = len(ranked) if ranked is not None else int(len(rows))
        top = ranked[:limit] if ranked is not None else [(r, store.model_id(r)) for r in rows[order][:limit].tolist()]
        models = [{"id": i, "private": False, "trendingWeight": int(store.cols["trending"][r])} for r, i in top]
    doc = {"q": q, "models": models, "modelsCount": count}
    if not types or types - {"model"}:
        doc.update({"datasets": [], "datasetsCount": 0, "spaces": [], "spacesCount": 0})
    return doc

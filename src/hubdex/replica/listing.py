"""`GET /api/models`: query parsing, filtering, and keyset pagination with the Hub's cursor shape.

The cursor is what the Hub sends (HUB-API.md 1.2): base64 of a Mongo-style "after the last item"
query, `{"$or":[{"<key>":v,"_id":{"$gt":"<oid>"}},{"<key>":{"$lt":v}},{"<key>":null}]}`. Sorting
is always descending on the key, ascending on `_id`; the next page starts strictly after the last
(key, _id) seen. So a listing never repeats a model and never skips one that existed throughout,
however many models are added or removed in between; a model whose sort key itself moves across
the cursor mid-listing can, as on the Hub (sort by `createdAt` for a full pass: it never moves).
"""

from __future__ import annotations

import base64
import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from . import render, vocab
from .store import SORT_COLUMNS, Store
from .tags import tag_mask

MAX_LIMIT = 1000
DEFAULT_SORT = "trendingScore"  # the Hub's default order (decoded real cursors, hub-listings/README.md)
DATE_SORTS = {"lastModified", "createdAt"}
SORT_ALIASES = {"created_at": "createdAt", "last_modified": "lastModified", "trending_score": "trendingScore"}
TRUE = {"true", "1", "True"}


class BadRequest(ValueError):
    pass


@dataclass
class ListQuery:
    filters: list = field(default_factory=list)
    author: str | None = None
    search: str | None = None
    pipeline_tag: str | None = None
    gated: bool | None = None
    inference_warm: bool = False
    providers: list | None = None
    num_parameters: tuple | None = None
    sort: str = DEFAULT_SORT
    limit: int = MAX_LIMIT
    expand: list | None = None
    full: bool = False
    card_data: bool = False
    config: bool = False
    cursor: str | None = None

    def fields(self) -> list[str]:
        if self.expand:
            asked = [f for f in dict.fromkeys(self.expand) if f not in ("_id", "id")]
            return ["_id", "id"] + sorted(asked, key=lambda f: render.EXPAND_ORDER.get(f, 999))
        out = list(render.LIST_FIELDS)
        if self.full:
            out += render.FULL_EXTRA
        if self.card_data:
            out.append("cardData")
        if self.config:
            out.append("config")
        return out

    def filter_key(self) -> tuple:
        return (tuple(sorted(self.filters)), self.author, self.search, self.pipeline_tag, self.gated,
                self.inference_warm, tuple(self.providers or ()), self.num_parameters)


def _params_value(text: str) -> float:
    text = text.strip().upper()
    mult = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}.get(text[-1:], 1)
    return float(text[:-1] if mult != 1 else text) * mult


def parse_query(pairs: list[tuple[str, str]]) -> ListQuery:
    q = ListQuery()
    expand = []
    for k, v in pairs:
        if k in ("filter", "library", "language", "tags"):  # the last three: aliases seen in the wild
            q.filters += [x for x in v.split(",") if x]
        elif k == "author":
            q.author = v
        elif k == "search":
            q.search = v
        elif k == "pipeline_tag":
            q.pipeline_tag = v
        elif k == "gated":
            if v not in ("true", "false"):
                raise BadRequest(f"Invalid gated parameter: {v}")
            q.gated = v == "true"
        elif k == "inference":
            q.inference_warm = v == "warm"
        elif k == "inference_provider":
            q.providers = (q.providers or []) + [x for x in v.split(",") if x]
        elif k == "num_parameters":
            lo, hi = 0.0, float("inf")
            for part in v.split(","):
                name, _, val = part.partition(":")
                try:
                    if name == "min":
                        lo = _params_value(val)
                    elif name == "max":
                        hi = _params_value(val)
                except ValueError:
                    raise BadRequest(f"Invalid num_parameters: {v}") from None
            q.num_parameters = (lo, hi)
        elif k == "sort":
            s = SORT_ALIASES.get(v, v)
            if s not in SORT_COLUMNS:
                raise BadRequest(f"Invalid sort parameter: {v}")
            q.sort = s
        elif k == "limit":
            try:
                q.limit = int(v)
            except ValueError:
                raise BadRequest(f"Invalid limit: {v}") from None
            if q.limit < 1:
                raise BadRequest(f"Invalid limit: {v}")
            q.limit = min(q.limit, MAX_LIMIT)
        elif k in ("expand", "expand[]"):
            expand += [x for x in v.split(",") if x]
        elif k == "full":
            q.full = v in TRUE
        elif k == "cardData":
            q.card_data = v in TRUE
        elif k == "config":
            q.config = v in TRUE
        elif k == "cursor":
            q.cursor = v
    unknown = [e for e in expand if e not in render.EXPAND_VALUES]
    if unknown:
        raise BadRequest(f"Invalid expand parameter: {unknown[0]}")
    q.expand = expand or None
    return q


# -- cursor -----------------------------------------------------------------------------------------
def _key_json(sort: str, value: int):
    return render.iso(value) if sort in DATE_SORTS else value


def encode_cursor(sort: str, value: int, oid: str) -> str:
    v = _key_json(sort, value)
    doc = {"$or": [{sort: v, "_id": {"$gt": oid}}, {sort: {"$lt": v}}, {sort: None}]}
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def decode_cursor(sort: str, cursor: str) -> tuple[int, int, int]:
    """(key, _id high 64 bits, _id low 32 bits) of the last item of the previous page."""
    try:
        doc = json.loads(base64.b64decode(cursor + "=" * (-len(cursor) % 4)))
        first = doc["$or"][0]
        v = first[sort]
        oid = first["_id"]["$gt"]
        if not (isinstance(oid, str) and re.fullmatch(r"[0-9a-f]{24}", oid)):
            raise ValueError(oid)
        if isinstance(v, str):
            v = render.parse_iso(v)
        return int(v), int(oid[:16], 16), int(oid[16:], 16)
    except (ValueError, KeyError, IndexError, TypeError, OverflowError):
        raise BadRequest("Invalid cursor") from None


# -- filtering ----------------------------------------------------------------------------------------
class MaskCache:
    """Filter masks per (filter, catalogue state): paging a filtered listing computes its mask once."""

    def __init__(self, size: int = 16):
        self.size = size
        self.items: OrderedDict = OrderedDict()

    def get(self, key, make):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = make()
        self.items[key] = value
        while len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


def _author_mask(store: Store, author: str) -> np.ndarray:
    try:
        code = store.authors.index(author)
        mask = store.col("author") == code
    except ValueError:
        mask = np.zeros(store.n, bool)
    for row in list(store.bodies) + list(store.renamed):
        mask[row] = store.model_id(row).split("/")[0] == author if "/" in store.model_id(row) else False
    return mask


def _search_mask(store: Store, needle: str) -> np.ndarray:
    hay, starts = store.ids_blob()
    pat = needle.lower().encode()
    mask = np.zeros(store.n, bool)
    if not pat or b"\n" in pat:
        return mask if pat else np.ones(store.n, bool)
    pos = hay.find(pat)
    while pos >= 0:
        row = int(np.searchsorted(starts, pos, side="right")) - 1
        mask[row] = True
        pos = hay.find(pat, int(starts[row + 1]) if row + 1 < len(starts) else len(hay))
    return mask


def _provider_mask(store: Store, names: list, live_only: bool) -> np.ndarray:
    bits = 0
    for i, (name, _a, _b) in enumerate(vocab.PROVIDERS):
        if "all" in names or name in names:
            bits |= 1 << i
    cols = store.col("providers")
    mask = (cols & np.uint32(bits)) != 0
    if live_only:  # staging-only mappings don't make a model warm: check the few candidates exactly
        for row in np.flatnonzero(mask).tolist():
            page = render.Page(store, [row], listing=True)
            mask[row] = render.inference(page, 0) is not render.MISSING
    for row, mapping in store.provider_maps.items():
        live = {p for p, v in mapping.items() if v.get("status") == "live" or not live_only}
        mask[row] = bool(live) and ("all" in names or bool(live & set(names)))
    if live_only:  # recorded bodies say "inference": "warm" themselves
        for row in store.bodies:
            page = render.Page(store, [row], listing=True)
            mask[row] = page.value("inference", 0) == "warm"
    return mask


def _params_mask(store: Store, lo: float, hi: float) -> np.ndarray:
    """Models whose shown parameter count (safetensors total, else gguf total) is within [lo, hi]."""
    params, fmt, lib = store.col("params"), store.col("fmt"), store.col("library")
    hidden = [store.libraries.codes[name] for name in ("peft", "diffusers") if name in store.libraries.codes]
    shown = (((fmt & vocab.FMT["safetensors"]) != 0) & ~np.isin(lib, hidden)) | ((fmt & vocab.FMT["gguf"]) != 0)
    mask = shown & (params >= lo) & (params <= hi) & (params > 0)
    for row, body in store.bodies.items():
        total = (body.get("safetensors") or {}).get("total") or (body.get("gguf") or {}).get("total")
        mask[row] = bool(total) and lo <= total <= hi
    return mask


def build_mask(store: Store, q: ListQuery) -> np.ndarray | None:
    parts = []
    for tag in q.filters:
        parts.append(tag_mask(store, tag))
    if q.pipeline_tag:
        code = store.pipelines.codes.get(q.pipeline_tag)
        parts.append(store.col("pipeline") == code if code else np.zeros(store.n, bool))
    if q.author:
        parts.append(_author_mask(store, q.author))
    if q.search:
        parts.append(_search_mask(store, q.search))
    if q.gated is not None:
        parts.append((store.col("gated") > 0) == q.gated)
    if q.providers:
        parts.append(_provider_mask(store, q.providers, live_only=False))
    if q.inference_warm:
        parts.append(_provider_mask(store, ["all"], live_only=True))
    if q.num_parameters:
        parts.append(_params_mask(store, *q.num_parameters))
    if not parts:
        return None
    mask = parts[0].copy()
    for m in parts[1:]:
        mask &= m
    return mask


def page_rows(store: Store, q: ListQuery, masks: MaskCache) -> tuple[list[int], str | None]:
    """Rows of this page, and the cursor of the next one (None on the last page)."""
    order, neg_key, his, los = store.sorted_rows(q.sort)
    start = 0
    if q.cursor:
        value, oid_hi, oid_lo = decode_cursor(q.sort, q.cursor)
        # Strictly after (key, _id): same key, then same high digits, then the low digits.
        a = int(np.searchsorted(neg_key, -value, side="left"))
        b = int(np.searchsorted(neg_key, -value, side="right"))
        a2 = a + int(np.searchsorted(his[a:b], np.uint64(oid_hi), side="left"))
        b2 = a + int(np.searchsorted(his[a:b], np.uint64(oid_hi), side="right"))
        start = a2 + int(np.searchsorted(los[a2:b2], np.uint32(oid_lo), side="right"))
    mask = masks.get((q.filter_key(), store.mutations), lambda: build_mask(store, q))
    if mask is None:
        picked = np.arange(start, min(start + q.limit + 1, len(order)))
    else:
        # Scan forward in chunks: a selective filter on a big catalogue must not copy the whole tail.
        found, pos, chunk = [], start, max(4 * q.limit, 4096)
        need = q.limit + 1
        while pos < len(order) and sum(len(f) for f in found) < need:
            hits = np.flatnonzero(mask[order[pos:pos + chunk]]) + pos
            found.append(hits)
            pos += chunk
            chunk *= 2
        picked = np.concatenate(found)[:need] if found else np.zeros(0, np.int64)
    more = len(picked) > q.limit
    picked = picked[: q.limit]
    rows = order[picked].tolist()
    if not more or not rows:
        return rows, None
    last = int(picked[-1])
    return rows, encode_cursor(q.sort, int(-neg_key[last]), store.oid(rows[-1]))

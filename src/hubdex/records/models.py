"""Normalise Hub API payloads into rows: pure functions, no I/O.

One list item (or `model_info` body) becomes a `ModelRecord`: the `models` row, the rows of its
child tables (tags, files, base-model relations, Spaces, inference providers), the day's metrics,
and a hash of everything but the metrics, so that a model whose metadata did not change costs no
write. A payload that cannot be normalised raises `BadItem` with the reason; the caller quarantines
it and goes on.
"""

from __future__ import annotations

import hashlib
import operator
from operator import methodcaller
from typing import NamedTuple

import orjson

from .evidence import eval_result_rows

METRIC_FIELDS = ("downloads", "downloadsAllTime", "likes", "trendingScore")
RELATIONS = ("finetune", "adapter", "quantized", "merge")

# models columns filled from the payload, in table order (see store/schema.py).
MODEL_COLUMNS = ("id", "oid", "author", "sha", "last_modified", "created_at", "private", "gated", "disabled",
                 "pipeline_tag", "library_name", "license", "license_name", "license_link", "card_license",
                 "params", "used_storage", "context_length", "base_model_relation", "children_finetune",
                 "children_adapter", "children_quantized", "children_merge", "spaces_count", "providers_count",
                 "inference", "mask_token", "raw", "meta_hash")


_NOT_HASHED = METRIC_FIELDS + ("id", "modelId")

# Fields of the payload that `raw` does not repeat, because a column or a child table holds them
# exactly (each with the test that it does: a value of another shape stays in `raw`). They were half
# of `raw`'s bytes, the metrics in it went stale at the first metrics crawl, and writing them twice
# was a fifth of the crawl's insert time. `raw` keeps the rest (cardData, config, safetensors, gguf,
# transformersInfo, baseModels, ... and anything the Hub adds): the columns computed from it read there.
_SCALAR_COLUMNS = {"_id": str, "sha": str, "lastModified": str, "createdAt": str, "pipeline_tag": str,
                   "library_name": str, "usedStorage": int, "private": bool, "disabled": bool}
_PROVIDER_KEYS = {"provider", "providerId", "status", "task"}


def _scalar_stored(key: str, v) -> bool:
    """A scalar field stored as its column holds it (exact type: a bool is not an int here)."""
    return type(v) is _SCALAR_COLUMNS[key]


class BadItem(ValueError):
    """A payload that can't become a model row; the message is the quarantine reason."""


class ModelRecord(NamedTuple):
    """A tuple: a page of a thousand records is built and consumed without per-record objects."""

    id: str
    oid: str
    values: tuple  # the models columns, in MODEL_COLUMNS order
    metrics: tuple  # (downloads, downloads_all_time, likes, trending_score); None where absent
    tags: list
    files: list         # (path, size, blob_id, lfs_sha256)
    relations: list     # (parent, relation)
    spaces: list
    providers: list     # (provider, provider_id, status, task)
    has_files: bool     # the payload listed files (siblings may be absent from a listing)
    has_spaces: bool
    has_providers: bool
    evals: list | None = None  # eval_results rows from `evalResults`; None: the payload did not carry them
    dropped: tuple = ()  # the payload's fields `raw` leaves out: stored exactly elsewhere
    # the file names when the payload listed names only, none twice (a listing's siblings): what
    # model_files holds for them, as a list (the writer inserts a page's lists in one statement)
    file_names: list | None = None

    @property
    def row(self) -> dict:
        return dict(zip(MODEL_COLUMNS, self.values))


def _json(value):
    return None if value is None else orjson.dumps(value).decode()


# SQLite stores integers in 64 bits: a bigger one (JSON allows any) raised OverflowError at the page's
# insert and stopped the crawl there, where one bad item must only be quarantined.
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1


def _i64(v):
    """An int a column can hold, else None (an out-of-range figure is unknown, never clipped)."""
    return v if type(v) is int and I64_MIN <= v <= I64_MAX else None


def _int(item: dict, key: str):
    v = item.get(key)
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        n = int(v)  # a float from JSON is finite: the parser refuses infinities
        if I64_MIN <= n <= I64_MAX:
            return n
        raise BadItem(f"field {key!r} is {v!r}, outside a 64-bit integer's range")
    raise BadItem(f"field {key!r} is {type(v).__name__}, not a number")


def _str(item: dict, key: str):
    v = item.get(key)
    if v is None or isinstance(v, str):
        return v
    raise BadItem(f"field {key!r} is {type(v).__name__}, not a string")


def _list(item: dict, key: str) -> list:
    v = item.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise BadItem(f"field {key!r} is {type(v).__name__}, not a list")
    return v


def _licence(tagged, card) -> tuple:
    """(licence id as the Hub tags it, license_name, license_link, the card's raw `license`);
    `tagged` is the first `license:` tag's value, or None."""
    if not isinstance(card, dict):  # cardData absent or not an object
        return tagged or None, None, None, None
    raw = card.get("license")
    card_licence = raw if raw is None or isinstance(raw, str) else _json(raw)  # a list in some cards
    name, link = card.get("license_name"), card.get("license_link")
    return (tagged or (raw if isinstance(raw, str) else None), name if isinstance(name, str) else None,
            link if isinstance(link, str) else None, card_licence)


def _relations(item: dict, base_tags: list) -> list:
    """(parent, relation) pairs: `baseModels` when expanded, else the `base_model:<rel>:<id>` tags
    (`base_tags`: the tags that start with `base_model:`)."""
    base = item.get("baseModels")
    out = []
    if isinstance(base, dict):
        rel = base.get("relation")
        for m in base.get("models") or []:
            if isinstance(m, dict) and isinstance(m.get("id"), str):
                out.append((m["id"], rel if isinstance(rel, str) else None))
    if not out:
        for t in base_tags:
            parts = t.split(":", 2)
            if len(parts) == 3 and parts[1] in RELATIONS:
                out.append((parts[2], parts[1]))
    return list(dict.fromkeys(out)) if len(out) > 1 else out


def _children(item: dict) -> tuple:
    counts = item.get("childrenModelCount")
    if isinstance(counts, dict):
        return tuple(_i64(counts.get(r)) for r in RELATIONS)
    return (None,) * 4  # 2.4.0 types it int; the Hub sends a dict: only the dict is trusted


def _cell(v):
    """A value for a text column: a scalar as it is, anything else as its JSON (never a binding error)."""
    if isinstance(v, int) and not I64_MIN <= v <= I64_MAX:
        return str(v)  # a text column, but SQLite binds a Python int as an integer first
    return v if v is None or isinstance(v, (str, int, float)) else _json(v)


def _providers(mapping) -> tuple[list, bool]:
    """(provider rows, whether model_providers holds the mapping exactly: the listing form, each
    entry with no field but those four, each a string or null, no provider twice)."""
    rows = []
    exact = isinstance(mapping, list)
    if isinstance(mapping, list):  # the listing form
        for e in mapping:
            if isinstance(e, dict) and isinstance(e.get("provider"), str):
                row = (e["provider"], e.get("providerId"), e.get("status"), e.get("task"))
                flat = all(v is None or type(v) is str for v in row[1:])
                rows.append(row if flat else row[:1] + tuple(map(_cell, row[1:])))
                exact = exact and flat and e.keys() <= _PROVIDER_KEYS
            else:
                exact = False
        exact = exact and len({r[0] for r in rows}) == len(rows)
    elif isinstance(mapping, dict):  # the model_info form
        for name, e in mapping.items():
            if isinstance(e, dict):
                rows.append((name, _cell(e.get("providerId")), _cell(e.get("status")), _cell(e.get("task"))))
    return rows, exact


def _files(siblings: list) -> tuple[list, list | None, bool]:
    """(file rows, the names when the siblings were names only, whether model_files then holds them
    exactly: names only, none twice)."""
    try:  # a listing's siblings carry only rfilename: the common case, built in C-level passes
        if _ONE.issuperset(map(len, siblings)):
            names = list(map(_RFILENAME, siblings))
            if _STR.issuperset(map(type, names)):
                return [(n, None, None, None) for n in names], names, len(set(names)) == len(names)
    except (TypeError, KeyError):
        pass
    out = []
    for s in siblings:
        if not isinstance(s, dict) or not isinstance(s.get("rfilename"), str):
            raise BadItem("a sibling without rfilename")
        lfs = s.get("lfs") if isinstance(s.get("lfs"), dict) else {}
        size = s.get("size")
        out.append((s["rfilename"], _i64(size), _cell(s.get("blobId")),
                    _cell(lfs.get("sha256"))))
    return out, None, False


_ONE, _STR = frozenset((1,)), frozenset((str,))
_RFILENAME = operator.itemgetter("rfilename")
_TAG_PREFIXES = methodcaller("startswith", ("license:", "base_model:"))
_SCALAR_ITEMS = tuple(_SCALAR_COLUMNS.items())


def _bad_str(key: str, v):
    return BadItem(f"field {key!r} is {type(v).__name__}, not a string")


def normalise(item) -> ModelRecord:
    # The crawl's hot path (once per model of every listing page): the checks are inlined and the
    # loops over tags and files run in C (map, filter, set). Each reason and the order in which they
    # are tried are those of the field-by-field version this replaced (tests/unit/test_records.py).
    if not isinstance(item, dict):
        raise BadItem(f"item is {type(item).__name__}, not an object")
    get = item.get
    model_id = get("id")
    if not isinstance(model_id, str) or not model_id:
        raise BadItem("item has no id")
    oid = get("_id")
    if not isinstance(oid, str):
        raise BadItem("item has no _id")
    tags = _list(item, "tags")
    if tags and not _STR.issuperset(map(type, tags)) and not all(isinstance(t, str) for t in tags):
        raise BadItem("a tag that is not a string")
    marked = list(filter(_TAG_PREFIXES, tags)) if tags else ()
    tagged = next((t[8:] for t in marked if t[0] == "l"), None)
    licence, licence_name, licence_link, card_licence = _licence(tagged, get("cardData"))
    safetensors = get("safetensors")
    gguf = get("gguf")
    gguf = gguf if isinstance(gguf, dict) else None
    params = (safetensors.get("total") if isinstance(safetensors, dict) else None) or (gguf or {}).get("total")
    relations = _relations(item, [t for t in marked if t[0] == "b"])
    children = _children(item)
    providers, providers_exact = _providers(get("inferenceProviderMapping"))
    listed_spaces = _list(item, "spaces")
    spaces = listed_spaces if _STR.issuperset(map(type, listed_spaces)) else \
        [s for s in listed_spaces if isinstance(s, str)]
    unique_tags = list(dict.fromkeys(tags)) if tags else []
    unique_spaces = list(dict.fromkeys(spaces)) if spaces else []
    siblings = _list(item, "siblings")
    files, names, files_exact = _files(siblings) if siblings else ([], [], True)
    gated = get("gated")
    # What `raw` leaves out: what a column or child table holds exactly (module comment above)
    dropped = [k for k in METRIC_FIELDS if k in item]
    dropped += [k for k, kind in _SCALAR_ITEMS if type(get(k)) is kind]
    if "tags" in item and len(unique_tags) == len(tags):
        dropped.append("tags")
    if "spaces" in item and len(unique_spaces) == len(listed_spaces):
        dropped.append("spaces")
    if files_exact and get("siblings") is not None:
        dropped.append("siblings")
    if providers_exact:
        dropped.append("inferenceProviderMapping")
    kept = item.copy()
    for k in dropped:
        del kept[k]
    raw = orjson.dumps(kept).decode()
    # The hash covers everything but the metrics and the id (sorted keys: the order the Hub sends
    # fields in does not matter).
    hashed = item.copy()
    for k in _NOT_HASHED:
        hashed.pop(k, None)
    meta_hash = hashlib.blake2b(orjson.dumps(hashed, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()
    author = get("author")
    if author is not None and not isinstance(author, str):
        raise _bad_str("author", author)
    sha, last_modified, created_at = get("sha"), get("lastModified"), get("createdAt")
    for key, v in (("sha", sha), ("lastModified", last_modified), ("createdAt", created_at)):
        if v is not None and not isinstance(v, str):
            raise _bad_str(key, v)
    private, disabled = get("private"), get("disabled")
    pipeline_tag, library_name = _str(item, "pipeline_tag"), _str(item, "library_name")
    context_length = gguf.get("context_length") if gguf else None
    values = (
        model_id, oid, author or (model_id.split("/")[0] if "/" in model_id else None),
        sha, last_modified, created_at,
        private if isinstance(private, bool) else None,
        gated if isinstance(gated, str) else (None if gated is None else ("false" if gated is False else str(gated))),
        disabled if isinstance(disabled, bool) else None,
        pipeline_tag, library_name, licence, licence_name, licence_link, card_licence,
        _i64(params),
        _int(item, "usedStorage"),
        _i64(context_length),
        relations[0][1] if relations else None,
        children[0], children[1], children[2], children[3],
        len(spaces) if "spaces" in item else None,
        len(providers) if "inferenceProviderMapping" in item else None,
        _str(item, "inference"), _str(item, "mask_token"),
        raw, meta_hash,
    )
    metrics = (_int(item, "downloads"), _int(item, "downloadsAllTime"), _int(item, "likes"), _int(item, "trendingScore"))
    if "evalResults" in item:
        results = get("evalResults")
        evals = [] if results == [] else eval_result_rows(model_id, results)[0]
    else:
        evals = None
    has_files = get("siblings") is not None
    return ModelRecord(model_id, oid, values, metrics, unique_tags, files, relations, unique_spaces,
                       providers, has_files, "spaces" in item, "inferenceProviderMapping" in item,
                       evals=evals, dropped=tuple(dropped), file_names=names if has_files and files_exact else None)


def metrics_of(item) -> tuple[str, str, tuple]:
    """(id, _id, metrics) of a metrics-only listing item."""
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("_id"), str):
        raise BadItem("item has no id" if isinstance(item, dict) else "item is not an object")
    return item["id"], item["_id"], (_int(item, "downloads"), _int(item, "downloadsAllTime"), _int(item, "likes"),
                                     _int(item, "trendingScore"))

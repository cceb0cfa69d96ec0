"""Normalise Hub API payloads into rows: pure functions, no I/O.

One list item (or `model_info` body) becomes a `ModelRecord`: the `models` row, the rows of its
child tables (tags, files, base-model relations, Spaces, inference providers), the day's metrics,
and a hash of everything but the metrics, so that a model whose metadata did not change costs no
write. A payload that cannot be normalised raises `BadItem` with the reason; the caller quarantines
it and goes on.
"""

from __future__ import annotations

import hashlib
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

    @property
    def row(self) -> dict:
        return dict(zip(MODEL_COLUMNS, self.values))


def _json(value):
    return None if value is None else orjson.dumps(value).decode()


def _int(item: dict, key: str):
    v = item.get(key)
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return int(v)
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


def _licence(tags: list, card: dict) -> tuple:
    """(licence id as the Hub tags it, license_name, license_link, the card's raw `license`)."""
    tagged = next((t[8:] for t in tags if isinstance(t, str) and t.startswith("license:")), None)
    raw = card.get("license") if isinstance(card, dict) else None
    card_licence = raw if isinstance(raw, str) or raw is None else _json(raw)  # a list in some cards
    name = card.get("license_name") if isinstance(card, dict) else None
    link = card.get("license_link") if isinstance(card, dict) else None
    return (tagged or (raw if isinstance(raw, str) else None), name if isinstance(name, str) else None,
            link if isinstance(link, str) else None, card_licence)


def _relations(item: dict, tags: list) -> list:
    """(parent, relation) pairs: `baseModels` when expanded, else the `base_model:<rel>:<id>` tags."""
    base = item.get("baseModels")
    out = []
    if isinstance(base, dict):
        rel = base.get("relation")
        for m in base.get("models") or []:
            if isinstance(m, dict) and isinstance(m.get("id"), str):
                out.append((m["id"], rel if isinstance(rel, str) else None))
    if not out:
        for t in tags:
            parts = t.split(":", 2) if isinstance(t, str) else ()
            if len(parts) == 3 and parts[0] == "base_model" and parts[1] in RELATIONS:
                out.append((parts[2], parts[1]))
    return list(dict.fromkeys(out))


def _children(item: dict) -> tuple:
    counts = item.get("childrenModelCount")
    if isinstance(counts, dict):
        return tuple(counts.get(r) if isinstance(counts.get(r), int) else None for r in RELATIONS)
    return (None,) * 4  # 2.4.0 types it int; the Hub sends a dict: only the dict is trusted


def _providers(item: dict) -> tuple[list, bool]:
    """(provider rows, whether model_providers holds the mapping exactly: the listing form, each
    entry with no field but those four, no provider twice)."""
    mapping = item.get("inferenceProviderMapping")
    rows = []
    exact = isinstance(mapping, list)
    if isinstance(mapping, list):  # the listing form
        for e in mapping:
            if isinstance(e, dict) and isinstance(e.get("provider"), str):
                rows.append((e["provider"], e.get("providerId"), e.get("status"), e.get("task")))
                exact = exact and e.keys() <= _PROVIDER_KEYS
            else:
                exact = False
        exact = exact and len({r[0] for r in rows}) == len(rows)
    elif isinstance(mapping, dict):  # the model_info form
        for name, e in mapping.items():
            if isinstance(e, dict):
                rows.append((name, e.get("providerId"), e.get("status"), e.get("task")))
    return rows, exact


def _files(item: dict) -> tuple[list, bool]:
    """(file rows, whether the siblings were names only: then model_files holds them exactly)."""
    siblings = _list(item, "siblings")
    try:  # a listing's siblings carry only rfilename: the common case, built in one pass
        if all(len(s) == 1 for s in siblings):
            names = [s["rfilename"] for s in siblings]
            if all(type(n) is str for n in names):
                return [(n, None, None, None) for n in names], len(set(names)) == len(names)
    except (TypeError, KeyError):
        pass
    out = []
    for s in siblings:
        if not isinstance(s, dict) or not isinstance(s.get("rfilename"), str):
            raise BadItem("a sibling without rfilename")
        lfs = s.get("lfs") if isinstance(s.get("lfs"), dict) else {}
        out.append((s["rfilename"], s.get("size"), s.get("blobId"), lfs.get("sha256")))
    return out, False


def normalise(item) -> ModelRecord:
    if not isinstance(item, dict):
        raise BadItem(f"item is {type(item).__name__}, not an object")
    model_id = item.get("id")
    if not isinstance(model_id, str) or not model_id:
        raise BadItem("item has no id")
    oid = item.get("_id")
    if not isinstance(oid, str):
        raise BadItem("item has no _id")
    tags = _list(item, "tags")
    if not all(isinstance(t, str) for t in tags):
        raise BadItem("a tag that is not a string")
    card = item.get("cardData") if isinstance(item.get("cardData"), dict) else {}
    licence, licence_name, licence_link, card_licence = _licence(tags, card)
    safetensors = item.get("safetensors") if isinstance(item.get("safetensors"), dict) else None
    gguf = item.get("gguf") if isinstance(item.get("gguf"), dict) else None
    params = (safetensors or {}).get("total") or (gguf or {}).get("total")
    relations = _relations(item, tags)
    children = _children(item)
    providers, providers_exact = _providers(item)
    listed_spaces = _list(item, "spaces")
    spaces = [s for s in listed_spaces if isinstance(s, str)]
    unique_tags, unique_spaces = list(dict.fromkeys(tags)), list(dict.fromkeys(spaces))
    files, files_exact = _files(item)
    gated = item.get("gated")
    # What `raw` leaves out: what a column or child table holds exactly (module comment above)
    dropped = [k for k in METRIC_FIELDS if k in item]
    dropped += [k for k in _SCALAR_COLUMNS if k in item and _scalar_stored(k, item[k])]
    if "tags" in item and len(unique_tags) == len(tags):
        dropped.append("tags")
    if "spaces" in item and len(unique_spaces) == len(listed_spaces):
        dropped.append("spaces")
    if files_exact and item.get("siblings") is not None:
        dropped.append("siblings")
    if providers_exact:
        dropped.append("inferenceProviderMapping")
    drop = set(dropped)
    raw = orjson.dumps({k: v for k, v in item.items() if k not in drop}).decode()
    # Popped and put back rather than copied: the hash covers everything but metrics and the id.
    held = {k: item.pop(k) for k in _NOT_HASHED if k in item}
    meta_bytes = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    item.update(held)
    row = {
        "id": model_id, "oid": oid, "author": _str(item, "author") or (model_id.split("/")[0] if "/" in model_id else None),
        "sha": _str(item, "sha"), "last_modified": _str(item, "lastModified"), "created_at": _str(item, "createdAt"),
        "private": item.get("private") if isinstance(item.get("private"), bool) else None,
        "gated": gated if isinstance(gated, str) else (None if gated is None else ("false" if gated is False else str(gated))),
        "disabled": item.get("disabled") if isinstance(item.get("disabled"), bool) else None,
        "pipeline_tag": _str(item, "pipeline_tag"), "library_name": _str(item, "library_name"),
        "license": licence, "license_name": licence_name, "license_link": licence_link,
        "card_license": card_licence, "params": params if isinstance(params, int) else None,
        "used_storage": _int(item, "usedStorage"),
        "context_length": (gguf or {}).get("context_length") if isinstance((gguf or {}).get("context_length"), int) else None,
        "base_model_relation": relations[0][1] if relations else None,
        "children_finetune": children[0], "children_adapter": children[1], "children_quantized": children[2],
        "children_merge": children[3],
        "spaces_count": len(spaces) if "spaces" in item else None,
        "providers_count": len(providers) if "inferenceProviderMapping" in item else None,
        "inference": _str(item, "inference"), "mask_token": _str(item, "mask_token"),
        "raw": raw,
        "meta_hash": hashlib.blake2b(meta_bytes, digest_size=12).hexdigest(),
    }
    metrics = (_int(item, "downloads"), _int(item, "downloadsAllTime"), _int(item, "likes"), _int(item, "trendingScore"))
    return ModelRecord(model_id, oid, tuple(row.values()), metrics, unique_tags, files, relations, unique_spaces,
                       providers, "siblings" in item and item["siblings"] is not None, "spaces" in item,
                       "inferenceProviderMapping" in item,
                       evals=eval_result_rows(model_id, item["evalResults"])[0] if "evalResults" in item else None,
                       dropped=tuple(dropped))


def metrics_of(item) -> tuple[str, str, tuple]:
    """(id, _id, metrics) of a metrics-only listing item."""
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("_id"), str):
        raise BadItem("item has no id" if isinstance(item, dict) else "item is not an object")
    return item["id"], item["_id"], (_int(item, "downloads"), _int(item, "downloadsAllTime"), _int(item, "likes"),
                                     _int(item, "trendingScore"))

"""A listing or model_info item read as a record, or `BadItem` with the reason: never anything else.

`records.models` normalises what it knows to be wrong (a missing id, a field of the wrong type); an
item can also break it in ways nobody foresaw (nested too deep for a JSON encoder, a value no rule
expected). Whatever the cause, one item goes to quarantine with its reason and the crawl goes on.
Ids are checked here (`hub.ids.unsafe_reason`): an id that would request another path (`../x`) or
holds control characters (terminal escapes, newlines) never becomes a URL, a row or a line on a
terminal. (The command line's stricter rule is today's `validate_repo_id`; the Hub still lists legacy
ids outside it, a comma in one, which are kept.)
"""

from __future__ import annotations

import json

import orjson

from ..hub import ids
from ..records import models
from ..records.bounded import MAX_DEPTH, TooBig, check_depth
from ..records.models import BadItem

__all__ = ["BadItem", "normalise", "metrics_of", "raw_of"]


def _check_id(item):
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        why = ids.unsafe_reason(item["id"])
        if why:
            raise BadItem(f"id {item['id']!r} is not a usable model id ({why})")


_ITEM_DEPTH = MAX_DEPTH * 2
_RAW = models.MODEL_COLUMNS.index("raw")


def normalise(item) -> models.ModelRecord:
    """The item as a record, or BadItem. The reasons are tried in this order: an unusable id, an
    item nested too deep, then what `records.models` finds.

    Depth is checked without walking every node: `raw` is the item's JSON less the fields a
    column or child table holds exactly (flat by construction: scalars, lists of strings, names-only
    siblings), so its count of `{` and `[` bounds the item's depth; only an item whose count passes
    the bound is walked (`check_depth`). An item that fails to normalise is walked too, so that a deep
    one is refused for its depth whatever else is wrong with it."""
    try:
        _check_id(item)
        try:
            rec = models.normalise(item)
        except (Exception, RecursionError):
            check_depth(item, "item", _ITEM_DEPTH)
            raise
        raw = rec.values[_RAW]
        if raw.count("{") + raw.count("[") > _ITEM_DEPTH:
            check_depth(item, "item", _ITEM_DEPTH)
        return rec
    except BadItem:
        raise
    except TooBig as e:
        raise BadItem(str(e)) from None
    except (Exception, RecursionError) as e:  # noqa: BLE001 - one item never stops a crawl
        raise BadItem(f"item could not be read: {type(e).__name__}: {str(e)[:200]}") from None


def metrics_of(item):
    try:
        _check_id(item)
        return models.metrics_of(item)
    except BadItem:
        raise
    except (Exception, RecursionError) as e:  # noqa: BLE001
        raise BadItem(f"item could not be read: {type(e).__name__}: {str(e)[:200]}") from None


def raw_of(item) -> bytes:
    """The item's bytes for the quarantine, whatever it holds."""
    try:
        return orjson.dumps(item, default=str)
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:
        return json.dumps(item, default=str).encode()
    except (ValueError, TypeError, RecursionError):
        return b'"(not stored: nested too deep to encode)"'

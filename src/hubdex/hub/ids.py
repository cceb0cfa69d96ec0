"""Model ids as the Hub accepts them, checked before anything reaches the network.

The rules are huggingface_hub 2.4's `validate_repo_id` (the client mirrors the Hub's own check):
an optional namespace and a name, each of ASCII letters, digits, `-`, `_` and `.`, at most 96
characters, starting and ending with a letter, digit or `_`; no `--` or `..`; not ending in `.git`.
An id that passes is still path-encoded where it goes into a URL (`path`), so nothing in it can
become a query, a fragment or another path.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_PART = r"\b[\w\-.]{1,96}\b"
_ID = re.compile(rf"(?:{_PART}/)?{_PART}", flags=re.ASCII)
_VISIBLE_ASCII = re.compile(r"[!-~]+")  # printable ASCII but space: no whitespace, no control character


def invalid_reason(model_id: str) -> str | None:
    """Why `model_id` is not a Hub model id, or None when it is one."""
    if not isinstance(model_id, str) or not model_id:
        return "an empty id"
    if model_id.count("/") > 1:
        return "more than one '/'"
    if not _ID.fullmatch(model_id):
        return ("only letters, digits, '-', '_' and '.' (at most 96 of them, not starting or ending with "
                "'-' or '.'), with an optional 'namespace/'")
    if "--" in model_id or ".." in model_id:
        return "'--' or '..' in it"
    if model_id.endswith(".git"):
        return "it ends in '.git'"
    return None


def unsafe_reason(model_id) -> str | None:
    """Why an id that arrives from the Hub (a listing, a model_info body) can't be used, or None.

    The Hub lists ids today's `validate_repo_id` refuses (legacy repos: `DJSammy/bert-base-danish-
    uncased_BotXO,ai` has a comma), so refusing every id the command line refuses would lose real
    models. What is refused is what could do harm: a path segment `.` or `..` or an empty one (the
    request would go to another path), more than one '/', and characters that are not printable
    (control characters: terminal escape sequences, newlines), or whitespace; or over 200 characters."""
    if not isinstance(model_id, str) or not model_id:
        return "an empty id"
    if len(model_id) > 200:
        return "over 200 characters"
    if model_id.count("/") > 1:
        return "more than one '/'"
    parts = model_id.split("/")
    if "" in parts or "." in parts or ".." in parts:
        return "an empty, '.' or '..' path segment"
    if _VISIBLE_ASCII.fullmatch(model_id):  # nearly every id: nothing more to look at, character by character
        return None
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in model_id):
        return "a control character or whitespace in it"
    return None


def path(model_id: str) -> str:
    """The id as a URL path segment pair: the '/' kept, everything else percent-encoded."""
    return quote(model_id, safe="/")

"""Evidence of quality, normalised: pure functions from the Hub's wire shapes to `eval_results` rows.

Three origins give one row shape (HUB-API.md §9; huggingface_hub 2.4 `_eval_results.py`,
`DatasetLeaderboardEntry`):

* `evalResults` (a listing item or model_info with expand=evalResults): items
  `{"dataset": {"id", "task_id", "revision"?}, "value", "verifyToken"?, "date"?, "source"?: {"url",
  "name", "user", "org"}, "notes"?}`, possibly wrapped as `{"filename", "data": {...}}`; an item
  `{"filename", "error"}` failed the Hub's validation and is skipped (reported, not stored).
* `leaderboard` (GET /api/datasets/{id}/leaderboard): `{rank, modelId, value, filename, verified,
  source?{url, name, isExternal}, author{type, name}, pullRequest?, notes?}`, sorted by rank.
* `model-index` (a card's front matter): results with `dataset.type` / `dataset.config` /
  `dataset.split` and metrics with `type` / `value`: the config is kept (GLUE's sst2 and mnli are two
  benchmarks).

Each row says how it was obtained (`kind`): 'verified' (a verify token, a verified badge),
'third-party' (a source that is not the model's author: a public leaderboard, an evaluator's
Space), 'claim' (the author's own figure, or an unmerged community pull request). A result with no
source is the author's claim.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlparse

ROW_FIELDS = ("model_id", "origin", "dataset_id", "task_id", "split", "metric", "value", "kind", "source_name",
              "source_url", "source_by", "date", "notes", "filename", "rank")

_OWNER_PATHS = re.compile(r"^/(?:spaces/|datasets/)?([^/]+)")


class BadEvidence(ValueError):
    """An item that can't become a result; the message is the quarantine reason."""


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, (str, int, float)) and not isinstance(v, bool):
        s = str(v).strip()
        return s or None
    return None


def _value(v) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, str):
        try:
            f = float(v.strip().rstrip("%"))
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def source_owner(url: str | None, user: str | None = None, org: str | None = None) -> str | None:
    """Who published a result: the source's org or user when given, else the owner its URL names
    (huggingface.co/spaces/OWNER/..., github.com/OWNER/...), else the URL's host."""
    for who in (org, user):
        if isinstance(who, str) and who.strip():
            return who.strip().lower()
    if not isinstance(url, str) or not url.strip():
        return None
    parsed = urlparse(url.strip())
    host = (parsed.hostname or "").lower()
    if host in ("huggingface.co", "hf.co", "www.huggingface.co", "github.com", "www.github.com"):
        m = _OWNER_PATHS.match(parsed.path or "")
        return m.group(1).lower() if m else host
    return host or None


_SELF_REPORTED = re.compile(r"self[- ]reported|copied from the model card|reported by the author", re.I)


def kind_of(model_id: str, *, verified: bool, source_by: str | None, community: bool = False,
            notes: str | None = None) -> str:
    """verified > third-party (published by someone other than the model's author) > claim. A third
    party that only copies the author's figure ("self-reported" in its notes) passes on a claim."""
    if verified:
        return "verified"
    author = model_id.split("/")[0].lower() if "/" in model_id else None
    if notes and _SELF_REPORTED.search(notes):
        return "claim"
    if source_by and not community and source_by != author:
        return "third-party"
    return "claim"


def eval_result_rows(model_id: str, items) -> tuple[list[dict], list[str]]:
    """A model's `evalResults` as rows, and the reasons items were skipped (failed files, bad values)."""
    rows, skipped = [], []
    if not isinstance(items, list):
        return rows, [f"evalResults is {type(items).__name__}, not a list"]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            skipped.append(f"evalResults[{i}] is not an object")
            continue
        if "error" in item:  # a file the Hub's validation refused: the client skips it too
            skipped.append(f"evalResults[{i}] {item.get('filename')!r} failed the Hub's validation: {item['error']}")
            continue
        data = item.get("data", item)
        data = data if isinstance(data, dict) else {}
        ds = data.get("dataset") if isinstance(data.get("dataset"), dict) else {}
        dataset_id, value = _text(ds.get("id")), _value(data.get("value"))
        if dataset_id is None or value is None:
            skipped.append(f"evalResults[{i}] has no dataset id or no numeric value")
            continue
        src = data.get("source") if isinstance(data.get("source"), dict) else {}
        by = source_owner(_text(src.get("url")), _text(src.get("user")), _text(src.get("org")))
        rows.append({"model_id": model_id, "origin": "evalResults", "dataset_id": dataset_id,
                     "task_id": _text(ds.get("task_id")), "split": _text(ds.get("split")),
                     "metric": _text(data.get("metric")), "value": value,
                     "kind": kind_of(model_id, verified=bool(_text(data.get("verifyToken"))), source_by=by,
                                     notes=_text(data.get("notes"))),
                     "source_name": _text(src.get("name")), "source_url": _text(src.get("url")), "source_by": by,
                     "date": _text(data.get("date")), "notes": _text(data.get("notes")),
                     "filename": _text(item.get("filename")), "rank": None})
    return rows, skipped


def leaderboard_rows(dataset_id: str, entries) -> tuple[list[dict], list[str]]:
    """A benchmark's leaderboard as rows (one per entry), and the reasons entries were skipped."""
    rows, skipped = [], []
    if not isinstance(entries, list):
        raise BadEvidence(f"leaderboard of {dataset_id} is {type(entries).__name__}, not a list")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            skipped.append(f"entry {i} is not an object")
            continue
        model_id, value = _text(e.get("modelId")), _value(e.get("value"))
        if model_id is None or value is None:
            skipped.append(f"entry {i} has no modelId or no numeric value")
            continue
        src = e.get("source") if isinstance(e.get("source"), dict) else {}
        url = _text(src.get("url"))
        by = source_owner(url, _text(src.get("user")), _text(src.get("org")))
        pr = e.get("pullRequest")
        community = pr is not None and pr is not False
        rank = e.get("rank") if isinstance(e.get("rank"), int) and not isinstance(e.get("rank"), bool) else None
        notes = _text(e.get("notes"))
        if community:
            notes = "; ".join(x for x in (notes, f"community pull request #{pr}") if x)
        rows.append({"model_id": model_id, "origin": "leaderboard", "dataset_id": dataset_id,
                     "task_id": _text(e.get("taskId") or e.get("task_id")), "split": _text(e.get("split")),
                     "metric": _text(e.get("metric")), "value": value,
                     "kind": kind_of(model_id, verified=e.get("verified") is True, source_by=by, community=community,
                                     notes=notes),
                     "source_name": _text(src.get("name")), "source_url": url, "source_by": by,
                     "date": _text(e.get("date")), "notes": notes, "filename": _text(e.get("filename")), "rank": rank})
    return rows, skipped


def direction_from_ranks(rows: list[dict]) -> int | None:
    """Whether lower values rank first on a leaderboard (1), higher (0), or can't tell (None): the
    rank order of its distinct values, per task id (a leaderboard may mix them)."""
    votes_low = votes_high = 0
    groups: dict = {}
    for r in rows:
        if r["rank"] is not None:
            groups.setdefault(r["task_id"], []).append((r["rank"], r["value"]))
    for pairs in groups.values():
        pairs.sort()
        for (_r1, v1), (_r2, v2) in zip(pairs, pairs[1:]):
            if v1 < v2:
                votes_low += 1
            elif v1 > v2:
                votes_high += 1
    if votes_low == votes_high:
        return None
    # a leaderboard sorted by rank is monotone in its value; a few inversions are noise (ties, PRs)
    return 1 if votes_low > 3 * votes_high else 0 if votes_high > 3 * votes_low else None


def stated_direction(dataset: dict) -> int | None:
    """Whether lower is better (1), higher (0), or unknown (None) as a benchmark dataset's card states
    it for its tasks (`cardData.benchmark.tasks[].higher_is_better`, where given): one answer only
    when every task that states one agrees."""
    card = dataset.get("cardData") if isinstance(dataset, dict) else None
    bench = card.get("benchmark") if isinstance(card, dict) else None
    tasks = bench.get("tasks") if isinstance(bench, dict) else None
    said = {t["higher_is_better"] for t in tasks if isinstance(t, dict) and isinstance(t.get("higher_is_better"), bool)} \
        if isinstance(tasks, list) else set()
    return (0 if said == {True} else 1) if len(said) == 1 else None


def model_index_rows(model_id: str, front: dict) -> list[dict]:
    """The card's `model-index` results as rows: dataset = `dataset.type` (or its name), task id =
    `dataset.config` (else `dataset.args` when it is a string), split, metric = the metric's type."""
    rows = []
    index = front.get("model-index") if isinstance(front, dict) else None
    if not isinstance(index, list):
        return rows
    for entry in index:
        results = entry.get("results") if isinstance(entry, dict) else None
        for result in results if isinstance(results, list) else []:
            if not isinstance(result, dict):
                continue
            ds = result.get("dataset") if isinstance(result.get("dataset"), dict) else {}
            dataset_id = _text(ds.get("type")) or _text(ds.get("name"))
            if dataset_id is None:
                continue
            config = _text(ds.get("config")) or (_text(ds.get("args")) if isinstance(ds.get("args"), str) else None)
            src = result.get("source") if isinstance(result.get("source"), dict) else {}
            url = _text(src.get("url"))
            by = source_owner(url)
            for metric in result.get("metrics") or [] if isinstance(result.get("metrics"), list) else []:
                if not isinstance(metric, dict):
                    continue
                value = _value(metric.get("value"))
                if value is None:
                    continue
                rows.append({"model_id": model_id, "origin": "model-index", "dataset_id": dataset_id,
                             "task_id": config, "split": _text(ds.get("split")),
                             "metric": (_text(metric.get("type")) or _text(metric.get("name")) or "").lower() or None,
                             "value": value,
                             "kind": kind_of(model_id, verified=bool(metric.get("verified")) and
                                             bool(_text(metric.get("verifyToken"))), source_by=by),
                             "source_name": _text(src.get("name")), "source_url": url, "source_by": by,
                             "date": None, "notes": _text(metric.get("name")), "filename": "README.md",
                             "rank": None})
    return rows


def space_rows(items) -> list[tuple[str, str, int | None]]:
    """(space id, model id, likes) for every model each Space of a `/api/spaces?models=…&expand=models`
    page loads."""
    out = []
    for s in items if isinstance(items, list) else []:
        if not isinstance(s, dict) or not isinstance(s.get("id"), str):
            continue
        likes = s.get("likes") if isinstance(s.get("likes"), int) and not isinstance(s.get("likes"), bool) else None
        for m in s.get("models") or [] if isinstance(s.get("models"), list) else []:
            if isinstance(m, str) and m:
                out.append((s["id"], m, likes))
    return out

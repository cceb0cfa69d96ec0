"""The Hub's evidence endpoints (HUB-API §9) over a corpus's real results.

- `evalResults` items per model, in the wire shape huggingface_hub 2.4 parses (`parse_eval_result_entries`):
  `{"filename", "data": {"dataset": {"id", "task_id", "revision"?}, "value", "date", "source": {"url", "name"},
  "notes"}}`;
- benchmark datasets (`/api/datasets?filter=benchmark:official`), one per dataset id the corpus evaluates on;
- leaderboards (`/api/datasets/{id}/leaderboard`): `{rank, modelId, value, filename, verified, source, author,
  notes}` sorted by rank, canonical repos only unless `base_model=false`;
- Spaces that load models (`/api/spaces?models=`, `expand=models`): the real `spaces` lists of recorded bodies
  (which Space loads which recorded model), plus synthesised Spaces, all under the plainly synthetic
  `replica-spaces` namespace, that load several models of one task side by side (compare demos of one size
  class, a leaderboard Space per benchmark dataset).

Nothing is verified: no source ran its evaluations under the Hub's verifiable setup (a `verifyToken` from HF
Jobs with inspect-ai), so every entry has `verified: false` and no `verifyToken`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from . import synthesis as syn
from .render import iso, parse_iso
from .store import Store

SPACE_ORG = "replica-spaces"  # plainly not a real namespace: every Space under it is synthesised
COMPARE_SIZE = 4               # models a compare Space loads side by side
COMPARE_PER_CLASS = 3          # compare Spaces per (task, size class)
LEADERBOARD_SPACE_TOP = 10     # models a benchmark's leaderboard Space loads


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@lru_cache(maxsize=4096)
def eval_filename(benchmark: str) -> str:
    return f".eval_results/{slug(benchmark)}.yaml"


def _notes(row: dict) -> str:
    parts = [f"split={row['split']}", f"metric={row['metric']}"]
    if row.get("config"):
        parts.append(row["config"])
    if row.get("value_normalized") is not None:
        parts.append(f"normalized={row['value_normalized']}")
    if row.get("self_reported"):
        parts.append("self-reported (copied from the model card)")
    if row.get("note"):
        parts.append(row["note"])
    return "; ".join(parts)


def eval_item(row: dict, bench: dict) -> dict:
    dataset = {"id": row["dataset_id"], "task_id": row.get("task_id") or "default"}
    if bench.get("dataset_revision"):
        dataset["revision"] = bench["dataset_revision"]
    data = {"dataset": dataset, "value": row["value"]}
    if row.get("date"):
        data["date"] = row["date"][:10] + "T00:00:00.000Z"
    if row.get("source_url"):
        data["source"] = {"url": row["source_url"], "name": row["source_name"]}
    data["notes"] = _notes(row)
    return {"filename": eval_filename(row["benchmark"]), "data": data}


@dataclass
class Space:
    id: str
    models: list[str]
    created: int
    likes: int
    kind: str               # "recorded" (a real id from a recorded body's list) or "synthesised"
    tags: list[str] = field(default_factory=list)


@dataclass
class Evidence:
    benchmarks: dict = field(default_factory=dict)   # benchmark key -> definition
    datasets: dict = field(default_factory=dict)     # dataset id -> [benchmark keys]
    results: dict = field(default_factory=dict)      # dataset id -> [(model id, result row)]
    spaces: dict = field(default_factory=dict)       # space id -> Space
    spaces_of: dict = field(default_factory=dict)    # model id -> [space ids]


def attach(store: Store, corpus, rows_of: dict[str, int]) -> None:
    """Give the store its evidence: eval items per row, datasets and leaderboards, Spaces."""
    ev = store.evidence or Evidence()
    store.evidence = ev
    for key, bench in corpus.benchmarks.items():
        ev.benchmarks[key] = bench
        ev.datasets.setdefault(bench["dataset_id"], []).append(key)
    for mid, rows in corpus.results.items():
        row = rows_of.get(mid)
        if row is None:
            continue
        # A corpus may name one repo twice (an old name that redirects, and the current one): the repo
        # holds one result file per benchmark, the current name's first.
        current = store.model_id(row)
        items = store.evals.setdefault(row, [])
        seen = {i["filename"] for i in items}
        for r in rows:
            item = eval_item(r, corpus.benchmarks[r["benchmark"]])
            if item["filename"] in seen:
                continue
            if mid != current and any(x["benchmark"] == r["benchmark"] for x in corpus.results.get(current, ())):
                continue
            seen.add(item["filename"])
            items.append(item)
            ev.results.setdefault(r["dataset_id"], []).append((current, r))


def declares_base(store: Store, row: int) -> bool:
    body = store.bodies.get(row)
    tags = (body or {}).get("tags") or ()
    return any(t.startswith("base_model:") for t in tags) or int(store.cols["parent"][row]) >= 0


def leaderboard(store: Store, dataset_id: str, base_model_only: bool, task_id: str | None = None) -> list[dict] | None:
    """Entries of a dataset's leaderboard, ranked within each of its tasks; None when it has none."""
    ev = store.evidence
    if ev is None or dataset_id not in ev.results:
        return None
    by_task: dict[str, list] = {}
    owners: dict[str, int] = {}
    for mid, _r in ev.results[dataset_id]:
        owners[mid.split("/")[0]] = owners.get(mid.split("/")[0], 0) + 1
    for mid, r in ev.results[dataset_id]:
        row, _ = store.find(mid)
        if row is None or not store.cols["alive"][row]:
            continue
        if base_model_only and declares_base(store, row):
            continue
        t = r.get("task_id") or "default"
        if task_id and t != task_id:
            continue
        by_task.setdefault(t, []).append((mid, r))
    out = []
    for t in sorted(by_task):
        entries = by_task[t]
        higher = entries[0][1]["higher_is_better"]
        entries.sort(key=lambda e: (-e[1]["value"] if higher else e[1]["value"], e[0]))
        for rank, (mid, r) in enumerate(entries, 1):
            author = mid.split("/")[0]
            item = {"rank": rank, "modelId": mid, "value": r["value"], "filename": eval_filename(r["benchmark"]),
                    "verified": False}
            if r.get("source_url"):
                item["source"] = {"url": r["source_url"], "name": r["source_name"], "isExternal": True}
            item["author"] = {"type": "org" if owners.get(author, 0) > 1 else "user", "name": author,
                              "avatarUrl": f"https://cdn-avatars.huggingface.co/v1/production/uploads/{author}.png"}
            item["notes"] = _notes(r)
            item["task_id"] = t
            out.append(item)
    return out


def dataset_item(store: Store, dataset_id: str) -> dict:
    """A benchmark dataset as `/api/datasets` lists it; its tasks (metric, split, direction) in cardData."""
    ev = store.evidence
    keys = ev.datasets[dataset_id]
    benches = [ev.benchmarks[k] for k in keys]
    dates = [r.get("date") or "" for _m, r in ev.results.get(dataset_id, [])]
    created = syn.created(dataset_id, syn.CREATED_PLACEHOLDER, parse_iso("2024-06-01T00:00:00"))
    modified = max([parse_iso(d[:10] + "T00:00:00") for d in dates if d] + [created])
    tasks = sorted({b["task"] for b in benches})
    return {"_id": syn.object_id("dataset:" + dataset_id, created), "id": dataset_id,
            "author": dataset_id.split("/")[0], "sha": syn.sha("dataset:" + dataset_id),
            "lastModified": iso(modified), "private": False, "gated": False, "disabled": False,
            "downloads": int(200 * math.exp(2 * syn.unit(dataset_id, "dataset downloads")) * len(dates) ** 0.5),
            "likes": int(10 * math.exp(2 * syn.unit(dataset_id, "dataset likes"))),
            "tags": ["benchmark:official"] + [f"task_categories:{t}" for t in tasks] + ["region:us"],
            "createdAt": iso(created), "key": "",
            "cardData": {"benchmark": {"tasks": [
                {"id": b.get("task_id") or "default", "name": b.get("name") or b["benchmark"], "metric": b["metric"],
                 "split": b.get("split"), "higher_is_better": b["higher_is_better"], "task": b["task"],
                 "scale": b.get("scale")} for b in benches]}}}


# -- Spaces ---------------------------------------------------------------------------------------------
def _size_class(params: int) -> int:
    """Half-decades of parameters: 7B and 8B share a class, 70B is three classes above 7B."""
    return int(2 * math.log10(max(params, 1)))


def build_spaces(store: Store, corpus_rows: dict[str, int]) -> None:
    """Recorded Spaces from the recorded bodies' lists, then synthesised side-by-side Spaces."""
    ev = store.evidence or Evidence()
    store.evidence = ev
    for row, body in store.bodies.items():
        for sid in body.get("spaces") or ():
            sp = ev.spaces.get(sid)
            if sp is None:
                created = parse_iso(body.get("createdAt") or "2022-03-02T23:29:04.000Z")
                sp = ev.spaces[sid] = Space(sid, [], created + int(syn.unit(sid, "space created") * 200 * 86400),
                                            int(5 * math.exp(2.5 * syn.unit(sid, "space likes"))), "recorded")
            sp.models.append(body["id"])
    # Side-by-side compare Spaces: per task, per size class, the most liked canonical models in groups.
    groups: dict[tuple, list] = {}
    for mid, row in corpus_rows.items():
        body = store.bodies.get(row)
        if body is None or declares_base(store, row):
            continue
        task = body.get("pipeline_tag") or "other"
        params = (body.get("safetensors") or {}).get("total") or 0
        groups.setdefault((task, _size_class(params)), []).append((-int(body.get("likes") or 0), mid))
    for (task, cls), members in sorted(groups.items()):
        members.sort()
        ids = [m for _l, m in members[:COMPARE_SIZE * COMPARE_PER_CLASS]]
        for i in range(0, len(ids) - 1, COMPARE_SIZE):
            chunk = ids[i:i + COMPARE_SIZE]
            if len(chunk) < 2:
                break
            sid = f"{SPACE_ORG}/{slug(task)}-compare-{cls}-{i // COMPARE_SIZE + 1}"
            _add_synth(ev, sid, chunk, ["compare", task])
    # A leaderboard Space per benchmark dataset: its top canonical models, sizes mixed (as real ones are).
    for dataset_id in sorted(ev.datasets):
        board = leaderboard(store, dataset_id, base_model_only=True) or []
        first_task = [e for e in board if e["task_id"] == (board[0]["task_id"] if board else None)]
        top = [e["modelId"] for e in first_task[:LEADERBOARD_SPACE_TOP]]
        if len(top) >= 2:
            _add_synth(ev, f"{SPACE_ORG}/{slug(dataset_id)}-leaderboard", top, ["leaderboard"])
    ev.spaces_of = {}
    for sp in ev.spaces.values():
        for mid in sp.models:
            ev.spaces_of.setdefault(mid, []).append(sp.id)
    for mid, row in corpus_rows.items():
        body = store.bodies.get(row)
        if body is not None and not body.get("spaces"):
            body["spaces"] = sorted(ev.spaces_of.get(mid, []))[:100]
            store.cols["spaces"][row] = len(body["spaces"])


def _add_synth(ev: Evidence, sid: str, models: list[str], tags: list[str]):
    created = syn.created(sid, parse_iso("2023-01-01T00:00:00"), parse_iso("2026-06-01T00:00:00"))
    ev.spaces[sid] = Space(sid, list(models), created, int(3 * math.exp(3 * syn.unit(sid, "space likes"))),
                           "synthesised", ["gradio", "synthetic", *tags])


def space_item(sp: Space, fields: list[str] | None) -> dict:
    full = {"_id": syn.object_id("space:" + sp.id, sp.created), "id": sp.id, "author": sp.id.split("/")[0],
            "likes": sp.likes, "trendingScore": 0, "private": False, "sdk": "gradio",
            "tags": sp.tags or ["gradio", "region:us"], "createdAt": iso(sp.created),
            "lastModified": iso(sp.created + 86400), "models": list(sp.models), "disabled": False,
            "sha": syn.sha("space:" + sp.id)}
    if fields is None:
        keep = ["_id", "id", "likes", "trendingScore", "private", "sdk", "tags", "createdAt"]
    else:
        keep = ["_id", "id"] + [f for f in fields if f in full and f not in ("_id", "id")]
    return {k: full[k] for k in keep}

"""Quality from evidence: where a model stands on the benchmarks it was evaluated on.

A benchmark is (dataset, task id or config, split, metric) with a known direction: from the
benchmark's leaderboard rank order (`benchmarks.lower_is_better`, the evidence crawl), else from
the metric's name (WER, loss, perplexity... lower; accuracy, F1, nDCG... higher). A benchmark
whose direction is unknown is not used.

For each benchmark, within the model's task (its pipeline tag; a model with no stated task is
placed in the task most of the benchmark's models have, so it still competes on evidence), the
model's value is normalised against the range of the values there: 1 = the best result in the
task, 0 = the worst. The value moves only when the model's own result, or the best or worst on
that benchmark in that task, moves: not when unrelated models change (a whole-Hub percentile would).
A benchmark with one model in the task, or one value, says nothing of standing and is not used.

A model's evidence score is the weighted mean over its benchmarks: a verified or third-party result
(a public leaderboard, an evaluator) weighs KIND_WEIGHT times more than the author's claim, and the
configs of one dataset share one dataset's weight (fourteen language configs of one ASR set don't
outvote the English test sets). One result per model and benchmark: the best-attested (verified >
third-party > claim), then the newest.

No usable result: the evidence is unknown (NaN), never low.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KIND_ORDER = {"verified": 0, "third-party": 1, "claim": 2}
KIND_WEIGHT = {"verified": 1.0, "third-party": 1.0, "claim": 0.4}
LOWER_IS_BETTER = ("wer", "cer", "loss", "perplexity", "ppl", "mae", "mse", "rmse", "fid", "eer", "ter",
                   "error", "error_rate", "der", "mer", "wil", "kid", "lpips")
HIGHER_IS_BETTER = ("accuracy", "acc", "acc_norm", "f1", "exact_match", "em", "bleu", "rouge", "rouge1", "rouge2",
                    "rougel", "ndcg", "map", "mrr", "recall", "precision", "spearman", "pearson", "v_measure",
                    "top1_acc", "top5_acc", "acc1", "acc5", "auc", "roc_auc", "matthews_correlation", "chrf",
                    "meteor", "bertscore", "pass@1", "map_at_1000", "ndcg_at_10", "max_ap", "cosine_spearman",
                    "strict_acc", "mean_per_class_recall", "mean_recall@1", "iou", "miou", "mean_iou", "squad",
                    "squad_v2", "elo", "win_rate", "score")


def metric_direction(metric: str | None) -> int | None:
    """1 lower is better, 0 higher is better, None can't tell (from the metric's name alone)."""
    if not metric:
        return None
    m = metric.strip().lower().replace("-", "_").replace(" ", "_")
    if m in LOWER_IS_BETTER or any(m.startswith(p + "_") or m.endswith("_" + p) for p in ("wer", "cer", "loss")):
        return 1
    if m in HIGHER_IS_BETTER or m.split("_")[0] in ("accuracy", "acc", "f1", "ndcg", "map", "recall", "precision",
                                                     "bleu", "rouge", "spearman", "pearson", "exact"):
        return 0
    return None


@dataclass
class Evidence:
    score: np.ndarray        # 0..1 per model (NaN: no usable evidence)
    benchmarks: np.ndarray   # benchmarks used per model
    sources: np.ndarray      # object: "3 third-party, 1 claim" per model (None: none)


def read_results(conn):
    """Every current model's results, one row per (model, benchmark): the best-attested one."""
    return conn.execute("""
        WITH r AS (
          SELECT e.model_key AS k, coalesce(m.pipeline_tag, '') AS task, lower(e.dataset_id) AS ds,
                 coalesce(lower(e.task_id), '') AS cfg, coalesce(lower(e.split), '') AS split,
                 coalesce(lower(e.metric), '') AS metric, e.value AS v, e.kind AS kind,
                 b.lower_is_better AS lower_b,
                 row_number() OVER (PARTITION BY e.model_key, lower(e.dataset_id), coalesce(lower(e.task_id), ''),
                                    coalesce(lower(e.split), ''), coalesce(lower(e.metric), '')
                   ORDER BY CASE e.kind WHEN 'verified' THEN 0 WHEN 'third-party' THEN 1 ELSE 2 END,
                            e.date DESC, e.origin, e.id) AS n
          FROM eval_results e JOIN models m ON m.key = e.model_key AND m.removed_at IS NULL
          LEFT JOIN benchmarks b ON b.dataset_id = e.dataset_id
          WHERE e.model_key IS NOT NULL)
        SELECT k, task, ds, cfg, split, metric, v, kind, lower_b FROM r WHERE n = 1
        ORDER BY ds, cfg, split, metric, k""").fetchall()


def standings(rows) -> list[tuple]:
    """(model key, task group, benchmark, dataset, standing 0..1, kind, direction) for each usable
    (model, benchmark): see the module's docstring."""
    if not rows:
        return []
    out = []
    i = 0
    while i < len(rows):
        j = i
        bench = rows[i][2:6]
        while j < len(rows) and rows[j][2:6] == bench:
            j += 1
        group = rows[i:j]
        i = j
        lower = next((r[8] for r in group if r[8] is not None), None)
        if lower is None:
            lower = metric_direction(bench[3])
        if lower is None:
            continue  # direction unknown: this benchmark can't say who is better
        tasks = [r[1] for r in group if r[1]]
        dominant = max(sorted(set(tasks)), key=tasks.count) if tasks else ""
        by_task: dict = {}
        for r in group:
            by_task.setdefault(r[1] or dominant, []).append(r)
        name = "/".join(x for x in bench if x)
        for task, members in by_task.items():
            values = np.array([m[6] for m in members], dtype=float)
            if lower and (values > 0).all():
                values = np.log(values)  # error rates compare by ratio: WER 4 vs 8 is as far as 40 vs 80
            lo, hi = values.min(), values.max()
            if len(members) < 2 or hi <= lo:
                continue
            s = (values - lo) / (hi - lo)
            if lower:
                s = 1 - s
            for m, st in zip(members, s):
                out.append((m[0], task, name, bench[0], float(st), m[7], int(lower)))
    return out


def evidence(conn, keys: np.ndarray) -> Evidence:
    """The evidence score of every model in `keys` (sorted model keys)."""
    n = len(keys)
    score, count = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    sources = np.full(n, None, dtype=object)
    placed = standings(read_results(conn))
    per_model: dict = {}
    for k, _task, _name, ds, st, kind, _lower in placed:
        per_model.setdefault(k, []).append((ds, st, kind))
    for k, items in per_model.items():
        j = np.searchsorted(keys, k)
        if j >= n or keys[j] != k:
            continue
        configs: dict = {}
        for ds, _st, _kind in items:
            configs[ds] = configs.get(ds, 0) + 1
        w = np.array([KIND_WEIGHT.get(kind, KIND_WEIGHT["claim"]) / configs[ds] for ds, _st, kind in items])
        v = np.array([st for _ds, st, _kind in items])
        score[j] = float((w * v).sum() / w.sum())
        count[j] = len(items)
        kinds: dict = {}
        for _ds, _st, kind in items:
            kinds[kind] = kinds.get(kind, 0) + 1
        sources[j] = ", ".join(f"{kinds[x]} {x}" for x in sorted(kinds, key=lambda x: KIND_ORDER.get(x, 9)))
    return Evidence(score, count, sources)


def explain(conn, model_key: int, limit: int = 40) -> list[dict]:
    """The benchmarks behind one model's evidence score, with its value, standing, kind and source
    (read-only; what `hubdex rank` prints)."""
    mine = conn.execute("""SELECT DISTINCT lower(dataset_id), coalesce(lower(task_id), ''), coalesce(lower(split), ''),
        coalesce(lower(metric), '') FROM eval_results WHERE model_key = ?""", (model_key,)).fetchall()
    if not mine:
        return []
    rows = [r for r in read_results(conn) if r[2:6] in set(mine)]
    placed = [p for p in standings(rows) if p[0] == model_key]
    detail = {}
    for ds, cfg, split, metric, value, kind, name, url, origin, shown in conn.execute(
            """SELECT lower(dataset_id), coalesce(lower(task_id), ''), coalesce(lower(split), ''),
               coalesce(lower(metric), ''), value, kind, source_name, source_url, origin,
               dataset_id || coalesce(' ' || task_id, '') || coalesce(' ' || split, '') || coalesce(' ' || metric, '')
               FROM eval_results WHERE model_key = ? ORDER BY CASE kind WHEN 'verified' THEN 0
               WHEN 'third-party' THEN 1 ELSE 2 END, date DESC, origin, id""", (model_key,)):
        key = "/".join(x for x in (ds, cfg, split, metric) if x)
        detail.setdefault(key, (value, kind, name or url or origin, origin, shown))
    out = []
    for _k, task, name, _ds, st, kind, lower in sorted(placed, key=lambda p: (-KIND_WEIGHT.get(p[5], 0), p[2])):
        value, _kind, source, origin, shown = detail.get(name, (None, kind, None, None, name))
        out.append({"benchmark": shown, "task": task or None, "value": value, "lower_is_better": bool(lower),
                    "standing": round(st, 4), "kind": kind, "source": source, "origin": origin})
    return out[:limit] + ([{"more": len(out) - limit}] if len(out) > limit else [])

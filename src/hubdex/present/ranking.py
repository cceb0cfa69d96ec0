"""What `hubdex rank` and `hubdex top` print: a model's rank with its working, and the best models.

Read-only over `model_scores` (written by `hubdex derive`) and `models`. Output is a pure
function of the stored rows: the same database prints the same bytes.
"""

from __future__ import annotations

import json

from ..derive import quality as quality_
from ..derive.signals import ADOPTION_INPUTS, ECOSYSTEM_PARTS, QUALITY_PARTS, SIGNALS, TASK_UNKNOWN, contribution


class NotRanked(LookupError):
    pass


_ADOPTION_VALUES = {"downloads_30d": "downloads", "downloads_all_time": "downloads_all_time", "likes": "likes",
                    "trending": "trending_score", "growth_7d": "growth_7d", "growth_30d": "growth_30d",
                    "family_downloads_30d": "family_downloads_30d"}
_ECOSYSTEM_VALUES = {"finetunes": "children_finetune", "adapters": "children_adapter",
                     "quantizations": "children_quantized", "merges": "children_merge", "spaces": "spaces_count",
                     "providers": "hosted_providers", "library": "library_name", "formats": None, "datasets": None}


def _row(conn, sql, params):
    cur = conn.execute(sql, params)
    row = cur.fetchone()
    return None if row is None else dict(zip([d[0] for d in cur.description], row))


def explain(conn, model_id: str) -> dict:
    """The rank of `model_id` with every signal, its inputs, percentile, weight and contribution."""
    row = _row(conn, "SELECT s.*, p.*, m.id, m.pipeline_tag, m.downloads, m.downloads_all_time, m.likes, m.trending_score, "
                     "m.children_finetune, m.children_adapter, m.children_quantized, m.children_merge, m.spaces_count, "
                     "m.library_name, m.gated, m.disabled, m.removed_at FROM models m "
                     "LEFT JOIN model_scores s ON s.model_key = m.key "
                     "LEFT JOIN model_score_percentiles p ON p.model_key = m.key WHERE m.id = ?", (model_id,))
    if row is None:
        raise NotRanked(f"unknown model: {model_id}")
    if row["rank"] is None:
        why = "it was removed from the Hub" if row["removed_at"] else "run `hubdex derive` first"
        raise NotRanked(f"{model_id} has no rank yet ({why})")
    wrow = conn.execute("SELECT weights FROM rank_weights WHERE id = ?", (row["weights_id"],)).fetchone()
    weights = json.loads(wrow[0])
    task = row["pipeline_tag"] or TASK_UNKNOWN
    adoption = [{"input": k, "value": row[_ADOPTION_VALUES[k]], "percentile": row["p_" + k],
                 "percentile_in_task": row["pt_" + k], "weight": round(weights["adoption"][k], 4)}
                for k in ADOPTION_INPUTS]
    quality = [{"part": "evidence" if k == "evaluations" else k, "value": row["q_" + k],
                "weight": round(weights["quality"][k], 4)} for k in QUALITY_PARTS]
    benchmarks = quality_.explain(conn, row["model_key"]) if row.get("model_key") is not None else []
    evidence = {"benchmarks_used": row.get("quality_benchmarks") or 0, "sources": row.get("quality_sources"),
                "documentation": row.get("documentation"), "benchmarks": benchmarks,
                "note": None if row["q_evaluations"] is not None else
                "no usable benchmark result (none, or none with peers in its task and a known direction): "
                "quality unknown, adds nothing"}
    ecosystem = [{"part": k, "input": row[_ECOSYSTEM_VALUES[k]] if _ECOSYSTEM_VALUES[k] else None,
                  "value": row["e_" + k], "weight": round(weights["ecosystem"][k], 4)} for k in ECOSYSTEM_PARTS]
    pricing = [{"input": "pricing class", "value": row["pricing_class"]},
               {"input": "licence", "value": row["licence"], "family": row["licence_family"],
                "commercial_use": row["commercial_use"], "resolved_via": row["licence_via"]},
               {"input": "gated", "value": row["gated"] not in (None, "false", "0")},
               {"input": "cheapest live provider", "value": row["cheapest_provider"],
                "input_usd_per_m": row["cheapest_input_usd_per_m"],
                "output_usd_per_m": row["cheapest_output_usd_per_m"]},
               {"input": "hosted providers", "value": row["hosted_providers"]}]
    parts = {"adoption": adoption, "quality": quality, "ecosystem": ecosystem, "pricing": pricing,
             "match": _match_inputs(conn, row)}
    out = []
    known = row.get("rank_known_weight") or 1.0
    for s in SIGNALS:
        w = weights["rank"][s]
        out.append({"signal": s, "score": row[s], "percentile": row.get(s + "_pct"), "weight": round(w, 4),
                    "weight_used": round(w / known, 4) if row[s] is not None else 0.0,
                    "contribution": contribution(w, row[s], known), "inputs": parts[s]})
    unknown = [s for s in SIGNALS if row[s] is None]
    return {"model": row["id"], "pipeline_tag": row["pipeline_tag"], "task_group": task, "rank": row["rank"],
            "rank_percentile": row["rank_pct"], "capabilities": row["capabilities_count"],
            "weights_id": row["weights_id"], "known_weight": known, "unknown_signals": unknown,
            "quality_evidence": evidence, "signals": out}


def _match_inputs(conn, row) -> list:
    graph = conn.execute("SELECT count(*) FROM match_scores").fetchone()[0]
    mine = conn.execute("SELECT score, times_matched FROM match_scores WHERE model_key = ?",
                        (row["model_key"],)).fetchone() if row.get("model_key") is not None else None
    if not graph:
        return [{"input": "match graph", "value": None, "note": "no match graph yet: unknown, adds nothing"}]
    if mine is None:
        return [{"input": "match graph", "value": None, "note": "not in the match graph: unknown, adds nothing"}]
    key = conn.execute("SELECT coalesce((SELECT canonical_key FROM match_copies WHERE model_key = ?), ?)",
                       (row["model_key"], row["model_key"])).fetchone()[0]  # a copy competes as what it copies
    rivals = conn.execute("""SELECT m.id FROM match_edges e JOIN models m
        ON m.key = CASE WHEN e.a_key = ? THEN e.b_key ELSE e.a_key END
        WHERE (e.a_key = ? OR e.b_key = ?) AND e.relation = 'competitor'
        ORDER BY CASE WHEN e.a_key = ? THEN e.a_standing ELSE e.b_standing END DESC, e.weight DESC LIMIT 3""",
                          (key,) * 4).fetchall()
    return [{"input": "match graph strength (its strongest rivals' edges, 100 * S / (S + 1))", "value": mine[0]},
            {"input": "times matched", "value": mine[1]},
            {"input": "strongest competitors", "value": ", ".join(r[0] for r in rivals) or None,
             "note": "hubdex matches MODEL shows all, with their evidence"}]


def _fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def render_explanation(e: dict) -> str:
    lines = [f"{e['model']}  rank {e['rank']:.2f} / 100  (percentile {_fmt(e['rank_percentile'])}; "
             f"{e['capabilities']} capabilities; {'task ' + e['task_group'] if e['pipeline_tag'] else e['task_group']}; "
             f"weights {e['weights_id']})"]
    if e.get("unknown_signals"):
        lines.append(f"unknown: {', '.join(e['unknown_signals'])} (adds nothing; the known weights, "
                     f"{e['known_weight']:.2f} of 1, are rescaled to sum to 1)")
    lines += ["", f"{'signal':<10} {'score':>7} {'pct':>7} {'weight':>7} {'used':>7} {'contribution':>13}"]
    for s in e["signals"]:
        score = "unknown" if s["score"] is None else f"{s['score']:.2f}"
        lines.append(f"{s['signal']:<10} {score:>7} {_fmt(s['percentile']):>7} {s['weight']:>7.3f} "
                     f"{s['weight_used']:>7.3f} {s['contribution']:>13.2f}")
        if s["signal"] == "quality":
            q = e["quality_evidence"]
            if q["note"]:
                lines.append(f"    {q['note']}")
            else:
                lines.append(f"    evidence from {q['benchmarks_used']} benchmarks ({q['sources']}); "
                             f"documentation {_fmt(q['documentation'])} of 100 (a small part)")
            for b in q["benchmarks"]:
                if "more" in b:
                    lines.append(f"      ... and {b['more']} more")
                    continue
                lines.append(f"      {b['benchmark']}: {_fmt(b['value'], 4)} "
                             f"({'lower' if b['lower_is_better'] else 'higher'} is better; standing "
                             f"{b['standing']:.2f} in {b['task'] or TASK_UNKNOWN}; {b['kind']}, {b['source']})")
        for i in s["inputs"]:
            name = i.get("input") or i.get("part")
            if s["signal"] == "adoption":
                detail = (f"{_fmt(i['value'])}: log score {_fmt(i['percentile_in_task'])} in task "
                          f"({_fmt(i['percentile'])} on the Hub's scale); weight {i['weight']:.3f}")
            elif s["signal"] in ("quality", "ecosystem"):
                detail = f"{_fmt(i['value'], 3)} of 1; weight {i['weight']:.3f}"
                if i.get("input") is not None and s["signal"] == "ecosystem":
                    detail = f"{_fmt(i['input'])} -> " + detail
                name = i["part"]
            else:
                extra = {k: v for k, v in i.items() if k not in ("input", "value")}
                detail = _fmt(i["value"]) + ("" if not extra else " (" + ", ".join(
                    f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in extra.items()) + ")")
            lines.append(f"    {name:<24} {detail}")
    total = round(sum(s["contribution"] for s in e["signals"]), 2)
    lines += ["", f"{'rank = sum of contributions':<34} {total:>13.2f}"]
    return "\n".join(lines)


# A rank that rests on less than this share of the rank's weights (the rest unknown, so the known
# signals are rescaled to fill it) is flagged in `top`: with quality unknown (0.40 of the weight) a
# well-adopted model can sit above measured ones on adoption alone.
THIN_KNOWN = 0.75
THIN_MARK = "†"


def top(conn, task: str | None = None, limit: int = 20) -> list[dict]:
    where, params = ("WHERE m.pipeline_tag = ?", [task]) if task else ("", [])
    cur = conn.execute(f"""SELECT m.id AS model, m.pipeline_tag, s.rank, s.adoption, s.quality, s.ecosystem,
            s.pricing, s.match, s.pricing_class, s.licence, s.capabilities_count AS capabilities,
            coalesce(s.rank_known_weight, 1.0) AS known_weight, s.quality_benchmarks,
            (SELECT r.relation || ' of ' || r.parent FROM model_relations r
             WHERE r.model_key = m.key AND r.relation IN ('finetune', 'merge', 'adapter')
             AND lower(substr(r.parent, 1, instr(r.parent, '/'))) != lower(substr(m.id, 1, instr(m.id, '/')))
             ORDER BY r.relation = 'merge' DESC, r.parent LIMIT 1) AS built_on
        FROM model_scores s JOIN models m ON m.key = s.model_key {where}
        ORDER BY s.rank DESC, m.id LIMIT ?""", params + [limit])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur]
    for r in rows:
        r["unknown_signals"] = [k for k in SIGNALS if r.get(k) is None]
        r["thin"] = r["known_weight"] < THIN_KNOWN
    return rows


def render_top(rows: list[dict]) -> str:
    """A table whose model and task columns are as wide as their longest value (ids run to 96
    characters): every column starts at the same place on every line. `known` is the share of the
    rank's weights whose signals are known (marked when under THIN_KNOWN); below the table, what the
    marked ranks lack and which models are built on another author's model."""
    wm = max([len("model")] + [len(r["model"]) for r in rows])
    wt = max([len("task")] + [len(r["pipeline_tag"] or TASK_UNKNOWN) for r in rows])
    wn = max(3, len(str(len(rows))))
    head = (f"{'#':>{wn}}  {'rank':>6}  {'adopt':>6} {'qual':>6} {'eco':>6} {'price':>6}  {'model':<{wm}}  "
            f"{'task':<{wt}}  {'known':>6}  pricing class")
    lines = [head]

    def num(v):
        return "     -" if v is None else f"{v:>6.2f}"  # unknown, never 0
    for i, r in enumerate(rows, 1):
        known = f"{100 * r['known_weight']:.0f}%" + (THIN_MARK if r["thin"] else " ")
        lines.append(f"{i:>{wn}}  {num(r['rank'])}  {num(r['adoption'])} {num(r['quality'])} {num(r['ecosystem'])} "
                     f"{num(r['pricing'])}  {r['model']:<{wm}}  {(r['pipeline_tag'] or TASK_UNKNOWN):<{wt}}  "
                     f"{known:>6}  {r['pricing_class']}")
    thin = [(i, r) for i, r in enumerate(rows, 1) if r["thin"]]
    if thin:
        lacking = sorted({s for _i, r in thin for s in r["unknown_signals"]})
        lines += ["", f"{THIN_MARK} {len(thin)} of these ranks {'rests' if len(thin) == 1 else 'rest'} on under {100 * THIN_KNOWN:.0f}% of the rank's "
                  f"weights ({', '.join(lacking)} unknown for some; unknown adds nothing and the known signals are "
                  "rescaled to fill its weight, so such a rank rests mostly on adoption and says less than a "
                  "measured one): "
                  + ", ".join(f"#{i}" for i, _r in thin)]
    built = [(i, r) for i, r in enumerate(rows, 1) if r["built_on"]]
    if built:
        lines += ["", "built on another author's model (its quality is its own results; its adoption is its own, "
                  "not its base's):"]
        lines += [f"  #{i} {r['model']}: {r['built_on']}"
                  + ("" if r["quality"] is None else f" (quality from {r['quality_benchmarks'] or 0} benchmarks; "
                     f"adoption {num(r['adoption']).strip()})") for i, r in built]
    return "\n".join(lines)

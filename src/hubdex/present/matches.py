"""What `hubdex matches MODEL` prints: a model's competitors in the order a chooser reads them (the
tier of their evidence, its strength, then the better adopted first), each with the evidence that
matched them; then, apart, its family (the same family at another size or generation: not rivals) and
its complements (found together, different tasks). Read-only over the match tables `hubdex derive` wrote.
"""

from __future__ import annotations

import json

from ..derive.match import KINDS, TIER_NAMES as TIERS


class UnknownModel(LookupError):
    pass


def _evidence(conn, a: int, b: int) -> list:
    rows = conn.execute("""SELECT e.id, e.kind, e.label, e.source, e.weight, x.detail FROM match_edge_evidence x
        JOIN match_evidence e ON e.id = x.evidence_id WHERE x.a_key = ? AND x.b_key = ?
        ORDER BY e.kind, e.id""", (a, b)).fetchall()
    return [{"evidence_id": i, "kind": k, "label": label, "source": json.loads(src), "set_weight": w,
             "detail": json.loads(d)} for i, k, label, src, w, d in rows]  # pairs in (a, b) order: see this_side


def matches(conn, model_id: str, limit: int = 10) -> dict:
    row = conn.execute("SELECT key, id, pipeline_tag FROM models WHERE id = ? AND removed_at IS NULL",
                       (model_id,)).fetchone()
    if row is None:
        row = conn.execute("SELECT key, id, pipeline_tag FROM models WHERE lower(id) = lower(?) AND removed_at IS NULL",
                           (model_id,)).fetchone()
    if row is None:
        raise UnknownModel(f"unknown model: {model_id}")
    key, mid, task = row
    out = {"id": mid, "pipeline_tag": task, "copy_of": None, "formats": [], "score": None, "times_matched": None}
    copy = conn.execute("SELECT c.canonical_key, m.id, c.via FROM match_copies c JOIN models m ON m.key = c.canonical_key "
                        "WHERE c.model_key = ?", (key,)).fetchone()
    if copy:  # a copy competes as the model it copies
        out["copy_of"] = {"id": copy[1], "via": copy[2]}
        key = copy[0]
    out["formats"] = [{"id": i, "via": v, "library": lib} for i, v, lib in conn.execute(
        "SELECT m.id, c.via, m.library_name FROM match_copies c JOIN models m ON m.key = c.model_key "
        "WHERE c.canonical_key = ? ORDER BY m.downloads DESC, m.id", (key,))]
    score = conn.execute("SELECT score, times_matched FROM match_scores WHERE model_key = ?", (key,)).fetchone()
    if score:
        out["score"], out["times_matched"] = score
    built = conn.execute("SELECT count(*) FROM match_evidence").fetchone()[0]
    lists = {"competitor": [], "family": [], "complement": []}
    for a, b, relation, edge_task, weight, tier, *parts, n in conn.execute(
            f"""SELECT a_key, b_key, relation, task, weight, tier, {', '.join(KINDS)}, evidence FROM match_edges
            WHERE a_key = ? OR b_key = ? ORDER BY CASE WHEN a_key = ? THEN a_standing ELSE b_standing END DESC,
            weight DESC, a_key + b_key""", (key, key, key)):
        other = b if a == key else a
        bucket = lists[relation]
        if len(bucket) >= limit:
            continue
        oid, otask = conn.execute("SELECT id, pipeline_tag FROM models WHERE key = ?", (other,)).fetchone()
        ev = _evidence(conn, a, b)
        bucket.append({"id": oid, "pipeline_tag": otask, "weight": weight, "task_group": edge_task,
                       "tier": TIERS.get(tier), "parts": dict(zip(KINDS, parts)), "evidence_sets": n, "this_side": 0 if a == key else 1,
                       "evidence": ev})
    out["competitors"], out["family"], out["complements"] = lists["competitor"], lists["family"], lists["complement"]
    if not out["competitors"]:
        out["why_none"] = ("no match graph yet: run `hubdex crawl --search`, then `hubdex derive`" if not built else
                           "no evidence puts it beside a rival of its task, size and language: no shared benchmark, "
                           "comparison table, Space or search results")
    return out


def _evidence_line(e: dict, side: int) -> str:
    d = e["detail"]
    mine, theirs = (0, 1) if side == 0 else (1, 0)
    if e["kind"] == "search":
        pos = d["positions"]
        return f"{e['label']}: positions {pos[mine]} and {pos[theirs]}"
    if e["kind"] in ("benchmark", "card_table"):
        v = d.get("values") or [None, None]
        return f"{e['label']}: {_v(v[mine])} vs {_v(v[theirs])}"
    return e["label"]


def _v(x):
    return "?" if x is None else f"{x:g}"


def render(m: dict, evidence_lines: int = 3) -> str:
    head = f"{m['id']} ({m['pipeline_tag'] or 'no task'})"
    if m["copy_of"]:
        head += f": a copy of {m['copy_of']['id']} ({m['copy_of']['via']}), which it competes as"
    lines = [head]
    if m["score"] is not None:
        lines.append(f"match graph score {m['score']:.2f}/100, times matched {m['times_matched']:,}")
    if m["formats"]:
        shown = ", ".join(f["id"] for f in m["formats"][:5])
        more = f" +{len(m['formats']) - 5} more" if len(m["formats"]) > 5 else ""
        lines.append(f"available copies: {shown}{more}")
    if not m["competitors"]:
        lines.append(f"no competitors: {m['why_none']}")
    else:
        lines.append("competitors, strongest first:")
    for i, c in enumerate(m["competitors"], 1):
        parts = ", ".join(f"{k} {v:.2f}" for k, v in c["parts"].items() if v)
        lines.append(f"{i:>3}. {c['id']}  weight {c['weight']:.3f}, {c['tier']} ({parts}; "
                     f"{c['evidence_sets']} evidence sets)")
        for e in c["evidence"][:evidence_lines]:
            lines.append(f"       - {_evidence_line(e, c['this_side'])}")
        if len(c["evidence"]) > evidence_lines:
            lines.append(f"       - +{len(c['evidence']) - evidence_lines} more")
    if m["family"]:
        lines.append("in the family (another size, generation or tuning; not rivals):")
        for c in m["family"]:
            lines.append(f"     {c['id']} ({c['pipeline_tag'] or 'no task'}): " + "; ".join(
                _evidence_line(e, c["this_side"]) for e in c["evidence"][:1]))
    if m["complements"]:
        lines.append("complements (found together, different tasks; not competition):")
        for c in m["complements"]:
            lines.append(f"     {c['id']} ({c['pipeline_tag'] or 'no task'})  weight {c['weight']:.3f}")
    return "\n".join(lines)

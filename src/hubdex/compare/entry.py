"""A comparison entry, "A vs B": the sides it is built from, the entry, its Markdown and text.

A *side* is everything an entry shows of one model, at the precision it shows it (signals as whole
points of 0-100, counts to three significant figures, prices to the cent), each value a cell
`{"value", "shown", "source"}` whose source names the table, column, row and crawl day it came from.
Unknown is a cell whose value is None, shown as "unknown": never 0. An entry is a pure function of
two sides and the match edge between them, so the hash of those three is exactly what the entry
shows (build.py rebuilds an entry only when that hash moves).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re

import orjson
from urllib.parse import quote

from ..clock import Clock
from ..derive.match import TASK_GROUPS
from ..derive.signals import LOWER_IS_BETTER

MARGIN = 5             # points on the 0-100 scale: a lead smaller than this is a tie
BENCH_MARGIN = 0.01    # a benchmark lead under 1% of the better value is a tie
CAPABILITIES_SHOWN = 8  # capability groups shown per model; the rest is "+N more"
DETAILS_SHOWN = 4       # details in one capability sentence
DETAIL_CHARS = 200      # a long detail (a card's intended use) is cut here
SIGNALS = (("adoption", "Adoption"), ("quality", "Quality"), ("ecosystem", "Ecosystem"), ("match", "Match Graph"))
DIFFERENT_TASK_SHARED = ("licence", "size", "adoption", "serving", "price")


# -- cells -------------------------------------------------------------------------------------------
def _day(day) -> str | None:
    return None if day is None else Clock.date_of(int(day))


def cell(value, shown: str | None = None, *, table: str, column: str, row: dict, day: str | None) -> dict:
    if value is None:
        shown = "unknown"
    elif shown is None:
        shown = str(value)
    return {"value": value, "shown": shown, "source": {"table": table, "column": column, "row": row, "day": day}}


def sig3(n):
    """A count to three significant figures (exact below 1,000): what an entry shows, and hashes."""
    if n is None:
        return None
    n = float(n)
    if abs(n) < 1000:
        return int(n) if n == int(n) else round(n, 2)
    return int(float(f"{n:.3g}"))


def count_text(n, sign: bool = False) -> str:
    if n is None:
        return "unknown"
    prefix = "+" if sign and n > 0 else ""
    a = abs(n)
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= div:
            return f"{prefix}{n / div:#.3g}".rstrip(".") + unit
    return f"{prefix}{n:,}" if isinstance(n, int) else f"{prefix}{n:g}"


# -- sides -------------------------------------------------------------------------------------------
# Values of model_scores and match_scores an entry shows, rounded in SQL: the side reads them so, and
# build.py compares the same expressions with what the last build showed, to find the sides to read
# again without reading every side (a derive that nudges percentiles by a hundredth moves none).
SHOWN_SQL = {
    "rank_pt": "CAST(round(s.rank) AS INTEGER)", "adoption_pt": "CAST(round(s.adoption) AS INTEGER)",
    "quality_pt": "CAST(round(s.quality) AS INTEGER)", "ecosystem_pt": "CAST(round(s.ecosystem) AS INTEGER)",
    "match_pt": "CAST(round(s.match) AS INTEGER)", "pricing_pt": "CAST(round(s.pricing) AS INTEGER)",
    "price_in": "round(s.cheapest_input_usd_per_m, 2)", "price_out": "round(s.cheapest_output_usd_per_m, 2)",
}
_COPIES_SQL = """(SELECT count(*) || ':' || coalesce(group_concat(id, ','), '') FROM (SELECT cm.id FROM match_copies cc
    JOIN models cm ON cm.key = cc.model_key WHERE cc.canonical_key = m.key ORDER BY cm.downloads DESC, cm.id LIMIT 3))"""
SHOWN_KEY_SQL = ("printf('" + "|".join(["%s"] * 20) + "', " + ", ".join(list(SHOWN_SQL.values()) + [
    "s.pricing_class", "s.capabilities_count", "s.licence", "s.licence_family", "s.commercial_use",
    "s.hosted_providers", "s.cheapest_provider", "s.growth_7d", "s.growth_30d", "ms.times_matched",
    "(SELECT count(*) FROM match_copies cc WHERE cc.canonical_key = m.key)", _COPIES_SQL]) + ")")
SHOWN_FROM = """FROM temp.compare_keys k JOIN models m ON m.key = k.key
    LEFT JOIN model_scores s ON s.model_key = m.key LEFT JOIN match_scores ms ON ms.model_key = m.key"""

_SIDE_SQL = f"""SELECT m.key, m.id, m.pipeline_tag, m.library_name, m.gated, m.params, m.used_storage, m.context_length,
    m.downloads, m.downloads_all_time, m.likes, m.trending_score, m.children_finetune, m.children_adapter,
    m.children_quantized, m.children_merge, m.spaces_count, m.last_modified, m.updated_at, m.disabled,
    s.rank, s.pricing_class, s.capabilities_count, s.licence,
    s.licence_family, s.commercial_use, s.cheapest_provider,
    s.hosted_providers, s.growth_7d, s.growth_30d, ms.times_matched, l.attribution, l.share_alike, l.name,
    c.source, c.fetched_at, (SELECT max(h.day) FROM metrics_history h WHERE h.model_key = m.key) AS metrics_day,
    {", ".join(f"{v} AS {k}" for k, v in SHOWN_SQL.items())}
    {SHOWN_FROM} LEFT JOIN licences l ON l.id = s.licence LEFT JOIN cards c ON c.model_key = m.key"""


def shown_keys(conn, keys) -> dict:
    """key -> the shown key (what a side shows that no model_changes row reports), for the given models."""
    _keys_table(conn, keys)
    out = dict(conn.execute(f"SELECT m.key, {SHOWN_KEY_SQL} {SHOWN_FROM}"))
    conn.execute("DELETE FROM temp.compare_keys")
    return out


def _keys_table(conn, keys):
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS compare_keys (key INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM temp.compare_keys")
    conn.executemany("INSERT OR IGNORE INTO temp.compare_keys VALUES (?)", ((int(k),) for k in keys))


def sides(conn, keys) -> dict:
    """key -> side, for the given model keys (a few bulk queries, whatever their number)."""
    _keys_table(conn, keys)
    cur = conn.execute(_SIDE_SQL)
    names = [d[0] for d in cur.description]
    rows = {r[0]: dict(zip(names, r)) for r in cur}
    caps: dict = {}
    for key, seq, name, detail, kind, src in conn.execute(
            """SELECT c.model_key, c.seq, c.capability, c.detail, c.evidence_kind, c.evidence_source
            FROM temp.compare_keys k JOIN capabilities c ON c.model_key = k.key ORDER BY c.model_key, c.seq"""):
        caps.setdefault(key, []).append((name, detail, kind, src, "capabilities", {"model_key": key, "seq": seq}))
    for key, name, detail, kind, src in conn.execute(
            """SELECT r.model_key, n.name, r.detail, e.evidence_kind, e.evidence_source
            FROM temp.compare_keys k JOIN model_capability_rows r ON r.model_key = k.key
            JOIN capability_names n ON n.id = r.capability_id JOIN capability_evidence e ON e.id = r.evidence_id
            ORDER BY r.model_key, r.capability_id, r.detail"""):
        caps.setdefault(key, []).append((name, detail, kind, src, "model_capabilities",
                                         {"model_key": key, "capability": name, "detail": detail}))
    evals: dict = {}
    for key, seq, dataset, metric, split, value, source, location in conn.execute(
            """SELECT e.model_key, e.seq, e.dataset, e.metric, e.split, e.value, e.source, e.location
            FROM temp.compare_keys k JOIN evaluations e ON e.model_key = k.key
            WHERE e.subject IS NULL AND e.dataset IS NOT NULL AND e.metric IS NOT NULL AND e.value IS NOT NULL
            ORDER BY e.model_key, e.seq"""):
        evals.setdefault(key, []).append((seq, dataset, metric, split, value, source, location))
    copies: dict = {}
    for canon, cid, via in conn.execute(
            """SELECT c.canonical_key, m.id, c.via FROM temp.compare_keys k JOIN match_copies c ON c.canonical_key = k.key
            JOIN models m ON m.key = c.model_key ORDER BY c.canonical_key, m.downloads DESC, m.id"""):
        copies.setdefault(canon, []).append((cid, via))
    conn.execute("DELETE FROM temp.compare_keys")
    return {k: _side(r, caps.get(k, []), evals.get(k, []), copies.get(k, [])) for k, r in rows.items()}


def side_hash(side: dict) -> str:
    return hashlib.blake2b(orjson.dumps({k: v for k, v in side.items() if not k.startswith("_")},
                                        option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


def prepare(side: dict) -> dict:
    """Pre-serialised pieces of a side that every entry of it repeats (JSON fragments and escaped
    Markdown of its cells), so that building thousands of entries does not redo them."""
    side["_json"] = {k: orjson.Fragment(orjson.dumps(c, option=orjson.OPT_SORT_KEYS)) for k, c in side["cells"].items()}
    side["_md"] = {k: md_escape(c["shown"]) for k, c in side["cells"].items()}
    side["_low"] = {g["capability"]: set(g["low"]) for g in side["capabilities"]}
    return side


def entry_json(e: dict, a: dict, b: dict) -> str:
    """The entry as stored (JSON, keys sorted), from prepared sides' fragments."""
    ja, jb = a["_json"], b["_json"]
    fast = dict(e, features=[{"feature": label, "a": ja[k], "b": jb[k]} for label, k in FEATURES],
                figures=[{"figure": label, "a": ja[k], "b": jb[k]} for label, k in FIGURES])
    return orjson.dumps(fast, option=orjson.OPT_SORT_KEYS).decode()


def _side(r: dict, caps: list, evals: list, copies: list) -> dict:
    key, mid = r["key"], r["id"]
    row = {"id": mid}
    meta_day = (r["updated_at"] or "")[:10] or None
    metrics_day = _day(r["metrics_day"])
    data_day = max(d for d in (meta_day, metrics_day, (r["fetched_at"] or "")[:10] or None, "") if d is not None) or None
    srow = {"model_key": key}

    def meta(column, value, shown=None):
        return cell(value, shown, table="models", column=column, row=row, day=meta_day)

    def metric(column, value, shown=None):
        return cell(value, shown, table="models", column=column, row=row, day=metrics_day)

    def score(column, value, shown=None):
        return cell(value, shown, table="model_scores", column=column, row=srow, day=data_day)

    gated = r["gated"] not in (None, "false", "0", "False")
    task = r["pipeline_tag"]
    s = {"id": mid, "key": key, "name": mid.split("/")[-1], "hub_url": "https://huggingface.co/" + quote(mid, safe="/"),
         "task": task, "task_group": TASK_GROUPS.get(task, task) if task else None}
    rank = r["rank_pt"]
    s["cells"] = c = {}
    c["type"] = cell("Model", table="models", column="id", row=row, day=meta_day)
    c["task"] = meta("pipeline_tag", task)
    c["rank"] = score("rank", rank, None if rank is None else f"{rank}/100")
    for name, _label in SIGNALS:
        v = r[name + "_pt"]
        if name == "match":
            c[name] = cell(v, None if v is None else f"{v}/100", table="match_scores", column="score", row=srow,
                           day=data_day)
        else:
            c[name] = score(name, v, None if v is None else f"{v}/100")
    c["pricing"] = score("pricing_class", r["pricing_class"])
    c["pricing_score"] = score("pricing", r["pricing_pt"])
    n = r["capabilities_count"]
    c["capabilities"] = score("capabilities_count", n, None if n is None else f"{n} decomposed")
    c["times_matched"] = cell(r["times_matched"], table="match_scores", column="times_matched", row=srow, day=data_day)
    for column, label in (("downloads", "downloads"), ("downloads_all_time", "downloads_all_time"),
                          ("likes", "likes"), ("trending_score", "trending_score")):
        v = sig3(r[column])
        c[label] = metric(column, v, count_text(v))
    for column in ("growth_7d", "growth_30d"):
        v = sig3(r[column])
        c[column] = score(column, v, count_text(v, sign=True))
    p = sig3(r["params"])
    c["params"] = meta("params", p, None if p is None else count_text(p))
    memory = next((d for name, d, *_ in caps if name == "weights memory"), None)
    c["memory"] = cell(memory, table="model_capabilities", column="detail",
                       row={"model_key": key, "capability": "weights memory"}, day=meta_day)
    st = r["used_storage"]
    c["storage"] = meta("used_storage", None if st is None else round(st / 1e9, 1),
                        None if st is None else f"{st / 1e9:.1f} GB")
    ctx = r["context_length"] or next((_int(d) for name, d, *_ in caps if name == "context length"), None)
    c["context_length"] = meta("context_length", ctx, None if ctx is None else f"{ctx:,} tokens")
    lic = r["licence"]
    c["licence"] = score("licence", lic, None if lic is None else (f"{lic} ({r['name']})" if r["name"] else lic))
    c["licence_family"] = score("licence_family", r["licence_family"])
    c["commercial_use"] = score("commercial_use", r["commercial_use"])
    conditions = [w for w, v in (("attribution", r["attribution"]), ("share alike", r["share_alike"])) if v == "yes"]
    if gated:
        conditions.append("accept the gate's terms")
    lrow = {"id": lic}
    c["licence_conditions"] = cell(", ".join(conditions) if conditions else
                                   (None if r["attribution"] in (None, "unknown") else "none"),
                                   table="licences", column="attribution, share_alike", row=lrow, day=data_day)
    c["gated"] = meta("gated", r["gated"] if r["gated"] is None else gated,
                      None if r["gated"] is None else ("yes" + ("" if r["gated"] in ("true", "1") else f" ({r['gated']})")
                                                       if gated else "no"))
    lm = (r["last_modified"] or "")[:10] or None
    c["last_modified"] = meta("last_modified", lm)
    for rel in ("finetune", "adapter", "quantized", "merge"):
        v = r["children_" + rel]
        c["children_" + rel] = meta("children_" + rel, v, count_text(v))
    c["spaces"] = meta("spaces_count", r["spaces_count"], count_text(r["spaces_count"]))
    hosted = r["hosted_providers"]
    c["providers"] = score("hosted_providers", hosted, None if hosted is None else f"{hosted} live")
    pin, pout = r["price_in"], r["price_out"]
    c["cheapest_price"] = score("cheapest_input_usd_per_m, cheapest_output_usd_per_m",
                                None if pin is None else [r["cheapest_provider"], pin, pout],
                                None if pin is None else f"{r['cheapest_provider']}: ${pin:.2f}/M in, ${pout:.2f}/M out")
    formats = sorted({d for name, d, *_ in caps if name == "weight format"})
    c["formats"] = cell(formats or None, ", ".join(formats) if formats else None, table="model_capabilities",
                        column="detail", row={"model_key": key, "capability": "weight format"}, day=meta_day)
    shown = ", ".join(i for i, _v in copies[:3]) + (f" +{len(copies) - 3} more" if len(copies) > 3 else "")
    c["copies"] = cell(len(copies), f"{len(copies)}" + (f": {shown}" if copies else ""), table="match_copies",
                       column="model_key", row={"canonical_key": key}, day=data_day)
    c["copies"]["ids"] = [i for i, _v in copies[:3]]
    c["library"] = meta("library_name", r["library_name"])
    s["benchmarks"] = _benchmarks(evals, key, row, (r["fetched_at"] or "")[:10] or meta_day)
    s["capabilities"] = _capability_groups(caps, meta_day, (r["fetched_at"] or "")[:10] or None)
    s["card"] = r["source"]
    return s


def _int(text):
    m = re.search(r"\d[\d,]*", text or "")
    return int(m.group(0).replace(",", "")) if m else None


def _benchmarks(evals, key, row, day) -> list:
    out, seen = [], set()
    for seq, dataset, metric, split, value, source, location in evals:
        k = (dataset.strip().lower(), metric.strip().lower(), (split or "").strip().lower())
        if k in seen:
            continue
        seen.add(k)
        out.append({"dataset": dataset, "metric": metric, "split": split, "value": round(float(value), 4),
                    "where": f"{source}: {location}",
                    "source": {"table": "evaluations", "column": "value", "row": {"model_key": key, "seq": seq},
                               "day": day}})
    return out


# -- capabilities as sentences -----------------------------------------------------------------------
TEMPLATES = {
    "task": "Performs {d}", "input modality": "Takes {d} as input", "output modality": "Produces {d}",
    "language": "Works in {d}", "library": "Loads with {d}", "architecture": "Built on the {d} architecture",
    "model type": "Of model type {d}", "parameters": "Has {d} parameters", "weights memory": "Its weights take {d}",
    "context length": "Reads up to {d} tokens of context", "weight format": "Ships weights as {d}",
    "quantised variants": "Has {d} quantised variants on the Hub", "fine-tunes of it": "Has {d} fine-tunes on the Hub",
    "adapters of it": "Has {d} adapters on the Hub", "merges of it": "Has {d} merges on the Hub",
    "fine-tuned from": "Fine-tuned from {d}", "quantised from": "Quantised from {d}", "adapter of": "An adapter of {d}",
    "merged from": "Merged from {d}", "inference provider": "Served by {d}", "serving": "Serving: {d}",
    "licence terms": "Licensed as {d}", "license": "Its card declares the licence {d}", "training data": "Trained on {d}",
    "training described": "Its training is described: {d}", "paper": "Described in {d}",
    "used in Spaces": "Used in {d}", "access": "Access: {d}", "intended use": "Intended use: {d}",
    "usage documented": "Usage documented with {d}", "limitations stated": "States its limitations: {d}",
    "benchmark result": "Reports {d}", "fine-tuning": "Fine-tuning: {d}",
}
_ORDER = {name: i for i, name in enumerate(TEMPLATES)}


def _capability_groups(caps, meta_day, card_day) -> list:
    groups: dict = {}
    for name, detail, kind, src, table, row in caps:
        g = groups.get(name)
        if g is None:
            g = groups[name] = {"capability": name, "details": [], "evidence": [], "sources": [], "_low": set()}
        d = str(detail)
        low = d.lower()
        if low not in g["_low"]:
            g["_low"].add(low)
            g["details"].append(d)
            if len(g["sources"]) < DETAILS_SHOWN:
                g["sources"].append({"table": table, "column": "detail", "row": row,
                                     "day": card_day if table == "capabilities" else meta_day})
        ev = f"{kind}: {src}"
        if ev not in g["evidence"] and len(g["evidence"]) < 3:
            g["evidence"].append(ev)
    out = sorted(groups.values(), key=lambda g: (_ORDER.get(g["capability"], 999), g["capability"]))
    for g in out:
        g["low"] = sorted(g.pop("_low"))
        shown = [d if len(d) <= DETAIL_CHARS else d[:DETAIL_CHARS - 1] + "…" for d in g["details"][:DETAILS_SHOWN]]
        more = len(g["details"]) - len(shown)
        text = ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")
        g["sentence"] = TEMPLATES.get(g["capability"], g["capability"].capitalize() + ": {d}").format(d=text) + "."
        del g["details"]
    return out


def _mark(mine: list, theirs: list, other: dict | None = None) -> list:
    if other is None:
        other = {g["capability"]: set(g["low"]) for g in theirs}
    out = []
    for g in mine:
        theirs_low = other.get(g["capability"])
        shared = bool(theirs_low) and not theirs_low.isdisjoint(g["low"])
        out.append({"sentence": g["sentence"], "capability": g["capability"], "mark": "shared" if shared else "unique",
                    "evidence": g["evidence"], "sources": g["sources"]})
    return out


# -- the entry ---------------------------------------------------------------------------------------
FEATURES = [("Type", "type"), ("Rank", "rank"), ("Adoption", "adoption"), ("Quality", "quality"),
            ("Ecosystem", "ecosystem"), ("Match Graph", "match"), ("Pricing", "pricing"),
            ("Capabilities", "capabilities"), ("Times Matched", "times_matched")]
FIGURES = [("Task", "task"), ("Downloads (30 days)", "downloads"), ("Downloads (all time)", "downloads_all_time"),
           ("Likes", "likes"), ("Trending score", "trending_score"), ("Growth, 7 days", "growth_7d"),
           ("Growth, 30 days", "growth_30d"), ("Parameters", "params"), ("Weights memory", "memory"),
           ("Repo storage", "storage"), ("Context length", "context_length"), ("Licence", "licence"),
           ("Licence family", "licence_family"), ("Commercial use", "commercial_use"),
           ("Licence conditions", "licence_conditions"), ("Gated", "gated"), ("Last modified", "last_modified"),
           ("Fine-tunes", "children_finetune"), ("Adapters", "children_adapter"),
           ("Quantisations", "children_quantized"), ("Merges", "children_merge"), ("Spaces", "spaces"),
           ("Inference providers", "providers"), ("Cheapest live price", "cheapest_price"),
           ("Weight formats", "formats"), ("Quantised / format copies", "copies"), ("Library", "library")]


def edge_shown(row) -> dict | None:
    """What an entry shows of the match edge between its two models (a row of match_edges)."""
    if row is None:
        return None
    a, b, relation, task, weight, search, benchmark, card_table, sibling, size, n, *more = row
    spaces = more[0] if more else 0.0
    kinds = {k: round(v, 2) for k, v in zip(("search", "benchmark", "card_table", "sibling", "size", "spaces"),
                                             (search, benchmark, card_table, sibling, size, spaces)) if round(v, 2)}
    return {"relation": relation, "task_group": task, "weight": round(weight, 2), "kinds": kinds, "evidence_sets": n,
            "source": {"table": "match_edges", "column": "weight", "row": {"a_key": a, "b_key": b}}}


ENTRY_VERSION = "2"  # bump when what an entry shows, or how, changes: every entry is then rebuilt


def _public(s: dict) -> dict:
    return {k: s[k] for k in ("id", "name", "hub_url", "task", "task_group")}


def build_entry(a: dict, b: dict, edge: dict | None) -> dict:
    """The entry for sides `a` and `b` (a's id sorts first) and their match edge (or None)."""
    ca, cb = a["cells"], b["cells"]
    same_task = a["task_group"] is not None and a["task_group"] == b["task_group"]
    e = {"title": f"{a['name']} vs {b['name']}", "models": {"a": _public(a), "b": _public(b)},
         "same_task": same_task, "match_edge": edge, "margin": MARGIN}
    e["headline"] = _headline(a, b)
    e["features"] = [{"feature": label, "a": ca[k], "b": cb[k]} for label, k in FEATURES]
    e["figures"] = [{"figure": label, "a": ca[k], "b": cb[k]} for label, k in FIGURES]
    e["head_to_head"] = _head_to_head(a, b)
    e["capabilities"] = {}
    for me, other, side in ((a, b, "a"), (b, a, "b")):
        marked = _mark(me["capabilities"], other["capabilities"], other.get("_low"))
        e["capabilities"][side] = {"shown": marked[:CAPABILITIES_SHOWN], "more": max(0, len(marked) - CAPABILITIES_SHOWN)}
    e["verdict"] = _verdict(a, b, same_task, e["head_to_head"]["shared"])
    return e


def _headline(a, b) -> str:
    ra, rb = a["cells"]["rank"]["value"], b["cells"]["rank"]["value"]
    if ra is None or rb is None:
        missing = " and ".join(s["name"] for s, r in ((a, ra), (b, rb)) if r is None)
        return f"{missing} {'have' if ra is None and rb is None else 'has'} no rank yet (run `hubdex derive`)."
    if ra == rb:
        return f"{a['name']} and {b['name']} rank level at {ra}/100."
    hi, lo = (a, b) if ra > rb else (b, a)
    return (f"{hi['name']} ranks higher at {hi['cells']['rank']['value']}/100 vs {lo['name']} at "
            f"{lo['cells']['rank']['value']}/100.")


def _bench_key(bm):
    return bm["dataset"].strip().lower(), bm["metric"].strip().lower()


def _head_to_head(a, b) -> dict:
    theirs: dict = {}
    for bm in b["benchmarks"]:
        theirs.setdefault(_bench_key(bm), []).append(bm)
    rows = []
    for bm in a["benchmarks"]:
        for other in theirs.get(_bench_key(bm), []):
            sa, sb = (bm["split"] or "").lower(), (other["split"] or "").lower()
            if sa and sb and sa != sb:
                continue
            rows.append({"dataset": bm["dataset"], "metric": bm["metric"], "split": bm["split"] or other["split"],
                         "a": {"value": bm["value"], "where": bm["where"], "source": bm["source"]},
                         "b": {"value": other["value"], "where": other["where"], "source": other["source"]}})
            break
    if rows:
        statement = f"{len(rows)} benchmark{'s' if len(rows) != 1 else ''} reported by both (same dataset and metric)."
    else:
        statement = (f"They share no benchmark: no dataset and metric that both report "
                     f"({len(a['benchmarks'])} results for {a['name']}, {len(b['benchmarks'])} for {b['name']}).")
    return {"shared": rows, "statement": statement}


def _lead(name, va, vb, a, b):
    if va is None or vb is None:
        return None, f"{name}: unknown for {a['name'] if va is None else b['name']}, no comparison"
    if abs(va - vb) < MARGIN:
        return "tie", f"{name}: tie ({va} vs {vb}, within {MARGIN} points)"
    who = a if va > vb else b
    return who["name"], f"{name}: {who['name']} leads ({max(va, vb)} vs {min(va, vb)})"


def _benchmark_leads(a, b, shared) -> tuple[list, dict]:
    """Head to head: who leads on each shared benchmark (lower is better for error-like metrics); a
    difference under BENCH_MARGIN of the better value is a tie."""
    lines, wins = [], {}
    for r in shared:
        va, vb = r["a"]["value"], r["b"]["value"]
        lower = r["metric"].strip().lower() in LOWER_IS_BETTER
        best = min(va, vb) if lower else max(va, vb)
        name = f"{r['dataset']} / {r['metric']}"
        if abs(va - vb) < BENCH_MARGIN * max(abs(best), 1e-12):
            lines.append(f"{name}: tie ({va:g} vs {vb:g}, within {BENCH_MARGIN:.0%})")
            continue
        a_wins = (va < vb) == lower
        who, win, lose = (a["name"], va, vb) if a_wins else (b["name"], vb, va)
        wins[who] = wins.get(who, 0) + 1
        lines.append(f"{name}: {who} leads ({win:g} vs {lose:g}{', lower is better' if lower else ''})")
    return lines, wins


def _verdict(a, b, same_task, shared=()) -> dict:
    ca, cb = a["cells"], b["cells"]
    lines, leads = [], {}
    if same_task:
        aspects = [("rank", "Rank")] + list(SIGNALS)
    else:
        aspects = [("adoption", "Adoption")]
    for k, label in aspects:
        who, text = _lead(label, ca[k]["value"], cb[k]["value"], a, b)
        lines.append(text)
        if who:
            leads[k] = who
    # what any two models share: licence, size, serving, price
    lines.append(f"Licence: {a['name']} {ca['licence']['shown']} (commercial use {ca['commercial_use']['shown']}); "
                 f"{b['name']} {cb['licence']['shown']} (commercial use {cb['commercial_use']['shown']})")
    lines.append(f"Size: {a['name']} {ca['params']['shown']} parameters; {b['name']} {cb['params']['shown']}")
    lines.append(f"Serving: {a['name']} {ca['providers']['shown']} providers; {b['name']} {cb['providers']['shown']}")
    lines.append(f"Price: {a['name']} {ca['pricing']['shown']}; {b['name']} {cb['pricing']['shown']}")
    if same_task:
        who = leads.get("rank")
        summary = ("A tie on rank: the two are within "
                   f"{MARGIN} points." if who == "tie" else f"{who} is ahead on rank by a clear margin "
                   f"(at least {MARGIN} points)." if who else "No rank to compare yet.")
        ahead = {}
        for k, label in SIGNALS:
            if leads.get(k) not in (None, "tie"):
                ahead.setdefault(leads[k], []).append(label.lower())
        if ahead:
            summary += " " + "; ".join(f"{n} leads on {', '.join(v)}" for n, v in ahead.items()) + "."
        bench_lines, wins = _benchmark_leads(a, b, shared)
        lines += bench_lines
        if wins:
            summary += " Head to head: " + ", ".join(f"{n} leads on {k} of {len(shared)}" for n, k in wins.items()) + "."
    else:
        summary = (f"Not direct competitors: {a['name']} does {a['task'] or 'no stated task'} and {b['name']} does "
                   f"{b['task'] or 'no stated task'}. They do different tasks, so only what they share is compared: "
                   f"{', '.join(DIFFERENT_TASK_SHARED)}.")
        if leads.get("adoption") not in (None, "tie"):
            summary += f" {leads['adoption']} is more adopted."
    return {"summary": summary, "lines": lines, "margin_points": MARGIN, "benchmark_margin": BENCH_MARGIN,
            "direct_competitors": same_task}


# -- Markdown and text -------------------------------------------------------------------------------
_MD = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\n": " ", "\r": " ", **{
    ch: "\\" + ch for ch in "\\`*_[]|#!"}})


@functools.lru_cache(maxsize=1 << 16)
def md_escape(text) -> str:
    """Card and id text in Markdown: no markup, link or HTML gets through."""
    return str(text).translate(_MD)


def _src(c: dict) -> str:
    s = c["source"]
    row = ", ".join(f"{k}={v}" for k, v in s["row"].items())
    return f"{s['table']}.{s['column']} [{row}]" + (f" @ {s['day']}" if s.get("day") else "")


def render_markdown(e: dict, a_side: dict | None = None, b_side: dict | None = None) -> str:
    a, b = e["models"]["a"], e["models"]["b"]
    ma = a_side["_md"] if a_side and "_md" in a_side else None
    mb = b_side["_md"] if b_side and "_md" in b_side else None

    def pieces(r, k):
        if ma is not None and mb is not None:
            return ma[k], mb[k]
        return md_escape(r["a"]["shown"]), md_escape(r["b"]["shown"])

    rows = [(r.get("feature") or r.get("figure"), *pieces(r, k))
            for r, (_label, k) in zip(e["features"] + e["figures"], FEATURES + FIGURES)]
    na, nb = md_escape(a["name"]), md_escape(b["name"])
    nf = len(e["features"])
    out = [f"# {na} vs {nb}", "", md_escape(e["headline"]), "", f"| Feature | {na} | {nb} |", "|---|---|---|"]
    out += [f"| {label} | {x} | {y} |" for label, x, y in rows[:nf]]
    out += ["", "## Figures", "", f"| Figure | {na} | {nb} |", "|---|---|---|"]
    out += [f"| {label} | {x} | {y} |" for label, x, y in rows[nf:]]
    out += ["", "## Head to head", "", md_escape(e["head_to_head"]["statement"])]
    if e["head_to_head"]["shared"]:
        out += ["", f"| Benchmark | {na} | {nb} |", "|---|---|---|"]
        for r in e["head_to_head"]["shared"]:
            name = f"{r['dataset']} / {r['metric']}" + (f" ({r['split']})" if r["split"] else "")
            out.append(f"| {md_escape(name)} | {r['a']['value']:g} ({md_escape(r['a']['where'])}) | "
                       f"{r['b']['value']:g} ({md_escape(r['b']['where'])}) |")
    for side, m in (("a", a), ("b", b)):
        caps = e["capabilities"][side]
        out += ["", f"## {md_escape(m['name'])} capabilities", ""]
        out += [f"- *{c['mark']}*: {md_escape(c['sentence'])} ({md_escape('; '.join(c['evidence']))})"
                for c in caps["shown"]]
        if caps["more"]:
            out.append(f"- +{caps['more']} more")
        if not caps["shown"]:
            out.append("- none recorded")
    v = e["verdict"]
    out += ["", "## Verdict", "", md_escape(v["summary"]), ""]
    out += [f"- {md_escape(line)}" for line in v["lines"]]
    out += ["", f"A lead is claimed only at a margin of {v['margin_points']} points or more on the 0-100 scale; "
            f"closer is a tie (benchmarks: {v['benchmark_margin']:.0%} of the better value). Unknown is shown as "
            "unknown, never as 0.", "",
            "Sources: every figure's table, column, row and crawl day are in the entry's JSON "
            "(`hubdex compare A B --format json`) and on its page of `hubdex site`."]
    return "\n".join(out) + "\n"


def render_text(e: dict) -> str:
    a, b = e["models"]["a"], e["models"]["b"]
    rows = [(r.get("feature") or r.get("figure"), r["a"]["shown"], r["b"]["shown"]) for r in e["features"] + e["figures"]]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(max(len(r[1]) for r in rows), len(a["name"]))
    out = [f"{a['id']} vs {b['id']}", e["headline"], "", f"{'':<{w0}}  {a['name']:<{w1}}  {b['name']}"]
    for i, (label, x, y) in enumerate(rows):
        if i == len(e["features"]):
            out.append("")
        out.append(f"{label:<{w0}}  {x:<{w1}}  {y}")
    out += ["", "Head to head: " + e["head_to_head"]["statement"]]
    for r in e["head_to_head"]["shared"]:
        out.append(f"  {r['dataset']} / {r['metric']}: {r['a']['value']:g} ({r['a']['where']}) vs "
                   f"{r['b']['value']:g} ({r['b']['where']})")
    for side, m in (("a", a), ("b", b)):
        caps = e["capabilities"][side]
        out += ["", f"{m['name']} capabilities:"]
        out += [f"  [{c['mark']}] {c['sentence']}" for c in caps["shown"]]
        if caps["more"]:
            out.append(f"  +{caps['more']} more")
    out += ["", "Verdict: " + e["verdict"]["summary"]] + [f"  - {line}" for line in e["verdict"]["lines"]]
    return "\n".join(out) + "\n"

"""A comparison entry, "A vs B": a pure function of two sides and the match edge between them.

The entry is an ordered list of *sections*, each of one kind that every renderer knows:

  verdict       the paragraph that follows from the numbers, then "pick A if ..., pick B if ..."
  table         rows of two cells (one per model), each cell {value, shown, source}
  benchmarks    head to head on shared benchmarks, or each one's best-known results
  capabilities  each model's claims as sentences, grouped, marked shared or unique among its rivals
  list          items with a link and a reason ("also consider")

The verdict comes first. A new section is a function here that returns one of these kinds, added to
SECTIONS: the renderers (render.py) walk the list and need no change.
"""

from __future__ import annotations

from ..derive.match import TASK_GROUPS
from ..derive.quality import metric_direction
from .reading import Side, count_text, language_name

MARGIN = 5             # points on the 0-100 scale: a lead smaller than this is a tie
BENCH_MARGIN = 0.01    # a benchmark lead under 1% of the better value is a tie
RATIO = 1.5            # sizes, downloads and contexts: a difference under this ratio is not called one
CLAIMS_SHOWN = 6       # capability sentences shown per model before "more" (the rest behind <details>)
DETAIL_CHARS = 160     # a long detail (a card's intended use) is cut here
ALSO = 3               # "also consider": this many rivals from outside both families
ENTRY_VERSION = "6"    # bump when what an entry shows, or how, changes: every entry is then rebuilt


# -- capabilities as sentences -----------------------------------------------------------------------
# capability name -> (group, template). Every template starts with a verb. Names not here are not
# capabilities (a widget URL, "used in 3 Spaces", the licence, counts of fine-tunes: figures, shown
# in their own sections) and are left out of capabilities and of their count.
DOES, BUILT, LINEAGE, DOCS = "What it does", "How it is built", "Where it comes from", "What its card documents"
TEMPLATES = {
    "task": (DOES, "Performs {d}"),
    "intended use": (DOES, "States its intended use: {d}"),
    "modalities": (DOES, "Takes {i} as input and produces {o}"),
    "language": (DOES, "Works in {d}"),
    "context length": (DOES, "Reads up to {d} tokens of context"),
    "fine-tuning": (DOES, "Supports fine-tuning: {d}"),
    "benchmark result": (DOES, "Reports {d}"),
    "architecture": (BUILT, "Is built on the {d} architecture"),
    "training data": (BUILT, "Was trained on {d}"),
    "training described": (BUILT, "Describes its training: {d}"),
    "paper": (BUILT, "Is described in {d}"),
    "fine-tuned from": (LINEAGE, "Was fine-tuned from {d}"),
    "quantised from": (LINEAGE, "Is a quantised version of {d}"),
    "adapter of": (LINEAGE, "Is an adapter for {d}"),
    "merged from": (LINEAGE, "Was merged from {d}"),
    "usage documented": (DOCS, "Documents its usage with {d}"),
    "limitations stated": (DOCS, "States its limitations: {d}"),
}
GROUPS = (DOES, BUILT, LINEAGE, DOCS)
_ORDER = {name: i for i, name in enumerate(TEMPLATES)}
_LIST_KINDS = ("language", "architecture", "training data", "paper", "fine-tuned from", "quantised from",
               "adapter of", "merged from", "usage documented")  # many details: one sentence listing them


def _cut(d: str) -> str:
    d = " ".join(str(d).split()).rstrip(".")
    return d if len(d) <= DETAIL_CHARS else d[:DETAIL_CHARS - 1].rstrip() + "…"


def _task_words(t: str) -> str:
    return t.replace("-", " ")


def _join(items: list, limit: int = 6) -> str:
    items = list(items)
    if len(items) > limit:
        return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _norm(name: str, d: str) -> str:
    low = str(d).strip().lower().rstrip(".")
    if name == "paper":
        low = low.replace("https://arxiv.org/abs/", "arxiv:").replace("arxiv.org/abs/", "arxiv:")
    return low


def claims(side: Side) -> list:
    """The side's capability rows as sentences: one claim each, grouped, repeats folded."""
    by: dict = {}
    for name, detail, kind, src, table, row in side.claims:
        if detail is None or str(detail).strip() == "":
            continue
        if name in ("input modality", "output modality"):
            name_ = "modalities"
        elif name in TEMPLATES:
            name_ = name
        elif name == "model type":
            continue  # folded into the architecture sentence
        else:
            continue
        g = by.setdefault(name_, {"details": {}, "evidence": [], "sources": [], "io": {"input modality": [],
                                                                                      "output modality": []}})
        low = _norm(name, detail)
        if name_ == "modalities":
            if detail not in g["io"][name]:
                g["io"][name].append(str(detail))
        elif low not in g["details"]:
            g["details"][low] = str(detail)
        ev = f"{kind}: {src}"
        if ev not in g["evidence"]:
            g["evidence"].append(ev)
        if len(g["sources"]) < 4:
            g["sources"].append({"table": table, "column": "detail", "row": row})
    out, seen = [], set()
    total = side.shares.get(("", "rivals"), 0)
    for name in sorted(by, key=lambda n: _ORDER[n]):
        g = by[name]
        group, template = TEMPLATES[name]
        if name == "modalities":
            i, o = g["io"]["input modality"], g["io"]["output modality"]
            if not i or not o:
                continue
            texts = [(template.format(i=_join(i), o=_join(o)), [("input modality", x.lower()) for x in i] +
                      [("output modality", x.lower()) for x in o])]
        elif name == "task":
            texts = [(template.format(d=_join([_task_words(d) for d in g["details"].values()])),
                      [("task", k) for k in g["details"]])]
        elif name == "language":
            names = list(dict.fromkeys(language_name(d) for d in g["details"].values()))
            texts = [(template.format(d=_join(names)), [("language", k) for k in g["details"]])]
        elif name in _LIST_KINDS:
            texts = [(template.format(d=_join([_cut(d) for d in g["details"].values()], 4)), [])]
        elif name == "context length":
            d = next(iter(g["details"].values()))
            n = "".join(ch for ch in d if ch.isdigit())
            texts = [(template.format(d=f"{int(n):,}" if n else _cut(d)), [("context length", k) for k in g["details"]])]
        else:
            texts = [(template.format(d=_cut(d)), []) for d in g["details"].values()]
        for text, keys in texts:
            sentence = text.rstrip(".") + "."
            if sentence.lower() in seen:
                continue
            seen.add(sentence.lower())
            rivals_sharing = max((side.shares.get(k, 0) for k in keys), default=None) if keys else None
            out.append({"group": group, "capability": name, "sentence": sentence, "evidence": g["evidence"][:3],
                        "sources": g["sources"], "keys": keys, "rivals_sharing": rivals_sharing, "rivals": total})
    return out


def capability_count(side: Side) -> int:
    return sum(1 for c in claims(side) if c["group"] == DOES)


def _mark(mine: list, other: list, other_name: str) -> list:
    theirs = {k for c in other for k in c["keys"]}
    out = []
    for c in mine:
        c = dict(c)
        if c["keys"]:
            with_other = any(k in theirs for k in c["keys"])
            n, total = c["rivals_sharing"] or 0, c["rivals"]
            if with_other:
                c["mark"] = "shared"
                c["mark_text"] = f"shared with {other_name}" + (
                    f" and {n} of {total} rivals" if total and n else f", none of {total} rivals" if total else "")
            elif n:
                c["mark"] = "shared"
                c["mark_text"] = f"shared by {n} of {total} rivals"
            else:
                c["mark"] = "unique"
                c["mark_text"] = f"unique among its {total} rivals" if total else "no rivals to compare"
        else:
            c["mark"], c["mark_text"] = None, None
        del c["keys"]
        out.append(c)
    return out


# -- sections ----------------------------------------------------------------------------------------
def _table(sid: str, title: str, a: Side, b: Side, rows, note: str | None = None) -> dict:
    out = []
    for label, k in rows:
        ca, cb = a.cells[k], b.cells[k]
        out.append({"label": label, "key": k, "a": ca, "b": cb})
    return {"id": sid, "kind": "table", "title": title, "rows": out, "note": note}


def _embedding(a: Side, b: Side) -> bool:
    return any(s.cells["embedding_dim"]["value"] is not None or s.task_group == "embeddings" for s in (a, b))


def glance(a, b, ctx) -> dict:
    rows = [("Task", "task"), ("Downloads (30 days)", "downloads"), ("Parameters", "params"),
            ("Memory at fp16", "memory_fp16")]
    rows += [("Embedding dimension", "embedding_dim"), ("Max input", "max_input")] if _embedding(a, b) else \
        [("Context length", "context_length")]
    rows += [("Commercial use", "commercial_use"), ("Licence", "licence"), ("Released", "released")]
    return _table("glance", "At a glance", a, b, rows)


def benchmarks(a, b, ctx) -> dict:
    shared = ctx["shared"]
    if shared:
        statement = (f"{len(shared)} benchmark{'s' if len(shared) != 1 else ''} reported by both "
                     "(same dataset, config, split and metric).")
        return {"id": "benchmarks", "kind": "benchmarks", "title": "Head to head", "statement": statement,
                "shared": shared, "best": None}
    best = {}
    for side, s in (("a", a), ("b", b)):
        best[side] = sorted(s.benchmarks, key=lambda x: (x["how"] != "measured", -abs(float(x["shown"])), x["dataset"]))[:5]
    statement = (f"They share no benchmark (no dataset, config, split and metric that both report): each one's best-known "
                 f"results instead ({len(a.benchmarks)} for {a.name}, {len(b.benchmarks)} for {b.name}).")
    return {"id": "benchmarks", "kind": "benchmarks", "title": "Benchmarks", "statement": statement, "shared": [],
            "best": best}


def size(a, b, ctx) -> dict:
    rows = [("Parameters", "params"), ("Memory at fp16", "memory_fp16"), ("Memory at int8", "memory_int8"),
            ("Memory at int4", "memory_int4"), ("Repo storage", "storage"), ("Context length", "context_length")]
    if _embedding(a, b):
        rows += [("Embedding dimension", "embedding_dim"), ("Max input", "max_input")]
    rows += [("Languages", "languages"), ("Input", "input_modalities"), ("Output", "output_modalities"),
             ("Weight formats", "formats")]
    return _table("size", "Size, memory and limits", a, b, rows,
                  note="Memory is the weights alone at each precision, from the parameter count; activations "
                       "and the context's cache come on top.")


def licence(a, b, ctx) -> dict:
    return _table("licence", "Licence", a, b, [("Licence", "licence"), ("Commercial use", "commercial_use"),
                                                ("Conditions", "licence_conditions"), ("Gated", "gated"),
                                                ("Licence text", "licence_text")],
                  note="Plain-words summaries of the licence text linked; not legal advice.")


def price(a, b, ctx) -> dict:
    return _table("price", "Serving and price", a, b, [("Inference providers", "providers"),
                                                        ("Cheapest hosted price", "price"), ("Library", "library")],
                  note="Prices are per million tokens from the Hub's inference router (LLMs); for other "
                       "modalities the Hub publishes no price, shown as unknown.")


def adoption(a, b, ctx) -> dict:
    return _table("adoption", "Adoption and freshness", a, b, [
        ("Downloads (30 days)", "downloads"), ("Downloads (all time)", "downloads_all_time"), ("Likes", "likes"),
        ("Trend", "trend"), ("Fine-tunes", "children_finetune"), ("Adapters", "children_adapter"),
        ("Quantisations", "children_quantized"), ("Merges", "children_merge"), ("Spaces", "spaces"),
        ("Format copies", "copies"), ("Released", "released"), ("Last commit", "last_modified")])


def scores(a, b, ctx) -> dict:
    return _table("scores", "hubdex scores", a, b, [
        ("Rank", "rank"), ("Adoption", "adoption"), ("Quality", "quality"), ("Ecosystem", "ecosystem"),
        ("Match graph", "match"), ("Pricing", "pricing"), ("Capabilities", "capabilities"),
        ("Times matched", "times_matched")],
        note=f"0-100 scores of `hubdex rank`; a lead is claimed only at {MARGIN} points or more.")


def capabilities(a, b, ctx) -> dict:
    ca, cb = claims(a), claims(b)
    out = {}
    for side, mine, other, o in (("a", ca, cb, b), ("b", cb, ca, a)):
        marked = _mark(mine, other, o.name)
        does = [c for c in marked if c["group"] == DOES]
        rest = [c for c in marked if c["group"] != DOES]
        out[side] = {"shown": does[:CLAIMS_SHOWN], "more": does[CLAIMS_SHOWN:] + rest,
                     "count": len(does)}
    return {"id": "capabilities", "kind": "capabilities", "title": "Capabilities", "sides": out}


def also_consider(a, b, ctx) -> dict:
    skip = {a.id, b.id}
    families = {a.author.lower(), b.author.lower()}
    pool: dict = {}
    for s in (a, b):
        for r in s.rivals:
            if r["id"] in skip or (r["author"] or "").lower() in families:
                continue
            if s.task_group and r["task"] and TASK_GROUPS.get(r["task"], r["task"]) != s.task_group:
                continue  # a rival doing another job is no alternative
            if r["id"] not in pool or pool[r["id"]]["weight"] < r["weight"]:
                pool[r["id"]] = dict(r, of=s.name)
    items = sorted(pool.values(), key=lambda r: (-r["weight"], -(r["rank"] or -1), r["id"]))[:ALSO]
    return {"id": "also", "kind": "list", "title": "Also consider",
            "statement": "The strongest rivals of either model from outside both families (match graph)." if items
            else "No rival outside both families in the match graph.",
            "items": [{"id": r["id"], "text": f"a rival of {r['of']} (match weight {r['weight']:.2f}"
                       + (f", rank {r['rank']}/100)" if r["rank"] is not None else ")")} for r in items]}


# -- the verdict -------------------------------------------------------------------------------------
def _num(s: Side, k):
    """A cell's number at the precision it is shown (three significant figures; scores as shown), so the
    verdict moves only when a shown figure moves."""
    c = s.cells[k]
    v = c["value"]
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return None
    if c["shown"].endswith("/100"):
        return int(c["shown"].split("/")[0])
    return float(f"{v:.3g}")


_COMMERCIAL = {"yes": 2, "on conditions": 1, "no": 0}


def _bench_key(bm):
    """Same dataset, config, split and metric: only then are two results one benchmark."""
    return (bm["dataset"].strip().lower(), (bm.get("config") or "").strip().lower(),
            (bm["split"] or "").strip().lower(), bm["metric"].strip().lower())


def shared_benchmarks(a: Side, b: Side) -> list:
    theirs = {_bench_key(bm): bm for bm in b.benchmarks}
    rows = []
    for bm in a.benchmarks:
        other = theirs.get(_bench_key(bm))
        if other is None:
            continue
        va, vb = float(bm["shown"]), float(other["shown"])  # at the precision shown
        # the direction its leaderboard ranks by, else the metric's name; neither: no lead is claimed
        lower = next((x.get("lower_is_better") for x in (bm, other) if x.get("lower_is_better") is not None), None)
        if lower is None:
            named = metric_direction(bm["metric"])
            lower = None if named is None else bool(named)
        if lower is None:
            rows.append({"dataset": bm["dataset"], "config": bm.get("config"), "split": bm["split"],
                         "metric": bm["metric"], "lower_is_better": None, "lead": "unknown", "a": bm, "b": other})
            continue
        best = min(va, vb) if lower else max(va, vb)
        if abs(va - vb) < BENCH_MARGIN * max(abs(best), 1e-12):
            lead = "tie"
        else:
            lead = "a" if (va < vb) == lower else "b"
        rows.append({"dataset": bm["dataset"], "config": bm.get("config"), "split": bm["split"], "metric": bm["metric"],
                     "lower_is_better": lower,
                     "lead": lead, "a": bm, "b": other})
    return rows


def _ratio(x, y):
    if x is None or y is None or min(x, y) <= 0:
        return None
    return max(x, y) / min(x, y)


def verdict(a: Side, b: Side, ctx) -> dict:
    same = ctx["same_task"]
    shared = ctx["shared"]
    why = {"a": [], "b": []}
    said = []
    name = {"a": a.name, "b": b.name}
    sides = {"a": a, "b": b}
    if not same:
        said.append(f"{a.name} ({a.task or 'no stated task'}) and {b.name} ({b.task or 'no stated task'}) do "
                    "different jobs, so they are not direct competitors: choose by the job first.")
    # quality: shared benchmarks first, measured or claimed said; the quality score otherwise
    if shared:
        wins = {"a": sum(r["lead"] == "a" for r in shared), "b": sum(r["lead"] == "b" for r in shared)}
        how = sorted({r["a"]["how"] for r in shared} | {r["b"]["how"] for r in shared})
        lead = "a" if wins["a"] > wins["b"] else "b" if wins["b"] > wins["a"] else None
        if lead:
            said.append(f"On the {len(shared)} benchmark{'s' if len(shared) > 1 else ''} both report "
                        f"({' and '.join(how)}), {name[lead]} leads on {wins[lead]}"
                        + (f" and {name['b' if lead == 'a' else 'a']} on {wins['b' if lead == 'a' else 'a']}."
                           if wins['b' if lead == 'a' else 'a'] else "."))
            why[lead].append("the better results on the benchmarks both report")
        else:
            said.append(f"On the {len(shared)} benchmark{'s' if len(shared) > 1 else ''} both report they are level.")
    elif same:
        qa, qb = _num(a, "quality"), _num(b, "quality")
        if qa is not None and qb is not None and abs(qa - qb) >= MARGIN:
            lead = "a" if qa > qb else "b"
            said.append(f"They share no benchmark; {name[lead]} has the stronger quality evidence "
                        f"({max(qa, qb)} vs {min(qa, qb)} of 100).")
            why[lead].append("the stronger quality evidence")
        else:
            said.append("They share no benchmark, and their quality evidence does not separate them.")
    # adoption
    da, db = _num(a, "downloads"), _num(b, "downloads")
    r = _ratio(da, db)
    if r and r >= 2:
        lead = "a" if da > db else "b"
        said.append(f"{name[lead]} is far more used: {count_text(max(da, db))} downloads a month against "
                    f"{count_text(min(da, db))} ({r:.0f}x).")
        why[lead].append("a larger community and ecosystem")
    # size and memory
    pa, pb = _num(a, "params"), _num(b, "params")
    r = _ratio(pa, pb)
    if r and r >= RATIO:
        small = "a" if pa < pb else "b"
        big = "b" if small == "a" else "a"
        said.append(f"{name[small]} is {r:.1f}x smaller ({sides[small].cells['params']['shown']} against "
                    f"{sides[big].cells['params']['shown']} parameters; {sides[small].cells['memory_fp16']['shown']} "
                    f"against {sides[big].cells['memory_fp16']['shown']} of weights at fp16).")
        why[small].append(f"less memory ({sides[small].cells['memory_int4']['shown']} of weights at int4)")
        if same:
            why[big].append("the capacity of a larger model")
    # context
    xa, xb = _num(a, "context_length"), _num(b, "context_length")
    r = _ratio(xa, xb)
    if same and r and r >= RATIO:
        lead = "a" if xa > xb else "b"
        said.append(f"{name[lead]} reads {r:.0f}x more context ({sides[lead].cells['context_length']['shown']} "
                    f"against {sides['b' if lead == 'a' else 'a'].cells['context_length']['shown']}).")
        why[lead].append(f"long inputs (up to {sides[lead].cells['context_length']['shown']})")
    # languages
    la, lb = a.cells["languages"]["value"] or [], b.cells["languages"]["value"] or []
    if same and la and lb and len(la) != len(lb) and max(len(la), len(lb)) >= 2 * min(len(la), len(lb)):
        lead = "a" if len(la) > len(lb) else "b"
        why[lead].append(f"more languages ({max(len(la), len(lb))} declared)")
    # licence
    ka, kb = a.cells["commercial_use"]["value"], b.cells["commercial_use"]["value"]
    if ka in _COMMERCIAL and kb in _COMMERCIAL and ka != kb:
        lead = "a" if _COMMERCIAL[ka] > _COMMERCIAL[kb] else "b"
        other = "b" if lead == "a" else "a"
        said.append(f"For commercial use, {name[lead]}'s licence ({sides[lead].cells['licence']['shown']}) says "
                    f"{sides[lead].cells['commercial_use']['shown']}, {name[other]}'s "
                    f"({sides[other].cells['licence']['shown']}) says {sides[other].cells['commercial_use']['shown']}.")
        why[lead].append("a licence that allows commercial use" + (" without conditions" if
                                                                  sides[lead].cells['commercial_use']['value'] == "yes"
                                                                  else " on conditions"))
    elif ka is None or kb is None:
        unknown = " and ".join(name[s] for s, k in (("a", ka), ("b", kb)) if k is None)
        said.append(f"Commercial use is unknown for {unknown}: read the licence before relying on it.")
    # price
    pra, prb = a.cells["price"]["value"], b.cells["price"]["value"]
    if same and pra and prb and pra[1] is not None and prb[1] is not None and round(pra[1], 2) != round(prb[1], 2):
        lead = "a" if round(pra[1], 2) < round(prb[1], 2) else "b"
        why[lead].append(f"the lower hosted price ({sides[lead].cells['price']['shown']})")
    elif same and bool(pra) != bool(prb):
        lead = "a" if pra else "b"
        why[lead].append("a hosted API from inference providers")
    # recency
    ra, rb = a.cells["released"]["value"], b.cells["released"]["value"]
    if same and ra and rb and abs(int(ra[:4]) - int(rb[:4])) >= 1:
        lead = "a" if ra > rb else "b"
        why[lead].append(f"a newer model (released {sides[lead].cells['released']['shown']})")
    picks = []
    for s in ("a", "b"):
        if why[s]:
            picks.append(f"Pick {name[s]} if you want {_join(why[s], 5)}.")
    for s in ("a", "b"):
        if not why[s] and why["b" if s == "a" else "a"]:
            picks.append(f"The crawled data gives no reason to pick {name[s]} over "
                         f"{name['b' if s == 'a' else 'a']}.")
    if not picks:
        picks.append("The crawled data does not separate them: choose on what it does not measure.")
    return {"id": "verdict", "kind": "verdict", "title": "Verdict", "summary": " ".join(said), "picks": picks,
            "direct_competitors": same, "margin_points": MARGIN, "benchmark_margin": BENCH_MARGIN}


SECTIONS = (verdict, glance, benchmarks, capabilities, size, licence, price, adoption, also_consider, scores)


def build_entry(a: Side, b: Side, edge) -> dict:
    """The entry for sides a and b (a's id sorts first) and their match edge (an Edge, or None)."""
    prepare(a)
    prepare(b)
    same = a.task_group is not None and a.task_group == b.task_group
    ctx = {"same_task": same, "shared": shared_benchmarks(a, b)}
    return {"title": f"{a.name} vs {b.name}", "models": {"a": a.public(), "b": b.public()}, "same_task": same,
            "match_edge": edge.shown() if edge is not None else None, "version": ENTRY_VERSION,
            "sections": [f(a, b, ctx) for f in SECTIONS]}


def prepare(s: Side) -> Side:
    """Complete a side with what the entry model derives from its rows (the capability count)."""
    if "capabilities" not in s.cells:
        s.cells["capabilities"] = _count_cell(s)
    return s


def _count_cell(s: Side) -> dict:
    n = capability_count(s)
    return {"value": n, "shown": f"{n} claim{'s' if n != 1 else ''} of what it does",
            "source": {"table": "model_capabilities", "column": "detail", "row": {"model_key": s.key}, "day": None,
                       "how": "capability rows of what the model does (task, modalities, languages, context, "
                              "intended use, fine-tuning, benchmark results)"}}


def section(e: dict, sid: str) -> dict | None:
    return next((s for s in e["sections"] if s["id"] == sid), None)

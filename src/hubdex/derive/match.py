"""The match graph: which models really compete, from the evidence the crawl stored, with the
evidence for every edge; and each model's match signal (its centrality among its competitors).

Evidence sets, each a row of `match_evidence` (its kind, what it stands for, its own discount):
  search      one query's top results on the day they were fetched (`search_results`);
  benchmark   one dataset and metric that several models report (`evaluations` from model-index and
              results tables);
  card_table  one results table in a card whose rows name other models (`evaluations.subject`);
  sibling     the finetunes of one base model (`model_relations`);
  size        well-adopted models of one task with parameters within 2x: used only for models that
              have fewer than SIZE_MIN_EDGES competitors from the rest.
Rules:
  * Copies fold. A quantised copy (relation `quantized`) or a format copy (a GGUF / AWQ / GPTQ / MLX /
    ONNX ... name whose base name is another model's) is the model it copies: it is listed in
    `match_copies` and every piece of evidence it carries counts for its canonical model, once per
    evidence set (the strongest position or value, never the sum over copies).
  * Task gate. Competitors share a task (TASK_GROUPS joins tasks that serve the same use); pairs
    found together across tasks are kept as complements and never count as competition.
  * No double counting. Search and benchmark strengths are cosine associations: the evidence two
    models share over the root of what each has on its own, so a popular model that appears in
    every query does not match everything; each set is discounted by how generic it is (a query
    whose results span tasks, a benchmark every model of a task reports).
The edge weight is the weighted sum of the kinds' strengths (weights.toml [match]); the columns of
`match_edges` keep each kind's contribution. The match signal is a weighted PageRank over the
competitor edges, as a mid-rank percentile within the task (0-100); copies take their canonical
model's. A model in no competitor edge has no match signal (unknown, not 0).
"""

from __future__ import annotations

import hashlib
import json
import math
import pathlib
import re
import time
from dataclasses import dataclass, field

import numpy as np
import orjson

KINDS = ("search", "benchmark", "card_table", "sibling", "size")
SEARCH, BENCHMARK, CARD_TABLE, SIBLING, SIZE = range(5)
COUNTED_KINDS = (SEARCH, BENCHMARK, CARD_TABLE, SIBLING)  # "times matched": evidence that put it beside a rival

SEARCH_TOP = 20            # canonical results of a query that pair with each other
SEARCH_PRIOR = 0.5         # added to each side's search mass: two models seen once, together, are not
                           # yet a strong pair (a cosine over one query would be 1)
BENCH_ALL_PAIRS = 30       # a benchmark reported by at most this many models pairs them all ...
BENCH_NEIGHBOURS = 3       # ... a larger one pairs each model with the next ones by value
SIBLINGS_TOP = 8           # the most downloaded finetunes of a base that pair with each other
SIZE_MIN_EDGES = 3         # below this many competitors, the size neighbourhood is consulted
SIZE_NEIGHBOURS = 3
SIZE_RATIO = 2.0
WELL_ADOPTED_PCT = 90      # "well adopted": in its task's top 10% by downloads ...
WELL_ADOPTED_MIN = 100     # ... and at least this many downloads in 30 days
DAMPING = 0.85
ITERATIONS = 50

# Tasks that serve the same use: models in one group compete. Every other task is its own group.
TASK_GROUPS = {
    "feature-extraction": "embeddings", "sentence-similarity": "embeddings",
    "text-generation": "text generation", "text2text-generation": "text generation",
    "image-text-to-text": "vision-language", "image-to-text": "vision-language",
    "visual-question-answering": "vision-language",
    "text-classification": "text classification", "zero-shot-classification": "text classification",
}

# Pieces of a lower-cased repo name that may mark a format copy (a quick filter; FORMAT_WORD decides),
# and the repo name as store/shape.py indexes it.
FORMAT_HINT = re.compile(r"gguf|ggml|awq|gptq|exl2|mlx|onnx|openvino|bit|int[48]|fp8|fp16|bf16|bnb|nf4|quant|q[2-8]|i1|"
                         r"imatrix")
REPO_NAME = "lower(substr(id, instr(id, '/') + 1))"
# Name words that mark a format or quantised copy (`Llama-3.1-8B-Instruct-GGUF`, `...-AWQ`, `-4bit`).
FORMAT_WORD = re.compile(
    r"[-_.](gguf|ggml|awq|gptq|exl2|mlx|onnx|openvino|int4|int8|fp8|fp16|bf16|4bit|8bit|3bit|6bit|bnb|"
    r"nf4|q[2-8](_k)?(_[msl])?|q8_0|i1|imatrix|quantized|quant)(?=$|[-_.])", re.I)


@dataclass
class MatchResult:
    copies: int = 0
    evidence: dict = field(default_factory=dict)   # kind -> evidence sets
    competitor_edges: int = 0
    complement_edges: int = 0
    scored: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        sets = ", ".join(f"{self.evidence.get(k, 0):,} {k}" for k in KINDS)
        return (f"match graph: {self.competitor_edges:,} competitor and {self.complement_edges:,} complement edges "
                f"from {sets} evidence sets; {self.copies:,} copies folded; {self.scored:,} models scored")


class _Pairs:
    """Pair contributions, appended per evidence set and reduced once (numpy, not a dict of pairs)."""

    def __init__(self):
        self.a, self.b, self.kind, self.value, self.ev = [], [], [], [], []
        self.detail: list[str] = []

    def add(self, a: int, b: int, kind: int, value: float, ev: int, detail: dict):
        if a == b:
            return
        if a > b:
            a, b = b, a
            detail = _swap(detail)
        self.a.append(a)
        self.b.append(b)
        self.kind.append(kind)
        self.value.append(value)
        self.ev.append(ev)
        self.detail.append(detail)


def _swap(detail: dict) -> dict:
    """A detail names its pair's two sides in order: swapped when the pair is stored the other way."""
    out = dict(detail)
    for k, v in detail.items():
        if isinstance(v, list) and len(v) == 2 and k != "table":
            out[k] = [v[1], v[0]]
    return out


class _Evidence:
    def __init__(self):
        self.rows: list[tuple] = []
        self.count = {k: 0 for k in KINDS}

    def add(self, kind: int, label: str, source: dict, members: int, weight: float) -> int:
        eid = len(self.rows) + 1
        self.rows.append((eid, KINDS[kind], label, json.dumps(source, sort_keys=True), members, round(weight, 6)))
        self.count[KINDS[kind]] += 1
        return eid


# -- the models ------------------------------------------------------------------------------------
@dataclass
class _Models:
    size: int                # one more than the largest model key: arrays are indexed by key
    group: np.ndarray        # task group code of each current model, -1 unknown (or removed)
    groups: list             # code -> group name


def _models(conn) -> _Models:
    """Each current model's task group, as one array over the keys: the group is computed by SQLite
    (a CASE over the few distinct tasks), so a million rows come back as pairs of integers."""
    size = conn.execute("SELECT coalesce(max(key), 0) FROM models").fetchone()[0] + 1
    tasks = [t for (t,) in conn.execute("SELECT DISTINCT pipeline_tag FROM models WHERE pipeline_tag IS NOT NULL")]
    groups = sorted({TASK_GROUPS.get(t, t) for t in tasks})
    code = {g: i for i, g in enumerate(groups)}
    group = np.full(size, -1, np.int32)
    if tasks:
        case = "CASE pipeline_tag " + " ".join(f"WHEN ? THEN {code[TASK_GROUPS.get(t, t)]}" for t in tasks) + " END"
        # (removed models keep their task: nothing of theirs reaches an edge, every evidence query
        # joins current models only; so this reads the covering index, never the rows)
        rows = conn.execute(f"SELECT key, {case} FROM models WHERE pipeline_tag IS NOT NULL", tasks).fetchall()
        if rows:
            pairs = np.array(rows, dtype=np.int64)
            group[pairs[:, 0]] = pairs[:, 1]
    return _Models(size, group, groups)


def fold_copies(conn, m: _Models) -> tuple[np.ndarray, list]:
    """canonical[key]: the model each copy folds into (itself for every other model); and the
    (copy, canonical, via) rows."""
    canon = np.arange(m.size, dtype=np.int64)
    rows = []
    for child, parent in conn.execute("""SELECT r.model_key, min(p.key) FROM model_relations r
            JOIN models p ON p.id = r.parent AND p.removed_at IS NULL
            JOIN models c ON c.key = r.model_key AND c.removed_at IS NULL
            WHERE r.relation = 'quantized' GROUP BY r.model_key"""):
        if child != parent:
            canon[child] = parent
            rows.append([child, parent, "quantized from"])
    # Format copies by name: `X-GGUF` (any author) folds into the most downloaded model named X. The
    # names come from the repo-name index (a scan of names, not of the rows).
    marked = {}
    # (the condition on the name makes SQLite read the names from their index, not each row's)
    for key, name in conn.execute(f"SELECT key, {REPO_NAME} FROM models WHERE {REPO_NAME} >= ''"):
        if canon[key] != key or not FORMAT_HINT.search(name):
            continue
        base = FORMAT_WORD.sub("", name)
        if base and base != name:
            marked[key] = base
    if marked:
        best = _most_downloaded_named(conn, set(marked.values()))
        for key, base in marked.items():
            hit = best.get(base)
            if hit is not None and hit != key:
                canon[key] = hit
                rows.append([key, hit, "format copy by name"])
    for _ in range(6):  # a copy of a copy folds into the first model that is not one
        canon = canon[canon]
    for r in rows:
        r[1] = int(canon[r[0]])
    rows = [r for r in rows if r[0] != r[1]]
    removed = set()  # a removed copy folds (harmlessly: it has no evidence) but is not listed
    for at in range(0, len(rows), 500):
        part = [r[0] for r in rows[at:at + 500]]
        removed.update(k for (k,) in conn.execute(
            f"SELECT key FROM models WHERE key IN ({','.join('?' * len(part))}) AND removed_at IS NOT NULL", part))
    return canon, [tuple(r) for r in rows if r[0] not in removed]


# -- evidence --------------------------------------------------------------------------------------
def _search(conn, canon, m: _Models, pairs: _Pairs, ev: _Evidence, norm: np.ndarray):
    rows = conn.execute("""SELECT q.id, q.endpoint, q.query, q.params, q.weight, r.day, r.position, mo.key, mo.id
        FROM search_queries q JOIN search_results r ON r.query_id = q.id AND r.day = q.fetched_day
        JOIN models mo ON mo.id = r.model_id AND mo.removed_at IS NULL
        ORDER BY q.id, r.position""")
    current, members = None, []
    for row in rows:
        if current is not None and row[0] != current[0]:
            _search_set(current, members, canon, m, pairs, ev, norm)
            members = []
        current = row
        members.append((row[6], row[7], row[8]))
    if current is not None:
        _search_set(current, members, canon, m, pairs, ev, norm)


def _search_label(endpoint, query, params) -> str:
    p = dict(json.loads(params))
    if endpoint == "quicksearch":
        return f"quicksearch '{query}'"
    if not query:
        return f"top {p.get('pipeline_tag')} models by {p.get('sort')}"
    return f"search '{query}' by {p.get('sort', 'downloads')}"


def _search_set(q, members, canon, m: _Models, pairs, ev, norm):
    qid, endpoint, query, params, qweight, day = q[:6]
    seen, kept = set(), []
    term = query.lower()
    for position, key, model_id in members:  # by position: a copy's first place stands for its canonical
        if term and term not in model_id.split("/")[-1].lower():
            continue  # matched on the author's name ('bart' in bartowski/...): says nothing of the model
        c = int(canon[key])
        if c not in seen:
            seen.add(c)
            kept.append((position, c))
        if len(kept) == SEARCH_TOP:
            break
    if len(kept) < 2:
        return
    groups = [int(m.group[c]) for _p, c in kept]
    share = max(groups.count(g) for g in set(groups)) / len(groups)  # results that span tasks are generic
    weight = qweight * share
    eid = ev.add(SEARCH, _search_label(endpoint, query, params), {"query_id": qid, "day": day}, len(kept), weight)
    strength = [weight / math.log2(1 + p) for p, _c in kept]
    for (p, c), s in zip(kept, strength):
        norm[c] += s * s
    for i in range(len(kept)):
        pi, ci = kept[i]
        for j in range(i + 1, len(kept)):
            pj, cj = kept[j]
            pairs.add(ci, cj, SEARCH, strength[i] * strength[j], eid, {"positions": [pi, pj]})


def _benchmarks(conn, canon, m: _Models, pairs, ev, norm):
    rows = conn.execute("""SELECT lower(trim(e.dataset)) AS d, lower(trim(e.metric)) AS k, e.model_key, e.seq, e.value,
            e.split, e.source, e.dataset, e.metric
        FROM evaluations e JOIN models mo ON mo.key = e.model_key AND mo.removed_at IS NULL
        WHERE e.subject IS NULL AND e.dataset IS NOT NULL AND e.value IS NOT NULL AND e.metric IS NOT NULL
        ORDER BY d, k, e.model_key, e.seq""")
    current, members = None, []
    for row in rows:
        if current is not None and row[:2] != current[:2]:
            _bench_set(current, members, canon, pairs, ev, norm)
            members = []
        current = row
        members.append(row)
    if current is not None:
        _bench_set(current, members, canon, pairs, ev, norm)


def _bench_set(head, rows, canon, pairs, ev, norm):
    best = {}
    for _d, _k, key, seq, value, split, source, _ds, _mt in rows:
        c = int(canon[key])
        own = key == c
        if c not in best or (own and not best[c][3]):  # the canonical's own figure, else its first copy's
            best[c] = (value, key, seq, own, split, source)
    if len(best) < 2:
        return
    n = len(best)
    weight = 1.0 / math.log2(1 + n)  # a benchmark everyone reports says little about who competes
    eid = ev.add(BENCHMARK, f"benchmark {head[7]} / {head[8]}", {"dataset": head[0], "metric": head[1]}, n, weight)
    items = sorted(best.items(), key=lambda kv: (kv[1][0], kv[0]))
    for c, _v in items:
        norm[c] += weight * weight
    span = len(items) if n <= BENCH_ALL_PAIRS else BENCH_NEIGHBOURS + 1
    for i in range(len(items)):
        ci, (vi, ki, si, _o, spi, _s) = items[i]
        for j in range(i + 1, min(len(items), i + span)):
            cj, (vj, kj, sj, _o2, spj, _s2) = items[j]
            pairs.add(ci, cj, BENCHMARK, weight * weight, eid,
                      {"values": [vi, vj], "rows": [[ki, si], [kj, sj]], "splits": [spi, spj]})


_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_HUB_URL = re.compile(r"huggingface\.co/([\w.-]+/[\w.-]+)")


def subject_name(subject: str) -> str:
    """What a comparison table's row calls a model: a Hub link's id, else the text without markup."""
    text = subject.strip()
    link = _LINK.search(text)
    if link:
        hub = _HUB_URL.search(link.group(2))
        text = hub.group(1) if hub else link.group(1)
    return text.strip("*_` ").strip()


def _card_tables(conn, canon, m: _Models, pairs, ev):
    rows = conn.execute("""SELECT e.model_key, e.seq, e.subject, e.value, e.location, mo.id
        FROM evaluations e JOIN models mo ON mo.key = e.model_key AND mo.removed_at IS NULL
        WHERE e.subject IS NOT NULL ORDER BY e.model_key, e.seq""").fetchall()
    if not rows:
        return
    names = {subject_name(r[2]) for r in rows} - {""}
    resolved = _resolve_names(conn, names)
    tables: dict = {}
    for key, seq, subject, value, location, model_id in rows:
        table = location.rsplit(", row", 1)[0]
        tables.setdefault((key, table, model_id), []).append((seq, subject_name(subject), value))
    for (key, table, model_id), cells in tables.items():
        me = int(canon[key])
        named, own_value = {}, None
        for seq, name, value in cells:
            hit = resolved.get(name.lower())
            if hit is None:
                continue
            c = int(canon[hit])
            if c == me:
                own_value = value if own_value is None else own_value
            elif c not in named:
                named[c] = (seq, value, name)
        if not named:
            continue
        eid = ev.add(CARD_TABLE, f"comparison table in {model_id}'s card ({table})",
                     {"model_key": key, "table": table}, len(named) + 1, 1.0)
        for c, (seq, value, name) in named.items():
            pairs.add(me, c, CARD_TABLE, 1.0, eid,
                      {"values": [own_value, value], "names": [model_id, name], "row_seq": seq, "table": table})


def _resolve_names(conn, names: set) -> dict:
    """lower(name) -> key: an id exactly (case-insensitive), or a bare name as the most downloaded
    model of that name."""
    out = {}
    ids = [n for n in names if "/" in n]
    bare = {n.lower() for n in names if "/" not in n}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk:chunk + 500]
        for key, model_id in conn.execute(f"SELECT key, id FROM models WHERE removed_at IS NULL AND id IN "
                                          f"({','.join('?' * len(part))})", part):
            out[model_id.lower()] = key
    missing = {n.lower() for n in ids if n.lower() not in out}
    if missing:  # a differently cased id: the Hub's ids are case-insensitive
        for key, model_id in conn.execute("SELECT key, id FROM models WHERE removed_at IS NULL AND lower(id) IN "
                                          f"({','.join('?' * len(missing))})", list(missing)):
            out[model_id.lower()] = key
    if bare:
        out.update(_most_downloaded_named(conn, bare))
    return out


def _most_downloaded_named(conn, names: set) -> dict:
    """lower(repo name) -> the key of the most downloaded current model of that name (any author),
    through the repo-name index."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS match_names (name TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.match_names")
    conn.executemany("INSERT OR IGNORE INTO temp.match_names VALUES (?)", [(n,) for n in names])
    # Which names exist, from the index alone (most names wanted exist nowhere); then the figures of
    # the few models found.
    found = conn.execute(f"""SELECT t.name, m.key FROM temp.match_names t
        JOIN models m ON lower(substr(m.id, instr(m.id, '/') + 1)) = t.name""").fetchall()
    best = {}
    for at in range(0, len(found), 500):
        part = found[at:at + 500]
        figures = dict(conn.execute(f"SELECT key, coalesce(downloads, 0) FROM models WHERE removed_at IS NULL AND key IN "
                                    f"({','.join('?' * len(part))})", [k for _n, k in part]))
        for name, key in part:
            if key in figures and (name not in best or figures[key] > best[name][1]):
                best[name] = (key, figures[key])
    conn.execute("DROP TABLE temp.match_names")
    return {n: k for n, (k, _dl) in best.items()}


def _siblings(conn, canon, m: _Models, pairs, ev):
    rows = conn.execute("""SELECT p.key, p.id, r.model_key, coalesce(c.downloads, 0) FROM model_relations r
        JOIN models p ON p.id = r.parent AND p.removed_at IS NULL
        JOIN models c ON c.key = r.model_key AND c.removed_at IS NULL
        WHERE r.relation = 'finetune' ORDER BY p.key""")
    current, children = None, []
    for row in rows:
        if current is not None and row[0] != current[0]:
            _sibling_set(current, children, canon, m, pairs, ev)
            children = []
        current = row
        children.append((row[2], row[3]))
    if current is not None:
        _sibling_set(current, children, canon, m, pairs, ev)


def _sibling_set(parent, children, canon, m: _Models, pairs, ev):
    pkey, pid = parent[0], parent[1]
    base = int(canon[pkey])
    downloads: dict = {}
    for k, dl in children:  # a child folded into another counts once, with its best figure
        c = int(canon[k])
        if c != base:
            downloads[c] = max(downloads.get(c, 0), dl)
    kids = sorted(downloads, key=lambda c: (-downloads[c], c))
    if len(kids) < 2:
        return
    weight = 1.0 / math.log2(1 + len(kids))  # a base with many finetunes says less of each pair
    kept = kids[:SIBLINGS_TOP]
    eid = ev.add(SIBLING, f"finetunes of {pid}", {"parent_key": pkey}, len(kids), weight)
    for i in range(len(kept)):
        for j in range(i + 1, len(kept)):
            pairs.add(kept[i], kept[j], SIBLING, weight, eid, {"parent": pid})


def _size_neighbours(conn, canon, m: _Models, degree: np.ndarray, pairs, ev):
    """For well-adopted models with too few competitors: the nearest in size within their task."""
    rows = conn.execute("""SELECT key, params, downloads FROM models WHERE removed_at IS NULL
        AND pipeline_tag IS NOT NULL AND params > 0 AND downloads >= ?""", (WELL_ADOPTED_MIN,)).fetchall()
    if not rows:
        return
    cols = np.array(rows, dtype=np.int64)
    cols = cols[(canon[cols[:, 0]] == cols[:, 0]) & (m.group[cols[:, 0]] >= 0)]
    params = np.zeros(m.size, np.int64)
    downloads = np.zeros(m.size, np.int64)
    params[cols[:, 0]], downloads[cols[:, 0]] = cols[:, 1], cols[:, 2]
    base = params > 0
    for g in np.unique(m.group[base]).tolist():
        keys = np.flatnonzero(base & (m.group == g))
        if len(keys) < 2:
            continue
        cut = np.percentile(downloads[keys], WELL_ADOPTED_PCT)
        keys = keys[downloads[keys] >= cut]
        needy = keys[degree[keys] < SIZE_MIN_EDGES]
        if len(keys) < 2 or not len(needy):
            continue
        order = keys[np.argsort(params[keys], kind="stable")]
        logp = np.log2(params[order].astype(float))
        pos = {int(k): i for i, k in enumerate(order.tolist())}
        eid = None
        for k in needy.tolist():
            i = pos[k]
            cands = []
            for step in (-1, 1):  # sorted by size: the nearest are the next ones on either side
                j = i + step
                while 0 <= j < len(order) and abs(logp[j] - logp[i]) <= math.log2(SIZE_RATIO) \
                        and abs(j - i) <= SIZE_NEIGHBOURS:
                    cands.append((abs(logp[j] - logp[i]), int(order[j])))
                    j += step
            for gap, other in sorted(cands)[:SIZE_NEIGHBOURS]:
                if eid is None:
                    eid = ev.add(SIZE, f"well-adopted {m.groups[g]} models within {SIZE_RATIO:g}x in size",
                                 {"task_group": m.groups[g], "min_downloads": int(cut)}, len(keys), 1.0)
                pairs.add(k, other, SIZE, 1.0 - gap / math.log2(SIZE_RATIO) * 0.5, eid,
                          {"params": [int(params[k]), int(params[other])]})


# -- the graph -------------------------------------------------------------------------------------
def _reduce(pairs: _Pairs, norms: dict, kind_weights: dict, m: _Models):
    a = np.asarray(pairs.a, np.int64)
    b = np.asarray(pairs.b, np.int64)
    kind = np.asarray(pairs.kind, np.int8)
    value = np.asarray(pairs.value, float)
    code = a * m.size + b
    uniq, inverse = np.unique(code, return_inverse=True)
    n = len(uniq)
    strength = np.zeros((len(KINDS), n))
    for k in (SEARCH, BENCHMARK, CARD_TABLE):
        sel = kind == k
        strength[k] = np.bincount(inverse[sel], weights=value[sel], minlength=n)
    for k in (SIBLING, SIZE):  # the strongest set, not the sum
        sel = kind == k
        np.maximum.at(strength[k], inverse[sel], value[sel])
    ea, eb = uniq // m.size, uniq % m.size
    for k in (SEARCH, BENCHMARK):
        prior = SEARCH_PRIOR if k == SEARCH else 0.0
        denom = np.sqrt((norms[k][ea] + prior) * (norms[k][eb] + prior))
        strength[k] = np.divide(strength[k], denom, out=np.zeros(n), where=denom > 0)
    strength[CARD_TABLE] = np.minimum(strength[CARD_TABLE], 1.0)
    w = np.array([kind_weights[k] for k in KINDS], float)
    w = w / w.sum() if w.sum() > 0 else w
    parts = np.minimum(strength, 1.0) * w[:, None]
    return ea, eb, parts, parts.sum(axis=0), inverse


def pagerank(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted PageRank over undirected edges: (nodes, scores)."""
    nodes, idx = np.unique(np.concatenate([a, b]), return_inverse=True)
    n = len(nodes)
    if not n:
        return nodes, np.zeros(0)
    src = np.concatenate([idx[: len(a)], idx[len(a):]])
    dst = np.concatenate([idx[len(a):], idx[: len(a)]])
    w = np.concatenate([weight, weight])
    out = np.bincount(src, weights=w, minlength=n)
    r = np.full(n, 1.0 / n)
    share = w / out[src]
    for _ in range(ITERATIONS):
        r_new = (1 - DAMPING) / n + DAMPING * np.bincount(dst, weights=share * r[src], minlength=n)
        if np.abs(r_new - r).sum() < 1e-10:
            r = r_new
            break
        r = r_new
    return nodes, r


def _percentile_within(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values))
    for g in np.unique(groups).tolist():
        sel = np.flatnonzero(groups == g)
        v = values[sel]
        order = np.sort(v)
        below = np.searchsorted(order, v, side="left")
        ties = np.searchsorted(order, v, side="right") - below
        out[sel] = 100.0 * (below + 0.5 * ties) / len(v)
    return out


# The reasons a model changed (derive/changes.py) that can move the graph's evidence: its task,
# relations, name, card or existence. Moved figures alone (reason `metrics`) reorder only the
# siblings kept and the size neighbourhood: they are taken up at the next rebuild, at the latest
# REFRESH_DAYS after the last one.
EVIDENCE_REASONS = {"new", "renamed", "metadata", "details", "card", "removed"}
REFRESH_DAYS = 7


def inputs_digest(conn, kind_weights: dict) -> str:
    """What the last build read, beyond the models' changes: the weights, this module's code, and the
    search results stored (each query's fetch day and result count)."""
    code = hashlib.blake2b(pathlib.Path(__file__).read_bytes(), digest_size=8).hexdigest()
    searches = conn.execute("SELECT count(*), coalesce(sum(fetched_day), 0), coalesce(sum(results), 0), "
                            "coalesce(max(fetched_at), '') FROM search_queries").fetchone()
    return json.dumps([sorted(kind_weights.items()), code, list(searches)])


def needs_rebuild(digest: str, changes: dict, rebuild_all: bool, day: int, last: str | None) -> bool:
    """False only when nothing the graph reads moved since the last build: `digest` is this derive's
    `inputs_digest`, `last` the stored digest and day of the last build."""
    if rebuild_all or last is None or EVIDENCE_REASONS & {r for r, n in changes.items() if n}:
        return True
    stored = json.loads(last)
    return stored.get("digest") != digest or day - stored.get("day", 0) >= REFRESH_DAYS


def build(conn, kind_weights: dict) -> MatchResult:
    """Rebuild the match graph and `match_scores` from the stored evidence (in the caller's transaction)."""
    started = time.monotonic()
    result = MatchResult()
    m = _models(conn)
    canon, copies = fold_copies(conn, m)
    pairs, ev = _Pairs(), _Evidence()
    norms = {SEARCH: np.zeros(m.size), BENCHMARK: np.zeros(m.size)}
    _search(conn, canon, m, pairs, ev, norms[SEARCH])
    _benchmarks(conn, canon, m, pairs, ev, norms[BENCHMARK])
    _card_tables(conn, canon, m, pairs, ev)
    _siblings(conn, canon, m, pairs, ev)
    # who already has competitors: the size neighbourhood is only for the rest
    degree = np.zeros(m.size, np.int64)
    if pairs.a:
        a0, b0 = np.asarray(pairs.a), np.asarray(pairs.b)
        same = (m.group[a0] == m.group[b0]) & (m.group[a0] >= 0)
        code = np.unique(a0[same] * m.size + b0[same])
        np.add.at(degree, code // m.size, 1)
        np.add.at(degree, code % m.size, 1)
    _size_neighbours(conn, canon, m, degree, pairs, ev)
    result.evidence = dict(ev.count)
    result.copies = len(copies)

    for table in ("match_edge_evidence", "match_edges", "match_evidence", "match_copies", "match_scores"):
        conn.execute(f"DELETE FROM {table}")
    conn.executemany("INSERT INTO match_copies VALUES (?, ?, ?)", copies)
    conn.executemany("INSERT INTO match_evidence VALUES (?, ?, ?, ?, ?, ?)", ev.rows)
    if pairs.a:
        ea, eb, parts, weight, inverse = _reduce(pairs, norms, kind_weights, m)
        competitor = (m.group[ea] == m.group[eb]) & (m.group[ea] >= 0)
        evidence_count = np.bincount(inverse, minlength=len(ea))
        task = [m.groups[g] if c else None for g, c in zip(m.group[ea].tolist(), competitor.tolist())]
        conn.executemany("INSERT INTO match_edges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", zip(
            ea.tolist(), eb.tolist(), np.where(competitor, "competitor", "complement").tolist(), task,
            np.round(weight, 6).tolist(), *(np.round(parts[k], 6).tolist() for k in range(len(KINDS))),
            evidence_count.tolist()))
        conn.executemany("INSERT OR IGNORE INTO match_edge_evidence VALUES (?, ?, ?, ?)",
                         ((a, b, e, orjson.dumps(d).decode()) for a, b, e, d in zip(pairs.a, pairs.b, pairs.ev, pairs.detail)))
        result.competitor_edges = int(competitor.sum())
        result.complement_edges = int(len(ea) - competitor.sum())
        _scores(conn, m, copies, ea[competitor], eb[competitor], weight[competitor], pairs, competitor[inverse])
    result.scored = conn.execute("SELECT count(*) FROM match_scores").fetchone()[0]
    result.seconds = time.monotonic() - started
    return result


def _scores(conn, m: _Models, copies, a, b, weight, pairs: _Pairs, pair_is_competitor):
    nodes, rank = pagerank(a, b, weight)
    if not len(nodes):
        return
    score = np.round(_percentile_within(m.group[nodes], rank), 2)
    # times matched: distinct evidence sets (not the size neighbourhood) that put it beside a competitor
    kind = np.asarray(pairs.kind)
    sel = pair_is_competitor & np.isin(kind, COUNTED_KINDS)
    pa, pb, pe = (np.asarray(x)[sel] for x in (pairs.a, pairs.b, pairs.ev))
    node_ev = np.unique(np.stack([np.concatenate([pa, pb]), np.concatenate([pe, pe])]), axis=1)
    times = np.zeros(m.size, np.int64)
    np.add.at(times, node_ev[0], 1)
    by_key = dict(zip(nodes.tolist(), zip(score.tolist(), times[nodes].tolist())))
    rows = list((k, s, t) for k, (s, t) in by_key.items())
    # copies share their canonical model's standing
    rows += [(copy, *by_key[canonical]) for copy, canonical, _via in copies if canonical in by_key]
    conn.executemany("INSERT INTO match_scores VALUES (?, ?, ?)", rows)

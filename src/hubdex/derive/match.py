"""The match graph: which models really compete, from the evidence the crawl stored, with the
evidence for every edge; and each model's match signal (how strongly evidence puts it among rivals).
The evidence itself is read by match_evidence.py (its SQL and public types); this module folds
copies, gates, weighs and writes the graph.

Evidence sets, each a row of `match_evidence` (its kind, what it stands for, its own discount), in the
order of what they say about competition:
  benchmark   one benchmark (dataset with its config, split and metric: GLUE's sst2 is not its mnli)
              that several models report (`evaluations` from model-index and results tables): a
              shared leaderboard. Small sets pair every member; a large one pairs each member with
              the best-adopted members of comparable size (within rivals.SIZE_RATIO);
  card_table  one results table in a card whose rows name other models (`evaluations.subject`);
  spaces      one Space that loads several models (`model_spaces`): people put them side by side;
  search      one query's top results on the day they were fetched (`search_results`): the weakest.
Rules:
  * Copies fold. A quantised copy (relation `quantized`) or a format copy (a GGUF / AWQ / GPTQ / MLX /
    ONNX ... name whose base name is another model's) is the model it copies: it is listed in
    `match_copies` and every piece of evidence it carries counts for its canonical model, once per
    evidence set (the strongest position or value, never the sum over copies).
  * Gates (derive/rivals.py). Competitors share a task group (TASK_GROUPS joins tasks that serve the
    same use); pairs found together across tasks are complements. The same family at another size
    or generation is relation 'family', listed apart. Rivals are within 4x in size unless a
    comparison table names them together, and share a language. A model with no stated task can
    compete on measured evidence or Spaces (never on search alone).
  * Tiers. An edge's tier is its strongest kind (3 measured: benchmark or comparison table; 2 Spaces;
    1 search only) and its weight is (tier - 1 + strength) / 3, so search co-occurrence alone never
    outranks measured evidence. `standing` orders a model's rivals: tier; for measured rivals the
    evidence of competing in tenths (strength, closeness on the shared leaderboards, size, tuning,
    originals before others' finetunes and merges), below that strength in quarters; then the adoption
    of both sides in half-decades of downloads (evidence that ranks alike: the better adopted first).
  * Distinct alternatives. Each side reads the edge with its own standing (`a_standing`, `b_standing`):
    among a model's rivals of one lineage (the name stem of the root of the declared bases, whoever
    the author: three omniASR sizes, Llama and the finetunes built on it) only the first is distinct,
    and a rival of the model's own lineage is none; the others follow the distinct rivals of their tier.
  * Name searches. A query for a name pairs its results at NAME_MATES of its weight: they are found
    together because they share a name.
  * Local strengths. Each kind's strength is the noisy-or of what the sets the two share say of the
    pair (1 - prod(1 - v)), each set discounted by how generic it is (1 / log2(1 + members): a
    benchmark everyone reports, a Space that loads thirty models, a query whose results span tasks).
    It reads nothing beyond the pair's own sets: an edge moves only when one of them moves (a cosine
    over each model's whole evidence moved every edge of a model that gained one unrelated set).
The match signal is local: 100 * S / (S + 1), S the sum of the weights of the model's strongest
MATCH_TOP competitor edges; it moves only when that model's own edges move (a PageRank percentile
moved every model of a task when a few changed). Copies take their canonical model's. A model in no
competitor edge has no match signal (unknown, not 0).

Rebuilding writes only what moved: evidence sets have ids derived from what they stand for, and
every table of the graph is compared with what is stored; rows that did not change are not touched.
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

from . import match_evidence, rivals
from .match_evidence import BenchmarkSet, SearchSet, SpaceSet, TableSet

KINDS = ("search", "benchmark", "card_table", "spaces")   # the kinds of evidence (weights.toml [match])
SEARCH, BENCHMARK, CARD_TABLE, SPACES, BASE = range(5)
EVIDENCE_KINDS = KINDS + ("base_model",)  # base_model: an author's own family (never a rival's evidence)
TIER_OF = {SEARCH: 1, SPACES: 2, BENCHMARK: 3, CARD_TABLE: 3}
TIER_NAMES = {3: "measured", 2: "Spaces", 1: "search only", 0: "family"}
TIER_OF_NAME = {v: k for k, v in TIER_NAMES.items()}
RELATIONS = ("competitor", "family", "complement")

BENCH_ALL_PAIRS = 30       # a benchmark reported by at most this many models pairs them all ...
BENCH_BEST = 3             # ... a larger one pairs each model with this many best-adopted of its size
BENCH_PEERS = 4            # ... and this many nearest to it in adoption
BENCH_SCAN = 400           # (looked for among this many members, best adopted first)
BENCH_NEAR = 2.0           # "comparable size" on a large leaderboard (the gate itself is 4x)
# Name words of an instruction- or chat-tuned model (`-Instruct`, `-it`, `-chat`, `-sft`, `-dpo`).
TUNED_WORD = re.compile(r"(?:^|[-_.])(instruct|chat|it|sft|dpo|orpo|rlhf)(?=$|[-_.\d])", re.I)
# A query for a name (a family's, or a word of model names) finds the models that carry it: two results
# stand together because they share a word of their names (Orion-Classifier-small and
# Orion-Classifier-base-multilingual of another author), which says less of competing than a task's own
# top list does; their pairs count at this share of the query's weight.
NAME_MATES = 0.5
MATCH_TOP = 10             # the competitor edges the match signal sums
MIN_BENCHMARK = 0.25       # a benchmark strength below this (one leaderboard of more than ~15), alone, is no rivalry

# Tasks that serve the same use: models in one group compete. Every other task is its own group.
TASK_GROUPS = {
    "feature-extraction": "embeddings", "sentence-similarity": "embeddings",
    "text-generation": "text generation", "text2text-generation": "text generation",
    "image-text-to-text": "vision-language", "image-to-text": "vision-language",
    "visual-question-answering": "vision-language",
    "text-classification": "text classification", "zero-shot-classification": "text classification",
}
UNKNOWN_TASK = "task unknown"

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
    family_edges: int = 0
    complement_edges: int = 0
    gated: dict = field(default_factory=dict)      # gate -> pairs it kept from being rivals
    scored: int = 0
    written: dict = field(default_factory=dict)    # table -> rows written (inserted, changed or deleted)
    seconds: float = 0.0
    phases: dict = field(default_factory=dict)     # step -> seconds (update(): where its time goes)
    mode: str = "build"                            # "build": everything; "update": what changed models touch
    sets_rebuilt: int = 0                          # update(): the evidence sets it recomputed
    pairs_reduced: int = 0                         # update(): the pairs it reduced again
    touched: dict = field(default_factory=dict)    # update(): changed models by what moved of them

    def summary(self) -> str:
        sets = ", ".join(f"{self.evidence.get(k, 0):,} {k}" for k in KINDS)
        gated = ", ".join(f"{n:,} by {g}" for g, n in self.gated.items() if n) or "none"
        written = sum(self.written.values())
        if self.mode == "update":
            return (f"match graph updated: {self.sets_rebuilt:,} evidence sets that hold a changed model "
                    f"computed again ({sets}), {self.pairs_reduced:,} pairs reduced again "
                    f"({self.competitor_edges:,} competitor, {self.family_edges:,} family and "
                    f"{self.complement_edges:,} complement edges among them), {self.scored:,} models' scores "
                    f"looked at; {written:,} rows written")
        return (f"match graph: {self.competitor_edges:,} competitor, {self.family_edges:,} family and "
                f"{self.complement_edges:,} complement edges from {sets} evidence sets; gated out {gated}; "
                f"{self.copies:,} copies folded; {self.scored:,} models scored; {written:,} rows written")


class _Pairs:
    """Pair contributions, appended per evidence set and reduced once (numpy, not a dict of pairs)."""

    def __init__(self):
        self.a, self.b, self.kind, self.value, self.ev, self.close = [], [], [], [], [], []
        self.detail: list[dict] = []

    def add(self, a: int, b: int, kind: int, value: float, ev: int, detail: dict, close: float = math.nan):
        """`close`: how near the two stand in the set (1 - the gap between their percentiles on one
        leaderboard; NaN where the set orders nobody)."""
        if a == b:
            return
        if a > b:
            a, b = b, a
            detail = _swap(detail)
        self.append(a, b, kind, value, ev, detail, close)

    def append(self, a: int, b: int, kind: int, value: float, ev: int, detail, close: float = math.nan):
        """One contribution as stored (a < b, its detail already in that order): what add() keeps,
        and what an update reads back from match_edge_evidence."""
        self.a.append(a)
        self.b.append(b)
        self.kind.append(kind)
        self.value.append(value)
        self.ev.append(ev)
        self.detail.append(detail)
        self.close.append(close)


def _swap(detail: dict) -> dict:
    """A detail names its pair's two sides in order: swapped when the pair is stored the other way."""
    out = dict(detail)
    for k, v in detail.items():
        if isinstance(v, list) and len(v) == 2 and k != "table":
            out[k] = [v[1], v[0]]
    return out


def set_discount(members: int) -> float:
    """1 / log2(1 + n), n the set's members counted in steps of a quarter power of two beyond 8: a
    leaderboard of 2,000 that gains one model says the same of its pairs as before (every edge of its
    members would otherwise move, at the fifth decimal, and a shown score now and then with it)."""
    n = members if members <= 8 else 2 ** (round(4 * math.log2(members)) / 4)
    return 1.0 / math.log2(1 + n)


def evidence_id(kind: str, identity: str) -> int:
    """An evidence set's id, from what it stands for: the same set keeps its id from build to build,
    so its edges' evidence rows are rewritten only when the set itself moved."""
    return int.from_bytes(hashlib.blake2b(f"{kind}\x00{identity}".encode(), digest_size=8).digest(), "big") >> 1


class _Evidence:
    def __init__(self):
        self.rows: dict[int, tuple] = {}
        self.count = {k: 0 for k in KINDS}

    def add(self, kind: int, identity: str, label: str, source: dict, members: int, weight: float) -> int:
        eid = evidence_id(EVIDENCE_KINDS[kind], identity)
        self.rows[eid] = (eid, EVIDENCE_KINDS[kind], label, json.dumps(source, sort_keys=True), members,
                          round(weight, 6))
        self.count[EVIDENCE_KINDS[kind]] = self.count.get(EVIDENCE_KINDS[kind], 0) + 1
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


def _fold_named_copies(conn, marked: dict, canon, rows: list):
    """Fold each name-marked format copy (key -> its name without the format word) into the most
    downloaded model of that name, adding its row; then follow copies of copies to the first model
    that is not one. Returns the folded canon array (rows gains the new folds)."""
    if marked:
        best = match_evidence.most_downloaded_named(conn, set(marked.values()))
        for key, base in marked.items():
            hit = best.get(base)
            if hit is not None and hit != key:
                canon[key] = hit
                rows.append([key, hit, "format copy by name"])
    for _ in range(6):  # a copy of a copy folds into the first model that is not one
        canon = canon[canon]
    return canon


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
    rows_ = conn.execute(f"SELECT key, {REPO_NAME} FROM models WHERE {REPO_NAME} >= ''").fetchall()
    # The quick filter runs once over all names joined (in C), not once per name in Python: a
    # million names, of which a few percent carry a format word.
    names = [r[1] for r in rows_]
    text = "\n".join(names)
    ends = np.cumsum(np.fromiter(map(len, names), np.int64, len(names)) + 1)
    hits = np.unique(np.searchsorted(ends, [h.start() for h in FORMAT_HINT.finditer(text)], side="right"))
    del text, names
    quantized = {r[0] for r in rows}
    for i in hits.tolist():
        key, name = rows_[i]
        if key in quantized:
            continue
        base = FORMAT_WORD.sub("", name)
        if base and base != name:
            marked[key] = base
    del rows_
    canon = _fold_named_copies(conn, marked, canon, rows)
    for r in rows:
        r[1] = int(canon[r[0]])
    rows = [r for r in rows if r[0] != r[1]]
    removed = set()  # a removed copy folds (harmlessly: it has no evidence) but is not listed
    for at in range(0, len(rows), 500):
        part = [r[0] for r in rows[at:at + 500]]
        removed.update(k for (k,) in conn.execute(
            f"SELECT key FROM models WHERE key IN ({','.join('?' * len(part))}) AND removed_at IS NOT NULL", part))
    return canon, [tuple(r) for r in rows if r[0] not in removed]


# -- facts of the models evidence names -------------------------------------------------------------
@dataclass
class _Facts:
    params: np.ndarray       # parameters (stored, else stated by the name), 0 unknown
    adoption: np.ndarray     # half-decades of 30-day downloads: floor(2 * log10(1 + downloads))
    use: np.ndarray          # log10(1 + 30-day downloads)
    author: np.ndarray       # author code (-1 unknown)
    stem: np.ndarray         # family stem code (-1 unknown)
    langs: dict              # key -> languages stated (only models that state some)
    ids: dict                # key -> id
    tuned: dict              # key -> instruction- or chat-tuned by its name
    derived: np.ndarray      # declares a base model of another author (a finetune, adapter or merge of theirs)


def _facts(conn, m: _Models, keys: set) -> _Facts:
    f = _Facts(np.zeros(m.size, np.int64), np.zeros(m.size, np.int64), np.zeros(m.size), np.full(m.size, -1, np.int32),
               np.full(m.size, -1, np.int32), {}, {}, {}, np.zeros(m.size, bool))
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS match_keys (key INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM temp.match_keys")
    conn.executemany("INSERT INTO temp.match_keys VALUES (?)", ((int(k),) for k in sorted(keys)))
    authors, stems = {}, {}
    for key, model_id, params, downloads in conn.execute(
            "SELECT m.key, m.id, coalesce(m.params, 0), coalesce(m.downloads, 0) FROM temp.match_keys t "
            "JOIN models m ON m.key = t.key"):
        f.ids[key] = model_id
        f.tuned[key] = bool(TUNED_WORD.search(model_id.split("/")[-1]))
        f.params[key] = params if params > 0 else rivals.params_from_name(model_id)
        f.use[key] = math.log10(1 + max(downloads, 0))
        f.adoption[key] = int(2 * f.use[key])
        f.author[key] = authors.setdefault(model_id.rpartition("/")[0].lower(), len(authors))
        f.stem[key] = stems.setdefault(rivals.family_stem(model_id), len(stems))
    tags: dict = {}
    for key, tag in conn.execute("SELECT t.key, g.tag FROM temp.match_keys t JOIN model_tags g ON g.model_key = t.key "
                                 "WHERE length(g.tag) <= 3 OR g.tag IN (?, 'conversational')", (rivals.MULTILINGUAL,)):
        if tag == "conversational":  # the Hub tags chat models (a chat template): tuned, whatever the name
            f.tuned[key] = True
        else:
            tags.setdefault(key, []).append(tag)
    for key, model_id in f.ids.items():
        langs = rivals.languages(tags.get(key, ()), model_id)
        if langs:
            f.langs[key] = langs
    # (the parent need not be in the database: the Hub's `base_model` often names a repo since renamed,
    # and a merge's names its recipe; what counts is that the author built on someone else's model)
    for key, parent in conn.execute("SELECT t.key, r.parent FROM temp.match_keys t JOIN model_relations r "
                                    "ON r.model_key = t.key AND r.relation IN ('finetune', 'adapter', 'merge')"):
        if parent.rpartition("/")[0].lower() != f.ids[key].rpartition("/")[0].lower():
            f.derived[key] = True
    return f


def _base_links(conn, canon) -> list[tuple[int, int, str, bool]]:
    """(child, parent, parent id, same author) for every declared base (finetune, adapter, merge)
    between canonical models where the child is one the evidence names."""
    out = []
    for child, parent, cid, pid in conn.execute("""SELECT t.key, p.key, c.id, p.id FROM temp.match_keys t
            JOIN model_relations r ON r.model_key = t.key AND r.relation IN ('finetune', 'adapter', 'merge')
            JOIN models p ON p.id = r.parent AND p.removed_at IS NULL
            JOIN models c ON c.key = t.key"""):
        c, p = int(canon[child]), int(canon[parent])
        if c != p:
            out.append((c, p, pid, cid.rpartition("/")[0].lower() == pid.rpartition("/")[0].lower()))
    return out


# -- evidence, as pairs (match_evidence reads it) ---------------------------------------------------
def _search_label(endpoint, query, params) -> str:
    p = dict(json.loads(params))
    if endpoint == "quicksearch":
        return f"quicksearch '{query}'"
    if not query:
        return f"top {p.get('pipeline_tag')} models by {p.get('sort')}"
    return f"search '{query}' by {p.get('sort', 'downloads')}"


def _add_search(s: SearchSet, m: _Models, pairs, ev):
    qid, endpoint, query, params, qweight, day = s.query
    kept = s.members
    groups = [int(m.group[c]) for _p, c in kept]
    share = max(groups.count(g) for g in set(groups)) / len(groups)  # results that span tasks are generic
    weight = qweight * share * (NAME_MATES if query else 1.0)
    eid = ev.add(SEARCH, str(qid), _search_label(endpoint, query, params), {"query_id": qid, "day": day}, len(kept),
                 weight)
    strength = [weight / math.log2(1 + p) for p, _c in kept]  # the first places say most
    for i in range(len(kept)):
        pi, ci = kept[i]
        for j in range(i + 1, len(kept)):
            pj, cj = kept[j]
            pairs.add(ci, cj, SEARCH, strength[i] * strength[j], eid, {"positions": [pi, pj]})


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _add_benchmark(g: BenchmarkSet, f: _Facts, pairs, ev):
    bk, label, source, best = g
    n = len(best)
    weight = set_discount(n)  # a benchmark everyone reports says little about who competes
    eid = ev.add(BENCHMARK, bk, label, source, n, weight)
    members = sorted(best)
    # Where each stands on the board, 0-1 (mid-rank of ties): two models close on a leaderboard contend
    # for the same place, whichever way the metric runs (the gap is the same).
    values = np.array([_number(best[c].value) for c in members])
    ordered = np.sort(values)  # (NaN sorts last and stands nowhere: its closeness is NaN)
    pct = dict(zip(members, np.where(np.isnan(values), np.nan, (np.searchsorted(ordered, values, "left")
               + np.searchsorted(ordered, values, "right") - 1) / (2.0 * (n - 1))).tolist()))

    paired = set()

    def add(ci, cj):  # once per pair and set, whichever side picked the other
        if (min(ci, cj), max(ci, cj)) in paired:
            return
        paired.add((min(ci, cj), max(ci, cj)))
        (vi, ri, _o), (vj, rj, _o2) = best[ci], best[cj]
        pairs.add(ci, cj, BENCHMARK, weight, eid, {"values": [vi, vj], "rows": [list(ri), list(rj)]},
                  1.0 - abs(pct[ci] - pct[cj]))

    if n <= BENCH_ALL_PAIRS:
        for i in range(n):
            for j in range(i + 1, n):
                add(members[i], members[j])
        return
    # A large leaderboard: each member beside members of comparable size (within BENCH_NEAR in
    # parameters), never beside everyone: the BENCH_BEST best adopted (what a chooser would weigh it
    # against; an instruction-tuned model beside instruction-tuned ones first, a base beside bases)
    # and the BENCH_PEERS nearest in adoption (its peers: models of its standing on that board).
    keys = np.array(members, np.int64)
    tuned = np.array([f.tuned.get(int(k), False) for k in keys])
    orders = {t: keys[np.lexsort((keys, -f.adoption[keys], tuned != t))] for t in (False, True)}
    by_use = keys[np.lexsort((keys, f.use[keys]))]
    use = f.use[by_use]
    where = {int(k): i for i, k in enumerate(by_use.tolist())}

    def near(c, o):
        pc, po = int(f.params[c]), int(f.params[o])
        return o != c and not (pc and po and max(pc, po) > BENCH_NEAR * min(pc, po))

    for c in members:
        found = 0
        order = orders[f.tuned.get(c, False)]
        for at in range(min(len(order), BENCH_SCAN)):
            o = int(order[at])
            if near(c, o):
                add(c, o)
                found += 1
                if found == BENCH_BEST:
                    break
        i, lo, hi, found, steps = where[c], where[c] - 1, where[c] + 1, 0, 0
        chat = f.tuned.get(c, False)  # an instruction-tuned model's peers are instruction-tuned
        while found < BENCH_PEERS and steps < BENCH_SCAN and (lo >= 0 or hi < len(by_use)):
            steps += 1
            if hi >= len(by_use) or (lo >= 0 and use[i] - use[lo] <= use[hi] - use[i]):
                o, lo = int(by_use[lo]), lo - 1
            else:
                o, hi = int(by_use[hi]), hi + 1
            if near(c, o) and (not chat or f.tuned.get(o, False)):
                add(c, o)
                found += 1


def _add_space(s: SpaceSet, pairs, ev):
    space, members = s
    weight = set_discount(len(members))  # a Space that loads two models compares them; one of 30 less so
    eid = ev.add(SPACES, space, f"Space {space} loads both", {"space_id": space}, len(members), weight)
    for i in range(len(members)):
        for j in range(i + 1, len(members)):
            pairs.add(members[i], members[j], SPACES, weight, eid, {"space": space})


def _add_table(t: TableSet, pairs, ev):
    key, me, table, model_id, own_value, named = t
    eid = ev.add(CARD_TABLE, f"{key}\x1f{table}", f"comparison table in {model_id}'s card ({table})",
                 {"model_key": key, "table": table}, len(named) + 1, 1.0)
    for c, (seq, value, name) in named.items():
        pairs.add(me, c, CARD_TABLE, 1.0, eid,
                  {"values": [own_value, value], "names": [model_id, name], "row_seq": seq, "table": table})


def _add_base_links(links, pairs, ev):
    """The family an author made: each model beside the base it declares, when the same author made
    both (Llama-3.1-8B-Instruct and Llama-3.1-8B). Family, never rivals; listed apart."""
    by_parent: dict = {}
    for child, parent, pid, same_author in links:
        if same_author:
            by_parent.setdefault((parent, pid), set()).add(child)
    for (parent, pid), children in sorted(by_parent.items()):
        eid = ev.add(BASE, str(parent), f"built by its author on {pid}", {"parent_key": parent}, len(children) + 1, 1.0)
        for c in sorted(children):
            pairs.add(parent, c, BASE, 1.0, eid, {"parent": pid})


# -- the graph -------------------------------------------------------------------------------------
@dataclass
class _Edges:
    a: np.ndarray
    b: np.ndarray
    strength: np.ndarray     # (len(EVIDENCE_KINDS), edges): each kind's strength, 0-1
    inverse: np.ndarray      # pair contribution -> edge
    close: np.ndarray        # mean closeness of the two on the leaderboards they share, NaN where none


def _reduce(pairs: _Pairs, m: _Models) -> _Edges:
    """One edge per pair; each kind's strength is the noisy-or of the pair's own contributions of that
    kind, 1 - prod(1 - v): it depends on the evidence sets the two share and on nothing else, so an
    edge moves only when one of its own sets moves."""
    a = np.asarray(pairs.a, np.int64)
    b = np.asarray(pairs.b, np.int64)
    kind = np.asarray(pairs.kind, np.int8)
    miss = np.log1p(-np.clip(np.asarray(pairs.value, float), 0.0, 0.999999))
    uniq, inverse = np.unique(a * m.size + b, return_inverse=True)
    n = len(uniq)
    # summed in one order (pair, set) whatever order the contributions came in: an update, which
    # reads most of a pair's contributions back from the table, sums them as a full build does
    order = np.lexsort((np.asarray(pairs.ev, np.int64), inverse))
    strength = np.zeros((len(EVIDENCE_KINDS), n))
    for k in range(len(EVIDENCE_KINDS)):
        sel = order[kind[order] == k]
        strength[k] = 1.0 - np.exp(np.bincount(inverse[sel], weights=miss[sel], minlength=n))
    close = np.asarray(pairs.close, float)
    known = order[~np.isnan(close[order])]
    count = np.bincount(inverse[known], minlength=n)
    total = np.bincount(inverse[known], weights=close[known], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_close = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return _Edges(uniq // m.size, uniq % m.size, np.round(np.clip(strength, 0.0, 1.0), 6), inverse, mean_close)


def _classify(e: _Edges, m: _Models, f: _Facts, links) -> tuple[np.ndarray, dict]:
    """Each edge's relation code (0 competitor, 1 family, 2 complement, -1 dropped by a gate) and how
    many pairs each gate kept from being rivals."""
    ga, gb = m.group[e.a], m.group[e.b]
    s = e.strength
    same = (ga == gb) & (ga >= 0)
    unknown = (ga < 0) | (gb < 0)
    strong = (s[BENCHMARK] > 0) | (s[CARD_TABLE] > 0) | (s[SPACES] > 0)
    size = len(m.group)
    base = np.zeros(len(e.a), bool)
    if links:
        link_codes = np.unique([min(c, p) * size + max(c, p) for c, p, _pid, _same in links])
        base = np.isin(e.a * size + e.b, link_codes)
    family = ((f.author[e.a] == f.author[e.b]) & (f.stem[e.a] == f.stem[e.b]) & (f.stem[e.a] >= 0)) | base
    sized = rivals.size_ok(f.params[e.a], f.params[e.b]) | (s[CARD_TABLE] > 0)
    spoken = np.ones(len(e.a), bool)
    for i in np.flatnonzero(same | unknown).tolist():
        la, lb = f.langs.get(int(e.a[i])), f.langs.get(int(e.b[i]))
        if la and lb and not rivals.languages_compatible(la, lb):
            spoken[i] = False
    could = same | (unknown & strong)            # a model with no stated task competes on evidence
    relation = np.full(len(e.a), -1, np.int8)
    relation[~same & ~unknown] = 2               # found together across tasks: complements
    relation[(same | unknown) & family & (s[BASE] > 0) | (could & family)] = 1
    # one shared leaderboard of many, and nothing else, is too thin to call two models rivals
    thin = ((s[BENCHMARK] > 0) & (s[BENCHMARK] < MIN_BENCHMARK) & (s[CARD_TABLE] == 0) & (s[SPACES] == 0)
            & (s[SEARCH] == 0))
    rival = could & ~family
    gated = {"size": int((rival & ~sized).sum()), "language": int((rival & sized & ~spoken).sum()),
             "one large leaderboard only": int((rival & sized & spoken & thin).sum()),
             "task unknown, search only": int((unknown & ~same & ~strong & ~family).sum())}
    relation[rival & sized & spoken & ~thin] = 0
    return relation, gated


def _weights(e: _Edges, kind_weights: dict, f: _Facts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weight, tier, standing) of each edge (see the module's docstring)."""
    s = e.strength
    # a comparison table that names a model far from its own size (past the size gate) says they were
    # put together, not that they compete closely: it counts as Spaces do, after the measured rivals
    table_near = np.where(rivals.size_ok(f.params[e.a], f.params[e.b]), s[CARD_TABLE], 0.0)
    table_far = s[CARD_TABLE] - table_near
    tier = np.where((s[BENCHMARK] > 0) | (table_near > 0), 3, np.where((s[SPACES] > 0) | (table_far > 0), 2,
                                                                       np.where(s[SEARCH] > 0, 1, 0)))
    primary = np.select([tier == 3, tier == 2, tier == 1], [np.maximum(s[BENCHMARK], table_near),
                                                           np.maximum(s[SPACES], table_far), s[SEARCH]], 0.0)
    w = np.array([kind_weights.get(k, 0.0) for k in KINDS], float)
    w = w / w.sum() if w.sum() > 0 else w
    support = (s[: len(KINDS)] * w[:, None]).sum(axis=0)
    within = np.minimum(0.8 * primary + 0.2 * support, 0.999)
    weight = np.round(np.where(tier > 0, (tier - 1 + within) / 3, 0.0), 6)
    adoption = f.adoption[e.a] + f.adoption[e.b]
    # Measured rivals are ordered by what the measurements say of competing, in tenths: the evidence's
    # strength, how close the two stand on the leaderboards they share, how close in size, whether both
    # are instruction-tuned or both not, and whether each is an original (not a finetune, adapter or
    # merge of another author's model); adoption (half-decades of downloads of both, at most 36, under
    # one tenth's 40) only orders rivals that evidence ranks alike. Below measured evidence: strength in
    # quarters, then adoption (search and Spaces say who people look at; adoption is what they use).
    close = np.where(np.isnan(e.close), 0.5, e.close)
    pa, pb = f.params[e.a].astype(float), f.params[e.b].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.abs(np.log(np.maximum(pa, 1) / np.maximum(pb, 1))) / math.log(rivals.SIZE_RATIO)
    sized = np.where((pa > 0) & (pb > 0), 1.0 - np.minimum(gap, 1.0), 0.5)
    alike = (np.array([f.tuned.get(int(k), False) for k in e.a.tolist()])
             == np.array([f.tuned.get(int(k), False) for k in e.b.tolist()]))
    original = (~f.derived[e.a]).astype(float) + (~f.derived[e.b]).astype(float)
    measured = 0.4 * within + 0.15 * close + 0.15 * sized + 0.1 * alike + 0.1 * original
    standing = np.where(tier == 3, 3000 + 40 * np.floor(np.minimum(measured, 0.999) * 10) + adoption,
                        tier * 1000 + np.floor(within * 4) * 100 + adoption)
    return weight, tier, standing.astype(float)


DISTINCT = 500   # what a distinct alternative adds to its standing in one model's list (a standing is < 500 within its tier)
# ... where the evidence is Spaces or search only: 1.5 decades of downloads. There a lineage's second
# member (FLUX.1-dev after FLUX.1-schnell, with 13,574 downloads) still comes before a distinct
# search result that almost nobody uses (a hundred downloads): distinctness orders rivals of about
# the same adoption, and no more.
DISTINCT_UNMEASURED = 3


def _side_standings(a: np.ndarray, b: np.ndarray, competitor: np.ndarray, standing: np.ndarray,
                    weight: np.ndarray, tier: np.ndarray, lineage: np.ndarray, viewers=None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(a_standing, b_standing): the order each side reads the other in. A model's list leads with
    distinct alternatives: among rivals of one lineage (the same family, or one base model's tree:
    Hermes-3-Llama-3.1-8B is of Llama-3.1-8B's) only the first, in the shared order, is distinct, and a
    rival of the model's own lineage is none; the rest follow the distinct rivals of their tier (below
    measured evidence: those of about their adoption, DISTINCT_UNMEASURED).
    `viewers` (an update): only these models' sides are computed (the edges given must hold every
    competitor edge of each), the others are left as `standing`."""
    a_side, b_side = standing.copy(), standing.copy()
    idx = np.flatnonzero(competitor)
    if not len(idx):
        return a_side, b_side
    viewer = np.concatenate([a[idx], b[idx]])
    other = np.concatenate([b[idx], a[idx]])
    edge = np.concatenate([idx, idx])
    side = np.concatenate([np.zeros(len(idx), np.int8), np.ones(len(idx), np.int8)])
    order = np.lexsort((a[edge] + b[edge], -weight[edge], -standing[edge], viewer))  # the readers' order
    viewer, other, edge, side = viewer[order], other[order], edge[order], side[order]
    lin = lineage[other]
    _u, group = np.unique(np.stack([viewer, lin]), axis=1, return_inverse=True)
    first = np.zeros(len(viewer), bool)
    first[np.unique(group.ravel(), return_index=True)[1]] = True
    distinct = first & (lin != lineage[viewer])
    bonus = np.where(distinct, np.where(tier[edge] == 3, DISTINCT, DISTINCT_UNMEASURED), 0)
    mine = np.ones(len(viewer), bool) if viewers is None else np.isin(viewer, np.fromiter(viewers, np.int64))
    a_pick, b_pick = (side == 0) & mine, (side == 1) & mine
    a_side[edge[a_pick]] += bonus[a_pick]
    b_side[edge[b_pick]] += bonus[b_pick]
    return a_side, b_side


def _lineage(conn, canon, keys: set, wanted, size: int) -> np.ndarray:
    """Each wanted model's lineage code: the name stem of the root of its declared bases (finetune,
    adapter, merge: one parent each, the lowest canonical key; followed while the parent is itself a
    model the evidence names, up to 8 steps; a model with none is its own root), whoever the author:
    `Orenguteng/Llama-3.1-8B-Lexi-Uncensored-V2` is of Llama's lineage by its own name,
    `NousResearch/Hermes-3-Llama-3.1-8B` through the base it declares. -2 - key for every other model
    (a lineage of its own). Codes are only ever compared with each other."""
    lineage = -2 - np.arange(size, dtype=np.int64)
    wanted = {int(k) for k in wanted}
    if not wanted:
        return lineage
    ids, parent = {}, {}
    frontier, seen = set(wanted), set()
    for _step in range(9):
        if not frontier:
            break
        _temp_keys(conn, "match_lineage", frontier)
        if not seen:
            ids = dict(conn.execute("SELECT m.key, m.id FROM temp.match_lineage t JOIN models m ON m.key = t.key"))
        for child, pkey, pid in conn.execute("""SELECT t.key, p.key, p.id FROM temp.match_lineage t
                JOIN model_relations r ON r.model_key = t.key AND r.relation IN ('finetune', 'adapter', 'merge')
                JOIN models p ON p.id = r.parent AND p.removed_at IS NULL"""):
            c, p = int(canon[child]), int(canon[pkey])
            if c != p and (c not in parent or p < parent[c][0]):
                parent[c] = (p, pid)
        seen |= frontier
        frontier = {parent[c][0] for c in frontier if c in parent} - seen
        frontier &= keys
    conn.execute("DROP TABLE IF EXISTS temp.match_lineage")
    codes: dict = {}
    for key, model_id in ids.items():
        k, root, steps = key, model_id, 0
        while k in parent and steps < 8:
            k, root = parent[k]
            steps += 1
        lineage[key] = codes.setdefault(rivals.family_stem(root), len(codes))
    return lineage


def _scores(m: _Models, copies, a, b, weight, pairs: _Pairs, pair_edge_competitor) -> list:
    """(model, score, times matched) for every model in a competitor edge, and its copies."""
    if not len(a):
        return []
    node = np.concatenate([a, b])
    w = np.concatenate([weight, weight])
    order = np.lexsort((-w, node))
    node, w = node[order], w[order]
    start = np.r_[0, np.flatnonzero(node[1:] != node[:-1]) + 1]
    nth = np.arange(len(node)) - np.repeat(start, np.diff(np.r_[start, len(node)]))
    keep = nth < MATCH_TOP
    nodes = node[start]
    total = np.bincount(node[keep], weights=w[keep], minlength=m.size)[nodes]
    score = np.round(100 * total / (total + 1), 2)
    # times matched: distinct evidence sets (of the weighed kinds) that put it beside a competitor
    kind = np.asarray(pairs.kind)
    sel = pair_edge_competitor & (kind < len(KINDS))
    pa, pb, pe = (np.asarray(x, np.int64)[sel] for x in (pairs.a, pairs.b, pairs.ev))
    times = {}
    if len(pa):
        node_ev = np.unique(np.stack([np.concatenate([pa, pb]), np.concatenate([pe, pe])]), axis=1)
        keys, counts = np.unique(node_ev[0], return_counts=True)
        times = dict(zip(keys.tolist(), counts.tolist()))
    by_key = {k: (s, times.get(k, 0)) for k, s in zip(nodes.tolist(), score.tolist())}
    rows = [(k, s, t) for k, (s, t) in by_key.items()]
    rows += [(copy, *by_key[canonical]) for copy, canonical, _via in copies if canonical in by_key]
    return rows


def _sync(conn, table: str, columns: tuple, nkey: int, rows) -> int:
    """Make `table` hold exactly `rows`, writing only the rows that differ: what did not move is not
    touched (a rebuild with the same evidence writes nothing)."""
    cols = ", ".join(columns)
    new = {}
    for r in rows:
        new.setdefault(tuple(r[:nkey]), tuple(r))  # the first evidence of a fact wins
    old = {tuple(r[:nkey]): tuple(r) for r in conn.execute(f"SELECT {cols} FROM {table}")}
    gone = [k for k in old if k not in new]
    moved = [r for k, r in new.items() if old.get(k) != r]
    where = " AND ".join(f"{c} = ?" for c in columns[:nkey])
    conn.executemany(f"DELETE FROM {table} WHERE {where}", gone)
    conn.executemany(f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({', '.join('?' * len(columns))})", moved)
    return len(gone) + len(moved)


def _contribution_rows(pairs: _Pairs) -> list:
    """(a, b, set, detail, kind, value, close) of every contribution: what each set says of each pair
    (close NULL where the set orders nobody: SQLite stores no NaN)."""
    return [(a, b, x, d if isinstance(d, str) else orjson.dumps(d).decode(), k, v, None if c != c else c)
            for a, b, x, d, k, v, c in zip(pairs.a, pairs.b, pairs.ev, pairs.detail, pairs.kind, pairs.value,
                                           pairs.close)]


EVIDENCE_COLUMNS = ("id", "kind", "label", "source", "members", "weight")
CONTRIBUTION_COLUMNS = ("a_key", "b_key", "evidence_id", "detail", "kind", "value", "close")
EDGE_COLUMNS = ("a_key", "b_key", "relation", "task", "weight", "search", "benchmark", "card_table", "sibling", "size",
                "evidence", "spaces", "tier", "standing", "a_standing", "b_standing")


def build(conn, kind_weights: dict) -> MatchResult:
    """Rebuild the match graph and `match_scores` from the stored evidence (in the caller's
    transaction), writing only the rows that moved."""
    started = time.monotonic()
    result = MatchResult()
    m = _models(conn)
    canon, copies = fold_copies(conn, m)
    evidence = match_evidence.read(conn, canon)
    keys = evidence.keys()
    f = _facts(conn, m, keys)
    links = _base_links(conn, canon)
    pairs, ev = _Pairs(), _Evidence()
    for q in evidence.searches:
        _add_search(q, m, pairs, ev)
    for g in evidence.benchmarks:
        _add_benchmark(g, f, pairs, ev)
    for t in evidence.tables:
        _add_table(t, pairs, ev)
    for sp in evidence.spaces:
        _add_space(sp, pairs, ev)
    _add_base_links(links, pairs, ev)
    conn.execute("DROP TABLE IF EXISTS temp.match_keys")
    result.evidence = dict(ev.count)
    result.copies = len(copies)

    edge_rows, edge_evidence, score_rows = [], [], []
    if pairs.a:
        e = _reduce(pairs, m)
        relation, result.gated = _classify(e, m, f, links)
        weight, tier, standing = _weights(e, kind_weights, f)
        a_standing, b_standing = _side_standings(e.a, e.b, relation == 0, standing, weight, tier,
                                                 _lineage(conn, canon, keys, keys, m.size))
        ga, gb = m.group[e.a], m.group[e.b]
        task_code = np.where(ga >= 0, ga, gb)
        kept = np.flatnonzero(relation >= 0)
        evidence_count = np.bincount(e.inverse, minlength=len(e.a))
        s = e.strength
        for i in kept.tolist():
            rel = int(relation[i])
            task = None if rel == 2 else (m.groups[int(task_code[i])] if task_code[i] >= 0 else UNKNOWN_TASK)
            edge_rows.append((int(e.a[i]), int(e.b[i]), RELATIONS[rel], task, float(weight[i]),
                              float(s[SEARCH, i]), float(s[BENCHMARK, i]), float(s[CARD_TABLE, i]), 0.0, 0.0,
                              int(evidence_count[i]), float(s[SPACES, i]), int(tier[i]), float(standing[i]),
                              float(a_standing[i]), float(b_standing[i])))
        # every contribution, gated pairs' too: an update re-reduces a pair from these (see update())
        edge_evidence = _contribution_rows(pairs)
        competitor = relation == 0
        result.competitor_edges = int(competitor.sum())
        result.family_edges = int((relation == 1).sum())
        result.complement_edges = int((relation == 2).sum())
        score_rows = _scores(m, copies, e.a[competitor], e.b[competitor], weight[competitor], pairs,
                             competitor[e.inverse])
    evidence_used = {r[2] for r in edge_evidence}
    w = result.written
    w["match_copies"] = _sync(conn, "match_copies", ("model_key", "canonical_key", "via"), 1, copies)
    w["match_evidence"] = _sync(conn, "match_evidence", EVIDENCE_COLUMNS, 1,
                                [r for eid, r in sorted(ev.rows.items()) if eid in evidence_used])
    w["match_edges"] = _sync(conn, "match_edges", EDGE_COLUMNS, 2, edge_rows)
    w["match_edge_evidence"] = _sync(conn, "match_edge_evidence", CONTRIBUTION_COLUMNS, 3, edge_evidence)
    w["match_scores"] = _sync(conn, "match_scores", ("model_key", "score", "times_matched"), 1, score_rows)
    inputs = input_digests(conn, evidence.keys() | {c for c, _p, _via in copies})
    w["match_inputs"] = _sync(conn, "match_inputs", INPUT_COLUMNS, 1, [(k, *v) for k, v in sorted(inputs.items())])
    result.scored = len(score_rows)
    result.seconds = time.monotonic() - started
    return result


# The reasons a model changed (derive/changes.py) that can move the graph: its task, relations, name,
# card, existence, and its figures (the adoption that orders rivals and picks a large leaderboard's).
EVIDENCE_REASONS = {"new", "renamed", "metadata", "details", "card", "removed", "metrics"}
REFRESH_DAYS = 7


def inputs_digest(conn, kind_weights: dict) -> str:
    """What the last build read, beyond the models' changes: the weights, this module's code, the
    evidence reader's and the gates', the search results stored (each query's fetch day and result
    count), and the evidence crawl's results and Spaces (a leaderboard's new rows are no model's change)."""
    code = hashlib.blake2b(b"".join(pathlib.Path(mod.__file__).read_bytes() for mod in (match_evidence, rivals))
                           + pathlib.Path(__file__).read_bytes(), digest_size=8).hexdigest()
    searches = conn.execute("SELECT count(*), coalesce(sum(fetched_day), 0), coalesce(sum(results), 0), "
                            "coalesce(max(fetched_at), '') FROM search_queries").fetchone()
    crawled = []
    if match_evidence.has_table(conn, "eval_results"):
        # (the evidence crawl's rows carry its run; a card's or a listing's come with a model's change)
        crawled += conn.execute("SELECT count(*), coalesce(max(id), 0), coalesce(max(fetched_at), '') "
                                "FROM eval_results WHERE run_id IS NOT NULL").fetchone()
    if match_evidence.has_table(conn, "space_models"):
        crawled += conn.execute("SELECT count(*), coalesce(max(day), 0) FROM space_models").fetchone()
    return json.dumps([sorted(kind_weights.items()), code, list(searches)] + ([crawled] if crawled else []))


def needs_rebuild(digest: str, changes: dict, rebuild_all: bool, day: int, last: str | None) -> bool:
    """False only when nothing the graph reads moved since the last build: `digest` is this derive's
    `inputs_digest`, `last` the stored digest and day of the last build."""
    return plan(digest, changes, rebuild_all, day, last) != "keep"


def plan(digest: str, changes: dict, rebuild_all: bool, day: int, last: str | None) -> str:
    """"keep" when nothing the graph reads moved since the last build; "update" when only models
    moved (update() recomputes what they touch); "build" when anything else did (the weights, the
    code, the search results, the evidence crawl, a rebuild of everything) or the last full build is
    REFRESH_DAYS old."""
    if rebuild_all or last is None:
        return "build"
    stored = json.loads(last)
    if stored.get("digest") != digest or day - stored.get("built", stored.get("day", 0)) >= REFRESH_DAYS:
        return "build"
    return "update" if EVIDENCE_REASONS & {r for r, n in changes.items() if n} else "keep"


def changed_keys(conn, run_id: int) -> dict:
    """key -> reasons, of the models whose changes in this derive run (model_changes) can move the graph."""
    marks = ", ".join("?" * len(EVIDENCE_REASONS))
    out: dict = {}
    for k, why in conn.execute(f"SELECT model_key, reason FROM model_changes WHERE run_id = ? AND reason IN ({marks})",
                               (run_id, *sorted(EVIDENCE_REASONS))):
        out.setdefault(k, set()).add(why)
    return out


# -- the update: only what a few changed models touch ----------------------------------------------
# What of a model the graph reads (beside its downloads, kept apart): a change elsewhere (a card's
# prose, a file) touches no evidence set.
_INPUT_QUERIES = (
    "SELECT m.key, m.id, m.pipeline_tag, m.params, m.removed_at IS NOT NULL FROM temp.match_in t "
    "JOIN models m ON m.key = t.key",
    f"SELECT t.key, g.tag FROM temp.match_in t JOIN model_tags g ON g.model_key = t.key "
    f"WHERE length(g.tag) <= 3 OR g.tag IN ('{rivals.MULTILINGUAL}', 'conversational') ORDER BY 1, 2",
    "SELECT t.key, r.parent, r.relation FROM temp.match_in t JOIN model_relations r ON r.model_key = t.key ORDER BY 1, 2",
    "SELECT t.key, s.space_id FROM temp.match_in t JOIN model_spaces s ON s.model_key = t.key ORDER BY 1, 2",
    "SELECT t.key, e.seq, e.metric, e.value, e.dataset, e.subject, e.split, e.source, e.location FROM temp.match_in t "
    "JOIN evaluations e ON e.model_key = t.key ORDER BY 1, 2",
)
_RESULT_QUERY = ("SELECT t.key, r.id, r.dataset_id, r.task_id, r.split, r.metric, r.value FROM temp.match_in t "
                 "JOIN eval_results r ON r.model_key = t.key ORDER BY 1, 2")


_DIGEST_OF = (0, 0, 0, 2, 1, 1)  # each query's digest: 0 core, 1 results, 2 spaces
INPUT_COLUMNS = ("model_key", "core", "results", "spaces", "downloads")


def input_digests(conn, keys) -> dict:
    """key -> (core, results, spaces digests of what the graph reads of the model, its downloads)."""
    _temp_keys(conn, "match_in", keys)
    parts: dict = {}
    queries = _INPUT_QUERIES + ((_RESULT_QUERY,) if match_evidence.has_table(conn, "eval_results") else ())
    for n, sql in enumerate(queries):
        for row in conn.execute(sql):
            parts.setdefault((row[0], _DIGEST_OF[n]), []).append((n, row[1:]))
    downloads = dict(conn.execute("SELECT m.key, m.downloads FROM temp.match_in t JOIN models m ON m.key = t.key"))
    conn.execute("DROP TABLE temp.match_in")

    def digest(k, d):
        h = hashlib.blake2b(repr(parts.get((k, d), ())).encode(), digest_size=8).digest()
        return int.from_bytes(h, "big") >> 1

    return {int(k): (digest(k, 0), digest(k, 1), digest(k, 2), downloads.get(k)) for k in keys}


def _temp_keys(conn, name: str, keys) -> None:
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (key INTEGER PRIMARY KEY)")
    conn.execute(f"DELETE FROM temp.{name}")
    conn.executemany(f"INSERT OR IGNORE INTO temp.{name} VALUES (?)", ((int(k),) for k in keys))


def _temp_pairs(conn, pairs) -> None:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS match_pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID")
    conn.execute("DELETE FROM temp.match_pairs")
    conn.executemany("INSERT OR IGNORE INTO temp.match_pairs VALUES (?, ?)", pairs)


def _write_diff(conn, table: str, columns: tuple, nkey: int, old: dict, new: dict) -> int:
    """Write `new` over `old` (both key -> row, over the same keys' scope): only the rows that differ."""
    cols = ", ".join(columns)
    gone = [k if isinstance(k, tuple) else (k,) for k in old if k not in new]
    moved = [r for k, r in new.items() if old.get(k) != r]
    where = " AND ".join(f"{c} = ?" for c in columns[:nkey])
    conn.executemany(f"DELETE FROM {table} WHERE {where}", gone)
    conn.executemany(f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({', '.join('?' * len(columns))})", moved)
    return len(gone) + len(moved)


def _fill_groups(conn, m: _Models, keys) -> None:
    """The task groups of `keys` into m.group (an update reads only the models it looks at)."""
    code = {g: i for i, g in enumerate(m.groups)}
    _temp_keys(conn, "match_fill", keys)
    for key, tag in conn.execute("SELECT m.key, m.pipeline_tag FROM temp.match_fill t JOIN models m ON m.key = t.key "
                                 "WHERE m.pipeline_tag IS NOT NULL"):
        g = TASK_GROUPS.get(tag, tag)
        if g not in code:
            code[g] = len(m.groups)
            m.groups.append(g)
        m.group[key] = code[g]
    conn.execute("DROP TABLE temp.match_fill")


def _refold_copies(conn, size: int, changed: set, old: dict, named: set | None = None,
                   old_via: dict | None = None) -> tuple[np.ndarray, list]:
    """fold_copies' result after `changed` models changed, from the stored fold (`old`: copy ->
    canonical): the fold is computed again for the changed models, the copies of a changed model, and,
    for those of `named` (default: all; the models whose id, existence or downloads moved, what
    another model's fold reads of them), the quantised copies that name one as parent and the
    format-named models whose base name is one's name; every other model keeps its canonical."""
    named = changed if named is None else named
    # (and every copy of what a changed copy folded into: a copy of a copy follows its middle's fate)
    via_changed = set(changed) | {old[k] for k in changed if k in old}
    cand = set(changed) | {c for c, p in old.items() if p in via_changed}
    if named:
        _temp_keys(conn, "match_fill", named)
        named = conn.execute(f"SELECT m.key, m.id, {REPO_NAME} FROM temp.match_fill t JOIN models m ON m.key = t.key"
                             ).fetchall()
        conn.execute("DROP TABLE temp.match_fill")
        ids = [r[1] for r in named]
        for at in range(0, len(ids), 500):
            part = ids[at:at + 500]
            cand.update(k for (k,) in conn.execute(
                f"SELECT model_key FROM model_relations WHERE relation = 'quantized' AND parent IN "
                f"({','.join('?' * len(part))})", part))
        for _key, _id, name in named:  # `name-GGUF`, `name-4bit`, ...: names that start with it
            for key, other in conn.execute(f"SELECT key, {REPO_NAME} FROM models WHERE {REPO_NAME} > ? AND "
                                           f"{REPO_NAME} < ?", (name, name + "\U0010ffff")):
                if FORMAT_WORD.sub("", other) == name:
                    cand.add(key)
    for _ in range(6):  # the copies of a copy whose canonical may move
        more = {c for c, p in old.items() if p in cand} - cand
        if not more:
            break
        cand |= more
    canon = np.arange(size, dtype=np.int64)
    for c, p in old.items():
        if c not in cand:
            canon[c] = p
    if old_via is None:
        old_via = dict(conn.execute("SELECT model_key, via FROM match_copies"))
    cand = sorted(cand)
    _temp_keys(conn, "match_fill", cand)
    rows = []
    quantized = set()
    for child, parent in conn.execute("""SELECT r.model_key, min(p.key) FROM temp.match_fill t
            JOIN model_relations r ON r.model_key = t.key AND r.relation = 'quantized'
            JOIN models p ON p.id = r.parent AND p.removed_at IS NULL
            JOIN models c ON c.key = r.model_key AND c.removed_at IS NULL GROUP BY r.model_key"""):
        if child != parent:
            quantized.add(child)
            canon[child] = parent
            rows.append([child, parent, "quantized from"])
    marked = {}
    for key, name in conn.execute(f"SELECT m.key, {REPO_NAME} FROM temp.match_fill t JOIN models m ON m.key = t.key"):
        if key in quantized or name is None or not FORMAT_HINT.search(name):
            continue
        base = FORMAT_WORD.sub("", name)
        if base and base != name:
            marked[key] = base
    conn.execute("DROP TABLE temp.match_fill")
    canon = _fold_named_copies(conn, marked, canon, rows)
    fresh = {r[0] for r in rows}
    candidates = set(cand)
    rows += [[c, p, old_via[c]] for c, p in old.items() if c not in candidates and c not in fresh]
    for r in rows:
        r[1] = int(canon[r[0]])
    rows = [r for r in rows if r[0] != r[1]]
    removed = set()
    part_keys = [r[0] for r in rows if r[0] in candidates]
    for at in range(0, len(part_keys), 500):
        part = part_keys[at:at + 500]
        removed.update(k for (k,) in conn.execute(
            f"SELECT key FROM models WHERE key IN ({','.join('?' * len(part))}) AND removed_at IS NOT NULL", part))
    return canon, sorted(tuple(r) for r in rows if r[0] not in removed)


def update(conn, kind_weights: dict, changed) -> MatchResult:
    """The graph after `changed` models (keys) changed, equal to what build() makes from the same
    tables, computed from the evidence sets that hold a changed model alone: those sets are rebuilt
    (their contributions replaced), only the pairs they make or made are reduced again (with what
    the other sets say of those pairs, read back from match_edge_evidence), and only the match
    scores of those pairs' models (and their copies) are computed again. Everything else stands
    unread and unwritten. A changed model is one whose task, name, relations, card, figures or
    existence moved (EVIDENCE_REASONS): nothing else of a model reaches the graph."""
    started = time.monotonic()
    result = MatchResult(mode="update")
    mark = [started]

    def phase(name):
        now = time.monotonic()
        result.phases[name] = round(result.phases.get(name, 0) + now - mark[0], 3)
        mark[0] = now

    m = _Models(conn.execute("SELECT coalesce(max(key), 0) FROM models").fetchone()[0] + 1, None, [])
    m.group = np.full(m.size, -1, np.int32)  # (filled for the models it looks at: _fill_groups)
    # `changed`: keys, or key -> the reasons it changed (model_changes): then only a model new,
    # renamed, removed or with moved figures is looked up as what other models fold into
    named = None
    if isinstance(changed, dict):
        named = {int(k) for k, why in changed.items() if not set(why).isdisjoint(("new", "renamed", "removed",
                                                                                   "metrics"))}
    changed = {int(k) for k in changed}
    stored_copies = {r[0]: tuple(r) for r in conn.execute("SELECT model_key, canonical_key, via FROM match_copies")}
    old_copies = {c: r[1] for c, r in stored_copies.items()}
    canon, copies = _refold_copies(conn, m.size, changed, old_copies, named, {c: r[2] for c, r in stored_copies.items()})
    phase("copies")
    new_copies = {c: p for c, p, _via in copies}
    moved_copies = {k for k in set(old_copies) | set(new_copies) if old_copies.get(k) != new_copies.get(k)}
    # A changed model touches the graph when what the graph reads of it moved (its digest; a model
    # never digested counts as moved), or only its downloads did (`figures`: they order a large
    # leaderboard's pairs, name a table's bare names, and weigh its edges' standing)
    now = input_digests(conn, changed)
    _temp_keys(conn, "match_in", changed)
    before = {r[0]: tuple(r[1:]) for r in conn.execute(
        f"SELECT {', '.join('i.' + c for c in INPUT_COLUMNS)} FROM temp.match_in t "
        "JOIN match_inputs i ON i.model_key = t.key")}
    conn.execute("DROP TABLE temp.match_in")
    moved = {k for k in changed if k not in before or before[k][0] != now[k][0]}  # core: every set

    def canonical(ks):
        return {int(canon[k]) for k in ks if k < m.size} | set(ks)

    raw = moved | moved_copies
    touched = raw | canonical(raw) | {old_copies[k] for k in moved_copies if k in old_copies}
    # (results: only leaderboards and tables; Spaces: only Spaces; downloads: see `figures` below)
    by_results = canonical({k for k in changed - moved if before[k][1] != now[k][1]}) - touched
    by_spaces = canonical({k for k in changed - moved if before[k][2] != now[k][2]}) - touched
    figures = canonical({k for k in changed - moved if before[k][3] != now[k][3]}) - touched
    result.touched = {"changed": len(changed), "inputs moved": len(moved), "results moved": len(by_results),
                      "spaces moved": len(by_spaces), "downloads only": len(figures),
                      "copies refolded": len(moved_copies), "touched": len(touched)}
    phase("changes")

    evidence = match_evidence.read(conn, canon)
    keys = evidence.keys()
    phase("sets read")
    _temp_keys(conn, "match_keys", keys)
    links = _base_links(conn, canon)
    conn.execute("DROP TABLE IF EXISTS temp.match_keys")
    by_parent: dict = {}
    for child, parent, pid, same_author in links:
        if same_author:
            by_parent.setdefault((parent, pid), set()).add(child)
    phase("links")

    # the sets that hold a touched model now, and those whose stored pairs hold one (the sets it left)
    def stored_pairs(ks):  # (set, kind, a, b) of the stored pairs of these models
        _temp_keys(conn, "match_touched", ks)
        return conn.execute(
            "SELECT evidence_id, kind, a_key, b_key FROM match_edge_evidence "
            "WHERE a_key IN (SELECT key FROM temp.match_touched) UNION SELECT evidence_id, kind, a_key, b_key "
            "FROM match_edge_evidence WHERE b_key IN (SELECT key FROM temp.match_touched)").fetchall()

    dirty = {x for x, _k, _a, _b in stored_pairs(touched)}
    dirty.update(x for x, kind, _a, _b in stored_pairs(by_results) if kind in (BENCHMARK, CARD_TABLE))
    dirty.update(x for x, kind, _a, _b in stored_pairs(by_spaces) if kind == SPACES)
    figured = stored_pairs(figures)
    result.touched["sets left"] = len(dirty)
    dirty.update(x for x, kind, _a, _b in figured if kind == CARD_TABLE)
    # their edges' standing moves (reduced again) when their adoption's half-decade does
    half = {k for k in changed - moved if before[k][3] != now[k][3]
            and int(2 * math.log10(1 + max(before[k][3] or 0, 0))) != int(2 * math.log10(1 + max(now[k][3] or 0, 0)))}
    half = canonical(half) & figures
    reweigh = {(a, b) for _x, _k, a, b in figured if a in half or b in half}

    def held(members, kind) -> bool:
        if not touched.isdisjoint(members):
            return True
        if kind in (BENCHMARK, CARD_TABLE) and not by_results.isdisjoint(members):
            return True
        if kind == SPACES and not by_spaces.isdisjoint(members):
            return True
        # a large leaderboard pairs by adoption; a table's bare name is the most downloaded of that name
        large = kind == CARD_TABLE or (kind == BENCHMARK and len(members) > BENCH_ALL_PAIRS)
        return large and not figures.isdisjoint(members)

    todo = []  # (kind, set, members) of every set to compute again
    for q in evidence.searches:
        members = [c for _p, c in q.members]
        eid = evidence_id("search", str(q.query.id))
        if eid in dirty or held(members, SEARCH):
            todo.append((SEARCH, eid, q, members))
    for g in evidence.benchmarks:
        eid = evidence_id("benchmark", g.key)
        if eid in dirty or held(g.results, BENCHMARK):
            todo.append((BENCHMARK, eid, g, g.results))
    for t in evidence.tables:
        eid = evidence_id("card_table", f"{t.model_key}\x1f{t.table}")
        if eid in dirty or held((t.canonical, *t.named), CARD_TABLE):
            todo.append((CARD_TABLE, eid, t, (t.canonical, *t.named)))
    for sp in evidence.spaces:
        eid = evidence_id("spaces", sp.space_id)
        if eid in dirty or held(sp.members, SPACES):
            todo.append((SPACES, eid, sp, sp.members))
    dirty.update(x[1] for x in todo)

    def stored_of_sets(ids) -> dict:  # the stored contributions of these sets
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS match_dirty (id INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM temp.match_dirty")
        conn.executemany("INSERT OR IGNORE INTO temp.match_dirty VALUES (?)", ((x,) for x in ids))
        return {tuple(r[:3]): tuple(r) for r in conn.execute(
            f"SELECT {', '.join(CONTRIBUTION_COLUMNS)} FROM match_edge_evidence "
            "WHERE evidence_id IN (SELECT id FROM temp.match_dirty)")}

    old_dirty = stored_of_sets(dirty)
    # A base model's set holds its children that are in the evidence: a model enters or leaves the
    # evidence only through a set computed again here, so the base sets of those sets' models (now
    # and before) are computed again too.
    moving = touched | {k for x in todo for k in x[3]} | {k for p in old_dirty for k in p[:2]}
    dirty.update(x for x, kind, _a, _b in stored_pairs(touched | (moving - keys)) if kind == BASE)
    bases: dict = {}  # (two declared parents that fold into one model are one set)
    for (parent, pid), children in sorted(by_parent.items()):
        bases.setdefault(evidence_id("base_model", str(parent)), []).append((parent, pid, children))
    for eid, entries in bases.items():
        members = [k for parent, _pid, children in entries for k in (parent, *children)]
        if eid in dirty or not moving.isdisjoint(members):
            todo.append((BASE, eid, entries, members))
            dirty.add(eid)
    old_dirty = stored_of_sets(dirty)
    phase("dirty sets")

    # the facts of the models these sets hold and of the pairs to reduce again, and nobody else's
    need = {k for x in todo for k in x[3]} | {k for p in old_dirty for k in p[:2]} | {k for p in reweigh for k in p}
    _fill_groups(conn, m, need)
    # (each model's list leads with distinct alternatives: the lineages of its rivals are read too)
    _temp_keys(conn, "match_nodes", need)
    rivals_of = conn.execute("""SELECT e.a_key, e.b_key FROM temp.match_nodes n JOIN match_edges e ON e.a_key = n.key
        WHERE e.relation = 'competitor' UNION SELECT e.a_key, e.b_key FROM temp.match_nodes n
        JOIN match_edges e ON e.b_key = n.key WHERE e.relation = 'competitor'""").fetchall()
    near = need | {k for p in rivals_of for k in p}
    f = _facts(conn, m, near & keys)  # (as a build: the facts of models named by evidence, none of a bare parent's)
    conn.execute("DROP TABLE IF EXISTS temp.match_keys")
    phase("facts")
    pairs, ev = _Pairs(), _Evidence()
    for kind, _eid, item, _members in todo:
        if kind == SEARCH:
            _add_search(item, m, pairs, ev)
        elif kind == BENCHMARK:
            _add_benchmark(item, f, pairs, ev)
        elif kind == CARD_TABLE:
            _add_table(item, pairs, ev)
        elif kind == SPACES:
            _add_space(item, pairs, ev)
        else:
            for parent, pid, children in item:
                _add_base_links([(c, parent, pid, True) for c in children], pairs, ev)
    for kind in KINDS:
        result.evidence[kind] = ev.count.get(kind, 0)
    result.sets_rebuilt = len(dirty)
    phase("sets computed")

    # the pairs to reduce again: those the dirty sets make now or made before
    new_dirty: dict = {}
    for r in _contribution_rows(pairs):
        new_dirty.setdefault(r[:3], r)
    pair_keys = sorted({k[:2] for k in old_dirty} | {k[:2] for k in new_dirty} | reweigh)
    _temp_pairs(conn, pair_keys)
    # what the clean sets say of those pairs, as stored
    clean = conn.execute(f"""SELECT {', '.join('x.' + c for c in CONTRIBUTION_COLUMNS)} FROM temp.match_pairs p
        JOIN match_edge_evidence x ON x.a_key = p.a AND x.b_key = p.b
        WHERE x.evidence_id NOT IN (SELECT id FROM temp.match_dirty)""").fetchall()
    for a, b, x, d, k, v, cl in clean:
        pairs.append(a, b, k, v, x, d, math.nan if cl is None else cl)
    ends = {k for p in pair_keys for k in p}  # (every model of a pair with evidence is among `keys`)
    result.pairs_reduced = len(pair_keys)
    phase("pairs read")

    edge_rows: dict = {}
    if pairs.a:
        e = _reduce(pairs, m)
        relation, result.gated = _classify(e, m, f, links)
        weight, tier, standing = _weights(e, kind_weights, f)
        ga, gb = m.group[e.a], m.group[e.b]
        task_code = np.where(ga >= 0, ga, gb)
        evidence_count = np.bincount(e.inverse, minlength=len(e.a))
        s = e.strength
        for i in np.flatnonzero(relation >= 0).tolist():
            rel = int(relation[i])
            task = None if rel == 2 else (m.groups[int(task_code[i])] if task_code[i] >= 0 else UNKNOWN_TASK)
            edge_rows[(int(e.a[i]), int(e.b[i]))] = (
                int(e.a[i]), int(e.b[i]), RELATIONS[rel], task, float(weight[i]), float(s[SEARCH, i]),
                float(s[BENCHMARK, i]), float(s[CARD_TABLE, i]), 0.0, 0.0, int(evidence_count[i]), float(s[SPACES, i]),
                int(tier[i]), float(standing[i]), float(standing[i]), float(standing[i]))
        result.competitor_edges = int((relation == 0).sum())
        result.family_edges = int((relation == 1).sum())
        result.complement_edges = int((relation == 2).sum())
    phase("reduce")
    old_edges = {(r[0], r[1]): tuple(r) for r in conn.execute(
        f"SELECT {', '.join('e.' + c for c in EDGE_COLUMNS)} FROM temp.match_pairs p "
        "JOIN match_edges e ON e.a_key = p.a AND e.b_key = p.b")}
    # Side standings: each model whose edges were reduced again reads its whole competitor list again
    # (its rivals' order, the first of each lineage distinct); the other side of an edge to a model
    # not reduced keeps its stored reading.
    _temp_keys(conn, "match_nodes", ends)
    around = {(r[0], r[1]): tuple(r) for r in conn.execute(
        f"SELECT {', '.join('e.' + c for c in EDGE_COLUMNS)} FROM temp.match_nodes n JOIN match_edges e "
        "ON e.a_key = n.key WHERE e.relation = 'competitor' UNION "
        f"SELECT {', '.join('e.' + c for c in EDGE_COLUMNS)} FROM temp.match_nodes n JOIN match_edges e "
        "ON e.b_key = n.key WHERE e.relation = 'competitor'")}
    around = {k: r for k, r in around.items() if k not in edge_rows and k not in old_edges}
    old_edges.update(around)
    rows = [r for r in edge_rows.values() if r[2] == "competitor"] + list(around.values())
    if rows:
        ra, rb = np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64)
        lineage = _lineage(conn, canon, keys, set(ra.tolist()) | set(rb.tolist()), m.size)
        st = np.array([r[13] for r in rows], float)
        sa, sb = _side_standings(ra, rb, np.ones(len(rows), bool), st, np.array([r[4] for r in rows], float),
                                 np.array([r[12] for r in rows], np.int64), lineage, viewers=ends)
        for r, a_st, b_st in zip(rows, sa.tolist(), sb.tolist()):
            a_in, b_in = r[0] in ends, r[1] in ends
            edge_rows[(r[0], r[1])] = r[:14] + (a_st if a_in else r[14], b_st if b_in else r[15])
    phase("sides")
    w = result.written
    w["match_copies"] = _write_diff(conn, "match_copies", ("model_key", "canonical_key", "via"), 1, stored_copies,
                                    {r[0]: tuple(r) for r in copies})
    old_sets = {r[0]: tuple(r) for r in conn.execute(
        f"SELECT {', '.join(EVIDENCE_COLUMNS)} FROM match_evidence WHERE id IN (SELECT id FROM temp.match_dirty)")}
    used = {k[2] for k in new_dirty}
    w["match_evidence"] = _write_diff(conn, "match_evidence", EVIDENCE_COLUMNS, 1, old_sets,
                                      {eid: r for eid, r in ev.rows.items() if eid in used})
    w["match_edges"] = _write_diff(conn, "match_edges", EDGE_COLUMNS, 2, old_edges, edge_rows)
    w["match_edge_evidence"] = _write_diff(conn, "match_edge_evidence", CONTRIBUTION_COLUMNS, 3, old_dirty, new_dirty)

    phase("write")
    # The match scores of the models whose edges or edges' evidence moved, from their competitor edges
    # as now stored; and their copies'. (A score reads only its model's competitor edges and their sets.)
    moved_pairs = {k for k in set(old_edges) | set(edge_rows) if old_edges.get(k) != edge_rows.get(k)}
    moved_pairs.update(k[:2] for k in set(old_dirty) | set(new_dirty) if old_dirty.get(k) != new_dirty.get(k))
    nodes = {k for p in moved_pairs for k in p}
    _temp_keys(conn, "match_nodes", nodes)
    weights: dict = {}
    for key, wt in conn.execute("""
            SELECT n.key, e.weight FROM temp.match_nodes n JOIN match_edges e ON e.a_key = n.key
            WHERE e.relation = 'competitor'
            UNION ALL SELECT n.key, e.weight FROM temp.match_nodes n JOIN match_edges e ON e.b_key = n.key
            WHERE e.relation = 'competitor'"""):
        weights.setdefault(key, []).append(wt)
    times = dict(conn.execute(f"""SELECT key, count(*) FROM (
            SELECT n.key, x.evidence_id FROM temp.match_nodes n JOIN match_edges e ON e.a_key = n.key
            JOIN match_edge_evidence x ON x.a_key = e.a_key AND x.b_key = e.b_key
            WHERE e.relation = 'competitor' AND x.kind < {len(KINDS)}
            UNION SELECT n.key, x.evidence_id FROM temp.match_nodes n JOIN match_edges e ON e.b_key = n.key
            JOIN match_edge_evidence x ON x.a_key = e.a_key AND x.b_key = e.b_key
            WHERE e.relation = 'competitor' AND x.kind < {len(KINDS)}) GROUP BY key"""))
    scored = {}
    for key, ws in weights.items():
        total = 0.0
        for x in sorted(ws, reverse=True)[:MATCH_TOP]:
            total += x
        scored[key] = (round(100 * total / (total + 1), 2), times.get(key, 0))
    scope = set(nodes) | moved_copies
    for c, p in new_copies.items():
        if p in nodes:
            scope.add(c)
    _temp_keys(conn, "match_nodes", scope | {new_copies[k] for k in moved_copies if k in new_copies})
    stored = {r[0]: tuple(r) for r in conn.execute(
        "SELECT s.model_key, s.score, s.times_matched FROM temp.match_nodes n JOIN match_scores s ON s.model_key = n.key")}
    new_scores = {}
    for k in scope:
        c = new_copies.get(k, k)
        if c in nodes or c == k:  # (a copy no longer a copy has no edge of its own unless it is in `nodes`)
            if c in scored:
                new_scores[k] = (k, *scored[c])
        elif c in stored:
            new_scores[k] = (k, *stored[c][1:])
    w["match_scores"] = _write_diff(conn, "match_scores", ("model_key", "score", "times_matched"), 1,
                                    {k: stored[k] for k in scope if k in stored}, new_scores)
    # what the graph read of the changed models, for the next update to compare with
    keep = {k for k in changed if (k < m.size and int(canon[k]) in keys) or k in new_copies}
    gone = [(k,) for k in changed if k not in keep]
    conn.executemany("DELETE FROM match_inputs WHERE model_key = ?", gone)
    conn.executemany("INSERT OR REPLACE INTO match_inputs VALUES (?, ?, ?, ?, ?)", [(k, *now[k]) for k in sorted(keep)])
    for name in ("match_touched", "match_dirty", "match_pairs", "match_nodes"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    phase("scores")
    result.copies = len(copies)
    result.scored = len(new_scores)
    result.seconds = time.monotonic() - started
    return result

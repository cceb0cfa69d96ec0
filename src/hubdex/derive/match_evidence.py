"""What the match graph reads: which searches, benchmarks (leaderboards), comparison tables and Spaces
put each model beside others, read from the stored evidence into public types. It owns that SQL and
decides nothing about competition (match.py weighs, gates and builds the graph from what this returns).

Every member is a canonical model: `canon[key]` (match.fold_copies) maps a copy to the model it copies,
so a GGUF's leaderboard row or a quantised copy's Space counts for its model, once per set.

  read(conn, canon) -> Evidence           all four kinds at once, and `Evidence.keys()`, the models named
  search_sets / benchmark_sets / table_sets / space_sets   each kind alone
  benchmark_key, subject_name, resolve_names, most_downloaded_named   the naming rules they share
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

SEARCH_TOP = 20            # canonical results of a query that pair with each other
SPACES_MAX = 40            # a Space loading more canonical models than this is a catalogue, not a comparison


# -- the public types -------------------------------------------------------------------------------
class SearchQuery(NamedTuple):
    id: int
    endpoint: str            # 'search' or 'quicksearch'
    query: str               # the term ('' for a task's top list)
    params: str              # JSON of the query's parameters (sort, pipeline_tag ...)
    weight: float            # the query's own weight (schedules/queries.toml)
    day: int                 # the day its results were fetched


class SearchSet(NamedTuple):
    query: SearchQuery
    members: list            # [(position, canonical key)], best first, at most SEARCH_TOP


class BenchmarkResult(NamedTuple):
    value: float
    ref: tuple               # ("eval_results", id) or ("evaluations", model_key, seq)
    own: bool                # the canonical model's own figure (not a copy's)


class BenchmarkSet(NamedTuple):
    key: str                 # dataset[/config] \x1f split \x1f metric, lower-cased (benchmark_key)
    label: str
    source: dict             # {"dataset", "split", "metric"}
    results: dict            # canonical key -> BenchmarkResult


class TableRow(NamedTuple):
    seq: int                 # the row's `evaluations.seq` in the card's model
    value: float | None
    name: str                # what the table calls the model


class TableSet(NamedTuple):
    model_key: int           # the model whose card holds the table
    canonical: int           # ... folded
    table: str               # where in the card ("table 2" ...)
    model_id: str
    own_value: float | None  # the card's own model's figure in that table, if it has a row
    named: dict              # canonical key of each other model named -> TableRow


class SpaceSet(NamedTuple):
    space_id: str
    members: list            # sorted canonical keys, 2 to SPACES_MAX


@dataclass
class Evidence:
    searches: list = field(default_factory=list)     # [SearchSet]
    benchmarks: list = field(default_factory=list)   # [BenchmarkSet]
    tables: list = field(default_factory=list)       # [TableSet]
    spaces: list = field(default_factory=list)       # [SpaceSet]

    def keys(self) -> set:
        """Every canonical model some piece of evidence names."""
        keys = {c for s in self.searches for _p, c in s.members}
        keys.update(c for g in self.benchmarks for c in g.results)
        keys.update(c for t in self.tables for c in (t.canonical, *t.named))
        keys.update(c for s in self.spaces for c in s.members)
        return keys


def read(conn, canon) -> Evidence:
    """All the evidence the graph weighs, each set's members folded through `canon`."""
    return Evidence(search_sets(conn, canon), benchmark_sets(conn, canon), table_sets(conn, canon),
                    space_sets(conn, canon))


def has_table(conn, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


# -- searches ---------------------------------------------------------------------------------------
def search_sets(conn, canon) -> list[SearchSet]:
    """One set per stored query with two or more canonical results on the day it was last fetched."""
    rows = conn.execute("""SELECT q.id, q.endpoint, q.query, q.params, q.weight, r.day, r.position, mo.key, mo.id
        FROM search_queries q JOIN search_results r ON r.query_id = q.id AND r.day = q.fetched_day
        JOIN models mo ON mo.id = r.model_id AND mo.removed_at IS NULL
        ORDER BY q.id, r.position""")
    sets, current, members = [], None, []
    for row in rows:
        if current is not None and row[0] != current[0]:
            sets.append(_search_members(current, members, canon))
            members = []
        current = row
        members.append((row[6], row[7], row[8]))
    if current is not None:
        sets.append(_search_members(current, members, canon))
    return [s for s in sets if len(s.members) >= 2]


def _search_members(q, members, canon) -> SearchSet:
    seen, kept = set(), []
    term = q[2].lower()
    for position, key, model_id in members:  # by position: a copy's first place stands for its canonical
        if term and term not in model_id.split("/")[-1].lower():
            continue  # matched on the author's name ('bart' in bartowski/...): says nothing of the model
        c = int(canon[key])
        if c not in seen:
            seen.add(c)
            kept.append((position, c))
        if len(kept) == SEARCH_TOP:
            break
    return SearchSet(SearchQuery(*q[:6]), kept)


# -- benchmarks -------------------------------------------------------------------------------------
def benchmark_key(dataset: str, config: str | None, split: str | None, metric: str) -> tuple[str, str]:
    """(key, label): what makes two results comparable: the dataset with its config (`glue/sst2`: GLUE's
    sst2 is not its mnli), the split and the metric, compared without case or surrounding space."""
    dataset, config = dataset.strip(), (config or "").strip()
    if config and config.lower() not in ("default", "none") and not dataset.lower().endswith("/" + config.lower()):
        dataset = f"{dataset}/{config}"
    split, metric = (split or "").strip(), metric.strip()
    label = f"benchmark {dataset}" + (f" ({split})" if split else "") + (f" / {metric}" if metric else "")
    return "\x1f".join(x.lower() for x in (dataset, split, metric)), label


def benchmark_sets(conn, canon) -> list[BenchmarkSet]:
    """One set per benchmark two or more canonical models report, each model's result in it. Results
    come from `eval_results` (evalResults, leaderboards, model-index: the evidence crawl) where that
    table exists and holds rows, and from the card's results tables in `evaluations`; without
    `eval_results`, from `evaluations` alone (model-index there too)."""
    sources = []
    evidence = has_table(conn, "eval_results") and conn.execute("SELECT 1 FROM eval_results LIMIT 1").fetchone()
    if evidence:
        # (the Hub's results name a dataset and a task id, often no metric or split: those are
        # part of the key when given, and the same for every model of a leaderboard when not)
        sources.append(("eval_results", """SELECT r.dataset_id, r.task_id, r.split, coalesce(r.metric, ''), r.model_key,
            r.id, 0, r.value FROM eval_results r JOIN models mo ON mo.key = r.model_key AND mo.removed_at IS NULL
            WHERE r.value IS NOT NULL"""))
    sources.append(("evaluations", """SELECT e.dataset, NULL, e.split, e.metric, e.model_key, e.model_key, e.seq, e.value
        FROM evaluations e JOIN models mo ON mo.key = e.model_key AND mo.removed_at IS NULL
        WHERE e.subject IS NULL AND e.dataset IS NOT NULL AND e.value IS NOT NULL AND e.metric IS NOT NULL"""
                    + (" AND e.source IS NOT 'model-index'" if evidence else "")))
    groups: dict = {}
    for table, sql in sources:
        for dataset, config, split, metric, key, r1, r2, value in conn.execute(sql):
            bk, label = benchmark_key(dataset, config, split, metric)
            g = groups.get(bk)
            if g is None:
                d, sp, mt = bk.split("\x1f")
                g = groups[bk] = BenchmarkSet(bk, label, {"dataset": d, "split": sp, "metric": mt}, {})
            c = int(canon[key])
            own = key == c
            ref = (table, r1, r2) if table == "evaluations" else (table, r1)
            best = g.results
            prior = best.get(c)
            # the canonical's own figure, else its first copy's; within one model, its first row
            if prior is None or (own and not prior.own) or (own == prior.own and ref < prior.ref):
                best[c] = BenchmarkResult(value, ref, own)
    return [g for bk, g in sorted(groups.items()) if len(g.results) >= 2]


# -- Spaces -----------------------------------------------------------------------------------------
def space_sets(conn, canon) -> list[SpaceSet]:
    """One set per Space that loads two to SPACES_MAX current canonical models: from the listing's
    `spaces` of each model (`model_spaces`) and the Spaces crawl (`space_models`)."""
    members: dict = {}
    # (the primary key's own order, no join: which members are still current is asked of the few
    # Spaces that load several)
    for key, space in conn.execute("SELECT model_key, space_id FROM model_spaces"):
        members.setdefault(space, set()).add(key)
    if has_table(conn, "space_models"):
        for space, key in conn.execute("""SELECT s.space_id, mo.key FROM space_models s
                JOIN models mo ON mo.id = s.model_id"""):
            members.setdefault(space, set()).add(key)
    several = {space: keys for space, keys in members.items() if len(keys) >= 2}
    keys = sorted({k for ks in several.values() for k in ks})
    removed = set()
    for at in range(0, len(keys), 500):
        part = keys[at:at + 500]
        removed.update(k for (k,) in conn.execute(
            f"SELECT key FROM models WHERE key IN ({','.join('?' * len(part))}) AND removed_at IS NOT NULL", part))
    out = []
    for space in sorted(several):
        ms = sorted({int(canon[k]) for k in several[space] if k not in removed})
        if 2 <= len(ms) <= SPACES_MAX:
            out.append(SpaceSet(space, ms))
    return out


# -- comparison tables in cards ---------------------------------------------------------------------
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


def resolve_names(conn, names: set) -> dict:
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
        out.update(most_downloaded_named(conn, bare))
    return out


def most_downloaded_named(conn, names: set) -> dict:
    """lower(repo name) -> the key of the most downloaded current model of that name (any author),
    through the repo-name index."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS match_names (name TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.match_names")
    conn.executemany("INSERT OR IGNORE INTO temp.match_names VALUES (?)", [(n,) for n in names])
    # Which names exist, from the index alone (most names wanted exist nowhere); then the figures of
    # the few models found.
    found = conn.execute("""SELECT t.name, m.key FROM temp.match_names t
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


def table_sets(conn, canon) -> list[TableSet]:
    """One set per comparison table in a card that names at least one other model."""
    rows = conn.execute("""SELECT e.model_key, e.seq, e.subject, e.value, e.location, mo.id
        FROM evaluations e JOIN models mo ON mo.key = e.model_key AND mo.removed_at IS NULL
        WHERE e.subject IS NOT NULL ORDER BY e.model_key, e.seq""").fetchall()
    if not rows:
        return []
    names = {subject_name(r[2]) for r in rows} - {""}
    resolved = resolve_names(conn, names)
    tables: dict = {}
    for key, seq, subject, value, location, model_id in rows:
        table = location.rsplit(", row", 1)[0]
        tables.setdefault((key, table, model_id), []).append((seq, subject_name(subject), value))
    out = []
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
                named[c] = TableRow(seq, value, name)
        if named:
            out.append(TableSet(key, me, table, model_id, own_value, named))
    return out

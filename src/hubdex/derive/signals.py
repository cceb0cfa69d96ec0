"""Signals and the composite rank, vectorised over every current model at once.

Inputs are read from the stored tables with a handful of whole-table queries (models, history,
card and metadata capabilities, evaluations, providers, router prices) into numpy arrays aligned on
the model key; each signal is then array arithmetic, never a Python loop per model.

* adoption: 30-day and all-time downloads, likes, trending score, growth of all-time downloads
  over 7 and 30 days (from `metrics_history`), and family downloads (the model's own 30-day
  downloads plus those of its copies: quantised, GGUF and format repos folded onto it by the match
  step's `match_copies`, shown apart as `family_downloads_30d`). Each on a log scale within the
  model's task: 100 * log1p(value) / log1p(anchor), the anchor being the task's largest value
  rounded up to a quarter decade (so it moves only when the task's top crosses a step, never when
  unrelated models change), at least a floor per input (a task of ten tiny models doesn't put them
  all at 100). A 400x gap in downloads is 2.6 decades: a large gap. `p_` columns hold the same on
  the whole Hub's anchor; a value of 0 scores 0; an input a model lacks (growth before the history
  is 7 days deep) drops out and the other weights are rescaled.
* quality: measured performance (derive/quality.py): where the model stands on each benchmark it
  has results on, within its task, combined with verified and third-party results weighing more
  than claims; documentation care (card completeness, a paper, a recognised licence, safe weight
  formats) is a small part beside it (`documentation`, also stored alone). No usable evidence:
  quality unknown (NaN), never low. 0 if the repo is disabled. A card whose README could not be
  read has card completeness unknown (NaN) and the documentation rescales over the parts it has.
* ecosystem: finetunes, adapters, quantisations, merges, Spaces, live providers and datasets, each
  on the adoption's log scale within the task (ECOSYSTEM_FLOORS); library support; weight formats.
* pricing: the pricing class and the licence family; API-only models by their cheapest price.
  Open weights are decided from the files, the library, weight-format tags, an open licence and the
  card; "paid API only" needs a file list that shows no weights, no library and no open licence.
  An unknown pricing class (no licence, weights not known) is unknown (NaN): it adds nothing.
* match: read from `match_scores` (the match graph's step); a model absent from it has no match
  score (NaN, shown as unknown), which contributes nothing to the rank.
* rank: the weighted sum over the signals that are known, their weights rescaled to sum to 1
  (`rank_known_weight` is the share known: 1.0 when every signal is); an unknown signal adds
  nothing. Each contribution is rounded to hundredths first, so the printed contributions add up to
  the rank exactly.

Percentiles are mid-rank: 100 * (models below + half the ties) / group size, deterministic.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass
from importlib import resources

import numpy as np

from . import quality as quality_
from .columns import Coded, Fixed
from .match import KINDS as MATCH_KINDS

SIGNALS = ("adoption", "quality", "ecosystem", "pricing", "match")
# The parts of each signal, as the weights file names them; model_scores has a column for each
# (p_/pt_<adoption input>, q_<quality part>, e_<ecosystem part>): a new part needs a migration.
ADOPTION_INPUTS = ("downloads_30d", "downloads_all_time", "likes", "trending", "growth_7d", "growth_30d",
                   "family_downloads_30d")
# The least anchor of each adoption input's log scale (see the module docstring).
ADOPTION_FLOORS = {"downloads_30d": 1e6, "downloads_all_time": 1e7, "likes": 1000, "trending": 100, "growth_7d": 1e5,
                   "growth_30d": 1e5, "family_downloads_30d": 1e6}
# Ecosystem counts on the same scale (Spaces are capped at 100 by the Hub: the floor is the cap).
ECOSYSTEM_FLOORS = {"finetunes": 1000, "adapters": 1000, "quantizations": 300, "merges": 100, "spaces": 100,
                    "providers": 10, "datasets": 10}
TASK_UNKNOWN = "task unknown"
QUALITY_PARTS = ("card", "evaluations", "paper", "licence", "safe_weights")
ECOSYSTEM_PARTS = ("finetunes", "adapters", "quantizations", "merges", "spaces", "providers", "library", "formats",
                   "datasets")
PRICING_CLASSES = ("free open weights", "open weights plus paid hosted inference", "free with conditions",
                   "paid API only", "unknown")
# Pricing score by licence family: what using the weights costs you in freedom, 100 = none.
FAMILY_PRICE_SCORE = {"permissive": 100, "public-domain": 100, "weak-copyleft": 95, "copyleft": 85, "openrail": 80,
                      "community": 60, "non-commercial": 35, "proprietary": 20, "unknown": 30}
GATED_PENALTY = 10
# Files that document a repo rather than hold a model: a repo with only these (and live providers)
# is the one case read as "paid API only".
DOC_FILES_SQL = ("lower(path) LIKE '%.md' OR path IN ('.gitattributes', '.gitignore') OR lower(path) LIKE 'license%' "
                 "OR lower(path) LIKE 'notice%' OR lower(path) LIKE '%.png' OR lower(path) LIKE '%.jpg' "
                 "OR lower(path) LIKE '%.jpeg' OR lower(path) LIKE '%.gif' OR lower(path) LIKE '%.webp' "
                 "OR lower(path) LIKE '%.svg' OR lower(path) LIKE '%.pdf' OR path LIKE '.eval_results/%'")
LOWER_IS_BETTER = ("wer", "cer", "loss", "perplexity", "ppl", "mae", "mse", "rmse", "fid", "eer", "ter")


# -- weights ---------------------------------------------------------------------------------------
def load_weights(path: str | None = None) -> dict:
    """The weights file (the shipped one unless `path`), checked: every table and key present, each
    weight a finite number >= 0, each table with at least one weight above zero. Every refusal
    names the file (and the key). Raises ValueError."""
    name = path or "weights.toml (shipped)"
    try:
        text = (open(path, encoding="utf-8").read() if path
                else resources.files("hubdex").joinpath("data/weights.toml").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"weights file {name}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"weights file {name}: a directory, not a file") from None
    except UnicodeDecodeError:
        raise ValueError(f"weights file {name}: not UTF-8 text (a TOML file is expected)") from None
    except OSError as e:
        raise ValueError(f"weights file {name}: {e.strerror}") from None
    try:
        w = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"weights file {name}: {e}") from None
    need = {"rank": SIGNALS, "adoption": ADOPTION_INPUTS, "quality": QUALITY_PARTS, "ecosystem": ECOSYSTEM_PARTS,
            "match": MATCH_KINDS}
    out = {}
    for table, keys in need.items():
        got = w.get(table)
        if table == "match" and got is None and path:  # files written before the match graph: the shipped kinds
            got = load_weights(None)["match"]
        if table == "adoption" and isinstance(got, dict) and path and "family_downloads_30d" not in got:
            got = {**got, "family_downloads_30d": 0}  # files written before family adoption: it counts for nothing
        if not isinstance(got, dict):
            raise ValueError(f"weights file {name}: no [{table}] table")
        extra = set(got) - set(keys)
        if extra:
            raise ValueError(f"weights file {name}: unknown key(s) in [{table}]: {', '.join(sorted(extra))}")
        vals = {}
        for k in keys:
            if k not in got:
                raise ValueError(f"weights file {name}: [{table}] has no {k}")
            v = got[k]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0 or v > 1e6:
                raise ValueError(f"weights file {name}: [{table}] {k} = {v!r}: a weight is a finite number "
                                 "from 0 to 1,000,000")
            vals[k] = float(v)
        total = sum(vals.values())
        if total <= 0:
            raise ValueError(f"weights file {name}: the weights in [{table}] sum to 0 (at least one must be above 0)")
        out[table] = {k: v / total for k, v in vals.items()}
    return out


def weights_id(weights: dict) -> str:
    return hashlib.blake2b(json.dumps(weights, sort_keys=True).encode(), digest_size=6).hexdigest()


# -- percentiles -----------------------------------------------------------------------------------
def percentiles(values, groups=None, zero_scores_zero: bool = True) -> np.ndarray:
    """Mid-rank percentile (0-100) of each value within its group; NaN stays NaN (missing)."""
    v = np.asarray(values, dtype=float)
    out = np.full(len(v), np.nan)
    idx = np.nonzero(~np.isnan(v))[0]
    if len(idx) == 0:
        return out
    x = np.log1p(np.maximum(v[idx], 0))  # log-scaled; ranks are what count, and ties stay ties
    g = np.zeros(len(idx), dtype=np.int64) if groups is None else np.asarray(groups)[idx]
    order = np.lexsort((x, g))
    gs, xs = g[order], x[order]
    pos = np.arange(len(xs))
    new_group = np.r_[True, gs[1:] != gs[:-1]]
    new_value = new_group | np.r_[True, xs[1:] != xs[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, pos, 0))
    value_start = np.maximum.accumulate(np.where(new_value, pos, 0))
    gid, vid = np.cumsum(new_group) - 1, np.cumsum(new_value) - 1
    group_size, ties = np.bincount(gid)[gid], np.bincount(vid)[vid]
    pct = np.empty(len(xs))
    pct[order] = (value_start - group_start + 0.5 * ties) / group_size * 100
    out[idx] = pct
    if zero_scores_zero:
        out[idx[v[idx] == 0]] = 0.0
    return out


def log_scores(values, groups, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(Hub-wide, within-group) log-scale scores 0-100 of `values`: 100 * log1p(v) / log1p(anchor),
    the anchor being the largest value (overall, or in the group) rounded up to a quarter decade and
    at least `floor`. NaN stays NaN (missing); 0 scores 0."""
    v = np.asarray(values, dtype=float)
    x = np.log1p(np.maximum(v, 0))
    present = ~np.isnan(x)

    def anchor(top):
        top = np.maximum(top, np.log(floor))
        # a quarter decade: log1p-space steps of ln(10)/4, so the anchor holds while the top moves within one
        step = np.log(10) / 4
        return np.ceil(top / step - 1e-9) * step

    hub = np.full(len(v), np.nan)
    task = np.full(len(v), np.nan)
    if present.any():
        hub[present] = 100 * x[present] / anchor(np.nanmax(x))
        g = np.asarray(groups)
        tops = np.full(int(g.max()) + 1 if len(g) else 1, -np.inf)
        np.fmax.at(tops, g[present], x[present])
        task[present] = 100 * x[present] / anchor(tops[g[present]])
    return np.minimum(hub, 100), np.minimum(task, 100)


# -- reading the inputs ----------------------------------------------------------------------------
class Inputs:
    """Per-model arrays aligned on `keys` (the current models, by key), read on connection `conn`."""

    def __init__(self, conn, day: int):
        n = conn.execute("SELECT count(*) FROM models WHERE removed_at IS NULL").fetchone()[0]
        cur = conn.execute("""SELECT key, coalesce(downloads, 0), coalesce(downloads_all_time, -1), coalesce(likes, 0),
            coalesce(trending_score, 0), coalesce(children_finetune, 0), coalesce(children_adapter, 0),
            coalesce(children_quantized, 0), coalesce(children_merge, 0), coalesce(spaces_count, 0),
            coalesce(disabled, 0), library_name IS NOT NULL, gated IS NOT NULL AND gated NOT IN ('false', '0')
            FROM models WHERE removed_at IS NULL ORDER BY key""")
        a = np.empty((n, 13), dtype=np.int64)  # filled a slice at a time: no list of a million tuples
        done = 0
        while rows := cur.fetchmany(50_000):
            a[done:done + len(rows)] = rows
            done += len(rows)
        a = a[:done]
        (self.keys, self.downloads, all_time, self.likes, self.trending, self.finetunes, self.adapters,
         self.quantizations, self.merges, self.spaces, self.disabled, self.library, self.gated) = (
            np.ascontiguousarray(c) for c in a.T)
        del a
        self.all_time = np.where(all_time < 0, np.nan, all_time.astype(float))
        self.n = len(self.keys)
        # the pipeline tag as a small integer group (sorted names: the same tags give the same ids)
        names = [r[0] for r in conn.execute("SELECT DISTINCT coalesce(pipeline_tag, '') FROM models "
                                            "WHERE removed_at IS NULL ORDER BY 1")]
        lookup = {t: i for i, t in enumerate(names)}
        self.task_names = names
        cur = conn.execute("SELECT coalesce(pipeline_tag, '') FROM models WHERE removed_at IS NULL ORDER BY key")
        parts = []
        while rows := cur.fetchmany(50_000):
            parts.append(np.fromiter((lookup[r[0]] for r in rows), dtype=np.int64, count=len(rows)))
        self.task = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        self.growth_7d = self._growth(conn, day - 7)
        self.growth_30d = self._growth(conn, day - 30)

    def columns(self, conn, sql: str, default=0.0, params=()) -> list[np.ndarray]:
        """The value columns of `sql` (model_key, value, ...) aligned on keys; `default` where absent.
        Read a slice at a time: a million rows never sit in Python tuples at once."""
        cur = conn.execute(sql, params)
        width = len(cur.description) - 1
        outs = [np.full(self.n, default, dtype=float) for _ in range(width)]
        while rows := cur.fetchmany(50_000):
            if not self.n:
                continue
            a = np.array(rows, dtype=float)  # None becomes NaN
            k = a[:, 0].astype(np.int64)
            pos = np.searchsorted(self.keys, k)
            ok = (pos < self.n) & (self.keys[np.minimum(pos, self.n - 1)] == k)
            for out, j in zip(outs, range(1, width + 1)):
                out[pos[ok]] = a[ok, j]
        return outs

    def column(self, conn, sql: str, default=0.0, params=()) -> np.ndarray:
        return self.columns(conn, sql, default, params)[0]

    def _growth(self, conn, day: int) -> np.ndarray:
        # The all-time downloads a model had on `day` (its latest history row up to then); no row
        # that old means the history can't tell its growth yet: NaN, not 0.
        then = self.column(conn, "SELECT model_key, downloads_all_time FROM (SELECT model_key, max(day), "
                           "downloads_all_time FROM metrics_history WHERE day <= ? GROUP BY model_key)", np.nan, (day,))
        return np.maximum(self.all_time - then, 0)


@dataclass
class Licences:
    """Each model's licence classification: `code` indexes the rows of `table` (licence, family,
    commercial, via), one row per distinct classification in `licence_classes`."""

    code: np.ndarray
    table: np.ndarray

    def column(self, j: int) -> np.ndarray:
        return self.table[self.code, j]


def read_licences(conn, inp: Inputs) -> Licences:
    """The licence class of every current model, from `licence_classes` (the licences step): one
    join, integers only, so no per-model strings are built."""
    rows = conn.execute("SELECT id, licence, family, commercial, via FROM licence_classes").fetchall()
    # row 0: a model whose triple is not classified (none, within one derive) reads as no licence
    table = np.empty((max((r[0] for r in rows), default=0) + 1, 4), dtype=object)
    table[0] = (None, "unknown", "unknown", "missing")
    for r in rows:
        table[r[0]] = r[1:]
    code = inp.column(conn, """SELECT m.key, l.id FROM models m JOIN licence_classes l ON l.license IS m.license
        AND l.license_name IS m.license_name AND l.license_link IS m.license_link WHERE m.removed_at IS NULL""", 0)
    return Licences(code.astype(np.int64), table)


@dataclass
class Gathered:
    """The signals' inputs that no derive step writes, read and turned into percentiles by `gather`
    (on its own connection, beside the capabilities step), for `compute` to finish."""

    inputs: Inputs
    out: dict           # model_scores columns computed so far (adoption and its parts)
    quality: dict       # quality parts computed so far (0..1 per model)
    ecosystem: dict     # ecosystem parts computed so far
    card_paper: np.ndarray
    live_providers: np.ndarray
    cheapest: list      # (model key, provider, input, output) of live priced offers, cheapest first


def gather(read, day: int, weights: dict) -> Gathered:
    """The part of the signals that reads only crawled tables (models, history, cards, providers,
    router prices): it can run on its own connection while the capabilities step writes."""
    inp = Inputs(read, day)
    col = lambda sql, default=0.0, params=(): inp.column(read, sql, default, params)  # noqa: E731
    out = {"model_key": inp.keys}
    # -- adoption
    aw = weights["adoption"]
    raw = {"downloads_30d": inp.downloads, "downloads_all_time": inp.all_time, "likes": inp.likes,
           "trending": inp.trending, "growth_7d": inp.growth_7d, "growth_30d": inp.growth_30d}
    num = np.zeros(inp.n)
    den = np.zeros(inp.n)
    for k in ADOPTION_INPUTS[:-1]:  # family downloads need the copies the match step folds: in compute
        p, pt = log_scores(raw[k], inp.task, ADOPTION_FLOORS[k])
        present = ~np.isnan(pt)
        num += np.where(present, aw[k] * pt, 0)
        den += np.where(present, aw[k], 0)
        out["p_" + k], out["pt_" + k] = Fixed.of(p, 2), Fixed.of(pt, 2)  # final: stored compact now
        del p, pt, present
    out["_adoption_num"], out["_adoption_den"] = num, den
    out["_downloads"] = inp.downloads.copy()
    out["_task"] = inp.task.copy()
    out["task_group"] = Coded(inp.task.astype(np.int32), np.array([t or TASK_UNKNOWN for t in inp.task_names],
                                                                    dtype=object))
    out["growth_7d"], out["growth_30d"] = inp.growth_7d, inp.growth_30d
    del raw

    # -- quality: what the card says (cards are written by the crawl, not by derive)
    flags = {c: col("SELECT model_key, 1 FROM capabilities WHERE capability = ? GROUP BY model_key", 0, (c,))
             for c in ("intended use", "limitations stated", "usage documented")}
    trained = col("SELECT model_key, 1 FROM capabilities WHERE capability IN ('training described', 'training data') "
                  "GROUP BY model_key")
    described = col("SELECT model_key, sections_count >= 3 FROM cards")
    # a card not read yet, or read without its README (only the front matter, or nothing): unknown
    unread = col("SELECT model_key, source != 'readme' FROM cards", 1)
    q = {"card": np.where(unread > 0, np.nan, (described + flags["intended use"] + flags["limitations stated"]
                                               + trained + flags["usage documented"]) / 5)}
    card_paper = col("SELECT model_key, 1 FROM capabilities WHERE capability = 'paper' GROUP BY model_key")
    found = quality_.evidence(read, inp.keys)
    out["eval_standing"] = found.score
    out["quality_benchmarks"] = found.benchmarks
    out["quality_sources"] = Coded.of(found.sources)
    q["evaluations"] = found.score  # NaN: no usable evidence, and then quality is unknown

    # -- ecosystem: the counts
    live = np.maximum(
        col("SELECT model_key, count(*) FROM model_providers WHERE status = 'live' GROUP BY model_key"),
        col("""SELECT m.key, count(*) FROM current_router_prices r JOIN models m ON m.id = r.model_id
               WHERE r.status = 'live' GROUP BY m.key"""))
    # counts on the same log scale as adoption, within the task (a value that moves with its own
    # model): one finetune is not "above 98% of the Hub" as a percentile over a sea of zeros made it
    counts = {"finetunes": inp.finetunes, "adapters": inp.adapters, "quantizations": inp.quantizations,
              "merges": inp.merges, "spaces": inp.spaces, "providers": live}
    e = {k: log_scores(v, inp.task, ECOSYSTEM_FLOORS[k])[1] / 100 for k, v in counts.items()}
    e["library"] = inp.library.astype(float)
    # what `compute` no longer needs (a million models: 8 MB an array)
    for name in ("downloads", "all_time", "likes", "trending", "finetunes", "adapters", "quantizations", "merges",
                 "spaces", "task"):
        setattr(inp, name, None)
    cheapest = read.execute("""SELECT m.key, r.provider, r.input_usd_per_m, r.output_usd_per_m
        FROM current_router_prices r JOIN models m ON m.id = r.model_id
        WHERE r.status = 'live' AND r.input_usd_per_m IS NOT NULL
        AND r.output_usd_per_m IS NOT NULL
        ORDER BY m.key, r.input_usd_per_m + r.output_usd_per_m, r.provider""").fetchall()
    return Gathered(inp, out, q, e, card_paper, live, cheapest)


def compute(conn, g: Gathered, weights: dict) -> dict:
    """Every current model's signals and rank, as a dict of arrays (the model_scores columns).
    Reads on `conn` what this derive's earlier steps wrote: `licence_classes`, `capability_summary`
    and the metadata capabilities, and `match_scores`."""
    inp, out, q, e, live = g.inputs, g.out, g.quality, g.ecosystem, g.live_providers
    col = lambda sql, default=0.0, params=(): inp.column(conn, sql, default, params)  # noqa: E731
    lic = read_licences(conn, inp)
    licence, family, commercial, via = (lic.column(j) for j in range(4))
    recognised = np.isin(via, ["id", "license_name", "license_link"]) & (family != "unknown")
    q["licence"] = np.where(recognised, 1.0, np.where(via == "missing", 0.0, 0.5))
    # the metadata capabilities, as summarised per model when they were derived
    meta_count, has_safe, has_pickle, formats, datasets, meta_paper = inp.columns(conn,
        "SELECT model_key, rows, safe_weights, pickled_weights, formats, datasets, paper FROM capability_summary")
    # ... plus the card's facts the metadata did not already give
    out["capabilities_count"] = (meta_count + col("""SELECT c.model_key, count(DISTINCT c.capability || char(0) || c.detail)
        FROM capabilities c WHERE NOT EXISTS (SELECT 1 FROM model_capability_rows x JOIN capability_names n
            ON n.id = x.capability_id WHERE x.model_key = c.model_key AND n.name = c.capability AND x.detail = c.detail)
        GROUP BY c.model_key""")).astype(np.int64)
    q["paper"] = np.maximum(g.card_paper, meta_paper)
    safe, pickle = has_safe, has_pickle
    q["safe_weights"] = np.where(safe > 0, 1.0, np.where(pickle > 0, 0.25, 0.5))  # no weights seen: can't tell
    qw = weights["quality"]
    # documentation: the parts other than evidence; one that could not be read (the card of a gated
    # repo) drops out and the others rescale
    doc_parts = [k for k in QUALITY_PARTS if k != "evaluations"]
    d_num = sum(qw[k] * np.nan_to_num(q[k]) for k in doc_parts)
    d_den = sum(qw[k] * ~np.isnan(np.asarray(q[k], dtype=float)) for k in doc_parts)
    documentation = np.where(d_den > 0, d_num / np.where(d_den > 0, d_den, 1), np.nan)
    out["documentation"] = np.round(documentation * 100, 2)
    # quality: the evidence, with documentation a small part beside it; no evidence: unknown
    ev = np.asarray(q["evaluations"], dtype=float)
    w_ev, w_doc = qw["evaluations"], 1 - qw["evaluations"]
    with_doc = (w_ev * ev + w_doc * np.nan_to_num(documentation)) / (w_ev + w_doc * ~np.isnan(documentation))
    out["quality"] = np.where(np.isnan(ev), np.nan, np.where(inp.disabled > 0, 0.0, with_doc * 100))
    for k in QUALITY_PARTS:
        out["q_" + k] = q[k]

    # -- ecosystem: formats and datasets come from the metadata capabilities
    e["formats"] = np.minimum(formats, 3) / 3
    e["datasets"] = log_scores(datasets, out["_task"], ECOSYSTEM_FLOORS["datasets"])[1] / 100
    ew = weights["ecosystem"]
    out["ecosystem"] = sum(ew[k] * e[k] for k in ECOSYSTEM_PARTS) * 100
    for k in ECOSYSTEM_PARTS:
        out["e_" + k] = e[k]

    # -- pricing
    provider = np.full(inp.n, None, dtype=object)
    price_in, price_out = np.full(inp.n, np.nan), np.full(inp.n, np.nan)
    seen = set()
    for k, p, i, o in g.cheapest:  # ordered cheapest first: the first row of each model (a few hundred rows)
        if k not in seen:
            seen.add(k)
            j = np.searchsorted(inp.keys, k)
            if j < inp.n and inp.keys[j] == k:
                provider[j], price_in[j], price_out[j] = p, i, o
    # Open weights, from every witness: weight files seen, a library that loads weights from the repo,
    # weight-format tags, an open licence (a licence for weights is a licence to download them), a
    # card that shows how to load them. Older listings and partial file lists show no weight files
    # for models that have them, so a missing file is never proof of "API only": that needs a file
    # list that was read and shows no weights, and no other witness.
    tagged = col("""SELECT model_key, 1 FROM model_tags WHERE tag IN ('safetensors', 'gguf', 'pytorch', 'onnx', 'tf',
        'jax', 'mlx', 'keras', 'tflite', 'openvino', 'coreml', 'diffusers', 'sentence-transformers', 'transformers',
        'timm', 'open_clip', 'peft', 'ctranslate2', 'nemo', 'espnet', 'fairseq', 'adapter-transformers')
        GROUP BY model_key""")
    usage = col("SELECT model_key, 1 FROM capabilities WHERE capability = 'usage documented' GROUP BY model_key")
    open_licence = np.isin(family, ["permissive", "public-domain", "weak-copyleft", "copyleft", "openrail",
                                    "community", "non-commercial"])
    files_listed = col("SELECT model_key, count(*) FROM model_files GROUP BY model_key") > 0
    # files other than documentation (a config, a tokenizer, any weights): the repo is a checkpoint
    checkpoint = col(f"""SELECT model_key, 1 FROM model_files WHERE NOT ({DOC_FILES_SQL}) GROUP BY model_key""") > 0
    weights_known = (((safe + pickle) > 0) | (inp.library > 0) | (tagged > 0) | open_licence | (usage > 0)
                     | checkpoint)
    hosted = live > 0
    api_only_seen = ~weights_known & hosted & files_listed  # a file list read, and only documentation in it
    conditional = (inp.gated > 0) | np.isin(family, ["non-commercial", "community", "proprietary"]) | (commercial == "no")
    # indexes into PRICING_CLASSES
    cls_code = np.select(
        [api_only_seen, ~weights_known | (family == "unknown"), conditional, hosted], [3, 4, 2, 1], 0)
    blended = price_in + price_out
    price_pct = percentiles(blended, zero_scores_zero=False) / 100
    family_score = {f: FAMILY_PRICE_SCORE.get(f, 30) for f in set(lic.table[:, 1])}
    base = np.array([family_score[f] for f in lic.table[:, 1]], dtype=float)[lic.code] if inp.n else np.zeros(0)
    score = np.where(inp.gated > 0, base - GATED_PENALTY, base)
    api_only = 10 + 20 * (1 - np.nan_to_num(price_pct, nan=0.5))
    score = np.select([cls_code == 3, cls_code == 4], [api_only, np.nan], score)  # unknown is unknown
    out.update({"licence": licence, "licence_family": family, "commercial_use": commercial, "licence_via": via,
                "cheapest_provider": provider, "cheapest_input_usd_per_m": price_in,
                "cheapest_output_usd_per_m": price_out, "hosted_providers": live.astype(np.int64),
                "pricing": score})

    # -- match: the match graph's scores; absent (no graph yet, or not in it) is unknown, not 0
    out["match"] = col("SELECT model_key, score FROM match_scores", np.nan)

    # -- adoption, finished: family downloads (own + copies', folded by the match step)
    copies = col("""SELECT c.canonical_key, sum(coalesce(m.downloads, 0)) FROM match_copies c
        JOIN models m ON m.key = c.model_key AND m.removed_at IS NULL GROUP BY c.canonical_key""")
    fam = out.pop("_downloads") + copies
    out["family_downloads_30d"] = fam.astype(np.int64)
    p, pt = log_scores(fam, out.pop("_task"), ADOPTION_FLOORS["family_downloads_30d"])
    aw = weights["adoption"]
    num = out.pop("_adoption_num") + np.where(np.isnan(pt), 0, aw["family_downloads_30d"] * np.nan_to_num(pt))
    den = out.pop("_adoption_den") + np.where(np.isnan(pt), 0, aw["family_downloads_30d"])
    out["p_family_downloads_30d"], out["pt_family_downloads_30d"] = Fixed.of(p, 2), Fixed.of(pt, 2)
    out["adoption"] = np.where(den > 0, num / np.where(den > 0, den, 1), 0)

    # -- rounding, rank, percentiles of the signals
    for s in SIGNALS:
        out[s] = np.round(out[s], 2)
    rw = weights["rank"]
    # an unknown signal contributes nothing and the known weights are rescaled to sum to 1 (the
    # rank says which were known: `rank_known_weight`, and `hubdex rank` shows the rescaled weights)
    known = np.round(sum(rw[s] * ~np.isnan(out[s]) for s in SIGNALS), 4)  # as stored: explain divides by it too
    out["rank_known_weight"] = known
    safe_known = np.where(known > 0, known, 1)
    out["rank"] = np.round(sum(np.round(rw[s] / safe_known * np.nan_to_num(out[s]), 2) for s in SIGNALS), 2)
    for s in SIGNALS[:-1] + ("rank",):
        out[s + "_pct"] = Fixed.of(percentiles(out[s], zero_scores_zero=False), 2)
    for s in SIGNALS + ("rank",):
        out[s] = Fixed.of(out[s], 2)
    for k in list(q) + list(e):
        name = ("q_" if k in q else "e_") + k
        out[name] = Fixed.of(out[name], 4)
    q.clear()  # their arrays now live, compact, in `out` only
    e.clear()
    out["eval_standing"] = Fixed.of(out["eval_standing"], 4)
    out["documentation"] = Fixed.of(out["documentation"], 2)
    out["rank_known_weight"] = Fixed.of(out["rank_known_weight"], 4)
    out["licence"], out["licence_family"], out["commercial_use"], out["licence_via"] = (
        Coded(lic.code.astype(np.int32), lic.table[:, j].copy()) for j in range(4))
    out["pricing_class"] = Coded(cls_code.astype(np.int32), np.array(PRICING_CLASSES, dtype=object))
    out["cheapest_provider"] = Coded.of(provider)
    return out


def contribution(weight: float, score: float, known: float = 1.0) -> float:
    """A signal's share of the rank, as the rank adds them up: an unknown signal adds nothing, and
    each known weight is divided by `known` (the sum of the known signals' weights)."""
    known = known if known else 1.0
    return round(float(np.round(weight / known * (0.0 if score is None else score), 2)), 2)

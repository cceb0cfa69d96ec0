"""A leaderboard corpus: real results of real Hub models, in the format of `../shared/fixtures/benchmarks/`.

A corpus directory holds three files (each may be stored compressed, `.gz` or `.xz`):

- `models.jsonl`: one model a line, `{"model_id", "task": [..], "n_benchmark_rows", "metadata": [{"source",
  "fields": {..}}]}`; every field of a group comes from that group's source file;
- `benchmarks.jsonl`: one result a line, `{"model_id", "benchmark", "dataset_id", "task_id", "split", "metric",
  "value", "higher_is_better", "source_name", "source_url", "date", ...}`;
- `benchmarks.json`: `{"benchmarks": [{"benchmark", "task", "dataset_id", "task_id", "split", "metric",
  "higher_is_better", ...}]}`.

`load(path)` reads and checks the whole directory before anything is served: a file that is missing, a line
that is not a JSON object, a missing or mistyped required key, or a result naming a benchmark or model the
directory does not define raises `CorpusError` naming the file and line. Nothing here knows any model,
benchmark or source by name: any leaderboard of this shape loads.
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
from dataclasses import dataclass, field
from importlib import resources

FILES = ("models.jsonl", "benchmarks.jsonl", "benchmarks.json")
_OPENERS = (("", open), (".gz", gzip.open), (".xz", lzma.open))

MODEL_KEYS = {"model_id": str, "task": list, "metadata": list}
RESULT_KEYS = {"model_id": str, "benchmark": str, "dataset_id": str, "split": str, "metric": str,
               "value": (int, float), "higher_is_better": bool, "source_name": str}
BENCHMARK_KEYS = {"benchmark": str, "task": str, "dataset_id": str, "metric": str, "higher_is_better": bool}


class CorpusError(ValueError):
    """A corpus directory that can't be served; the message names the file and line."""


@dataclass
class Corpus:
    path: str
    models: dict[str, dict] = field(default_factory=dict)        # model id -> its models.jsonl entry
    results: dict[str, list[dict]] = field(default_factory=dict)  # model id -> its result rows, file order
    benchmarks: dict[str, dict] = field(default_factory=dict)     # benchmark key -> definition

    def facts(self, model_id: str) -> dict:
        """Every metadata field of a model, the first source that gives a field winning, with its source:
        {field: (value, source)}."""
        out: dict = {}
        for group in self.models[model_id]["metadata"]:
            for name, value in group["fields"].items():
                if value is not None and name not in out:
                    out[name] = (value, group["source"])
        return out


def shipped_dir() -> str:
    """The corpus shipped inside the package (compressed): what `demo` serves on a fresh clone."""
    return str(resources.files("hubdex.replica") / "data" / "corpus")


def _find(path: str, name: str):
    for suffix, opener in _OPENERS:
        full = os.path.join(path, name + suffix)
        if os.path.isfile(full):
            return full, opener
    raise CorpusError(f"{os.path.join(path, name)}: missing (a corpus directory holds {', '.join(FILES)}; "
                      ".gz or .xz allowed)")


def _lines(path: str, name: str):
    full, opener = _find(path, name)
    try:
        with opener(full, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    yield full, number, line
    except (OSError, EOFError, UnicodeDecodeError, lzma.LZMAError) as e:
        raise CorpusError(f"{full}: unreadable ({type(e).__name__}: {e})") from None


def _object(full: str, number: int, text: str, keys: dict) -> dict:
    where = f"{full}:{number}" if number else full
    try:
        obj = json.loads(text)  # (not orjson: MTEB writes max_tokens Infinity, which only json reads)
    except json.JSONDecodeError as e:
        raise CorpusError(f"{where}: not JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise CorpusError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    check(where, obj, keys)
    return obj


def check(where: str, obj: dict, keys: dict):
    for key, kind in keys.items():
        if key not in obj:
            raise CorpusError(f"{where}: missing key {key!r}")
        value = obj[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise CorpusError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")


def load(path: str) -> Corpus:
    if not os.path.isdir(path):
        raise CorpusError(f"{path}: not a directory (a corpus directory holds {', '.join(FILES)})")
    corpus = Corpus(path=path)
    full, opener = _find(path, "benchmarks.json")
    try:
        with opener(full, "rt", encoding="utf-8") as f:
            text = f.read()
    except (OSError, EOFError, UnicodeDecodeError, lzma.LZMAError) as e:
        raise CorpusError(f"{full}: unreadable ({type(e).__name__}: {e})") from None
    doc = _object(full, 0, text, {"benchmarks": list})
    for i, bench in enumerate(doc["benchmarks"]):
        where = f"{full}: benchmarks[{i}]"
        if not isinstance(bench, dict):
            raise CorpusError(f"{where}: expected an object")
        check(where, bench, BENCHMARK_KEYS)
        if bench["benchmark"] in corpus.benchmarks:
            raise CorpusError(f"{where}: benchmark {bench['benchmark']!r} defined twice")
        corpus.benchmarks[bench["benchmark"]] = bench
    for full, number, line in _lines(path, "models.jsonl"):
        model = _object(full, number, line, MODEL_KEYS)
        mid = model["model_id"]
        if mid.count("/") != 1 or not all(mid.split("/")):
            raise CorpusError(f"{full}:{number}: model_id {mid!r} is not an owner/name Hub id")
        if mid in corpus.models:
            raise CorpusError(f"{full}:{number}: model {mid!r} listed twice")
        for g in model["metadata"]:
            if not isinstance(g, dict) or not isinstance(g.get("source"), str) or not isinstance(g.get("fields"), dict):
                raise CorpusError(f"{full}:{number}: a metadata group needs a 'source' string and a 'fields' object")
        corpus.models[mid] = model
    for full, number, line in _lines(path, "benchmarks.jsonl"):
        row = _object(full, number, line, RESULT_KEYS)
        if row["benchmark"] not in corpus.benchmarks:
            raise CorpusError(f"{full}:{number}: benchmark {row['benchmark']!r} is not in benchmarks.json")
        if row["model_id"] not in corpus.models:
            raise CorpusError(f"{full}:{number}: model {row['model_id']!r} is not in models.jsonl")
        corpus.results.setdefault(row["model_id"], []).append(row)
    return corpus

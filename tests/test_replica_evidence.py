"""The replica's real world: a leaderboard corpus served as real models with their real results, through the
Hub's evidence endpoints, as huggingface_hub 2.4 sends and parses them (HUB-API §9)."""

from __future__ import annotations

import collections
import gzip
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import requests
from huggingface_hub import HfApi

from hubdex.replica import corpus as corpus_mod

from .conftest import REPO, UNLIMITED

SHARED_CORPUS = REPO.parent / "shared" / "fixtures" / "benchmarks"
HUBDEX = [sys.executable, "-m", "hubdex"]


def corpus_dir() -> str:
    """The real corpus: ../shared when beside the repo (a user's clone has none: then the shipped copy)."""
    return str(SHARED_CORPUS) if SHARED_CORPUS.is_dir() else corpus_mod.shipped_dir()


@pytest.fixture(scope="module")
def corpus():
    return corpus_mod.load(corpus_dir())


@pytest.fixture(scope="module")
def corpus_replica():
    from hubdex.replica.server import start_replica

    server = start_replica(corpus_dir(), quotas=UNLIMITED)
    yield server
    server.stop()


def _sample(ids, every=37):
    return sorted(ids)[::every]


def test_shipped_copy_is_the_corpus(corpus):
    shipped = corpus_mod.load(corpus_mod.shipped_dir())
    assert shipped.models.keys() == corpus.models.keys()
    assert shipped.benchmarks == corpus.benchmarks
    assert shipped.results == corpus.results
    size = sum(f.stat().st_size for f in pathlib.Path(corpus_mod.shipped_dir()).iterdir())
    assert size < 1_000_000  # compressed


def test_model_info_eval_results_are_the_corpus_rows(corpus_replica, corpus):
    api = HfApi(endpoint=corpus_replica.url, token=False)
    for mid in _sample(corpus.results):
        info = api.model_info(mid, expand=["evalResults"])
        got = {(e.dataset_id, e.task_id, e.value) for e in info.eval_results}
        want = {(r["dataset_id"], r.get("task_id") or "default", r["value"]) for r in corpus.results[mid]}
        assert got == want, mid
        for e in info.eval_results:
            assert e.verify_token is None  # no source ran under the Hub's verifiable setup
            assert e.source_url and e.source_name
        self_reported = {r["dataset_id"] for r in corpus.results[mid] if r.get("self_reported")}
        assert {e.dataset_id for e in info.eval_results if "self-reported" in (e.notes or "")} == self_reported


def test_list_models_eval_results_cover_the_corpus(corpus_replica, corpus):
    api = HfApi(endpoint=corpus_replica.url, token=False)
    served = {m.id: m.eval_results or [] for m in api.list_models(expand=["evalResults"])}
    assert served.keys() == corpus.models.keys()
    assert sum(len(v) for v in served.values()) == sum(len(v) for v in corpus.results.values())


def test_benchmark_datasets_and_leaderboards(corpus_replica, corpus):
    api = HfApi(endpoint=corpus_replica.url, token=False)
    datasets = {d.id: d for d in api.list_datasets(benchmark=True)}
    assert set(datasets) == {b["dataset_id"] for b in corpus.benchmarks.values()}
    by_dataset = collections.defaultdict(list)
    for rows in corpus.results.values():
        for r in rows:
            by_dataset[r["dataset_id"]].append(r)
    declares_base = {}
    for mid, entry in corpus.models.items():
        base = corpus.facts(mid).get("base_model", (None,))[0]
        # a base model is declared by a Hub id other than the model's own ("Removed" declares none)
        declares_base[mid] = isinstance(base, str) and base != mid and base.count("/") == 1
    for dataset_id in sorted(by_dataset)[::5]:
        full = api.get_dataset_leaderboard(dataset_id, base_model_only=False)
        default = api.get_dataset_leaderboard(dataset_id)
        rows = by_dataset[dataset_id]
        assert {(e.model_id, e.value) for e in full} == {(r["model_id"], r["value"]) for r in rows}
        assert {e.model_id for e in default} == {r["model_id"] for r in rows if not declares_base[r["model_id"]]}
        higher = rows[0]["higher_is_better"]
        for board in (full, default):
            for task in {e.task_id for e in board}:
                entries = [e for e in board if e.task_id == task]
                assert [e.rank for e in entries] == list(range(1, len(entries) + 1))
                values = [e.value for e in entries]
                assert values == sorted(values, reverse=higher)
                assert all(e.verified is False for e in entries)
    with pytest.raises(Exception):
        api.get_dataset_leaderboard("nobody/no-such-benchmark")


def test_spaces_by_model(corpus_replica, corpus):
    api = HfApi(endpoint=corpus_replica.url, token=False)
    spaces = list(api.list_spaces(expand=["models"]))
    side_by_side = [s for s in spaces if len(s.models) >= 2]
    assert side_by_side and all(s.id.startswith("replica-spaces/") for s in spaces)  # synthesised, said so
    tasks = {}
    for mid, entry in corpus.models.items():
        tasks[mid] = entry["task"][0]
    for s in side_by_side:
        assert len({tasks[m] for m in s.models}) == 1, s.id  # one task side by side
    member = side_by_side[0].models[0]
    found = list(api.list_spaces(models=member, expand=["models"]))
    assert found and all(member in s.models for s in found)
    info = api.model_info(member, expand=["spaces"])
    assert set(info.spaces) == {s.id for s in found}


def test_demo_serves_corpus_results_for_real_models(demo_replica, corpus):
    """The demo carries the shipped corpus: recorded real models get their corpus results too."""
    api = HfApi(endpoint=demo_replica.url, token=False)
    served = {m.id: m for m in api.list_models(expand=["evalResults", "safetensors"])}
    with_results = [mid for mid in corpus.results if mid in served]
    assert len(with_results) > 0.9 * len(corpus.results)  # the rest are old names the recorded bodies renamed
    for mid in _sample(with_results, 53):
        want = {(r["dataset_id"], r["value"]) for r in corpus.results[mid]}
        assert {(e.dataset_id, e.value) for e in served[mid].eval_results or []} == want, mid
    recorded_with_results = [m for m in served.values() if m.eval_results and m.id not in corpus.models]
    assert not recorded_with_results  # only corpus models carry results
    # a recorded body that the corpus also evaluates keeps its recorded figures and gains the results
    recorded = [mid for mid in corpus.results if mid in served and served[mid].safetensors
                and requests.get(f"{demo_replica.url}/api/models/{mid}", timeout=30).json().get("usedStorage")]
    assert recorded


def _write_corpus(tmp_path, models=None, results=None, benchmarks=None, compress=False):
    src = pathlib.Path(corpus_dir())
    out = tmp_path / "corpus"
    out.mkdir()
    for name, override in (("models.jsonl", models), ("benchmarks.jsonl", results), ("benchmarks.json", benchmarks)):
        candidates = [src / name, src / (name + ".xz"), src / (name + ".gz")]
        path = next(p for p in candidates if p.exists())
        if override is not None:
            (out / name).write_text(override)
        elif path.suffix == ".xz":
            import lzma

            (out / name).write_bytes(lzma.decompress(path.read_bytes()))
        elif path.suffix == ".gz":
            (out / name).write_bytes(gzip.decompress(path.read_bytes()))
        else:
            shutil.copy(path, out / name)
        if compress and override is None:
            data = (out / name).read_bytes()
            (out / name).unlink()
            (out / (name + ".gz")).write_bytes(gzip.compress(data))
    return out


def _first_lines(name, n):
    c = corpus_mod.load(corpus_dir())
    if name == "models":
        return [json.dumps(m) for m in list(c.models.values())[:n]]
    return []


@pytest.mark.parametrize("damage, where", [
    ("models_bad_json", "models.jsonl:3"),
    ("models_missing_key", "models.jsonl:2"),
    ("results_unknown_benchmark", "benchmarks.jsonl:2"),
    ("results_unknown_model", "benchmarks.jsonl:1"),
    ("missing_file", "benchmarks.json"),
])
def test_malformed_corpus_refused_at_start(tmp_path, damage, where):
    c = corpus_mod.load(corpus_dir())
    models = [json.dumps(m) for m in list(c.models.values())[:5]]
    mids = [json.loads(m)["model_id"] for m in models]
    rows = [json.dumps(r) for mid in mids for r in c.results.get(mid, [])][:4]
    kwargs = {"models": "\n".join(models) + "\n", "results": "\n".join(rows) + "\n"}
    if damage == "models_bad_json":
        kwargs["models"] = "\n".join(models[:2] + ['{"model_id": "a/b", '] + models[2:]) + "\n"
    elif damage == "models_missing_key":
        broken = json.loads(models[1])
        del broken["task"]
        kwargs["models"] = "\n".join([models[0], json.dumps(broken)] + models[2:]) + "\n"
    elif damage == "results_unknown_benchmark":
        broken = json.loads(rows[1])
        broken["benchmark"] = "Nowhere/none"
        kwargs["results"] = "\n".join([rows[0], json.dumps(broken)] + rows[2:]) + "\n"
    elif damage == "results_unknown_model":
        broken = json.loads(rows[0])
        broken["model_id"] = "nobody/none"
        kwargs["results"] = "\n".join([json.dumps(broken)] + rows[1:]) + "\n"
    path = _write_corpus(tmp_path, **kwargs)
    if damage == "missing_file":
        (path / "benchmarks.json").unlink()
    proc = subprocess.run(HUBDEX + ["replica", "serve", "--catalog", str(path)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --catalog") and where in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not proc.stdout


def test_serve_catalog_directory_over_http(tmp_path):
    """`hubdex replica serve --catalog DIR` (here a gzipped copy) serves the corpus's models and results."""
    path = _write_corpus(tmp_path, compress=True)
    c = corpus_mod.load(str(path))
    proc = subprocess.Popen(HUBDEX + ["replica", "serve", "--catalog", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        api = HfApi(endpoint=url, token=False)
        mid = sorted(c.results)[len(c.results) // 2]
        info = api.model_info(mid, expand=["evalResults", "safetensors"])
        assert {e.value for e in info.eval_results} == {r["value"] for r in c.results[mid]}
        ids = {m.id for m in api.list_models()}
        assert ids == set(c.models)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

"""Every figure of every demo model is either from a named source or synthesised by a documented rule, and
the figures agree with each other and with their sources (issue 21, "no invented figure presented as real")."""

from __future__ import annotations

import collections
import re

import pytest
import requests
from huggingface_hub import HfApi

from hubdex.replica import corpus as corpus_mod
from hubdex.replica import realmodels

from .conftest import REPO

WEIGHTS = re.compile(r"\.(safetensors|bin|gguf|onnx|h5|msgpack|pt|pth|ckpt|nemo)$")
FIELDS = ["downloads", "downloadsAllTime", "likes", "trendingScore", "createdAt", "lastModified", "safetensors",
          "usedStorage", "siblings", "tags", "cardData", "library_name", "pipeline_tag", "sha", "gated"]


@pytest.fixture(scope="module")
def demo_models(demo_replica):
    api = HfApi(endpoint=demo_replica.url, token=False)
    return {m.id: m for m in api.list_models(expand=FIELDS)}


@pytest.fixture(scope="module")
def corpus():
    return corpus_mod.load(corpus_mod.shipped_dir())


def _provenance(server, mid):
    r = requests.get(f"{server.url}/_replica/provenance/{mid}", timeout=30)
    assert r.status_code == 200, mid
    return r.json()


def test_every_figure_has_a_source_or_a_documented_rule(demo_replica, demo_models):
    doc = (REPO / "docs" / "REPLICA.md").read_text()
    kinds = collections.Counter()
    rules = set()
    for mid in demo_models:
        prov = _provenance(demo_replica, mid)
        kinds[prov["kind"]] += 1
        for field, source in prov["fields"].items():
            assert source, (mid, field)
            if source.startswith("synthesised:"):
                rules.add(source[len("synthesised:"):].strip())
    assert kinds["corpus"] > 2000 and kinds["synthetic"] == 3000 and kinds["recorded"] > 20
    assert kinds["card or expand recording"] > 50 and kinds["hand-written"] == 2
    missing = [rule for rule in rules if rule not in doc]
    assert not missing, f"synthesis rules not in docs/REPLICA.md's table: {missing}"


def test_figures_agree_with_each_other(demo_models):
    for mid, m in demo_models.items():
        assert m.downloads_all_time >= m.downloads, mid
        if m.created_at.isoformat() >= "2022-03-03":  # old repos' creation dates were backfilled (real bodies too)
            assert m.last_modified >= m.created_at, mid
        files = [s.rfilename for s in m.siblings or []]
        assert any(WEIGHTS.search(f) for f in files), f"{mid}: an open-weight model without weight files"
        if m.safetensors:
            assert sum(m.safetensors.parameters.values()) == m.safetensors.total, mid
        assert m.used_storage and m.used_storage > 0, mid


def test_used_storage_matches_the_weight_files(demo_replica, demo_models):
    """usedStorage is the weight files' bytes (from the parameter count and dtype) plus at most 1 MiB, and the
    safetensors headers add up to the `safetensors` parameters."""
    api = HfApi(endpoint=demo_replica.url, token="hf_test")  # gated repos' files need a token
    ids = sorted(demo_models)
    recorded = {mid for mid in ids if _provenance(demo_replica, mid)["kind"] == "recorded"}
    valid = re.compile(r"^[\w.-]+/[\w.-]+$")  # a few 2020 ids (a comma) fail the client's validation
    sample = [mid for mid in ids if mid not in recorded and valid.match(mid) and ".." not in mid][::61]
    assert len(sample) > 50
    for mid in sample:
        info = api.model_info(mid, files_metadata=True)
        lfs = sum(s.size for s in info.siblings if s.lfs)
        assert lfs <= info.used_storage <= lfs + (1 << 20) + 8 * 4096 + 0.001 * lfs, (mid, lfs, info.used_storage)
        names = {s.rfilename for s in info.siblings}
        if info.safetensors and names & {"model.safetensors", "model.safetensors.index.json"} \
                and info.library_name not in ("diffusers", "peft"):
            meta = api.get_safetensors_metadata(mid)
            counts = collections.Counter()
            for f in meta.files_metadata.values():
                for dtype, n in f.parameter_count.items():
                    counts[dtype] += n
            assert dict(counts) == info.safetensors.parameters, mid


def test_no_figure_of_a_corpus_model_contradicts_its_source(demo_replica, demo_models, corpus):
    checked = 0
    for mid in sorted(corpus.models):
        m = demo_models.get(mid)
        if m is None or _provenance(demo_replica, mid)["kind"] != "corpus":
            continue  # an old name that redirects, or a recorded body (its own source)
        facts = {k: v for k, (v, _s) in corpus.facts(mid).items()}
        if isinstance(facts.get("n_parameters"), (int, float)) and facts["n_parameters"] > 0:  # OLL writes -1 for unknown
            if m.safetensors is None:  # a 2020 repo: pytorch_model.bin, sized from the source's count
                assert "pytorch_model.bin" in {s.rfilename for s in m.siblings}, mid
                assert m.used_storage >= int(facts["n_parameters"]) * 2, mid
            else:
                assert m.safetensors.total == int(facts["n_parameters"]), mid
        if isinstance(facts.get("likes"), int):
            assert m.likes == facts["likes"], mid
        lic = realmodels.licence_fields(facts.get("license")).get("license")
        assert (f"license:{lic}" in m.tags) if lic else not any(t.startswith("license:") for t in m.tags), mid
        date = facts.get("hub_upload_date") or facts.get("release_date")
        if isinstance(date, str) and date >= "2022-03-03":
            assert m.created_at.date().isoformat() == date[:10], mid
        elif isinstance(date, str):
            assert m.created_at.isoformat().startswith("2022-03-02T23:29:04"), mid  # before dates were stored
        rev = facts.get("revision")
        if isinstance(rev, str) and re.fullmatch(r"[0-9a-f]{40}", rev):
            assert m.sha == rev, mid
        base = facts.get("base_model")
        if isinstance(base, str) and base != mid and base.count("/") == 1:
            assert f"base_model:{base}" in m.tags, mid
        checked += 1
    assert checked > 2000


def test_embedding_dimension_and_max_tokens_in_the_files_libraries_read(demo_replica, demo_models, corpus):
    checked = 0
    for mid in sorted(corpus.models)[::7]:
        facts = {k: v for k, (v, _s) in corpus.facts(mid).items()}
        m = demo_models.get(mid)
        if m is None or _provenance(demo_replica, mid)["kind"] != "corpus":
            continue
        files = {s.rfilename for s in m.siblings}
        get = lambda path: requests.get(f"{demo_replica.url}/{mid}/resolve/main/{path}", timeout=30,  # noqa: E731
                                        headers={"Authorization": "Bearer hf_test"}).json()
        if m.library_name == "sentence-transformers" and isinstance(facts.get("embed_dim"), int):
            assert get("1_Pooling/config.json")["word_embedding_dimension"] == facts["embed_dim"]
            assert get("config.json")["hidden_size"] == facts["embed_dim"]
            checked += 1
        if m.library_name == "sentence-transformers" and isinstance(facts.get("max_tokens"), int):
            assert get("sentence_bert_config.json")["max_seq_length"] == facts["max_tokens"]
        if "open_clip_config.json" in files and isinstance(facts.get("embed_dim"), int):
            assert get("open_clip_config.json")["model_cfg"]["embed_dim"] == facts["embed_dim"]
            checked += 1
    assert checked > 10


def test_a_recorded_body_serves_the_corpus_embedding_dimension(demo_replica, demo_models, corpus):
    """A recorded body keeps its own figures, but its sentence-transformers files carry the corpus's
    embedding dimension and max input, never a synthesised tensor shape's (all-MiniLM-L6-v2 is 384-d)."""
    checked = 0
    for mid in sorted(corpus.models):
        m = demo_models.get(mid)
        if m is None or _provenance(demo_replica, mid)["kind"] != "recorded":
            continue
        facts = {k: v for k, (v, _s) in corpus.facts(mid).items()}
        files = {s.rfilename for s in m.siblings}
        for path, key, fact in (("1_Pooling/config.json", "word_embedding_dimension", "embed_dim"),
                                ("sentence_bert_config.json", "max_seq_length", "max_tokens")):
            if path in files and isinstance(facts.get(fact), int):
                served = requests.get(f"{demo_replica.url}/{mid}/resolve/main/{path}", timeout=30).json()
                assert served[key] == facts[fact], (mid, path)
                checked += 1
    assert checked >= 2  # all-MiniLM-L6-v2 at least


def test_no_real_model_is_served_a_drawn_context_length(demo_replica, demo_models):
    """No source gives a real model's context length to the replica, so its tokenizer_config.json names
    none; only a synthetic model's is drawn (Yi-1.5-34B-Chat was once served 131,072 tokens by a hash)."""
    real = synthetic = 0
    for mid, m in sorted(demo_models.items()):
        if "tokenizer_config.json" not in {s.rfilename for s in (m.siblings or [])}:
            continue
        kind = _provenance(demo_replica, mid)["kind"]
        if kind != "synthetic" and real >= 25 or kind == "synthetic" and synthetic >= 5:
            continue
        served = requests.get(f"{demo_replica.url}/{mid}/resolve/main/tokenizer_config.json", timeout=30,
                              headers={"Authorization": "Bearer hf_test"}).json()
        if kind == "synthetic":
            assert isinstance(served.get("model_max_length"), int), mid
            synthetic += 1
        else:
            assert "model_max_length" not in served, (mid, kind)
            real += 1
    assert real >= 10 and synthetic >= 1


def test_recorded_bodies_keep_their_figures(demo_replica, demo_models):
    """Expand answers of a recorded model carry its recorded figures; only the two fields a default body lacks
    are synthesised, by the documented rules."""
    for mid, m in demo_models.items():
        prov = _provenance(demo_replica, mid)
        if prov["kind"] != "recorded":
            continue
        body = requests.get(f"{demo_replica.url}/api/models/{mid}", timeout=30).json()
        if body.get("id") != mid:
            continue
        assert m.downloads == body["downloads"] and m.likes == body["likes"], mid
        assert prov["fields"]["downloadsAllTime"].startswith("synthesised:")
        assert m.downloads_all_time >= m.downloads


def test_synthetic_models_cannot_pass_for_real_ones(demo_replica, demo_models):
    """No synthetic id under a real organisation of the demo; every synthetic namespace plainly synthetic; no
    synthetic name contradicting its task (an LLM's size or chat variant on an encoder, a task word of another
    task)."""
    from hubdex.replica import vocab

    kinds = {mid: _provenance(demo_replica, mid)["kind"] for mid in demo_models}
    real_orgs = {mid.split("/")[0] for mid, kind in kinds.items() if kind != "synthetic" and "/" in mid}
    synthetic = [mid for mid, kind in kinds.items() if kind == "synthetic"]
    assert len(synthetic) == 3000
    task_words = set(vocab.TASK_WORDS.values())
    llm_sizes = {s for s in vocab.SIZES if s[-1] in "MB"}
    for mid in synthetic:
        org, name = mid.split("/")
        assert org not in real_orgs, mid
        assert org.startswith(vocab.SYNTHETIC_PREFIX), mid
        m = demo_models[mid]
        task = m.pipeline_tag
        group = vocab.GROUP_OF_TASK.get(task, "encoder")
        parts = name.split("-")
        words = set(parts)
        assert words & task_words == ({vocab.TASK_WORDS[task]} if task in vocab.TASK_WORDS else set()), mid
        if group != "llm":
            assert not words & vocab.LLM_ONLY_WORDS, mid
        if group in ("encoder", "speech"):
            assert not words & llm_sizes, mid
        if group == "llm" and task == "text-generation":
            assert words & llm_sizes, mid
        if m.safetensors:  # parameter counts realistic for the task: the size in the name, within 10%
            size = next((w for w in parts if w in vocab.SIZE_PARAMS), None)
            if size and "LoRA" not in words:
                assert abs(m.safetensors.total / vocab.SIZE_PARAMS[size] - 1) < 0.1, mid

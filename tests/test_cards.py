"""Card parsing on real cards, checked against what a person reads in them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hubdex.records.cards import MAX_CARD_BYTES, model_index_evaluations, parse

from .conftest import real_dir

CARDS = real_dir() / "model-cards"
INDEX = json.loads((CARDS / "index.json").read_text())


def card(name):
    return parse((CARDS / name).read_bytes())


def evals(parsed):
    return {(e["metric"], e["value"], e["dataset"], e["subject"], e["split"]) for e in parsed.evaluations}


def caps(parsed, kind):
    return {c["detail"] for c in parsed.capabilities if c["capability"] == kind}


@pytest.mark.parametrize("entry", INDEX, ids=[e["file"] for e in INDEX])
def test_every_real_card_parses(entry):
    parsed = card(entry["file"])
    assert parsed.problems == [] and not parsed.truncated
    assert bool(parsed.front_matter) == entry["has_front_matter"]
    assert parsed.sections or parsed.code_blocks or parsed.tables or parsed.front_matter  # 3 are front matter only
    assert all({"capability", "detail", "evidence_kind", "evidence_source", "confidence"} == set(c)
               for c in parsed.capabilities)


def test_results_tables_yield_evaluations():
    with_tables = [e["file"] for e in INDEX if e["has_results_table"]]
    missed = [f for f in with_tables if not card(f).evaluations]
    # mMiniLM's XNLI table has models as rows and languages as columns, with no metric word: left out.
    assert len(with_tables) == 23 and missed == ["microsoft__Multilingual-MiniLM-L12-H384.md"]


def test_mobilebert_squad():
    c = card("csarron__mobilebert-uncased-squad-v1.md")
    assert [s["title"] for s in c.sections] == ["MobileBERT fine-tuned on SQuAD v1", "Details", "Fine-tuning",
                                                "Results", "Example Usage"]
    assert {("EM", 82.6, None, None, None), ("F1", 90.0, None, None, None)} <= evals(c)
    assert caps(c, "task") == {"question-answering"} and caps(c, "license") == {"mit"}
    assert caps(c, "training data") == {"squad"} and "https://arxiv.org/abs/2004.02984" in caps(c, "paper")
    assert [b["language"] for b in c.code_blocks] == ["shell", "python"]


def test_dslim_ner_dev_and_test_splits():
    c = card("dslim__bert-base-NER.md")
    assert {("f1", 91.3, None, None, "test"), ("precision", 90.7, None, None, "test"),
            ("recall", 91.9, None, None, "test"), ("f1", 95.1, None, None, "dev")} <= evals(c)
    titles = [s["title"] for s in c.sections]
    assert titles[:5] == ["bert-base-NER", "Model description", "Intended uses & limitations", "How to use",
                          "Limitations and bias"]
    assert next(s for s in c.sections if s["title"] == "How to use")["path"] == [
        "bert-base-NER", "Intended uses & limitations", "How to use"]
    assert any("limited by its training dataset" in d for d in caps(c, "limitations stated"))


def test_gpt2_uses_and_limitations():
    c = card("gpt2.md")
    assert c.evaluations == []
    assert any(d.startswith("You can use the raw model for text generation") for d in caps(c, "intended use"))
    assert any("training data used for this model has not been released" in d for d in caps(c, "limitations stated"))
    assert caps(c, "license") == {"mit"} and caps(c, "language") == {"en"}


def test_bert_base_uncased_training_data_and_paper():
    c = card("bert-base-uncased.md")
    assert caps(c, "training data") == {"bookcorpus", "wikipedia"}
    assert "https://arxiv.org/abs/1810.04805" in caps(c, "paper")
    assert any("4 cloud TPUs" in d for d in caps(c, "training described"))


def test_bart_large_mnli_zero_shot():
    c = card("facebook__bart-large-mnli.md")
    assert caps(c, "task") == {"zero-shot-classification"} and caps(c, "training data") == {"multi_nli"}
    assert "transformers" in caps(c, "library")
    assert [s["title"] for s in c.sections][1] == "NLI-based Zero Shot Text Classification"


def test_nlptown_accuracy_per_language():
    c = card("nlptown__bert-base-multilingual-uncased-sentiment.md")
    assert {("Accuracy (exact)", 67.0, "English", None, None), ("Accuracy (off-by-1)", 95.0, "English", None, None),
            ("Accuracy (exact)", 57.0, "Dutch", None, None)} <= evals(c)
    assert caps(c, "language") == {"en", "nl", "de", "fr", "it", "es"}


def test_helsinki_bleu_and_chrf():
    c = card("Helsinki-NLP__cs-en.md")
    assert len(c.evaluations) == 12
    assert {("BLEU", 34.1, "newstest2014-csen.cs.en", None, None), ("chr-F", 0.721, "Tatoeba.cs.en", None, None),
            ("BLEU", 58.0, "Tatoeba.cs.en", None, None)} <= evals(c)
    assert c.evaluations[0]["where"] == "section 'Benchmarks', table 1, row 1"


def test_flux_dev_without_front_matter():
    c = card("black-forest-labs__FLUX.1-dev.md")
    assert c.front_matter == {}
    assert [s["title"] for s in c.sections if s["level"] == 1] == ["Key Features", "Usage", "Limitations",
                                                                   "Out-of-Scope Use", "License"]
    assert caps(c, "limitations stated") and caps(c, "usage documented")


def test_comparison_tables_name_the_models_they_compare():
    c = card("pdelobelle__robbert-v2-dutch-base.md")
    assert ("Accuracy [%]", 95.1, None, "RobBERT v2", None) in evals(c)
    ner = card("mrm8488__bert-spanish-cased-finetuned-ner.md")
    assert {("F1", 90.17, None, None, None), ("Precision", 89.86, None, None, None)} <= evals(ner)
    assert ("# F1 score", 90.17, None, "bert-spanish-cased-finetuned-ner (this one)", None) in evals(ner)


def test_sentence_transformer_card():
    c = card("T-Systems-onsite__cross-en-de-roberta-sentence-transformer.md")
    assert caps(c, "library") >= {"sentence-transformers"} and caps(c, "language") == {"de", "en"}
    assert ("Spearman German", 0.8079, None, "xlm-r-distilroberta-base-paraphrase-v1", None) in evals(c)


@pytest.mark.parametrize("model,expected", [
    ("HuggingFaceH4_zephyr-7b-beta__2025-03-21__31822c7af1.json", 9),
    ("deepset_roberta-base-squad2__2025-01-22__085606be25.json", None),
    ("distilbert_distilbert-base-uncased-finetuned-sst-2-english__2025-03-21__82ebebb72a.json", None),
])
def test_model_index_of_real_bodies_becomes_evaluations(model, expected):
    body = json.loads((real_dir() / "huggingface_hub-cassettes" / "bodies" / model).read_bytes())
    rows = model_index_evaluations({"model-index": body["model-index"]})
    metrics = [m for entry in body["model-index"] for r in entry["results"] for m in r["metrics"]
               if isinstance(m.get("value"), (int, float))]
    assert rows and len(rows) == len(metrics) and (expected is None or len(rows) == expected)
    first = body["model-index"][0]["results"][0]
    ds = first["dataset"]
    base = ds.get("type") or ds.get("name")
    assert rows[0]["dataset"] in (base, f"{base}/{ds.get('config')}") and rows[0]["value"] == float(first["metrics"][0]["value"])
    if ds.get("config") and ds.get("config") != "default":
        assert rows[0]["dataset"] == f"{base}/{ds['config']}"  # the config is part of the benchmark
    assert rows[0]["where"] == "model-index[0].results[0].metrics[0]"


def test_model_index_keeps_the_dataset_config():
    # GLUE's sst2 and mnli are two benchmarks under one dataset id: never stored as one `glue`
    front = {"model-index": [{"results": [
        {"task": {"type": "text-classification"}, "dataset": {"type": "glue", "name": "GLUE", "config": "sst2",
                                                              "split": "validation"},
         "metrics": [{"type": "accuracy", "value": 0.91}]},
        {"task": {"type": "text-classification"}, "dataset": {"type": "glue", "name": "GLUE", "config": "mnli",
                                                              "split": "validation_matched"},
         "metrics": [{"type": "accuracy", "value": 0.84}]}]}]}
    assert [r["dataset"] for r in model_index_evaluations(front)] == ["glue/sst2", "glue/mnli"]
    from hubdex.records.evidence import model_index_rows
    rows = model_index_rows("org/m", front)
    assert [(r["dataset_id"], r["task_id"], r["split"], r["metric"]) for r in rows] == [
        ("glue", "sst2", "validation", "accuracy"), ("glue", "mnli", "validation_matched", "accuracy")]
    assert {r["kind"] for r in rows} == {"claim"}


def test_hostile_cards_are_handled():
    broken_yaml = parse(b"---\nlicense: [mit\n---\n# Title\n\ntext\n")
    assert broken_yaml.front_matter == {} and "not valid YAML" in broken_yaml.problems[0]
    assert [s["title"] for s in broken_yaml.sections] == ["Title"]
    bad_utf8 = parse(b"# Caf\xe9\n\nok\n")
    assert bad_utf8.sections[0]["title"] == "Caf\ufffd" and "invalid UTF-8" in bad_utf8.problems[0]
    html = parse(b"# T\n\n<div><script>alert(1)</script><b>bold</b></div>\n\n| a | acc |\n|---|---|\n| x | 9 |\n")
    assert ("acc", 9.0, "x", None, None) in evals(html)
    huge = parse(b"# Big\n\n" + b"word " * (MAX_CARD_BYTES // 4))
    assert huge.truncated and "truncated" in huge.problems[0]
    unclosed = parse(b"---\nlicense: mit\n# never closed\n")
    assert unclosed.front_matter == {} and "never closed" in unclosed.problems[0]
    assert parse(b"").sections == [] and parse(b"---\n---\n").front_matter == {}


def test_equal_inputs_give_equal_rows():
    raw = (CARDS / "dslim__bert-base-NER.md").read_bytes()
    assert parse(raw).as_dict() == parse(raw).as_dict()


def test_card_parse_cli(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"---\nlicense: [\n---\n# Hi\n")
    out = subprocess.run([sys.executable, "-m", "hubdex", "card", "parse", "--json", str(CARDS / "gpt2.md"),
                          str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    docs = json.loads(out.stdout)
    assert [d["file"] for d in docs] == [str(CARDS / "gpt2.md"), str(bad)]
    assert all({"sections", "evaluations", "capabilities"} <= set(d) for d in docs)
    assert docs[1]["problems"] and docs[1]["sections"][0]["title"] == "Hi"
    text = subprocess.run([sys.executable, "-m", "hubdex", "card", "parse", str(CARDS / "Helsinki-NLP__cs-en.md"),
                           str(tmp_path / "missing.md")], capture_output=True, text=True, timeout=60)
    assert text.returncode == 1 and "evaluations (12):" in text.stdout
    assert "Error: cannot read" in text.stderr and "Traceback" not in text.stderr

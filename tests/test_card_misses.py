"""Cards with real content the parser used to miss (issue 12): each now yields capabilities."""

from __future__ import annotations

from hubdex.records.cards import parse

CARD = b'''---
language: en
tags:
- masked-lm
- pytorch
widget:
- text: "Paris is the [MASK] of France."
  example_title: "Capital"
---
# tiny-bert

A small model: 12 layers, 768 hidden, 12 attention heads, built as a transformer-align encoder.
Code lives at [our repo](https://github.com/example-org/tiny-bert.git) and the demo is elsewhere.

```python
from transformers import AutoModel
model = AutoModel.from_pretrained("example/tiny-bert")
```

## Training data

- BookCorpus: 11,038 unpublished books
- English Wikipedia (excluding lists, tables and headers)

## Evaluation

| Dataset | EM/F1 |
|---|---|
| SQuAD 1.1 | 58.04/60.95 |

## Citation

Please cite "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding".

```bibtex
@article{devlin2018bert,
  title={{BERT}: Pre-training of Deep Bidirectional Transformers},
  year={2018}
}
```
'''


def _caps(parsed, kind):
    return {c["detail"] for c in parsed.capabilities if c["capability"] == kind}


def test_the_misses_listed_in_the_issue_are_found():
    p = parse(CARD)
    assert _caps(p, "usage documented") == {"code that loads the model"}  # no section called usage
    assert "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding" in _caps(p, "paper")
    assert "BERT: Pre-training of Deep Bidirectional Transformers" in _caps(p, "paper")  # the BibTeX title
    assert _caps(p, "project repository") == {"github.com/example-org/tiny-bert"}
    assert _caps(p, "widget example") == {"Paris is the [MASK] of France."}
    assert {"12 layers", "12 attention heads", "hidden size 768", "transformer-align"} <= _caps(p, "architecture")
    assert "fill-mask" in _caps(p, "task")  # from the masked-lm tag
    assert {"BookCorpus", "English Wikipedia"} <= _caps(p, "training data")
    got = {(e["metric"], e["value"], e["dataset"]) for e in p.evaluations}
    assert {("EM", 58.04, "SQuAD 1.1"), ("F1", 60.95, "SQuAD 1.1")} <= got


def test_a_usage_section_is_not_counted_twice_and_plain_numbers_stay_one_metric():
    p = parse(b"# m\n\n## Usage\n\n```python\nm = X.from_pretrained('a/b')\n```\n\n| Dataset | F1 |\n|---|---|\n"
              b"| d | 91.2 |\n")
    assert _caps(p, "usage documented") == {"1 code example(s)"}
    assert {(e["metric"], e["value"]) for e in p.evaluations} == {("F1", 91.2)}

"""The licence catalogue (src/hubdex/data/licences.csv) and the classifier over it (hubdex.derive.licences)."""

from __future__ import annotations

import csv
import importlib.resources
import io
import json
from pathlib import Path

import pytest
import yaml

from hubdex.derive import licences
from hubdex.derive.licences import FAMILIES, catalogue, classify

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"

# Ids of the Hub's own list (hub-docs docs/hub/repositories-licenses.md) that must be there.
HUB_IDS = ["apache-2.0", "mit", "bsd-3-clause", "gpl-3.0", "lgpl-3.0", "agpl-3.0", "cc-by-4.0",
           "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc0-1.0", "openrail", "openrail++",
           "creativeml-openrail-m", "bigscience-openrail-m", "bigscience-bloom-rail-1.0",
           "bigcode-openrail-m", "llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma",
           "deepfloyd-if-license", "apple-amlr", "apple-ascl", "other", "unknown"]


def _rows() -> list[dict]:
    text = importlib.resources.files("hubdex").joinpath("data/licences.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


# --- the catalogue file -----------------------------------------------------------------------------

def test_csv_header_and_values_are_from_the_fixed_vocabularies():
    text = importlib.resources.files("hubdex").joinpath("data/licences.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "id,family,commercial,attribution,share_alike,hub_listed,name,match"
    for row in _rows():
        assert row["family"] in FAMILIES, row
        assert row["commercial"] in ("yes", "conditional", "no", "unknown"), row
        assert row["attribution"] in ("yes", "no", "unknown"), row
        assert row["share_alike"] in ("yes", "no", "unknown"), row
        assert row["hub_listed"] in ("0", "1"), row
        assert row["name"].strip(), row
        assert row["match"] == row["match"].lower(), row


def test_ids_are_unique_lowercase_and_trimmed():
    ids = [row["id"] for row in _rows()]
    assert len(ids) == len(set(ids))
    assert all(i == i.strip().lower() and i for i in ids)
    assert list(catalogue()) == ids


def test_the_hubs_own_ids_are_present_and_marked_listed():
    cat = catalogue()
    for lid in HUB_IDS:
        assert lid in cat, lid
        assert cat[lid].hub_listed, lid
    # names only reachable through `license: other` are not claimed to be in the Hub's list
    for lid in ("qwen", "deepseek", "modified-mit", "nvidia-open-model-license",
                "flux-1-dev-non-commercial-license", "stabilityai-ai-community"):
        assert lid in cat and not cat[lid].hub_listed, lid


def test_placeholders_are_unknown():
    for lid in ("other", "unknown"):
        lic = catalogue()[lid]
        assert (lic.family, lic.commercial) == ("unknown", "unknown")


def test_every_match_pattern_resolves_to_its_own_licence():
    """No pattern is shadowed by another licence's pattern (longest-first), and none is listed twice."""
    owner: dict[str, str] = {}
    for lic in catalogue().values():
        for p in lic.match:
            assert p not in owner, (p, owner.get(p), lic.id)
            owner[p] = lic.id
            if "/" in p:  # a URL fragment
                got = classify("other", license_link="https://" + p)
            else:
                got = classify("other", license_name=p)
            assert got.licence == lic.id, (p, got)


# --- hand-checked classifications -------------------------------------------------------------------

def test_apache_is_permissive_and_commercial():
    c = classify("apache-2.0")
    assert (c.licence, c.family, c.commercial, c.attribution, c.share_alike, c.via) == \
        ("apache-2.0", "permissive", "yes", "yes", "no", "id")


def test_ids_are_compared_case_insensitively_after_strip():
    assert classify("  Apache-2.0 ").licence == "apache-2.0"
    assert classify("MIT").via == "id"


def test_cc_by_nc_is_non_commercial():
    c = classify("cc-by-nc-4.0")
    assert (c.family, c.commercial) == ("non-commercial", "no")
    assert classify("cc-by-nc-sa-4.0").share_alike == "yes"


def test_llama_is_a_community_licence_with_conditions():
    for lid in ("llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma"):
        c = classify(lid)
        assert (c.family, c.commercial, c.via) == ("community", "conditional", "id"), lid


def test_openrail_family():
    for lid in ("openrail", "openrail++", "creativeml-openrail-m", "bigscience-openrail-m",
                "bigscience-bloom-rail-1.0", "bigcode-openrail-m"):
        assert classify(lid).family == "openrail", lid


def test_gpl_is_copyleft_and_lgpl_weak_copyleft():
    c = classify("gpl-3.0")
    assert (c.family, c.share_alike) == ("copyleft", "yes")
    assert classify("agpl-3.0").family == "copyleft"
    for lid in ("lgpl", "lgpl-2.1", "lgpl-3.0"):
        assert classify(lid).family == "weak-copyleft", lid


def test_other_resolved_through_license_name():
    c = classify("other", "deepseek", "LICENSE")
    assert (c.licence, c.via) == ("deepseek", "license_name")
    c = classify("other", "stabilityai-ai-community", "LICENSE.md")
    assert (c.licence, c.family, c.commercial, c.via) == \
        ("stabilityai-ai-community", "community", "conditional", "license_name")
    # normalised: case, spaces, brackets
    c = classify("OTHER", "FLUX.1 [dev] Non-Commercial License")
    assert (c.licence, c.family, c.commercial) == ("flux-1-dev-non-commercial-license", "non-commercial", "no")
    assert classify("other", "Tongyi_Qianwen").licence == "tongyi-qianwen"
    # a Hub id given as the name
    assert classify("other", "llama3").licence == "llama3"


def test_license_name_wins_over_license_link():
    c = classify("other", "qwen", "https://www.apache.org/licenses/LICENSE-2.0")
    assert (c.licence, c.via) == ("qwen", "license_name")


def test_other_resolved_through_license_link():
    c = classify("other", None, "https://www.apache.org/licenses/LICENSE-2.0")
    assert (c.licence, c.family, c.via) == ("apache-2.0", "permissive", "license_link")
    c = classify("other", "my-custom-licence", "https://creativecommons.org/licenses/by-nc/4.0/legalcode")
    assert (c.licence, c.via) == ("cc-by-nc-4.0", "license_link")


def test_a_repo_file_link_resolves_nothing():
    for link in ("LICENSE", "LICENSE.md", "./LICENSE", "docs/LICENSE.txt"):
        c = classify("other", None, link)
        assert (c.licence, c.family, c.commercial, c.via) == ("other", "unknown", "unknown", "other-unresolved"), link
    # nor does a link to a repo's own licence file that names no licence
    assert classify("other", None, "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct/blob/main/LICENSE").via \
        == "other-unresolved"


def test_other_alone_is_unresolved():
    assert classify("other") == ("other", "unknown", "unknown", "unknown", "unknown", "other-unresolved")


def test_modified_mit_is_not_mit():
    assert classify("other", "modified-mit").licence == "modified-mit"
    assert classify("other", "Modified MIT License").licence == "modified-mit"
    assert classify("modified-mit").licence == "modified-mit"
    assert classify("other", "MIT License").licence == "mit"


def test_longest_pattern_wins():
    assert classify("other", "BSD-3-Clause-Clear license").licence == "bsd-3-clause-clear"
    assert classify("other", "LGPL-3.0-only").licence == "lgpl-3.0"
    assert classify("other", "GPL-3.0-or-later").licence == "gpl-3.0"
    assert classify("other", "Tongyi Qianwen RESEARCH LICENSE AGREEMENT").licence == "tongyi-qianwen-research"


def test_no_accidental_substring_matches():
    for name in ("unlicensed", "misc license", "commit", "health research license"):
        assert classify("other", name).via == "other-unresolved", name


def test_an_unknown_id_is_kept_not_guessed():
    c = classify("foo-bar-1.0")
    assert c == ("foo-bar-1.0", "unknown", "unknown", "unknown", "unknown", "unrecognised")
    # even if it looks like a known one, and even with a license_name (only `other` uses it)
    assert classify("apache-2", "apache-2.0").via == "unrecognised"


def test_missing():
    for value in (None, "", "  ", "[]"):
        assert classify(value) == (None, "unknown", "unknown", "unknown", "unknown", "missing"), value


def test_a_json_list_gives_the_first_recognised_in_card_order():
    assert classify('["mit", "apache-2.0"]').licence == "mit"
    assert classify('["apache-2.0", "mit"]').licence == "apache-2.0"
    assert classify('["foo", "cc-by-nc-4.0"]').licence == "cc-by-nc-4.0"
    assert classify('["unknown", "mit"]').licence == "mit"
    assert classify('["foo", "bar"]') == ("foo", "unknown", "unknown", "unknown", "unknown", "unrecognised")
    assert classify('["other", "mit"]', "deepseek").licence == "deepseek"


def test_catalogue_is_read_once_and_patterns_do_not_depend_on_file_order(monkeypatch):
    import importlib.resources
    import random

    real = importlib.resources.files("hubdex").joinpath("data/licences.csv").read_text(encoding="utf-8")
    reads = []

    class Data:  # the package data, counting reads
        def __init__(self, text):
            self.text = text

        def joinpath(self, _name):
            return self

        def read_text(self, encoding="utf-8"):
            reads.append(1)
            return self.text

    header, *rows = real.splitlines(keepends=True)
    shuffled = rows[:]
    random.Random(4).shuffle(shuffled)
    assert shuffled != rows
    results = []
    for text in (real, header + "".join(shuffled)):
        licences.catalogue.cache_clear()
        licences._patterns.cache_clear()
        monkeypatch.setattr(licences.importlib.resources, "files", lambda _pkg, t=text: Data(t))
        first = catalogue()
        assert catalogue() is first and len(reads) == 1  # cached: the file is read once
        reads.clear()
        results.append((dict(first), licences._patterns(), classify("other", "Llama 3.1 Community License")))
    monkeypatch.undo()
    licences.catalogue.cache_clear()
    licences._patterns.cache_clear()
    (cat_a, pat_a, cls_a), (cat_b, pat_b, cls_b) = results
    assert cat_a == cat_b and pat_a == pat_b and cls_a == cls_b  # the same catalogue in any row order
    assert all(len(a[0]) >= len(b[0]) for a, b in zip(pat_a, pat_a[1:]))  # longest pattern first


# --- every licence in the real recorded fixtures ----------------------------------------------------

def _front_matter(text: str) -> dict:
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    try:
        data = yaml.safe_load(text[4:end]) if end > 0 else None
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _from_body(body, where: str, out: list) -> None:
    """A recorded model_info body: its `license:<id>` tags and its cardData licence fields."""
    if not isinstance(body, dict):
        return
    for tag in body.get("tags") or []:
        if isinstance(tag, str) and tag.startswith("license:"):
            out.append((where + " tag", tag[len("license:"):], None, None))
    card = body.get("cardData")
    if isinstance(card, dict) and card.get("license") is not None:
        lic = card["license"]
        out.append((where + " cardData", lic if isinstance(lic, str) else json.dumps(lic),
                    card.get("license_name"), card.get("license_link")))


def _real_licences() -> list[tuple]:
    out: list[tuple] = []
    for path in sorted(REAL.rglob("*")):
        if not path.is_file() or path.name == "index.json":  # index.json: provenance, not Hub data
            continue
        rel = str(path.relative_to(REAL))
        if path.suffix == ".json":
            _from_body(json.loads(path.read_text(encoding="utf-8")), rel, out)
        elif path.suffix == ".yaml":  # VCR cassettes: JSON bodies inside YAML
            for it in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("interactions", []):
                body = ((it.get("response") or {}).get("body") or {}).get("string")
                if isinstance(body, str) and body.lstrip().startswith("{"):
                    _from_body(json.loads(body), rel, out)
        elif path.suffix == ".md" and path.parent.name == "model-cards":
            fm = _front_matter(path.read_text(encoding="utf-8"))
            if isinstance(fm.get("license"), str):
                out.append((rel + " front matter", fm["license"], fm.get("license_name"), fm.get("license_link")))
    return out


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/fixtures/real is not beside the repo")
def test_every_licence_in_the_real_fixtures_resolves():
    found = _real_licences()
    assert len(found) > 50  # the walk really saw the cassettes and the cards
    for where, lic, name, link in found:
        c = classify(lic, name, link)
        assert c.via in ("id", "license_name", "license_link"), (where, lic, name, link, c)
        assert c.family != "unknown", (where, lic, c)
    # the values seen, as hand-checked
    seen = {classify(lic, name, link).licence for _, lic, name, link in found}
    assert seen == {"apache-2.0", "mit", "cc-by-4.0", "cc-by-sa-4.0", "bsd-3-clause", "llama3", "llama3.1",
                    "creativeml-openrail-m", "openrail++"}
    # a tag and the card agree wherever both are recorded
    bodies: dict[str, set] = {}
    for where, lic, _, _ in found:
        if " tag" in where or " cardData" in where:
            bodies.setdefault(where.rsplit(" ", 1)[0], set()).add(classify(lic).licence)
    assert all(len(v) == 1 for v in bodies.values()), bodies


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/fixtures/real is not beside the repo")
def test_real_bodies_without_any_licence_classify_as_missing():
    """Recorded with neither a card licence nor a `license:` tag (HUB-API.md §5)."""
    for stem in ("dbmdz_bert-large-cased-finetuned-conll03-english", "openai_clip-vit-base-patch32"):
        (path,) = (REAL / "huggingface_hub-cassettes" / "bodies").glob(stem + "__*.json")
        out: list = []
        _from_body(json.loads(path.read_text(encoding="utf-8")), path.name, out)
        assert out == []
        assert classify(None).via == "missing"

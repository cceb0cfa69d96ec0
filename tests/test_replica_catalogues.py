"""The synthetic and demo catalogues have the Hub's shape; scenario steps change exactly what they report."""

from __future__ import annotations

import collections
import json

import pytest
import requests
import yaml
from huggingface_hub import HfApi

from hubdex.replica.catalog import CatalogSpecError, parse_spec

from .conftest import control

SHAPE_EXPAND = ["tags", "pipeline_tag", "library_name", "downloads", "likes", "gated", "cardData", "baseModels",
                "childrenModelCount", "spaces", "inferenceProviderMapping", "safetensors", "gguf", "siblings"]


@pytest.fixture(scope="module")
def synth(request):
    from hubdex.replica.server import start_replica

    server = start_replica("synthetic:20000", seed=1, quotas={"api": 10**9, "resolvers": 10**9})
    request.addfinalizer(server.stop)
    items = []
    url = f"{server.url}/api/models?limit=1000&sort=createdAt&" + "&".join(f"expand={e}" for e in SHAPE_EXPAND)
    while url:
        r = requests.get(url, timeout=60)
        items += r.json()
        url = r.links.get("next", {}).get("url")
    return server, items


def test_catalogue_specs():
    assert parse_spec("synthetic:100k") == ("synthetic", 100_000)
    assert parse_spec("synthetic:2M") == ("synthetic", 2_000_000)
    for bad in ("synthetic:5", "synthetic:3M", "everything", ""):
        with pytest.raises(CatalogSpecError):
            parse_spec(bad)


def test_power_law_popularity(synth):
    _, items = synth
    downloads = sorted((i["downloads"] for i in items), reverse=True)
    top = sum(downloads[: len(downloads) // 100])
    assert top > 0.5 * sum(downloads)  # the top 1% take most downloads, as on the Hub
    assert downloads[len(downloads) // 2] < 20 and downloads[0] > 100_000
    likes = [i["likes"] for i in items]
    assert likes.count(0) > len(likes) / 3 and max(likes) > 100


def test_mix_of_tasks_libraries_licences_gating(synth):
    _, items = synth
    pipes = collections.Counter(i.get("pipeline_tag") for i in items)
    assert len(pipes) >= 20 and pipes.most_common(1)[0][0] == "text-generation"
    libs = collections.Counter(i.get("library_name") for i in items)
    assert {"transformers", "diffusers", "sentence-transformers", "gguf", "peft", "mlx", "timm"} <= set(libs)
    licences = collections.Counter(t for i in items for t in i["tags"] if t.startswith("license:"))
    assert len(licences) >= 20 and licences.most_common(1)[0][0] == "license:apache-2.0"
    other = [i["cardData"] for i in items if "license:other" in i["tags"]]
    assert other and all(c["license_name"] and c["license_link"] for c in other)
    gated = collections.Counter(i["gated"] for i in items)
    assert gated["auto"] > 0 and gated["manual"] > 0 and gated[False] > 0.8 * len(items)


def test_base_model_relations_and_children_counts_agree(synth):
    _, items = synth
    by_id = {i["id"]: i for i in items}
    relations = collections.Counter()
    expected = collections.defaultdict(collections.Counter)
    for i in items:
        if "baseModels" in i:
            rel, base = i["baseModels"]["relation"], i["baseModels"]["models"][0]["id"]
            relations[rel] += 1
            expected[base][rel] += 1
            assert f"base_model:{base}" in i["tags"] and f"base_model:{rel}:{base}" in i["tags"]
            assert i["cardData"]["base_model"] == base
    assert set(relations) == {"finetune", "adapter", "quantized", "merge"}
    for base, counts in expected.items():
        got = by_id[base]["childrenModelCount"]
        assert all(got[r] == counts[r] for r in ("finetune", "adapter", "quantized", "merge")), base


def test_spaces_providers_parameters(synth):
    _, items = synth
    assert any(len(i["spaces"]) == 100 for i in items) or max(len(i["spaces"]) for i in items) > 20
    assert all(len(i["spaces"]) <= 100 for i in items)
    served = [i for i in items if i["inferenceProviderMapping"]]
    assert served and all(i.get("pipeline_tag") in ("text-generation", "image-text-to-text", "text-to-image")
                          for i in served)
    assert all(set(e) == {"provider", "providerId", "status", "task"} for i in served
               for e in i["inferenceProviderMapping"])
    st = [i["safetensors"] for i in items if "safetensors" in i]
    assert st and all(s["total"] == sum(s["parameters"].values()) for s in st)
    gg = [i for i in items if "gguf" in i]
    assert gg and all(i["gguf"]["total"] > 0 and i["gguf"]["context_length"] for i in gg)
    assert all(any(s["rfilename"].endswith(".gguf") for s in i["siblings"]) for i in gg)


def test_synthetic_cards_have_front_matter_sections_tables_and_code(synth):
    server, items = synth
    with_evals = next(i for i in items if "model-index" in i.get("cardData", {}) and not i["gated"])
    card = requests.get(f"{server.url}/{with_evals['id']}/resolve/main/README.md", timeout=30).text
    assert card.startswith("---\n")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front == with_evals["cardData"]
    for heading in ("## Model description", "## Intended uses & limitations", "## Training data",
                    "## How to use", "## Evaluation results"):
        assert heading in card
    assert "```python" in card and "| Dataset | Split | Metric | Value |" in card


def test_same_seed_same_catalogue_other_seed_other(replica_factory):
    pages = []
    for seed in (4, 4, 5):
        server = replica_factory("synthetic:3000", seed=seed)
        pages.append(requests.get(f"{server.url}/api/models?limit=1000&sort=downloads&full=true&cardData=true",
                                  timeout=30).content)
    assert pages[0] == pages[1] and pages[0] != pages[2]


def test_demo_catalogue_special_models(demo_replica):
    api = HfApi(endpoint=demo_replica.url, token=False)
    m2f = api.model_info("facebook/mask2former-swin-large-cityscapes-semantic")
    assert (m2f.pipeline_tag, m2f.library_name) == ("image-segmentation", "transformers")
    assert "dataset:cityscapes" in m2f.tags and m2f.card_data.datasets == ["cityscapes"]
    sd = api.model_info("stabilityai/stable-diffusion-3.5-large")
    assert (sd.pipeline_tag, sd.library_name, sd.gated) == ("text-to-image", "diffusers", "auto")
    assert sd.card_data.license == "other" and sd.card_data.license_name == "stabilityai-ai-community"
    assert "license:other" in sd.tags
    card = requests.get(f"{demo_replica.url}/stabilityai/stable-diffusion-3.5-large/resolve/main/README.md",
                        headers={"Authorization": "Bearer hf_x"}, timeout=30).text
    assert "### Intended Uses" in card and "StableDiffusion3Pipeline" in card
    total = len(list(api.list_models(expand=["sha"])))
    assert total > 3000  # the recorded models, the two above and 3,000 synthetic ones


def test_scenario_changes_exactly_what_it_reports(replica_factory):
    server = replica_factory("synthetic:5000", seed=2)
    api = HfApi(endpoint=server.url, token=False)
    before = {m.id: m for m in api.list_models(expand=["sha", "lastModified", "siblings", "downloads", "likes"])}
    changes = control(server, "POST", "scenario", json.dumps(
        {"seed": 9, "update": 0.01, "add": 20, "rename": 10, "delete": 10, "metrics": 300}).encode())
    assert len(changes["updated"]) == 50 and len(changes["added"]) == 20
    assert len(changes["renamed"]) == 10 and len(changes["deleted"]) == 10 and len(changes["metrics_changed"]) == 300
    after = {m.id: m for m in api.list_models(expand=["sha", "lastModified", "siblings", "downloads", "likes"])}
    renamed = dict(map(tuple, changes["renamed"]))
    assert set(after) == (set(before) - set(changes["deleted"]) - set(renamed)) | set(renamed.values()) | set(
        changes["added"])
    changed_sha = {i for i in before if i in after and before[i].sha != after[i].sha}
    assert changed_sha == set(changes["updated"])
    for mid in changes["updated"]:
        assert after[mid].last_modified.isoformat() > changes["previous_clock"][:19]
        assert len(after[mid].siblings) == len(before[mid].siblings) + 1
    moved = {i for i in before if i in after and (before[i].downloads, before[i].likes) != (
        after[i].downloads, after[i].likes)}
    assert moved <= set(changes["metrics_changed"])
    old, new = changes["renamed"][0]
    r = requests.get(f"{server.url}/api/models/{old}", allow_redirects=False, timeout=30)
    assert r.status_code == 307 and r.headers["Location"] == f"/api/models/{new}"
    gone = requests.get(f"{server.url}/api/models/{changes['deleted'][0]}", timeout=30)
    assert gone.status_code == 401 and gone.headers["X-Error-Code"] == "RepoNotFound"
    newest = [m.id for m in api.list_models(sort="created_at", limit=20)]
    assert set(newest) == set(changes["added"])


def test_scenario_is_deterministic(replica_factory):
    results = []
    for _ in range(2):
        server = replica_factory("synthetic:3000", seed=2)
        results.append(control(server, "POST", "scenario", json.dumps(
            {"seed": 3, "update": 30, "add": 5, "rename": 5, "delete": 5}).encode()))
    assert results[0] == results[1]


def test_cards_change_exactly_for_updated_models(replica_factory):
    server = replica_factory("synthetic:600", seed=2)
    auth = {"Authorization": "Bearer hf_reader"}  # gated cards too
    ids = [m.id for m in HfApi(endpoint=server.url, token=False).list_models()]

    def cards():
        out = {}
        for mid in ids:
            r = requests.get(f"{server.url}/{mid}/resolve/main/README.md", headers=auth, timeout=30)
            out[mid] = (r.content, r.headers["ETag"], r.headers["X-Repo-Commit"])
        return out

    before = cards()
    changes = control(server, "POST", "scenario", json.dumps({"seed": 1, "update": 25, "metrics": 100}).encode())
    after = cards()
    changed = {m for m in ids if after[m] != before[m]}
    assert changed == set(changes["updated"]) and len(changed) == 25
    assert all(after[m][0] != before[m][0] and after[m][2] != before[m][2] for m in changed)


def test_router_catalogue_shape(demo_replica):
    for path in ("/v1/models", "/router/v1/models"):
        doc = requests.get(demo_replica.url + path, timeout=30).json()
        assert doc["object"] == "list" and doc["data"]
    ids = [m["id"] for m in doc["data"]]
    assert "deepseek-ai/DeepSeek-V4-Pro" in ids  # the documented example, served as documented
    priced = 0
    for model in doc["data"]:
        assert model["object"] == "model" and model["providers"]
        for p in model["providers"]:
            assert p["status"] in ("live", "error") and isinstance(p["is_model_author"], bool)
            if "pricing" in p:
                assert p["pricing"]["input"] >= 0 and p["pricing"]["output"] >= p["pricing"]["input"]
                priced += 1
    assert priced >= 5
    one = requests.get(f"{demo_replica.url}/v1/models/{ids[-1]}", timeout=30).json()
    assert one["id"] == ids[-1]

"""huggingface_hub 2.4's unmodified HfApi against the replica, over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

from hubdex.replica.render import EXPAND_VALUES

from .conftest import control, real_dir


@pytest.fixture(scope="module")
def api(demo_replica):
    return HfApi(endpoint=demo_replica.url, token=False)


@pytest.fixture(scope="module")
def everything(api):
    """Every demo model with the fields filters are checked against (several pages of 1000)."""
    return list(api.list_models(expand=["tags", "pipeline_tag", "author", "library_name", "downloads", "likes",
                                        "lastModified", "createdAt", "trendingScore", "safetensors"]))


def test_hf_api_version_is_the_pinned_one():
    import huggingface_hub

    assert huggingface_hub.__version__.startswith("2.4.")


@pytest.mark.parametrize("prop", EXPAND_VALUES)
def test_each_expand_value_returns_only_that_field(demo_replica, api, prop):
    models = list(api.list_models(expand=[prop], limit=1500))  # limit > 1000: crosses a page
    assert len(models) == 1500
    raw = requests.get(f"{demo_replica.url}/api/models", params={"expand": prop, "limit": 1000}, timeout=30).json()
    assert all(set(item) <= {"_id", "id", prop} for item in raw)
    if prop != "resourceGroup":  # only enterprise repos have one; the Hub omits it otherwise
        assert any(prop in item for item in raw)
    if prop == "inferenceProviderMapping":  # a list in listings (each entry names its provider)
        lists = [i[prop] for i in raw if i[prop]]
        assert lists and all(isinstance(v, list) and all("provider" in e for e in v) for v in lists)


def test_default_full_carddata_and_config_items(demo_replica, api):
    url = f"{demo_replica.url}/api/models"
    default = requests.get(url, params={"limit": 50}, timeout=30).json()
    assert set(default[0]) >= {"_id", "id", "likes", "trendingScore", "private", "downloads", "tags", "createdAt",
                               "modelId"}
    assert not any("sha" in i or "author" in i or "lastModified" in i for i in default)
    full = list(api.list_models(full=True, cardData=True, fetch_config=True, limit=300))
    assert all(m.sha and m.last_modified and m.siblings is not None for m in full)
    assert any(m.card_data for m in full) and any(m.config for m in full)


FILTER_CASES = [
    ("filter", "license:mit"), ("filter", "text-generation"), ("filter", "gguf"), ("filter", "en"),
    ("filter", "dataset:squad"), ("filter", "transformers"), ("filter", "conversational"),
    ("filter", "region:us"), ("filter", "license:other"), ("filter", "sentence-transformers"),
]


@pytest.mark.parametrize("kind,value", FILTER_CASES)
def test_tag_filters_match_the_tags_listed(api, everything, kind, value):
    expected = {m.id for m in everything if value in (m.tags or [])}
    got = {m.id for m in api.list_models(filter=value, expand=["tags"])}
    assert got == expected and expected


def test_combined_filters_author_search_pipeline(api, everything):
    some = next(m for m in everything if m.pipeline_tag == "text-generation" and "license:apache-2.0" in m.tags)
    got = {m.id for m in api.list_models(filter=["text-generation", "license:apache-2.0"], author=some.author)}
    assert got == {m.id for m in everything if m.author == some.author and m.pipeline_tag == "text-generation"
                   and "license:apache-2.0" in m.tags}
    needle = some.id.split("/")[1][:5].lower()
    assert {m.id for m in api.list_models(search=needle)} == {m.id for m in everything if needle in m.id.lower()}
    pipe = {m.id for m in api.list_models(pipeline_tag="image-segmentation")}
    assert "facebook/mask2former-swin-large-cityscapes-semantic" in pipe
    assert pipe == {m.id for m in everything if m.pipeline_tag == "image-segmentation"}


def test_base_model_filters_find_derivatives(api, everything):
    known = {m.id for m in everything}
    bases = [t.split(":")[2] for m in everything for t in m.tags if t.startswith("base_model:finetune:")]
    base = max((b for b in bases if b in known), key=bases.count)  # the most fine-tuned base in the catalogue
    got = {m.id for m in api.list_models(filter=f"base_model:finetune:{base}")}
    assert got == {m.id for m in everything if f"base_model:finetune:{base}" in m.tags}
    children = api.model_info(base, expand=["childrenModelCount"]).children_model_count
    assert children["finetune"] == len(got)


@pytest.mark.parametrize("sort,attr", [("downloads", "downloads"), ("likes", "likes"),
                                       ("last_modified", "last_modified"), ("created_at", "created_at"),
                                       ("trending_score", "trending_score")])
def test_sorts_are_descending_across_pages(demo_replica, everything, sort, attr):
    api = HfApi(endpoint=demo_replica.url, token=False)
    seen = list(api.list_models(sort=sort, expand=["downloads", "likes", "lastModified", "createdAt",
                                                   "trendingScore"]))
    assert len(seen) == len(everything) == len({m.id for m in seen})
    keys = [getattr(m, attr) for m in seen]
    assert keys == sorted(keys, reverse=True)


def test_pagination_link_is_absolute_and_keeps_the_query(demo_replica):
    r = requests.get(f"{demo_replica.url}/api/models?filter=transformers&filter=en&sort=likes&limit=7"
                     "&expand[]=likes", timeout=30)
    from urllib.parse import parse_qsl, urlsplit

    nxt = urlsplit(r.links["next"]["url"])
    assert f"{nxt.scheme}://{nxt.netloc}{nxt.path}" == demo_replica.url + "/api/models"
    pairs = parse_qsl(nxt.query)
    assert pairs[:-1] == [("filter", "transformers"), ("filter", "en"), ("sort", "likes"), ("limit", "7"),
                          ("expand[]", "likes")]
    assert pairs[-1][0] == "cursor"
    page2 = requests.get(r.links["next"]["url"], timeout=30).json()
    assert len(page2) == 7 and not {i["id"] for i in page2} & {i["id"] for i in r.json()}
    last = requests.get(f"{demo_replica.url}/api/models?search=mask2former", timeout=30)
    assert "Link" not in last.headers and len(last.json()) == 1


def test_model_info_with_and_without_expand(api):
    info = api.model_info("meta-llama/Llama-3.1-8B-Instruct")
    assert info.gated == "manual" and info.safetensors.total == 8030261248 and len(info.spaces) == 100
    expanded = api.model_info("meta-llama/Llama-3.1-8B-Instruct", expand=["downloadsAllTime", "trendingScore",
                                                                          "inferenceProviderMapping"])
    assert expanded.downloads_all_time and expanded.tags is None
    assert {p.provider for p in expanded.inference_provider_mapping} >= {"novita", "nscale"}


def test_model_info_revision_is_percent_encoded_and_checked(api, demo_replica):
    info = api.model_info("facebook/mask2former-swin-large-cityscapes-semantic")
    same = api.model_info(info.id, revision=info.sha)
    assert same.sha == info.sha
    with pytest.raises(RevisionNotFoundError):
        api.model_info(info.id, revision="refs/pr/1")
    log = control(demo_replica, "GET", "requests")["recent"]
    assert any("/revision/refs%2Fpr%2F1" in path for _m, path, _s in log)


def test_renamed_repo_answers_307_with_relative_location(api, demo_replica):
    r = requests.get(f"{demo_replica.url}/api/models/t5-small?expand=downloads", allow_redirects=False, timeout=30)
    assert r.status_code == 307 and r.headers["Location"] == "/api/models/google-t5/t5-small?expand=downloads"
    assert api.model_info("bert-base-uncased").id == "google-bert/bert-base-uncased"


def test_missing_repo_is_401_anonymous_and_404_with_token(api, demo_replica):
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing-here")
    anon = requests.get(f"{demo_replica.url}/api/models/nobody/nothing-here", timeout=30)
    authed = requests.get(f"{demo_replica.url}/api/models/nobody/nothing-here",
                          headers={"Authorization": "Bearer hf_test"}, timeout=30)
    assert (anon.status_code, authed.status_code) == (401, 404)
    assert anon.headers["X-Error-Code"] == authed.headers["X-Error-Code"] == "RepoNotFound"


CARD_SCRIPT = r"""
import json, sys
from huggingface_hub import ModelCard, hf_hub_download
from huggingface_hub.errors import GatedRepoError, EntryNotFoundError
out = {}
out["dslim"] = open(hf_hub_download("dslim/bert-base-NER", "README.md"), "rb").read().decode()
out["card_data"] = ModelCard.load("facebook/mask2former-swin-large-cityscapes-semantic").data.to_dict()
try:
    ModelCard.load("stabilityai/stable-diffusion-3.5-large")
    out["gated"] = "served"
except GatedRepoError:
    out["gated"] = "GatedRepoError"
out["gated_with_token"] = ModelCard.load("stabilityai/stable-diffusion-3.5-large", token="hf_x").data.to_dict()
try:
    hf_hub_download("dslim/bert-base-NER", "no-such-file.txt")
except EntryNotFoundError:
    out["missing"] = "EntryNotFoundError"
print(json.dumps(out))
"""


def test_model_card_load_and_hf_hub_download_via_hf_endpoint(demo_replica, tmp_path):
    # HF_ENDPOINT is read when huggingface_hub is imported: a fresh interpreter is the honest test.
    env = {**os.environ, "HF_ENDPOINT": demo_replica.url, "HF_HOME": str(tmp_path), "HF_TOKEN": ""}
    env.pop("HF_TOKEN")
    res = subprocess.run([sys.executable, "-c", CARD_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["dslim"] == (real_dir() / "model-cards" / "dslim__bert-base-NER.md").read_text()
    assert out["card_data"]["datasets"] == ["cityscapes"] and out["card_data"]["license"] == "other"
    assert out["gated"] == "GatedRepoError"
    assert out["gated_with_token"]["license_name"] == "stabilityai-ai-community"
    assert out["missing"] == "EntryNotFoundError"


def test_resolve_headers(demo_replica):
    url = f"{demo_replica.url}/dslim/bert-base-NER/resolve/main/README.md"
    head = requests.head(url, allow_redirects=False, timeout=30)
    assert head.status_code == 307 and head.headers["Location"].startswith("/api/resolve-cache/models/dslim/bert-base-NER/")
    final = requests.head(demo_replica.url + head.headers["Location"], timeout=30)
    body = requests.get(url, timeout=30).content
    assert final.headers["X-Repo-Commit"] == head.headers["X-Repo-Commit"]
    assert int(final.headers["Content-Length"]) == len(body)
    import hashlib
    assert final.headers["ETag"] == '"' + hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest() + '"'
    assert head.headers["RateLimit"].startswith('"resolvers";')


def test_429_with_headers_makes_the_client_wait_and_succeed(replica_factory):
    server = replica_factory("synthetic:3000", quotas={"api": 2, "resolvers": 100}, window=2)
    api = HfApi(endpoint=server.url, token=False)
    started = time.monotonic()
    ids = [m.id for m in api.list_models(sort="created_at", limit=3000, expand=["createdAt"])]
    # 3 pages under a quota of 2 per 2 s window: the third page got a 429 and the client slept t+1 s.
    assert len(ids) == len(set(ids)) == 3000
    assert time.monotonic() - started >= 1.0
    assert control(server, "GET", "requests")["counts"].get("list:429", 0) >= 1


def test_agent_harnesses_registry(demo_replica):
    r = requests.get(f"{demo_replica.url}/api/agent-harnesses", timeout=30)
    assert r.status_code == 200 and set(r.json()) == {"standardEnvVars", "harnesses"}

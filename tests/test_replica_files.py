"""Files, revisions, tree, refs and commits: huggingface_hub 2.4 unmodified, and raw HTTP, over real sockets.

The models are picked from the replica's store (so that a test says which kind of repo it needs);
everything asserted comes over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import requests
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub.errors import RevisionNotFoundError

from hubdex.replica import files, revisions, vocab

from .conftest import control

HUBDEX = [sys.executable, "-m", "hubdex"]


def git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def pick(server, want, limit=1):
    """Rows of the server's catalogue for which `want(store, row)` holds (synthetic, alive, not gated)."""
    store = server.app.store
    out = []
    for row in range(store.n):
        if row in store.bodies or not store.cols["alive"][row] or store.cols["gated"][row]:
            continue
        if want(store, row):
            out.append(store.model_id(row))
            if len(out) == limit:
                break
    assert out, "no such model in the catalogue"
    return out if limit > 1 else out[0]


def _lib(store, row):
    return store.libraries.values[store.cols["library"][row]]


def single_safetensors(lo, hi):
    """A transformers model with one model.safetensors of about lo..hi parameters (BF16)."""
    def want(store, row):
        return (_lib(store, row) == "transformers" and store.cols["fmt"][row] & vocab.FMT["safetensors"]
                and lo <= store.cols["params"][row] <= hi)
    return want


@pytest.fixture(scope="module")
def api(demo_replica):
    return HfApi(endpoint=demo_replica.url, token=False)


@pytest.fixture
def history(replica_factory):
    """A synthetic catalogue after an update step: a model with two commits on main, a tag on the first
    and an open pull request."""
    server = replica_factory("synthetic:400", seed=2)
    control(server, "POST", "scenario", json.dumps({"seed": 5, "update": 0.5}).encode())
    model = pick(server, lambda s, r: s.cols["version"][r] >= 1 and revisions.tags(s, r)
                 and 1 in revisions.pull_requests(s, r))
    return server, model


# -- revisions -----------------------------------------------------------------------------------
def test_model_info_resolves_branch_tag_short_sha_head_and_pr(history):
    server, model = history
    api = HfApi(endpoint=server.url, token=False)
    main = api.model_info(model)
    assert api.model_info(model, revision="main").sha == main.sha
    assert api.model_info(model, revision="HEAD").sha == main.sha
    assert api.model_info(model, revision=main.sha[:7]).sha == main.sha
    tagged = api.model_info(model, revision="v1.0")
    assert tagged.sha != main.sha  # the tag is on the first commit; main has moved since
    assert api.model_info(model, revision=tagged.sha[:8]).sha == tagged.sha
    assert len(tagged.siblings) < len(main.siblings)  # each update adds a file
    pr = api.model_info(model, revision="refs/pr/1")  # sent percent-encoded: refs%2Fpr%2F1
    assert pr.sha not in (main.sha, tagged.sha)
    raw = requests.get(f"{server.url}/api/models/{model}/revision/refs/pr/1", timeout=30)  # not encoded
    assert raw.status_code == 200 and raw.json()["sha"] == pr.sha
    assert requests.get(f"{server.url}/api/models/{model}/revision/refs%2Ftags%2Fv1.0", timeout=30).json()["sha"] \
        == tagged.sha
    for bad in ("refs/pr/99", "v9.9", "0000000", "no-such-branch"):
        with pytest.raises(RevisionNotFoundError):
            api.model_info(model, revision=bad)
    log = control(server, "GET", "requests")["recent"]
    assert any(path.endswith("/revision/refs%2Fpr%2F1") and status == 200 for _m, path, status in log)


def test_files_at_a_revision_are_that_revisions(history, tmp_path):
    server, model = history
    main = hf_hub_download(model, "README.md", endpoint=server.url, cache_dir=tmp_path)
    old = hf_hub_download(model, "README.md", revision="v1.0", endpoint=server.url, cache_dir=tmp_path)
    assert open(main).read() != open(old).read()
    pr = hf_hub_download(model, "README.md", revision="refs/pr/1", endpoint=server.url, cache_dir=tmp_path)
    assert open(pr).read() == open(main).read()
    api = HfApi(endpoint=server.url, token=False)
    r = requests.head(f"{server.url}/{model}/resolve/HEAD/README.md", allow_redirects=False, timeout=30)
    assert r.status_code == 307 and r.headers["X-Repo-Commit"] == api.model_info(model).sha
    pr_sha = api.model_info(model, revision="refs/pr/1").sha
    for rev in ("refs/pr/1", "refs%2Fpr%2F1"):  # unencoded or encoded, in /resolve/ and /tree/
        r = requests.head(f"{server.url}/{model}/resolve/{rev}/README.md", allow_redirects=False, timeout=30)
        assert r.status_code == 307 and r.headers["X-Repo-Commit"] == pr_sha, rev
        tree = requests.get(f"{server.url}/api/models/{model}/tree/{rev}", timeout=30)
        assert tree.status_code == 200 and "README.md" in {e["path"] for e in tree.json()}, rev


def test_list_repo_refs_and_commits(history):
    server, model = history
    api = HfApi(endpoint=server.url, token=False)
    main, first = api.model_info(model), api.model_info(model, revision="v1.0")
    refs = api.list_repo_refs(model, include_pull_requests=True)
    assert [(b.name, b.ref, b.target_commit) for b in refs.branches] == [("main", "refs/heads/main", main.sha)]
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1.0", "refs/tags/v1.0", first.sha)]
    assert refs.converts == []
    assert refs.pull_requests[0].ref == "refs/pr/1"
    assert refs.pull_requests[0].target_commit == api.model_info(model, revision="refs/pr/1").sha
    assert api.list_repo_refs(model).pull_requests is None
    commits = api.list_repo_commits(model)
    assert commits[0].commit_id == main.sha and commits[-1].commit_id == first.sha
    assert commits[-1].title == "initial commit" and len(commits) == server.app.store.cols["version"][
        server.app.store.find(model)[0]] + 1
    assert all(a.created_at >= b.created_at for a, b in zip(commits, commits[1:]))
    assert [c.commit_id for c in api.list_repo_commits(model, revision="v1.0")] == [first.sha]
    pr = api.list_repo_commits(model, revision="refs/pr/1")
    assert pr[0].commit_id == refs.pull_requests[0].target_commit and pr[1:] == commits


# -- downloads and metadata -----------------------------------------------------------------------
def test_hf_hub_download_config_and_tokenizer_files(demo_replica, api, tmp_path):
    model = pick(demo_replica, lambda s, r: _lib(s, r) == "transformers"
                 and s.pipelines.values[s.cols["pipeline"][r]] == "text-generation")
    info = api.model_info(model)
    config = json.load(open(hf_hub_download(model, "config.json", endpoint=demo_replica.url, cache_dir=tmp_path)))
    assert {k: config[k] for k in ("architectures", "model_type")} == {
        k: info.config[k] for k in ("architectures", "model_type")}
    assert "tokenizer_config" not in config  # the API's config.tokenizer_config is tokenizer_config.json's
    tok_cfg = json.load(open(hf_hub_download(model, "tokenizer_config.json", endpoint=demo_replica.url,
                                             cache_dir=tmp_path)))
    assert {k: tok_cfg[k] for k in info.config["tokenizer_config"]} == info.config["tokenizer_config"]
    tokenizer = json.load(open(hf_hub_download(model, "tokenizer.json", endpoint=demo_replica.url,
                                               cache_dir=tmp_path)))
    assert tokenizer["model"]["type"] == "BPE" and tokenizer["model"]["vocab"]
    assert {t["content"] for t in tokenizer["added_tokens"]} >= {tok_cfg["bos_token"], tok_cfg["eos_token"]}


def test_every_sibling_is_served(demo_replica, api):
    for model in [pick(demo_replica, lambda s, r: _lib(s, r) == lib) for lib in
                  ("transformers", "sentence-transformers", "diffusers", "peft", "gguf")] + \
            ["meta-llama/Llama-3.1-8B-Instruct", "sentence-transformers/all-MiniLM-L6-v2"]:
        info = api.model_info(model, files_metadata=True, token="hf_test")
        for s in info.siblings:
            meta = get_hf_file_metadata(hf_hub_url(model, s.rfilename, endpoint=demo_replica.url), token="hf_test")
            assert (meta.size, meta.commit_hash) == (s.size, info.sha), (model, s.rfilename)
            assert meta.etag == (s.lfs.sha256 if s.lfs else s.blob_id), (model, s.rfilename)


def test_get_hf_file_metadata_sizes_and_etags(demo_replica, api):
    model = pick(demo_replica, single_safetensors(40_000_000, 60_000_000))
    info = api.model_info(model, files_metadata=True)
    by_name = {s.rfilename: s for s in info.siblings}
    readme = requests.get(f"{demo_replica.url}/{model}/resolve/main/README.md", timeout=30).content
    meta = get_hf_file_metadata(hf_hub_url(model, "README.md", endpoint=demo_replica.url))
    assert (meta.etag, meta.size, meta.commit_hash) == (git_blob(readme), len(readme), info.sha)
    assert by_name["README.md"].blob_id == meta.etag and by_name["README.md"].lfs is None
    lfs = get_hf_file_metadata(hf_hub_url(model, "model.safetensors", endpoint=demo_replica.url))
    entry = by_name["model.safetensors"]
    assert (lfs.etag, lfs.size, lfs.commit_hash) == (entry.lfs.sha256, entry.lfs.size, info.sha)
    assert lfs.size == entry.size > 80_000_000
    assert not lfs.location.startswith(demo_replica.url)  # the CDN is another origin, as on the Hub
    pointer = files.lfs_pointer(entry.lfs.sha256, entry.lfs.size)
    assert entry.blob_id == git_blob(pointer) and entry.lfs.pointer_size == len(pointer)
    # The Hub's redirect carries the metadata the client reads.
    r = requests.head(hf_hub_url(model, "model.safetensors", endpoint=demo_replica.url), allow_redirects=False,
                      timeout=30)
    assert r.status_code == 302 and r.headers["X-Linked-Size"] == str(entry.size)
    assert r.headers["X-Linked-ETag"] == f'"{entry.lfs.sha256}"' and r.headers["X-Repo-Commit"] == info.sha
    cdn = requests.head(r.headers["Location"], timeout=30)
    assert cdn.status_code == 200 and int(cdn.headers["Content-Length"]) == entry.size
    assert cdn.headers["ETag"] == f'"{entry.lfs.sha256}"' and "X-Repo-Commit" not in cdn.headers


@pytest.mark.parametrize("kind", ["single", "sharded", "recorded"])
def test_get_safetensors_metadata_agrees_with_model_info(demo_replica, api, kind, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # the index, downloaded fresh
    model = {"single": lambda: pick(demo_replica, single_safetensors(100_000_000, 2_000_000_000)),
             "sharded": lambda: pick(demo_replica, single_safetensors(4_000_000_000, 9_000_000_000)),
             "recorded": lambda: "sentence-transformers/all-MiniLM-L6-v2"}[kind]()
    info = api.model_info(model)
    meta = api.get_safetensors_metadata(model)
    assert meta.parameter_count == info.safetensors.parameters
    assert sum(meta.parameter_count.values()) == info.safetensors.total
    assert meta.sharded == (kind == "sharded")
    if kind == "sharded":
        shards = sorted(s.rfilename for s in info.siblings if files.SHARD.fullmatch(s.rfilename))
        assert sorted(meta.files_metadata) == shards and len(shards) > 1
        assert set(meta.weight_map.values()) == set(shards)


def test_large_safetensors_download_resumes_after_an_interruption(replica_factory, tmp_path):
    server = replica_factory("demo", faults="drop:on=cdn,nth=1")  # the first file transfer stops half-way
    model = pick(server, single_safetensors(40_000_000, 60_000_000))
    path = hf_hub_download(model, "model.safetensors", endpoint=server.url, cache_dir=tmp_path)
    store = server.app.store
    expected = files.Repo(store, store.find(model)[0], None, server.app.card_bytes).get("model.safetensors")
    assert os.path.getsize(path) == expected.size > 80_000_000
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    want = hashlib.sha256()
    for chunk in expected.chunks(0, expected.size):
        want.update(chunk)
    assert digest.hexdigest() == want.hexdigest()
    cdn = [(m, status) for m, p, status in control(server, "GET", "requests")["recent"] if p.startswith("/_cdn/")]
    assert cdn == [("GET", 200), ("GET", 206)]  # the cut transfer, then the rest asked with Range


def test_drop_fault_closes_the_connection_mid_body(replica_factory):
    import http.client
    from urllib.parse import urlsplit

    server = replica_factory("demo", faults="drop:on=file,nth=1")  # a file other than a README: route "file"
    model = pick(server, lambda s, r: _lib(s, r) == "transformers")
    sha = HfApi(endpoint=server.url, token=False).model_info(model).sha
    conn = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=5)
    conn.request("GET", f"/{model}/resolve/{sha}/tokenizer.json")
    resp = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead) as cut:  # a clean close, at once (not a stall)
        resp.read()
    assert 0 < len(cut.value.partial) == int(resp.headers["Content-Length"]) // 2


def test_snapshot_download_of_a_small_repo(demo_replica, api, tmp_path):
    model = pick(demo_replica, lambda s, r: _lib(s, r) == "peft" and s.cols["params"][r] < 200_000_000)
    folder = snapshot_download(model, endpoint=demo_replica.url, cache_dir=tmp_path)
    info = api.model_info(model, files_metadata=True)
    got = {os.path.relpath(os.path.join(d, n), folder): os.path.getsize(os.path.join(d, n))
           for d, _dirs, names in os.walk(folder) for n in names}
    assert got == {s.rfilename: s.size for s in info.siblings}
    assert any(s.lfs for s in info.siblings)
    with open(os.path.join(folder, "adapter_model.safetensors"), "rb") as fh:
        header_len = int.from_bytes(fh.read(8), "little")
        assert "__metadata__" in json.loads(fh.read(header_len))


# -- tree ------------------------------------------------------------------------------------------
def test_list_repo_tree_across_pages(demo_replica, api):
    model = "HuggingFaceH4/zephyr-orpo-141b-A35b-v0.1"  # 83 files: two pages of 50 with expand=True
    info = api.model_info(model, files_metadata=True)
    entries = list(api.list_repo_tree(model, recursive=True, expand=True))
    listed = {e.path: e for e in entries if hasattr(e, "size")}
    assert set(listed) == {s.rfilename for s in info.siblings} and len(entries) > 50
    assert all(listed[s.rfilename].size == s.size and listed[s.rfilename].blob_id == s.blob_id for s in info.siblings)
    assert all(e.last_commit and e.last_commit.oid == info.sha for e in entries)
    first = requests.get(f"{demo_replica.url}/api/models/{model}/tree/main?recursive=true&expand=true", timeout=30)
    assert len(first.json()) == 50 and first.links["next"]["url"].startswith(demo_replica.url)
    second = requests.get(first.links["next"]["url"], timeout=30)
    assert "recursive=true&expand=true&cursor=" in first.links["next"]["url"] and "next" not in second.links
    assert len(first.json()) + len(second.json()) == len(entries)
    plain = requests.get(f"{demo_replica.url}/api/models/{model}/tree/main?recursive=true", timeout=30)
    assert "next" not in plain.links and len(plain.json()) == len(entries)  # 1000 a page without expand


def test_tree_of_a_folder_and_its_errors(demo_replica, api):
    model = "sentence-transformers/all-MiniLM-L6-v2"
    root = {e.path: type(e).__name__ for e in api.list_repo_tree(model)}
    assert root["onnx"] == "RepoFolder" and root["config.json"] == "RepoFile"
    assert not any("/" in p for p in root)
    onnx = [e.path for e in api.list_repo_tree(model, path_in_repo="onnx")]
    assert onnx and all(p.startswith("onnx/") for p in onnx)
    assert api.list_repo_files(model) == sorted(s.rfilename for s in api.model_info(model).siblings)
    missing = requests.get(f"{demo_replica.url}/api/models/{model}/tree/main/nowhere", timeout=30)
    assert missing.status_code == 404 and missing.headers["X-Error-Code"] == "EntryNotFound"
    bad_rev = requests.get(f"{demo_replica.url}/api/models/{model}/tree/nope", timeout=30)
    assert bad_rev.status_code == 404 and bad_rev.headers["X-Error-Code"] == "RevisionNotFound"


# -- Range, raw ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def range_targets(demo_replica, api):
    """(url, full bytes) of a regular file (resolve-cache) and of an LFS file (the file host)."""
    model = pick(demo_replica, single_safetensors(40_000_000, 60_000_000))
    sha = api.model_info(model).sha
    out = {}
    for kind, name in (("regular", "tokenizer.json"), ("lfs", "model.safetensors")):
        r = requests.get(f"{demo_replica.url}/{model}/resolve/{sha}/{name}", allow_redirects=False, timeout=30)
        url = r.headers["Location"] if r.status_code == 302 else r.url
        out[kind] = (url, requests.get(url, timeout=120).content)
    return out


@pytest.mark.parametrize("kind", ["regular", "lfs"])
@pytest.mark.parametrize("spec,first,last", [
    ("bytes=0-0", 0, 0),          # the first byte: clients read the size from Content-Range
    ("bytes=100-199", 100, 199),  # a middle range
    ("bytes=-100", -100, -1),     # a suffix: the last 100 bytes
    ("bytes=1000-", 1000, -1),    # an open range: to the end
    ("bytes=5-99999999999", 5, -1),  # an end past the file: up to its last byte
])
def test_range_answers_206_as_the_hub(range_targets, kind, spec, first, last):
    url, full = range_targets[kind]
    size = len(full)
    start, end = first % size, last % size
    r = requests.get(url, headers={"Range": spec}, timeout=60)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert int(r.headers["Content-Length"]) == end - start + 1 and r.content == full[start:end + 1]
    assert r.headers["Accept-Ranges"] == "bytes" and r.headers["ETag"]


@pytest.mark.parametrize("kind", ["regular", "lfs"])
def test_range_unsatisfiable_is_416_and_odd_ranges_are_ignored(range_targets, kind):
    url, full = range_targets[kind]
    size = len(full)
    for spec in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        r = requests.get(url, headers={"Range": spec}, timeout=60)
        assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{size}", spec
    for spec in ("bytes=9-3", "bytes=0-1,5-6", "pages=1-2", "bytes=a-b"):  # ignored: the whole file
        r = requests.get(url, headers={"Range": spec}, timeout=60)
        assert r.status_code == 200 and r.content == full and "Content-Range" not in r.headers, spec
    head = requests.head(url, headers={"Range": "bytes=0-0"}, timeout=60)
    assert head.status_code == 206 and head.headers["Content-Range"] == f"bytes 0-0/{size}"


def test_range_on_resolve_follows_the_redirects(demo_replica, api):
    model = pick(demo_replica, single_safetensors(40_000_000, 60_000_000))
    r = requests.get(f"{demo_replica.url}/{model}/resolve/main/model.safetensors", headers={"Range": "bytes=0-7"},
                     timeout=60)
    header_len = int.from_bytes(r.content, "little")
    assert r.status_code == 206 and r.headers["Content-Range"].startswith("bytes 0-7/") and 0 < header_len < 100_000
    r = requests.get(f"{demo_replica.url}/{model}/resolve/main/config.json", headers={"Range": "bytes=0-0"},
                     timeout=60)
    assert r.status_code == 206 and r.content == b"{"


# -- faults and scenario: refused when read ----------------------------------------------------------
@pytest.mark.parametrize("spec,message", [
    ("503:p=abc", "p='abc'"), ("503:p=5", "from 0 to 1"), ("503:bogus=1", "'bogus' in '503:bogus=1' is unknown"),
    ("bogus=1", "unknown fault kind"), ("503:every=0", "at least 1"), ("503:nth=0", "ordinals from 1"),
    ("slow:delay=-1", "at least 0"), ("missing-id:rate=2", "from 0 to 1"), ("429:headers=maybe", "yes or no"),
    ("503:on=everything", "use list, info, card, file, cdn or any"), ("vanish:rate=0.1", "'rate'"),
])
def test_bad_fault_specs_are_refused_at_start(spec, message, replica_factory):
    out = subprocess.run(HUBDEX + ["replica", "serve", "--catalog", "synthetic:10", "--faults", spec],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.startswith("Error")]) == 1
    server = replica_factory("synthetic:10")
    r = requests.post(f"{server.url}/_replica/faults", data=spec.encode(), timeout=30)
    assert r.status_code == 400 and message in r.json()["error"]


def test_scenario_refuses_negative_counts(replica_factory):
    server = replica_factory("synthetic:50")
    out = subprocess.run(HUBDEX + ["replica", "scenario", "--url", server.url, "--update", "-1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "not negative" in out.stderr and "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.startswith("Error")]) == 1
    before = control(server, "GET", "state")
    r = requests.post(f"{server.url}/_replica/scenario", data=json.dumps({"seed": 1, "delete": -3}), timeout=30)
    assert r.status_code == 400 and "delete=-3" in r.json()["error"] and "not negative" in r.json()["error"]
    assert control(server, "GET", "state")["clock"] == before["clock"]  # refused before anything moved


def test_serve_help_points_at_the_fault_syntax():
    out = subprocess.run(HUBDEX + ["replica", "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert "docs/REPLICA.md" in out.stdout and "Faults" in out.stdout
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "REPLICA.md")).read()
    section = doc[doc.index("## Faults"):]
    from hubdex.replica import faults

    for word in sorted(faults.REQUEST_KINDS | faults.ITEM_KINDS | faults.SELECTORS) + sorted(
            o for opts in faults.KIND_OPTIONS.values() for o in opts):
        assert f"`{word}" in section, word

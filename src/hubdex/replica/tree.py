"""The repo endpoints besides model_info: `/tree/{rev}[/path]`, `/refs`, `/commits/{rev}`.

- `GET /api/models/{id}/tree/{rev}[/{path}]?recursive=&expand=` (`list_repo_tree`): the entries of a
  folder (all the entries below it with `recursive=true`), directories then files, paginated by an
  absolute `Link: <...&cursor=...>; rel="next"` as listings are: 1000 entries a page, 50 with
  `expand=true` (which adds `lastCommit` and `securityFileStatus`).
- `GET /api/models/{id}/refs[?include_prs=1]` (`list_repo_refs`): branches, converts, tags and, when
  asked, pull requests.
- `GET /api/models/{id}/commits/{rev}` (`list_repo_commits`): the history reachable from a revision,
  newest first, 50 a page, paginated by `Link` (`p=`).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, quote, unquote

import orjson

from . import files, revisions, wire

KEYWORDS = ("tree", "refs", "commits")
TREE_PAGE, TREE_PAGE_EXPANDED = 1000, 50


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def split(store, path: str):
    """(model id, endpoint, raw segments after it) for a repo endpoint path, else None. A legacy id
    without a namespace (`gpt2/tree/main`) is read as such unless `ns/tree` is itself a model."""
    segs = path[len("/api/models/"):].split("/")
    for i in (2, 1):
        if len(segs) > i and segs[i] in KEYWORDS:
            if i == 1 and store.find(unquote("/".join(segs[:2])))[0] is not None:
                return None
            return unquote("/".join(segs[:i])), segs[i], segs[i + 1:]
    return None


def _next_link(req, prefix: str, path: str, key: str, value: str) -> str:
    kept = "&".join(p for p in req.query.split("&") if p and not p.startswith(f"{key}="))
    host = req.headers.get("host", "127.0.0.1")
    url = f"http://{host}{prefix}{path}?{kept + '&' if kept else ''}{key}={quote(value, safe='')}"
    return f'<{url}>; rel="next"'


def handle(app, req, path: str, prefix: str):
    """The answer to a tree / refs / commits request, or None when `path` is no such request."""
    parts = split(app.store, path)
    if parts is None:
        return None
    model_id, what, rest = parts
    params = dict(parse_qsl(req.query, keep_blank_values=True))
    store = app.store
    with store.lock:
        row, moved = store.find(model_id)
        if row is None or not store.cols["alive"][row]:
            return app._missing_repo(req)
        if moved:
            target = path.replace(f"/api/models/{quote(model_id, safe='/')}/", f"/api/models/{store.model_id(row)}/", 1)
            return wire.redirect(f"{prefix}{target}" + (f"?{req.query}" if req.query else ""))
        if what == "refs":
            if rest and rest != [""]:
                return wire.error(404, f"Not Found: {path}", text=True)
            return wire.json_response(200, orjson.dumps(revisions.refs(store, row, _truthy(params.get("include_prs")))))
        revision, below = revisions.split_rev(rest)
        rev = revisions.resolve(store, row, revision)
        if rev is None:
            return wire.error(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        if what == "commits":
            return _commits(req, prefix, path, revisions.commits(store, row, rev), params)
        return _tree(app, req, prefix, path, row, rev, unquote("/".join(below)).strip("/"), params)


def _commits(req, prefix, path, commits: list, params: dict) -> wire.Response:
    try:
        page = int(params.get("p", "0"))
    except ValueError:
        return wire.error(400, f"Invalid page: {params.get('p')}")
    start = page * revisions.COMMITS_PAGE
    chunk = commits[start:start + revisions.COMMITS_PAGE]
    resp = wire.json_response(200, orjson.dumps(chunk))
    if start + revisions.COMMITS_PAGE < len(commits):
        resp.headers["Link"] = _next_link(req, prefix, path, "p", str(page + 1))
    return resp


def _last_commits(app, row: int, rev) -> dict:
    """path -> the commit that last changed it: README.md and eval_results/vN.json at version N, the
    rest at the first commit (a synthetic model's updates touch only those)."""
    store = app.store
    top = revisions.version_count(store, row) - 1 if rev.version is None else rev.version
    commits = {c["id"]: c for c in revisions.commits(store, row, rev)}

    def at(version):
        sha = rev.sha if version == top else revisions.commit_sha(store, row, version)
        c = commits.get(sha) or next(iter(commits.values()))
        return {"id": c["id"], "title": c["title"], "date": c["date"]}

    def of(path):
        if path.startswith("eval_results/v") and path[len("eval_results/v"):-len(".json")].isdigit():
            return at(int(path[len("eval_results/v"):-len(".json")]))
        return at(top if path == "README.md" else 0)

    return of


def _tree(app, req, prefix, path, row, rev, folder: str, params: dict) -> wire.Response:
    repo = files.Repo(app.store, row, rev.version, app.card_bytes)
    dirs = files.folders(repo.paths)
    if folder and folder not in dirs:
        msg = f"{folder} does not exist on {rev.ref or rev.sha}" if folder not in repo.paths else \
            f"{folder} is a file, not a folder"
        resp = wire.error(404, msg, code="EntryNotFound")
        resp.headers["X-Repo-Commit"] = rev.sha
        return resp
    recursive, expand = _truthy(params.get("recursive")), _truthy(params.get("expand"))
    base = folder + "/" if folder else ""

    def inside(p):
        if not p.startswith(base):
            return False
        return recursive or "/" not in p[len(base):]

    entries = [{"type": "directory", "oid": files.tree_oid(repo, d), "size": 0, "path": d}
               for d in sorted(dirs) if inside(d)]
    entries += [repo.files[p].tree_entry() for p in repo.paths if inside(p)]
    size = TREE_PAGE_EXPANDED if expand else TREE_PAGE
    try:
        start = json.loads(base64.b64decode(params["cursor"]))["offset"] if params.get("cursor") else 0
    except (ValueError, KeyError, TypeError):
        return wire.error(400, "Invalid cursor")
    page = entries[start:start + size]
    if expand:
        last = _last_commits(app, row, rev)
        for e in page:
            e["lastCommit"] = last(e["path"] if e["type"] == "file" else "")
            if e["type"] == "file":
                e["securityFileStatus"] = {"status": "safe", "avScan": {"virusFound": False, "virusNames": None},
                                           "pickleImportScan": None}
    resp = wire.json_response(200, orjson.dumps(page))
    if start + size < len(entries):
        cursor = base64.b64encode(json.dumps({"offset": start + size}).encode()).decode()
        resp.headers["Link"] = _next_link(req, prefix, path, "cursor", cursor)
    return resp


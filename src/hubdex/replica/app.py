"""The replica's routes: what the Hub answers to each request, independent of the socket layer.

`Replica.handle` takes a parsed request and returns a `wire.Response`; `server.py` puts it on the
wire (applying the connection-level faults). Order of work for a Hub request: the time-travel prefix
is stripped, the request is counted, a request fault may answer it, the caller's rate-limit bucket is
charged (429 when empty), then the route answers; item faults damage the JSON last.
"""

from __future__ import annotations

import calendar
import json
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

import orjson
import yaml

from . import cardtext, evidence, faults, files, listing, quicksearch, render, revisions, router, scenario, tree, wire
from .ratelimit import RateLimiter
from .recorded import REPLAYED_HEADERS, Recordings, canonical_query
from .store import Store

SYNTHETIC_MODEL = "synthesised: a synthetic model (synthetic.py), every figure drawn by its generator"
RECORDED_SUPPLEMENTS = {
    "downloadsAllTime": "synthesised: 30-day downloads x months alive x 0.6-1.0",
    "trendingScore": "synthesised: likes x exp(-age/30 days) x 0.5-1.0"}


def provenance(store: Store, model_id: str) -> dict | None:
    """Where each figure of a model comes from: a named source, or the synthesis rule (docs/REPLICA.md)."""
    row, _moved = store.find(model_id)
    if row is None:
        return None
    if row in store.provenance:
        kind = "corpus" if row in store.evals else "card or expand recording"
        return {"id": store.model_id(row), "kind": kind, "fields": store.provenance[row]}
    body = store.bodies.get(row)
    if body is not None:
        hand = row in store.hand_written
        fields = {f: "hand-written body (data/demo/models.json: counts illustrative)" if hand else "recorded body"
                  for f in body}
        fields.update(RECORDED_SUPPLEMENTS)
        kind = "hand-written" if hand else "recorded"
        return {"id": store.model_id(row), "kind": kind, "fields": fields}
    return {"id": store.model_id(row), "kind": "synthetic", "fields": {"*": SYNTHETIC_MODEL}}


AGENT_HARNESSES = {"standardEnvVars": ["AI_AGENT", "AGENT"], "harnesses": {}}


@dataclass
class Request:
    method: str
    path: str         # raw path, percent-encoded as sent
    query: str        # raw query string
    headers: dict     # lower-case names
    body: bytes
    client: str
    on_cdn: bool = False  # arrived at the LFS file host's socket


def _parse_as_of(text: str) -> float:
    text = unquote(text)
    if text.replace(".", "").isdigit():
        return float(text)
    if len(text) == 10:  # a date alone: the end of that day
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%d")) + 86399)
    return float(render.parse_iso(text))


class Replica:
    def __init__(self, store: Store, recordings: Recordings, *, fault_spec: str = "", seed: int = 0,
                 limiter: RateLimiter | None = None, catalog: str = ""):
        self.store = store
        self.recordings = recordings
        self.faults = faults.FaultPlan(fault_spec, seed)
        self.limiter = limiter or RateLimiter()
        self.seed = seed
        self.catalog = catalog
        self.masks = listing.MaskCache()
        self.stats_lock = threading.Lock()
        self.counts: Counter = Counter()
        self.recent: deque = deque(maxlen=20000)
        self.router_cache = (None, None)
        self.cdn_port: int | None = None  # the LFS file host's port (set by the server); None: this origin

    # -- entry point --------------------------------------------------------------------------------
    def handle(self, req: Request) -> wire.Response:
        path, prefix, as_of = req.path, "", None
        if path.startswith("/_asof/"):
            stamp, _, rest = path[len("/_asof/"):].partition("/")
            try:
                as_of = _parse_as_of(stamp)
            except ValueError:
                return wire.error(400, f"Invalid time in /_asof/: {stamp}")
            prefix, path = f"/_asof/{stamp}", "/" + rest
        if path.startswith("/_replica/"):
            return self.control(req, path)
        route, bucket = self.classify(path)
        resp = self._answer(req, path, prefix, as_of, route, bucket)
        with self.stats_lock:
            self.counts[route] += 1
            self.counts[f"{route}:{resp.status}"] += 1
            self.recent.append((req.method, path + ("?" + req.query if req.query else ""), resp.status))
        return resp

    @staticmethod
    def classify(path: str) -> tuple[str, str | None]:
        if path == "/api/models":
            return "list", "api"
        if path.startswith("/api/resolve-cache/"):
            return "card", "resolvers"
        if path.startswith("/_cdn/"):  # the LFS file host /resolve/ redirects to (not the Hub: no bucket)
            return "cdn", None
        if path.startswith("/api/models/"):
            return "info", "api"
        if path.startswith("/api/"):
            return "other", "api"
        if path in ("/v1/models", "/router/v1/models") or path.startswith(("/v1/models/", "/router/v1/models/")):
            return "router", None
        if "/resolve/" in path:
            # a README is a card; any other file read through /resolve/ (config.json and the like) is
            # counted, and can be faulted, apart: same handler, same bucket
            return ("card" if path.lower().endswith("/readme.md") else "file"), "resolvers"
        return "other", None

    def _answer(self, req, path, prefix, as_of, route, bucket) -> wire.Response:
        rule = self.faults.request_fault(route)
        if rule is not None and rule.kind == "429":
            return self._fault_response(rule, bucket)
        limit_headers = {}
        if bucket:
            auth = req.headers.get("authorization", "")
            caller = auth if auth.startswith("Bearer ") else req.client
            allowed, limit_headers = self.limiter.take(bucket, caller, auth.startswith("Bearer "))
            if not allowed:
                resp = wire.error(429, f"You have exceeded our rate limit for the '{bucket}' bucket.")
                resp.headers.update(limit_headers)
                return resp
        resp = self._fault_response(rule, bucket) if rule is not None else None
        if resp is None:
            try:
                resp = self.route(req, path, prefix, as_of, route)
            except listing.BadRequest as e:
                resp = wire.error(400, str(e))
            if rule is not None:  # slow / reset / truncate: the answer is right, its delivery is not
                resp.action = rule.kind if rule.kind in ("reset", "drop", "truncate") else None
                resp.delay = float(rule.opts.get("delay", 30)) if rule.kind == "slow" else 0.0
        resp.headers.update(limit_headers)
        return resp

    def _fault_response(self, rule, bucket) -> wire.Response | None:
        if rule.kind in ("500", "502", "503", "504"):
            return wire.error(int(rule.kind), "Internal Error - We're working hard to fix this as soon as possible!")
        if rule.kind == "429":
            resp = wire.error(429, "Too Many Requests")
            if rule.opts.get("headers", "yes") != "no" and bucket:
                retry = int(rule.opts.get("retry", 2))
                q = self.limiter.quotas[bucket][0]
                resp.headers.update(self.limiter.headers(bucket, 0, retry, q))
            return resp
        return None  # slow / reset / truncate act while sending

    # -- Hub routes ---------------------------------------------------------------------------------
    def route(self, req, path, prefix, as_of, route) -> wire.Response:
        if req.method not in ("GET", "HEAD"):
            return wire.error(405, "Method not allowed")
        if route == "list":
            return self.list_models(req, path, prefix)
        if route == "info":
            return self.model_info(req, path, prefix, as_of)
        if route in ("card", "file"):
            return self.resolve(req, path, prefix)
        if route == "cdn":
            return self.cdn(req, path)
        if route == "router":
            return self.router_models(path)
        if path == "/api/quicksearch":
            try:
                return self._json(quicksearch.answer(self.store, req.query))
            except quicksearch.BadQuery as e:
                return wire.error(400, str(e))
        if path == "/api/datasets" or path.startswith("/api/datasets/"):
            return self.datasets(req, path, prefix)
        if path == "/api/spaces" or path.startswith("/api/spaces/"):
            return self.spaces(req, path, prefix)
        if path == "/api/agent-harnesses":
            return wire.json_response(200, json.dumps(AGENT_HARNESSES).encode())
        return wire.error(404, "Not Found", text=True)

    def list_models(self, req, path, prefix) -> wire.Response:
        q = listing.parse_query(parse_qsl(req.query, keep_blank_values=True))
        with self.store.lock:
            rows, cursor = listing.page_rows(self.store, q, self.masks)
            items = render.render_items(self.store, rows, q.fields(), listing=True)
        items = self._damage(items, "list")
        resp = wire.json_response(200, orjson.dumps(items))
        if cursor:
            kept = "&".join(p for p in req.query.split("&") if p and not p.startswith("cursor="))
            host = req.headers.get("host", "127.0.0.1")
            url = f"http://{host}{prefix}{path}?{kept + '&' if kept else ''}cursor={quote(cursor, safe='')}"
            resp.headers["Link"] = f'<{url}>; rel="next"'
        return resp

    # -- evidence: benchmark datasets, leaderboards, Spaces (evidence.py) ------------------------------------
    @staticmethod
    def _multi(params, name) -> list[str]:
        return [v for k, val in params if k in (name, name + "[]") for v in val.split(",") if v]

    def _paged(self, req, path, prefix, items: list, params) -> wire.Response:
        """A list answer paginated as the Hub's listings are: `limit` (at most 1000), an absolute `Link`."""
        try:
            limit = min(int(dict(params).get("limit") or 1000), 1000)
            start = int(dict(params).get("cursor") or 0)
        except ValueError:
            return wire.error(400, "Invalid limit or cursor")
        if limit < 1 or start < 0:
            return wire.error(400, "Invalid limit or cursor")
        resp = wire.json_response(200, orjson.dumps(items[start:start + limit]))
        if start + limit < len(items):
            kept = "&".join(p for p in req.query.split("&") if p and not p.startswith("cursor="))
            host = req.headers.get("host", "127.0.0.1")
            url = f"http://{host}{prefix}{path}?{kept + '&' if kept else ''}cursor={start + limit}"
            resp.headers["Link"] = f'<{url}>; rel="next"'
        return resp

    def datasets(self, req, path, prefix) -> wire.Response:
        params = parse_qsl(req.query, keep_blank_values=True)
        ev = self.store.evidence
        known = sorted(ev.datasets) if ev else []
        if path == "/api/datasets":
            filters = self._multi(params, "filter")
            search = " ".join(self._multi(params, "search")).lower()
            author = dict(params).get("author")
            with self.store.lock:
                items = [evidence.dataset_item(self.store, d) for d in known]
            items = [i for i in items if all(f in i["tags"] for f in filters)
                     and (not author or i["author"] == author) and search in i["id"].lower()]
            return self._paged(req, path, prefix, items, params)
        rest = unquote(path[len("/api/datasets/"):])
        if rest.endswith("/leaderboard"):
            dataset_id = rest[: -len("/leaderboard")]
            base_only = dict(params).get("base_model", "true").lower() not in ("false", "0")
            with self.store.lock:
                board = evidence.leaderboard(self.store, dataset_id, base_only, dict(params).get("task_id"))
            if board is None:
                if dataset_id not in known:
                    return self._missing_repo(req)
                return wire.error(404, f"Dataset {dataset_id} has no leaderboard")
            return wire.json_response(200, orjson.dumps(board))
        if rest in known:
            with self.store.lock:
                return wire.json_response(200, orjson.dumps(evidence.dataset_item(self.store, rest)))
        return self._missing_repo(req)

    def spaces(self, req, path, prefix) -> wire.Response:
        params = parse_qsl(req.query, keep_blank_values=True)
        ev = self.store.evidence
        spaces = ev.spaces if ev else {}
        expand = self._multi(params, "expand")
        fields = expand or (list(evidence.space_item(evidence.Space("a/b", [], 0, 0, ""), None))
                            + ["author", "lastModified", "sha", "disabled"] if dict(params).get("full") else None)
        if path == "/api/spaces":
            models = self._multi(params, "models")
            author = dict(params).get("author")
            search = (dict(params).get("search") or "").lower()
            with self.store.lock:
                ids = sorted(spaces)
                if models:
                    hits = set.intersection(*(set(ev.spaces_of.get(m, ())) if ev else set() for m in models))
                    ids = [i for i in ids if i in hits]
                items = [evidence.space_item(spaces[i], fields) for i in ids
                         if (not author or i.split("/")[0] == author) and search in i.lower()]
            items.sort(key=lambda i: -spaces[i["id"]].likes)
            return self._paged(req, path, prefix, items, params)
        sid = unquote(path[len("/api/spaces/"):])
        if sid in spaces:
            return wire.json_response(200, orjson.dumps(evidence.space_item(
                spaces[sid], expand or ["author", "sha", "lastModified", "private", "disabled", "likes", "sdk", "tags",
                                        "createdAt", "models"])))
        return self._missing_repo(req)

    def _damage(self, items: list, route: str) -> list:
        rules = self.faults.item_faults(route)
        return faults.apply_item_faults(items, rules) if rules else items

    def _missing_repo(self, req) -> wire.Response:
        # Anonymous callers get 401 even when the repo simply does not exist (hf_raise_for_status comment).
        status = 404 if req.headers.get("authorization") else 401
        return wire.error(status, "Repository not found", code="RepoNotFound")

    def model_info(self, req, path, prefix, as_of) -> wire.Response:
        rec = self.recordings.lookup(path, canonical_query(req.query), as_of)
        if rec is None and path != unquote(path):
            rec = self.recordings.lookup(unquote(path), canonical_query(req.query), as_of)
        if rec is not None:
            return self._replay(rec)
        other = tree.handle(self, req, path, prefix)  # /tree/, /refs, /commits/
        if other is not None:
            return other
        rest = unquote(path[len("/api/models/"):])
        model_id, _, revision = rest.partition("/revision/")
        if not revision and model_id.count("/") > 1:  # /discussions, /paths-info, ...: routes this replica lacks
            return wire.error(404, f"Not Found: {path}", text=True)
        params = parse_qsl(req.query, keep_blank_values=True)
        with self.store.lock:
            row, moved = self.store.find(model_id)
            if row is None or not self.store.cols["alive"][row]:
                return self._missing_repo(req)
            if moved:
                target = f"{prefix}/api/models/{self.store.model_id(row)}"
                if revision:
                    target += f"/revision/{quote(revision, safe='')}"
                return wire.redirect(target + (f"?{req.query}" if req.query else ""))
            rev = revisions.resolve(self.store, row, revision)
            if rev is None:
                return wire.error(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
            version = rev.version
            expand = [v for k, val in params if k in ("expand", "expand[]") for v in val.split(",") if v]
            bad = [e for e in expand if e not in render.EXPAND_VALUES]
            if bad:
                return wire.error(400, f"Invalid expand parameter: {bad[0]}")
            if expand:
                fields = ["_id", "id"] + sorted(set(expand) - {"_id", "id"}, key=render.EXPAND_ORDER.get)
            else:
                fields = list(render.INFO_FIELDS)
            item = render.render_items(self.store, [row], fields, listing=False, version=version)[0]
            if "sha" in item:
                item["sha"] = rev.sha  # a pull request's head has the content of main, not its sha
            if not expand and dict(params).get("blobs") in ("true", "1"):
                item["siblings"] = files.blobs(files.Repo(self.store, row, version, self.card_bytes))
            if not expand and dict(params).get("securityStatus") in ("true", "1"):
                item["securityRepoStatus"] = {"scansDone": True, "filesWithIssues": []}
        item = self._damage([item], "info")[0]
        return wire.json_response(200, orjson.dumps(item))

    def _replay(self, rec) -> wire.Response:
        headers = {k: v for k, v in rec.headers.items() if k in REPLAYED_HEADERS}
        resp = wire.Response(rec.status, rec.body, {k.title() if k != "etag" else "ETag": v for k, v in headers.items()})
        if rec.status == 200 and resp.headers.get("Content-Type", "").startswith("application/json"):
            rules = self.faults.item_faults("info")
            if rules:
                resp.body = orjson.dumps(faults.apply_item_faults([json.loads(rec.body)], rules)[0])
        return resp

    # -- files ----------------------------------------------------------------------------------------
    def card_bytes(self, row: int, version: int | None = None) -> bytes:
        raw = self.store.cards.get(row)
        if raw is not None:
            return raw
        body = self.store.bodies.get(row)
        if body is None:
            return cardtext.synthetic_card(self.store, row, version)
        front = yaml.safe_dump(body.get("cardData") or {}, sort_keys=False, allow_unicode=True).strip()
        return (f"---\n{front}\n---\n\n# {body['id']}\n\nThis replica holds no recorded text for this card; "
                "its front matter is the model's recorded cardData.\n").encode()

    def resolve(self, req, path, prefix) -> wire.Response:
        if path.startswith("/api/resolve-cache/models/"):
            segs = path[len("/api/resolve-cache/models/"):].split("/")
            at = next((i for i, s in enumerate(segs) if revisions.FULL_SHA.fullmatch(s)), None)
            if at is None:
                return wire.error(404, "Entry not found", code="EntryNotFound", text=True)
            model_id, revision, filename = unquote("/".join(segs[:at])), segs[at], unquote("/".join(segs[at + 1:]))
            via_cache = True
        else:
            head, _, tail = path.partition("/resolve/")
            model_id = unquote(head.lstrip("/"))
            revision, rest = revisions.split_rev(tail.split("/"))
            filename = unquote("/".join(rest))
            via_cache = False
        with self.store.lock:
            row, moved = self.store.find(model_id)
            if row is None or not self.store.cols["alive"][row]:
                return self._missing_repo(req)
            current = self.store.model_id(row)
            if moved:
                return wire.redirect(f"{prefix}/{current}/resolve/{quote(revision, safe='')}/{quote(filename)}")
            rev = revisions.resolve(self.store, row, revision)
            gated = self.store.cols["gated"][row] and not req.headers.get("authorization")
            if gated:
                resp = wire.error(401, f"Access to model {current} is restricted. You must have access to it and be "
                                       "authenticated to access it. Please log in.", code="GatedRepo", text=True)
                resp.headers["WWW-Authenticate"] = 'Bearer realm="Authentication required", charset="UTF-8"'
                return resp
            if rev is None:
                return wire.error(404, f"Invalid rev id: {revision}", code="RevisionNotFound", text=True)
            f = files.Repo(self.store, row, rev.version, self.card_bytes).get(filename)
        if f is None:
            resp = wire.error(404, "Entry not found", code="EntryNotFound", text=True)
            resp.headers["X-Repo-Commit"] = rev.sha
            return resp
        if f.lfs:  # as the Hub does: a 302 to the file host, the metadata on the redirect itself
            host = req.headers.get("host", "127.0.0.1")
            if self.cdn_port:
                host = f"{host.rsplit(':', 1)[0] if not host.endswith(']') else host}:{self.cdn_port}"
            disposition = quote(f"inline; filename*=UTF-8''{filename.rsplit('/', 1)[-1]};", safe="")
            resp = wire.Response(302, b"", {"Content-Type": wire.TEXT, "Vary": "Origin, Accept"})
            resp.headers["Location"] = (f"http://{host}/_cdn/{current}/{rev.sha}/{quote(filename)}"
                                        f"?response-content-disposition={disposition}")
            resp.body = f"Found. Redirecting to {resp.headers['Location']}".encode()
            resp.headers.update({"X-Repo-Commit": rev.sha, "Accept-Ranges": "bytes", "X-Linked-Size": str(f.size),
                                 "X-Linked-ETag": f'"{f.sha256}"'})
            return resp
        if revision != rev.sha and not via_cache:
            # As the Hub does since 2026: a revision that is not a commit resolves through a 307 to the
            # commit's resolve-cache URL.
            original = quote(f"/{current}/resolve/{quote(revision, safe='')}/{filename}", safe="")
            resp = wire.redirect(f"{prefix}/api/resolve-cache/models/{current}/{rev.sha}/{quote(filename)}"
                                 f"?{original}=&etag=%22{f.blob_id}%22")
            resp.headers["X-Repo-Commit"] = rev.sha
            return resp
        return files.file_response(f, req.headers.get("range"), {"ETag": f'"{f.blob_id}"', "X-Repo-Commit": rev.sha})

    def cdn(self, req, path) -> wire.Response:
        """The LFS file host: `/_cdn/{id}/{commit}/{path}` streams the file, honouring Range."""
        if req.method not in ("GET", "HEAD"):
            return wire.error(405, "Method not allowed")
        segs = path[len("/_cdn/"):].split("/")
        at = next((i for i, s in enumerate(segs) if revisions.FULL_SHA.fullmatch(s)), None)
        if at is None:
            return wire.error(404, "Not Found", text=True)
        model_id, sha, filename = unquote("/".join(segs[:at])), segs[at], unquote("/".join(segs[at + 1:]))
        with self.store.lock:
            row, _moved = self.store.find(model_id)
            rev = revisions.resolve(self.store, row, sha) if row is not None else None
            f = files.Repo(self.store, row, rev.version, self.card_bytes).get(filename) if rev else None
        if f is None or not f.lfs:
            return wire.error(404, "Not Found", text=True)
        headers = {"ETag": f'"{f.sha256}"'}
        if not req.on_cdn:
            # Served from the API's own origin (no file host port): a client follows the 302 here, and
            # reads the commit from this response, as it does through a mirror.
            headers["X-Repo-Commit"] = sha
        return files.file_response(f, req.headers.get("range"), headers)

    def router_models(self, path) -> wire.Response:
        with self.store.lock:
            version, doc = self.router_cache
            if version != self.store.mutations:
                doc = router.catalogue(self.store, include_example=bool(self.store.bodies))
                self.router_cache = (self.store.mutations, doc)
        tail = path.split("/v1/models", 1)[1].strip("/")
        if tail:
            item = next((m for m in doc["data"] if m["id"] == unquote(tail)), None)
            if item is None:
                return wire.error(404, f"Model {tail} not found")
            return wire.json_response(200, orjson.dumps(item))
        return wire.json_response(200, orjson.dumps(doc))

    # -- control (not part of the Hub's API) -------------------------------------------------------
    def control(self, req, path) -> wire.Response:
        what = path[len("/_replica/"):].strip("/")
        try:
            if what == "state" and req.method == "GET":
                return self._json(self.state())
            if what.startswith("provenance/") and req.method == "GET":
                with self.store.lock:
                    doc = provenance(self.store, unquote(what[len("provenance/"):]))
                return self._json(doc) if doc else wire.error(404, "no such model")
            if what == "requests" and req.method == "GET":
                with self.stats_lock:
                    return self._json({"counts": dict(self.counts), "recent": list(self.recent)})
            if what == "requests/reset" and req.method == "POST":
                with self.stats_lock:
                    self.counts.clear()
                    self.recent.clear()
                return self._json({"ok": True})
            if what == "faults" and req.method in ("POST", "PUT"):
                self.faults.replace(req.body.decode())
                return self._json(self.faults.describe())
            if what == "faults" and req.method == "DELETE":
                self.faults.replace("")
                return self._json(self.faults.describe())
            if what == "faults" and req.method == "GET":
                return self._json(self.faults.describe())
            if what == "scenario" and req.method == "POST":
                args = json.loads(req.body or b"{}")
                changes = scenario.apply_step(self.store, **args)
                self.masks = listing.MaskCache()
                return self._json(changes)
            if what == "ratelimit" and req.method == "POST":
                args = json.loads(req.body or b"{}")
                window = args.pop("window", None)
                self.limiter.configure({k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}, window)
                return self._json({"quotas": self.limiter.quotas, "window": self.limiter.window})
        except (ValueError, TypeError, faults.FaultSpecError) as e:
            return wire.error(400, str(e))
        return wire.error(404, f"unknown control endpoint {req.method} {path}")

    def state(self) -> dict:
        with self.store.lock:
            alive = int(self.store.col("alive").sum())
            return {"catalog": self.catalog, "seed": self.seed, "models": alive, "rows": self.store.n,
                    "clock": render.iso(self.store.clock), "mutations": self.store.mutations,
                    "recorded_responses": sum(1 for _ in self.recordings.all()),
                    "faults": self.faults.describe(),
                    "ratelimit": {"quotas": self.limiter.quotas, "window": self.limiter.window}}

    @staticmethod
    def _json(doc) -> wire.Response:
        return wire.json_response(200, json.dumps(doc).encode())

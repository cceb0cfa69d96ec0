"""Real recorded Hub responses: served byte for byte, and loaded as catalogue rows.

Two uses of the fixtures under `data/real/` (a copy of `../shared/fixtures/real/`):

1. `Recordings`: every recorded response, keyed by (path, canonical query), with its recording time.
   A request whose path and query match a recording gets that recording's status, body bytes and
   body-describing headers. Several recordings of one URI exist (a model recorded on several days);
   the newest is served by default and older ones through the time-travel prefix `/_asof/<time>/`.
2. `load_into(store)`: every recorded model becomes a row whose real default body backs its fields;
   models seen only in an `expand` recording or a real card get a row built from what is known
   (their `_id`, task, card front matter), with the unknown numbers drawn from their id's hash.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from importlib import resources
from urllib.parse import parse_qsl, urlsplit

import yaml

from . import synthesis, vocab
from .render import parse_iso
from .store import Store

# Response headers that describe the recorded body and are replayed with it.
REPLAYED_HEADERS = ("content-type", "etag", "location", "vary", "x-powered-by", "access-control-allow-origin",
                    "access-control-expose-headers", "referrer-policy", "cross-origin-opener-policy")
CREATED_PLACEHOLDER = "2022-03-02T23:29:04.000Z"
DEFAULT_NOW = 1793491200  # catalog.DEFAULT_NOW, for a store built without a clock

# What the fixtures leave out about three real cards that have no front matter in their GitHub copy
# (the Hub README adds it; model-cards/README.md). Task and library as the Hub lists these models.
CARD_ONLY_HINTS = {
    "black-forest-labs/FLUX.1-dev": {"pipeline_tag": "text-to-image", "library_name": "diffusers",
                                     "license": "other", "license_name": "flux-1-dev-non-commercial-license",
                                     "gated": "auto"},
    "black-forest-labs/FLUX.1-kontext-dev": {"pipeline_tag": "image-to-image", "library_name": "diffusers",
                                             "license": "other",
                                             "license_name": "flux-1-dev-non-commercial-license", "gated": "auto"},
    "black-forest-labs/FLUX.1-schnell": {"pipeline_tag": "text-to-image", "library_name": "diffusers",
                                         "license": "apache-2.0"},
}


def data_dir() -> str:
    override = os.environ.get("HUBDEX_REAL_FIXTURES")
    if override:
        return override
    return str(resources.files("hubdex.replica") / "data" / "real")


def canonical_query(query: str | list) -> tuple:
    """A query's identity: `expand[]` and `expand` are one parameter, value order doesn't matter."""
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else list(query)
    expand, other = [], []
    for k, v in pairs:
        if k in ("expand", "expand[]"):
            expand += [x for x in v.split(",") if x]
        else:
            other.append((k, v))
    key = tuple(sorted(other))
    if expand:
        key += (("expand", tuple(sorted(set(expand)))),)
    return key


@dataclass
class Recording:
    time: float
    status: int
    headers: dict
    body: bytes
    source: str
    uri: str
    parsed: object = field(default=None, repr=False)


class Recordings:
    def __init__(self):
        self.by_key: dict[tuple, list[Recording]] = {}

    def add(self, rec: Recording):
        parts = urlsplit(rec.uri)
        key = (parts.path, canonical_query(parts.query))
        self.by_key.setdefault(key, []).append(rec)
        self.by_key[key].sort(key=lambda r: r.time)

    def lookup(self, path: str, query_key: tuple, as_of: float | None) -> Recording | None:
        recs = self.by_key.get((path, query_key))
        if not recs:
            return None
        if as_of is None:
            return recs[-1]
        visible = [r for r in recs if r.time <= as_of]
        return visible[-1] if visible else None

    def all(self):
        for recs in self.by_key.values():
            yield from recs


def _read(base: str, rel: str) -> bytes:
    with open(os.path.join(base, rel), "rb") as f:
        return f.read()


def load_recordings(base: str | None = None) -> Recordings:
    base = base or data_dir()
    recs = Recordings()
    cas = os.path.join(base, "huggingface_hub-cassettes")
    for e in json.load(open(os.path.join(cas, "index.json"))):
        headers = {k.lower(): v for k, v in e["response"]["headers"].items()}
        when = parsedate_to_datetime(headers["date"]).timestamp()
        recs.add(Recording(when, e["response"]["status"], headers, _read(cas, e["file"]),
                           f"huggingface_hub-cassettes/{e['file']}", e["request"]["uri"]))
    lst = os.path.join(base, "hub-listings")
    for e in json.load(open(os.path.join(lst, "index.json")))["entries"]:
        day = re.search(r"\d{4}-\d{2}-\d{2}", e["recorded"]).group(0)
        headers = {k.lower(): v for k, v in e["response_headers"].items()}
        recs.add(Recording(parse_iso(day + "T00:00:00"), e["status"], headers, _read(lst, e["file"]),
                           f"hub-listings/{e['file']}", e["request_uri"]))
    return recs


def _card_front_matter(text: str) -> dict:
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _as_list(v):
    if v is None:
        return []
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


def made_row(store: Store, model_id: str, front: dict, hints: dict, card_entry: dict | None, corpus=None,
             card_text: str = "") -> int:
    """A row for a real model known only from a card or an expand recording (and perhaps a corpus): its body
    built by realmodels from what these sources give, the rest by the documented synthesis model."""
    from . import realmodels

    k = realmodels.known_from_card(model_id, front, hints, card_entry, corpus)
    body, files, prov = realmodels.build_body(k, store.clock or DEFAULT_NOW, official=False, card_text=card_text)
    if hints.get("_id"):
        body["_id"] = hints["_id"]
        prov["_id"] = "recorded expand response"
    row = add_body_row(store, body)
    store.files_text[row] = files
    store.provenance[row] = prov
    store.weights_of[row] = k.weights
    return row


def add_body_row(store: Store, body: dict, alias_ids=(), changed: bool = True) -> int:
    """Append a row backed by a real (or hand-written) default body; its columns mirror the body."""
    row = store.reserve(1)[0]
    c = store.cols
    tags = body.get("tags") or []
    created = body.get("createdAt") or CREATED_PLACEHOLDER
    modified = body.get("lastModified") or created
    c["alive"][row] = True
    c["oid_hi"][row] = int(body["_id"][:16], 16)
    c["oid_lo"][row] = int(body["_id"][16:24], 16)
    c["created"][row] = parse_iso(created)
    c["modified"][row] = parse_iso(modified)
    c["pipeline"][row] = store.pipelines.code(body.get("pipeline_tag"))
    c["library"][row] = store.libraries.code(body.get("library_name"))
    lic = next((t.split(":", 1)[1] for t in tags if t.startswith("license:")), None)
    c["license"][row] = store.licenses.code(lic)
    c["gated"][row] = {False: 0, "auto": 1, "manual": 2}.get(body.get("gated"), 0)
    c["disabled"][row] = bool(body.get("disabled"))
    downloads = int(body.get("downloads") or 0)
    c["downloads"][row] = downloads
    c["likes"][row] = int(body.get("likes") or 0)
    # A real default body has no all-time downloads nor trending score: synthesised from its real figures by
    # the documented model (synthesis.py); a body that carries them keeps them.
    now = store.clock or DEFAULT_NOW
    c["downloads_all"][row] = body.get("downloadsAllTime", synthesis.downloads_all_time(
        body["id"], downloads, int(c["created"][row]), now))
    c["trending"][row] = body.get("trendingScore", synthesis.trending(
        body["id"], int(body.get("likes") or 0), int(c["created"][row]), now))
    c["params"][row] = int((body.get("safetensors") or {}).get("total") or 0)
    c["fmt"][row] = sum(bit for name, bit in vocab.FMT.items() if name in tags)
    c["spaces"][row] = min(len(body.get("spaces") or []), 100)
    store.bodies[row] = body
    store.register_id(row, body["id"])
    for alias in alias_ids:
        if alias != body["id"]:
            store.redirects[alias] = row
    if changed:
        store.changed()
    return row


def link_relations(store: Store, rows):
    """Point body rows at their base model's row when the base is in the catalogue too."""
    for row in rows:
        for tag in store.bodies[row].get("tags") or ():
            parts = tag.split(":")
            if len(parts) == 3 and parts[0] == "base_model" and parts[1] in vocab.RELATIONS:
                base, _ = store.find(parts[2])
                if base is not None:
                    store.cols["parent"][row] = base
                    store.cols["relation"][row] = vocab.RELATIONS.index(parts[1])
    store.changed()


def load_into(store: Store, recs: Recordings, base: str | None = None, corpus=None) -> list[int]:
    """Add every recorded model (and every real card's model) to the store; returns their rows."""
    base = base or data_dir()
    latest_default: dict[str, tuple[float, dict]] = {}   # _id -> newest default body
    ids_of: dict[str, set] = {}
    provider_maps: dict[str, tuple[float, dict, str]] = {}  # model id -> newest dict-form mapping
    renames: dict[str, str] = {}
    partial: dict[str, dict] = {}  # model id -> what an expand recording tells (_id, pipeline_tag)
    for rec in recs.all():
        path, query = urlsplit(rec.uri).path, urlsplit(rec.uri).query
        mid = path[len("/api/models/"):]
        if rec.status == 307:
            renames[mid] = urlsplit(rec.headers["location"]).path[len("/api/models/"):]
            continue
        body = json.loads(rec.body)
        ids_of.setdefault(body["_id"], set()).add(body["id"])
        if not query:
            canonical = "/" in body["id"]
            prev = latest_default.get(body["_id"])
            rank = (canonical, rec.time)
            if prev is None or rank > prev[0]:
                latest_default[body["_id"]] = (rank, body)
        else:
            info = partial.setdefault(body["id"], {"_id": body["_id"]})
            if "pipeline_tag" in body:
                info["pipeline_tag"] = body["pipeline_tag"]
            mapping = body.get("inferenceProviderMapping")
            if isinstance(mapping, dict):
                prev = provider_maps.get(body["id"])
                if prev is None or rec.time > prev[0]:
                    provider_maps[body["id"]] = (rec.time, mapping)
                for v in mapping.values():
                    info.setdefault("pipeline_tag", {"conversational": "text-generation"}.get(v["task"], v["task"]))
    rows = []
    for oid, (_rank, body) in sorted(latest_default.items()):
        rows.append(add_body_row(store, body, alias_ids=ids_of.get(oid, ())))
    for old, new in renames.items():
        row, _ = store.find(new)
        if row is not None:
            store.redirects[old] = row

    cards_dir = os.path.join(base, "model-cards")
    cards = json.load(open(os.path.join(cards_dir, "index.json")))
    card_of = {entry["model_id"]: entry for entry in cards}
    for mid, info in sorted(partial.items()):
        if store.find(mid)[0] is None and not any(store.find(a)[0] is not None for a in ids_of.get(info["_id"], ())):
            entry = card_of.get(mid)
            text = _read(cards_dir, entry["file"]).decode("utf-8", "replace") if entry else ""
            rows.append(made_row(store, mid, _card_front_matter(text), {**CARD_ONLY_HINTS.get(mid, {}), **info},
                                 entry, corpus, text))
    for entry in cards:
        mid = entry["model_id"]
        raw = _read(cards_dir, entry["file"])
        row, _ = store.find(mid)
        if row is None:
            text = raw.decode("utf-8", "replace")
            row = made_row(store, mid, _card_front_matter(text), CARD_ONLY_HINTS.get(mid, {}), entry, corpus, text)
            rows.append(row)
        store.cards[row] = raw
    for mid, (_t, mapping) in provider_maps.items():
        row, _ = store.find(mid)
        if row is not None:
            store.provider_maps[row] = mapping
    link_relations(store, rows)
    store.cols["providers"][rows] = 0
    return rows

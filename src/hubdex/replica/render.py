"""Render Hub JSON fields for store rows, a page at a time.

A page gathers the columns it needs once (numpy fancy indexing, then plain lists), and every field
is a small function of (page, k). Rows backed by a real body answer from that body; the fields a
real default body lacks (downloadsAllTime, trendingScore, baseModels, childrenModelCount, ...) come
from the row's columns, as they would from the Hub with `expand`. Sub-structures shared by many
models (tag prefixes, file lists, configs) are cached and shared by reference: orjson serialises a
shared list as fast as a fresh one.
"""

from __future__ import annotations

import calendar
import hashlib
import time

import numpy as np

from . import leagues
from . import tags as tag_pieces
from . import vocab
from .store import Store

MISSING = object()

# Field order of a real default model_info body (35 recorded models), and of a default list item.
INFO_FIELDS = ["_id", "id", "private", "pipeline_tag", "library_name", "tags", "downloads", "likes", "modelId",
               "author", "sha", "lastModified", "gated", "disabled", "mask_token", "widgetData", "model-index",
               "config", "cardData", "transformersInfo", "siblings", "spaces", "createdAt", "safetensors",
               "inference", "usedStorage"]
LIST_FIELDS = ["_id", "id", "likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag",
               "library_name", "createdAt", "modelId"]
# `full=true`: the default list item plus the repo state and files (exact set unverified, HUB-API.md 1.3).
FULL_EXTRA = ["author", "sha", "lastModified", "gated", "disabled", "siblings"]
# Every value of huggingface_hub 2.4's ExpandModelProperty_T.
EXPAND_VALUES = ["author", "baseModels", "cardData", "childrenModelCount", "config", "createdAt", "disabled",
                 "downloads", "downloadsAllTime", "evalResults", "gated", "gguf", "inference",
                 "inferenceProviderMapping", "lastModified", "library_name", "likes", "mask_token", "model-index",
                 "pipeline_tag", "private", "resourceGroup", "safetensors", "sha", "siblings", "spaces", "tags",
                 "transformersInfo", "trendingScore", "usedStorage", "widgetData"]
EXPAND_ORDER = {name: i for i, name in enumerate(INFO_FIELDS + [f for f in EXPAND_VALUES if f not in INFO_FIELDS])}

PAGE_COLUMNS = ["oid_hi", "oid_lo", "name_code", "created", "modified", "version", "author", "pipeline", "library", "license",
                "other_license", "gated", "disabled", "lang", "dataset", "arch", "downloads", "downloads_all",
                "likes", "trending", "params", "fmt", "relation", "parent", "spaces", "providers", "has_evals", "league"]

CHAT_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
                 "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                 "{% endif %}")


_days: dict = {}


def iso(ts: int) -> str:
    """ISO-8601 with milliseconds and Z, as the Hub writes dates (a day's prefix is cached: fast)."""
    day, sec = divmod(ts, 86400)
    prefix = _days.get(day)
    if prefix is None:
        prefix = _days[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{prefix}{h:02d}:{m:02d}:{s:02d}.000Z"


def parse_iso(text: str) -> int:
    """Epoch seconds of a Hub date (`2024-09-25T17:00:57.000Z`); the inverse of `iso`."""
    if len(text) < 19 or text[4] != "-" or text[7] != "-" or text[10] != "T":
        raise ValueError(f"not an ISO time: {text!r}")
    return calendar.timegm((int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
                            int(text[17:19]), 0, 0, 0))


class Page:
    """The columns of a batch of rows, as Python lists, plus the store they came from."""

    def __init__(self, store: Store, rows: list[int], listing: bool, version: int | None = None):
        self.store = store
        self.rows = rows
        self.listing = listing  # inferenceProviderMapping is a list in listings, a dict in model_info
        self.k = range(len(rows))
        idx = list(rows)
        self.c = {name: store.cols[name][idx].tolist() for name in PAGE_COLUMNS}
        if version is not None:  # the model as it was at an earlier commit
            self.c["version"] = [version] * len(idx)
        self.children = None
        self._ids = None
        self._oids = None
        self._parents: dict = {}

    @property
    def ids(self) -> list[str]:
        if self._ids is None:
            store = self.store
            special = store.bodies.keys() | store.renamed.keys()
            names = store.repo_names(self.rows, self.c["name_code"])
            authors = store.authors
            self._ids = [store.model_id(r) if r in special else f"{authors[a]}/{n}"
                         for r, a, n in zip(self.rows, self.c["author"], names)]
        return self._ids

    @property
    def oids(self) -> list[str]:
        if self._oids is None:
            bodies = self.store.bodies
            self._oids = [bodies[r]["_id"] if r in bodies else f"{hi:016x}{lo:08x}"
                          for r, hi, lo in zip(self.rows, self.c["oid_hi"], self.c["oid_lo"])]
        return self._oids

    def parent_id(self, k: int) -> str:
        """The base model's id (popular bases recur on a page: computed once each)."""
        parent = self.c["parent"][k]
        pid = self._parents.get(parent)
        if pid is None:
            pid = self._parents[parent] = self.store.model_id(parent)
        return pid

    def column(self, field: str) -> list:
        """One field for every row of the page (MISSING where the row has no such field)."""
        batch = BATCH_RENDERERS.get(field)
        if batch is not None:
            values = batch(self)
        else:
            fn = FIELD_RENDERERS.get(field)
            values = [fn(self, k) for k in self.k] if fn else [MISSING] * len(self.rows)
        bodies = self.store.bodies
        if bodies:
            for k, row in enumerate(self.rows):
                body = bodies.get(row)
                if body is not None:
                    values[k] = self._body_value(field, k, body)
        return values

    def _body_value(self, field, k, body):
        row = self.rows[k]
        if field in body:
            if field in ("id", "modelId") and row in self.store.renamed:
                return self.store.renamed[row]
            return body[field]
        if field in BODY_DERIVED:
            return BODY_DERIVED[field](self, k, body)
        fn = FIELD_RENDERERS.get(field)
        return fn(self, k) if fn else MISSING

    def value(self, field: str, k: int):
        body = self.store.bodies.get(self.rows[k])
        if body is not None:
            return self._body_value(field, k, body)
        fn = FIELD_RENDERERS.get(field)
        return fn(self, k) if fn else MISSING


# -- cached shared pieces ------------------------------------------------------------------------
SHARED_CACHE_LIMIT = 20_000  # entries; bounds memory at a million models (cleared, then refilled)


def _cached(p, key, make):
    """Shared sub-structures, per store: category codes mean different values in different stores."""
    cache = p.store.shared
    v = cache.get(key)
    if v is None:
        if len(cache) > SHARED_CACHE_LIMIT:
            cache.clear()
        v = cache[key] = make()
    return v


def _pipeline(p, k):
    return p.store.pipelines.values[p.c["pipeline"][k]]


def _library(p, k):
    return p.store.libraries.values[p.c["library"][k]]


def _license(p, k):
    return p.store.licenses.values[p.c["license"][k]]


_PIPE_AUTO = {p[0]: p[4] for p in vocab.PIPELINES}
_OTHER = len(vocab.OTHER_LICENSES)
_GATED_PROMPT = "You agree to share your contact information to access this model."
_GATED_FIELDS = {"Name": "text", "Affiliation": "text", "I agree to the license terms": "checkbox"}


def _model_type(p, k):
    return tag_pieces.model_type(p.store, p.c["pipeline"][k], p.c["arch"][k])


def tags_batch(p) -> list:
    """Tags of every row, concatenated from cached pieces (each a function of one or two columns)."""
    c, store, out = p.c, p.store, []
    groups = [(tag_pieces.group_cache(store, name), [c[col] for col in cols])
              for name, cols, _fns in tag_pieces.GROUPS]
    (lf, lf_cols), (pa, pa_cols), (la, la_cols), (ds, ds_cols), (tl, tl_cols) = groups
    lib, fmt = lf_cols
    pipe, arch = pa_cols
    (lang,), (dataset,) = la_cols, ds_cols
    lic, tlib, tpipe = tl_cols
    parents, relations = c["parent"], c["relation"]
    for k in p.k:
        head = lf[(lib[k], fmt[k])] + pa[(pipe[k], arch[k])] + la[(lang[k],)] + ds[(dataset[k],)]
        tail = tl[(lic[k], tlib[k], tpipe[k])]
        if parents[k] < 0:
            out.append(head + tail)
        else:
            base = p.parent_id(k)
            out.append(head + [f"base_model:{base}", f"base_model:{vocab.RELATIONS[relations[k]]}:{base}"] + tail)
    return out


def sha_of(oid: str, version: int) -> str:
    """A synthetic model's commit at a version: every version's sha stays computable (older commits resolve)."""
    return hashlib.sha1(f"{oid}:{version}".encode()).hexdigest()


def sha(p, k):
    return sha_of(p.oids[k], p.c["version"][k])


def _shards(params: int) -> int:
    """Safetensors shards of a model saved in 16 bits, 5 GB per shard (transformers' default)."""
    return max(1, -(-params * 2 // 5_000_000_000))


def _weight_files(p, k, name):
    fmt, params, lib = p.c["fmt"][k], p.c["params"][k], _library(p, k)
    files = []
    if lib == "diffusers":
        files += ["model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
                  "text_encoder/model.safetensors", "tokenizer/tokenizer_config.json",
                  "transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"]
        return files
    if lib == "peft":
        return ["adapter_config.json", "adapter_model.safetensors"]
    if fmt & vocab.FMT["gguf"]:
        files += [f"{name}-{q}.gguf" for q in ("Q4_K_M", "Q5_K_M", "Q8_0")]
    if fmt & vocab.FMT["safetensors"]:
        shards = _shards(params)
        if shards == 1:
            files.append("model.safetensors")
        else:
            files += [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
            files.append("model.safetensors.index.json")
    if fmt & vocab.FMT["pytorch"]:
        files.append("pytorch_model.bin")
    if fmt & vocab.FMT["onnx"]:
        files += ["onnx/model.onnx", "onnx/model_quantized.onnx"]
    if fmt & vocab.FMT["openvino"]:
        files += ["openvino/openvino_model.bin", "openvino/openvino_model.xml"]
    if fmt & vocab.FMT["tf"]:
        files.append("tf_model.h5")
    if fmt & vocab.FMT["mlx"] and "model.safetensors" not in files:
        files.append("model.safetensors")
    return files


def siblings(p, k):
    c = p.c
    pipe = _pipeline(p, k)
    licence_file = bool(c["gated"][k]) or _license(p, k) == "other"
    # The key holds only what decides the list, so that a million models share a few thousand lists.
    key = ("files", c["library"][k], c["fmt"][k], pipe in ("text-generation", "image-classification") and pipe,
           _shards(c["params"][k]), c["version"][k], licence_file)
    row = p.rows[k]
    gguf = c["fmt"][k] & vocab.FMT["gguf"]

    def make():
        lib = _library(p, k)
        files = [".gitattributes", "README.md"]
        if licence_file:
            files.append("LICENSE.md")
        if lib in ("transformers", "peft", "mlx", "onnx", None, "gguf") and not gguf:
            files.append("config.json")
        if pipe == "text-generation" and lib == "transformers":
            files.append("generation_config.json")
        name = p.store.repo_name(row) if gguf else ""
        files += _weight_files(p, k, name)
        if lib == "sentence-transformers":
            files += ["1_Pooling/config.json", "modules.json", "sentence_bert_config.json"]
        if lib in ("transformers", "sentence-transformers", "mlx") and pipe not in ("image-classification",):
            files += ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
        # Each update adds a file, so that "new files" is visible to a crawler.
        files += [f"eval_results/v{v}.json" for v in range(1, c["version"][k] + 1)]
        if gguf:
            return [{"rfilename": f} for f in sorted(files)]
        interned = p.store.shared.setdefault("file_entries", {})  # one {"rfilename": f} per distinct name
        return [interned.get(f) or interned.setdefault(f, {"rfilename": f}) for f in sorted(files)]

    return make() if gguf else _cached(p, key, make)  # gguf file names carry the repo name: not shared


def _space_pool(store: Store) -> list[str]:
    pool = store.shared.get("space_pool")
    if pool is None:
        authors = store.authors or ["spaces"]  # the recorded catalogue has no synthetic authors
        pool = store.shared["space_pool"] = [
            f"{authors[(i * 31) % len(authors)]}/{vocab.SPACE_WORDS[i % 8]}-{i % 997}" for i in range(4096)]
    return pool


def spaces(p, k):
    count = p.c["spaces"][k]
    if not count:
        return []
    pool, start = _space_pool(p.store), p.rows[k] * 131
    return [pool[(start + i * 7) % 4096] for i in range(count)]  # 7 * 100 < 4096: no repeats


def card_data(p, k):
    c, store = p.c, p.store
    data = {}
    langs = store.languages.values[c["lang"][k]]
    if langs:
        data["language"] = list(langs) if len(langs) > 1 else langs[0]
    lic = store.licenses.values[c["license"][k]]
    if lic:
        data["license"] = lic
        if lic == "other":
            data["license_name"], data["license_link"] = vocab.OTHER_LICENSES[c["other_license"][k] % _OTHER]
    if c["parent"][k] >= 0:
        # cardData keeps the author's string; tags follow the base's renames (HUB-API.md 5).
        data["base_model"] = store.written_id(c["parent"][k])
        if c["relation"][k] in (2, 3):  # the card may state the relation (docs/hub/model-cards.md)
            data["base_model_relation"] = vocab.RELATIONS[c["relation"][k]]
    ds = store.datasets.values[c["dataset"][k]]
    if ds:
        data["datasets"] = [ds]
    lib = store.libraries.values[c["library"][k]]
    if lib:
        data["library_name"] = lib
    pipe = store.pipelines.values[c["pipeline"][k]]
    if pipe:
        data["pipeline_tag"] = pipe
    if c["gated"][k]:
        data["extra_gated_prompt"] = _GATED_PROMPT
        data["extra_gated_fields"] = _GATED_FIELDS
    mi = model_index(p, k)
    if mi:
        data["model-index"] = mi
    return data


_GLUE_CONFIGS = ["sst2", "mnli", "qnli", "cola", "mrpc"]


def model_index(p, k):
    league = leagues.league_of(p.store, p.rows[k])
    if not p.c["has_evals"][k] and league < 0:
        return None
    pipe = _pipeline(p, k) or "text-classification"
    ds = p.store.datasets.values[p.c["dataset"][k]] or "glue"
    v = p.c["version"][k]
    score = round(0.55 + ((p.rows[k] * 7919 + v * 104729) % 4000) / 10000, 4)
    task = {"type": pipe, "name": pipe.replace("-", " ").title()}
    # A result is a dataset *and* its config and split: GLUE's sst2 is not GLUE's mnli.
    config = _GLUE_CONFIGS[p.rows[k] % len(_GLUE_CONFIGS)] if ds == "glue" else "default"
    results = [{"task": task, "dataset": {"name": ds, "type": ds, "config": config, "split": "test"},
                "metrics": [{"type": "accuracy", "value": score, "name": "Accuracy", "verified": False}]}]
    if league >= 0 and leagues.reports(p.store, p.rows[k], league):
        # the league's own benchmark (a copy reports its base's figure, as copied cards do)
        bench = leagues.benchmark(p.store, league)
        own = p.rows[k] if p.c["league"][k] >= 0 or p.c["parent"][k] < 0 else p.c["parent"][k]
        results.append({"task": task, "dataset": {"name": bench, "type": bench, "config": "default", "split": "test"},
                        "metrics": [{"type": "f1", "value": leagues.score(own, league), "name": "F1",
                                     "verified": False}]})
    return [{"name": p.store.repo_name(p.rows[k]), "results": results}]


def config(p, k):
    lib = _library(p, k)
    if lib not in ("transformers", "peft", "mlx", "sentence-transformers", "onnx", "gguf"):
        return MISSING
    c = p.c
    key = ("config", c["pipeline"][k], c["arch"][k], lib)

    def make():
        mt = _model_type(p, k)
        auto = _PIPE_AUTO.get(_pipeline(p, k)) or "AutoModel"
        cls = "".join(w.capitalize() for w in mt.replace("-", "_").split("_")) + auto.replace("AutoModel", "") or "Model"
        cfg = {"architectures": [cls], "model_type": mt}
        if _pipeline(p, k) in vocab.CHAT_PIPELINES:
            cfg["tokenizer_config"] = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
                                       "chat_template": CHAT_TEMPLATE}
        return cfg

    return _cached(p, key, make)


def transformers_info(p, k):
    auto = _PIPE_AUTO.get(_pipeline(p, k))
    if _library(p, k) != "transformers" or not auto:
        return MISSING
    return _cached(p, ("tinfo", p.c["pipeline"][k]), lambda: {
        "auto_model": auto, "pipeline_tag": _pipeline(p, k), "processor": "AutoTokenizer"})


def safetensors(p, k):
    params = p.c["params"][k]
    if not (p.c["fmt"][k] & vocab.FMT["safetensors"]) or not params or _library(p, k) in ("peft", "diffusers"):
        return MISSING
    return {"parameters": {"BF16": params}, "total": params}


def context_length(p, k):
    return (4096, 8192, 32768, 131072)[p.rows[k] % 4]


def gguf(p, k):
    if not p.c["fmt"][k] & vocab.FMT["gguf"]:
        return MISSING
    out = {"total": p.c["params"][k], "architecture": _model_type(p, k), "context_length": context_length(p, k)}
    if _pipeline(p, k) in vocab.CHAT_PIPELINES:
        out.update(chat_template=CHAT_TEMPLATE, bos_token="<|im_start|>", eos_token="<|im_end|>")
    return out


def _provider_entries(p, k):
    bits = p.c["providers"][k]
    if not bits:
        return []
    row = p.rows[k]
    mid = p.ids[k]
    task = "text-to-image" if _pipeline(p, k) == "text-to-image" else "conversational"
    out = []
    for i, (name, _pin, _pout) in enumerate(vocab.PROVIDERS):
        if bits & (1 << i):
            status = "staging" if (row + i) % 7 == 0 else "live"
            out.append((name, {"status": status, "providerId": mid.lower() if i % 2 else mid, "task": task}))
    return out


def inference_provider_mapping(p, k):
    entries = _provider_entries(p, k)
    if p.listing:
        return [{"provider": name, **v} for name, v in entries]
    return {name: {**v, "isModelAuthor": False} for name, v in entries}


def inference(p, k):
    return "warm" if any(v["status"] == "live" for _n, v in _provider_entries(p, k)) else MISSING


def base_models(p, k):
    parent = p.c["parent"][k]
    if parent < 0:
        return MISSING
    return {"relation": vocab.RELATIONS[p.c["relation"][k]],
            "models": [{"_id": p.store.oid(parent), "id": p.parent_id(k)}]}


def children_model_count(p, k):
    if p.children is None:
        p.children = p.store.children_counts()
    row = p.children[p.rows[k]]
    return {"adapter": int(row[2]), "merge": int(row[4]), "quantized": int(row[3]), "finetune": int(row[1])}


# Bytes per parameter of each weight format, as files.py sizes the files (safetensors and .bin in BF16, ONNX
# F32 plus a quantised copy, TF F32, GGUF's Q4_K_M + Q5_K_M + Q8_0).
_FORMAT_BYTES = {"safetensors": 2.0, "pytorch": 2.0, "onnx": 5.0, "openvino": 2.0, "tf": 4.0,
                 "gguf": (4.85 + 5.7 + 8.5) / 8}
USED_STORAGE_ALLOWANCE = 1 << 20  # headers and text files


def used_storage(p, k):
    """The weight files' bytes (as files.py makes them, from the parameter count) plus 1 MiB."""
    params, fmt, lib = p.c["params"][k], p.c["fmt"][k], _library(p, k)
    if lib in ("diffusers",):
        per = 2.0
    elif lib == "peft":
        per = 2.0 / 200
    else:
        per = sum(b for name, b in _FORMAT_BYTES.items() if fmt & vocab.FMT[name])
        if fmt & vocab.FMT["mlx"] and not fmt & vocab.FMT["safetensors"]:
            per += 2.0
    return int(params * per) + USED_STORAGE_ALLOWANCE


def widget_data(p, k):
    pipe = _pipeline(p, k)
    if pipe in vocab.CHAT_PIPELINES:
        return [{"text": "Hi, what can you help me with?"}, {"text": "What is 84 * 3 / 2?"}]
    if pipe == "fill-mask":
        return [{"text": "Paris is the [MASK] of France."}]
    return MISSING


FIELD_RENDERERS = {
    "_id": lambda p, k: p.oids[k],
    "id": lambda p, k: p.ids[k],
    "modelId": lambda p, k: p.ids[k],
    "author": lambda p, k: p.ids[k].split("/")[0],
    "private": lambda p, k: False,
    "pipeline_tag": lambda p, k: _pipeline(p, k) or MISSING,
    "library_name": lambda p, k: _library(p, k) or MISSING,
    "tags": lambda p, k: tags_batch(p)[k],  # a single row's (a page renders "tags" with tags_batch)
    "downloads": lambda p, k: p.c["downloads"][k],
    "downloadsAllTime": lambda p, k: p.c["downloads_all"][k],
    "likes": lambda p, k: p.c["likes"][k],
    "trendingScore": lambda p, k: p.c["trending"][k],
    "sha": sha,
    "lastModified": lambda p, k: iso(p.c["modified"][k]),
    "createdAt": lambda p, k: iso(p.c["created"][k]),
    "gated": lambda p, k: (False, "auto", "manual")[p.c["gated"][k]],
    "disabled": lambda p, k: bool(p.c["disabled"][k]),
    "mask_token": lambda p, k: "[MASK]" if _pipeline(p, k) == "fill-mask" else MISSING,
    "widgetData": widget_data,
    "model-index": model_index,
    "config": config,
    "cardData": card_data,
    "transformersInfo": transformers_info,
    "siblings": siblings,
    "spaces": spaces,
    "safetensors": safetensors,
    "gguf": gguf,
    "inference": inference,
    "inferenceProviderMapping": inference_provider_mapping,
    "usedStorage": used_storage,
    "baseModels": base_models,
    "childrenModelCount": children_model_count,
    "evalResults": lambda p, k: p.store.evals.get(p.rows[k], []),
    "resourceGroup": lambda p, k: MISSING,
}


# -- fields a real default body lacks, computed for body-backed rows -----------------------------
def _body_provider_mapping(p, k, body):
    recorded = p.store.provider_maps.get(p.rows[k])
    if recorded is None:
        return inference_provider_mapping(p, k)
    if p.listing:  # the list form carries the provider inside each entry, as 2.4.0 requires
        return [{"provider": name, **{key: v[key] for key in ("providerId", "status", "task") if key in v}}
                for name, v in recorded.items()]
    return recorded


def _body_base_models(p, k, body):
    if p.c["parent"][k] >= 0:
        return base_models(p, k)
    for tag in body.get("tags") or ():
        parts = tag.split(":")
        if len(parts) == 3 and parts[0] == "base_model":
            base = parts[2]
            pseudo = hashlib.sha1(base.encode()).hexdigest()[:24]  # the base is not in this catalogue
            return {"relation": parts[1], "models": [{"_id": pseudo, "id": base}]}
    return MISSING


BODY_DERIVED = {
    "inferenceProviderMapping": _body_provider_mapping,
    "baseModels": _body_base_models,
    "inference": lambda p, k, body: "warm" if any(
        v.get("status") == "live" for v in (p.store.provider_maps.get(p.rows[k]) or {}).values()) else MISSING,
    "gguf": lambda p, k, body: MISSING,
    "safetensors": lambda p, k, body: MISSING,
    "config": lambda p, k, body: MISSING,
    "transformersInfo": lambda p, k, body: MISSING,
    "mask_token": lambda p, k, body: MISSING,
    "widgetData": lambda p, k, body: MISSING,
    "cardData": lambda p, k, body: MISSING,
    "model-index": lambda p, k, body: None,
    "siblings": lambda p, k, body: [],
    "spaces": lambda p, k, body: [],
    "evalResults": lambda p, k, body: p.store.evals.get(p.rows[k], []),
}


def _plain(name):
    return lambda p: list(p.c[name])


def _children_batch(p) -> list:
    counts = p.store.children_counts()[p.rows].tolist()
    return [{"adapter": a, "merge": m, "quantized": q, "finetune": f} for _n, f, a, q, m in counts]


def _iso_batch(name):
    def render(p):
        stamps = np.datetime_as_string(np.array(p.c[name], dtype="datetime64[s]"))
        return [f"{t}.000Z" for t in stamps.tolist()]
    return render


BATCH_RENDERERS = {
    "childrenModelCount": _children_batch,
    "_id": lambda p: list(p.oids),
    "id": lambda p: list(p.ids),
    "modelId": lambda p: list(p.ids),
    "author": lambda p: [i.split("/")[0] for i in p.ids],
    "private": lambda p: [False] * len(p.rows),
    "downloads": _plain("downloads"),
    "downloadsAllTime": _plain("downloads_all"),
    "likes": _plain("likes"),
    "trendingScore": _plain("trending"),
    "lastModified": _iso_batch("modified"),
    "createdAt": _iso_batch("created"),
    "gated": lambda p: [(False, "auto", "manual")[g] for g in p.c["gated"]],
    "disabled": lambda p: [bool(d) for d in p.c["disabled"]],
    "tags": tags_batch,
    "pipeline_tag": lambda p: [p.store.pipelines.values[x] or MISSING for x in p.c["pipeline"]],
    "library_name": lambda p: [p.store.libraries.values[x] or MISSING for x in p.c["library"]],
}


def render_items(store: Store, rows: list[int], fields: list[str], listing: bool,
                 version: int | None = None) -> list[dict]:
    """Items with the given fields in that order; a field a row lacks is left out, as on the Hub."""
    page = Page(store, rows, listing, version)
    columns = [page.column(f) for f in fields]
    return [{f: v for f, v in zip(fields, values) if v is not MISSING} for values in zip(*columns)]

"""Real models the replica knows from a leaderboard corpus (`corpus.py`) or from a real card alone.

Each becomes a body-backed row (as the recorded models are) whose body is built once, here: every figure a
source gives is taken from it (parameters, licence, likes, base model, upload date, revision, embedding
dimension, max tokens, languages, image size); every other field the API must carry is synthesised by
`synthesis.py`, and the whole body is made consistent (weight files and `usedStorage` from the parameter
count and dtype, `safetensors` adding up, all-time downloads at least the 30-day figure). The table
"field -> source or rule" is in docs/REPLICA.md; `provenance(row)` answers it per model.
"""

from __future__ import annotations

import re

from . import synthesis as syn
from .render import iso, parse_iso

# Licence ids the Hub knows (docs/hub/repositories-licenses.md); anything else a source gives becomes
# `license: other` with the source's string as `license_name` (or `license_link` when it is a URL).
HUB_LICENCES = {
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cdla-sharing-1.0",
    "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1",
    "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "h-research",
    "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0", "odc-by", "odbl", "openmdw-1.0",
    "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr", "deepfloyd-if-license",
    "fair-noncommercial-research-license", "llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma",
    "unknown", "other"}
NO_LICENCE = {"unknown", "not specified", "none", ""}
# Licences whose licensors gate their canonical releases on the Hub (Llama: manual review; Gemma: terms
# accepted automatically): applied to an official provider's model that declares no base model.
GATED_BY_LICENCE = {"llama2": "manual", "llama3": "manual", "llama3.1": "manual", "llama3.2": "manual",
                    "llama3.3": "manual", "llama4": "manual", "gemma": "auto"}
LIBRARY_OF_TASK = {"text-generation": "transformers", "image-classification": "timm",
                   "zero-shot-image-classification": "open_clip", "automatic-speech-recognition": "transformers",
                   "sentence-similarity": "sentence-transformers", "text-to-image": "diffusers",
                   "image-to-image": "diffusers", "text-to-video": "diffusers"}
DTYPE_OF_PRECISION = {"bfloat16": "BF16", "float16": "F16", "float32": "F32"}
SHARD_BYTES = 5_000_000_000  # transformers' default max_shard_size
HEADER_ALLOWANCE = 1 << 20   # usedStorage's allowance for safetensors headers and the text files
_CHAT_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
                  "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                  "{% endif %}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def licence_fields(raw) -> dict:
    """cardData licence keys for a licence string a source gives."""
    if not isinstance(raw, str) or raw.strip().lower() in NO_LICENCE:
        return {}
    value = raw.strip()
    if value.lower() in HUB_LICENCES:
        return {"license": value.lower()}
    if "://" in value:
        return {"license": "other", "license_name": "custom", "license_link": value}
    return {"license": "other", "license_name": value, "license_link": "LICENSE"}


def _epoch(date: str | None) -> int | None:
    if not isinstance(date, str) or not _DATE.match(date):
        return None
    return parse_iso(date[:10] + "T00:00:00")


def _model_type(architecture: str | None) -> str | None:
    """`MistralForCausalLM` -> `mistral` (transformers' class naming)."""
    if not architecture or "For" not in architecture:
        return None
    return architecture.split("For", 1)[0].lower() or None


class Known:
    """What is known of one real model, each fact with its source; the rest is synthesised on build."""

    def __init__(self, model_id: str, task: str | None):
        self.model_id = model_id
        self.task = task
        self.facts: dict[str, tuple] = {}  # name -> (value, source)

    def get(self, name, default=None):
        return self.facts[name][0] if name in self.facts else default

    def set(self, name, value, source):
        if value is not None and name not in self.facts:
            self.facts[name] = (value, source)


def known_from_corpus(corpus, model_id: str) -> Known:
    entry = corpus.models[model_id]
    k = Known(model_id, (entry.get("task") or [None])[0])
    for name, (value, source) in corpus.facts(model_id).items():
        k.set(name, value, source)
    results = corpus.results.get(model_id, [])
    k.latest_result = max((r.get("date") or "" for r in results), default="")
    return k


def build_body(k: Known, now: int, official: bool, card_text: str = "", extra_tags=()) -> tuple[dict, dict, dict]:
    """A default-shaped body (HUB-API 2.1 field order), the text files that carry facts libraries read, and
    the provenance {field: source or "synthesised: rule"}."""
    mid, task = k.model_id, k.task
    prov: dict[str, str] = {}

    def src(field, fact):
        prov[field] = k.facts[fact][1]

    # -- size and weights
    params = k.get("n_parameters")
    if isinstance(params, (int, float)) and params > 0:
        params = int(params)
        src("safetensors", "n_parameters")
    else:
        params, how = syn.params_from_text(mid, card_text, task)
        prov["safetensors"] = f"synthesised: parameter count from the {how}"
    dtype = DTYPE_OF_PRECISION.get(k.get("eval_precision") or "")
    if dtype:
        prov["dtype"] = k.facts["eval_precision"][1]
    elif k.get("memory_usage_mb") and k.get("n_parameters"):
        per = k.get("memory_usage_mb") * 2**20 / k.get("n_parameters")
        dtype = "F32" if per > 3 else "F16"
        prov["dtype"] = k.facts["memory_usage_mb"][1] + " (memory_usage_mb / n_parameters)"
    else:
        dtype = "BF16" if task == "text-generation" else ("F16" if params >= 1e9 else "F32")
        prov["dtype"] = "synthesised: BF16 for text generation, F16 from 1B parameters, else F32"
    # -- library, architecture, files
    library = k.get("library_name") or LIBRARY_OF_TASK.get(task or "", "transformers")
    framework = k.get("framework")
    if task == "sentence-similarity" and isinstance(framework, list) and "Sentence Transformers" not in framework:
        library = "transformers"
    if "library_name" in k.facts:
        src("library_name", "library_name")
    else:
        prov["library_name"] = "synthesised: the library of the task family (MTEB: its framework field)"
    if library == "diffusers":
        dtype = "F16"  # diffusers components are saved in half precision (files.py)
    weight_bytes = params * syn.DTYPE_BYTES[dtype]
    files: dict[str, object] = {}
    # A repo created before the Hub stored dates keeps its pytorch_model.bin (no safetensors: the Hub
    # computes `safetensors` from .safetensors files only).
    legacy = k.get("era") == "2020"
    shards = max(1, -(-weight_bytes // SHARD_BYTES))
    weight_name = "open_clip_model.safetensors" if library == "open_clip" else "model.safetensors"
    if legacy:
        weights = ["pytorch_model.bin"]
    elif library == "diffusers":
        weights = ["model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
                   "text_encoder/model.safetensors", "tokenizer/tokenizer_config.json",
                   "transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"]
    else:
        weights = ([weight_name] if shards == 1 else
                   [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
                   + ["model.safetensors.index.json"])
    siblings = [".gitattributes", "README.md"] + weights
    model_type = _model_type(k.get("architecture"))
    config = None
    chat = bool(k.get("chat_template"))
    embed_dim, max_tokens = k.get("embed_dim"), k.get("max_tokens")
    if library == "transformers" and task == "text-generation":
        config = {"architectures": [k.get("architecture")]} if k.get("architecture") else {}
        if model_type:
            config["model_type"] = model_type
        config["tokenizer_config"] = {"bos_token": "<s>", "eos_token": "</s>"}
        if chat:
            config["tokenizer_config"] = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
                                          "chat_template": _CHAT_TEMPLATE}
        siblings += ["config.json", "generation_config.json", "special_tokens_map.json", "tokenizer.json",
                     "tokenizer_config.json"]
    elif library in ("sentence-transformers", "transformers") and task == "sentence-similarity":
        cfg = {}
        if model_type:
            cfg["model_type"] = model_type
        if isinstance(embed_dim, int):
            cfg["hidden_size"] = embed_dim
        if isinstance(max_tokens, int):
            cfg["max_position_embeddings"] = max_tokens
        files["config.json"] = cfg
        siblings += ["config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
        if library == "sentence-transformers":
            siblings += ["1_Pooling/config.json", "config_sentence_transformers.json", "modules.json",
                         "sentence_bert_config.json"]
            files["sentence_bert_config.json"] = {"max_seq_length": max_tokens if isinstance(max_tokens, int) else 512,
                                                  "do_lower_case": False}
            if isinstance(embed_dim, int):
                files["1_Pooling/config.json"] = {"word_embedding_dimension": embed_dim,
                                                  "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}
            sim = k.get("similarity_fn")
            files["config_sentence_transformers.json"] = {"similarity_fn_name": sim if isinstance(sim, str) else "cosine"}
    elif library == "timm":
        size = max(k.get("results_img_sizes") or [224])
        files["config.json"] = {"architecture": k.get("architecture") or mid.split("/")[-1].split(".")[0],
                                "num_classes": 1000, "pretrained_cfg": {"tag": k.get("pretrained_tag"),
                                                                        "input_size": [3, size, size]}}
        siblings += ["config.json"]
    elif library == "open_clip":
        cfg = {"model_cfg": {}, "preprocess_cfg": {}}
        if isinstance(embed_dim, int):
            cfg["model_cfg"]["embed_dim"] = embed_dim
        if isinstance(k.get("image_size"), int):
            cfg["model_cfg"]["vision_cfg"] = {"image_size": k.get("image_size")}
            cfg["preprocess_cfg"]["image_size"] = k.get("image_size")
        files["open_clip_config.json"] = cfg
        siblings += ["open_clip_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    elif library == "diffusers":
        pass
    elif task == "automatic-speech-recognition":
        siblings += ["config.json", "preprocessor_config.json", "special_tokens_map.json", "tokenizer_config.json"]
    else:  # anything else: a transformers repo
        siblings += ["config.json", "special_tokens_map.json", "tokenizer_config.json"]

    # -- licence, gating, base model
    card = {}
    if "license" in k.facts:
        card.update(licence_fields(k.get("license")))
        if card:
            prov["license"] = k.facts["license"][1]
        if card.get("license") == "other" and k.get("license_name"):
            card["license_name"] = k.get("license_name")
    if "license" not in prov:
        prov["license"] = "unknown: no source gives one (absent, as on the Hub when a card has none)"
    base = k.get("base_model")
    relation = None
    if isinstance(base, str) and base != mid and base.count("/") == 1:
        relation = ("merge" if k.get("merged") else "adapter" if k.get("weight_type") == "Adapter" else
                    "finetune")
        prov["base_model"] = k.facts["base_model"][1]
    else:
        base = None
    lic = card.get("license")
    gated = GATED_BY_LICENCE.get(lic, False) if base is None and official else False
    if k.get("gated"):
        gated = k.get("gated")
        prov["gated"] = k.facts["gated"][1]
    elif gated:
        prov["gated"] = ("synthesised: official providers gate their own Llama- and Gemma-licensed releases "
                         "(Llama manual, Gemma auto)")
    if lic in ("other",) or gated:
        siblings.append("LICENSE")

    # -- dates, popularity
    created_src = next((f for f in ("hub_upload_date", "release_date") if _epoch(k.get(f))), None)
    if legacy:
        created = syn.CREATED_PLACEHOLDER
        src("createdAt", "era")
    elif created_src:
        created = max(_epoch(k.get(created_src)) + int(syn.unit(mid, "time of day") * 86400),
                      syn.CREATED_PLACEHOLDER)
        src("createdAt", created_src)
    else:
        lo = _epoch(k.get("created_after")) or syn.CREATED_PLACEHOLDER
        hi = _epoch(getattr(k, "latest_result", "")) or _epoch(k.get("created_before")) or now
        created = syn.created(mid, lo, max(hi, lo + 86400))
        prov["createdAt"] = ("synthesised: uniform between 2022-03-02 (or the card's era) and the model's latest "
                             "result date (or the end of the era)")
    modified = syn.modified(mid, created, now)
    prov["lastModified"] = "synthesised: within a year after createdAt"
    like_count = k.get("likes")
    if isinstance(like_count, int):
        src("likes", "likes")
    else:
        like_count = syn.likes(mid, task, official)
        prov["likes"] = "synthesised: lognormal around the task's median, x5 for an official provider"
    downloads = syn.downloads(mid, task, like_count)
    prov["downloads"] = "synthesised: likes x the task's downloads per like (calibrated on recorded bodies)"
    revision = k.get("revision")
    if isinstance(revision, str) and re.fullmatch(r"[0-9a-f]{40}", revision):
        sha = revision
        src("sha", "revision")
    else:
        sha = syn.sha(mid)
        prov["sha"] = "synthesised: sha1 of the id"

    # -- tags, card data
    langs = k.get("languages") if isinstance(k.get("languages"), list) else []
    langs = [lang.split("-")[0] for lang in langs if isinstance(lang, str)]
    langs = list(dict.fromkeys(lang for lang in langs if re.fullmatch(r"[a-z]{2,3}", lang)))
    if langs:
        src("language", "languages")
    fmt = "pytorch" if legacy else "safetensors"
    tags = [library, fmt] + ([model_type] if model_type else []) + ([task] if task else [])
    if chat:
        tags.append("conversational")
    tags += langs + list(extra_tags)
    if base:
        tags += [f"base_model:{base}", f"base_model:{relation}:{base}"]
    if lic:
        tags.append(f"license:{lic}")
    if library in ("transformers", "sentence-transformers"):
        tags.append("endpoints_compatible")
    tags.append("region:us")
    if langs:
        card["language"] = langs if len(langs) > 1 else langs[0]
    if base:
        card["base_model"] = base
    card["library_name"] = library
    if task:
        card["pipeline_tag"] = task
    if gated:
        card["extra_gated_prompt"] = f"You agree to the {card.get('license_name') or lic} licence to access this model."

    body = {"_id": syn.object_id(mid, created), "id": mid, "private": False}
    if task:
        body["pipeline_tag"] = task
    body.update({"library_name": library, "tags": list(dict.fromkeys(tags)), "downloads": downloads,
                 "likes": like_count, "modelId": mid, "author": mid.split("/")[0], "sha": sha,
                 "lastModified": iso(modified), "gated": gated, "disabled": False})
    if task == "text-generation":
        body["widgetData"] = [{"text": "Hi, what can you help me with?"}]
    body["model-index"] = None
    if config is not None:
        body["config"] = config
    body["cardData"] = card
    if library == "transformers" and task == "text-generation":
        body["transformersInfo"] = {"auto_model": "AutoModelForCausalLM", "pipeline_tag": task,
                                    "processor": "AutoTokenizer"}
    body["siblings"] = [{"rfilename": f} for f in sorted(siblings)]
    body["spaces"] = []
    body["createdAt"] = iso(created)
    if not legacy:
        body["safetensors"] = {"parameters": {dtype: params}, "total": params}
    body["usedStorage"] = weight_bytes + HEADER_ALLOWANCE
    prov["usedStorage"] = "synthesised: parameters x dtype bytes + 1 MiB (headers, text files)"
    all_time = syn.downloads_all_time(mid, downloads, created, now)
    trend = syn.trending(mid, like_count, created, now)
    body["downloadsAllTime"] = all_time
    body["trendingScore"] = trend
    prov["downloadsAllTime"] = "synthesised: 30-day downloads x months alive x 0.6-1.0"
    prov["trendingScore"] = "synthesised: likes x exp(-age/30 days) x 0.5-1.0"
    for f in ("embed_dim", "max_tokens", "image_size"):
        if f in k.facts:
            src(f, f)
    k.weights = (params, dtype)
    return body, files, prov


def known_from_card(model_id: str, front: dict, hints: dict, card_entry: dict | None, corpus=None) -> Known:
    """What is known of a real model seen only in a card or an expand recording (and perhaps a corpus)."""
    task = hints.get("pipeline_tag") or front.get("pipeline_tag")
    if corpus is not None and model_id in corpus.models:
        k = known_from_corpus(corpus, model_id)
        k.task = k.task or task
    else:
        k = Known(model_id, task)
    card_src = f"real card ({card_entry['source_repo']}:{card_entry['path']})" if card_entry else None
    hint_src = "recorded expand response / CARD_ONLY_HINTS (recorded.py)"
    if task:
        k.set("pipeline_tag", task, hint_src if hints.get("pipeline_tag") else card_src)
    if hints.get("gated"):
        k.set("gated", hints["gated"], hint_src)
    if hints.get("_id"):  # an ObjectId starts with its creation time: the recorded _id dates the repo
        ts = int(hints["_id"][:8], 16)
        if ts > syn.CREATED_PLACEHOLDER:
            k.set("hub_upload_date", iso(ts)[:10], "recorded _id (its ObjectId timestamp)")
    for name in ("license", "license_name", "library_name"):
        if hints.get(name):
            k.set(name, hints[name], hint_src)
        elif front.get(name) and card_src:
            k.set(name, front[name], card_src)
    if front.get("language") and card_src:
        langs = front["language"] if isinstance(front["language"], list) else [front["language"]]
        k.set("languages", [str(x) for x in langs], card_src)
    base = front.get("base_model")
    if isinstance(base, str) and card_src:
        k.set("base_model", base, card_src)
    if card_entry:
        k.set("era", card_entry.get("era"), "model-cards index.json (era)")
        if card_entry.get("era") != "2020":
            k.set("created_after", "2024-06-01", "synthesised")
            k.set("created_before", "2025-09-01", "synthesised")
    return k

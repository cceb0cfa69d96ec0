"""The files of a replica repo: every sibling, its size, blob id and LFS pointer, and its bytes.

A repo's files are a pure function of the model and its version, computed when asked (nothing per
model is stored):

- small text files (`.gitattributes`, `config.json`, tokenizer files, index files, licence, ...) get
  plausible content that agrees with the model's metadata (`config.json` holds the `config` the API
  shows; `tokenizer_config.json` its `tokenizer_config`);
- large files are LFS files, by the patterns of the Hub's default `.gitattributes`: deterministic
  bytes of a plausible size, generated while sending from one shared 1 MiB noise buffer (a 140 GB
  model costs no memory); their git blob is the LFS pointer, as in git;
- `.safetensors` files are valid safetensors files: an 8-byte length, a JSON header of tensors, then
  the data. The tensors of the model's weight files add up, dtype by dtype, to the model's
  `safetensors.parameters`, so `get_safetensors_metadata` agrees with `model_info().safetensors`;
  shards (`model-0000k-of-0000n.safetensors`) split the tensors and `model.safetensors.index.json`
  maps them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import render, wire
from .store import Store

# The Hub's default .gitattributes for a new model repo (every file matching these is stored in LFS).
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in (
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*", "*.mlmodel",
    "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt",
    "*.pth", "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm",
    "*.xz", "*.zip", "*.zst", "*tfevents*", "*.gguf"))
_LFS_PATTERNS = [line.split()[0] for line in GITATTRIBUTES.splitlines()]

DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
               "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}
TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}
SHARD = re.compile(r"model-(\d{5})-of-(\d{5})\.safetensors")
_NOISE = np.random.default_rng(20261101).bytes(1 << 20)  # every LFS byte comes from here
CHUNK = 1 << 20


def is_lfs(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    for pat in _LFS_PATTERNS:
        if pat.startswith("saved_model/"):
            if path.startswith("saved_model/"):
                return True
        elif fnmatch.fnmatchcase(name, pat):
            return True
    return False


def _hash(*parts) -> int:
    return int(hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


# -- safetensors ---------------------------------------------------------------------------------
def _dims(params: int) -> tuple[int, int, int]:
    """hidden size, intermediate size, vocabulary of a decoder of about `params` parameters."""
    for hidden, below in ((256, 2e7), (512, 8e7), (768, 3e8), (1024, 1e9), (2048, 4e9), (4096, 1.5e10),
                          (5120, 4e10), (8192, float("inf"))):
        if params < below:
            break
    return hidden, hidden * 4 if hidden <= 1024 else (hidden * 8 // 3 + 255) // 256 * 256, 32000


def decoder_tensors(count: int, dtype: str) -> tuple[list[tuple[str, str, list[int]]], dict]:
    """Tensors of a decoder whose parameters add up to exactly `count`, and its shape (for config.json)."""
    h, f, v = _dims(count)
    v = min(v, count // (4 * h))
    out, left = [], count
    if v:
        out.append(("model.embed_tokens.weight", dtype, [v, h]))
        left -= v * h
    per_layer = 4 * h * h + 3 * f * h + 2 * h
    layers = max(left - h, 0) // per_layer
    for i in range(layers):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", dtype, [h]),
                (p + "mlp.down_proj.weight", dtype, [h, f]), (p + "mlp.gate_proj.weight", dtype, [f, h]),
                (p + "mlp.up_proj.weight", dtype, [f, h]), (p + "post_attention_layernorm.weight", dtype, [h])]
        out += [(p + f"self_attn.{x}_proj.weight", dtype, [h, h]) for x in "kovq"]
    left -= layers * per_layer
    if left >= h:
        out.append(("model.norm.weight", dtype, [h]))
        left -= h
    if left >= h:
        out.append(("lm_head.weight", dtype, [left // h, h]))
        left %= h
    if left:
        out.append(("lm_head.bias", dtype, [left]))
    return out, {"hidden_size": h, "intermediate_size": f, "num_hidden_layers": layers, "vocab_size": v or 32000}


def model_tensors(parameters: dict[str, int]) -> tuple[list, dict]:
    """Tensors for a model's `safetensors.parameters` ({dtype: count}): a decoder in the main dtype, and
    one buffer per other dtype (as position ids are I64 in BERT-like models)."""
    if not parameters:
        return [], {}
    main = max(parameters, key=parameters.get)
    tensors, dims = decoder_tensors(int(parameters[main]), main)
    for dtype, count in sorted(parameters.items()):
        if dtype != main and count:
            tensors.append((f"buffers.{dtype.lower()}", dtype, [int(count)]))
    dims["torch_dtype"] = TORCH_DTYPE.get(main, "float32")
    return tensors, dims


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def safetensors_header(tensors: list) -> tuple[bytes, int]:
    """The 8-byte length and JSON header of a file holding `tensors` (padded to 8 bytes, as the
    safetensors library writes it), and the size of its data."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dtype, shape in tensors:
        end = offset + _numel(shape) * DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, end]}
        offset = end
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, offset


def split_shards(tensors: list, count: int) -> list[list]:
    """Tensors in order, cut into `count` shards of about equal bytes (a tensor is never split)."""
    sizes = [_numel(s) * DTYPE_BYTES[d] for _n, d, s in tensors]
    total = sum(sizes) or 1
    shards, before = [[] for _ in range(count)], 0
    for t, size in zip(tensors, sizes):
        shards[min(count - 1, before * count // total)].append(t)
        before += size
    return shards


# -- blobs ---------------------------------------------------------------------------------------
@dataclass
class File:
    path: str
    size: int
    blob_id: str               # git blob sha1 (of the LFS pointer, for an LFS file)
    sha256: str | None = None  # LFS files: the LFS oid (X-Linked-Etag)
    pointer_size: int = 0
    prefix: bytes = b""        # LFS files: the bytes before the noise (a safetensors header, GGUF magic)
    text: bytes | None = None  # regular files: the content

    @property
    def lfs(self) -> bool:
        return self.sha256 is not None

    def chunks(self, start: int, stop: int) -> Iterator[bytes]:
        """Bytes [start, stop) of the file, in chunks of at most 1 MiB."""
        if self.text is not None:
            yield self.text[start:stop]
            return
        if start < len(self.prefix):
            yield self.prefix[start:min(stop, len(self.prefix))]
            start = len(self.prefix)
        shift = int(self.sha256[:8], 16)
        noise, n = memoryview(_NOISE), len(_NOISE)
        while start < stop:
            at = (start + shift) % n
            take = min(stop - start, n - at, CHUNK)
            yield noise[at:at + take]
            start += take

    def tree_entry(self) -> dict:
        entry = {"type": "file", "oid": self.blob_id, "size": self.size}
        if self.lfs:
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": self.pointer_size}
        entry["path"] = self.path
        return entry


class Repo:
    """The files of one model at one version."""

    def __init__(self, store: Store, row: int, version: int | None, card):
        self.store, self.row, self.version, self.card = store, row, version, card
        self.page = render.Page(store, [row], listing=False, version=version)
        self.body = store.bodies.get(row)
        self.model_id = store.written_id(row)
        self.oid = store.oid(row)
        self._made: dict[str, File] = {}

    def value(self, field):
        v = self.page.value(field, 0)
        return None if v is render.MISSING else v

    @cached_property
    def paths(self) -> list[str]:
        return sorted(s["rfilename"] for s in (self.value("siblings") or []))

    @cached_property
    def params(self) -> dict:
        st = self.value("safetensors")
        if not st and self.body is not None:
            st = self.body.get("safetensors")
        return dict((st or {}).get("parameters") or {})

    @cached_property
    def param_count(self) -> int:
        known = self.store.weights_of.get(self.row)
        if known:  # a real model's (parameters, dtype), from its source or the synthesis model
            return int(known[0])
        if self.params:
            return int(sum(self.params.values()))
        if self.body is None and int(self.page.c["params"][0]):
            return int(self.page.c["params"][0])
        return 20_000_000 + _hash(self.oid, "params") % 400_000_000

    @cached_property
    def weights(self) -> tuple[list[str], list[list], dict]:
        """The model's own safetensors files (one, or the shards), their tensors, and its shape."""
        shards = [p for p in self.paths if SHARD.fullmatch(p)]
        names = shards or [p for p in self.paths if p in ("model.safetensors", "open_clip_model.safetensors")]
        params = self.params or {"BF16": self.param_count}
        tensors, dims = model_tensors(params)
        return names, split_shards(tensors, len(names)) if names else [], dims

    @cached_property
    def files(self) -> dict[str, File]:
        return {p: self.get(p) for p in self.paths}

    def get(self, path: str) -> File | None:
        """One file (only that one is made: a download does not render the whole repo)."""
        if path not in self.paths:
            return None
        f = self._made.get(path)
        if f is None:
            f = self._made[path] = self._file(path)
        return f

    # -- one file ----------------------------------------------------------------------------
    def _file(self, path: str) -> File:
        if not is_lfs(path):
            text = self.text(path)
            return File(path, len(text), wire.git_blob_sha(text), text=text)
        prefix, size = self._lfs_bytes(path)
        sha256 = hashlib.sha256(f"{self.oid}:{path}:{size}".encode()).hexdigest()
        pointer = lfs_pointer(sha256, size)
        return File(path, size, wire.git_blob_sha(pointer), sha256, len(pointer), prefix)

    def _lfs_bytes(self, path: str) -> tuple[bytes, int]:
        name = path.rsplit("/", 1)[-1]
        if path.endswith(".safetensors"):
            names, shards, _dims = self.weights
            if path in names:
                tensors = shards[names.index(path)]
            else:  # another component's weights (an adapter, a diffusers sub-model, ...)
                count = self.param_count // (200 if "adapter" in name else 3) or 1_000_000
                tensors = decoder_tensors(count, "F16")[0] if "adapter" not in name else [
                    (f"base_model.model.layers.{i}.lora_A.weight", "F16", [16, count // 32 // 16 or 1])
                    for i in range(32)]
            header, data = safetensors_header(tensors)
            return header, len(header) + data
        p = self.param_count
        if path.endswith(".gguf"):
            bits = next((b for q, b in (("Q4_K_M", 4.85), ("Q5_K_M", 5.7), ("Q8_0", 8.5), ("F16", 16))
                         if q in name), 6.0)
            magic = b"GGUF" + struct.pack("<IQQ", 3, 0, 0)
            return magic, int(p * bits / 8) + 4096
        known = self.store.weights_of.get(self.row)
        if known and name == "pytorch_model.bin":  # a real model's weights, in its dtype
            return b"", p * DTYPE_BYTES[known[1]] + 1024 + _hash(self.oid, path) % 4096
        factor = {".bin": 2, ".h5": 4, ".msgpack": 4, ".onnx": 4 if "quantized" not in name else 1, ".pt": 2,
                  ".pth": 2, ".ckpt": 4}.get("." + name.rsplit(".", 1)[-1])
        if factor and "training_args" not in name and "optimizer" not in name:
            return b"", p * factor + 1024 + _hash(self.oid, path) % 4096
        return b"", 200_000 + _hash(self.oid, path) % 20_000_000

    # -- text ----------------------------------------------------------------------------------
    def config(self) -> dict:
        cfg = dict(self.value("config") or {})
        cfg.pop("tokenizer_config", None)  # on the Hub, that part of `config` comes from tokenizer_config.json
        if not cfg:
            cfg = {"model_type": render._model_type(self.page, 0) or "custom"}
        cfg.update(self.weights[2])
        cfg.setdefault("transformers_version", "4.46.0")
        return cfg

    def tokenizer_config(self) -> dict:
        tok = dict((self.value("config") or {}).get("tokenizer_config") or {})
        tok.setdefault("bos_token", "<s>")
        tok.setdefault("eos_token", "</s>")
        tok.setdefault("unk_token", "<unk>")
        tok.update(clean_up_tokenization_spaces=False, tokenizer_class="PreTrainedTokenizerFast")
        if self.row not in self.store.bodies:
            # A synthetic model's context is drawn like its other figures; no source gives a real model's,
            # so the replica serves none rather than a number a reader would take for the model's own.
            tok.setdefault("model_max_length", render.context_length(self.page, 0))
        return tok

    def text(self, path: str) -> bytes:
        name = path.rsplit("/", 1)[-1]
        if path == "README.md":
            return self.card(self.row, self.version)
        if path == ".gitattributes":
            return GITATTRIBUTES.encode()
        doc = self._json_doc(path, name)
        if doc is not None:
            return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
        if name.upper().startswith(("LICENSE", "USE_POLICY")):
            lic = self.value("cardData") or {}
            title = lic.get("license_name") or lic.get("license") or "other"
            return (f"{title.upper()} LICENSE AGREEMENT\n\nThe model {self.model_id} is licensed under the "
                    f"{title} licence. This text stands in for the licence file of the repository.\n").encode()
        if name == "merges.txt":
            return ("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in _MERGES)).encode()
        if name == "vocab.txt":
            return "".join(t + "\n" for t in _VOCAB).encode()
        if name.endswith(".md"):
            return f"# {name[:-3]}\n\nPart of {self.model_id}.\n".encode()
        if name.endswith(".py"):
            return f'"""Custom code of {self.model_id}."""\n'.encode()
        if name.endswith(".xml"):
            return f'<?xml version="1.0"?>\n<net name="{self.model_id}" version="11"/>\n'.encode()
        return f"{path} of {self.model_id}\n".encode()

    def _json_doc(self, path: str, name: str):
        if not name.endswith(".json"):
            return None
        known = self.store.files_text.get(self.row, {}).get(path)
        if known is not None:  # a file that carries a source's facts (embedding dimension, max tokens, ...)
            return known
        if path == "config.json":
            return self.config()
        if name == "tokenizer_config.json":
            return self.tokenizer_config()
        if name == "special_tokens_map.json":
            tok = self.tokenizer_config()
            return {k: tok[k] for k in ("bos_token", "eos_token", "unk_token")}
        if name == "tokenizer.json":
            return tokenizer_json(self.tokenizer_config())
        if name == "vocab.json":
            return {t: i for i, t in enumerate(_VOCAB)}
        if name == "generation_config.json":
            return {"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2, "transformers_version": "4.46.0"}
        if name == "model.safetensors.index.json":
            names, shards, _ = self.weights
            weight_map, total = {}, 0
            for shard_name, tensors in zip(names, shards):
                for t_name, dtype, shape in tensors:
                    weight_map[t_name] = shard_name
                    total += _numel(shape) * DTYPE_BYTES[dtype]
            return {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        if name == "adapter_config.json":
            base = (self.value("cardData") or {}).get("base_model")
            return {"base_model_name_or_path": base, "peft_type": "LORA", "r": 16, "lora_alpha": 32,
                    "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}
        if name == "modules.json":
            return [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        if name == "sentence_bert_config.json":
            return {"max_seq_length": 256, "do_lower_case": False}
        if path == "1_Pooling/config.json":
            return {"word_embedding_dimension": self.weights[2].get("hidden_size", 768), "pooling_mode_mean_tokens": True}
        if name == "model_index.json":
            return {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.31.0",
                    "scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
                    "tokenizer": ["transformers", "CLIPTokenizer"], "vae": ["diffusers", "AutoencoderKL"]}
        if name == "scheduler_config.json":
            return {"_class_name": "EulerDiscreteScheduler", "num_train_timesteps": 1000, "beta_schedule": "scaled_linear"}
        if path.startswith("eval_results/"):
            return {"model": self.model_id, "file": path, "results": self.value("model-index") or []}
        if name == "config.json":  # a sub-model's config
            return {"_name_or_path": f"{self.model_id}/{path.rsplit('/', 1)[0]}", "model_type": path.split("/")[0]}
        return {"_comment": f"{path} of {self.model_id}"}


_VOCAB = ["<unk>", "<s>", "</s>"] + [chr(c) for c in range(33, 127)] + [
    "th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "the", "ing", "ion", "and", "Ġt", "Ġa", "Ġthe"]
_MERGES = [("t", "h"), ("h", "e"), ("i", "n"), ("e", "r"), ("a", "n"), ("r", "e"), ("o", "n"), ("a", "t"),
           ("e", "n"), ("n", "d"), ("th", "e"), ("in", "g")]


def tokenizer_json(tok: dict) -> dict:
    specials = [tok["unk_token"], tok["bos_token"], tok["eos_token"]]
    specials = [s if isinstance(s, str) else s.get("content", "<unk>") for s in specials]
    vocab_ = {t: i for i, t in enumerate(dict.fromkeys(specials + _VOCAB[3:]))}
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [{"id": vocab_[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                              "normalized": False, "special": True} for s in dict.fromkeys(specials)],
            "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True},
            "post_processor": None, "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "dropout": None, "unk_token": specials[0], "vocab": vocab_,
                      "merges": [f"{a} {b}" for a, b in _MERGES]}}


# -- Range ---------------------------------------------------------------------------------------
def parse_range(header: str | None, size: int):
    """(start, stop) for a satisfiable single range, "unsatisfiable", or None to send the whole file.

    As S3 and CloudFront (which serve the Hub's files) do: one `bytes=` range is honoured; a header
    that does not parse, a range whose end precedes its start, or several ranges are ignored (200
    with the whole file); a range starting at or beyond the end (or a suffix of 0 bytes) is 416."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or (not first and last.isdigit())) or (last and not last.isdigit()):
        return None
    if not first:  # a suffix: the last N bytes
        n = int(last)
        return "unsatisfiable" if n == 0 or size == 0 else (max(0, size - n), size)
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(size, int(last) + 1) if last else size


def file_response(f: File, range_header: str | None, headers: dict) -> wire.Response:
    """200 with the whole file, 206 with the asked range, or 416; `headers` go on each."""
    headers = {"Content-Type": "application/octet-stream" if f.lfs else (
        wire.JSON if f.path.endswith(".json") else wire.TEXT), **headers, "Accept-Ranges": "bytes"}
    rng = parse_range(range_header, f.size)
    if rng == "unsatisfiable":
        resp = wire.Response(416, b"Requested Range Not Satisfiable", {**headers, "Content-Type": wire.TEXT,
                                                                        "Content-Range": f"bytes */{f.size}"})
        return resp
    start, stop = rng or (0, f.size)
    if rng:
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{f.size}"
    if f.text is not None:
        return wire.Response(206 if rng else 200, f.text[start:stop], headers)
    return wire.Response(206 if rng else 200, b"", headers,
                         stream=wire.Stream(stop - start, lambda a, b: f.chunks(start + a, start + b)))


def blobs(repo: Repo) -> list[dict]:
    """`siblings` as `model_info(..., files_metadata=True)` (`?blobs=true`) lists them."""
    out = []
    for path in repo.paths:
        f = repo.files[path]
        entry = {"rfilename": path, "blobId": f.blob_id, "size": f.size}
        if f.lfs:
            entry["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": f.pointer_size}
        out.append(entry)
    return out


def folders(paths: list[str]) -> set[str]:
    out = set()
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def tree_oid(repo: Repo, folder: str) -> str:
    inside = [repo.files[p].blob_id for p in repo.paths if p.startswith(folder + "/")]
    return hashlib.sha1(("tree " + folder + " " + " ".join(inside)).encode()).hexdigest()


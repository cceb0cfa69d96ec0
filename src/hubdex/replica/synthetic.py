"""A deterministic, vectorised generator of Hub-shaped models (any N, seeded).

Everything is drawn with numpy over whole columns: ten thousand or two million models take the same
code path and the same few seconds per million. Shapes follow the Hub: creation accelerating over
time with the 2022-03-02 placeholder date for old repos, power-law downloads and likes, trending
concentrated on recent popular models, a quarter of models derived from a popular base
(finetune / adapter / quantized / merge), providers only on popular chat and image models.
"""

from __future__ import annotations

import numpy as np

from . import vocab
from .store import Store

EPOCH_START = 1577836800          # 2020-01-01T00:00:00Z
CREATED_PLACEHOLDER = 1646263744  # 2022-03-02T23:29:04Z: "created before dates were stored"
PLACEHOLDER_OID_TS = 0x621FFDC0   # the _id time of those repos, as in real bodies (621ffdc0...)

_SIZE_PARAMS = np.array([vocab.SIZE_PARAMS[s] for s in vocab.SIZES])
_QUANTIZERS = vocab.QUANTIZERS


def make_authors(count: int, rng: np.random.Generator) -> list[str]:
    syl = vocab.AUTHOR_SYLLABLES
    picks = rng.integers(0, len(syl), size=(count, 3))
    nums = rng.integers(0, 100, size=count)
    users = [f"{vocab.SYNTHETIC_PREFIX}{syl[a]}{syl[b]}{syl[c]}{n if n < 60 else ''}"
             for (a, b, c), n in zip(picks.tolist(), nums.tolist())]
    seen, out = set(), []
    for name in list(vocab.ORG_AUTHORS) + users:
        base, k = name, 1
        while name in seen:
            k += 1
            name = f"{base}{k}"
        seen.add(name)
        out.append(name)
    return out


def _weighted(rng, weights, size):
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size=size, p=w / w.sum())


CHUNK = 65536  # rows generated at a time: bounds the temporaries at any N


def add_models(store: Store, count: int, rng: np.random.Generator, t_from: int, t_to: int) -> range:
    """Append `count` synthetic models created between t_from and t_to (rows come in creation order)."""
    if count <= 0:
        return range(store.n, store.n)
    if not store.authors:
        store.authors = make_authors(max(50, count // 6), rng)
    start = store.n
    # Creation accelerates (the Hub grows): u**0.6 puts more mass near t_to. Sorted, so row order is
    # creation order and a base model always precedes its derivatives.
    created = np.sort(t_from + (t_to - t_from) * rng.random(count) ** 0.6).astype(np.int64)
    store.reserve(count)
    store.n = start
    for at in range(0, count, CHUNK):
        _add_chunk(store, created[at:at + CHUNK], rng, t_to)
    store.changed()
    return range(start, store.n)


def _add_chunk(store: Store, created: np.ndarray, rng: np.random.Generator, t_to: int):
    rows = store.reserve(len(created))
    lo, hi = rows.start, rows.stop
    c = {name: arr[lo:hi] for name, arr in store.cols.items()}  # views: writes land in the store
    n = len(created)
    c["alive"][:] = True
    old = created < CREATED_PLACEHOLDER
    c["created"][:] = np.where(old, CREATED_PLACEHOLDER, created)
    oid_ts = np.where(old, PLACEHOLDER_OID_TS, created).astype(np.uint64)
    c["oid_hi"][:] = (oid_ts << np.uint64(32)) | np.arange(lo, hi, dtype=np.uint64)
    # The last 8 hex digits look random, as a real ObjectId's do, but are a pure function of the row.
    c["oid_lo"][:] = (np.arange(lo, hi, dtype=np.uint64) * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
    # Most repos are touched soon after creation and rarely again.
    span = np.maximum(t_to - created, 0)
    c["modified"][:] = created + (span * rng.random(n) ** 4).astype(np.int64)
    c["version"][:] = 0

    # Task, library, architecture.
    pipe_idx = _weighted(rng, [p[1] for p in vocab.PIPELINES], n)
    lib_codes = np.zeros(n, np.uint8)
    arch = np.zeros(n, np.uint8)
    pipe_codes = np.zeros(n, np.uint8)
    for k, (tag, _w, libs, archs, _auto) in enumerate(vocab.PIPELINES):
        sel = np.flatnonzero(pipe_idx == k)
        if not len(sel):
            continue
        pipe_codes[sel] = store.pipelines.code(tag)
        choice = _weighted(rng, [w for _l, w in libs], len(sel))
        codes = np.array([store.libraries.code(lib) for lib, _w in libs], np.uint8)
        lib_codes[sel] = codes[choice]
        arch[sel] = rng.integers(0, len(archs), len(sel))

    # Popularity: heavy-tailed downloads, likes that follow them loosely, trending on the recent.
    downloads = np.minimum(np.floor(rng.pareto(0.85, n) * 3.0), 2.5e8)
    downloads[rng.random(n) < 0.35] = 0
    age_days = np.maximum((t_to - created) / 86400.0, 1.0)
    c["downloads_all"][:] = (downloads * (1 + age_days / 30.0 * rng.random(n) * 0.8) + rng.integers(0, 50, n))
    likes = np.floor(np.sqrt(downloads) * rng.lognormal(-1.5, 1.0, n))
    likes[rng.random(n) < 0.5] = 0

    # Derivatives: a quarter of models, attached preferentially to popular earlier base models.
    relation = _weighted(rng, [75, 12, 5, 6, 2], n).astype(np.uint8)
    parent = np.full(n, -1, np.int64)
    derived = np.flatnonzero(relation > 0)
    existing_bases = np.flatnonzero(store.col("alive")[:lo] & (store.col("relation")[:lo] == 0))
    if store.bodies:  # a synthetic copy is named after its base's code: only synthetic bases have one
        existing_bases = np.setdiff1d(existing_bases, np.fromiter(store.bodies, np.int64))
    base_rows = np.concatenate([existing_bases, lo + np.flatnonzero(relation == 0)])
    if len(derived) and len(base_rows):
        all_dl = np.concatenate([store.col("downloads")[:lo].astype(float), downloads])
        weights = np.cumsum(all_dl[base_rows] + 1.0)
        child_rows = lo + derived
        avail = np.searchsorted(base_rows, child_rows)  # bases created before the child
        ok = avail > 0
        pick = np.searchsorted(weights, rng.random(ok.sum()) * weights[avail[ok] - 1], side="right")
        parent[derived[ok]] = base_rows[np.minimum(pick, avail[ok] - 1)]
        relation[derived[~ok]] = 0
    derived = np.flatnonzero(parent >= 0)
    c["relation"][:] = relation
    c["parent"][:] = parent

    # Names: word / size / variant / suffix codes. Derivatives keep their base's word and size.
    word = rng.integers(0, len(vocab.NAME_WORDS), n)
    # Sizes of the task's kind (LLM sizes for LLMs, 1-13B for image generation, small / base / large for
    # encoders and speech): a draw in [0, 1) picks within the task's list.
    size_draw = rng.random(n)
    size = np.zeros(n, np.int64)
    for k, p in enumerate(vocab.PIPELINES):
        sel = pipe_idx == k
        choices = np.array([vocab.SIZES.index(x) for x in
                            vocab.SIZES_OF_GROUP[vocab.GROUP_OF_TASK.get(p[0], "encoder")]])
        size[sel] = choices[(size_draw[sel] * len(choices)).astype(np.int64)]
    variant = rng.integers(0, len(vocab.VARIANTS), n)
    suffix = np.zeros(n, np.int64)
    if len(derived):
        prow = parent[derived]
        all_code = np.concatenate([store.col("name_code")[:lo], np.zeros(n, np.uint32)])
        # A base in this batch has no code yet: compute this batch's codes before reading them.
        base_code = (word | (size << 5) | (variant << 9)).astype(np.uint32)
        all_code[lo:] = base_code
        pc = all_code[prow].astype(np.int64)
        word[derived] = pc & 0x1F
        size[derived] = (pc >> 5) & 0xF
        rel = relation[derived]
        suffix[derived] = np.select(
            [rel == 3, rel == 2, rel == 4],
            [np.array([1, 2, 5, 6])[rng.integers(0, 4, len(derived))], 3, 4], 0)
        # Derivatives share their base's task and architecture.
        all_pipe = np.concatenate([store.col("pipeline")[:lo], pipe_codes])
        all_arch = np.concatenate([store.col("arch")[:lo], arch])
        pipe_codes[derived] = all_pipe[prow]
        arch[derived] = all_arch[prow]
        # Quantised copies of a non-LLM model are ONNX exports, not GGUF / AWQ / GPTQ / MLX ones.
        llm_codes = [store.pipelines.code(t) for t, g in vocab.GROUP_OF_TASK.items() if g == "llm"]
        not_llm = ~np.isin(pipe_codes[derived], llm_codes)
        suffix[derived] = np.where((rel == 3) & not_llm, 7, suffix[derived])
    c["name_code"][:] = (word | (size << 5) | (variant << 9) | (suffix << 13)).astype(np.uint32)
    c["pipeline"][:] = pipe_codes
    c["arch"][:] = arch
    c["params"][:] = (_SIZE_PARAMS[size] * rng.uniform(0.93, 1.07, n)).astype(np.int64)

    # Libraries and weight formats; quantised and adapter derivatives follow their kind.
    gguf_code = store.libraries.code("gguf")
    peft_code = store.libraries.code("peft")
    mlx_code = store.libraries.code("mlx")
    lib_codes[(suffix == 1)] = gguf_code
    lib_codes[(suffix == 6)] = mlx_code
    lib_codes[(suffix == 7)] = store.libraries.code("onnx")
    lib_codes[(relation == 2)] = peft_code
    c["library"][:] = lib_codes
    F = vocab.FMT
    r = rng.random((n, 5))
    fmt = np.where(r[:, 0] < 0.88, F["safetensors"], 0) | np.where(r[:, 1] < 0.3, F["pytorch"], 0)
    fmt |= np.where(r[:, 2] < 0.05, F["onnx"], 0) | np.where(r[:, 3] < 0.04, F["tf"], 0)
    fmt |= np.where(r[:, 4] < 0.02, F["openvino"], 0)
    fmt = np.where(lib_codes == gguf_code, F["gguf"], fmt)
    fmt = np.where(lib_codes == mlx_code, F["mlx"] | F["safetensors"], fmt)
    onnx_code = store.libraries.code("onnx")
    fmt = np.where(lib_codes == onnx_code, F["onnx"], fmt)
    fmt = np.where(fmt == 0, F["pytorch"], fmt)  # every open-weight model lists weight files
    c["fmt"][:] = fmt.astype(np.uint16)

    # Authors: Zipf-like, big organisations own the popular bases, quantizers own quantisations.
    n_auth = len(store.authors)
    author = np.minimum(rng.zipf(1.3, n) - 1, n_auth - 1)
    author = np.where(author < len(vocab.ORG_AUTHORS), author, rng.integers(len(vocab.ORG_AUTHORS), n_auth, n))
    quant_authors = np.array([store.authors.index(a) for a in _QUANTIZERS])
    author = np.where((relation == 3) & (rng.random(n) < 0.4), quant_authors[rng.integers(0, 4, n)], author)
    c["author"][:] = author

    # Licences, gating, languages, datasets.
    lic_choice = _weighted(rng, [w for _l, w in vocab.LICENSES], n)
    lic_codes = np.array([store.licenses.code(lic) for lic, _w in vocab.LICENSES], np.uint8)
    c["license"][:] = lic_codes[lic_choice]
    c["other_license"][:] = rng.integers(0, len(vocab.OTHER_LICENSES), n)
    gated = _weighted(rng, [92, 6, 2], n).astype(np.uint8)
    c["gated"][:] = gated
    c["disabled"][:] = rng.random(n) < 0.001
    lang_codes = np.array([store.languages.code(s) for s in vocab.LANGUAGE_SETS], np.uint8)
    c["lang"][:] = lang_codes[rng.integers(0, len(vocab.LANGUAGE_SETS), n)]
    ds_codes = np.array([store.datasets.code(d) for d in vocab.DATASETS], np.uint8)
    c["dataset"][:] = ds_codes[rng.integers(0, len(vocab.DATASETS), n)]

    c["downloads"][:] = downloads
    c["likes"][:] = likes
    recent = np.exp(-age_days / 20.0)
    c["trending"][:] = np.floor(likes * recent * rng.random(n) * 2)

    # Spaces: only models with downloads get used in Spaces; the Hub's list stops at 100.
    c["spaces"][:] = np.minimum(np.floor(np.log1p(downloads) ** 2.2 / 4 * rng.random(n)), 100) * (downloads > 50)

    # Inference providers: popular chat and image models only.
    pipe_names = np.array([store.pipelines.values[p] or "" for p in range(len(store.pipelines.values))], object)
    names = pipe_names[pipe_codes]
    chat = np.isin(names, list(vocab.CHAT_PIPELINES)) & (relation != 2) & (relation != 3)
    image = names == "text-to-image"
    eligible = (chat | image) & (downloads > 2000) & (rng.random(n) < 0.6)
    prov = np.zeros(n, np.uint32)
    for i in np.flatnonzero(eligible).tolist():
        pool = vocab.CHAT_PROVIDERS if chat[i] else vocab.IMAGE_PROVIDERS
        k = int(rng.integers(1, min(5, len(pool)) + 1))
        for p in rng.choice(pool, size=k, replace=False).tolist():
            prov[i] |= 1 << p
    c["providers"][:] = prov
    c["has_evals"][:] = rng.random(n) < 0.1

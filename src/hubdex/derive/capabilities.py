"""Capabilities read off a model's crawled metadata, as SQL over whole tables.

The card's own capabilities (what its authors wrote) come from `cards.py` at crawl time and live
in `capabilities`. This module adds what the Hub's metadata shows, into `model_capability_rows`
(spelt out by the view `model_capabilities`): the
task and its modalities, languages, library, architecture, parameter count and the memory its
weights take, context length, weight formats, quantised variants and fine-tuning evidence from the
model tree, serving (inference providers, endpoint compatibility), licence terms, datasets, papers,
Spaces and gating. Each row names its evidence (which field) and a confidence.

The step reads `models` and its child tables, `licence_classes` (the licences step) and the view
`current_router_prices`, and writes `capability_names`, `capability_evidence`,
`model_capability_rows` and `capability_summary` for the models it is given. Every statement is a
`SELECT` over a slice of those models (temp tables private to this module hold the slice), so
deriving a million models is a few table scans, not a Python loop; `INSERT OR IGNORE` on the
(model, capability, detail) key, fed in sorted order, keeps the first evidence in statement
order, which is fixed, so equal inputs give equal rows.
"""

from __future__ import annotations

# pipeline tag -> (input modalities, output modalities), after the Hub's task taxonomy
# (huggingface.js tasks): what goes in and what comes out.
TASK_MODALITIES = {
    "text-generation": ("text", "text"), "text2text-generation": ("text", "text"),
    "text-classification": ("text", "label"), "token-classification": ("text", "label"),
    "zero-shot-classification": ("text", "label"), "question-answering": ("text", "text"),
    "table-question-answering": ("table", "text"), "summarization": ("text", "text"), "translation": ("text", "text"),
    "fill-mask": ("text", "text"), "feature-extraction": ("text", "embedding"),
    "sentence-similarity": ("text", "embedding"), "conversational": ("text", "text"),
    "text-to-image": ("text", "image"), "image-to-image": ("image", "image"), "image-to-text": ("image", "text"),
    "image-text-to-text": ("image+text", "text"), "visual-question-answering": ("image+text", "text"),
    "document-question-answering": ("image+text", "text"), "image-classification": ("image", "label"),
    "zero-shot-image-classification": ("image+text", "label"), "image-segmentation": ("image", "mask"),
    "object-detection": ("image", "boxes"), "zero-shot-object-detection": ("image+text", "boxes"),
    "depth-estimation": ("image", "image"), "image-feature-extraction": ("image", "embedding"),
    "mask-generation": ("image", "mask"), "unconditional-image-generation": ("noise", "image"),
    "text-to-video": ("text", "video"), "image-to-video": ("image", "video"), "video-classification": ("video", "label"),
    "video-text-to-text": ("video+text", "text"), "text-to-speech": ("text", "audio"), "text-to-audio": ("text", "audio"),
    "automatic-speech-recognition": ("audio", "text"), "audio-classification": ("audio", "label"),
    "audio-to-audio": ("audio", "audio"), "voice-activity-detection": ("audio", "label"),
    "any-to-any": ("any", "any"), "image-text-to-image": ("image+text", "image"), "text-to-3d": ("text", "3d"),
    "image-to-3d": ("image", "3d"), "tabular-classification": ("table", "label"),
    "tabular-regression": ("table", "number"), "time-series-forecasting": ("time series", "time series"),
    "reinforcement-learning": ("environment", "action"), "robotics": ("sensors", "action"),
    "graph-ml": ("graph", "label"), "keypoint-detection": ("image", "keypoints"),
}

# ISO 639-1 codes: the Hub tags a model with the languages its card declares, as bare codes.
LANGUAGE_CODES = set("""aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy
da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii
ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr
ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl
sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh
zu""".split())

# Bytes per parameter of the dtypes safetensors reports.
DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
               "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1, "BOOL": 1, "F4": 0.5, "I4": 0.5}

# File path -> weight format. Pickle-based formats are named as such: loading them runs code.
WEIGHT_FORMAT_CASE = """CASE
    WHEN path LIKE '%.safetensors' THEN 'safetensors'
    WHEN path LIKE '%.gguf' THEN 'gguf'
    WHEN path LIKE '%.onnx' OR path LIKE '%.onnx_data' THEN 'onnx'
    WHEN path LIKE '%openvino%.xml' THEN 'openvino'
    WHEN path LIKE '%.mlmodel' OR path LIKE '%.mlpackage/%' THEN 'coreml'
    WHEN path LIKE '%.tflite' THEN 'tflite'
    WHEN path LIKE '%.msgpack' THEN 'flax (msgpack)'
    WHEN path LIKE '%.h5' OR path LIKE '%.keras' THEN 'keras (h5)'
    WHEN path LIKE '%.bin' AND (path LIKE '%pytorch_model%' OR path LIKE '%adapter_model%' OR path LIKE '%diffusion_pytorch%')
        THEN 'pytorch (pickle)'
    WHEN path LIKE '%.pt' OR path LIKE '%.pth' OR path LIKE '%.ckpt' OR path LIKE '%.pkl' THEN 'pytorch (pickle)'
    WHEN path LIKE '%.npz' THEN 'numpy'
    END"""
SAFE_FORMATS = ("safetensors", "gguf", "onnx", "openvino", "coreml", "tflite", "flax (msgpack)", "numpy")
PICKLE_FORMATS = ("pytorch (pickle)", "keras (h5)")


def _human(expr: str) -> str:
    """SQL turning a count into 7.24B / 110M / 4.5K."""
    return (f"CASE WHEN {expr} >= 1e9 THEN printf('%.2fB', {expr} / 1e9) WHEN {expr} >= 1e6 "
            f"THEN printf('%.0fM', {expr} / 1e6) WHEN {expr} >= 1e3 THEN printf('%.1fK', {expr} / 1e3) "
            f"ELSE CAST({expr} AS TEXT) END")


_M = "FROM temp.dm m"
_TAGS = "FROM temp.chunk_keys k CROSS JOIN model_tags t ON t.model_key = k.key"

# (capability, evidence kind, evidence source, confidence, SQL giving (model key, detail)).
# Order matters only for which evidence a fact found twice keeps: the first.
STATEMENTS = [
    ("task", "metadata", "pipeline_tag", 1.0, f"SELECT m.key, m.pipeline_tag {_M} WHERE m.pipeline_tag IS NOT NULL"),
    ("input modality", "metadata", "pipeline_tag", 0.9,
     f"SELECT m.key, t.input {_M} JOIN temp.task_modalities t ON t.task = m.pipeline_tag"),
    ("output modality", "metadata", "pipeline_tag", 0.9,
     f"SELECT m.key, t.output {_M} JOIN temp.task_modalities t ON t.task = m.pipeline_tag"),
    ("language", "metadata", "tags", 0.9,
     f"SELECT t.model_key, t.tag {_TAGS} WHERE +t.tag IN (SELECT code FROM temp.language_codes)"),
    ("library", "metadata", "library_name", 1.0, f"SELECT m.key, m.library_name {_M} WHERE m.library_name IS NOT NULL"),
    ("architecture", "metadata", "config.architectures", 1.0,
     "SELECT m.key, a.value FROM temp.dm m, json_each(m.config, '$.architectures') a "
     "WHERE m.config IS NOT NULL AND json_valid(m.config) AND a.type = 'text'"),
    ("model type", "metadata", "config.model_type", 1.0,
     "SELECT key, config ->> '$.model_type' FROM temp.dm WHERE config LIKE '%\"model_type\"%' AND json_valid(config) "
     "AND config ->> '$.model_type' IS NOT NULL"),
    ("parameters", "metadata", "safetensors.total", 1.0,
     f"SELECT m.key, {_human('m.params')} {_M} WHERE m.params > 0 AND m.st_params IS NOT NULL"),
    ("parameters", "metadata", "gguf.total", 1.0,
     f"SELECT m.key, {_human('m.params')} {_M} WHERE m.params > 0 AND m.st_params IS NULL"),
    ("weights memory", "metadata", "safetensors.parameters", 0.9,
     """SELECT key, printf('%.1f GB (%s)', sum(n * b) / 1e9, group_concat(dtype, '+'))
        FROM (SELECT m.key, p.key AS dtype, p.value AS n, d.bytes AS b FROM temp.dm m, json_each(m.st_params) p
              JOIN temp.dtype_bytes d ON d.dtype = p.key
              WHERE m.params > 0 AND json_valid(m.st_params) ORDER BY m.key, p.key)
        GROUP BY key HAVING sum(n * b) > 0"""),
    ("context length", "metadata", "gguf.context_length", 1.0,
     f"SELECT m.key, CAST(m.context_length AS TEXT) {_M} WHERE m.context_length > 0"),
    ("context length", "router catalogue", "providers.context_length", 0.8,
     f"""SELECT m.key, CAST(max(r.context_length) AS TEXT) {_M}
         JOIN current_router_prices r ON r.model_id = m.id
         WHERE r.context_length > 0 GROUP BY m.key"""),
    ("weight format", "metadata", "files", 1.0,
     f"""SELECT model_key, fmt FROM (SELECT f.model_key, {WEIGHT_FORMAT_CASE} AS fmt
         FROM temp.chunk_keys k CROSS JOIN model_files f ON f.model_key = k.key) WHERE fmt IS NOT NULL"""),
    ("weight format", "metadata", "tags", 0.8,
     f"""SELECT t.model_key, CASE t.tag WHEN 'pytorch' THEN 'pytorch (pickle)' WHEN 'tf' THEN 'keras (h5)'
         WHEN 'jax' THEN 'flax (msgpack)' ELSE t.tag END {_TAGS}
         WHERE t.tag IN ('mlx', 'openvino', 'gguf', 'onnx', 'safetensors', 'pytorch', 'tf', 'jax')"""),
    ("quantised variants", "metadata", "childrenModelCount.quantized", 1.0,
     f"SELECT m.key, m.children_quantized || ' on the Hub' {_M} WHERE m.children_quantized > 0"),
    ("fine-tunes of it", "metadata", "childrenModelCount.finetune", 1.0,
     f"SELECT m.key, m.children_finetune || ' on the Hub' {_M} WHERE m.children_finetune > 0"),
    ("adapters of it", "metadata", "childrenModelCount.adapter", 1.0,
     f"SELECT m.key, m.children_adapter || ' on the Hub' {_M} WHERE m.children_adapter > 0"),
    ("merges of it", "metadata", "childrenModelCount.merge", 1.0,
     f"SELECT m.key, m.children_merge || ' on the Hub' {_M} WHERE m.children_merge > 0"),
] + [
    (name, "metadata", "baseModels", 1.0,
     f"SELECT r.model_key, r.parent FROM temp.chunk_keys k CROSS JOIN model_relations r ON r.model_key = k.key WHERE {where}")
    for name, where in (("fine-tuned from", "r.relation IS NULL OR r.relation NOT IN ('quantized', 'adapter', 'merge')"),
                        ("quantised from", "r.relation = 'quantized'"), ("adapter of", "r.relation = 'adapter'"),
                        ("merged from", "r.relation = 'merge'"))
] + [
    ("inference provider", "metadata", "inferenceProviderMapping", 1.0,
     "SELECT p.model_key, p.provider || ' (' || coalesce(p.status, '?') || ')' "
     "FROM temp.chunk_keys k CROSS JOIN model_providers p ON p.model_key = k.key"),
    ("serving", "metadata", "tags", 0.9,
     f"""SELECT t.model_key, CASE t.tag WHEN 'endpoints_compatible' THEN 'Inference Endpoints compatible'
         ELSE t.tag END {_TAGS} WHERE t.tag IN ('endpoints_compatible', 'text-generation-inference')"""),
    ("serving", "metadata", "inference", 1.0, f"SELECT m.key, 'HF Inference (warm)' {_M} WHERE m.inference = 'warm'"),
] + [
    ("licence terms", "metadata", source, 1.0,
     f"""SELECT m.key, l.licence || ': ' || l.family || ', commercial use ' || l.commercial
         {_M} JOIN licence_classes l ON l.license IS m.license AND l.license_name IS m.license_name
         AND l.license_link IS m.license_link WHERE l.licence IS NOT NULL AND {where}""")
    for source, where in (("license", "l.via NOT IN ('license_name', 'license_link')"),
                          ("license + license_name", "l.via = 'license_name'"),
                          ("license + license_link", "l.via = 'license_link'"))
] + [
    ("training data", "metadata", "tags", 0.8, f"SELECT t.model_key, substr(t.tag, 9) {_TAGS} WHERE t.tag LIKE 'dataset:%'"),
    ("paper", "metadata", "tags", 0.9, f"SELECT t.model_key, t.tag {_TAGS} WHERE t.tag LIKE 'arxiv:%'"),
    ("used in Spaces", "metadata", "spaces", 1.0,
     f"SELECT m.key, m.spaces_count || CASE WHEN m.spaces_count >= 100 THEN '+' ELSE '' END || ' Spaces' {_M} "
     "WHERE m.spaces_count > 0"),
    ("access", "metadata", "gated", 1.0,
     f"SELECT m.key, 'gated (' || m.gated || ' approval)' {_M} WHERE m.gated IS NOT NULL AND m.gated NOT IN ('false', '0')"),
]
# Capability names get small integer ids (stored rows are (model, capability id, detail, evidence id)).
CAPABILITY_IDS = {name: i for i, name in enumerate(dict.fromkeys(s[0] for s in STATEMENTS), 1)}


def prepare(conn):
    """The lookup tables the statements join: task modalities, language codes, dtype sizes."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS task_modalities (task TEXT PRIMARY KEY, input TEXT, output TEXT)")
    conn.execute("DELETE FROM temp.task_modalities")
    conn.executemany("INSERT INTO temp.task_modalities VALUES (?, ?, ?)",
                     [(t, i, o) for t, (i, o) in sorted(TASK_MODALITIES.items())])
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS language_codes (code TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.language_codes")
    conn.executemany("INSERT INTO temp.language_codes VALUES (?)", [(c,) for c in sorted(LANGUAGE_CODES)])
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS dtype_bytes (dtype TEXT PRIMARY KEY, bytes REAL)")
    conn.execute("DELETE FROM temp.dtype_bytes")
    conn.executemany("INSERT INTO temp.dtype_bytes VALUES (?, ?)", sorted(DTYPE_BYTES.items()))


_W, _FORMATS = CAPABILITY_IDS["weight format"], lambda names: ", ".join(f"'{n}'" for n in names)
# (CASE, not AND: the IN lists are then tested only on weight-format rows, which halves the cost)
SUMMARY = f"""INSERT INTO capability_summary
    SELECT k.key, count(*), max(CASE WHEN r.capability_id = {_W} THEN r.detail IN ({_FORMATS(SAFE_FORMATS)}) END),
           max(CASE WHEN r.capability_id = {_W} THEN r.detail IN ({_FORMATS(PICKLE_FORMATS)}) END),
           sum(r.capability_id = {_W}), sum(r.capability_id = {CAPABILITY_IDS["training data"]}),
           max(r.capability_id = {CAPABILITY_IDS["paper"]})
    FROM temp.chunk_keys k CROSS JOIN model_capability_rows r ON r.model_key = k.key GROUP BY k.key"""

CHUNK = 50_000  # models per slice: ~600k capability rows, a sort that fits in the page cache


def _narrow_models(conn):
    """temp.dm: the columns the statements read, for the models in chunk_keys, in one pass over
    `models` (its rows are wide: reading them once instead of once per statement is most of the
    saving), with config and the safetensors parameters picked out of `raw` (two json_extract
    calls took 0.46 s a slice of 50,000 where one json_each and a GROUP BY took 0.80 s)."""
    conn.execute("DROP TABLE IF EXISTS temp.dm")
    conn.execute("""CREATE TEMP TABLE dm AS SELECT m.key, m.id, m.pipeline_tag, m.library_name, m.params,
        m.context_length, m.children_finetune, m.children_adapter, m.children_quantized, m.children_merge,
        m.spaces_count, m.inference, m.gated, m.license, m.license_name, m.license_link,
        json_extract(m.raw, '$.config') AS config, json_extract(m.raw, '$.safetensors.parameters') AS st_params
        FROM temp.chunk_keys k CROSS JOIN models m ON m.key = k.key""")
    # The router's context lengths join on the id: without this index SQLite drove the join from the
    # router's offers and scanned the slice once per offer (1,483 scans a slice at a million models:
    # the step took 237 s, 44 s with it, identical rows).
    conn.execute("CREATE INDEX temp.dm_id ON dm (id)")


def _replace_if_other(conn, table: str, rows: list[tuple]):
    """A small lookup table's rows replaced only when they differ (a derive writes only what moved)."""
    if sorted(conn.execute(f"SELECT * FROM {table}").fetchall()) == sorted(rows):
        return
    conn.execute(f"DELETE FROM {table}")
    conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)


def rebuild(conn, keys, everything: bool, removed=()) -> int:
    """Rebuild the metadata capabilities of the models `keys` (sorted; all current models when
    `everything`, and then every old row goes), and drop those of `removed` models. Returns the
    number of rows written.

    The rows of all statements go into the clustered table in key order, so its B-tree is written
    front to back (at a million models, inserting each statement's rows straight into it touched
    every page of a 300 MB tree 30 times, and took twice as long)."""
    prepare(conn)
    _replace_if_other(conn, "capability_names", [(i, n) for n, i in CAPABILITY_IDS.items()])
    _replace_if_other(conn, "capability_evidence",
                      [(i, kind, source, conf) for i, (_c, kind, source, conf, _sql) in enumerate(STATEMENTS, 1)])
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS chunk_keys (key INTEGER PRIMARY KEY)")
    for table in ("model_capability_rows", "capability_summary"):
        if everything:
            conn.execute(f"DELETE FROM {table}")
    if not everything:
        for group in (keys, removed):
            for start in range(0, len(group), CHUNK):
                conn.execute("DELETE FROM temp.chunk_keys")
                conn.executemany("INSERT INTO temp.chunk_keys VALUES (?)", [(int(k),) for k in group[start:start + CHUNK]])
                for table in ("model_capability_rows", "capability_summary"):
                    conn.execute(f"DELETE FROM {table} WHERE model_key IN (SELECT key FROM temp.chunk_keys)")
    # One INSERT over the UNION ALL of every statement, sorted by the table's key, so its B-tree is
    # written front to back; a slice of models at a time, so each sort fits in memory.
    ctes = ",\n".join(f"s{i}(k, d) AS ({sql})" for i, (_c, _k, _s, _f, sql) in enumerate(STATEMENTS, 1))
    arms = "\nUNION ALL ".join(f"SELECT k, {CAPABILITY_IDS[c]}, d, {i} FROM s{i}"
                               for i, (c, _k, _s, _f, _sql) in enumerate(STATEMENTS, 1))
    insert = (f"WITH {ctes}\nINSERT OR IGNORE INTO model_capability_rows (model_key, capability_id, detail, evidence_id) "
              f"SELECT * FROM ({arms}) WHERE d IS NOT NULL ORDER BY 1, 2, 3, 4")
    written = 0
    for start in range(0, len(keys), CHUNK):
        conn.execute("DELETE FROM temp.chunk_keys")
        conn.executemany("INSERT INTO temp.chunk_keys VALUES (?)", [(int(k),) for k in keys[start:start + CHUNK]])
        _narrow_models(conn)
        before = conn.total_changes  # (a WITH ... INSERT has no cursor rowcount)
        conn.execute(insert)
        written += conn.total_changes - before
        conn.execute(SUMMARY)  # the rows just written, still in the page cache
    conn.execute("DROP TABLE IF EXISTS temp.dm")
    conn.execute("DELETE FROM temp.chunk_keys")
    return written

"""Capabilities read off a model's crawled metadata, as SQL over whole tables.

The card's own capabilities (what its authors wrote) come from `cards.py` at crawl time and live
in `capabilities`. This module adds what the Hub's metadata shows, into `model_capabilities`: the
task and its modalities, languages, library, architecture, parameter count and the memory its
weights take, context length, weight formats, quantised variants and fine-tuning evidence from the
model tree, serving (inference providers, endpoint compatibility), licence terms, datasets, papers,
Spaces and gating. Each row names its evidence (which field) and a confidence.

Every statement is an `INSERT ... SELECT` over the models in the temp table `derive_keys`, so
deriving a million models is a few table scans, not a Python loop; `INSERT OR IGNORE` on the
(model, capability, detail) key keeps the first evidence in statement order, which is fixed, so
equal inputs give equal rows.
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


_M = "FROM models m JOIN derive_keys k ON k.key = m.key"
_INS = "INSERT OR IGNORE INTO model_capabilities "

# (what it reads, the SQL). Order matters only for which evidence a duplicate fact keeps.
STATEMENTS = [
    ("pipeline tag", f"{_INS} SELECT m.key, 'task', m.pipeline_tag, 'metadata', 'pipeline_tag', 1.0 {_M} "
                     "WHERE m.pipeline_tag IS NOT NULL"),
    ("modalities", f"""{_INS} SELECT m.key, 'input modality', t.input, 'metadata', 'pipeline_tag', 0.9 {_M}
                       JOIN temp.task_modalities t ON t.task = m.pipeline_tag"""),
    ("modalities", f"""{_INS} SELECT m.key, 'output modality', t.output, 'metadata', 'pipeline_tag', 0.9 {_M}
                       JOIN temp.task_modalities t ON t.task = m.pipeline_tag"""),
    ("languages", f"""{_INS} SELECT t.model_key, 'language', t.tag, 'metadata', 'tags', 0.9
                      FROM model_tags t JOIN derive_keys k ON k.key = t.model_key
                      WHERE t.tag IN (SELECT code FROM temp.language_codes)"""),
    ("library", f"{_INS} SELECT m.key, 'library', m.library_name, 'metadata', 'library_name', 1.0 {_M} "
                "WHERE m.library_name IS NOT NULL"),
    ("architecture", f"""{_INS} SELECT m.key, 'architecture', a.value, 'metadata', 'config.architectures', 1.0
                         FROM (SELECT m.key, json_extract(m.raw, '$.config') AS config {_M}) m,
                              json_each(m.config, '$.architectures') a
                         WHERE m.config IS NOT NULL AND json_valid(m.config) AND a.type = 'text'"""),
    ("model type", f"""{_INS} SELECT key, 'model type', config ->> '$.model_type', 'metadata', 'config.model_type', 1.0
                       FROM (SELECT m.key, json_extract(m.raw, '$.config') AS config {_M}
                             WHERE m.raw LIKE '%"model_type"%')
                       WHERE json_valid(config) AND config ->> '$.model_type' IS NOT NULL"""),
    ("parameters", f"""{_INS} SELECT m.key, 'parameters', {_human('m.params')}, 'metadata',
                       CASE WHEN m.raw LIKE '%"safetensors":{{%' THEN 'safetensors.total' ELSE 'gguf.total' END, 1.0
                       {_M} WHERE m.params > 0"""),
    ("weights memory", f"""{_INS} SELECT key, 'weights memory',
                           printf('%.1f GB (%s)', sum(n * b) / 1e9, group_concat(dtype, '+')),
                           'metadata', 'safetensors.parameters', 0.9
                           FROM (SELECT m.key, p.key AS dtype, p.value AS n, d.bytes AS b
                                 FROM (SELECT m.key, json_extract(m.raw, '$.safetensors.parameters') AS params {_M}
                                       WHERE m.params > 0) m, json_each(m.params) p
                                 JOIN temp.dtype_bytes d ON d.dtype = p.key ORDER BY m.key, p.key)
                           GROUP BY key HAVING sum(n * b) > 0"""),
    ("context length", f"{_INS} SELECT m.key, 'context length', CAST(m.context_length AS TEXT), 'metadata', "
                       f"'gguf.context_length', 1.0 {_M} WHERE m.context_length > 0"),
    ("context length", f"""{_INS} SELECT m.key, 'context length', CAST(max(r.context_length) AS TEXT), 'router catalogue',
                           'providers.context_length', 0.8 {_M}
                           JOIN router_prices r ON r.model_id = m.id AND r.day = (SELECT max(day) FROM router_prices)
                           WHERE r.context_length > 0 GROUP BY m.key"""),
    ("weight formats", f"""{_INS} SELECT model_key, 'weight format', fmt, 'metadata', 'files', 1.0
                           FROM (SELECT f.model_key, {WEIGHT_FORMAT_CASE} AS fmt
                                 FROM model_files f JOIN derive_keys k ON k.key = f.model_key)
                           WHERE fmt IS NOT NULL"""),
    ("weight formats", f"""{_INS} SELECT t.model_key, 'weight format', CASE t.tag WHEN 'mlx' THEN 'mlx'
                           WHEN 'openvino' THEN 'openvino' WHEN 'gguf' THEN 'gguf' WHEN 'onnx' THEN 'onnx'
                           WHEN 'safetensors' THEN 'safetensors' WHEN 'pytorch' THEN 'pytorch (pickle)'
                           WHEN 'tf' THEN 'keras (h5)' WHEN 'jax' THEN 'flax (msgpack)' END, 'metadata', 'tags', 0.8
                           FROM model_tags t JOIN derive_keys k ON k.key = t.model_key
                           WHERE t.tag IN ('mlx', 'openvino', 'gguf', 'onnx', 'safetensors', 'pytorch', 'tf', 'jax')"""),
    ("quantised variants", f"{_INS} SELECT m.key, 'quantised variants', m.children_quantized || ' on the Hub', "
                           f"'metadata', 'childrenModelCount.quantized', 1.0 {_M} WHERE m.children_quantized > 0"),
    ("fine-tuning", f"{_INS} SELECT m.key, 'fine-tunes of it', m.children_finetune || ' on the Hub', 'metadata', "
                    f"'childrenModelCount.finetune', 1.0 {_M} WHERE m.children_finetune > 0"),
    ("fine-tuning", f"{_INS} SELECT m.key, 'adapters of it', m.children_adapter || ' on the Hub', 'metadata', "
                    f"'childrenModelCount.adapter', 1.0 {_M} WHERE m.children_adapter > 0"),
    ("fine-tuning", f"{_INS} SELECT m.key, 'merges of it', m.children_merge || ' on the Hub', 'metadata', "
                    f"'childrenModelCount.merge', 1.0 {_M} WHERE m.children_merge > 0"),
    ("model tree", f"""{_INS} SELECT r.model_key, CASE r.relation WHEN 'quantized' THEN 'quantised from'
                       WHEN 'adapter' THEN 'adapter of' WHEN 'merge' THEN 'merged from' ELSE 'fine-tuned from' END,
                       r.parent, 'metadata', 'baseModels', 1.0
                       FROM model_relations r JOIN derive_keys k ON k.key = r.model_key"""),
    ("serving", f"""{_INS} SELECT p.model_key, 'inference provider', p.provider || ' (' || coalesce(p.status, '?') || ')',
                    'metadata', 'inferenceProviderMapping', 1.0
                    FROM model_providers p JOIN derive_keys k ON k.key = p.model_key"""),
    ("serving", f"""{_INS} SELECT t.model_key, 'serving', CASE t.tag
                    WHEN 'endpoints_compatible' THEN 'Inference Endpoints compatible'
                    WHEN 'text-generation-inference' THEN 'text-generation-inference' END, 'metadata', 'tags', 0.9
                    FROM model_tags t JOIN derive_keys k ON k.key = t.model_key
                    WHERE t.tag IN ('endpoints_compatible', 'text-generation-inference')"""),
    ("serving", f"{_INS} SELECT m.key, 'serving', 'HF Inference (warm)', 'metadata', 'inference', 1.0 {_M} "
                "WHERE m.inference = 'warm'"),
    ("licence", f"""{_INS} SELECT m.key, 'licence terms', l.licence || ': ' || l.family || ', commercial use ' || l.commercial,
                    'metadata', 'license' || CASE l.via WHEN 'license_name' THEN ' + license_name'
                    WHEN 'license_link' THEN ' + license_link' ELSE '' END, 1.0
                    {_M} JOIN temp.model_licence l ON l.model_key = m.key WHERE l.licence IS NOT NULL"""),
    ("datasets", f"""{_INS} SELECT t.model_key, 'training data', substr(t.tag, 9), 'metadata', 'tags', 0.8
                     FROM model_tags t JOIN derive_keys k ON k.key = t.model_key WHERE t.tag LIKE 'dataset:%'"""),
    ("papers", f"""{_INS} SELECT t.model_key, 'paper', t.tag, 'metadata', 'tags', 0.9
                   FROM model_tags t JOIN derive_keys k ON k.key = t.model_key WHERE t.tag LIKE 'arxiv:%'"""),
    ("spaces", f"{_INS} SELECT m.key, 'used in Spaces', m.spaces_count || CASE WHEN m.spaces_count >= 100 "
               f"THEN '+' ELSE '' END || ' Spaces', 'metadata', 'spaces', 1.0 {_M} WHERE m.spaces_count > 0"),
    ("access", f"{_INS} SELECT m.key, 'access', 'gated (' || m.gated || ' approval)', 'metadata', 'gated', 1.0 {_M} "
               "WHERE m.gated IS NOT NULL AND m.gated NOT IN ('false', '0')"),
]


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


def derive(conn, everything: bool) -> int:
    """Rebuild the metadata capabilities of the models in `derive_keys` (all of them when
    `everything`); needs `temp.model_licence`. Returns the number of rows written."""
    prepare(conn)
    if everything:
        conn.execute("DELETE FROM model_capabilities")
    else:
        conn.execute("DELETE FROM model_capabilities WHERE model_key IN (SELECT key FROM derive_keys)")
    before = conn.total_changes
    for _what, sql in STATEMENTS:
        conn.execute(sql)
    return conn.total_changes - before


COUNT_SQL = """SELECT k.key, coalesce(meta.n, 0) + coalesce(card.n, 0)
    FROM derive_keys k
    LEFT JOIN (SELECT model_key, count(*) AS n FROM model_capabilities GROUP BY model_key) meta ON meta.model_key = k.key
    LEFT JOIN (SELECT c.model_key, count(DISTINCT c.capability || char(0) || c.detail) AS n FROM capabilities c
               WHERE NOT EXISTS (SELECT 1 FROM model_capabilities x WHERE x.model_key = c.model_key
                                 AND x.capability = c.capability AND x.detail = c.detail)
               GROUP BY c.model_key) card ON card.model_key = k.key"""

"""Model cards: front matter and body → sections, tables, code, links, evaluations, capabilities.

A card is data written by strangers: it is decoded leniently (invalid UTF-8 replaced and flagged),
capped in size (truncated and flagged), its YAML may be broken (kept as an error, the body still
parsed), its Markdown may hold raw HTML. The body is rendered with markdown-it-py and read with
BeautifulSoup; nothing here renders card text for people, and nothing is executed.

Evaluations come from `model-index` in the front matter and from results tables in the body, each
with where it was found. Capabilities are rows of (capability, detail, evidence kind, evidence
source, confidence); this module derives those the card itself supports, and equal inputs give equal
rows, in a stable order.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import yaml
from bs4 import BeautifulSoup
from markdown_it import MarkdownIt

from .bounded import TooBig, check_depth, load_yaml

MAX_CARD_BYTES = 512 * 1024
_MD = MarkdownIt("commonmark", {"html": True}).enable("table")
METRIC_WORDS = re.compile(r"\b(acc(uracy)?|f1|f-?score|bleu|rouge[-\w]*|em|exact( match)?|perplexity|ppl|wer|cer|"
                          r"precision|recall|spearman|pearson|mcc|chr-?f|map|ndcg|auc|miou|iou|score|top-?[15]|"
                          r"sacrebleu|meteor|bertscore)\b", re.I)
_METRIC_HEADER = re.compile(r"^\W*(metrics?|measures?)\b", re.I)
_MODEL_HEADER = re.compile(r"model|system|method|approach|architecture", re.I)
_SPLITS = {"dev", "test", "train", "validation", "valid", "eval"}
_VALUE_COLUMN = re.compile(r"value|result|score|ours|this model|^#?\s*$", re.I)  # this model's figure, not a dataset
_NUMBER = re.compile(r"^\s*[-+]?(\d+(?:[.,]\d+)?)\s*%?\s*(?:[±(].*)?$")


class CardError(ValueError):
    """A card that can't be parsed at all; the message is the quarantine reason."""


@dataclass
class ParsedCard:
    front_matter: dict = field(default_factory=dict)
    sections: list = field(default_factory=list)       # {level, title, path, paragraphs, list_items, code, tables}
    code_blocks: list = field(default_factory=list)    # {language, section, code}
    tables: list = field(default_factory=list)         # {section, header, rows}
    links: list = field(default_factory=list)          # {url, text, kind}
    evaluations: list = field(default_factory=list)    # {metric, value, dataset, subject, split, task, source, where}
    capabilities: list = field(default_factory=list)   # {capability, detail, evidence_kind, evidence_source, confidence}
    problems: list = field(default_factory=list)       # what was wrong with the input, and handled
    truncated: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def decode(raw: bytes) -> tuple[str, list, bool]:
    problems, truncated = [], False
    if len(raw) > MAX_CARD_BYTES:
        raw, truncated = raw[:MAX_CARD_BYTES], True
        problems.append(f"card over {MAX_CARD_BYTES:,} bytes: truncated")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        text = raw.decode("utf-8", errors="replace")
        if not truncated or e.start < len(raw) - 4:  # a cut through a character is the truncation's doing
            problems.append(f"invalid UTF-8 at byte {e.start}: replaced")
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n"), problems, truncated


def split_front_matter(text: str) -> tuple[dict, str, list]:
    """(front matter, body, problems). A card without front matter is all body."""
    if not text.startswith("---\n"):
        return {}, text, []
    end = re.search(r"^---[ \t]*$", text[4:], re.M)
    if end is None:
        return {}, text, ["front matter never closed: read as body"]
    yaml_text, body = text[4:4 + end.start()], text[4 + end.end():]
    try:
        data = load_yaml(yaml_text)  # bounded: depth, aliases and expanded size (see bounded.py)
    except TooBig as e:
        raise CardError(f"front matter refused: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark else ""
        return {}, body, [f"front matter is not valid YAML{where}: {getattr(e, 'problem', e)}"]
    if data is None:
        return {}, body, []
    if not isinstance(data, dict):
        return {}, body, [f"front matter is a {type(data).__name__}, not a mapping"]
    return data, body, []


def _link_kind(url: str) -> str:
    u = url.lower()
    if "arxiv.org" in u or "aclanthology" in u or "doi.org" in u or u.endswith(".pdf") or "openreview" in u:
        return "paper"
    if "huggingface.co/datasets/" in u:
        return "dataset"
    if "github.com" in u:
        return "github"
    if "huggingface.co/" in u:
        return "model"
    return "other"


def _cells(tr) -> list[str]:
    return [" ".join(c.get_text(" ", strip=True).split()) for c in tr.find_all(["td", "th"])]


def parse(raw: bytes | str) -> ParsedCard:
    """The card's findings; CardError (the quarantine reason) for a card outside the bounds or one
    that breaks a parser in any way: one card never stops a crawl."""
    try:
        return _parse(raw)
    except CardError:
        raise
    except (Exception, RecursionError) as e:  # noqa: BLE001 - a parser's bug quarantines one card
        raise CardError(f"card could not be parsed: {type(e).__name__}: {str(e)[:200]}") from None


def _parse(raw: bytes | str) -> ParsedCard:
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="surrogatepass")
    text, problems, truncated = decode(raw)
    front, body, fm_problems = split_front_matter(text)
    card = ParsedCard(front_matter=front, problems=problems + fm_problems, truncated=truncated)
    try:
        soup = BeautifulSoup(_MD.render(body), "html.parser")
    except Exception as e:  # noqa: BLE001 - a parser bug must quarantine one card, not stop a crawl
        raise CardError(f"body could not be parsed: {type(e).__name__}: {e}") from None
    _walk(soup, card)
    card.evaluations = model_index_evaluations(front) + table_evaluations(card.tables)
    card.capabilities = capabilities(card)
    return card


def _walk(soup, card: ParsedCard):
    root = {"level": 0, "title": "", "path": [], "paragraphs": [], "list_items": [], "code": 0, "tables": 0}
    stack, current = [root], root
    card.sections.append(root)
    for el in soup.find_all(True):
        name = el.name
        if name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            level = int(name[1])
            while stack[-1]["level"] >= level:
                stack.pop()
            title = " ".join(el.get_text(" ", strip=True).split())
            current = {"level": level, "title": title, "path": [s["title"] for s in stack[1:]] + [title],
                       "paragraphs": [], "list_items": [], "code": 0, "tables": 0}
            stack.append(current)
            card.sections.append(current)
        elif name == "p" and el.find_parent(["li", "table"]) is None:
            words = " ".join(el.get_text(" ", strip=True).split())
            if words:
                current["paragraphs"].append(words)
        elif name == "li" and el.find_parent("li") is None:
            words = " ".join(el.get_text(" ", strip=True).split())
            if words:
                current["list_items"].append(words)
        elif name == "pre":
            code = el.find("code")
            classes = (code.get("class") or []) if code else []
            lang = next((c[len("language-"):] for c in classes if c.startswith("language-")), None)
            card.code_blocks.append({"language": lang, "section": current["title"], "code": el.get_text()})
            current["code"] += 1
        elif name == "table":
            rows = el.find_all("tr")
            if rows:
                header, data = _cells(rows[0]), [_cells(r) for r in rows[1:]]
                card.tables.append({"section": current["title"], "path": list(current["path"]), "header": header,
                                    "rows": data})
                current["tables"] += 1
        elif name == "a" and el.get("href"):
            url = el["href"].strip()
            if url.startswith(("http://", "https://")):
                card.links.append({"url": url, "text": " ".join(el.get_text(" ", strip=True).split()),
                                   "kind": _link_kind(url)})
    if not root["paragraphs"] and not root["list_items"] and not root["code"] and not root["tables"]:
        card.sections.remove(root)


# -- evaluations -------------------------------------------------------------------------------------
def _number(cell) -> float | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, (int, float)):
        return float(cell)
    m = _NUMBER.match(str(cell).replace("**", ""))
    return float(m.group(1).replace(",", ".")) if m else None


_PAIRED = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*%?\s*/\s*([-+]?\d+(?:\.\d+)?)\s*%?\s*$")


def _metric_values(header: str, cell) -> list[tuple[str, float]]:
    """A results cell: one value under its metric, or two ("58.04/60.95") under a header naming two
    metrics ("EM/F1"), each under its own name."""
    value = _number(cell)
    if value is not None:
        return [(header, value)]
    names = [n.strip() for n in header.split("/")]
    pair = _PAIRED.match(str(cell).replace("**", ""))
    if pair and len(names) == 2 and all(names):
        return [(names[0], float(pair.group(1))), (names[1], float(pair.group(2)))]
    return []


def _benchmark_name(ds: dict) -> str | None:
    """The dataset a model-index result is on, with its config: GLUE's sst2 and mnli are two
    benchmarks under one dataset id (`glue/sst2`, `glue/mnli`), never one `glue`."""
    base = ds.get("type") or ds.get("name")
    base = str(base) if base is not None else None
    config = ds.get("config")
    if base and isinstance(config, str) and config.strip() and config.strip().lower() not in ("default", "none"):
        config = config.strip()
        return base if base.lower().endswith("/" + config.lower()) else f"{base}/{config}"
    return base


def model_index_evaluations(front: dict) -> list[dict]:
    out = []
    index = front.get("model-index")
    if not isinstance(index, list):
        return out
    for i, entry in enumerate(index):
        for j, result in enumerate((entry or {}).get("results") or [] if isinstance(entry, dict) else []):
            if not isinstance(result, dict):
                continue
            task = (result.get("task") or {}) if isinstance(result.get("task"), dict) else {}
            ds = (result.get("dataset") or {}) if isinstance(result.get("dataset"), dict) else {}
            for k, metric in enumerate(result.get("metrics") or []):
                if not isinstance(metric, dict):
                    continue
                value = _number(metric.get("value"))
                if value is None:
                    continue
                out.append({"metric": str(metric.get("name") or metric.get("type")), "value": value,
                            "dataset": _benchmark_name(ds), "subject": None, "split": ds.get("split"),
                            "task": task.get("type"), "source": "model-index",
                            "where": f"model-index[{i}].results[{j}].metrics[{k}]"})
    return out


def table_evaluations(tables: list) -> list[dict]:
    """Results tables: metric columns (a row per dataset or model) or metric rows (a column per dataset)."""
    out = []
    for t, table in enumerate(tables):
        header, rows = table["header"], table["rows"]
        where = f"section '{table['section'] or '(top)'}', table {t + 1}"
        first = header[0] if header else ""
        metric_cols = [i for i, h in enumerate(header) if i > 0 and METRIC_WORDS.search(h)]
        if metric_cols and not _METRIC_HEADER.search(first):
            # Rows are datasets (or, in comparison tables, models: then the label is the subject).
            about_models = bool(_MODEL_HEADER.search(first))
            for r, row in enumerate(rows):
                label = (row[0] if row else "") or None
                for i in metric_cols:
                    cell = row[i] if i < len(row) else ""
                    for metric, value in _metric_values(header[i], cell):
                        out.append({"metric": metric, "value": value, "dataset": None if about_models else label,
                                    "subject": label if about_models else None, "split": None, "task": None,
                                    "source": "card table", "where": f"{where}, row {r + 1}"})
            continue
        if header and (_METRIC_HEADER.search(first) or METRIC_WORDS.search(first) is None):
            metric_rows = [row for row in rows if row and METRIC_WORDS.search(row[0]) and len(row[0]) < 40]
            for r, row in enumerate(metric_rows):
                for i, cell in enumerate(row[1:], 1):
                    value = _number(cell)
                    if value is not None and i < len(header):
                        column = header[i]
                        split = column.lower() if column.lower() in _SPLITS else None
                        dataset = None if split or _VALUE_COLUMN.search(column) else (column or None)
                        out.append({"metric": row[0], "value": value, "dataset": dataset, "subject": None,
                                    "split": split, "task": None, "source": "card table",
                                    "where": f"{where}, row '{row[0]}', column '{column}'"})
    return out


# -- capabilities the card supports -------------------------------------------------------------------
_USE_SECTIONS = re.compile(r"intended use|^uses\b|use cases?|applications?", re.I)
_HOWTO_SECTIONS = re.compile(r"how to use|usage|example|quick ?start|getting started", re.I)
_LIMIT_SECTIONS = re.compile(r"limitation|bias|risks?\b|out-of-scope|out of scope|caveat|ethical", re.I)
_TRAIN_SECTIONS = re.compile(r"^(training|fine-?tuning|pre-?training)", re.I)
_LIBRARIES = [("transformers", re.compile(r"\bfrom transformers import|\bimport transformers|AutoModel|pipeline\(")),
              ("diffusers", re.compile(r"\bfrom diffusers import|\bimport diffusers")),
              ("sentence-transformers", re.compile(r"\bfrom sentence_transformers import")),
              ("flair", re.compile(r"\bfrom flair\.")), ("fairseq", re.compile(r"\bfairseq\b")),
              ("simpletransformers", re.compile(r"\bsimpletransformers\b"))]
_TRAINING_CODE = re.compile(r"\bTrainer\(|run_[a-z_]+\.py|train\.py|accelerate launch|finetune|fine-tune", re.I)
_LOADS = re.compile(r"\.from_pretrained\(|\bpipeline\(|SentenceTransformer\(|hf_hub_download\(")
_BIBTEX_TITLE = re.compile(r"\btitle\s*=\s*[{\"]+\s*(.+?)\s*[}\"]+\s*,?\s*$", re.I | re.M)
_PAPER_SECTIONS = re.compile(r"citation|paper|reference|bibtex|publication", re.I)
_QUOTED_TITLE = re.compile(r"[\"“]([A-Z][^\"”]{12,200})[\"”]")
_DATA_SECTIONS = re.compile(r"training data|datasets?\b|data used|training corpus|pre-?training data", re.I)
# the architecture as prose says it: "12 layers", "768 hidden", "16 attention heads", "transformer-align"
_ARCH_PROSE = [
    (re.compile(r"\b(\d{1,3})[- ](?:transformer )?(?:layers?|blocks?)\b", re.I), "{} layers"),
    (re.compile(r"\b(\d{1,3})[- ](?:attention[- ])?heads\b", re.I), "{} attention heads"),
    (re.compile(r"\bhidden (?:size|dimension)s? (?:of )?(\d{2,5})\b|\b(\d{2,5})[- ]hidden\b", re.I), "hidden size {}"),
    (re.compile(r"\b(transformer-align|transformer-big|transformer-base|encoder-decoder|decoder-only|encoder-only|"
                r"mixture[- ]of[- ]experts|state[- ]space model)\b", re.I), "{}"),
]
# tags that name a task in another vocabulary
TAG_TASKS = {"masked-lm": "fill-mask", "mlm": "fill-mask", "causal-lm": "text-generation", "clm": "text-generation",
             "seq2seq": "text2text-generation", "ner": "token-classification", "pos": "token-classification",
             "sentiment-analysis": "text-classification", "sentiment": "text-classification",
             "asr": "automatic-speech-recognition", "speech-recognition": "automatic-speech-recognition",
             "tts": "text-to-speech", "embeddings": "feature-extraction", "qa": "question-answering",
             "extractive-qa": "question-answering", "nli": "zero-shot-classification", "stable-diffusion": "text-to-image",
             "semantic-segmentation": "image-segmentation", "chatbot": "text-generation"}


def _as_list(v) -> list:
    if v is None:
        return []
    return [x for x in v if isinstance(x, (str, int, float))] if isinstance(v, list) else [v]


def _first_sentence(text: str, limit: int = 200) -> str:
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    s = m.group(1) if m else text
    return s if len(s) <= limit else s[: limit - 1] + "…"


def capabilities(card: ParsedCard) -> list[dict]:
    rows = []

    def add(cap, detail, kind, source, confidence):
        rows.append({"capability": cap, "detail": str(detail), "evidence_kind": kind, "evidence_source": source,
                     "confidence": confidence})

    fm = card.front_matter
    if isinstance(fm.get("pipeline_tag"), str):
        add("task", fm["pipeline_tag"], "card front matter", "pipeline_tag", 0.9)
    for tag in _as_list(fm.get("tags")):
        if str(tag) in TASK_TAGS:
            add("task", tag, "card front matter", "tags", 0.7)
        elif str(tag).lower() in TAG_TASKS:
            add("task", TAG_TASKS[str(tag).lower()], "card front matter", f"tags ({tag})", 0.6)
    for lang in _as_list(fm.get("language")):
        add("language", lang, "card front matter", "language", 0.9)
    for lic in _as_list(fm.get("license")):
        add("license", lic if lic != "other" or not fm.get("license_name") else f"other: {fm['license_name']}",
            "card front matter", "license", 0.9)
    for ds in _as_list(fm.get("datasets")):
        add("training data", ds, "card front matter", "datasets", 0.8)
    for base in _as_list(fm.get("base_model")):
        add("fine-tuned from", base, "card front matter", "base_model", 0.9)
    if isinstance(fm.get("library_name"), str):
        add("library", fm["library_name"], "card front matter", "library_name", 0.9)
    widgets = fm.get("widget")
    for w in widgets if isinstance(widgets, list) else []:
        if isinstance(w, dict):
            example = w.get("text") or w.get("src") or w.get("example_title")
            if isinstance(example, str) and example.strip():
                add("widget example", _first_sentence(" ".join(example.split()), 120), "card front matter", "widget",
                    0.6)
    usage_seen = False
    for block in card.code_blocks:
        where = f"code block in '{block['section'] or '(top)'}'"
        if not usage_seen and _LOADS.search(block["code"]) and not _HOWTO_SECTIONS.search(block["section"] or ""):
            add("usage documented", "code that loads the model", "card code", where, 0.6)
            usage_seen = True
        for title in _BIBTEX_TITLE.findall(block["code"]):
            add("paper", " ".join(title.replace("{", "").replace("}", "").split()), "card code", f"BibTeX in {where}", 0.7)
        for lib, pattern in _LIBRARIES:
            if pattern.search(block["code"]):
                add("library", lib, "card code", f"code block in '{block['section'] or '(top)'}'", 0.7)
        if _TRAINING_CODE.search(block["code"]):
            add("fine-tuning", "training script in the card", "card code",
                f"code block in '{block['section'] or '(top)'}'", 0.6)
    for section in card.sections:
        title, text = section["title"], (section["paragraphs"] + section["list_items"] + [""])[0]
        if not title:
            continue
        if _HOWTO_SECTIONS.search(title) and (section["code"] or text):
            add("usage documented", f"{section['code']} code example(s)" if section["code"] else _first_sentence(text),
                "card section", title, 0.7)
        if not text:  # a heading whose content is in its subsections: they speak for themselves
            continue
        if _USE_SECTIONS.search(title):  # "Intended uses & limitations": its text is about the uses
            add("intended use", _first_sentence(text), "card section", title, 0.6)
        elif _LIMIT_SECTIONS.search(title):
            add("limitations stated", _first_sentence(text), "card section", title, 0.6)
        if _TRAIN_SECTIONS.search(title):
            add("training described", _first_sentence(text), "card section", title, 0.5)
        if _DATA_SECTIONS.search(title):
            for item in section["list_items"][:20]:
                name = re.split(r"[:(—–]| - ", item, maxsplit=1)[0].strip(" *_`")
                if 2 <= len(name) <= 80:
                    add("training data", name, "card section", f"list in '{title}'", 0.6)
        if _PAPER_SECTIONS.search(title):
            for para in section["paragraphs"] + section["list_items"]:
                for t in _QUOTED_TITLE.findall(para):
                    add("paper", t.strip(" .,"), "card section", title, 0.6)
    prose = " ".join(p for sec in card.sections for p in sec["paragraphs"] + sec["list_items"])
    for pattern, fmt in _ARCH_PROSE:
        m = pattern.search(prose)
        if m:
            value = next(g for g in m.groups() if g)
            add("architecture", fmt.format(value.lower() if fmt == "{}" else value), "card prose",
                _first_sentence(prose[max(0, m.start() - 60):m.end() + 60].strip(), 160), 0.5)
    for ev in card.evaluations:
        detail = (f"{ev['metric']} {ev['value']:g}" + (f" on {ev['dataset']}" if ev["dataset"] else "")
                  + (f" for {ev['subject']}" if ev["subject"] else "")
                  + (f" ({ev['split']})" if ev["split"] else ""))
        add("benchmark result", detail, ev["source"], ev["where"], 0.9 if ev["source"] == "model-index" else 0.7)
    for link in card.links:
        if link["kind"] == "paper":
            add("paper", link["url"], "card link", link["text"] or link["url"], 0.8)
        elif link["kind"] == "github":
            repo = re.match(r"https?://(?:www\.)?github\.com/([\w.-]+/[\w.-]+)", link["url"])
            if repo:
                add("project repository", "github.com/" + repo.group(1).removesuffix(".git"), "card link",
                    link["text"] or link["url"], 0.7)
    seen, out = set(), []
    for row in rows:  # deterministic: first occurrence wins, order of discovery kept
        key = (row["capability"], row["detail"])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


TASK_TAGS = {"text-generation", "text-classification", "token-classification", "question-answering",
             "summarization", "translation", "fill-mask", "feature-extraction", "sentence-similarity",
             "zero-shot-classification", "text2text-generation", "conversational", "text-to-image",
             "image-classification", "image-segmentation", "object-detection", "automatic-speech-recognition",
             "text-to-speech", "audio-classification", "image-to-text", "image-text-to-text", "table-question-answering"}

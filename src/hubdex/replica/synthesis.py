"""The one synthesis model for figures of real models that no source gives (docs/REPLICA.md, "Real models").

Every function is a pure function of the model id (through a hash: the same id gets the same figure on
every machine) and of what is known about the model. Constants were calibrated on the 35 recorded real
bodies (`data/real/huggingface_hub-cassettes`): their median downloads-per-like by task, shrunk toward the
overall median (2,140) where a task has only one or two bodies.
"""

from __future__ import annotations

import hashlib
import math
import re
from statistics import NormalDist

DAY = 86400
CREATED_PLACEHOLDER = 1646263744  # 2022-03-02T23:29:04Z, the Hub's "created before dates were stored"

# 30-day downloads per like, by task (recorded medians: text-generation 488, text-to-image 291, fill-mask
# 35,049, sentence-similarity 34,454, image-classification 11,174, ASR 39,130, ...; shrunk toward 2,140).
DOWNLOADS_PER_LIKE = {"text-generation": 500, "image-text-to-text": 500, "text-to-image": 300,
                      "image-to-image": 300, "sentence-similarity": 8000, "feature-extraction": 8000,
                      "fill-mask": 8000, "image-classification": 6000, "zero-shot-image-classification": 6000,
                      "automatic-speech-recognition": 8000}
DEFAULT_DOWNLOADS_PER_LIKE = 2140
# Median likes of a model whose likes no source gives, by task (from the corpus's own OLL likes for text
# generation; a deliberately modest figure elsewhere), times OFFICIAL_LIKES for an official provider.
LIKES_MEDIAN = {"text-generation": 12, "image-classification": 4, "sentence-similarity": 30,
                "zero-shot-image-classification": 15, "automatic-speech-recognition": 40}
DEFAULT_LIKES_MEDIAN = 8
OFFICIAL_LIKES = 5

DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1}

# Parameter counts that model names state, for models no source sizes (bert-base, t5-small, ...).
_NAME_SIZES = [("xxl", 11e9), ("xl", 3e9), ("large", 340e6), ("base", 110e6), ("small", 60e6),
               ("mini", 30e6), ("tiny", 15e6)]
TASK_PARAMS = {"text-generation": 1.5e9, "text-to-image": 3.5e9, "image-to-image": 3.5e9,
               "automatic-speech-recognition": 300e6, "image-classification": 60e6, "sentence-similarity": 110e6,
               "text-to-speech": 80e6}
DEFAULT_PARAMS = 150e6


def unit(model_id: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by the id and the purpose."""
    h = hashlib.sha1(f"{salt}:{model_id}".encode()).digest()
    return int.from_bytes(h[:7], "big") / 2**56


def normal(model_id: str, salt: str) -> float:
    return NormalDist().inv_cdf(min(max(unit(model_id, salt), 1e-6), 1 - 1e-6))


def likes(model_id: str, task: str | None, official: bool) -> int:
    """Likes no source gives: lognormal around the task's median (sigma 1.2), x5 for an official provider."""
    median = LIKES_MEDIAN.get(task or "", DEFAULT_LIKES_MEDIAN) * (OFFICIAL_LIKES if official else 1)
    return int(median * math.exp(1.2 * normal(model_id, "likes")))


def downloads(model_id: str, task: str | None, like_count: int) -> int:
    """30-day downloads: likes x the task's downloads-per-like, lognormal noise (sigma 0.8)."""
    ratio = DOWNLOADS_PER_LIKE.get(task or "", DEFAULT_DOWNLOADS_PER_LIKE)
    return int(max(like_count, 0.3) * ratio * math.exp(0.8 * normal(model_id, "downloads")))


def downloads_all_time(model_id: str, last30: int, created: int, now: int) -> int:
    """All-time downloads: the 30-day figure times the months the model has existed, each month 60-100%
    as busy as the last one (older months were quieter): never below the 30-day figure."""
    months = max((now - created) / (30 * DAY), 1.0)
    busy = 0.6 + 0.4 * unit(model_id, "all-time")
    return int(last30 * max(1.0, months * busy))


def trending(model_id: str, like_count: int, created: int, now: int) -> int:
    """Trending score: likes of recent models (decaying with a 30-day scale), at most the likes."""
    age_days = max((now - created) / DAY, 0.0)
    return int(like_count * math.exp(-age_days / 30.0) * (0.5 + 0.5 * unit(model_id, "trending")))


def created(model_id: str, lo: int, hi: int) -> int:
    """An upload time no source gives: uniform in [lo, hi)."""
    return int(lo + (hi - lo) * unit(model_id, "created"))


def modified(model_id: str, created_at: int, now: int) -> int:
    """The last commit: within a year of creation (most repos are touched soon after), never after now."""
    span = max(min(now, created_at + 365 * DAY) - created_at, 0)
    return int(created_at + span * unit(model_id, "modified") ** 3)


def params_from_text(model_id: str, text: str, task: str | None) -> tuple[int, str]:
    """A parameter count for a model no source sizes: stated in its card ("12 billion parameter"), in its
    name ("7B", "350m", "-large"), or the task's median; with where it came from."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*(billion|million|[BM])\s*[- ]?param", text or "")
    if m:
        scale = 1e9 if m.group(2) in ("billion", "B") else 1e6
        return int(float(m.group(1)) * scale), "card text"
    name = model_id.split("/")[-1].lower()
    m = re.search(r"(?:^|[-_.])(\d+(?:\.\d+)?)([bm])(?:$|[-_.])", name)
    if m:
        return int(float(m.group(1)) * (1e9 if m.group(2) == "b" else 1e6)), "name"
    for word, count in _NAME_SIZES:
        if re.search(rf"(?:^|[-_.]){word}(?:$|[-_.\d])", name):
            return int(count), "name"
    return int(TASK_PARAMS.get(task or "", DEFAULT_PARAMS)), "task median"


def sha(model_id: str) -> str:
    return hashlib.sha1(f"commit:{model_id}".encode()).hexdigest()


def object_id(model_id: str, created_at: int) -> str:
    """A Mongo ObjectId as the Hub's: creation seconds, then 16 hex digits (here from the id's hash)."""
    ts = 0x621FFDC0 if created_at <= CREATED_PLACEHOLDER else created_at
    return f"{ts:08x}{hashlib.sha1(f'oid:{model_id}'.encode()).hexdigest()[:16]}"

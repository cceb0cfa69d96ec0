"""Who may be a rival: the gates an edge of the match graph passes before it counts as competition.

Evidence says two models were put side by side; these rules say whether a person choosing would weigh
one against the other:
  * family: the same family at another size, generation or tuning is listed apart ("in the family"),
    never as a rival. Same family = the same author and the same name stem (`Llama-3.1-8B-Instruct`
    and `Llama-3.2-3B-Instruct` of meta-llama: stem `llama`; `bge-large-en-v1.5` and
    `bge-small-en-v1.5` of BAAI: `bge`), or one declares the other as its base model.
  * size: rivals are within SIZE_RATIO in parameters, unless a comparison table names the two
    together (an author who compares a 7B with a 70B says they compete). Unknown size passes: unknown
    is not a mismatch.
  * language: a model stated for English only and one for Danish only are not rivals. Languages come
    from the tags (ISO 639-1 codes, as the Hub writes a card's `language:` into them) and from words in
    the name (`-german-`, `-chinese`); `multilingual` (or more than LANG_MANY languages) competes with
    every language. No stated language passes.
"""

from __future__ import annotations

import math
import re

import numpy as np

SIZE_RATIO = 4.0

# ISO 639-1, and the few 639-3 codes the Hub's cards use for languages 639-1 lacks.
ISO_639_1 = set("""aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de
dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it
iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd
ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su
sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu""".split())
ISO_639_3 = {"lzh", "yue", "fil", "ceb", "haw", "nds", "gsw", "wuu", "hak", "nan"}
# The 639-3 codes that name a 639-1 language (MTEB-style tags: `eng`, `rus`): counted as that language.
ISO_639_3_TO_1 = {"eng": "en", "rus": "ru", "deu": "de", "fra": "fr", "zho": "zh", "cmn": "zh", "spa": "es",
                  "jpn": "ja", "kor": "ko", "ara": "ar", "por": "pt", "ita": "it", "nld": "nl", "pol": "pl",
                  "tur": "tr", "vie": "vi", "hin": "hi", "ind": "id", "dan": "da", "swe": "sv", "fin": "fi",
                  "nor": "no", "nob": "nb", "ces": "cs", "ukr": "uk", "fas": "fa", "pes": "fa", "heb": "he",
                  "tha": "th", "ell": "el", "bul": "bg", "ron": "ro", "hun": "hu", "ben": "bn", "urd": "ur",
                  "tam": "ta", "tel": "te", "msa": "ms", "zsm": "ms", "cat": "ca", "slk": "sk", "hrv": "hr",
                  "srp": "sr", "slv": "sl", "lit": "lt", "lav": "lv", "est": "et", "kat": "ka", "hye": "hy"}
MULTILINGUAL = "multilingual"
LANG_MANY = 5  # a model stated for this many languages or more serves "many": it competes with each

# Name words that state a language (`bert-base-chinese`, `german-sentiment-bert`, `-danish-`).
_NAME_LANG = {"english": "en", "german": "de", "chinese": "zh", "french": "fr", "spanish": "es", "danish": "da",
              "dutch": "nl", "arabic": "ar", "japanese": "ja", "korean": "ko", "russian": "ru", "turkish": "tr",
              "italian": "it", "portuguese": "pt", "polish": "pl", "swedish": "sv", "norwegian": "no",
              "finnish": "fi", "indonesian": "id", "vietnamese": "vi", "hindi": "hi", "persian": "fa",
              "bulgarian": "bg", "greek": "el", "czech": "cs", "hebrew": "he", "thai": "th", "ukrainian": "uk",
              "arabert": "ar", "camembert": "fr", "rubert": "ru", "multilingual": MULTILINGUAL}
_WORD = re.compile(r"[a-z]+")


def languages(tags, model_id: str) -> frozenset:
    """The languages a model states: language tags, then language words in its name."""
    out = {ISO_639_3_TO_1.get(t, t) for t in tags
           if t in ISO_639_1 or t in ISO_639_3 or t in ISO_639_3_TO_1 or t == MULTILINGUAL}
    for w in _WORD.findall(model_id.split("/")[-1].lower()):
        if w in _NAME_LANG:
            out.add(_NAME_LANG[w])
    return frozenset(out)


def languages_compatible(a: frozenset, b: frozenset) -> bool:
    if not a or not b or MULTILINGUAL in a or MULTILINGUAL in b:
        return True
    if len(a) >= LANG_MANY or len(b) >= LANG_MANY:
        return True
    return bool(a & b)


# -- family ----------------------------------------------------------------------------------------
def family_stem(model_id: str) -> str:
    """The name's family stem: its first word, lower-cased, without the version it carries
    (`Qwen2.5-7B-Instruct` and `Qwen2.5-Coder-7B` are `qwen`, `gpt2` is `gpt`, `wav2vec2` is
    `wav2vec`, `resnet50.a1_in1k` is `resnet`; a word left shorter than 2 letters stays whole: `t5`,
    `e5`). A first word that is only part of the author's name (`Meta` of meta-llama's `Meta-Llama-3`,
    followed by another part) or a language word (`multilingual-e5`) gives way to the next one."""
    author, _, name = model_id.lower().rpartition("/")
    words = [w for w in re.split(r"[-_ .]", name) if w]
    if not words:
        return name
    author_words = set(re.split(r"[-_]", author)) - {author}
    while len(words) > 1 and ((words[0] in author_words and words[1] in author_words) or words[0] in _NAME_LANG):
        words.pop(0)
    first = words[0]
    bare = re.sub(r"[\d]+$", "", first)
    return bare if len(bare) >= 2 else first


_SIZE_WORD = re.compile(r"(?:^|[-_.])(\d+(?:\.\d+)?)([bm])(?=$|[-_.])", re.I)


def params_from_name(model_id: str) -> int:
    """Parameters a name states (`-8B-`, `-135M`, `1.5b`), 0 when it states none. Mixture names
    (`8x7B`) state no single size here."""
    name = model_id.split("/")[-1]
    if re.search(r"\d+x\d", name, re.I):
        return 0
    hit = _SIZE_WORD.search(name)
    if not hit:
        return 0
    return int(float(hit.group(1)) * (1e9 if hit.group(2).lower() == "b" else 1e6))


def size_ok(pa: np.ndarray, pb: np.ndarray, ratio: float = SIZE_RATIO) -> np.ndarray:
    """Within `ratio` in parameters, or a size unknown (0)."""
    known = (pa > 0) & (pb > 0)
    hi, lo = np.maximum(pa, pb), np.maximum(np.minimum(pa, pb), 1)
    return ~known | (hi <= lo * ratio)


def size_gap(pa: int, pb: int) -> float:
    return math.inf if not pa or not pb else max(pa, pb) / min(pa, pb)

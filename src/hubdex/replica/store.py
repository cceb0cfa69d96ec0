"""The replica's model store: one row per model, held as numpy columns.

A million models must fit in well under 300 MB, so nothing per model is a Python object: ids are
derived from the row number and a few small codes, and every detail (tags, files, cards) is
rendered on demand by `render.py`. Real recorded models and hand-described demo models are rows
too, with their real body attached in `bodies`, so that sorting, filtering and keyset pagination
treat every model alike.
"""

from __future__ import annotations

import threading

import numpy as np

from . import vocab

# Column name -> dtype. Categorical columns index into a `Vocabulary`.
COLUMNS = {
    "alive": np.bool_,
    "oid_hi": np.uint64,      # first 16 hex digits of the Mongo _id: creation time << 32 | row
    "oid_lo": np.uint32,      # its last 8 (real ids share their first 16 digits: both orders the keyset)
    "created": np.uint32,     # createdAt, epoch seconds
    "modified": np.uint32,    # lastModified, epoch seconds
    "version": np.uint16,     # bumped by each update; feeds sha, files and card text
    "author": np.uint32,      # index into Store.authors
    "name_code": np.uint32,   # packed word / size / variant codes of the repo name
    "pipeline": np.uint8,
    "library": np.uint8,
    "license": np.uint8,
    "other_license": np.uint8,
    "gated": np.uint8,        # 0 false, 1 "auto", 2 "manual"
    "disabled": np.bool_,
    "lang": np.uint8,
    "dataset": np.uint8,
    "arch": np.uint8,         # model_type index in the pipeline's list
    "downloads": np.uint32,   # last 30 days
    "downloads_all": np.int64,
    "likes": np.uint32,
    "trending": np.int32,
    "params": np.int64,       # parameter count, 0 when unknown
    "fmt": np.uint16,         # bitmask of vocab.FORMATS
    "relation": np.uint8,     # index into vocab.RELATIONS
    "parent": np.int32,       # row of the base model, -1 for none
    "spaces": np.uint8,       # number of Spaces using the model (the Hub caps the list at 100)
    "providers": np.uint32,   # bitmask of vocab.PROVIDERS serving the model
    "has_evals": np.bool_,
    "league": np.int32,       # the league of rivals the row belongs to (leagues.py), -1 for none
}

SORT_COLUMNS = {
    "downloads": "downloads",
    "likes": "likes",
    "lastModified": "modified",
    "createdAt": "created",
    "trendingScore": "trending",
}


class Vocabulary:
    """A growable list of category values with their codes (0 is reserved for None)."""

    def __init__(self, values=()):
        self.values: list = [None]
        self.codes: dict = {None: 0}
        for v in values:
            self.code(v)

    def code(self, value) -> int:
        c = self.codes.get(value)
        if c is None:
            c = len(self.values)
            if c > 255:
                raise ValueError("vocabulary full")
            self.values.append(value)
            self.codes[value] = c
        return c


class Store:
    """Columns for every model the replica knows, alive or deleted, plus the few per-model extras."""

    def __init__(self, capacity: int = 1024):
        self.lock = threading.RLock()
        self.n = 0
        self.cols = {name: np.zeros(max(capacity, 16), dtype) for name, dtype in COLUMNS.items()}
        self.cols["parent"][:] = -1
        self.cols["league"][:] = -1
        self.league_members: dict[int, list[int]] = {}  # league -> its rows (leagues.py)
        self.league_skips: set[int] = set()             # members that don't report their league's benchmark
        self.table_decoys: dict[int, int] = {}          # member -> a non-rival its comparison table names
        self.league_siblings: dict[int, int] = {}       # a 10x family sibling (no rival) -> the league it mimics
        self.pipelines = Vocabulary(p[0] for p in vocab.PIPELINES if p[0])
        self.libraries = Vocabulary()
        self.licenses = Vocabulary(lic for lic, _ in vocab.LICENSES if lic)
        self.languages = Vocabulary()  # codes of language *sets* (tuples)
        self.datasets = Vocabulary(d for d in vocab.DATASETS if d)
        self.languages.code(())
        self.authors: list[str] = []
        self.bodies: dict[int, dict] = {}        # row -> real or hand-written default body
        self.provider_maps: dict[int, dict] = {}  # row -> recorded inferenceProviderMapping (dict form)
        self.cards: dict[int, bytes] = {}         # row -> real README.md bytes
        self.renamed: dict[int, str] = {}         # row -> its id after a rename
        self.first_ids: dict[int, str] = {}       # row -> its id before its first rename (what its card says)
        self.evals: dict[int, list] = {}          # row -> its evalResults items (real results, evidence.py)
        self.files_text: dict[int, dict] = {}     # row -> {path: JSON doc} of files that carry a source's facts
        self.weights_of: dict[int, tuple] = {}    # body row -> (parameters, dtype) its weight files are made of
        self.provenance: dict[int, dict] = {}     # row -> {field: its source, or "synthesised: <rule>"}
        self.hand_written: set[int] = set()       # rows of the demo's hand-described bodies (data/demo/)
        self.evidence = None                      # evidence.Evidence: benchmark datasets, leaderboards, Spaces
        self.id_rows: dict[str, int] = {}         # ids that can't be parsed back to a row
        self.redirects: dict[str, int] = {}       # old id -> row (307 to the current id)
        self.mutations = 0                        # bumped on any change; keys the derived caches
        self.shared: dict = {}                    # render caches of sub-structures shared by many rows
        self.clock = 0                            # the replica's "now", epoch seconds (scenario steps advance it)
        self._sorted: dict[str, tuple] = {}
        self._children = None
        self._ids_blob = None

    # -- growth -------------------------------------------------------------------------------
    def reserve(self, extra: int) -> range:
        """Make room for `extra` rows and return their row numbers."""
        need = self.n + extra
        cap = len(self.cols["alive"])
        if need > cap:
            new_cap = max(need, int(cap * 1.5))
            for name, arr in self.cols.items():
                grown = np.zeros(new_cap, arr.dtype)
                if name in ("parent", "league"):
                    grown[:] = -1
                grown[: self.n] = arr[: self.n]
                self.cols[name] = grown
        rows = range(self.n, need)
        self.n = need
        return rows

    def changed(self):
        self.mutations += 1
        self._sorted.clear()
        self._children = None
        self._ids_blob = None

    def col(self, name):
        return self.cols[name][: self.n]

    # -- ids ----------------------------------------------------------------------------------
    def oid(self, row: int) -> str:
        body = self.bodies.get(row)
        if body is not None:
            return body["_id"]
        return f"{int(self.cols['oid_hi'][row]):016x}{int(self.cols['oid_lo'][row]):08x}"

    def model_id(self, row: int) -> str:
        rid = self.renamed.get(row)
        if rid is not None:
            return rid
        body = self.bodies.get(row)
        if body is not None:
            return body["id"]
        return f"{self.authors[int(self.cols['author'][row])]}/{self.repo_name(row)}"

    def repo_name(self, row: int) -> str:
        return self.repo_names([row], [int(self.cols["name_code"][row])])[0]

    def repo_names(self, rows, codes) -> list[str]:
        """Names of synthetic rows: `Word-Size[-Variant][-Suffix]-<row in base 36>`. The row keeps names
        unique and lets `find` map an id back to its row with no index."""
        prefixes = self.shared.setdefault("name_prefixes", {})
        pipes = self.cols["pipeline"][np.asarray(rows, dtype=np.int64)].tolist()
        out = []
        for row, code, pipe in zip(rows, codes, pipes):
            # word, task word and size are cached together (a few thousand prefixes at any N); the variant
            # and suffix come from short lists of ready-made "-x" strings.
            key = (code & 0x1FF, pipe)
            head = prefixes.get(key)
            if head is None:
                task = self.pipelines.values[key[1]]
                variants = vocab.VARIANTS_OF_GROUP[vocab.GROUP_OF_TASK.get(task, "encoder")]
                parts = [vocab.NAME_WORDS[code & 0x1F], vocab.TASK_WORDS.get(task, ""), vocab.SIZES[(code >> 5) & 0xF]]
                head = prefixes[key] = ("-".join(x for x in parts if x),
                                        [f"-{v}" if v else "" for v in variants])
            stem, variants = head
            variant = variants[((code >> 9) & 0xF) % len(variants)]
            out.append(f"{stem}{variant}{_SUFFIX_PARTS[(code >> 13) & 0x7]}-{_b36(row)}")
        return out

    def find(self, model_id: str) -> tuple[int | None, bool]:
        """Row for an id, and whether the id is an old name (the caller answers 307)."""
        row = self.id_rows.get(model_id)
        if row is not None:
            return row, False
        row = self.redirects.get(model_id)
        if row is not None:
            return row, True
        tail = model_id.rsplit("-", 1)[-1]
        try:
            row = int(tail, 36)
        except ValueError:
            return None, False
        if 0 <= row < self.n and row not in self.bodies and self.model_id(row) == model_id:
            return row, False
        return None, False

    def register_id(self, row: int, model_id: str):
        self.id_rows[model_id] = row

    def written_id(self, row: int) -> str:
        """The id as the model's own files wrote it: a rename changes the repo's name, not its card."""
        return self.first_ids.get(row) or self.model_id(row)

    def rename(self, row: int, new_id: str):
        old = self.model_id(row)
        self.first_ids.setdefault(row, old)
        self.redirects[old] = row
        self.id_rows.pop(old, None)
        self.renamed[row] = new_id
        self.id_rows[new_id] = row
        if new_id in self.redirects:
            del self.redirects[new_id]
        self.changed()

    def ids_blob(self) -> tuple[bytes, np.ndarray]:
        """All current ids, lower-cased and joined by newlines, with each row's start offset: the
        case-insensitive substring search of `search=` and quicksearch, in C (lowered once per
        mutation, not once per query: bytes.lower() changes ASCII only, so offsets hold)."""
        if self._ids_blob is None:
            names = self.repo_names(range(self.n), self.col("name_code").tolist())
            authors, author_col = self.authors, self.col("author").tolist()
            special = self.bodies.keys() | self.renamed.keys()
            ids = [self.model_id(r) if r in special else f"{authors[a]}/{nm}"
                   for r, (a, nm) in enumerate(zip(author_col, names))]
            blob = ("\n".join(ids) + "\n").encode().lower()
            lens = np.fromiter((len(i) + 1 for i in ids), dtype=np.int64, count=len(ids))
            starts = np.zeros(len(ids), dtype=np.int64)
            np.cumsum(lens[:-1], out=starts[1:])
            self._ids_blob = (blob, starts)
        return self._ids_blob

    # -- derived, cached per mutation --------------------------------------------------------
    def sorted_rows(self, sort: str):
        """Alive rows ordered by (sort key descending, _id ascending), with the keys alongside."""
        cached = self._sorted.get(sort)
        if cached is None:
            alive = np.flatnonzero(self.col("alive"))
            key = self.col(SORT_COLUMNS[sort])[alive].astype(np.int64)
            hi, lo = self.col("oid_hi")[alive], self.col("oid_lo")[alive]
            order = np.lexsort((lo, hi, -key))
            cached = (alive[order], -key[order], hi[order], lo[order])  # negated keys ascend: searchsorted works
            self._sorted[sort] = cached
        return cached

    def children_counts(self) -> np.ndarray:
        """Per row, how many alive models name it as base, by relation (columns = vocab.RELATIONS)."""
        if self._children is None:
            counts = np.zeros((self.n, len(vocab.RELATIONS)), dtype=np.int32)
            alive = self.col("alive")
            parent = self.col("parent")
            rel = self.col("relation")
            has = alive & (parent >= 0)
            np.add.at(counts, (parent[has], rel[has]), 1)
            self._children = counts
        return self._children


SUFFIXES = ["", "GGUF", "AWQ", "LoRA", "Merge", "GPTQ", "MLX", "ONNX"]
_SUFFIX_PARTS = [f"-{x}" if x else "" for x in SUFFIXES]


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_PAIRS = [a + b for a in _DIGITS for b in _DIGITS]  # two base-36 digits at a time


def _b36(n: int) -> str:
    if n < 36:
        return _DIGITS[n]
    out = ""
    while n >= 1296:
        n, r = divmod(n, 1296)
        out = _PAIRS[r] + out
    return (_PAIRS[n] if n >= 36 else _DIGITS[n]) + out

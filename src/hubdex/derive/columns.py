"""Compact per-model columns for a million models: fixed-point numbers and coded strings.

The signals produce some fifty columns per model. Held as float64 and object arrays they took over
half a GB at a million models; most are rounded to 2 or 4 decimals, and the strings take a handful
of distinct values. So:

* `Fixed`: a rounded number as an int32 count of its last decimal (NaN as a sentinel). Widened, it
  is the very float64 `np.round(x, d)` gave (k / 10**d either way), so nothing stored changes.
* `Coded`: a string (or None) column as int32 codes into a small table of distinct values.

`as_float`, `values` and `bits` read any column (these two or a plain ndarray) the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

_MISSING = np.iinfo(np.int32).min


@dataclass
class Fixed:
    units: np.ndarray  # int32: round(x * 10**decimals), _MISSING for NaN
    decimals: int

    @classmethod
    def of(cls, x, decimals: int) -> "Fixed":
        x = np.asarray(x, dtype=np.float64)
        scaled = np.rint(x * 10 ** decimals)
        return cls(np.where(np.isnan(scaled), _MISSING, np.nan_to_num(scaled)).astype(np.int32), decimals)

    def __len__(self):
        return len(self.units)

    def as_float(self, idx=slice(None)) -> np.ndarray:
        u = self.units[idx]
        return np.where(u == _MISSING, np.nan, u / 10 ** self.decimals)


@dataclass
class Coded:
    codes: np.ndarray  # int32 indexes into table
    table: np.ndarray  # object: the distinct values

    @classmethod
    def of(cls, values) -> "Coded":
        lut: dict = {}
        codes = np.fromiter((lut.setdefault(v, len(lut)) for v in np.asarray(values, dtype=object).tolist()),
                            dtype=np.int32, count=len(values))
        table = np.empty(len(lut), dtype=object)
        for v, i in lut.items():
            table[i] = v
        return cls(codes, table)

    def __len__(self):
        return len(self.codes)

    def as_array(self, idx=slice(None)) -> np.ndarray:
        return self.table[self.codes[idx]]


def as_float(col) -> np.ndarray:
    return col.as_float() if isinstance(col, Fixed) else np.asarray(col, dtype=np.float64)


def values(col, idx) -> list:
    """The Python values of rows `idx`, as they are bound into SQLite (NaN binds as NULL)."""
    if isinstance(col, Fixed):
        return col.as_float(idx).tolist()
    if isinstance(col, Coded):
        return col.as_array(idx).tolist()
    return col[idx].tolist()


def _stable(value) -> int:
    return int.from_bytes(hashlib.blake2b(repr(value).encode(), digest_size=8).digest(), "little")


def bits(col) -> np.ndarray:
    """64 bits per row, equal for equal values across runs and processes."""
    if isinstance(col, Fixed):  # the decimals are part of the value
        return col.units.astype(np.int64).view(np.uint64) ^ np.uint64(col.decimals << 40)
    if isinstance(col, Coded):
        table = np.array([_stable(v) for v in col.table.tolist()], dtype=np.uint64)
        return table[col.codes] if len(table) else np.zeros(len(col.codes), np.uint64)
    a = np.asarray(col)
    if a.dtype == object:
        return bits(Coded.of(a))
    if a.dtype.kind == "f":
        f = np.ascontiguousarray(a, dtype=np.float64) + 0.0  # -0.0 becomes 0.0
        return np.where(np.isnan(f), np.float64(np.nan).view(np.uint64), f.view(np.uint64))
    return np.ascontiguousarray(a, dtype=np.int64).view(np.uint64)

"""The licence catalogue (``data/licences.csv``) and a pure classifier over it.

``classify(license, license_name, license_link)`` turns what a model card says into a family
(permissive, copyleft, community, ...) and whether commercial use is allowed. It never guesses:

- an id found in the catalogue resolves to itself (``via='id'``);
- ``other`` is resolved through ``license_name``, then ``license_link``, using the catalogue's
  ``match`` patterns; when neither resolves, the result says so (``via='other-unresolved'``);
- an id the catalogue does not know is kept as written, with family ``unknown``
  (``via='unrecognised'``), so a new Hub id shows up as such instead of being folded into a
  look-alike;
- no licence at all gives ``via='missing'``.

The classifier is pure: its only I/O is reading the CSV shipped in the package, once.
`classify_stored` is the derive step that applies it to the stored models.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import io
import json
import re
from typing import NamedTuple

FAMILIES = ("permissive", "copyleft", "weak-copyleft", "openrail", "non-commercial", "community",
            "proprietary", "public-domain", "unknown")

# Placeholders in the Hub's list: never the target of a `license_name` / `license_link` resolution.
_PLACEHOLDERS = ("other", "unknown")
# How a classification was reached; the first three mean "a real catalogue licence was found".
RESOLVED = ("id", "license_name", "license_link")


class Licence(NamedTuple):
    id: str
    family: str
    commercial: str      # yes | conditional | no | unknown
    attribution: str     # yes | no | unknown
    share_alike: str     # yes | no | unknown
    hub_listed: bool     # in the Hub's own list (docs/hub/repositories-licenses.md)
    name: str
    match: tuple[str, ...]


class Classification(NamedTuple):
    licence: str | None  # catalogue id; the raw id when unrecognised; None when missing
    family: str
    commercial: str
    attribution: str
    share_alike: str
    via: str             # id | license_name | license_link | other-unresolved | unrecognised | missing


@functools.cache
def catalogue() -> dict[str, Licence]:
    """id -> Licence, in file order. Read once from the package data."""
    text = importlib.resources.files("hubdex").joinpath("data/licences.csv").read_text(encoding="utf-8")
    out: dict[str, Licence] = {}
    for row in csv.DictReader(io.StringIO(text)):
        lic = Licence(row["id"], row["family"], row["commercial"], row["attribution"], row["share_alike"],
                      row["hub_listed"] == "1", row["name"],
                      tuple(p for p in row["match"].split("|") if p))
        out[lic.id] = lic
    return out


def _norm_name(value: str) -> str:
    """A license_name as a slug: lowercase, and every run of characters other than [a-z0-9.+] becomes
    one '-' (so spaces, underscores, brackets and commas all do): "FLUX.1 [dev] Non-Commercial License"
    -> "flux.1-dev-non-commercial-license". Catalogue ids are already in this form."""
    return re.sub(r"[^a-z0-9.+]+", "-", value.strip().lower()).strip("-")


@functools.cache
def _patterns() -> tuple[tuple[str, str, str], ...]:
    """(pattern as written, pattern as a name slug, id), longest pattern first over the whole catalogue,
    so that a specific licence wins over one whose pattern it contains ("modified-mit" before
    "mit-license", "bsd-3-clause-clear" before "bsd-3-clause", "lgpl-3.0" before "gpl-3.0").
    Ties are broken by pattern then id, so the result never depends on file order."""
    rows = [(p, _norm_name(p), lic.id) for lic in catalogue().values() if lic.id not in _PLACEHOLDERS
            for p in lic.match]
    return tuple(sorted(rows, key=lambda r: (-len(r[0]), r[0], r[2])))


def _from_name(name: str) -> str | None:
    slug = _norm_name(name)
    if not slug:
        return None
    if slug in catalogue() and slug not in _PLACEHOLDERS:
        return slug  # exact id first: `license_name: llama3` or `license_name: deepseek`
    return next((lid for _, p, lid in _patterns() if p and p in slug), None)


def _is_repo_file(link: str) -> bool:
    """`LICENSE`, `LICENSE.md`, `./docs/LICENSE`: a file inside the repo, which names no licence.
    A URL has a scheme, or starts with www., or its first path segment is a host (has a dot)."""
    if "://" in link or link.startswith("www."):
        return False
    link = link.removeprefix("./")
    return "/" not in link or "." not in link.split("/", 1)[0]


def _from_link(link: str) -> str | None:
    link = link.strip().lower()
    if not link or _is_repo_file(link):
        return None
    return next((lid for p, _, lid in _patterns() if p in link), None)


def _result(lid: str, via: str) -> Classification:
    lic = catalogue()[lid]
    return Classification(lid, lic.family, lic.commercial, lic.attribution, lic.share_alike, via)


def _one(raw: str, license_name: str | None, license_link: str | None) -> Classification:
    lid = raw.strip().lower()
    if lid != "other":
        if lid in catalogue():
            return _result(lid, "id")
        return Classification(raw.strip(), "unknown", "unknown", "unknown", "unknown", "unrecognised")
    if isinstance(license_name, str) and (found := _from_name(license_name)):
        return _result(found, "license_name")
    if isinstance(license_link, str) and (found := _from_link(license_link)):
        return _result(found, "license_link")
    return _result("other", "other-unresolved")


def _as_list(license) -> list[str] | None:
    """A card may list several licences; records store such a list JSON-encoded ('["mit", "apache-2.0"]')."""
    if isinstance(license, (list, tuple)):
        return [x for x in license if isinstance(x, str)]
    if isinstance(license, str) and license.lstrip().startswith("["):
        try:
            value = json.loads(license)
        except ValueError:
            return None  # not JSON after all: treated as a plain (unrecognised) id
        if isinstance(value, list):
            return [x for x in value if isinstance(x, str)]
    return None


def classify(license: str | None, license_name: str | None = None,
             license_link: str | None = None) -> Classification:
    """Classify a card's `license` (with `license_name` / `license_link`, used only for `other`).

    For a list of licences each one is classified and the first that resolves to a known family wins,
    else the first that resolved at all, else the first: the card's own order decides, nothing is ranked.
    """
    items = _as_list(license)
    if items is None:
        items = [license] if isinstance(license, str) else []
    items = [x for x in items if x.strip()]
    if not items:
        return Classification(None, "unknown", "unknown", "unknown", "unknown", "missing")
    results = [_one(x, license_name, license_link) for x in items]
    return (next((r for r in results if r.via in RESOLVED and r.family != "unknown"), None)
            or next((r for r in results if r.via in RESOLVED), None)
            or results[0])


# -- the derive step -------------------------------------------------------------------------------
def classify_stored(conn) -> int:
    """Reload the catalogue into `licences` and classify each distinct (license, license_name,
    license_link) of the current models once into `licence_classes` (a few thousand on the whole
    Hub), which capabilities and signals join. Returns the number of distinct triples."""
    cat = catalogue()
    conn.execute("DELETE FROM licences")
    conn.executemany("INSERT INTO licences VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(c.id, c.family, c.commercial, c.attribution, c.share_alike, int(c.hub_listed), c.name)
                      for c in sorted(cat.values())])
    triples = conn.execute("SELECT DISTINCT license, license_name, license_link FROM models WHERE removed_at IS NULL "
                           "ORDER BY 1, 2, 3").fetchall()
    conn.execute("DELETE FROM licence_classes")
    conn.executemany("INSERT INTO licence_classes (id, license, license_name, license_link, licence, family, "
                     "commercial, attribution, share_alike, via) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(i, *t, *classify(*t)) for i, t in enumerate(triples, 1)])
    return len(triples)

"""One way for every command to find a model by what a user typed (`rank`, `matches`, `compare`, ...).

In order, among models not removed from the Hub:
1. the id exactly;
2. the id in any case (`Google-BERT/BERT-base-uncased`): the Hub's ids are case-insensitive;
3. an id the model had before a rename the crawl saw (`model_renames`), in any case;
4. a legacy id without an organisation (`bert-base-uncased`, from before the Hub moved such models
   into organisations): the most downloaded model of that name (the Hub's listing has no flag for
   the canonical one), and the result says so.
A removed model is found last, as itself (so `rank` can say it was removed).
"""

from __future__ import annotations

from dataclasses import dataclass


class UnknownModel(LookupError):
    pass


@dataclass
class Found:
    key: int
    id: str
    via: str | None = None  # how it was found when not by its exact id


def resolve(conn, text: str) -> Found:
    text = (text or "").strip()
    row = conn.execute("SELECT key, id FROM models WHERE id = ? AND removed_at IS NULL", (text,)).fetchone()
    if row:
        return Found(row[0], row[1])
    row = conn.execute("SELECT key, id FROM models WHERE lower(id) = lower(?) AND removed_at IS NULL "
                       "ORDER BY downloads DESC, key LIMIT 1", (text,)).fetchone()
    if row:
        return Found(row[0], row[1], "the case differs")
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'model_renames'").fetchone():
        row = conn.execute("SELECT m.key, m.id FROM model_renames r JOIN models m ON m.key = r.model_key "
                           "WHERE lower(r.old_id) = lower(?) AND m.removed_at IS NULL "
                           "ORDER BY r.renamed_at DESC LIMIT 1", (text,)).fetchone()
        if row:
            return Found(row[0], row[1], "renamed on the Hub since")
    if "/" not in text and text:
        row = conn.execute("SELECT key, id FROM models WHERE lower(id) LIKE '%/' || lower(?) ESCAPE '\\' "
                           "AND removed_at IS NULL ORDER BY downloads DESC, key LIMIT 1",
                           (text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"),)).fetchone()
        if row:
            return Found(row[0], row[1], ("a legacy id without its organisation: the most downloaded model of "
                                         "that name"))
    row = conn.execute("SELECT key, id FROM models WHERE lower(id) = lower(?) ORDER BY removed_at IS NULL DESC "
                       "LIMIT 1", (text,)).fetchone()
    if row:
        return Found(row[0], row[1], "removed from the Hub")
    raise UnknownModel(f"unknown model: {printable(text)}")


def printable(text: str) -> str:
    """`text` safe on a terminal: control characters (escape sequences) shown as escapes, not run."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in str(text))

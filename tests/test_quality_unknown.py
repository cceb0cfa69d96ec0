"""Documentation when a card could not be read: unknown, not 0, and the other parts rescale."""

from __future__ import annotations

import pytest

from .conftest import derive
from .test_derive import _item, _scores, _store, open_db


def test_an_unread_card_is_unknown_and_quality_rescales(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBDEX_DAY", "2024-10-05")
    db = open_db(str(tmp_path / "hub.db"))
    _store(db, [_item(1), _item(2, gated="auto"), _item(3)])
    with db.atomic():
        for key_of, source in (("org/model-2", "cardData"), ("org/model-3", "readme")):
            key = db.conn.execute("SELECT key FROM models WHERE id = ?", (key_of,)).fetchone()[0]
            db.conn.execute("INSERT INTO cards (model_key, sha, fetched_at, source, bytes, truncated, sections_count) "
                            "VALUES (?, 'x', '2024-10-05T00:00:00Z', ?, 10, 0, 0)", (key, source))
    derive(db)
    s = _scores(db)
    gated, read = s["org/model-2"], s["org/model-3"]
    # no benchmark evidence: quality itself is unknown for both, whatever their cards say
    assert gated["quality"] is None and read["quality"] is None
    # documentation: a read card with nothing in it scores 0 on the card: licence 0.02 + safetensors
    # 0.02 of 0.10 = 40
    assert read["q_card"] == 0.0 and read["documentation"] == 40.0
    # the gated repo's README was refused: its card is unknown, and the same two parts are 0.04 of 0.06
    assert gated["q_card"] is None
    assert gated["documentation"] == pytest.approx(round(100 * 0.04 / 0.06, 2))

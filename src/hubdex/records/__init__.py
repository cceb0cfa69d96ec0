"""Stage 2, records: what the Hub sent, as rows. Pure functions, no I/O: a model payload becomes a
`ModelRecord` (models.py); a card's bytes become sections, evaluations and capabilities (cards.py)."""

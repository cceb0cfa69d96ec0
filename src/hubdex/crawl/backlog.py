"""The card backlog as SQL, importing nothing: the models whose card is missing or older than their
sha. The card crawl works it (cards.py); `hubdex status` and the daemon's /metrics count it on a
read-only connection without loading the crawl's HTTP stack."""

BACKLOG_FROM = ("FROM models m LEFT JOIN cards c ON c.model_key = m.key WHERE m.removed_at IS NULL "
                "AND m.sha IS NOT NULL AND (c.sha IS NULL OR c.sha != m.sha)")


def backlog_size(conn) -> int:
    return conn.execute(f"SELECT count(*) {BACKLOG_FROM}").fetchone()[0]

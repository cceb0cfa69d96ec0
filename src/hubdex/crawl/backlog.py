"""The card backlog as SQL, importing nothing: the models whose card is missing or older than their
sha. The card crawl works it (cards.py); `hubdex status` and the daemon's /metrics count it on a
read-only connection without loading the crawl's HTTP stack."""

# A card is due when it is missing, older than the model's sha, or a README read without a blob id
# whose size the model's file list contradicts (read again: it may have been cut short).
BACKLOG_FROM = ("FROM models m LEFT JOIN cards c ON c.model_key = m.key WHERE m.removed_at IS NULL AND m.sha IS NOT NULL "
                "AND (c.sha IS NULL OR c.sha != m.sha OR (c.source = 'readme' AND c.blob_id IS NULL AND NOT EXISTS ("
                "SELECT 1 FROM model_files f WHERE f.model_key = m.key AND f.path = 'README.md' AND f.size = c.bytes)))")


def backlog_size(conn) -> int:
    return conn.execute(f"SELECT count(*) {BACKLOG_FROM}").fetchone()[0]

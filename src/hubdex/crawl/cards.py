"""Fetch and parse the cards of models whose card is missing or older than their current sha.

A card is `README.md` at the model's commit, through the resolvers bucket (its own rate limit, far
larger than the API's); a model whose sha did not move costs no request. Gated repos refuse an
anonymous caller: their card is then the API's `cardData` (the front matter), recorded as such.
The backlog is worked most-downloaded first, a few requests in flight, and each batch of cards
commits on its own: a killed run resumes with the cards not yet stored.

A README body is checked against its response's `Content-Length` and `ETag` (the file's git blob
id): a short one is retried, and if it stays short it is quarantined with its reason and no card is
stored (the model stays in the backlog). A stored card keeps the blob id of what was read; a card
from README.md without one was stored before bodies were checked and is read again, unless the
model's file list gives README.md the size the stored card has.
"""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import yaml

from ..hub import ids
from ..hub.client import HubError, Incomplete, NotFound, git_blob_id, whole_file
from ..records.bounded import TooBig, load_json
from ..records.cards import CardError, capabilities, model_index_evaluations, parse
from ..store.save import save_card
from .backlog import BACKLOG_FROM

CONCURRENCY = 4
BATCH = 50


def backlog(conn, since: str | None = None, limit: int | None = None) -> list[tuple]:
    sql = f"SELECT m.key, m.id, m.sha, m.card_data, m.model_index {BACKLOG_FROM}"
    params: list = []
    if since:
        sql += " AND m.updated_at >= ?"
        params.append(since)
    sql += " ORDER BY m.downloads DESC, m.key"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return conn.execute(sql, params).fetchall()


def _fetch(client, key, model_id, sha, card_data, api_model_index):
    """(key, sha, source, parsed or None, size, blob id, error) for one model; runs in a worker thread.
    Source "short": the body stayed shorter than its headers said (error holds the reason and bytes).
    Whatever goes wrong with one card other than the Hub's trouble (a card or an API payload outside
    the bounds, a parser's bug) makes it "unparsable": quarantined with the reason, never the crawl's end."""
    try:
        return _fetch_one(client, key, model_id, sha, card_data, api_model_index)
    except (HubError, sqlite3.Error):
        raise
    except (Exception, RecursionError) as e:  # noqa: BLE001 - one card never stops a crawl
        return key, sha, "unparsable", None, 0, None, (f"{type(e).__name__}: {str(e)[:300]}", b"")


def _fetch_one(client, key, model_id, sha, card_data, api_model_index):
    blob = None
    try:
        raw, _ = client.get(f"/{ids.path(model_id)}/resolve/{quote(sha, safe='')}/README.md", parse_json=False,
                            check=whole_file)
        source, blob = "readme", git_blob_id(raw)
    except NotFound:
        return key, sha, "none", None, 0, None, None
    except Incomplete as e:
        return key, sha, "short", None, len(e.body), None, (str(e), e.body)
    except HubError as e:
        if e.code != "GatedRepo":
            raise
        try:
            front = load_json(card_data or "{}")  # bounded: safe_dump recurses
        except TooBig as err:
            return key, sha, "unparsable", None, len(card_data or ""), None, (f"the API's cardData: {err}",
                                                                             (card_data or "").encode())
        raw = b"---\n" + yaml.safe_dump(front, sort_keys=False).encode() + b"---\n"
        source = "cardData"
    try:
        parsed = parse(raw)
    except CardError as e:
        return key, sha, "unparsable", None, len(raw), blob, (str(e), raw)
    _add_api_model_index(parsed, card_data, api_model_index)
    return key, sha, source, parsed, len(raw), blob, None


def _add_api_model_index(parsed, card_data, api_model_index):
    """The Hub's API can carry a `model-index` the README text lacks (an old README, a gated one):
    its results are evaluations too, marked as coming from the API."""
    if any(e["source"] == "model-index" for e in parsed.evaluations):
        return
    index = load_json(api_model_index) if api_model_index else None
    if not index:
        index = (load_json(card_data or "{}") or {}).get("model-index")
    rows = model_index_evaluations({"model-index": index})
    for row in rows:
        row["source"] = "api model-index"
    parsed.evaluations += rows
    parsed.capabilities = capabilities(parsed)


def _save_one(crawler, key, sha, source, parsed, size, blob) -> int:
    """One card's rows, in a savepoint: a card the store can't take (a value SQLite refuses) is
    quarantined and stored as unparsable, and the batch goes on. Storage errors (a full disk) stop
    the run as they should."""
    conn = crawler.conn
    conn.execute("SAVEPOINT card")
    try:
        save_card(conn, key, sha, crawler.writer.now, source, parsed, size, blob)
    except sqlite3.DatabaseError:
        conn.execute("ROLLBACK TO card")
        conn.execute("RELEASE card")
        raise
    except Exception as e:  # noqa: BLE001 - one card never stops a crawl
        conn.execute("ROLLBACK TO card")
        crawler.quarantine(f"README.md of model {key} at {sha}", None,
                           f"card could not be stored: {type(e).__name__}: {str(e)[:300]}", b"")
        save_card(conn, key, sha, crawler.writer.now, "unparsable", None, size, blob)
    conn.execute("RELEASE card")
    return 1


def crawl_cards(crawler, since: str | None = None, limit: int | None = None) -> int:
    todo = backlog(crawler.conn, since, limit)
    done = 0  # cards stored (a body that stayed short is quarantined, not stored)
    stop = crawler.should_stop

    def fetch(row):  # a stop requested mid-batch: the cards already read are still committed
        return None if stop() else _fetch(crawler.client, *row)

    with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="hubdex-card") as pool:
        for start in range(0, len(todo), BATCH):
            results = [r for r in pool.map(fetch, todo[start:start + BATCH]) if r is not None]
            with crawler.db.atomic():
                for key, sha, source, parsed, size, blob, error in results:
                    if error:
                        crawler.quarantine(f"README.md of model {key} at {sha}", None, error[0], error[1])
                    if source == "short":
                        continue
                    done += _save_one(crawler, key, sha, source, parsed, size, blob)
            if stop():
                crawler.tally.cards += done
                crawler.check_stop(f"{done:,} cards")
    crawler.tally.cards += done
    return done

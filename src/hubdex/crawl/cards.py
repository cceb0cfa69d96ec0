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
from ..store.save import save_card, save_configs
from .backlog import BACKLOG_FROM

CONCURRENCY = 4
BATCH = 50
# Small JSON files read with the card, where the model's file list has them: what a chooser's facts
# (context length, embedding dimension, max input) come from. Gated repos refuse them, as the README.
CONFIG_FILES = ("config.json", "sentence_bert_config.json", "1_Pooling/config.json", "open_clip_config.json",
                "tokenizer_config.json")
TASK_LEADERS = 10  # per task, read before the rest of the backlog (see backlog())
CONFIG_BYTES = 200_000  # a config bigger than this is not a config (a tokenizer_config with a vocabulary)


def backlog(conn, since: str | None = None, limit: int | None = None) -> list[tuple]:
    """The cards to read, in the order they are read: each task's TASK_LEADERS most downloaded unread
    models first, then the rest by downloads. A budget that stops short (the demo's 500, an hour's
    quota) then still covers the models a chooser compares in every task, not only the biggest task's
    tail (by downloads alone, the second image-segmentation model sat near #975)."""
    where, params = BACKLOG_FROM, []
    if since:
        where += " AND m.updated_at >= ?"
        params.append(since)
    select = (f"SELECT m.key, m.id, m.sha, m.card_data, m.model_index, (SELECT group_concat(f.path, char(10)) "
              f"FROM model_files f WHERE f.model_key = m.key AND f.path IN ({', '.join('?' * len(CONFIG_FILES))})), "
              f"m.downloads, m.pipeline_tag")
    order = " ORDER BY m.downloads DESC, m.key"
    if limit is None:  # all of it: one pass, ordered here
        rows = conn.execute(f"{select} {where}{order}", [*CONFIG_FILES, *params]).fetchall()
        seen: dict = {}
        leaders = []
        for r in rows:
            seen[r[-1]] = seen.get(r[-1], 0) + 1
            if seen[r[-1]] <= TASK_LEADERS:
                leaders.append(r)
    else:  # a budget: a short walk of idx_models_task_downloads per task (a window over 1M rows took 6 s)
        leaders = []
        for (task,) in conn.execute("SELECT DISTINCT pipeline_tag FROM models"):
            leaders += conn.execute(f"{select} {where} AND m.pipeline_tag IS ?{order} LIMIT {TASK_LEADERS}",
                                    [*CONFIG_FILES, *params, task]).fetchall()
        leaders.sort(key=lambda r: (-(r[-2] or 0), r[0]))
        rows = conn.execute(f"{select} {where}{order} LIMIT {int(limit) + len(leaders)}",
                            [*CONFIG_FILES, *params]).fetchall()
    chosen = {r[0] for r in leaders}
    ordered = leaders + [r for r in rows if r[0] not in chosen]
    return [r[:-2] for r in (ordered if limit is None else ordered[:int(limit)])]


def _configs(client, model_id, sha, paths) -> dict:
    """path -> JSON text of the model's small config files (those its file list has); a file refused,
    missing, too big or not JSON (or JSON outside the bounds) is left out."""
    out = {}
    for path in (paths or "").split("\n"):
        if not path:
            continue
        try:
            raw, _ = client.get(f"/{ids.path(model_id)}/resolve/{quote(sha, safe='')}/{path}", parse_json=False,
                                check=whole_file)
        except (HubError, Incomplete):
            continue
        if len(raw) > CONFIG_BYTES:
            continue
        try:
            value = load_json(raw)
        except (ValueError, TooBig):
            continue
        if isinstance(value, dict):
            if path == "tokenizer_config.json":  # only what says how much text it reads
                value = {k: value[k] for k in ("model_max_length",) if isinstance(value.get(k), int)}
            out[path] = json.dumps(value, sort_keys=True)
    return out


def _fetch(client, key, model_id, sha, card_data, api_model_index, config_paths=None):
    """(key, sha, source, parsed or None, size, blob id, error, configs) for one model; runs in a worker
    thread. Source "short": the body stayed shorter than its headers said (error holds the reason and bytes).
    Whatever goes wrong with one card other than the Hub's trouble (a card or an API payload outside
    the bounds, a parser's bug) makes it "unparsable": quarantined with the reason, never the crawl's end."""
    try:
        return _fetch_card(client, key, model_id, sha, card_data, api_model_index) + (
            _configs(client, model_id, sha, config_paths),)
    except (HubError, sqlite3.Error):
        raise
    except (Exception, RecursionError) as e:  # noqa: BLE001 - one card never stops a crawl
        return key, sha, "unparsable", None, 0, None, (f"{type(e).__name__}: {str(e)[:300]}", b""), {}


def _fetch_card(client, key, model_id, sha, card_data, api_model_index):
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
                for key, sha, source, parsed, size, blob, error, configs in results:
                    if source != "short":
                        save_configs(crawler.conn, key, sha, configs)
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

"""The inference router's catalogue (`GET {router}/v1/models`): who serves which model, at what price.

huggingface_hub has no call for it, so it is fetched with requests, with a timeout, retries on
429 / 5xx / network errors, and the token only in the Authorization header. One document, no
pagination (HUB-API.md §4.2); prices are USD per million input and output tokens per provider.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import requests

from .. import __version__

HUB = "https://huggingface.co"
ROUTER = "https://router.huggingface.co"


# The offers of the latest catalogue seen (older days are history), for the queries that read prices.
CURRENT_OFFERS = "(SELECT * FROM router_prices WHERE day = (SELECT max(day) FROM router_prices))"


class Offer(NamedTuple):
    model_id: str
    provider: str
    status: str
    input_usd_per_m: float | None
    output_usd_per_m: float | None
    context_length: int | None
    supports_tools: int | None
    supports_structured_output: int | None
    is_free: int | None


class RouterError(Exception):
    pass


def router_for(endpoint: str) -> str:
    """The router beside a Hub endpoint: router.huggingface.co for the Hub, `<endpoint>/router` for
    a replica (which serves the catalogue there as well as at /v1/models)."""
    endpoint = endpoint.rstrip("/")
    return ROUTER if endpoint == HUB else f"{endpoint}/router"


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _flag(v):
    return int(v) if isinstance(v, bool) else None


def offers(body) -> tuple[list[Offer], list[str]]:
    """The (model, provider) offers of a catalogue body, and the reasons items were skipped."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise RouterError("router catalogue has no 'data' list")
    out, skipped = [], []
    for item in data:
        mid = item.get("id") if isinstance(item, dict) else None
        providers = item.get("providers") if isinstance(item, dict) else None
        if not isinstance(mid, str) or not isinstance(providers, list):
            skipped.append(f"catalogue item without id or providers: {str(item)[:120]}")
            continue
        for p in providers:
            if not isinstance(p, dict) or not isinstance(p.get("provider"), str):
                skipped.append(f"{mid}: provider entry without a name")
                continue
            pricing = p.get("pricing") if isinstance(p.get("pricing"), dict) else {}
            ctx = p.get("context_length")
            out.append(Offer(mid, p["provider"], p.get("status") if isinstance(p.get("status"), str) else "unknown",
                             _num(pricing.get("input")), _num(pricing.get("output")),
                             ctx if isinstance(ctx, int) and not isinstance(ctx, bool) else None,
                             _flag(p.get("supports_tools")), _flag(p.get("supports_structured_output")),
                             _flag(p.get("is_free"))))
    return out, skipped


def fetch(router: str, token: str | None = None, *, timeout: float = 30.0, retries: int = 4,
          backoff: float = 1.0, sleep=time.sleep) -> tuple[list[Offer], list[str]]:
    url = f"{router.rstrip('/')}/v1/models"
    headers = {"user-agent": f"hubdex/{__version__}"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    last = ""
    for attempt in range(retries + 1):
        try:
            r = requests.get(url, headers=headers, timeout=timeout)
            if r.status_code == 200:
                try:
                    return offers(r.json())
                except ValueError:
                    last = "a body that is not valid JSON"
            elif r.status_code in (408, 429, 500, 502, 503, 504):
                last = f"HTTP {r.status_code}"
            else:
                raise RouterError(f"HTTP {r.status_code} for {url}")
        except requests.RequestException as e:
            last = type(e).__name__
        if attempt < retries:
            sleep(min(60.0, backoff * 2 ** attempt))
    raise RouterError(f"gave up on {url} after {retries + 1} attempts: {last}")


def save(conn, offers_: list[Offer], day: int, date: str) -> int:
    """The day's offers, replacing any seen earlier the same day."""
    conn.execute("DELETE FROM router_prices WHERE day = ?", (day,))
    conn.executemany("INSERT OR REPLACE INTO router_prices (model_id, provider, day, date, status, input_usd_per_m, "
                     "output_usd_per_m, context_length, supports_tools, supports_structured_output, is_free) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(o.model_id, o.provider, day, date, o.status, o.input_usd_per_m, o.output_usd_per_m,
                       o.context_length, o.supports_tools, o.supports_structured_output, o.is_free) for o in offers_])
    return len(offers_)

"""The inference router's catalogue (`GET {router}/v1/models`): who serves which model, at what price.

huggingface_hub has no call for it; it is fetched through `HubClient` like every other request (one
retry policy with jitter, one rate-limit budget, one timeout), and the token is not sent: the
router is another origin than the Hub's endpoint. One document, no pagination (HUB-API.md §4.2);
prices are USD per million input and output tokens per provider. Saving the offers is the store's
job (`store.save.save_offers`).
"""

from __future__ import annotations

from typing import NamedTuple

from .client import HubClient, HubError

HUB = "https://huggingface.co"
ROUTER = "https://router.huggingface.co"


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


def fetch(client: HubClient, router: str, *, retries: int | None = None) -> tuple[list[Offer], list[str]]:
    """The router's offers and the reasons items were skipped; RouterError when it can't be read."""
    url = f"{router.rstrip('/')}/v1/models"
    try:
        body, _ = client.get(url, max_retries=retries)
    except HubError as e:  # GaveUp included: the message names the URL, never the token
        raise RouterError(str(e)) from None
    return offers(body)

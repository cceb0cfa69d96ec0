"""The inference router's catalogue, `GET /v1/models` (router.huggingface.co), from the store.

Shape as documented (hub-docs inference-providers/hub-api.md, kept in
`data/real/hub-docs/router_v1_models_item.docs-example.json`): `{"object":"list","data":[...]}`, one
item per chat model served by at least one provider, each provider with `status` (live / error),
`context_length`, `pricing {input, output}` in USD per million tokens where the provider quotes a
token price, and the optional latency / throughput / tools fields. The documented example item is
served as it is, beside the catalogue's own models.
"""

from __future__ import annotations

import json
import os

from . import render, vocab
from .recorded import data_dir
from .store import Store

ROUTER_PIPELINES = {"text-generation": ["text"], "image-text-to-text": ["text", "image"]}


def _price(base: float, params: int) -> float:
    scale = max(0.15, float(params or 8e9) / 8e9) ** 0.7
    return round(float(base) * scale, 2)


def _synthetic_item(store: Store, row: int) -> dict | None:
    page = render.Page(store, [row], listing=True)
    pipe = render._pipeline(page, 0)
    if pipe not in ROUTER_PIPELINES:
        return None
    providers = []
    params = page.c["params"][0]
    for name, entry in render._provider_entries(page, 0):
        i = next(j for j, p in enumerate(vocab.PROVIDERS) if p[0] == name)
        _n, pin, pout = vocab.PROVIDERS[i]
        item = {"provider": name, "status": "live" if entry["status"] == "live" else "error"}
        if pin is not None:
            item["context_length"] = render.context_length(page, 0)
            item["pricing"] = {"input": _price(pin, params), "output": _price(pout, params)}
            item["supports_tools"] = (row + i) % 3 != 0
            item["supports_structured_output"] = (row + i) % 2 == 0
            item["first_token_latency_ms"] = 300 + (row * 37 + i * 101) % 900
            item["throughput"] = round(20 + ((row * 53 + i * 17) % 1800) / 10, 2)
        item["is_model_author"] = False
        providers.append(item)
    if not providers:
        return None
    mid = store.model_id(row)
    return {"id": mid, "object": "model", "created": page.c["created"][0], "owned_by": mid.split("/")[0],
            "architecture": {"input_modalities": ROUTER_PIPELINES[pipe], "output_modalities": ["text"]},
            "providers": providers}


def _recorded_item(store: Store, row: int) -> dict | None:
    mapping = store.provider_maps.get(row) or {}
    providers = []
    for name, v in mapping.items():
        if v.get("task") != "conversational":
            continue
        price = next((p for p in vocab.PROVIDERS if p[0] == name), (name, None, None))
        item = {"provider": name, "status": "live" if v.get("status") == "live" else "error"}
        if price[1] is not None:
            params = int(store.cols["params"][row])
            item["pricing"] = {"input": _price(price[1], params), "output": _price(price[2], params)}
        item["is_model_author"] = bool(v.get("isModelAuthor", False))
        providers.append(item)
    if not providers:
        return None
    mid = store.model_id(row)
    return {"id": mid, "object": "model", "created": int(store.cols["created"][row]),
            "owned_by": mid.split("/")[0],
            "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]}, "providers": providers}


def documented_example() -> dict:
    with open(os.path.join(data_dir(), "hub-docs", "router_v1_models_item.docs-example.json")) as f:
        return json.load(f)


def catalogue(store: Store, include_example: bool = True) -> dict:
    data = [documented_example()] if include_example else []
    alive = store.col("alive")
    for row in (store.col("providers") != 0).nonzero()[0].tolist():
        if alive[row] and row not in store.bodies:
            item = _synthetic_item(store, row)
            if item:
                data.append(item)
    for row in store.provider_maps:
        if alive[row]:
            item = _recorded_item(store, row)
            if item:
                data.append(item)
    return {"object": "list", "data": data}

"""`make demo`: the main job end to end on the bundled replica.

For now (the crawl issue will make it crawl): start the replica with the demo catalogue, and list
what it serves through huggingface_hub's unmodified HfApi, over HTTP, as a crawler would see it.
"""

from __future__ import annotations

import collections
import os
import sys

import requests


def main() -> int:
    from huggingface_hub import HfApi

    from .replica.server import start_replica

    server = start_replica("demo")
    try:
        api = HfApi(endpoint=server.url, token=False)
        print(f"Hub replica (demo catalogue) serving on {server.url}\n")
        models = list(api.list_models(sort="downloads", expand=["pipeline_tag", "library_name", "downloads",
                                                                "likes", "gated", "tags"]))
        print(f"{len(models):,} models listed in {-(-len(models) // 1000)} pages of up to 1,000\n")
        tasks = collections.Counter(m.pipeline_tag or "(none)" for m in models)
        libs = collections.Counter(m.library_name or "(none)" for m in models)
        print("top tasks:     " + ", ".join(f"{t} {n}" for t, n in tasks.most_common(6)))
        print("top libraries: " + ", ".join(f"{t} {n}" for t, n in libs.most_common(6)))
        gated = sum(1 for m in models if m.gated)
        licences = collections.Counter(t[8:] for m in models for t in m.tags if t.startswith("license:"))
        print(f"gated: {gated}; licences: " + ", ".join(f"{t} {n}" for t, n in licences.most_common(6)) + "\n")
        print("most downloaded (30 days):")
        for m in models[:8]:
            print(f"  {m.downloads:>12,}  {m.likes:>6,} likes  {m.id}")
        for model_id in ("facebook/mask2former-swin-large-cityscapes-semantic",
                         "stabilityai/stable-diffusion-3.5-large"):
            info = api.model_info(model_id)
            lic = info.card_data.get("license_name") or info.card_data.get("license") if info.card_data else None
            print(f"\n{model_id}\n  {info.pipeline_tag} / {info.library_name}; gated: {info.gated}; licence: {lic}; "
                  f"files: {len(info.siblings)}; spaces: {len(info.spaces)}")
        router = requests.get(f"{server.url}/v1/models", timeout=30).json()["data"]
        offers = sum(len(m["providers"]) for m in router)
        print(f"\nrouter catalogue (/v1/models): {len(router)} chat models, {offers} provider offerings")
        state = requests.get(f"{server.url}/_replica/state", timeout=30).json()
        print(f"recorded real responses served byte for byte: {state['recorded_responses']}")
        print("\nTo use it yourself:\n"
              "  .venv/bin/hubdex replica serve --catalog demo --port 8765\n"
              "  HF_ENDPOINT=http://127.0.0.1:8765 python -c \"from huggingface_hub import HfApi; "
              "print(next(iter(HfApi().list_models())))\"")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    sys.exit(main())

"""How fast one replica process serves a full `/api/models` crawl, and how much memory it needs.

Measures, against a replica started as a subprocess (one process, GIL-bound: one core):

* expand listing: full passes of `limit=1000&sort=createdAt` with every `CRAWL_EXPAND` field, over one
  keep-alive connection, following `Link: rel="next"`; items/s, pages, bytes/item, time per page.
  Pass 1 is cold (server caches empty), later passes are warm.
* baselines from the same run, so the expand rate can be given as ratios:
  - the same listing without `expand` (the default list item, much smaller);
  - a transport ceiling: a bare stdlib ThreadingHTTPServer that answers every GET with the bytes of
    one real replica page plus a Link header, paged the same number of times. It is the items/s the
    HTTP stack alone allows at that page size.
* big catalogue (`--big`, default 1,000,000 models): startup time, RSS after startup, peak RSS
  (VmHWM) after one full expand pass, and that pass's items/s.

Targets: 30,000 expand items/s; peak RSS under 300 MB at 1M models.

Run:  .venv/bin/python bench/replica_serving.py [--models 100000] [--big 1000000] [--passes 2]
                                                [--skip-big] [--json OUT]
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import sys
import tempfile
import time
from urllib.parse import urlencode, urlsplit

import orjson

from hubdex.hub.expand import CRAWL_EXPAND
from procs import Server, load_line, replica, report

TARGET_ITEMS_PER_S = 30_000
TARGET_PEAK_MB = 300
NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="next"')

# The transport ceiling: serves one recorded page body forever. `?page=i` in its Link lets it stop
# after as many pages as the replica listing had, so the client loop is exactly the same code.
CEILING_SERVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs
body, pages = open(sys.argv[1], "rb").read(), int(sys.argv[2])
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        i = int(parse_qs(urlsplit(self.path).query).get("page", ["0"])[0])
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if i + 1 < pages:
            self.send_header("Link", f'<{url}/api/models?limit=1000&page={i + 1}>; rel="next"')
        self.end_headers()
        self.wfile.write(body)
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
url = "http://127.0.0.1:%d" % srv.server_address[1]
print(url, flush=True)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    pass
"""


# -- subprocesses: bench/procs.py ----------------------------------------------------------------
def count_items(body: bytes) -> int:
    """Top-level items on a page, several times cheaper than orjson.loads (checked against it, see
    `check_count`; the client's time is in the sequential loop, so it slows every page).

    Every item starts with `{"_id":`, but so does baseModels' nested `"models":[{"_id":...}]`, so a bare
    count of `"_id":` over-counts. That nested list always holds one model, so `},{"_id":` only ever
    separates two top-level items: one scan of the bytes.
    """
    return body.count(b'},{"_id":') + 1 if body.startswith(b'[{') else 0


def check_count(body: bytes):
    assert count_items(body) == len(orjson.loads(body)), "count_items disagrees with the JSON"


def listing_path(expand: bool) -> str:
    q = [("limit", "1000"), ("sort", "createdAt")] + ([("expand", e) for e in CRAWL_EXPAND] if expand else [])
    return "/api/models?" + urlencode(q)


def crawl(server: Server, path: str, rss_every: int = 0) -> dict:
    """One full pass over one keep-alive connection, following Link until there is none.

    `rss_every`: also sample the server's RSS every that many pages (steady growth = a cache that grows).
    """
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    items = nbytes = 0
    page_s, first, rss_mb = [], None, []
    cpu0, t0 = server.cpu_s(), time.perf_counter()
    while path:
        t = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        page_s.append(time.perf_counter() - t)
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status} on page {len(page_s)}: {body[:300]!r}")
        first = first or body
        if rss_every and len(page_s) % rss_every == 0:
            rss_mb.append((len(page_s), round(server.status_kb("VmRSS") / 1024)))
        items += count_items(body)
        nbytes += len(body)
        m = NEXT_LINK.search(resp.getheader("Link") or "")
        path = None
        if m:
            nxt = urlsplit(m.group(1))
            path = f"{nxt.path}?{nxt.query}"
    wall = time.perf_counter() - t0
    server_cpu = server.cpu_s() - cpu0
    conn.close()
    check_count(first)  # outside the timed loop
    page_s.sort()
    return {"items": items, "pages": len(page_s), "seconds": round(wall, 3),
            "items_per_s": round(items / wall), "bytes_per_item": round(nbytes / items),
            "page_ms": round(1e3 * wall / len(page_s), 2),  # wall time per page, client work included
            # request sent -> body read, per page: the server's and the transport's share only
            "latency_ms_p50": round(1e3 * page_s[len(page_s) // 2], 2),
            "latency_ms_p95": round(1e3 * page_s[int(len(page_s) * 0.95)], 2),
            "latency_ms_max": round(1e3 * page_s[-1], 2),
            "server_cpu_share": round(server_cpu / wall, 2),  # ~1.0: the server's core is the bottleneck
            "_first_page": first, **({"rss_mb_by_page": rss_mb} if rss_every else {})}


def parse_cost_ms(body: bytes) -> dict:
    """What each counting method would add to every page (the client is in the sequential loop)."""
    def best(f, n=10):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        return min(times)
    return {"count_bytes": round(1e3 * best(lambda: count_items(body)), 2),
            "orjson_loads": round(1e3 * best(lambda: len(orjson.loads(body))), 2)}


# -- the benchmark -------------------------------------------------------------------------------
def run(args) -> dict:
    out = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                       "platform": platform.platform(), "loadavg_start": os.getloadavg()},
           "config": {"models": args.models, "big": None if args.skip_big else args.big,
                      "passes": args.passes, "expand": CRAWL_EXPAND}}

    rep = replica(args.models)
    try:
        out["startup_s"] = round(rep.startup_s, 2)
        for name, expand in (("expand", True), ("plain", False)):
            out[name] = []
            for i in range(args.passes):
                r = crawl(rep, listing_path(expand))
                assert r["items"] == args.models, f"{name} pass {i + 1}: {r['items']} items, expected {args.models}"
                out[name].append(r)
                print(f"  {name:6} pass {i + 1}: {r['items_per_s']:>8,} items/s  {r['seconds']:7.2f} s  "
                      f"{r['page_ms']:6.1f} ms/page  server cpu {r['server_cpu_share']:.2f}", flush=True)
    finally:
        rep.stop()

    page = out["expand"][0]["_first_page"]  # a real full (1000-item) expand page
    out["parse_cost_ms_per_page"] = parse_cost_ms(page)
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(page)
        f.flush()
        ceil = Server([sys.executable, "-c", CEILING_SERVER, f.name, str(out["expand"][0]["pages"])])
        try:
            out["ceiling"] = []
            for i in range(args.passes):
                r = crawl(ceil, "/api/models?limit=1000&page=0")
                out["ceiling"].append(r)
                print(f"  ceiling pass {i + 1}: {r['items_per_s']:>8,} items/s  {r['seconds']:7.2f} s  "
                      f"{r['page_ms']:6.1f} ms/page  server cpu {r['server_cpu_share']:.2f}", flush=True)
        finally:
            ceil.stop()

    if not args.skip_big:
        big = replica(args.big)
        try:
            rss0 = big.status_kb("VmRSS")
            r = crawl(big, listing_path(True), rss_every=max(1, args.big // 10_000))
            assert r["items"] == args.big, f"big pass: {r['items']} items, expected {args.big}"
            out["big"] = {"models": args.big, "startup_s": round(big.startup_s, 2),
                          "rss_after_startup_mb": round(rss0 / 1024, 1),
                          "peak_rss_mb": round(big.status_kb("VmHWM") / 1024, 1), "pass": r}
            print(f"  big    pass 1: {r['items_per_s']:>8,} items/s  {r['seconds']:7.2f} s  "
                  f"peak {out['big']['peak_rss_mb']} MB", flush=True)
        finally:
            big.stop()

    out["machine"]["loadavg_end"] = os.getloadavg()
    out["ratios"] = {f"pass{i + 1}": {"vs_plain": round(e["items_per_s"] / p["items_per_s"], 3),
                                      "vs_ceiling": round(e["items_per_s"] / c["items_per_s"], 3),
                                      "vs_target": round(e["items_per_s"] / TARGET_ITEMS_PER_S, 3)}
                     for i, (e, p, c) in enumerate(zip(out["expand"], out["plain"], out["ceiling"]))}
    for runs in (out["expand"], out["plain"], out["ceiling"], [out.get("big", {}).get("pass", {})]):
        for r in runs:
            r.pop("_first_page", None)
    return out


def summary(out: dict) -> str:
    def row(name, label, r):
        return (name, label, f"{r['items_per_s']:,}", r["pages"], f"{r['bytes_per_item']:,}", r["page_ms"],
                r["latency_ms_p50"], r["latency_ms_p95"], r["latency_ms_max"], r["server_cpu_share"])

    rows = [("listing", "pass", "items/s", "pages", "B/item", "ms/page", "lat p50", "lat p95", "lat max", "srv cpu")]
    for name in ("expand", "plain", "ceiling"):
        for i, r in enumerate(out[name]):
            rows.append(row(name, f"{i + 1}{'' if name == 'ceiling' else (' cold' if i == 0 else ' warm')}", r))
    if "big" in out:
        rows.append(row(f"expand {out['big']['models']:,}", "1 cold", out["big"]["pass"]))
    widths = [max(len(str(row[c])) for row in rows) for c in range(len(rows[0]))]
    lines = ["", f"replica serving, synthetic:{out['config']['models']:,}, one keep-alive connection, "
                 f"{out['machine']['cpus']} cpus, Python {out['machine']['python']}"]
    lines += ["  ".join(str(v).rjust(w) for v, w in zip(row, widths)) for row in rows]

    def ok(met):
        return "MET" if met else "MISSED"

    lines.append("")
    for i, e in enumerate(out["expand"]):
        label = "cold" if i == 0 else "warm"
        rt = out["ratios"][f"pass{i + 1}"]
        lines.append(f"expand pass {i + 1} ({label}): {e['items_per_s']:,} items/s = {rt['vs_plain']:.2f}x plain, "
                     f"{rt['vs_ceiling']:.2f}x transport ceiling, {rt['vs_target']:.2f}x target "
                     f"{TARGET_ITEMS_PER_S:,}/s -> {ok(rt['vs_target'] >= 1)}")
    pc = out["parse_cost_ms_per_page"]
    lines.append(f"client counting cost per page: bytes.count {pc['count_bytes']} ms, "
                 f"orjson.loads {pc['orjson_loads']} ms")
    if "big" in out:
        b = out["big"]
        lines.append(f"big synthetic:{b['models']:,}: startup {b['startup_s']} s, RSS after startup "
                     f"{b['rss_after_startup_mb']} MB, peak RSS {b['peak_rss_mb']} MB (target < {TARGET_PEAK_MB}) "
                     f"-> {ok(b['peak_rss_mb'] < TARGET_PEAK_MB)}; {b['pass']['items_per_s']:,} items/s "
                     f"-> {ok(b['pass']['items_per_s'] >= TARGET_ITEMS_PER_S)}")
        lines.append("  RSS (MB) during that pass, by page: "
                     + ", ".join(f"{n}: {mb}" for n, mb in b["pass"]["rss_mb_by_page"]))
    lines.append(load_line(out["machine"]["loadavg_start"][0], out["machine"]["loadavg_end"][0]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=100_000, help="synthetic catalogue for the throughput passes")
    ap.add_argument("--big", type=int, default=1_000_000, help="synthetic catalogue for the memory pass")
    ap.add_argument("--passes", type=int, default=2, help="full passes per listing; the first is cold")
    ap.add_argument("--skip-big", action="store_true", help="skip the big-catalogue memory pass")
    ap.add_argument("--json", metavar="OUT", help="also write every figure to this JSON file")
    args = ap.parse_args()
    out = run(args)
    report(summary(out), out, args.json)


if __name__ == "__main__":
    main()

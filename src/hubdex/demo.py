"""`make demo`: the main job end to end on the bundled replica.

Starts the Hub replica with the demo catalogue (the real recorded models, two hand-described ones, the
real models of the shipped leaderboard corpus with their results, and 3,000 synthetic ones), runs `hubdex crawl` into `db/hub.db` over HTTP exactly as against the real Hub
(a full pass the first time, incremental afterwards), reads the cards, runs `hubdex derive`, and says
what landed, what ranks best and why, and how to look at it; it ends with the seed pair's comparison
entry (`hubdex compare`) and where the static site of every comparison was written (`hubdex site`).
"""

from __future__ import annotations

import os
import sys

DB = os.path.join("db", "hub.db")
SITE = os.path.join("db", "site")
SEARCH_BUDGET = 300  # api requests the demo's search crawl may spend (the crawls before it used the rest)
EVIDENCE_BUDGET = 140  # the evidence crawl's: the benchmark list, every leaderboard, the top models' Spaces
SEED_PAIR = ("facebook/mask2former-swin-large-cityscapes-semantic", "stabilityai/stable-diffusion-3.5-large")


def main() -> int:
    from . import jobs
    from .clock import Clock
    from .crawl.scope import CrawlSettings, Scope
    from .jobs.crawl import CrawlJob
    from .jobs.derive import DeriveJob
    from .replica.server import start_replica

    clock = Clock.from_environment()
    server = start_replica("demo")
    try:
        print(f"Hub replica (demo catalogue) serving on {server.url}")
        print(f"crawling it into {DB} ...")
        outcome = jobs.run(CrawlJob(CrawlSettings(endpoint=server.url)), DB, clock=clock)
        print(outcome.summary)
        if not outcome.ok:
            return outcome.code
        # The replica, like the Hub, allows so many README fetches per window: the demo reads 500
        # cards in the backlog's order (each task's 10 most downloaded, then by downloads);
        # `hubdex crawl --cards` works through the rest.
        print("reading 500 cards not yet read (each task's leaders first, then by downloads) ...")
        outcome = jobs.run(CrawlJob(CrawlSettings(endpoint=server.url, mode="cards", scope=Scope(limit=500))), DB,
                           clock=clock)
        print(outcome.summary)
        if not outcome.ok:
            return outcome.code
        print("reading benchmarks, their leaderboards and the Spaces that load models (`hubdex crawl --evidence`) ...")
        outcome = jobs.run(CrawlJob(CrawlSettings(endpoint=server.url, mode="evidence", evidence_budget=EVIDENCE_BUDGET,
                                                  spaces_models=60)), DB, clock=clock)
        print(outcome.summary)
        if not outcome.ok:
            return outcome.code
        print("searching the Hub for the match graph's evidence (`hubdex crawl --search`) ...")
        # Within one rate-limit window (500 api requests, anonymous): the remaining queries are due tomorrow,
        # as they would be for a day's budget against the Hub.
        outcome = jobs.run(CrawlJob(CrawlSettings(endpoint=server.url, mode="search", search_budget=SEARCH_BUDGET)),
                           DB, clock=clock)
        print(outcome.summary)
        if not outcome.ok:
            return outcome.code
    finally:
        server.stop()
    from .present.ranking import explain, render_explanation, render_top, top
    from .store.db import open_db

    print("\nderiving capabilities, licences, pricing, the match graph, signals and rank (`hubdex derive`) ...")
    outcome = jobs.run(DeriveJob(), DB, clock=clock)
    print(outcome.summary)
    if not outcome.ok:
        return outcome.code
    db = open_db(DB)
    print("\nbest ranked (`hubdex top --limit 8`):")
    print(render_top(top(db.conn, limit=8)))
    print("\nwhy (`hubdex rank meta-llama/Llama-3.1-8B-Instruct`):")
    print(render_explanation(explain(db.conn, "meta-llama/Llama-3.1-8B-Instruct")))
    from .present.matches import matches, render as render_matches

    for mid in ("openai-community/gpt2", "facebook/detr-resnet-50"):
        print(f"\ncompetitors (`hubdex matches {mid} --limit 5`):")
        print(render_matches(matches(db.conn, mid, limit=5), evidence_lines=2))
    q = db.conn.execute
    total, removed = q("SELECT count(*), count(removed_at) FROM models").fetchone()
    print(f"\n{DB}: {total:,} models ({removed:,} removed), "
          f"{q('SELECT count(*) FROM model_tags').fetchone()[0]:,} tags, "
          f"{q('SELECT count(*) FROM model_files').fetchone()[0]:,} files, "
          f"{q('SELECT count(*) FROM model_relations').fetchone()[0]:,} base-model relations, "
          f"{q('SELECT count(*) FROM model_spaces').fetchone()[0]:,} Space links, "
          f"{q('SELECT count(*) FROM model_providers').fetchone()[0]:,} provider mappings")
    print("\nmost downloaded (30 days):")
    for mid, dl, lic, task in q("SELECT id, downloads, license, pipeline_tag FROM models WHERE removed_at IS NULL "
                                "ORDER BY downloads DESC LIMIT 6"):
        print(f"  {dl:>12,}  {mid}  ({task or '-'}, {lic or 'no licence'})")
    print("\nlicences: " + ", ".join(f"{lic} {n}" for lic, n in q(
        "SELECT coalesce(license, '(none)'), count(*) FROM models GROUP BY 1 ORDER BY 2 DESC LIMIT 8")))
    print("relations: " + ", ".join(f"{rel} {n}" for rel, n in q(
        "SELECT relation, count(*) FROM model_relations GROUP BY 1 ORDER BY 2 DESC")))
    for mid in ("facebook/mask2former-swin-large-cityscapes-semantic", "stabilityai/stable-diffusion-3.5-large"):
        row = q("SELECT pipeline_tag, library_name, gated, license, license_name FROM models WHERE id = ?",
                (mid,)).fetchone()
        print(f"{mid}: {row[0]} / {row[1]}, gated {row[2]}, licence {row[3]}" + (f" ({row[4]})" if row[4] else ""))
    print("\nlast runs (table `runs`):")
    for row in q("SELECT id, mode, status, pages, models_seen, models_new, models_changed, requests FROM runs "
                 "ORDER BY id DESC LIMIT 3"):
        print("  run {}: {} {}, {} pages, {} seen, {} new, {} changed, {} requests".format(*row))
    from .compare.build import one
    from .compare.render import render_text
    from .compare.site import build_site

    site = build_site(db.conn, SITE)
    print(f"\n{site.summary(SITE)}; open {os.path.join(SITE, 'index.html')} in a browser (works offline)")
    print(f"\nLook at it:\n  .venv/bin/hubdex serve --db {DB}     # Datasette on http://127.0.0.1:8001/ (or: make serve)\n"
          f"  .venv/bin/hubdex top --task text-generation; .venv/bin/hubdex rank openai-community/gpt2 --json\n"
          f"  sqlite3 {DB} 'SELECT id, downloads FROM models ORDER BY downloads DESC LIMIT 10'\n"
          "The same against the real Hub:\n  HF_TOKEN=hf_... .venv/bin/hubdex crawl --full   # then `hubdex crawl` "
          "(incremental), `hubdex crawl --metrics` daily, then `hubdex derive`")
    entry, _markdown, how = one(db.conn, *SEED_PAIR)
    print(f"\nthe seed pair (`hubdex compare {' '.join(SEED_PAIR)}`, {how}):\n")
    print(render_text(entry))
    print(f"static site of every comparison: {os.path.join(SITE, 'index.html')} (`hubdex site {SITE}`)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    sys.exit(main())

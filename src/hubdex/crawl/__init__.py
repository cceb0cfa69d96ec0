"""Stage 4, crawl: the Hub (stage 1, hub/) into SQLite (stage 3, store/) through the records (stage 2).

modes.py   the modes (full, incremental, metrics, scoped, prices) and their page loop
cards.py   the card backlog: README.md at each model's sha
listing.py a listing's pages, the next prefetched while the current one is written
scope.py   what a crawl is asked to do (settings and scope)
progress.py the progress line on a terminal

A crawl runs as a job (hubdex.jobs.crawl), which owns the lock, the clock and the run's row.
"""

"""Stage 6, compare: "A vs B" comparison entries, after derive.

  entry.py   each model's side (what an entry shows of it, at the precision shown, each value with
             its source: table, column, row, crawl day), and the entry built from two sides and the
             match edge between them; rendered as Markdown and plain text.
  build.py   the derive step after scores: the pairs (each canonical model's top M competitors,
             each unordered pair once), their inputs hash, rebuilt only where the hash moved;
             removed or dropped pairs marked stale, never deleted; a `comparison_runs` row.
  site.py    `hubdex site DIR`: a static offline site of the entries (HTML, escaped, no script).

It reads what derive wrote (model_scores, match_*, capabilities) and what the crawl stored; it
never imports the crawl or the HTTP stack.
"""

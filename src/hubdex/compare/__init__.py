"""Stage 6, compare: "A vs B" comparison entries, after derive.

  reading.py  typed sides (what any entry or page shows of one model, each figure a cell with the row's
              value, the text shown and its source) and edges; every SQL statement of compare/.
  entry.py    the pure entry: an ordered list of sections, verdict first (verdict, table, benchmarks,
              capabilities, list).
  render.py   one renderer per format (text, Markdown, JSON, HTML), each walking the sections.
  build.py    the derive step after scores: the pairs, read and written in batches, rebuilt only where
              what they show moved; removed or dropped pairs marked stale, never deleted.
  site.py     `hubdex site DIR`: a static offline site of every model, task and entry, with search.

It reads what derive wrote (model_scores, match_*, capabilities) and what the crawl stored; it
never imports the crawl or the HTTP stack.
"""

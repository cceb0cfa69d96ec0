"""Stage 6, present: what people read. `hubdex rank` and `top` (ranking.py); the site and the
Datasette front end will live here. Read-only over the stored and derived tables."""

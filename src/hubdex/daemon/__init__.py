"""On top, beside jobs and the CLI: `hubdex daemon` and `hubdex status`.

schedules.py  the schedule files: jobs, triggers (anchored intervals, UTC cron, `after`), args
              resolved against the CLI
scheduler.py  APScheduler 3.11 with an injected clock; an executor that runs one job at a time
service.py    the daemon: builds jobs at every start, catches up missed and killed runs once, runs
              each as a `hubdex` child process, stops within a bound, logs JSON lines
state.py      its state, in a small SQLite file beside the database (never inside it)
status.py     `hubdex status`, /healthz and /metrics read the same things
http.py       --http: /healthz and /metrics
"""

"""`--http HOST:PORT`: `/healthz` (200 when every job succeeded recently enough, else 503, with each
job's last success) and `/metrics` (Prometheus text format, prometheus-client), served from a thread."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import status as status_mod

BACKLOG_TTL = 60.0  # the card backlog is a count over models: at most once a minute, however often scraped


class Exporter:
    def __init__(self, db_path: str, specs):
        self.db_path, self.specs = db_path, specs
        self._backlog = (0.0, None)
        self.lock = threading.Lock()

    def doc(self) -> dict:
        with self.lock:
            fresh = time.monotonic() - self._backlog[0] < BACKLOG_TTL
            doc = status_mod.gather(self.db_path, self.specs, backlog=not fresh)
            if fresh:
                doc["card_backlog"] = self._backlog[1]
            else:
                self._backlog = (time.monotonic(), doc["card_backlog"])
        return doc

    def metrics(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        doc = self.doc()
        outcomes = _outcome_counts(self.db_path)

        class Collector:
            def collect(self):
                g = GaugeMetricFamily
                last_success = g("hubdex_job_last_success_timestamp_seconds",
                                 "When the job last ran successfully (alert on its age)", labels=["job"])
                duration = g("hubdex_job_last_run_duration_seconds", "How long the job's last run took", labels=["job"])
                code = g("hubdex_job_last_run_exit_code", "The exit code of the job's last run", labels=["job"])
                nxt = g("hubdex_job_next_run_timestamp_seconds", "When the job runs next", labels=["job"])
                running = g("hubdex_job_running", "1 while the job runs", labels=["job"])
                runs = CounterMetricFamily("hubdex_job_runs", "Runs of the job by outcome (the state file's recent history)",
                                           labels=["job", "outcome"])
                for j in doc["jobs"]:
                    if not j["enabled"]:
                        continue
                    if j["last_success_ts"]:
                        last_success.add_metric([j["id"]], j["last_success_ts"])
                    if j["last_run"]:
                        if j["last_run"]["duration_s"] is not None:
                            duration.add_metric([j["id"]], j["last_run"]["duration_s"])
                        if j["last_run"]["code"] is not None:
                            code.add_metric([j["id"]], j["last_run"]["code"])
                    if j["next_run_ts"]:
                        nxt.add_metric([j["id"]], j["next_run_ts"])
                    running.add_metric([j["id"]], 1.0 if j["running"] else 0.0)
                for (job, outcome), n in sorted(outcomes.items()):
                    runs.add_metric([job, outcome], n)
                yield from (last_success, duration, code, nxt, running, runs)
                up = g("hubdex_daemon_running", "1 when a daemon holds the database's daemon lock")
                up.add_metric([], 1.0 if doc["daemon"]["running"] else 0.0)
                yield up
                if doc["daemon"]["started_ts"]:
                    started = g("hubdex_daemon_start_timestamp_seconds", "When the daemon started")
                    started.add_metric([], doc["daemon"]["started_ts"])
                    yield started
                if doc["database"]["bytes"] is not None:
                    size = g("hubdex_database_bytes", "Size of the database file (and its WAL)", labels=["file"])
                    size.add_metric(["db"], doc["database"]["bytes"])
                    size.add_metric(["wal"], doc["database"]["wal_bytes"] or 0)
                    yield size
                if doc["card_backlog"] is not None:
                    backlog = g("hubdex_card_backlog_models", "Models whose card is missing or older than their sha")
                    backlog.add_metric([], doc["card_backlog"])
                    yield backlog
                budget = g("hubdex_ratelimit_remaining", "Requests left in the rate-limit window (last seen)",
                           labels=["origin", "bucket"])
                for origin, buckets in doc["budget"].items():
                    for bucket, w in buckets.items():
                        if w["remaining"] is not None:
                            budget.add_metric([origin, bucket], w["remaining"])
                yield budget

        registry = CollectorRegistry()
        registry.register(Collector())
        return generate_latest(registry)


def _outcome_counts(db_path: str) -> dict:
    from .state import State

    st = State.read(db_path)
    if st is None:
        return {}
    try:
        return st.outcome_counts()
    finally:
        st.close()


def serve(host: str, port: int, exporter: Exporter) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                ok, body = status_mod.health(exporter.doc())
                self._send(200 if ok else 503, "application/json", json.dumps(body, indent=1).encode())
            elif path == "/metrics":
                from prometheus_client import CONTENT_TYPE_LATEST

                self._send(200, CONTENT_TYPE_LATEST, exporter.metrics())
            else:
                self._send(404, "text/plain", b"not found: /healthz, /metrics\n")

        def _send(self, code, ctype, body):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    # poll_interval only bounds shutdown(), which never comes (a daemon thread): no wakeups while idle.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 3600}, name="hubdex-http",
                     daemon=True).start()
    return server

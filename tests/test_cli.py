"""`hubdex replica ...` as a user runs it: a subprocess, a printed URL, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import requests

HUBDEX = [sys.executable, "-m", "hubdex"]


@pytest.fixture
def served():
    proc = subprocess.Popen(HUBDEX + ["replica", "serve", "--catalog", "synthetic:500", "--seed", "3",
                                      "--quota", "api=100,resolvers=100", "--window", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_serve_prints_its_url_and_stops_on_sigterm(served):
    proc, url = served
    assert url.startswith("http://127.0.0.1:")
    r = requests.get(f"{url}/api/models?limit=3", timeout=30)
    assert r.status_code == 200 and len(r.json()) == 3
    assert r.headers["RateLimit-Policy"] == '"fixed window";"api";q=100;w=60'
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert "Traceback" not in proc.stderr.read()


def test_scenario_and_state_commands(served):
    _proc, url = served
    out = subprocess.run(HUBDEX + ["replica", "scenario", "--url", url, "--update", "0.02", "--add", "4",
                                   "--delete", "1", "--summary"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert (summary["updated"], summary["added"], summary["deleted"]) == (10, 4, 1)
    state = json.loads(subprocess.run(HUBDEX + ["replica", "state", "--url", url], capture_output=True, text=True,
                                      timeout=60).stdout)
    assert state["models"] == 503 and state["clock"] == "2026-11-01T01:00:00.000Z"
    faults = subprocess.run(HUBDEX + ["replica", "faults", "--url", url, "503:on=list,nth=1"], capture_output=True,
                            text=True, timeout=60)
    assert faults.returncode == 0 and requests.get(f"{url}/api/models", timeout=30).status_code == 503


@pytest.mark.parametrize("args,message", [
    (["replica", "serve", "--catalog", "synthetic:1"], "synthetic:N needs 10 <= N"),
    (["replica", "serve", "--catalog", "everything"], "unknown catalogue 'everything'"),
    (["replica", "serve", "--faults", "explode"], "unknown fault kind 'explode'"),
    (["replica", "serve", "--quota", "api=lots"], "use api=N,resolvers=N"),
    (["replica", "serve", "--port", "99999"], "99999"),
    (["replica", "state", "--url", "http://127.0.0.1:9"], "no replica answering at http://127.0.0.1:9"),
    (["replica", "serve", "--no-such-flag"], "No such option"),
])
def test_user_mistakes_get_one_clear_line(args, message):
    out = subprocess.run(HUBDEX + args, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HF_TOKEN": "hf_secret_value"})
    assert out.returncode != 0
    assert message in out.stderr and "Traceback" not in out.stderr
    assert [line for line in out.stderr.splitlines() if line.startswith("Error")] and len(
        [line for line in out.stderr.splitlines() if line.startswith("Error")]) == 1
    assert "hf_secret_value" not in out.stderr + out.stdout


def test_port_in_use_is_one_line(served):
    _proc, url = served
    port = url.rsplit(":", 1)[1]
    out = subprocess.run(HUBDEX + ["replica", "serve", "--catalog", "synthetic:10", "--port", port],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr


def test_demo_crawls_the_replica_end_to_end(tmp_path):
    first = subprocess.run([sys.executable, "-m", "hubdex.demo"], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    from hubdex.replica.catalog import build

    store, _ = build("demo")
    models = int(store.col("alive").sum())  # recorded, hand-described, the shipped corpus, 3,000 synthetic
    assert models > 5000
    assert "full crawl completed" in first.stdout and f"{models:,} new" in first.stdout
    assert "stabilityai/stable-diffusion-3.5-large: text-to-image / diffusers, gated auto" in first.stdout
    assert (tmp_path / "db" / "hub.db").exists()
    again = subprocess.run([sys.executable, "-m", "hubdex.demo"], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
    assert again.returncode == 0 and "incremental crawl completed" in again.stdout and "0 new" in again.stdout


def test_derive_of_a_missing_database_creates_nothing(tmp_path):
    from click.testing import CliRunner

    from hubdex.cli import main as cli

    target = tmp_path / "not" / "here" / "hub.db"
    r = CliRunner().invoke(cli, ["derive", "--db", str(target)])
    assert r.exit_code == 1 and "no database at" in r.output
    assert not (tmp_path / "not").exists()  # no directory, no lock file

"""A crawl survives kills, faults, full disks and a second writer, and never leaks the token."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import requests

from hubdex.jobs import EXIT_BUSY, EXIT_OK, EXIT_STOPPED, EXIT_STORAGE
from hubdex.store.lockfile import WriterLock

from .conftest import control, crawl, replica_oids

HUBDEX = [sys.executable, "-m", "hubdex"]


def _children(pid: int) -> set:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(c) for c in f.read().split()}
    except OSError:
        return set()


def stored(db) -> tuple[set, int, str]:
    conn = sqlite3.connect(db)
    oids = [r[0] for r in conn.execute("SELECT oid FROM models WHERE removed_at IS NULL")]
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    return set(oids), len(oids), integrity


def pass_in_progress(db) -> tuple[int, int] | None:
    """(pages the running full pass has committed, models stored) as the database says, or None when
    no pass is mid-way (no file yet, nothing committed, or the listing already done)."""
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT value FROM crawl_state WHERE key = 'full.pass'").fetchone()
            models = conn.execute("SELECT count(*) FROM models").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None  # not created yet
    state = json.loads(row[0]) if row and row[0] else None
    if not state or not state.get("next_url") or not state.get("page"):
        return None
    return state["page"], models


@pytest.mark.slow
def test_sigkill_at_random_moments_then_rerun(replica_factory, tmp_path):
    server = replica_factory("synthetic:15000", seed=13)
    truth = replica_oids(server)
    kills = mid_crawl = 0
    orphans: set = set()
    for seed in range(10):
        db = tmp_path / f"kill{seed}.db"
        rng = random.Random(seed)
        # One to three kills, then a run that must finish. Some kills land at a random instant (start-up
        # included); the others once the pass has committed a random number of pages.
        for i in range(1 + seed % 3):
            proc = subprocess.Popen(HUBDEX + ["crawl", "--full", "--endpoint", server.url, "--db", str(db),
                                              "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if (seed + i) % 3 == 0:
                time.sleep(rng.uniform(0.3, 3.0))
            else:
                want, deadline = rng.randint(1, 12), time.monotonic() + 60
                while proc.poll() is None and time.monotonic() < deadline:
                    progress = pass_in_progress(db)
                    if progress and progress[0] >= want:
                        break
                    time.sleep(0.02)
                time.sleep(rng.uniform(0, 0.1))
            children = _children(proc.pid)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            orphans.update(children)
            kills += 1
            # Proof from the database that this kill landed mid-crawl: a pass with pages committed, its
            # next page checkpointed, and only part of the catalogue stored.
            progress = pass_in_progress(db)
            if progress and 0 < progress[1] < len(truth):
                mid_crawl += 1
        final = subprocess.run(HUBDEX + ["crawl", "--full", "--endpoint", server.url, "--db", str(db),
                                         "--no-progress"], capture_output=True, text=True, timeout=300)
        assert final.returncode == EXIT_OK, final.stderr
        oids, count, integrity = stored(db)
        assert integrity == "ok"
        assert oids == truth and count == len(truth), f"seed {seed}: {len(oids)} of {len(truth)}"
        conn = sqlite3.connect(db)
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY id")]
        assert statuses[-1] == "completed" and "running" not in statuses
        assert conn.execute("SELECT count(*) FROM pass_pages").fetchone()[0] == 0
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "idx_model_tags_tag" in indexes  # the bulk-loaded first pass rebuilt them
        conn.close()
    print(f"{mid_crawl} of {kills} kills landed mid-crawl")
    assert kills == 19 and mid_crawl >= 10, (kills, mid_crawl)
    # A killed crawl leaves no process behind that could hold the database (the crawler has no children).
    assert not [pid for pid in orphans if os.path.exists(f"/proc/{pid}")]


def test_a_second_writer_is_refused_and_writes_nothing(demo_replica, tmp_path):
    db = tmp_path / "hub.db"
    with WriterLock(str(db)):
        out = subprocess.run(HUBDEX + ["crawl", "--endpoint", demo_replica.url, "--db", str(db)],
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == EXIT_BUSY
    assert "another job is writing to" in out.stderr and "Traceback" not in out.stderr
    assert not db.exists()


@pytest.mark.parametrize("spec", [
    "503:on=list,nth=1", "502:on=list,every=3", "429:on=list,count=3,retry=0", "429:on=list,count=3,headers=no",
    "slow:on=list,count=1,delay=3", "reset:on=list,nth=2", "truncate:on=list,nth=1|3",
])
def test_each_transient_fault_ends_in_a_completed_crawl(replica_factory, tmp_path, spec):
    server = replica_factory("synthetic:3000", seed=2)
    control(server, "POST", "faults", spec.encode())
    db = tmp_path / "hub.db"
    out = crawl(db, server.url, mode="full", timeout=1.0, backoff=0.05, progress=False)
    assert out.code == EXIT_OK, out.summary
    oids, count, integrity = stored(db)
    assert count == 3000 and integrity == "ok"
    conn = sqlite3.connect(db)
    retries, throttled = conn.execute("SELECT retries, throttled FROM runs").fetchone()
    assert retries >= 1
    if spec.startswith("429"):
        assert throttled == 3


def test_bad_items_go_to_quarantine_and_the_crawl_goes_on(replica_factory, tmp_path):
    server = replica_factory("synthetic:2000", seed=2)
    control(server, "POST", "faults", b"missing-id:on=list,rate=0.01;new-field:name=hotness,value=hot")
    db = tmp_path / "hub.db"
    out = crawl(db, server.url, mode="full", progress=False)
    assert out.code == EXIT_OK
    conn = sqlite3.connect(db)
    quarantined = conn.execute("SELECT reason, raw FROM quarantine").fetchall()
    assert len(quarantined) == 20 and all(r[0] == "item has no id" for r in quarantined)
    assert all(json.loads(r[1])["hotness"] == "hot" for r in quarantined)
    assert conn.execute("SELECT quarantined FROM runs").fetchone()[0] == 20
    assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 1980
    assert conn.execute("SELECT count(*) FROM models WHERE json_extract(raw, '$.hotness') = 'hot'").fetchone()[0] == 1980


@pytest.mark.parametrize("field", ["downloads", "usedStorage", "likes"])
def test_a_number_past_64_bits_quarantines_its_item_and_the_crawl_goes_on(replica_factory, tmp_path, field):
    """JSON allows any integer and SQLite holds 64 bits: such a figure raised OverflowError at the page's
    insert, which stopped the crawl at that page for good."""
    server = replica_factory("synthetic:1500", seed=2)
    control(server, "POST", "faults", f"huge-number:on=list,field={field},rate=0.01".encode())
    db = tmp_path / "hub.db"
    out = crawl(db, server.url, mode="full", progress=False)
    assert out.code == EXIT_OK, out.summary
    conn = sqlite3.connect(db)
    reasons = [r[0] for r in conn.execute("SELECT reason FROM quarantine")]
    assert len(reasons) == 15 and all(f"field '{field}' is 9223372036854775808" in r for r in reasons), reasons[:2]
    assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 1485


def test_a_field_that_vanishes_becomes_null(replica_factory, tmp_path):
    server = replica_factory("synthetic:1500", seed=2)
    db = tmp_path / "hub.db"
    crawl(db, server.url, mode="full", progress=False)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM models WHERE likes IS NULL OR author IS NULL").fetchone()[0] == 0
    control(server, "POST", "faults", b"vanish:field=likes;vanish:field=pipeline_tag")
    out = crawl(db, server.url, mode="full", progress=False)
    assert out.code == EXIT_OK
    assert conn.execute("SELECT count(*) FROM models WHERE likes IS NOT NULL OR pipeline_tag IS NOT NULL"
                        ).fetchone()[0] == 0


def test_persistent_failure_stops_cleanly_and_resumes(replica_factory, tmp_path):
    server = replica_factory("synthetic:5000", seed=3)
    control(server, "POST", "faults", b"503:on=list,after=3")
    db = tmp_path / "hub.db"
    out = crawl(db, server.url, mode="full", max_retries=2, backoff=0.01, progress=False)
    assert out.code == EXIT_STOPPED
    conn = sqlite3.connect(db)
    status, reason, pages = conn.execute("SELECT status, reason, pages FROM runs").fetchone()
    assert status == "stopped" and "HTTP 503" in reason and "gave up" in reason and pages == 2
    assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 2000
    control(server, "DELETE", "faults")
    control(server, "POST", "requests/reset")
    again = crawl(db, server.url, mode="full", progress=False)
    assert again.code == EXIT_OK and stored(db)[1] == 5000
    # It resumed: only the remaining pages were fetched (and nothing before them).
    assert control(server, "GET", "requests")["counts"]["list"] == 3


def test_disk_full_leaves_the_database_intact_and_the_checkpoint_in_place(replica_factory, tmp_path):
    server = replica_factory("synthetic:6000", seed=3)
    db = tmp_path / "hub.db"
    out = subprocess.run(HUBDEX + ["crawl", "--full", "--endpoint", server.url, "--db", str(db),
                                   "--max-db-pages", "600"], capture_output=True, text=True, timeout=120)
    assert out.returncode == EXIT_STORAGE
    assert "database or disk is full" in out.stderr and "Traceback" not in out.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    state = json.loads(conn.execute("SELECT value FROM crawl_state WHERE key = 'full.pass'").fetchone()[0])
    models = conn.execute("SELECT count(*) FROM models").fetchone()[0]
    assert 0 < models < 6000 and models == state["page"] * 1000  # the checkpoint is the last committed page
    conn.close()
    again = crawl(db, server.url, mode="full", progress=False)
    assert again.code == EXIT_OK and stored(db)[0] == replica_oids(server)


def test_the_token_reaches_no_row_log_or_message(replica_factory, tmp_path):
    server = replica_factory("synthetic:1200", seed=3, faults="503:on=list,nth=1")
    secret = "hf_ThisIsASecretTokenValue123"
    db = tmp_path / "hub.db"
    env = {**os.environ, "HF_TOKEN": secret}
    ok = subprocess.run(HUBDEX + ["crawl", "--full", "--endpoint", server.url, "--db", str(db), "--backoff", "0.01"],
                        capture_output=True, text=True, timeout=120, env=env)
    bad = subprocess.run(HUBDEX + ["crawl", "nobody/nothing", "--endpoint", server.url, "--db", str(db)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert ok.returncode == EXIT_OK and bad.returncode == 1
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert secret.encode() not in blob
    assert secret not in ok.stdout + ok.stderr + bad.stdout + bad.stderr
    # It was sent, though: the replica counted this caller under a token's quota.
    policy = requests.get(f"{server.url}/api/models?limit=1", headers={"Authorization": f"Bearer {secret}"},
                          timeout=30).headers["RateLimit"]
    assert policy.startswith('"api";')


def test_crawl_cli_usage_errors_are_one_line(demo_replica, tmp_path):
    out = subprocess.run(HUBDEX + ["crawl", "--full", "--author", "x", "--db", str(tmp_path / "h.db")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "can't be combined with a scope" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(HUBDEX + ["crawl", "--incremental", "--endpoint", demo_replica.url, "--db",
                                   str(tmp_path / "h.db")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "run `hubdex crawl --full` first" in out.stderr and "Traceback" not in out.stderr
    conn = sqlite3.connect(tmp_path / "h.db")
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # refused before any run began
    out = subprocess.run(HUBDEX + ["crawl", "--metrics", "--endpoint", demo_replica.url, "--db",
                                   str(tmp_path / "h.db")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--metrics needs a completed full pass" in out.stderr
    for args, says in ((["--full", "--metrics"], "--full and --metrics are different modes"),
                       (["--metrics", "--cards"], "--metrics and --cards are different modes"),
                       (["--incremental", "--full"], "--incremental and --full are different modes"),
                       (["../../etc/passwd"], "not a model id: '../../etc/passwd'"),
                       (["openai-community/gpt2?expand=x#frag"], "not a model id"),
                       (["--endpoint", "127.0.0.1:18765"], "is not an http(s) URL"),
                       (["--endpoint", "ftp://example.org"], "is not an http(s) URL"),
                       (["--router", "not a url"], "is not an http(s) URL")):
        db = tmp_path / "never.db"
        out = subprocess.run(HUBDEX + ["crawl", "--db", str(db)] + args, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and says in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
        assert not db.exists() and not (tmp_path / "never.db.lock").exists()  # nothing written


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_stop_a_crawl_with_its_run_closed(replica_factory, tmp_path, sig):
    server = replica_factory("synthetic:5000", seed=2, faults="slow:on=list,after=2,delay=6")
    db = tmp_path / "hub.db"
    proc = subprocess.Popen(HUBDEX + ["crawl", "--full", "--endpoint", server.url, "--db", str(db), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (pass_in_progress(db) or (0, 0))[0]:
        time.sleep(0.05)  # until a page has committed: the crawl is mid-pass, waiting on a slow page
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "full crawl interrupted" in out and "Traceback" not in err
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status, reason FROM runs").fetchall() == [("interrupted", "interrupted")]
    assert conn.execute("SELECT count(*) FROM models").fetchone()[0] > 0  # committed pages stay


def test_long_waits_are_said_on_stderr(replica_factory, tmp_path):
    """Issue 17.11: a spent rate-limit budget and retries against a refused port are told as they
    happen, not only in the error at the end."""
    import socket

    server = replica_factory("demo", quotas={"api": 3, "resolvers": 100}, window=2)
    out = subprocess.run(HUBDEX + ["crawl", "--full", "--endpoint", server.url, "--db", str(tmp_path / "a.db"),
                                   "--no-progress"], capture_output=True, text=True, timeout=120)
    assert out.returncode == EXIT_OK, out.stderr
    assert "waiting 2 s for the api rate-limit window" in out.stderr.splitlines()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    out = subprocess.run(HUBDEX + ["crawl", "--full", "--endpoint", f"http://127.0.0.1:{port}", "--db",
                                   str(tmp_path / "b.db"), "--max-retries", "2", "--backoff", "1.5"],  # >= 1.1 s each
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == EXIT_STOPPED
    lines = out.stderr.splitlines()
    assert [line.split(" in ")[0] for line in lines[:2]] == ["retry 1 of 2", "retry 2 of 2"], lines
    assert all(f"s: connection refused (ConnectError) at http://127.0.0.1:{port}/api/models" in line
               for line in lines[:2])
    assert lines[-1].startswith("Error: gave up on") and lines[-1].endswith("connection refused (ConnectError)")


def test_counters_agree_with_the_replica_and_with_each_other(replica_factory, tmp_path):
    """Issue 17.12: the summary's requests are the requests the replica answered, and the progress
    line's models are the summary's models seen."""
    server = replica_factory("synthetic:2500", seed=4)
    db = tmp_path / "hub.db"
    for args in (["--full"], [], ["--metrics"], ["--prices"]):  # [] : incremental, after the full pass
        control(server, "POST", "requests/reset")
        out = subprocess.run(HUBDEX + ["crawl", "--endpoint", server.url, "--db", str(db), "--progress"] + args,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == EXIT_OK, out.stderr
        answered = sum(n for route, n in control(server, "GET", "requests")["counts"].items() if ":" not in route)
        summary = out.stdout.splitlines()[0]
        assert f"; {answered:,} requests," in summary, (args, answered, summary)
        seen = summary.split(" models seen")[0].rsplit(" ", 1)[1]
        shown = out.stderr.rsplit("\r", 1)[-1]  # the progress line as last drawn
        assert (f" {seen} models," in shown) if args != ["--prices"] else not shown.strip(), (args, shown, summary)
    assert answered == 1  # --prices: its one request, counted

"""Issue 26: hostile cards, full disks, symlinks and stray tokens. Each test names the guard it checks;
each fails when that guard is removed (checked by breaking it, see the issue's closing note)."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from hubdex.records.bounded import json_depth

from hubdex.store.lockfile import Busy, DaemonLock, WriterLock

from .conftest import UNLIMITED, crawl, derive

HUBDEX = [sys.executable, "-m", "hubdex"]

# 1.2 KB of front matter nesting 600 levels deep: PyYAML's composer recurses once per level.
DEEP_CARD = ("---\ndeep: " + "[" * 600 + "]" * 600 + "\n---\n# deep\n\nA card.\n").encode()
# 459 bytes that expand to 9**9 strings ("billion laughs"): 214 MB of JSON, 1.5 GB of RAM unbounded.
BOMB_CARD = ("---\n" + 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
    + "---\n# bomb\n").encode()


def run(args, timeout=180, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(HUBDEX + args, capture_output=True, text=True, timeout=timeout, **kwargs)


def one_error_line(out) -> str:
    assert "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, out.stderr
    return errors[0]


def _limit_memory():  # so that an unbounded parse fails here instead of eating the machine
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


# -- 1, 2: hostile cards ------------------------------------------------------------------------------

def test_card_parse_quarantines_the_deep_and_the_alias_bomb_cards_and_goes_on(tmp_path):
    (tmp_path / "deep.md").write_bytes(DEEP_CARD)
    (tmp_path / "bomb.md").write_bytes(BOMB_CARD)
    (tmp_path / "fine.md").write_bytes(b"---\nlicense: mit\nx: &x {a: 1}\ny: *x\n---\n# Fine\n\nSome text.\n")
    t0 = time.monotonic()
    out = subprocess.run(HUBDEX + ["card", "parse", "--json", str(tmp_path / "deep.md"), str(tmp_path / "bomb.md"),
                                   str(tmp_path / "fine.md")], capture_output=True, text=True, timeout=60,
                         preexec_fn=_limit_memory)
    assert time.monotonic() - t0 < 30
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    errors = out.stderr.splitlines()
    assert len(errors) == 2 and "nested more than 64 levels" in errors[0] and "deep.md" in errors[0], errors
    assert "expands to more than" in errors[1] and "bomb.md" in errors[1], errors
    parsed = json.loads(out.stdout)
    assert [p["file"] for p in parsed] == [str(tmp_path / "fine.md")]
    assert parsed[0]["front_matter"] == {"license": "mit", "x": {"a": 1}, "y": {"a": 1}}  # a modest alias is fine


def _hostile(server, model_ids):
    store = server.app.store
    for model_id, card in zip(model_ids, [DEEP_CARD, BOMB_CARD] * len(model_ids)):
        row, _ = store.find(model_id)
        store.cards[row] = card


def test_a_cards_crawl_and_an_incremental_crawl_quarantine_hostile_cards_and_succeed(replica_factory, tmp_path):
    from .conftest import control

    server = replica_factory("synthetic:300", seed=3)
    db = tmp_path / "hub.db"
    assert crawl(db, server.url, mode="full").ok
    conn = sqlite3.connect(db)
    top = [r[0] for r in conn.execute("SELECT id FROM models ORDER BY downloads DESC LIMIT 2")]
    _hostile(server, top)
    for attempt in range(2):  # the rerun meets no hostile card again: they were stored as unparsable
        out = run(["crawl", "--cards", "--endpoint", server.url, "--db", str(db)])
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    reasons = [r[0] for r in conn.execute("SELECT reason FROM quarantine WHERE url LIKE 'README.md%' ORDER BY id")]
    assert len(reasons) == 2 and "nested more than 64" in reasons[0] and "expands to more than" in reasons[1], reasons
    assert conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0] == 0
    assert conn.execute("SELECT max(length(front_matter)) FROM cards").fetchone()[0] < 100_000
    stored = conn.execute("SELECT count(*) FROM cards").fetchone()[0]
    assert stored == conn.execute("SELECT count(*) FROM models").fetchone()[0]
    # the incremental crawl: models changed on the Hub, two of them now hostile
    changed = control(server, "POST", "scenario", json.dumps({"update": 6, "seed": 4}).encode())["updated"]
    _hostile(server, changed[:2])
    out = run(["crawl", "--endpoint", server.url, "--db", str(db)])
    assert out.returncode == 0 and out.stdout.startswith("incremental crawl completed"), out.stderr
    assert conn.execute("SELECT count(*) FROM quarantine WHERE url LIKE 'README.md%'").fetchone()[0] == 4
    assert run(["crawl", "--endpoint", server.url, "--db", str(db)]).returncode == 0


def test_listing_items_with_ids_the_cli_refuses_or_too_deep_are_quarantined_not_crawled():
    from hubdex.crawl.items import BadItem, normalise, raw_of

    good = {"id": "org/model", "_id": "0" * 24, "tags": []}
    assert normalise(good).id == "org/model"
    for bad_id in ("../../etc/passwd", "../x", "org/..", "org/\x1b[31mred", "a/b/c", "org/a b", "/x", ""):
        with pytest.raises(BadItem, match="not a usable model id|has no id"):
            normalise({**good, "id": bad_id})
    assert normalise({**good, "id": "DJSammy/bert-base-danish-uncased_BotXO,ai"}).id  # a real legacy id: kept
    deep = good | {"cardData": json.loads("[" * 900 + "]" * 900)}
    with pytest.raises(BadItem, match="nested more than"):
        normalise(deep)
    assert raw_of(deep)  # the quarantine still gets its bytes


@pytest.mark.parametrize("where", ["cardData", "config", "siblings", "inferenceProviderMapping", "downloads",
                                   "tags", "modelId", "unknownField"])
def test_an_item_one_level_too_deep_is_refused_wherever_the_depth_is(where):
    """The depth bound is exact at its limit (128 levels for an item), whichever field nests: those
    `raw` keeps and those a column or child table holds (the check does not walk every item)."""
    from hubdex.crawl.items import BadItem, normalise

    def nested(levels):  # a value that adds `levels` levels below the field
        v = "x"
        for i in range(levels):
            v = [v] if i % 2 else {"k": v}
        return v

    def item(levels):
        base = {"id": "org/model", "_id": "0" * 24, "tags": ["a"], "siblings": [{"rfilename": "f"}]}
        value = nested(levels)
        if where == "siblings":  # a list of objects: the value sits in a sibling's field
            return base | {"siblings": [{"rfilename": "f", "lfs": nested(levels - 2)}]}
        if where == "inferenceProviderMapping":
            return base | {where: [{"provider": "p", "status": nested(levels - 2)}]}
        return base | {where: value}

    # the item itself is level 1: a field's value may add 127 levels
    deepest_allowed, refused = item(127), item(128)
    assert json_depth(refused, 200) == 129 and json_depth(deepest_allowed, 200) == 128
    with pytest.raises(BadItem, match="nested more than 128 levels"):
        normalise(refused)
    try:
        normalise(deepest_allowed)
    except BadItem as e:  # refused for what it holds (a tag that is a list, ...), never for its depth
        assert "nested" not in str(e)


def test_a_job_that_fails_unexpectedly_closes_its_run_and_the_next_one_says_a_killed_run_was_left(tmp_path):
    from hubdex import jobs
    from hubdex.store.db import open_db

    class Broken:
        def mode(self, db):
            return "broken"

        def describe(self):
            return "", "", {}

        def execute(self, ctx):
            raise TypeError("a bug nobody foresaw")

        def report(self, status, reason):
            return f"broken {status}\nreason: {reason}", {}

    db = tmp_path / "hub.db"
    out = jobs.run(Broken(), str(db))
    assert out.code == 4 and "TypeError: a bug nobody foresaw" in out.summary
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    conn.execute("INSERT INTO runs (mode, started_at, status) VALUES ('crawl', '2026-01-01', 'running')")
    conn.commit()
    out = jobs.run(Broken(), str(db))
    assert "ended without closing" in out.summary or "ended without closing" in (
        conn.execute("SELECT reason FROM runs ORDER BY id DESC").fetchone()[0])
    assert conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0] == 0
    open_db(str(db)).conn.close()


# -- 4: locks keyed by the file ------------------------------------------------------------------------

def test_two_crawls_through_a_symlink_a_hard_link_or_another_spelling_are_one_writer(demo_replica, tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    db = real_dir / "hub.db"
    from hubdex.crawl.scope import Scope

    assert crawl(db, demo_replica.url, scope=Scope(model_ids=["openai-community/gpt2"])).ok
    (tmp_path / "link.db").symlink_to(db)
    os.link(db, tmp_path / "hard.db")
    spellings = [tmp_path / "link.db", tmp_path / "hard.db", real_dir / ".." / "real" / "hub.db"]
    with WriterLock(str(db), "crawl full"):
        for name in spellings:
            out = run(["crawl", "--endpoint", demo_replica.url, "--db", str(name)])
            assert out.returncode == 3, (name, out.stderr)
            assert "another job is writing" in one_error_line(out)
    with WriterLock(str(tmp_path / "hard.db"), "crawl"):  # and the other way round, from another directory
        with pytest.raises(Busy):
            WriterLock(str(db)).__enter__()
        os.unlink(str(db) + ".lock")  # even without the path's lock file, the inode is locked
        with pytest.raises(Busy, match="another name of the same database file"):
            WriterLock(str(db)).__enter__()


def test_two_daemons_through_a_symlink_the_second_refused_with_exit_3(demo_replica, tmp_path):
    db = tmp_path / "hub.db"
    assert crawl(db, demo_replica.url, mode="full").ok
    (tmp_path / "link.db").symlink_to(db)
    sched = tmp_path / "schedules"
    sched.mkdir()
    (sched / "a.toml").write_text('[jobs.prices]\nargs = ["crawl", "--prices"]\nevery = "1d"\n')
    first = subprocess.Popen(HUBDEX + ["daemon", "--schedules", str(sched), "--db", str(db), "--endpoint",
                                       demo_replica.url], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: os.path.exists(f"{db}.daemon-state"))
        time.sleep(0.5)
        for other in (tmp_path / "link.db", ):
            out = run(["daemon", "--schedules", str(sched), "--db", str(other), "--endpoint", demo_replica.url],
                      timeout=30)
            assert out.returncode == 3 and "a daemon already runs" in one_error_line(out), out.stderr
        with pytest.raises(Busy):
            DaemonLock(str(tmp_path / "link.db")).__enter__()
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(40) == 0


def _wait_for(cond, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


# -- 5: tokens ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["hf_abcdefghij\n", "hf_abcdefghij\r\n", "  hf_abcdefghij  "])
def test_a_token_with_surrounding_whitespace_is_stripped_and_works(demo_replica, tmp_path, token):
    db = tmp_path / "hub.db"
    out = run(["crawl", "openai-community/gpt2", "--endpoint", demo_replica.url, "--db", str(db)],
              env={**os.environ, "HF_TOKEN": token})
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "hf_abcdefghij" not in out.stdout + out.stderr


@pytest.mark.parametrize("token", ["hf_abc\u00e9defgh", "hf_abc\ndefgh", "hf_abc defgh", "hf_abc\x00defgh"])
def test_a_token_a_header_cannot_carry_is_one_line_exit_2_never_printed(demo_replica, tmp_path, token):
    for how in ("env", "option"):
        args = ["crawl", "openai-community/gpt2", "--endpoint", demo_replica.url, "--db", str(tmp_path / "hub.db")]
        env = dict(os.environ)
        if how == "env":
            env["HF_TOKEN"] = token.replace("\x00", "\x01")
        else:
            args += ["--token", token.replace("\x00", "\x01")]
        out = run(args, env=env)
        assert out.returncode == 2, out.stderr
        assert "a header can't carry it (the token is not shown)" in one_error_line(out)
        assert "abc" not in out.stderr and "defgh" not in out.stderr
    assert not (tmp_path / "hub.db").exists()  # before anything is written


def test_token_in_a_schedule_is_refused_and_args_are_redacted_in_logs_and_status(demo_replica, tmp_path):
    sched = tmp_path / "schedules"
    sched.mkdir()
    for bad in ('["crawl", "--token", "hf_secretsecret"]', '["crawl", "--token=hf_secretsecret"]'):
        (sched / "a.toml").write_text(f"[jobs.inc]\nargs = {bad}\nevery = \"15m\"\n")
        out = run(["daemon", "--schedules", str(sched), "--db", str(tmp_path / "hub.db")], timeout=60)
        assert out.returncode == 2 and "--token in a schedule file" in one_error_line(out), out.stderr
        assert "secretsecret" not in out.stderr
    # whatever args hold, a token-shaped value or a URL's credentials are not shown
    db = tmp_path / "hub.db"
    assert crawl(db, demo_replica.url, mode="full").ok
    (sched / "a.toml").write_text('[jobs.scoped]\nargs = ["crawl", "--id-contains", "hf_secretsecret"]\n'
                                  'every = "1s"\n')
    proc = subprocess.Popen(HUBDEX + ["daemon", "--schedules", str(sched), "--db", str(db), "--endpoint",
                                      demo_replica.url.replace("http://", "http://user:pw@")],
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if '"run finished"' in line:
                break
        status = run(["status", "--schedules", str(sched), "--db", str(db), "--json"])
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=40)
    log = "".join(lines) + rest
    assert '"run started"' in log and "hf_***" in log and "***@" in log
    for leaked in ("secretsecret", "user:pw"):
        for where, text in (("log", log), ("status", status.stdout)):
            at = text.find(leaked)
            assert at < 0, (where, text[max(0, at - 300):at + 100])
    assert json.loads(status.stdout)["jobs"][0]["args"] == ["crawl", "--id-contains", "hf_***"]


# -- 6, 7: one line for every command; a newer database refused untouched ------------------------------

def _newer(src: pathlib.Path, tmp: pathlib.Path) -> pathlib.Path:
    d = tmp / "newer"
    d.mkdir()
    db = d / "hub.db"
    shutil.copyfile(src, db)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('hubdex', "
                 "'m099_from_the_future', '2030-01-01')")
    conn.commit()
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    return db


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    from hubdex.replica.server import start_replica

    server = start_replica("demo", quotas=UNLIMITED)
    db = tmp_path_factory.mktemp("derived") / "hub.db"
    assert crawl(db, server.url, mode="full").ok
    derive(db)
    yield server, db
    server.stop()


def test_a_database_from_a_newer_hubdex_is_refused_by_every_command_untouched(derived, tmp_path):
    server, src = derived
    db = _newer(src, tmp_path)
    before = db.read_bytes()
    for args in (["rank", "openai-community/gpt2"], ["compare", "openai-community/gpt2", "google-bert/bert-base-uncased"],
                 ["site", str(tmp_path / "site")], ["top"], ["matches", "openai-community/gpt2"], ["derive"],
                 ["crawl", "--endpoint", server.url], ["export", str(tmp_path / "out")]):
        out = run(args + ["--db", str(db)])
        assert out.returncode == 5, (args, out.stderr)
        assert "written by a newer hubdex" in one_error_line(out) and "m099_from_the_future" in out.stderr
    assert db.read_bytes() == before and os.listdir(db.parent) == ["hub.db"]
    assert not (tmp_path / "site").exists() and not (tmp_path / "out").exists()


def test_the_commands_that_gave_tracebacks_give_one_line(derived, tmp_path):
    _, db = derived
    for args, code, words in (
            (["top", "--limit", "99999999999999999999"], 2, "not in the range"),
            (["matches", "openai-community/gpt2", "--limit", "99999999999999999999"], 2, "not in the range"),
            (["site", "/dev/null"], 4, "cannot write the site to /dev/null"),
            (["site", "/proc/no/such/dir"], 4, "cannot write the site to /proc/no/such/dir")):
        out = run(args + ["--db", str(db)])
        assert out.returncode == code, (args, out.stderr)
        assert words in one_error_line(out), out.stderr


def test_read_only_commands_never_write_an_empty_file_or_an_older_database(derived, tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for args in (["rank", "openai-community/gpt2"], ["top"], ["matches", "openai-community/gpt2"],
                 ["compare", "a/b", "c/d"], ["site", str(tmp_path / "site")]):
        out = run(args + ["--db", str(empty)])
        assert out.returncode == 1 and "is empty, not a database yet" in one_error_line(out), (args, out.stderr)
    assert empty.read_bytes() == b"" and sorted(os.listdir(tmp_path)) == ["empty.db"]


def test_serve_on_a_database_in_a_read_only_directory_serves_it(derived, tmp_path):
    import requests

    from .test_exit_codes import unwritable

    _, src = derived
    ro = tmp_path / "ro"
    ro.mkdir()
    db = ro / "hub.db"
    conn = sqlite3.connect(src)
    conn.execute("VACUUM INTO ?", (str(db),))
    conn.close()
    with unwritable(ro):
        proc = subprocess.Popen(HUBDEX + ["serve", "--db", str(db), "--port", "0"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            url = proc.stdout.readline().strip()
            assert url.startswith("http://"), proc.stderr.read() if proc.poll() is not None else url
            r = requests.get(f"{url}hubdex/models.json?_shape=array&_size=1&id=openai-community/gpt2", timeout=60)
            assert r.status_code == 200 and r.json()[0]["id"] == "openai-community/gpt2"
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, err
        assert os.listdir(ro) == ["hub.db"]


# -- one resolver -------------------------------------------------------------------------------------

def test_rank_matches_and_compare_find_a_model_the_same_way(derived):
    _, db = derived
    for args in (["rank", "Google-BERT/BERT-base-uncased"], ["matches", "Google-BERT/BERT-base-uncased"],
                 ["compare", "Google-BERT/BERT-base-uncased", "openai-community/gpt2"],
                 ["rank", "bert-base-uncased"], ["rank", "gpt2"]):
        out = run(args + ["--db", str(db)])
        assert out.returncode == 0, (args, out.stderr)
        assert "note: " in out.stderr and "Traceback" not in out.stderr
    out = run(["rank", "nobody/\x1b[31mred", "--db", str(db)])
    assert out.returncode == 1 and "\x1b" not in out.stderr and "\\x1b[31mred" in one_error_line(out)


def test_a_renamed_model_is_found_by_its_old_id(replica_factory, tmp_path):
    from hubdex.store.db import open_db
    from hubdex.store.lookup import resolve

    from .conftest import control

    server = replica_factory("synthetic:300", seed=5)
    db_path = tmp_path / "hub.db"
    assert crawl(db_path, server.url, mode="full").ok
    conn = sqlite3.connect(db_path)
    before = dict(conn.execute("SELECT oid, id FROM models"))
    control(server, "POST", "scenario", json.dumps({"rename": 3, "seed": 2}).encode())
    assert crawl(db_path, server.url, mode="incremental").ok
    after = dict(conn.execute("SELECT oid, id FROM models"))
    renamed = [(before[o], after[o]) for o in before if after.get(o) != before[o]]
    assert len(renamed) == 3
    db = open_db(str(db_path), read_only=True)
    for old, new in renamed:
        found = resolve(db.conn, old.upper())
        assert (found.id, found.via) == (new, "renamed on the Hub since")


# -- 8: the daemon's smaller items ----------------------------------------------------------------------

def test_a_stop_that_arrives_after_the_job_ended_does_not_kill_the_process(tmp_path):
    code = ("import os, signal, sys\n"
            "from hubdex import cli\n"
            "class J:\n"
            "    def mode(self, db): return 'noop'\n"
            "    def describe(self): return '', '', {}\n"
            "    def execute(self, ctx): pass\n"
            "    def report(self, s, r): return 'noop ' + s, {}\n"
            f"out = cli._run(J(), {str(tmp_path / 'hub.db')!r})\n"
            "os.kill(os.getpid(), signal.SIGUSR1)\n"
            "sys.exit(out.code)\n")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_an_invalid_hubdex_day_is_refused_at_daemon_start(tmp_path):
    out = run(["daemon", "--db", str(tmp_path / "hub.db")], env={**os.environ, "HUBDEX_DAY": "2026-13-45"},
              timeout=60)
    assert out.returncode == 2 and "HUBDEX_DAY" in one_error_line(out)
    assert os.listdir(tmp_path) == []


def test_a_database_deleted_under_the_daemon_is_not_recreated(tmp_path):
    from .test_daemon import Clock, make, run_until, stop

    clock = Clock("2026-06-01T00:00:00")
    (tmp_path / "hub.db").write_bytes(b"")
    d, launcher = make(tmp_path, clock)
    run_until(d, clock, "2026-06-01T00:16:00")
    ran = len(launcher.calls)
    assert ran >= 1
    (tmp_path / "hub.db").unlink()
    run_until(d, clock, "2026-06-01T00:46:00")
    assert len(launcher.calls) == ran
    assert d.state.job("incremental")["last_outcome"] == "skipped: database missing"
    stop(d)


def test_a_pid_reused_after_a_crash_does_not_delay_the_start(tmp_path):
    from hubdex.daemon import state as state_mod

    from .test_daemon import Clock, make, stop

    other = subprocess.Popen(["sleep", "60"])  # the killed job's pid, now another program's
    try:
        st = state_mod.State(state_mod.path_for(str(tmp_path / "hub.db")))
        st.started("incremental", None, other.pid, 0.0)
        st.close()
        clock = Clock("2026-06-01T00:00:00")
        t0 = time.monotonic()
        d, launcher = make(tmp_path, clock)
        assert time.monotonic() - t0 < 5
        assert launcher.calls  # resumed at once
        stop(d)
    finally:
        other.kill()
        other.wait()


def test_status_says_what_the_running_daemon_does_and_apart_what_the_files_say(demo_replica, tmp_path):
    db = tmp_path / "hub.db"
    assert crawl(db, demo_replica.url, mode="full").ok
    sched = tmp_path / "schedules"
    sched.mkdir()
    (sched / "a.toml").write_text('[jobs.prices]\nargs = ["crawl", "--prices"]\nevery = "1d"\n')
    proc = subprocess.Popen(HUBDEX + ["daemon", "--schedules", str(sched), "--db", str(db), "--endpoint",
                                      demo_replica.url], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: json.loads(run(["status", "--schedules", str(sched), "--db", str(db), "--json"]).stdout)
                  ["daemon"]["running"])
        (sched / "a.toml").write_text('[jobs.prices]\nargs = ["crawl", "--prices"]\nevery = "6h"\n'
                                      '[jobs.derive]\nargs = ["derive"]\nafter = ["crawl"]\n')
        doc = json.loads(run(["status", "--schedules", str(sched), "--db", str(db), "--json"]).stdout)
        text = run(["status", "--schedules", str(sched), "--db", str(db)]).stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=40)
    assert [(j["id"], j["trigger"]) for j in doc["jobs"]] == [("prices", "every 1d")]
    assert doc["schedule_files"]["differs"] and doc["schedule_files"]["changed_jobs"] == ["derive", "prices"]
    assert "applied when it restarts" in text and "every 6h" in text


# -- 9: the scheduling loop is ours --------------------------------------------------------------------

def test_no_copy_of_apscheduler_private_code_and_the_clock_is_injected():
    src = pathlib.Path(__file__).resolve().parents[1] / "src" / "hubdex" / "daemon"
    text = "\n".join(p.read_text() for p in src.glob("*.py"))
    assert "def _process_jobs" not in text and "apscheduler.schedulers" not in text and "._get_run_times(" not in text
    assert "BaseScheduler" not in text and "BaseExecutor" not in text
    assert "time.time()" not in (src / "service.py").read_text()
    assert "datetime.now(" not in (src / "service.py").read_text()


# -- 3: the daemon on a full disk ------------------------------------------------------------------------

@contextlib.contextmanager
def small_disk(path: pathlib.Path, size: str):
    """A tmpfs of `size` at `path` (root only), unmounted at the end."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                       text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: pathlib.Path) -> pathlib.Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 512)
                f.flush()
    return filler


def test_the_daemon_survives_a_full_disk_and_catches_up_when_space_returns(demo_replica, tmp_path):
    """On a real full file system (a tmpfs): the daemon starts with no room for its state file, runs its
    jobs (they exit 5), stays up, logs one line; once space returns it writes its state, every run
    included, and its jobs succeed. (A state file already on disk may not need new space for a while:
    SQLite reuses its WAL; `test_every_state_write_survives_a_disk_full_error` fakes the error at
    every write instead.)"""
    crawled = tmp_path / "crawled.db"
    assert crawl(crawled, demo_replica.url, mode="full").ok
    with small_disk(tmp_path / "disk", "96m") as disk:
        db = disk / "hub.db"
        conn = sqlite3.connect(crawled)
        conn.execute("VACUUM INTO ?", (str(db),))  # the crawl's WAL stays off the small disk
        conn.close()
        sched = tmp_path / "schedules"
        sched.mkdir()
        (sched / "a.toml").write_text('[jobs.prices]\nargs = ["crawl", "--prices"]\nevery = "2s"\n')
        log_path = tmp_path / "daemon.log"
        filler = _fill(disk)
        with open(log_path, "w") as log:
            proc = subprocess.Popen(HUBDEX + ["daemon", "--schedules", str(sched), "--db", str(db), "--endpoint",
                                              demo_replica.url], stderr=log)

        def events(name):
            return [json.loads(line) for line in log_path.read_text().splitlines()
                    if line.startswith("{") and json.loads(line)["event"].startswith(name)]

        try:
            _wait_for(lambda: events("daemon state can't be written"), timeout=90)
            _wait_for(lambda: len(events("run finished")) >= 3, timeout=90)  # it goes on, disk full
            full_runs = len(events("run finished"))
            assert proc.poll() is None
            assert not os.path.exists(f"{db}.daemon-state") or sqlite3.connect(
                f"file:{db}.daemon-state?mode=ro", uri=True).execute(
                "SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
            filler.unlink()
            _wait_for(lambda: events("daemon state written again"), timeout=120)
            _wait_for(lambda: [e for e in events("run finished")[full_runs:] if e["outcome"] == "ok"], timeout=90)
            assert proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(40)
        text = log_path.read_text()
        assert code == 0, text[-3000:]
        assert len(events("daemon state can't be written")) == 1  # one line, however long it lasted
        assert "Traceback" not in text
        outcomes = [e["outcome"] for e in events("run finished")]
        assert set(outcomes[:full_runs]) <= {"storage", "ok"} and "storage" in outcomes[:full_runs], outcomes
        # every run the daemon finished is in its state file: those of the full disk were written later
        conn = sqlite3.connect(f"file:{db}.daemon-state?mode=ro", uri=True)
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == len(outcomes)
        assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_every_state_write_survives_a_disk_full_error(tmp_path):
    """A disk-full error faked at every write of the daemon's state: nothing raises, everything is kept
    in memory in order, and it is all written once writes succeed again."""
    from hubdex.daemon import state as state_mod

    now = [0.0]
    st = state_mod.State(str(tmp_path / "x.daemon-state"), monotonic=lambda: now[0])
    real = st.conn

    class Full:
        def execute(self, sql, params=()):
            if sql.lstrip().upper().startswith(("SELECT", "ROLLBACK")):
                return real.execute(sql, params)
            raise sqlite3.OperationalError("database or disk is full")

    st.conn = Full()
    st.set_meta(pid=1, loaded="[]")
    st.seen("a", 1.0)
    st.next_run("a", 5.0)
    st.started("a", 5.0, 123, 5.5)
    st.mark_pending("b", 6.0)
    st.take_pending("b")
    st.finished("a", slot=5.0, start=5.5, end=7.0, outcome="ok", code=0, run_id=1, counts={}, summary="s",
                resume=False)
    assert st.failing and len(st.pending) >= 10 and real.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    st.conn = real
    assert not st.flush()  # within the pause: not retried yet
    now[0] += 10
    assert st.flush() and not st.failing and not st.pending
    assert st.job("a")["last_outcome"] == "ok" and st.job("a")["next_run"] == 5.0 and st.meta()["pid"] == "1"
    assert st.job("b")["pending"] is None and real.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_a_schedule_nested_too_deep_is_one_line_exit_2(tmp_path):
    sched = tmp_path / "schedules"
    sched.mkdir()
    (sched / "a.toml").write_text("[jobs.x]\nargs = " + "[" * 5000 + "]" * 5000 + "\nevery = \"1h\"\n")
    out = run(["daemon", "--schedules", str(sched), "--db", str(tmp_path / "hub.db")], timeout=60)
    assert out.returncode == 2 and "nested too deep" in one_error_line(out), out.stderr


def test_a_card_that_breaks_a_parser_unexpectedly_is_one_cards_problem(replica_factory, tmp_path, monkeypatch):
    """Whatever a parser raises on one card (here a bug planted in the results-table reader, for the
    cards of two models) is that card's quarantine reason; the crawl completes."""
    from hubdex.records import cards as cards_mod

    server = replica_factory("synthetic:120", seed=2)
    db = tmp_path / "hub.db"
    assert crawl(db, server.url, mode="full").ok
    from hubdex.crawl import cards as crawl_cards_mod

    victims = [r[0] for r in sqlite3.connect(db).execute("SELECT id FROM models ORDER BY downloads DESC LIMIT 2")]
    store = server.app.store
    store.cards[store.find(victims[0])[0]] = b"# victim\n\n| a | f1 |\n|---|---|\n| x | 1 |\n"  # the parser
    store.cards[store.find(victims[1])[0]] = b"# victim-b\n\nText.\n"  # what the crawl does after parsing
    real, real_api = cards_mod.table_evaluations, crawl_cards_mod._add_api_model_index

    def planted(tables):
        if any(t["header"] == ["a", "f1"] for t in tables):
            raise ZeroDivisionError("planted")
        return real(tables)

    def planted_api(parsed, *args):
        if any(sec["title"] == "victim-b" for sec in parsed.sections):
            raise ZeroDivisionError("planted")
        return real_api(parsed, *args)

    monkeypatch.setattr(cards_mod, "table_evaluations", planted)
    monkeypatch.setattr(crawl_cards_mod, "_add_api_model_index", planted_api)
    with pytest.raises(cards_mod.CardError, match="ZeroDivisionError: planted"):
        cards_mod.parse(b"| a | f1 |\n|---|---|\n| x | 1 |\n")
    out = crawl(db, server.url, mode="cards")
    assert out.ok, out.summary
    conn = sqlite3.connect(db)
    reasons = [r[0] for r in conn.execute("SELECT reason FROM quarantine WHERE url LIKE 'README.md%'")]
    assert len(reasons) == 2 and all("ZeroDivisionError: planted" in r for r in reasons), reasons
    assert conn.execute("SELECT count(*) FROM cards").fetchone()[0] == 120


def test_two_daemons_on_a_database_not_yet_created_through_a_symlink(tmp_path):
    """Before the file exists there is no inode to lock: the lock file beside the resolved path is it."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link.db").symlink_to(tmp_path / "real" / "hub.db")
    with DaemonLock(str(tmp_path / "real" / "hub.db")):
        with pytest.raises(Busy):
            DaemonLock(str(tmp_path / "link.db")).__enter__()
    from hubdex.daemon import state as state_mod

    assert state_mod.path_for(str(tmp_path / "link.db")) == str(tmp_path / "real" / "hub.db.daemon-state")

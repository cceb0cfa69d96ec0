"""Exit codes as a user meets them (each command a subprocess): every cell of the README's exit-code
table is run here, and the table claims nothing this file does not run. Beside it, the storage and
usage cases of issue 17: read-only databases and directories, SQLite files hubdex did not create,
an empty `--db`, Ctrl-C in a derive.

Read-only, as root: root ignores file modes, so a file or directory is made immutable with
`chattr +i` (ext4 and most local file systems; the test is skipped where chattr is refused), which
stops root too; as another user, `chmod a-w` is enough and is used as well.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest

from hubdex.store.lockfile import DaemonLock, WriterLock

from .conftest import UNLIMITED, crawl, derive

HUBDEX = [sys.executable, "-m", "hubdex"]
README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
COMMANDS = ("crawl", "derive", "export", "rank", "top", "matches", "daemon")


def readme_table() -> dict:
    """{(command, code): cell} for every cell of the exit-code table that is not `—`."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| code | meaning |"))
    header = [c.strip().strip("`") for c in lines[start].strip("|").split("|")]
    claimed = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        for command, cell in zip(header[2:], cells[2:]):
            if cell != "—":
                claimed[(command, int(cells[0]))] = cell
    return claimed


@dataclass
class World:
    url: str          # a replica (the demo catalogue)
    db: pathlib.Path  # crawled and derived
    big: pathlib.Path  # a larger one, so that a derive or an export is still running when interrupted
    hanging: str      # an endpoint that accepts connections and never answers
    refused: str      # an endpoint where nothing listens
    listener: socket.socket  # the hanging endpoint's socket
    held: list = field(default_factory=list)  # its connections, open and unanswered

    def wait_for_a_request(self):
        """Until a client connects to the hanging endpoint."""
        self.listener.settimeout(60)
        conn, _ = self.listener.accept()
        self.held.append(conn)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from hubdex.replica.server import start_replica

    base = tmp_path_factory.mktemp("codes")
    demo, bigger = start_replica("demo", quotas=UNLIMITED), start_replica("synthetic:6000", seed=5, quotas=UNLIMITED)
    for db, server in ((base / "hub.db", demo), (base / "big.db", bigger)):
        assert crawl(db, server.url, mode="full").ok
        derive(db)
    bigger.stop()
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)  # never accepted: a request waits for its timeout
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = s.getsockname()[1]
    w = World(demo.url, base / "hub.db", base / "big.db", f"http://127.0.0.1:{hanging.getsockname()[1]}",
              f"http://127.0.0.1:{refused}", hanging)
    yield w
    for conn in w.held:
        conn.close()
    hanging.close()
    demo.stop()


def _copy(src: pathlib.Path, tmp: pathlib.Path) -> str:
    dst = tmp / src.name
    shutil.copyfile(src, dst)
    return str(dst)


def _junk(tmp: pathlib.Path) -> str:
    path = tmp / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 400)
    return str(path)


def _weights(tmp: pathlib.Path) -> str:
    path = tmp / "w.toml"
    path.write_text("[rank]\nadoption = inf\n")
    return str(path)


# (command, code) -> what produces it: {"args": [...], "lock": db to hold locked, "interrupt": db whose
# lock file says when the job has started}
CASES = {
    ("crawl", 0): lambda w, t: {"args": ["crawl", "openai-community/gpt2", "--endpoint", w.url, "--db", _copy(w.db, t)]},
    ("crawl", 1): lambda w, t: {"args": ["crawl", "nobody/nothing", "--endpoint", w.url, "--db", _copy(w.db, t)]},
    ("crawl", 2): lambda w, t: {"args": ["crawl", "--full", "--metrics", "--db", str(t / "new.db")]},
    ("crawl", 3): lambda w, t: {"args": ["crawl", "--endpoint", w.url, "--db", str(w.db)], "lock": w.db},
    ("crawl", 4): lambda w, t: {"args": ["crawl", "--endpoint", w.refused, "--db", str(t / "new.db"),
                                         "--max-retries", "0"]},
    ("crawl", 5): lambda w, t: {"args": ["crawl", "--endpoint", w.url, "--db", _junk(t)]},
    ("crawl", 130): lambda w, t: {"args": ["crawl", "openai-community/gpt2", "--endpoint", w.hanging, "--db",
                                           _copy(w.db, t), "--timeout", "60"], "interrupt": t / "hub.db",
                                  "when": w.wait_for_a_request},
    ("derive", 0): lambda w, t: {"args": ["derive", "--db", _copy(w.db, t)]},
    ("derive", 1): lambda w, t: {"args": ["derive", "--db", str(t / "absent.db")]},
    ("derive", 2): lambda w, t: {"args": ["derive", "--db", str(w.db), "--weights", _weights(t)]},
    ("derive", 3): lambda w, t: {"args": ["derive", "--db", str(w.db)], "lock": w.db},
    ("derive", 5): lambda w, t: {"args": ["derive", "--db", _junk(t)]},
    ("derive", 130): lambda w, t: {"args": ["derive", "--all", "--db", _copy(w.big, t)], "interrupt": t / "big.db"},
    ("export", 0): lambda w, t: {"args": ["export", str(t / "out"), "--db", _copy(w.db, t)]},
    ("export", 1): lambda w, t: {"args": ["export", str(t / "out"), "--db", str(t / "absent.db")]},
    ("export", 2): lambda w, t: {"args": ["export", str(t / "out"), "--db", str(w.db), "--since", "yesterday"]},
    ("export", 3): lambda w, t: {"args": ["export", str(t / "out"), "--db", str(w.db)], "lock": w.db},
    ("export", 4): lambda w, t: {"args": ["export", str(_touch(t / "a-file") / "out"), "--db", _copy(w.db, t)]},
    ("export", 5): lambda w, t: {"args": ["export", str(t / "out"), "--db", _junk(t)]},
    ("export", 130): lambda w, t: {"args": ["export", str(t / "out"), "--db", _copy(w.big, t)],
                                   "interrupt": t / "big.db"},
    ("rank", 0): lambda w, t: {"args": ["rank", "openai-community/gpt2", "--db", str(w.db)]},
    ("rank", 1): lambda w, t: {"args": ["rank", "nobody/nothing", "--db", str(w.db)]},
    ("rank", 2): lambda w, t: {"args": ["rank", "openai-community/gpt2", "--db", ""]},
    ("rank", 5): lambda w, t: {"args": ["rank", "openai-community/gpt2", "--db", _junk(t)]},
    ("top", 0): lambda w, t: {"args": ["top", "--db", str(w.db)]},
    ("top", 1): lambda w, t: {"args": ["top", "--task", "no-such-task", "--db", str(w.db)]},
    ("top", 2): lambda w, t: {"args": ["top", "--limit", "0", "--db", str(w.db)]},
    ("top", 5): lambda w, t: {"args": ["top", "--db", _junk(t)]},
    ("matches", 0): lambda w, t: {"args": ["matches", "openai-community/gpt2", "--db", str(w.db)]},
    ("matches", 1): lambda w, t: {"args": ["matches", "nobody/nothing", "--db", str(w.db)]},
    ("matches", 2): lambda w, t: {"args": ["matches", "openai-community/gpt2", "--limit", "0", "--db", str(w.db)]},
    ("matches", 5): lambda w, t: {"args": ["matches", "openai-community/gpt2", "--db", _junk(t)]},
}


def _schedules(tmp: pathlib.Path, args='["crawl", "--prices"]') -> str:
    d = tmp / "schedules"
    d.mkdir(exist_ok=True)
    (d / "a.toml").write_text(f"[jobs.prices]\nargs = {args}\nevery = \"1d\"\n")
    return str(d)


def _link(src: pathlib.Path, tmp: pathlib.Path) -> str:
    (tmp / "link.db").symlink_to(src)
    return str(tmp / "link.db")


CASES.update({
    ("daemon", 0): lambda w, t: {"args": ["daemon", "--schedules", _schedules(t), "--db", _copy(w.db, t), "--endpoint",
                                          w.url], "daemon_stop": t / "hub.db"},
    ("daemon", 2): lambda w, t: {"args": ["daemon", "--schedules", _schedules(t, '["crawl", "--token", "hf_x"]'),
                                          "--db", str(t / "hub.db")]},
    ("daemon", 3): lambda w, t: {"args": ["daemon", "--schedules", _schedules(t), "--db", _link(w.db, t)],
                                 "daemon_lock": w.db},
})


def _daemon_stopped(args, db: pathlib.Path) -> subprocess.CompletedProcess:
    """A daemon started, and sent SIGTERM once it says it has started."""
    proc = subprocess.Popen(HUBDEX + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if '"daemon started"' in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(lines) + err)


def _touch(path: pathlib.Path) -> pathlib.Path:
    path.write_text("")
    return path


def run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(HUBDEX + args, capture_output=True, text=True, timeout=180, **kwargs)


def _running(db: pathlib.Path) -> bool:
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0] > 0
        finally:
            conn.close()
    return False


def interrupted(args, db: pathlib.Path, sig=signal.SIGINT, *, in_run=True, when=None) -> subprocess.CompletedProcess:
    """Run a job and send it `sig` once its run has begun (its `runs` row reads `running`), or with
    `in_run=False` as soon as it holds the database's lock (before its run row exists), or when
    `when()` returns. (Not at an arbitrary instant: CPython ignores a KeyboardInterrupt that lands in
    an import's lock callback, and the job's first moments import modules.)"""
    proc = subprocess.Popen(HUBDEX + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if when is not None:
        when()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    lock = pathlib.Path(f"{db}.lock")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            if lock.read_text().startswith(f"pid {proc.pid}") and (not in_run or _running(db)):
                break
        time.sleep(0.005)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def one_error_line(out: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in out.stderr and "Aborted!" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, out.stderr
    return errors[0]


def test_the_table_claims_exactly_the_cases_run_here():
    claimed = readme_table()
    assert set(claimed) == set(CASES), (set(claimed) ^ set(CASES))
    assert {c for c, _ in claimed} == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_every_code_of_the_table(command):
    text = " ".join(run([command, "--help"]).stdout.split())
    codes = sorted(code for c, code in readme_table() if c == command)
    listed = [int(n) for n in re.findall(r"(?<![\d.])(\d{1,3}) [a-z]", text.split("Exit codes:")[1].split("Options:")[0])]
    assert listed == codes, (command, listed, codes)


@pytest.mark.parametrize("command,code", sorted(CASES))
def test_each_documented_exit_code(world, tmp_path, command, code):
    case = CASES[(command, code)](world, tmp_path)
    if "interrupt" in case:
        out = interrupted(case["args"], case["interrupt"], when=case.get("when"))
    elif "daemon_stop" in case:
        out = _daemon_stopped(case["args"], case["daemon_stop"])
    elif "daemon_lock" in case:
        with DaemonLock(str(case["daemon_lock"])):
            out = run(case["args"])
    elif "lock" in case:
        with WriterLock(str(case["lock"]), "derive"):
            out = run(case["args"])
    else:
        out = run(case["args"])
    assert out.returncode == code, (case["args"], out.stdout, out.stderr)
    if code == 0:
        # a crawl may say what it waited for; the daemon logs JSON lines
        assert out.stderr == "" or command in ("crawl", "daemon"), out.stderr
        return
    line = one_error_line(out)
    if code == 130:
        db = case["interrupt"]
        # interrupted once its run had begun, or before: no row is left running
        assert sqlite3.connect(db).execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0] == 0
        if command == "crawl":  # its summary says what it had committed
            assert out.stdout.startswith("scoped crawl interrupted: ") and line == "Error: interrupted"
        else:
            assert out.stdout == "" and line == f"Error: {command} interrupted"


# -- read-only databases and directories (17.6) -------------------------------------------------------

@contextlib.contextmanager
def unwritable(*paths: pathlib.Path):
    """Make files and directories unwritable, for root too (see the module's docstring)."""
    done = []
    try:
        for path in paths:
            mode = path.stat().st_mode
            path.chmod(mode & ~0o222)
            done.append((path, mode, False))
            if os.geteuid() == 0:
                r = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
                if r.returncode:
                    pytest.skip(f"running as root and chattr +i is refused here: {r.stderr.strip()}")
                done[-1] = (path, mode, True)
        yield
    finally:
        for path, mode, immutable in reversed(done):
            if immutable:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            path.chmod(mode)


def test_a_read_only_database_or_directory_is_one_line_and_exit_5_and_readers_still_read(world, tmp_path):
    ro_dir = tmp_path / "ro"
    ro_dir.mkdir()
    db = pathlib.Path(_copy(world.db, ro_dir))
    writers = {"crawl": ["crawl", "--endpoint", world.url, "--db", str(db)],
               "crawl (new file)": ["crawl", "--endpoint", world.url, "--db", str(ro_dir / "new.db")],
               "crawl (new directory)": ["crawl", "--endpoint", world.url, "--db", str(ro_dir / "sub" / "new.db")],
               "derive": ["derive", "--db", str(db)],
               "export": ["export", str(tmp_path / "out"), "--db", str(db)]}
    with unwritable(ro_dir):
        for label, args in writers.items():
            out = run(args)
            assert out.returncode == 5, (label, out.stderr)
            assert f"the directory {ro_dir} can't be written" in one_error_line(out), label
        assert sorted(os.listdir(ro_dir)) == ["hub.db"]  # no lock, -wal or -shm, no directory
        top = run(["top", "--db", str(db), "--limit", "3"])
        assert top.returncode == 0 and "openai-community/gpt2" not in top.stderr and len(top.stdout.split("\n\n")[0].splitlines()) == 4  # the table (notes follow)
        rank = run(["rank", "openai-community/gpt2", "--db", str(db)])
        assert rank.returncode == 0 and "rank = sum of contributions" in rank.stdout
        assert sorted(os.listdir(ro_dir)) == ["hub.db"]
    # the file read-only, its directory writable: refused before the lock file is made
    rw_dir = tmp_path / "rw"
    rw_dir.mkdir()
    db = pathlib.Path(_copy(world.db, rw_dir))
    with unwritable(db):
        for args in (["crawl", "--endpoint", world.url, "--db", str(db)], ["derive", "--db", str(db)]):
            out = run(args)
            assert out.returncode == 5 and f"{db} can't be written" in one_error_line(out), out.stderr
        assert "hub.db.lock" not in os.listdir(rw_dir)
        assert run(["top", "--db", str(db)]).returncode == 0


# -- an empty --db, files hubdex did not create (17.7) -------------------------------------------------

def test_an_empty_db_path_is_a_usage_error_that_writes_nothing(world, tmp_path):
    cwd = tmp_path / "here"
    cwd.mkdir()
    for args in (["crawl", "--endpoint", world.url, "--limit", "3"], ["derive"], ["export", str(tmp_path / "out")],
                 ["top"], ["rank", "openai-community/gpt2"]):
        out = run(args + ["--db", ""], cwd=cwd)
        assert out.returncode == 2 and "an empty path is not a database file" in one_error_line(out), out.stderr
    assert os.listdir(cwd) == [] and sorted(os.listdir(tmp_path)) == ["here"]  # no stray lock file anywhere


def test_an_sqlite_file_hubdex_did_not_create_is_left_untouched(world, tmp_path):
    foreign = tmp_path / "notes.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('mine')")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    for args in (["crawl", "--endpoint", world.url], ["derive"], ["export", str(tmp_path / "out")], ["top"],
                 ["rank", "openai-community/gpt2"]):
        out = run(args + ["--db", str(foreign)])
        assert out.returncode == 5, (args, out.stderr)
        assert "is an SQLite database that hubdex did not create (tables: notes)" in one_error_line(out)
    assert foreign.read_bytes() == before  # no _sqlite_migrations, not even a WAL switch
    assert sorted(os.listdir(tmp_path)) == ["notes.db"]  # no lock file, no export directory


# -- Ctrl-C in a derive (17.9) -------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_derive_interrupted_is_130_one_line_and_its_run_closed(world, tmp_path, sig):
    db = pathlib.Path(_copy(world.big, tmp_path))
    out = interrupted(["derive", "--all", "--db", str(db)], db, sig)
    assert out.returncode == 130 and out.stdout == "", out
    assert out.stderr.splitlines() == ["Error: derive interrupted"], out.stderr
    runs = sqlite3.connect(db).execute("SELECT mode, status FROM runs WHERE mode = 'derive' ORDER BY id").fetchall()
    assert runs[-1] == ("derive", "interrupted")


def test_ctrl_c_before_a_run_begins_is_130_and_one_line(world, tmp_path):
    db = pathlib.Path(_copy(world.big, tmp_path))
    out = interrupted(["derive", "--all", "--db", str(db)], db, in_run=False)
    assert out.returncode == 130 and out.stdout == "", out
    assert out.stderr.splitlines() in (["Error: interrupted before its run began; nothing written"],
                                       ["Error: interrupted"], ["Error: derive interrupted"]), out.stderr
    assert sqlite3.connect(db).execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0] == 0

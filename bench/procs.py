"""Servers as subprocesses for the benchmarks: start, read their URL, measure them, stop them.

Each benchmark runs the replica in its own process (its own core, as on a real network), so what is
measured is the client side; these helpers are what both benchmarks need around that.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HUGE_QUOTA = "api=1000000000,resolvers=1000000000"  # rate limits must never be what is measured


def hubdex_exe() -> list[str]:
    exe = Path(sys.executable).with_name("hubdex")
    return [str(exe)] if exe.exists() else [shutil.which("hubdex") or "hubdex"]


def children(pid: int) -> list[int]:
    """The processes pid started (and theirs), from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(x) for t in Path(f"/proc/{p}/task").iterdir()
                    for x in (t / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            kids = []
        out += kids
        todo += kids
    return out


def status_kb(pid: int, key: str) -> int:
    """VmRSS / VmHWM of a process, from the kernel's own accounting."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


class Server:
    """A server subprocess that prints its URL as the first stdout line; `stop()` always."""

    def __init__(self, argv: list[str], stderr_path: Path | None = None):
        t0 = time.perf_counter()
        self.stderr_path = stderr_path
        err = open(stderr_path, "w") if stderr_path else subprocess.PIPE
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
        if stderr_path:
            err.close()
        self.url = self.proc.stdout.readline().strip()
        self.startup_s = time.perf_counter() - t0
        if not self.url.startswith("http"):
            text = (stderr_path.read_text() if stderr_path else
                    (self.proc.stderr.read() if self.proc.poll() is not None else ""))
            self.stop()
            raise RuntimeError(f"server did not start: {argv}\n{text[-2000:]}")

    def status_kb(self, key: str) -> int:
        return status_kb(self.proc.pid, key)

    def rss_mb(self) -> float:
        return self.status_kb("VmRSS") / 1024

    def cpu_s(self) -> float:  # utime + stime: tells whether the server was busy or waiting
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def scenario(self, **step) -> dict:
        req = urllib.request.Request(f"{self.url}/_replica/scenario", data=json.dumps(step).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def replica(models: int, stderr_path: Path | None = None) -> Server:
    """`hubdex replica serve --catalog synthetic:N`, unthrottled."""
    return Server(hubdex_exe() + ["replica", "serve", "--catalog", f"synthetic:{models}", "--quota", HUGE_QUOTA],
                  stderr_path)


def load_line(start: float, end: float) -> str:
    """The report's line on machine load: a busy machine makes figures noisy."""
    return (f"load average (1 min) at start {start:.2f}, at end {end:.2f}"
            + ("  <- other work on this machine; figures may be noisy" if start > 0.5 else ""))


def report(text: str, out: dict, json_path: str | None):
    """Print a benchmark's summary and, if asked, write every figure as JSON."""
    import json
    from pathlib import Path

    print(text)
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(out, indent=2) + "\n")
        print(f"figures written to {json_path}")


def table(rows: list[tuple]) -> list[str]:
    """Rows as aligned text columns: the first left-aligned, the rest right-aligned."""
    w = [max(len(str(r[c])) for r in rows) for c in range(len(rows[0]))]
    return ["  ".join(str(v).ljust(x) if c == 0 else str(v).rjust(x) for c, (v, x) in enumerate(zip(r, w)))
            for r in rows]

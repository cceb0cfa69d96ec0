"""The pipeline's shape holds: stages import only what comes before them, derive loads no HTTP."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "hubdex"
# Data flows one way: fetch (hub), records, store, then the crawl that drives those three, derive
# (which reads only what the crawl stored: never the crawl or HTTP), present, compare (the "A vs B"
# entries and the static site, from what derive wrote; the derive job runs its step), export (the
# tables as Parquet: it reads the store only). `clock` is a leaf; serve (Datasette over the store),
# jobs, cli and demo sit on top, and the daemon beside jobs (it runs jobs as `hubdex` processes and
# reads the store, the budget file and the card backlog; the CLI hands it the click group it checks
# schedule args against); the replica stands apart.
STAGES = ["hub", "records", "store", "crawl", "derive", "present", "compare", "export"]
MAY_IMPORT = {
    "clock": set(),
    "hub": {"clock"},
    "records": {"clock"},
    "store": {"clock", "records"},
    "crawl": {"clock", "hub", "records", "store"},
    "derive": {"clock", "store"},
    "present": {"clock", "store", "derive"},
    "compare": {"clock", "store", "derive"},
    "export": {"clock", "store"},
    "serve": {"clock", "store", "compare"},  # compare: an entry's Markdown, rendered from its stored JSON
    "jobs": {"clock", "hub", "records", "store", "crawl", "derive", "present", "compare", "export"},
    "daemon": {"clock", "hub", "records", "store", "crawl", "derive", "present", "compare", "export", "jobs"},
    "cli": {"clock", "hub", "records", "store", "crawl", "derive", "present", "compare", "export", "jobs", "serve",
            "daemon"},
    "demo": {"clock", "hub", "records", "store", "crawl", "derive", "present", "compare", "export", "jobs"},
}


def _stage_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "hubdex" or len(parts) < 2:
        return None
    return parts[1].removesuffix(".py")


def _imports(path: pathlib.Path) -> set[str]:
    """The hubdex modules a file imports, anywhere in it (function-level imports included)."""
    rel = path.relative_to(SRC.parent).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("hubdex")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("hubdex"):
                out.add(name)
                out |= {f"{name}.{a.name}" for a in node.names}  # `from . import signals`
    return out


def test_the_folders_show_the_pipeline():
    present = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert set(STAGES) | {"jobs", "daemon", "replica"} <= present
    loose = {p.stem for p in SRC.glob("*.py")} - {"__init__", "__main__", "cli", "demo", "clock"}
    assert not loose, f"stage modules loose in src/hubdex: {sorted(loose)}"


def test_every_stage_imports_only_what_comes_before_it():
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        own = rel.parts[0].removesuffix(".py")
        if own in ("__init__", "__main__"):
            continue
        for target in _imports(path):
            stage = _stage_of(target)
            if stage is None or stage in ("__init__", "__version__", own):
                continue
            if own == "replica" or stage == "replica":
                if own not in ("cli", "demo"):  # the replica is apart: started by the CLI and the demo only
                    wrong.append(f"{rel} imports {target}")
                continue
            if stage not in MAY_IMPORT.get(own, set()):
                wrong.append(f"{rel} ({own}) imports {target} ({stage})")
    assert not wrong, "\n".join(wrong)


def test_importing_derive_loads_neither_the_crawl_nor_the_http_stack():
    code = ("import sys, hubdex.derive, hubdex.jobs.derive, hubdex.present.ranking; "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('hubdex', 'huggingface_hub', 'httpx', 'httpx2', 'requests', 'bs4', 'markdown_it'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "hubdex.derive" in loaded and "hubdex.derive.signals" in loaded  # the probe itself works
    leaked = [m for m in loaded if m.startswith(("hubdex.crawl", "hubdex.hub", "huggingface_hub", "httpx", "requests",
                                                  "bs4", "markdown_it"))]
    assert not leaked, leaked


def test_the_daemon_loads_neither_the_crawl_nor_the_http_stack():
    """The daemon runs every job as a child process: its own memory stays that of a scheduler."""
    code = ("import sys, hubdex.daemon.service, hubdex.daemon.status, hubdex.daemon.http; "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('hubdex', 'huggingface_hub', 'httpx', 'httpx2', 'numpy', 'pyarrow', 'yaml'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "hubdex.daemon.service" in loaded and "hubdex.crawl.backlog" in loaded  # the probe itself works
    leaked = [m for m in loaded if m.startswith(("hubdex.crawl.modes", "hubdex.hub.client", "hubdex.derive", "huggingface_hub",
                                                  "httpx", "numpy", "pyarrow", "yaml"))]
    assert not leaked, leaked


def test_no_file_holds_a_merge_conflict_marker():
    """Branches are merged by hand: a marker left in a doc or a YAML file breaks serve or misleads a reader."""
    root = SRC.parents[1]
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    assert "README.md" in tracked  # the probe itself works
    found = []
    for name in tracked:
        path = root / name
        if path.suffix in (".png", ".gz", ".xz") or not path.is_file():
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if line.startswith(("<<<<<<< ", ">>>>>>> ")):
                found.append(f"{name}:{n}")
    assert not found, found

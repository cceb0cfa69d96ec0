"""`hubdex` command line: a thin click group over the library."""

from __future__ import annotations

import json
import os
import signal
import sys

import click

from . import __version__

MAX_COUNT = 10**9  # any --limit past this is a typo, and SQLite's integers end at 2**63


class _Group(click.Group):
    def invoke(self, ctx):
        # Ctrl-C anywhere (before a job's run started, in `top`) is exit 130 and one line, as it is
        # inside a job, not click's "Aborted!" and 1.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("Error: interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="hubdex")
def main():
    """hubdex: crawl and index the Hugging Face Hub into one SQLite file."""


@main.command()
@click.argument("model_ids", nargs=-1)
@click.option("--full", "modes", flag_value="full", multiple=True,
              help="page through every model; tombstone the ones not seen")
@click.option("--incremental", "modes", flag_value="incremental", multiple=True,
              help="only what changed since the last run (the default once a full pass exists)")
@click.option("--metrics", "modes", flag_value="metrics", multiple=True,
              help="refresh downloads, likes and trending for every model")
@click.option("--cards", "modes", flag_value="cards", multiple=True,
              help="fetch and parse the cards not yet read at their model's sha, most downloaded first (--limit N)")
@click.option("--search", "modes", flag_value="search", multiple=True,
              help="the match graph's search evidence: the due queries of --queries and those derived from the "
                   "database, within a daily request budget")
@click.option("--queries", "queries_file", default=None, type=click.Path(dir_okay=False),
              help="the search crawl's queries file  [default: schedules/queries.toml]")
@click.option("--search-budget", default=None, type=click.IntRange(min=1, max=MAX_COUNT),
              help="the search crawl's requests per UTC day  [default: the queries file's]")
@click.option("--evidence", "modes", flag_value="evidence", multiple=True,
              help="benchmarks and their leaderboards, and the Spaces that load the most downloaded models, within a "
                   "daily request budget (evaluation results come with every listing)")
@click.option("--evidence-budget", default=None, type=click.IntRange(min=1),
              help="the evidence crawl's requests per UTC day  [default: 2000]")
@click.option("--spaces-models", default=None, type=click.IntRange(min=0),
              help="the evidence crawl follows the Spaces of this many most downloaded models  [default: 2000]")
@click.option("--prices", "modes", flag_value="prices", multiple=True,
              help="only the inference router's catalogue of providers and prices (full and incremental runs fetch it too)")
@click.option("--endpoint", envvar="HF_ENDPOINT", default="https://huggingface.co", show_default=True,
              help="the Hub, or a replica (also from HF_ENDPOINT)")
@click.option("--router", envvar="HUBDEX_ROUTER", default=None,
              help="the inference router [default: router.huggingface.co for the Hub, <endpoint>/router otherwise]")
@click.option("--db", "db_path", default="db/hub.db", show_default=True, type=click.Path(dir_okay=False),
              help="the SQLite file")
@click.option("--token", envvar="HF_TOKEN", default=None, show_envvar=True,
              help="Hub token (also from HF_TOKEN); never stored or printed")
@click.option("--author", default=None, help="scope: models of this author")
@click.option("--id-contains", "id_contains", default=None, help="scope: ids containing this text (the Hub's search=)")
@click.option("--filter", "filters", multiple=True, help="scope: a tag (repeatable): license:mit, gguf, en ...")
@click.option("--pipeline-tag", default=None, help="scope: a task, e.g. text-generation")
@click.option("--limit", default=None, type=click.IntRange(min=1, max=MAX_COUNT), help="scope: at most this many models")
@click.option("--timeout", default=30.0, type=click.FloatRange(min=0.1), show_default=True,
              help="seconds per request")
@click.option("--max-retries", default=8, type=click.IntRange(min=0, max=1000), show_default=True)
@click.option("--backoff", default=1.0, type=click.FloatRange(min=0), show_default=True,
              help="first retry wait in seconds (doubles each time, at most 60)")
@click.option("--max-db-pages", default=None, type=click.IntRange(min=1, max=2**31 - 2),
              help="cap the database file at this many pages; past it the crawl stops as on a full disk")
@click.option("--progress/--no-progress", default=None, help="progress line (default: on a terminal)")
@click.option("--details/--no-details", default=True, show_default=True,
              help="incremental: fetch model_info (file sizes, model-index) of new and changed models")
def crawl(model_ids, modes, endpoint, db_path, token, author, id_contains, filters, pipeline_tag, limit, timeout,
          max_retries, backoff, max_db_pages, progress, details, router, queries_file, search_budget, evidence_budget,
          spaces_models):
    """Crawl the Hub into SQLite (README.md cards too: --cards, and incremental runs). Exit codes: 0 done,
    1 unknown model ids, 2 usage error, 3 another crawl or derive holds the database, 4 stopped cleanly
    (the Hub kept failing; the next run resumes), 5 storage error (disk full, a database that can't be
    read or written), 130 interrupted (Ctrl-C or SIGTERM)."""
    from .crawl.scope import CrawlSettings, Scope
    from .hub.ids import invalid_reason
    from .jobs.crawl import CrawlJob

    chosen = list(dict.fromkeys(modes))
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join('--' + m for m in chosen)} are different modes: choose one")
    mode = chosen[0] if chosen else None
    for model_id in model_ids:
        why = invalid_reason(model_id)
        if why:
            raise click.UsageError(f"not a model id: {model_id!r} ({why})")
    _check_url(endpoint, "--endpoint")
    if router is not None:
        _check_url(router, "--router")
    token = _token(token)
    scope = Scope(author=author, search=id_contains, filters=list(filters), pipeline_tag=pipeline_tag, limit=limit,
                  model_ids=list(model_ids))
    if mode == "cards" and (scope.params() or scope.model_ids):
        raise click.UsageError("--cards works the whole backlog; only --limit applies to it")
    if scope.is_set() and mode in ("full", "incremental", "metrics", "prices", "search", "evidence"):
        raise click.UsageError(f"--{mode} crawls everything; it can't be combined with a scope")
    settings = CrawlSettings(endpoint=endpoint, token=token, mode=mode or "auto", scope=scope, router=router,
                             timeout=timeout, max_retries=max_retries, backoff=backoff, progress=progress,
                             details=details, max_db_pages=max_db_pages, queries_file=queries_file,
                             search_budget=search_budget, evidence_budget=evidence_budget,
                             spaces_models=spaces_models)
    _finish(_run(CrawlJob(settings), db_path))


def _check_url(url: str, option: str):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint=option)


def _token(token):
    """The token stripped and checked before any request (one line that never shows it, exit 2)."""
    from .hub.client import BadToken, clean_token

    try:
        return clean_token(token)
    except BadToken as e:
        raise click.UsageError(str(e)) from None


def _clock():
    from .clock import BadDay, Clock

    try:
        return Clock.from_environment()
    except BadDay as e:
        raise click.UsageError(str(e)) from None


def _run(job, db_path):
    from . import jobs

    clock = _clock()
    # SIGTERM (a service manager stopping us) stops a job as Ctrl-C does: its transaction rolls
    # back, its run row is closed as interrupted, and it exits 130 with its summary. SIGUSR1 (the
    # daemon stopping its job) asks a crawl to stop after the page in hand commits: exit 4, resumable.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    previous_usr1 = signal.signal(signal.SIGUSR1, lambda *_: jobs.request_stop())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})  # the daemon blocks it until now
    try:
        return jobs.run(job, db_path, clock=clock)
    finally:
        signal.signal(signal.SIGTERM, previous)
        # A stop that arrives once the job is over has nothing left to stop: ignored, never the
        # default action (which would end this process "killed by signal 10" as it reports success).
        signal.signal(signal.SIGUSR1, signal.SIG_IGN if previous_usr1 == signal.SIG_DFL else previous_usr1)


def _interrupt(*_):
    raise KeyboardInterrupt


def _finish(outcome):
    """Print a job's outcome the one way every command does, and exit with its code."""
    if outcome.code == 0:
        click.echo(outcome.summary)
    else:
        first, _, rest = outcome.summary.partition("\n")
        reason = rest.removeprefix("reason: ")
        if outcome.status and len(first.split()) == 2 and first.endswith(f" {outcome.status}"):
            # "derive interrupted": a run that got no figures says so in its one error line
            click.echo(f"Error: {first}" + (f": {reason}" if reason and reason != outcome.status else ""), err=True)
        else:
            if outcome.run_id is not None:
                click.echo(first)
            click.echo(f"Error: {reason or first}", err=True)
    sys.exit(outcome.code)


@main.group()
def card():
    """Model cards: what hubdex reads in them."""


@card.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file, in a list")
def card_parse(files, as_json):
    """Parse card files and print their sections, evaluations and capabilities."""
    from .records.cards import CardError, parse

    results, failed = [], 0
    for path in files:
        try:
            with open(path, "rb") as f:
                parsed = parse(f.read())
        except OSError as e:
            click.echo(f"Error: cannot read {path}: {e.strerror}", err=True)
            failed += 1
            continue
        except CardError as e:
            click.echo(f"Error: {path}: {e}", err=True)
            failed += 1
            continue
        doc = parsed.as_dict()
        results.append({"file": path, **{k: doc[k] for k in ("sections", "evaluations", "capabilities", "problems",
                                                              "truncated", "front_matter", "tables", "links")}})
        if not as_json:
            click.echo(_card_summary(path, parsed))
    if as_json:
        click.echo(json.dumps(results, indent=1, ensure_ascii=False, default=str))
    sys.exit(1 if failed else 0)


def _card_summary(path, parsed) -> str:
    lines = [f"== {path}" + (f"  ({'; '.join(parsed.problems)})" if parsed.problems else "")]
    lines.append("sections:")
    lines += [f"  {'  ' * max(s['level'] - 1, 0)}{s['title'] or '(top)'}" for s in parsed.sections]
    lines.append(f"evaluations ({len(parsed.evaluations)}):")
    lines += [f"  {e['metric']} = {e['value']:g}" + (f" on {e['dataset']}" if e["dataset"] else "")
              + (f" for {e['subject']}" if e["subject"] else "") + (f" [{e['split']}]" if e["split"] else "")
              + f"  ({e['where']})" for e in parsed.evaluations]
    lines.append(f"capabilities ({len(parsed.capabilities)}):")
    lines += [f"  {c['capability']}: {c['detail']}  [{c['evidence_kind']}: {c['evidence_source']}, "
              f"{c['confidence']}]" for c in parsed.capabilities]
    return "\n".join(lines)


def _existing_db(db_path: str):
    """The database, for commands that read what a crawl stored: a missing file is a user's mistake
    (exit 1), one that can't be read a storage error (5). Opened read-only: these commands write
    nothing, so they read a database in a directory they can't write."""
    import sqlite3

    from .jobs import EXIT_REFUSED, EXIT_STORAGE
    from .store.db import ForeignDatabase, NewerDatabase, NoDatabase, OlderDatabase, open_db

    if not db_path.strip():
        raise click.BadParameter("an empty path is not a database file", param_hint="--db")
    try:
        return open_db(db_path, read_only=True)
    except NoDatabase as e:
        _fail(str(e), EXIT_REFUSED)
    except (ForeignDatabase, NewerDatabase, OlderDatabase) as e:
        _fail(str(e), EXIT_STORAGE)
    except sqlite3.DatabaseError as e:
        _fail(f"cannot open {db_path}: {e}", EXIT_STORAGE)


def _fail(message: str, code: int):
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@main.command()
@click.option("--all", "everything", is_flag=True, help="rebuild every model's capabilities, not just what changed")
@click.option("--db", "db_path", default="db/hub.db", show_default=True, type=click.Path(dir_okay=False))
@click.option("--weights", "weights_path", default=None, type=click.Path(dir_okay=False),
              help="rank weights (TOML, the shape of src/hubdex/data/weights.toml) [default: the shipped file]")
def derive(everything, db_path, weights_path):
    """Compute capabilities, licences, pricing classes, signals and the rank from the stored crawl, and
    record which models changed. Exit codes: 0 done, 1 no database there, 2 usage error (a weights
    file refused), 3 another job holds the database, 5 storage error (a database that can't be read
    or written), 130 interrupted."""
    from .jobs.derive import DeriveJob

    try:
        job = DeriveJob(everything=everything, weights_path=weights_path)
    except (OSError, ValueError) as e:
        _fail(str(e), 2)  # a usage error (the message names the file and the key)
    _finish(_run(job, db_path))


@main.command()
@click.argument("model")
@click.option("--db", "db_path", default="db/hub.db", show_default=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="the explanation as JSON")
def rank(model, db_path, as_json):
    """A model's 0-100 rank with every signal: its inputs, percentile, weight and contribution. Exit
    codes: 0 shown, 1 no database there or the model is not ranked, 2 usage error, 5 a database that
    can't be read."""
    from .present.ranking import NotRanked, explain, render_explanation

    _show_one(db_path, model, lambda conn, model_id: explain(conn, model_id), NotRanked, as_json, render_explanation)


def _resolve(conn, model: str) -> str:
    """The id of the model a user named, found the one way every command finds it (store/lookup.py:
    case, renames, legacy ids); a note on stderr when it is not the id as typed; exit 1 if none."""
    from .store.lookup import UnknownModel, printable, resolve

    try:
        found = resolve(conn, model)
    except UnknownModel as err:
        _fail(str(err), 1)
    if found.via and found.via != "removed from the Hub":
        click.echo(f"note: {printable(model)} is {found.id}: {found.via}", err=True)
    return found.id


def _show_one(db_path, model, read, missing, as_json: bool, render):
    """What a read-only command prints of one model: `read(conn, id)`, as JSON or rendered; `missing`
    (the model isn't there) is one line and exit 1."""
    from .store.lookup import printable

    db = _existing_db(db_path)
    model_id = _resolve(db.conn, model)
    try:
        found = read(db.conn, model_id)
    except missing as err:
        _fail(printable(str(err)), 1)
    click.echo(json.dumps(found, indent=1, ensure_ascii=False) if as_json else render(found))


@main.command()
@click.argument("model")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1, max=MAX_COUNT), help="competitors shown")
@click.option("--db", "db_path", default="db/hub.db", show_default=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="competitors and complements as JSON")
def matches(model, limit, db_path, as_json):
    """A model's competitors in the match graph, strongest first, each with its evidence; then its
    complements. Exit codes: 0 shown (an empty list says why), 1 no database there or an unknown
    model, 2 usage error, 5 a database that can't be read."""
    from .present.matches import UnknownModel, matches as find, render

    _show_one(db_path, model, lambda conn, model_id: find(conn, model_id, limit), UnknownModel, as_json, render)


@main.command()
@click.argument("model_a")
@click.argument("model_b")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json", "html"]), default="text",
              show_default=True)
@click.option("--db", "db_path", default="db/hub.db", show_default=True, type=click.Path(dir_okay=False))
def compare(model_a, model_b, fmt, db_path):
    """"A vs B": two models side by side, every figure with its source, and a verdict. From the stored
    entry when it is fresh (what `hubdex derive` built), built on the spot otherwise (any two models,
    matched or not). Exit codes: 0, 1 unknown model, 5 unreadable database."""
    from .compare.build import UnknownModel, one
    from .compare.entry import render_text
    from .compare.site import comparison_html

    db = _existing_db(db_path)
    try:
        e, markdown, how = one(db.conn, _resolve(db.conn, model_a), _resolve(db.conn, model_b))
    except UnknownModel as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(1)
    if fmt == "json":
        click.echo(json.dumps(e, indent=1, ensure_ascii=False, sort_keys=True))
    elif fmt == "markdown":
        click.echo(markdown, nl=False)
    elif fmt == "html":
        click.echo(comparison_html(e), nl=False)
    else:
        click.echo(render_text(e) + f"({how})")


@main.command("site")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--db", "db_path", default="db/hub.db", show_default=True, type=click.Path(dir_okay=False))
def site_command(out_dir, db_path):
    """A static site of the comparisons in DIR (works offline: no script, no request to another host):
    an index per task, a page per model and per comparison. A rerun writes only the pages that changed.
    Exit codes: 0, 1 no database there, 4 DIR can't be written, 5 unreadable database."""
    from .compare.site import build_site

    db = _existing_db(db_path)
    try:
        res = build_site(db.conn, out_dir)
    except OSError as e:  # DIR is a file, can't be created or written: one line, as `export` says it
        _fail(f"cannot write the site to {out_dir}: {e.strerror or e}", 4)
    click.echo(res.summary(out_dir))


@main.command()
@click.option("--task", default=None, help="only models of this pipeline tag, e.g. text-generation")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1, max=MAX_COUNT))
@click.option("--db", "db_path", default="db/hub.db", show_default=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="the list as JSON")
def top(task, limit, db_path, as_json):
    """The best-ranked models, overall or for one task. Exit codes: 0 shown, 1 no database there or
    nothing ranked (for that task), 2 usage error, 5 a database that can't be read."""
    from .present.ranking import render_top, top as best

    db = _existing_db(db_path)
    rows = best(db.conn, task, limit)
    if not rows:
        has_scores = db.conn.execute("SELECT 1 FROM model_scores LIMIT 1").fetchone()
        click.echo(f"Error: {'no ranked model has the task ' + repr(task) if has_scores else 'nothing ranked yet: crawl, then run `hubdex derive`'}",
                   err=True)
        sys.exit(1)
    click.echo(json.dumps(rows, indent=1, ensure_ascii=False) if as_json else render_top(rows))


def _day_option(value, option):
    from .clock import BadDay, parse_day

    if value is None:
        return None
    try:
        return parse_day(value)
    except BadDay:
        raise click.BadParameter(f"{value!r} is not a day like 2026-12-01", param_hint=option) from None


@main.command("export")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--db", "db_path", default="db/hub.db", show_default=True, type=click.Path(dir_okay=False))
@click.option("--tables", multiple=True,
              help="only these tables (comma-separated or repeated) [default: every data and history table]")
@click.option("--since", default=None, metavar="DAY",
              help="history tables: only the days from DAY (YYYY-MM-DD) on; earlier partitions stay as they are")
@click.option("--prune-history-before", "prune_before", default=None, metavar="DAY",
              help="after exporting, delete history rows before DAY from SQLite (each model's latest kept), only "
                   "if the files in DIR hold the same rows")
def export_command(out_dir, db_path, tables, since, prune_before):
    """Export the database as Parquet (zstd) for DuckDB and Spark: a file per table, history partitioned
    by day (day=YYYY-MM-DD/), a _manifest.json; a rerun writes only what changed. Exit codes: 0 done,
    1 no database there or the prune was refused (nothing deleted), 2 usage error, 3 a crawl, derive or
    export holds the database, 4 stopped (DIR can't be written, or another export is writing it),
    5 storage error, 130 interrupted."""
    from .export.tables import HISTORY_TABLES, UnknownTable
    from .jobs.export import ExportJob

    since_day = _day_option(since, "--since")
    prune_day = _day_option(prune_before, "--prune-history-before")
    try:
        job = ExportJob(out_dir, tables=tables, since=since_day, prune_before=prune_day)
    except UnknownTable as e:
        raise click.BadParameter(str(e), param_hint="--tables") from None
    if prune_day is not None and not set(job.tables) & set(HISTORY_TABLES):
        raise click.UsageError(f"--prune-history-before prunes {' and '.join(HISTORY_TABLES)}: "
                               "--tables names neither")
    _finish(_run(job, db_path))


def _default_schedules() -> str:
    """The shipped schedules/ (beside src/ in a checkout), else ./schedules."""
    import pathlib

    shipped = pathlib.Path(__file__).resolve().parents[2] / "schedules"
    return str(shipped) if shipped.is_dir() else "schedules"


def _load_schedules(directory, skipped=None):
    from .daemon.schedules import ScheduleError, load

    try:
        return load(directory or _default_schedules(), main, skipped), None
    except ScheduleError as e:
        return None, e


@main.command()
@click.option("--schedules", "schedules_dir", default=None, type=click.Path(file_okay=False),
              help="directory of *.toml schedule files [default: the shipped schedules/]")
@click.option("--db", "db_path", default="db/hub.db", show_default=True, type=click.Path(dir_okay=False),
              help="the database every job writes (unless its args give --db)")
@click.option("--endpoint", default=None,
              help="the Hub or a replica, for every job that takes --endpoint (unless its args give one) "
                   "[default: the jobs' own: HF_ENDPOINT or the Hub]")
@click.option("--http", "http_addr", default=None, metavar="HOST:PORT",
              help="serve /healthz and /metrics (Prometheus) there")
@click.option("--token-file", default=None, type=click.Path(dir_okay=False),
              help="a file holding the Hub token, handed to the jobs as HF_TOKEN (schedule files may not hold "
                   "--token) [default: the daemon's own HF_TOKEN]")
def daemon(schedules_dir, db_path, endpoint, http_addr, token_file):
    """Run the schedule files' jobs on time, one at a time, until SIGTERM or SIGINT (then the running
    crawl stops after its page commits, and the daemon exits 0 within 25 s; a second signal exits at
    once, 130). Missed runs run once at start, killed runs resume. Exit codes: 0 stopped cleanly,
    2 a schedule file is wrong (named, with the job) or a bad option, 3 a daemon already runs for
    this database (through any name of the file)."""

    from .daemon.service import Daemon, event, setup_logging
    from .store.lockfile import Busy, DaemonLock

    if endpoint is not None:
        _check_url(endpoint, "--endpoint")
    _clock()  # a malformed HUBDEX_DAY: refused now, not by every job it starts
    if token_file is not None:
        try:
            with open(token_file, encoding="utf-8", errors="replace") as f:
                os.environ["HF_TOKEN"] = _token(f.read()) or ""
        except OSError as e:
            raise click.BadParameter(f"cannot read {token_file}: {e.strerror}", param_hint="--token-file") from None
    elif os.environ.get("HF_TOKEN") is not None:
        os.environ["HF_TOKEN"] = _token(os.environ["HF_TOKEN"]) or ""
    host_port = _host_port(http_addr) if http_addr else None
    skipped = []
    specs, error = _load_schedules(schedules_dir, skipped)
    if error:
        click.echo(f"Error: schedule not valid: {error}", err=True)
        sys.exit(2)
    db_path = os.path.abspath(db_path)
    try:
        lock = DaemonLock(db_path).__enter__()
    except Busy as e:
        click.echo(f"Error: a daemon already runs for {os.path.realpath(db_path)} ({e})", err=True)
        sys.exit(3)
    except OSError as e:
        click.echo(f"Error: cannot create the daemon's lock beside {db_path}: {e.strerror}", err=True)
        sys.exit(2)
    setup_logging()
    for path in skipped:
        event("not a schedule file (no [jobs.*]): passed over", file=path)
    try:
        service = Daemon(specs, db_path, endpoint=endpoint)
        if host_port:
            from .daemon.http import Exporter, serve as serve_http

            try:
                serve_http(*host_port, Exporter(db_path, specs))
            except OSError as e:
                raise click.ClickException(f"cannot listen on {http_addr}: {e.strerror or e}") from None
            event("http serving", address=http_addr, paths=["/healthz", "/metrics"])
        sys.exit(service.serve())
    finally:
        lock.__exit__()


def _host_port(text: str):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{text!r} is not HOST:PORT", param_hint="--http")
    return host or "127.0.0.1", int(port)


@main.command()
@click.option("--schedules", "schedules_dir", default=None, type=click.Path(file_okay=False),
              help="directory of *.toml schedule files [default: the shipped schedules/]")
@click.option("--db", "db_path", default="db/hub.db", show_default=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="the status as JSON (a `jobs` list of objects with `id`)")
def status(schedules_dir, db_path, as_json):
    """Every scheduled job (trigger, last run: outcome, duration, counts; last success; next run), the
    card backlog, the rate-limit budget left, the database's size and whether a daemon is running.
    Exit codes: 0, or 2 when a schedule file is wrong (the status is still printed)."""
    from .daemon.status import gather, render

    specs, error = _load_schedules(schedules_dir)
    doc = gather(db_path, specs or [], schedule_error=str(error) if error else None)
    if as_json:
        click.echo(json.dumps(doc, indent=1, ensure_ascii=False))
    else:
        click.echo(render(doc))
    sys.exit(2 if error else 0)


@main.command()
@click.option("--db", "db_path", default="db/hub.db", show_default=True, type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (0.0.0.0: every interface)")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: a free one)")
def serve(db_path, host, port):
    """Serve the database with Datasette (read-only, while crawls and derives keep writing): described
    tables, facets, search, canned queries, dashboards. Prints its URL first; Ctrl-C or SIGTERM stops it."""
    import sqlite3

    from .serve import prepare, serve as run_server
    from .store.db import NoDatabase

    from .store.db import ReadOnly, check_file, check_writable

    try:
        check_file(db_path)
        try:
            check_writable(db_path)
        except ReadOnly as e:  # nothing can be brought up to date here: served as it is, as rank reads it
            note = f"{e}: served as it is"
        else:
            note = prepare(db_path)
    except NoDatabase as e:
        raise click.ClickException(str(e)) from None
    except sqlite3.DatabaseError as e:
        raise click.ClickException(f"cannot open {db_path}: {e}") from None
    except OSError as e:
        raise click.ClickException(f"cannot open {db_path}: {e.strerror or e}") from None

    if note:
        click.echo(f"note: {note}", err=True)

    def announce(url):
        click.echo(url)
        click.echo(f"serving {db_path} as /hubdex; dashboards at {url}-/dashboards; Ctrl-C stops", err=True)
        sys.stdout.flush()

    try:
        run_server(db_path, host, port, announce=announce)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


@main.group()
def replica():
    """The Hub replica: a local HTTP server that speaks the Hub's API."""


def _parse_quotas(text: str | None) -> dict:
    quotas = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        bucket, eq, value = part.partition("=")
        if bucket not in ("api", "resolvers") or not eq or not value.isdigit():
            raise click.BadParameter(f"{part!r}: use api=N,resolvers=N", param_hint="--quota")
        quotas[bucket] = int(value)
    return quotas


@replica.command("serve")
@click.option("--catalog", default="demo", show_default=True,
              help="demo | recorded | synthetic:N (N from 10 to 2,000,000; 100k and 1M forms accepted) | a corpus "
                   "directory (models.jsonl, benchmarks.jsonl, benchmarks.json; see docs/REPLICA.md)")
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="TCP port on 127.0.0.1 (default: a free one)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--seed", default=0, type=int, show_default=True, help="seed of the synthetic catalogue and faults")
@click.option("--faults", default="", help="fault spec, e.g. '503:on=list,nth=1;429:count=5'; the syntax (kinds, "
                                            "selectors, options) is in docs/REPLICA.md, section 'Faults'")
@click.option("--quota", default=None, help="requests per window for every caller, e.g. api=1000,resolvers=5000 "
                                            "(default: the Hub's, 500/3000 anonymous, 1000/5000 with a token)")
@click.option("--window", default=300.0, type=click.FloatRange(min=0.1), show_default=True,
              help="rate-limit window in seconds")
@click.option("--cdn-port", default=0, type=click.IntRange(0, 65535),
              help="port of the LFS file host /resolve/ redirects large files to (default: a free one)")
def replica_serve(catalog, port, host, seed, faults, quota, window, cdn_port):
    """Serve a catalogue until stopped; prints the URL first."""
    from .replica.app import Replica
    from .replica.catalog import CatalogSpecError, build
    from .replica.faults import FaultSpecError, parse_spec
    from .replica.ratelimit import RateLimiter
    from .replica.server import ReplicaServer

    quotas = _parse_quotas(quota)
    try:
        parse_spec(faults)
    except FaultSpecError as e:
        raise click.BadParameter(str(e), param_hint="--faults") from None
    from .replica.catalog import CorpusError

    try:
        store, recs = build(catalog, seed=seed)
    except CorpusError as e:  # a malformed corpus directory: one line naming the file and line
        click.echo(f"Error: --catalog {e}", err=True)
        sys.exit(2)
    except CatalogSpecError as e:
        raise click.BadParameter(str(e), param_hint="--catalog") from None
    app = Replica(store, recs, fault_spec=faults, seed=seed, limiter=RateLimiter(quotas, window), catalog=catalog)
    try:
        server = ReplicaServer(app, host=host, port=port, cdn_port=cdn_port)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port} (files on {cdn_port}): {e.strerror or e}") from None
    from .replica.server import quiet_gc

    quiet_gc()
    click.echo(server.url, nl=True)
    click.echo(f"serving {int(store.col('alive').sum()):,} models ({catalog}); HF_ENDPOINT={server.url}; "
               f"LFS files from {server.cdn_url}; Ctrl-C stops", err=True)
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def _control(url: str, method: str, what: str, body: bytes | None = None) -> dict:
    import requests

    try:
        r = requests.request(method, f"{url.rstrip('/')}/_replica/{what}", data=body, timeout=60)
    except requests.RequestException as e:
        raise click.ClickException(f"no replica answering at {url}: {type(e).__name__}") from None
    if r.status_code != 200:
        raise click.ClickException(f"replica refused: {r.headers.get('X-Error-Message') or r.text[:200]}")
    return r.json()


@replica.command("scenario")
@click.option("--url", required=True, help="the replica's URL, as `replica serve` printed it")
@click.option("--seed", default=1, type=int, show_default=True)
@click.option("--update", default="0", help="models updated: a count, or a fraction such as 0.01")
@click.option("--add", default="0", help="models added")
@click.option("--rename", default="0", help="models renamed")
@click.option("--delete", default="0", help="models deleted")
@click.option("--metrics", default="0", help="models whose downloads / likes / trending move")
@click.option("--advance", default=3600, type=click.IntRange(min=1), show_default=True,
              help="seconds the replica's clock moves")
@click.option("--summary", is_flag=True, help="print counts instead of every changed id")
def replica_scenario(url, seed, update, add, rename, delete, metrics, advance, summary):
    """Change the catalogue of a running replica (one seeded step) and print exactly what changed."""
    args = {"seed": seed, "advance": advance}
    for name, value in (("update", update), ("add", add), ("rename", rename), ("delete", delete),
                        ("metrics", metrics)):
        try:
            args[name] = float(value) if "." in value else int(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a count or a fraction", param_hint=f"--{name}") from None
        if not args[name] >= 0 or args[name] == float("inf"):
            raise click.BadParameter(f"{value!r}: a count or a fraction is not negative", param_hint=f"--{name}")
    changes = _control(url, "POST", "scenario", json.dumps(args).encode())
    if summary:
        changes = {k: (len(v) if isinstance(v, list) else v) for k, v in changes.items()}
    click.echo(json.dumps(changes, indent=1))


@replica.command("faults")
@click.option("--url", required=True)
@click.argument("spec", default="")
def replica_faults(url, spec):
    """Replace the faults of a running replica (an empty SPEC clears them; the syntax is in docs/REPLICA.md,
    section 'Faults')."""
    click.echo(json.dumps(_control(url, "POST", "faults", spec.encode()), indent=1))


@replica.command("state")
@click.option("--url", required=True)
def replica_state(url):
    """Print a running replica's catalogue size, clock, faults and rate limits."""
    click.echo(json.dumps(_control(url, "GET", "state"), indent=1))


if __name__ == "__main__":
    main()

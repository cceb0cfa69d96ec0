"""Schedule files, offline: triggers and their slots, args resolved against the real CLI, every
mistake one error naming the file and the job, and the shipped schedules themselves."""

from __future__ import annotations

import pathlib
from datetime import datetime, timezone

import click
import pytest

from hubdex.cli import main
from hubdex.daemon.schedules import After, Cron, Every, ScheduleError, load, resolve_args

UTC = timezone.utc
SHIPPED = pathlib.Path(__file__).resolve().parents[2] / "schedules"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write(tmp_path, text: str, name: str = "jobs.toml") -> pathlib.Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_the_shipped_schedule_loads_with_every_job_of_the_issue():
    skipped = []
    specs = {s.id: s for s in load(str(SHIPPED), main, skipped)}
    assert set(specs) == {"incremental", "metrics", "cards", "full", "derive", "search", "evidence"}
    assert specs["evidence"].args[:2] == ["crawl", "--evidence"] and isinstance(specs["evidence"].trigger, Cron)
    assert str(specs["incremental"].trigger) == "every 15m" and specs["incremental"].args == ["crawl"]
    assert specs["full"].args == ["crawl", "--full"] and isinstance(specs["full"].trigger, Cron)
    assert specs["cards"].args[:2] == ["crawl", "--cards"] and "--limit" in specs["cards"].args
    assert isinstance(specs["derive"].trigger, After) and specs["derive"].trigger.sources == ["crawl"]
    # The search crawl in its own file, so it can be turned off alone.
    search = specs["search"]
    assert search.file.endswith("search.toml") and search.args == ["crawl", "--search"] and search.enabled
    assert all(s.enabled for s in specs.values())
    assert [p.rsplit("/", 1)[-1] for p in skipped] == ["queries.toml"]  # the search crawl's queries: not jobs


def test_args_are_resolved_against_whatever_cli_there_is(tmp_path):
    """A job is checked against the CLI it will run under: a flag it does not take yet is refused,
    except in a disabled job, which then says why it cannot run."""
    @click.group()
    def cli():
        pass

    @cli.command()
    @click.option("--search", default=None)  # as before `crawl --search` became the search crawl
    @click.option("--db")
    def crawl(search, db):
        pass

    with pytest.raises(ValueError, match="requires an argument"):
        resolve_args(["crawl", "--search"], cli)
    r = resolve_args(["crawl", "--search"], main)  # today's CLI: the search crawl's flag
    assert r.command == "crawl" and r.given == {"modes"} and {"--db", "--endpoint"} <= set(r.accepts)
    write(tmp_path, '[jobs.s]\nargs = ["crawl", "--search"]\ncron = "0 5 * * *"\nenabled = false\n')
    spec, = load(str(tmp_path), cli)
    assert not spec.enabled and "do not resolve yet" in spec.why_disabled and "requires an argument" in spec.why_disabled
    write(tmp_path, '[jobs.s]\nargs = ["crawl", "--search"]\ncron = "0 5 * * *"\n')
    with pytest.raises(ScheduleError, match="job 's'.*requires an argument"):
        load(str(tmp_path), cli)


def test_other_toml_files_are_passed_over_but_misplaced_jobs_are_not(tmp_path):
    write(tmp_path, '[jobs.a]\nargs = ["crawl"]\nevery = "1h"\n', "a.toml")
    write(tmp_path, '[defaults]\nbudget = 5\n[families]\nterms = ["llama"]\n', "queries.toml")
    skipped = []
    assert [s.id for s in load(str(tmp_path), main, skipped)] == ["a"] and skipped[0].endswith("queries.toml")
    write(tmp_path, '[nightly]\nargs = ["crawl"]\ncron = "0 3 * * *"\n', "b.toml")
    with pytest.raises(ScheduleError, match=r"b.toml: unknown top-level key nightly"):
        load(str(tmp_path), main)


def test_every_slot_is_anchored_and_never_moves():
    t = Every("every 15m", 900)
    assert t.at_or_after(at("2026-12-01T10:07:30")) == at("2026-12-01T10:15:00")
    assert t.at_or_after(at("2026-12-01T10:15:00")) == at("2026-12-01T10:15:00")
    assert t.after(at("2026-12-01T10:15:00")) == at("2026-12-01T10:30:00")
    offset = Every("every 1h from ...", 3600, at("1970-01-01T00:40:00"))
    assert offset.at_or_after(at("2026-12-01T10:41:00")) == at("2026-12-01T11:40:00")
    # A late run (its previous fire time off the grid) does not move the grid.
    assert t.get_next_fire_time(at("2026-12-01T10:16:42"), at("2026-12-01T10:16:43")) == at("2026-12-01T10:30:00")


def test_a_gap_of_any_size_yields_at_most_two_run_times():
    """APScheduler lists every missed fire time before coalescing; these triggers skip to the latest."""
    t = Every("every 15m", 900)
    prev, now = at("2026-12-01T10:00:00"), at("2027-03-01T08:20:00")  # three months: 8,600 slots
    nxt = t.get_next_fire_time(prev, now)
    assert nxt == at("2027-03-01T08:15:00")
    assert t.get_next_fire_time(nxt, now) == at("2027-03-01T08:30:00")
    assert t.missed(prev, at("2026-12-01T11:00:00")) == 4
    cron = Cron("0 3 * * 0")
    assert cron.period == 7 * 86400
    assert cron.get_next_fire_time(at("2026-11-01T03:00:00"), at("2026-12-01T10:00:00")) == at("2026-11-29T03:00:00")
    assert cron.latest(at("2026-12-01T10:00:00")) == at("2026-11-29T03:00:00")


def test_cron_is_utc_and_five_fields():
    t = Cron("30 1 * * *")
    assert t.at_or_after(at("2026-12-01T01:31:00")) == at("2026-12-02T01:30:00")
    assert t.period == 86400


@pytest.mark.parametrize("body, says", [
    ('[jobs.a]\nargs = ["crawl"]\nevery = "15 minutes"\n', "not an interval"),
    ('[jobs.a]\nargs = ["crawl"]\nevery = "0m"\n', "not an interval"),
    ('[jobs.a]\nargs = ["crawl"]\ncron = "0 3 * *"\n', "not five fields"),
    ('[jobs.a]\nargs = ["crawl"]\ncron = "0 25 * * *"\n', "does not parse"),
    ('[jobs.a]\nargs = ["crawl"]\n', "needs exactly one trigger"),
    ('[jobs.a]\nargs = ["crawl"]\nevery = "1h"\ncron = "0 3 * * *"\n', "needs exactly one trigger"),
    ('[jobs.a]\nargs = ["crawl", "--fulll"]\nevery = "1h"\n', "No such option '--fulll'"),
    ('[jobs.a]\nargs = ["crawll"]\nevery = "1h"\n', "unknown command 'crawll' (did you mean 'crawl'?)"),
    ('[jobs.a]\nargs = ["crawl", "--limit", "many"]\nevery = "1h"\n', "'many' is not a valid integer"),
    ('[jobs.a]\nargs = ["daemon"]\nevery = "1h"\n', "not a job the daemon runs"),
    ('[jobs.a]\nargs = ["replica", "serve"]\nevery = "1h"\n', "not a job the daemon runs"),
    ('[jobs.a]\nargs = ["crawl", "--help"]\nevery = "1h"\n', "--help is not a job"),
    ('[jobs.a]\nargs = "crawl --full"\nevery = "1h"\n', "args must be a list of strings"),
    ('[jobs.a]\nargs = []\nevery = "1h"\n', "args is empty"),
    ('[jobs.a]\nargs = ["crawl"]\nevry = "1h"\nevery = "1h"\n', "unknown key evry"),
    ('[jobs.a]\nargs = ["crawl"]\nevery = "1h"\nanchor = "2026-01-01 00:00"\n', "not a UTC time"),
    ('[jobs.a]\nargs = ["derive"]\nafter = ["nothing"]\n', "after names 'nothing'"),
    ('[jobs.a]\nargs = ["crawl"]\nevery = "1h"\nenabled = "no"\n', "enabled must be true or false"),
])
def test_a_mistake_is_one_error_naming_the_file_and_the_job(tmp_path, body, says):
    write(tmp_path, '[jobs.fine]\nargs = ["crawl"]\nevery = "15m"\n', "a-fine.toml")
    write(tmp_path, body, "b-broken.toml")
    with pytest.raises(ScheduleError) as e:
        load(str(tmp_path), main)
    assert e.value.file.endswith("b-broken.toml") and e.value.job == "a", str(e.value)
    assert says in str(e.value) and "b-broken.toml, job 'a'" in str(e.value)


def test_file_level_mistakes_name_the_file(tmp_path):
    write(tmp_path, '[jobs.a\nargs = ["crawl"]\n', "bad.toml")
    with pytest.raises(ScheduleError, match=r"bad.toml: not valid TOML"):
        load(str(tmp_path), main)
    (tmp_path / "bad.toml").unlink()
    write(tmp_path, '[job.a]\nargs = ["crawl"]\nevery = "1h"\n', "typo.toml")
    with pytest.raises(ScheduleError, match=r"typo.toml: unknown top-level key job"):
        load(str(tmp_path), main)
    (tmp_path / "typo.toml").unlink()
    write(tmp_path, '[jobs.a]\nargs = ["crawl"]\nevery = "1h"\n', "one.toml")
    write(tmp_path, '[jobs.a]\nargs = ["derive"]\nevery = "1h"\n', "two.toml")
    with pytest.raises(ScheduleError, match=r"two.toml, job 'a': job id also declared in .*one.toml"):
        load(str(tmp_path), main)
    with pytest.raises(ScheduleError, match="no such directory"):
        load(str(tmp_path / "nothing-here"), main)


def test_db_and_endpoint_are_added_unless_the_args_give_them(tmp_path):
    write(tmp_path, '[jobs.a]\nargs = ["crawl", "--full"]\nevery = "1h"\n'
                    '[jobs.b]\nargs = ["crawl", "--db", "/other.db"]\nevery = "1h"\n'
                    '[jobs.d]\nargs = ["derive"]\nafter = ["crawl"]\n')
    specs = {s.id: s for s in load(str(tmp_path), main)}
    assert specs["a"].argv("/x.db", "http://hub") == ["crawl", "--full", "--db", "/x.db", "--endpoint", "http://hub"]
    assert specs["b"].argv("/x.db", None) == ["crawl", "--db", "/other.db"]
    assert specs["d"].argv("/x.db", "http://hub") == ["derive", "--db", "/x.db"]  # derive takes no --endpoint


@pytest.mark.parametrize("expr, first", [
    ("0 3 * * 0", "2026-12-06T03:00:00"),      # Sunday, as crontab means it (APScheduler 3 alone: Monday)
    ("0 3 * * 7", "2026-12-06T03:00:00"),
    ("0 3 * * sun", "2026-12-06T03:00:00"),
    ("0 3 * * 1-5", "2026-12-02T03:00:00"),    # 2026-12-01 is a Tuesday, 03:00 already past
    ("0 3 * * 6,0", "2026-12-05T03:00:00"),
    ("0 3 * * 5-7", "2026-12-04T03:00:00"),
])
def test_cron_weekdays_are_read_as_crontab_reads_them(expr, first):
    assert Cron(expr).at_or_after(at("2026-12-01T10:00:00")) == at(first)


def test_cron_refuses_day_and_weekday_together():
    with pytest.raises(ValueError, match="not both"):
        Cron("0 3 1 * 1")

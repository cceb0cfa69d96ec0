"""Schedule files: `schedules/*.toml`, each `[jobs.ID]` a hubdex command and a trigger in UTC.

    [jobs.incremental]
    args = ["crawl"]            # exactly as the CLI takes it; --db and --endpoint are added unless given
    every = "15m"               # s, m, h or d; anchored at 1970-01-01T00:00Z (or `anchor = "...Z"`)

    [jobs.full]
    args = ["crawl", "--full"]
    cron = "0 3 * * 0"          # five fields, UTC

    [jobs.derive]
    args = ["derive"]
    after = ["crawl"]           # once after any run of these jobs (ids) or commands changed something

Everything is checked when the files are read: TOML syntax, keys, the trigger, and `args`, resolved
against the click CLI itself (the command exists, every option and value parses). A job with
`enabled = false` is read and its trigger checked, but `args` that do not resolve yet only make it
say so (a job shipped ahead of the command it names). Any other mistake is one `ScheduleError`
naming the file and the job.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
from datetime import datetime, timedelta, timezone

import click
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
KEYS = {"args", "every", "cron", "after", "anchor", "enabled", "description"}
NOT_JOBS = {"daemon", "status"}  # commands of the CLI that are not jobs to schedule
TINY = timedelta(microseconds=1)


SECRET_OPTIONS = ("--token",)  # refused in schedule files: the daemon takes HF_TOKEN or --token-file
_TOKEN_LIKE = re.compile(r"\bhf_[A-Za-z0-9]{6,}")
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact_text(text: str) -> str:
    """Anything shaped like a Hub token, and a URL's credentials, replaced by `***` (log lines, summaries)."""
    return _URL_CREDENTIALS.sub("***@", _TOKEN_LIKE.sub("hf_***", text))


def redact(args: list) -> list[str]:
    """Args as they may be logged or shown: the value of any secret option, anything shaped like a
    Hub token and the credentials of a URL replaced by `***`, whatever option they came with."""
    out, hide = [], False
    for a in map(str, args):
        if hide:
            out.append("***")
            hide = False
            continue
        name, eq, _ = a.partition("=")
        if name in SECRET_OPTIONS:
            out.append(f"{name}=***" if eq else name)
            hide = not eq
            continue
        out.append(redact_text(a))
    return out


class ScheduleError(ValueError):
    def __init__(self, file: str, job: str | None, message: str):
        self.file, self.job, self.message = file, job, message
        where = f"{file}" + (f", job {job!r}" if job else "")
        super().__init__(f"{where}: {message}")


# -- triggers ------------------------------------------------------------------------------------

class Slots(BaseTrigger):
    """A job's fire times ("slots") in UTC, as an APScheduler trigger that never bursts.

    `get_next_fire_time(prev, now)` returns the first slot after `prev`; when that slot is already
    past (downtime, a suspended machine, a clock jumped forward) it returns the *latest* slot not
    after `now` instead, so APScheduler lists at most two run times whatever the gap, and coalesces
    them into one run. Slots depend only on the anchor (or the cron fields), never on when a run
    happened, so restarts and late runs do not move them."""

    def __init__(self, text: str):
        self.text = text

    # subclasses: first slot >= t, first slot > t, and `period` (the longest gap between slots)
    def at_or_after(self, t: datetime) -> datetime | None:
        raise NotImplementedError

    def after(self, t: datetime) -> datetime | None:
        return self.at_or_after(t + TINY)

    def get_next_fire_time(self, previous_fire_time, now):
        if previous_fire_time is None:
            return self.at_or_after(now)
        nxt = self.after(previous_fire_time)
        if nxt is None or nxt > now:
            return nxt
        return self.latest(now, floor=nxt)

    def latest(self, now: datetime, floor: datetime | None = None) -> datetime | None:
        """The latest slot <= now (not before `floor`), found from `now - period` in a few steps."""
        t = self.at_or_after(max(floor or EPOCH, now - timedelta(seconds=self.period)))
        if t is None or t > now:
            return None
        while (n := self.after(t)) is not None and n <= now:
            t = n
        return t

    def missed(self, since: datetime, now: datetime) -> int:
        """How many slots fell in (since, now] (counted up to 1000)."""
        count, t = 0, self.after(since)
        while t is not None and t <= now and count < 1000:
            count += 1
            t = self.after(t)
        return count

    def __str__(self):
        return self.text

    def __repr__(self):
        return f"<{type(self).__name__} {self.text}>"


class Every(Slots):
    def __init__(self, text: str, seconds: int, anchor: datetime = EPOCH):
        super().__init__(text)
        self.seconds, self.anchor, self.period = seconds, anchor, seconds

    def at_or_after(self, t):
        step = timedelta(seconds=self.seconds)
        slot = self.anchor + ((t - self.anchor) // step) * step
        return slot if slot >= t else slot + step


WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _weekday(token: str) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token) % 7
    if token.lower()[:3] in WEEKDAYS:
        return WEEKDAYS.index(token.lower()[:3])
    raise ValueError(f"{token!r} is not a weekday (0-7 or sun-sat)")


def crontab_weekdays(field: str) -> str:
    """The weekday field as crontab reads it (0 and 7 Sunday), spelt as names: APScheduler 3 counts
    0 as Monday, so `0 3 * * 0` handed to it as a number would run on Mondays."""
    if field == "*":
        return "*"
    days = []
    for part in field.split(","):
        span, _, step = part.partition("/")
        step_n = int(step) if step.isdigit() and int(step) > 0 else None
        if step and step_n is None:
            raise ValueError(f"{part!r}: the step must be a positive number")
        if span == "*":
            lo, hi = 0, 6
        elif "-" in span:
            a, _, b = span.partition("-")
            lo, hi = _weekday(a), _weekday(b)
            if hi == 0 and lo > 0:  # 5-7, fri-sun: Sunday at the end of the week
                hi = 7
        else:
            lo = hi = _weekday(span)
            if step_n:
                hi = 6
        if hi < lo:
            raise ValueError(f"{part!r}: a weekday range runs forwards (e.g. 1-5, mon-fri)")
        days += [WEEKDAYS[d % 7] for d in range(lo, hi + 1, step_n or 1)]
    return ",".join(dict.fromkeys(days))


class Cron(Slots):
    def __init__(self, text: str):
        super().__init__(text)
        minute, hour, day, month, weekday = text.split()
        if day != "*" and weekday != "*":
            raise ValueError("restrict the day of the month or the weekday, not both (cron runs on either, "
                             "APScheduler only on both)")
        self.cron = CronTrigger(minute=minute, hour=hour, day=day, month=month,
                                day_of_week=crontab_weekdays(weekday), timezone=UTC)
        # The longest gap between two fire times over the next year and a bit (weekly: 7 days).
        t, gaps = self.cron.get_next_fire_time(None, EPOCH + timedelta(days=20454)), []
        end = t + timedelta(days=400) if t else None
        while t is not None and t < end and len(gaps) < 600:
            n = self.cron.get_next_fire_time(None, t + TINY)
            if n is None:
                break
            gaps.append((n - t).total_seconds())
            t = n
        self.period = max(gaps) if gaps else 366 * 86400

    def at_or_after(self, t):
        return self.cron.get_next_fire_time(None, t)


class After(BaseTrigger):
    """Not a time: the job runs once after any of `sources` (job ids or commands) changed something."""

    period = None

    def __init__(self, sources: list[str]):
        self.sources = sources

    def get_next_fire_time(self, previous_fire_time, now):
        return None

    def __str__(self):
        return "after " + ", ".join(self.sources) + " changed something"


def parse_every(text) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text) if isinstance(text, str) else None
    if not m or int(m[1]) <= 0:
        raise ValueError(f"every = {text!r} is not an interval like 30s, 15m, 6h or 1d")
    return int(m[1]) * UNITS[m[2]]


def parse_time(text) -> datetime:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"anchor = {text!r} is not a UTC time like 2026-01-01T00:05:00Z")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"anchor = {text!r} is not a UTC time like 2026-01-01T00:05:00Z") from None


def parse_cron(text) -> Cron:
    if not isinstance(text, str) or len(text.split()) != 5:
        raise ValueError(f"cron = {text!r} is not five fields (minute hour day month weekday, UTC)")
    try:
        return Cron(" ".join(text.split()))
    except ValueError as e:
        raise ValueError(f"cron = {text!r} does not parse: {e}") from None


# -- args, against the CLI -------------------------------------------------------------------------

@dataclasses.dataclass
class Resolved:
    command: str
    given: set  # the parameters args give (click's names: 'db_path', 'modes', ...)
    accepts: dict  # the command's long options and the parameter each sets: {'--db': 'db_path', ...}


def resolve_args(args: list[str], cli: click.Group) -> Resolved:
    """Parse `args` as `hubdex` would, without running anything; ValueError says what is wrong."""
    if not args:
        raise ValueError("args is empty: name a hubdex command, e.g. args = [\"crawl\"]")
    root = click.Context(cli, info_name="hubdex")
    name = args[0]
    cmd = cli.get_command(root, name)
    commands = [c for c in cli.list_commands(root) if c not in NOT_JOBS]
    if cmd is None:
        close = difflib.get_close_matches(name, commands, n=1)
        raise ValueError(f"unknown command {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                         + f"; commands: {', '.join(commands)}")
    if name in NOT_JOBS or isinstance(cmd, click.Group):
        raise ValueError(f"{name!r} is not a job the daemon runs; commands: {', '.join(commands)}")
    if any(a in ("--help", "--version") for a in args[1:]):
        raise ValueError("--help is not a job")
    try:
        with cmd.make_context(name, list(args[1:]), parent=root) as ctx:
            given = {p.name for p in cmd.params
                     if ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE}
    except click.exceptions.Exit:
        raise ValueError("args ask the command to print and exit, not to run") from None
    except click.ClickException as e:
        raise ValueError(f"args {args!r}: {e.format_message()}") from None
    accepts = {o: p.name for p in cmd.params for o in getattr(p, "opts", []) if o.startswith("--")}
    return Resolved(name, given, accepts)


# -- jobs ------------------------------------------------------------------------------------------

@dataclasses.dataclass
class JobSpec:
    id: str
    file: str
    args: list
    trigger: BaseTrigger
    enabled: bool = True
    command: str = ""
    given: set = dataclasses.field(default_factory=set)
    accepts: dict = dataclasses.field(default_factory=dict)
    why_disabled: str | None = None
    description: str = ""

    @property
    def timed(self) -> bool:
        return isinstance(self.trigger, Slots)

    def argv(self, db: str | None, endpoint: str | None) -> list[str]:
        """The command line of a run: args, with the daemon's --db and --endpoint unless args give them."""
        out = list(self.args)
        for option, value in (("--db", db), ("--endpoint", endpoint)):
            if value and option in self.accepts and self.accepts[option] not in self.given:
                out += [option, value]
        return out

    def describe(self) -> str:
        return str(self.trigger)

    def shown(self) -> dict:
        """The job as `hubdex status` shows it (args redacted); the daemon writes its loaded jobs so."""
        return {"id": self.id, "file": os.path.basename(self.file), "args": redact(self.args),
                "trigger": self.describe(), "enabled": self.enabled, "disabled_reason": self.why_disabled,
                "period_s": getattr(self.trigger, "period", None)}


def load(directory: str, cli: click.Group, skipped: list | None = None) -> list[JobSpec]:
    """Every job of every `*.toml` in `directory`, checked against `cli` (the hubdex click group,
    handed down by the CLI: the daemon sits below it); ScheduleError on the first mistake.

    A TOML file with no `[jobs.*]` and nothing that looks like a job (no table with `args` or a
    trigger) is another kind of file living here (`queries.toml`, the search crawl's queries): it is
    passed over, and its path added to `skipped`. One that looks like jobs in the wrong place
    (`[job.nightly]`) is an error."""
    if not os.path.isdir(directory):
        raise ScheduleError(directory, None, "no such directory of schedule files")
    files = sorted(f for f in os.listdir(directory) if f.endswith(".toml"))
    if not files:
        raise ScheduleError(directory, None, "no *.toml schedule files here")
    specs: dict[str, JobSpec] = {}
    for name in files:
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ScheduleError(path, None, f"not valid TOML: {e}") from None
        except RecursionError:  # tomllib recurses once per level of nested arrays and tables
            raise ScheduleError(path, None, "not valid TOML: nested too deep") from None
        except OSError as e:
            raise ScheduleError(path, None, f"cannot read: {e.strerror}") from None
        if "jobs" not in doc and not _looks_like_jobs(doc):
            if skipped is not None:
                skipped.append(path)
            continue
        extra = set(doc) - {"jobs"}
        if extra:
            raise ScheduleError(path, None, f"unknown top-level key{'s' if len(extra) > 1 else ''} "
                                f"{', '.join(sorted(extra))}: jobs go under [jobs.ID]")
        jobs = doc.get("jobs", {})
        if not isinstance(jobs, dict):
            raise ScheduleError(path, None, "`jobs` must be tables: [jobs.ID]")
        for job_id, table in jobs.items():
            if job_id in specs:
                raise ScheduleError(path, job_id, f"job id also declared in {specs[job_id].file}")
            specs[job_id] = _job(path, job_id, table, cli)
    for spec in specs.values():  # `after` must name jobs or commands that are scheduled
        if isinstance(spec.trigger, After):
            for source in spec.trigger.sources:
                if not any(source in (o.id, o.command) for o in specs.values() if o is not spec):
                    raise ScheduleError(spec.file, spec.id, f"after names {source!r}: no job has that id or command")
    return list(specs.values())


def _looks_like_jobs(doc: dict) -> bool:
    def job_like(t):
        return isinstance(t, dict) and bool({"args", "every", "cron", "after"} & set(t))

    return any(job_like(v) or (isinstance(v, dict) and any(job_like(w) for w in v.values())) for v in doc.values())


def _job(path: str, job_id: str, table, cli) -> JobSpec:
    def bad(message):
        return ScheduleError(path, job_id, message)

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", job_id):
        raise bad("a job id is letters, digits, '_', '-' and '.'")
    if not isinstance(table, dict):
        raise bad("must be a table: [jobs.ID]")
    unknown = set(table) - KEYS
    if unknown:
        raise bad(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(sorted(unknown))} "
                  f"(keys: {', '.join(sorted(KEYS))})")
    args = table.get("args")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise bad("args must be a list of strings, e.g. args = [\"crawl\", \"--full\"]")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise bad("enabled must be true or false")
    kinds = [k for k in ("every", "cron", "after") if k in table]
    if len(kinds) != 1:
        raise bad("needs exactly one trigger: every = \"15m\", cron = \"0 3 * * 0\" or after = [\"crawl\"]"
                  + (f" (it has {' and '.join(kinds)})" if kinds else ""))
    if "anchor" in table and kinds != ["every"]:
        raise bad("anchor goes with every")
    try:
        if kinds == ["every"]:
            seconds = parse_every(table["every"])
            anchor = parse_time(table["anchor"]) if "anchor" in table else EPOCH
            text = f"every {table['every']}" + (f" from {table['anchor']}" if "anchor" in table else "")
            trigger = Every(text, seconds, anchor)
        elif kinds == ["cron"]:
            trigger = parse_cron(table["cron"])
        else:
            sources = table["after"]
            if isinstance(sources, str):
                sources = [sources]
            if not sources or not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
                raise ValueError("after must list job ids or commands, e.g. after = [\"crawl\"]")
            trigger = After(sources)
    except ValueError as e:
        raise bad(str(e)) from None
    if any(a.partition("=")[0] in SECRET_OPTIONS for a in args):
        raise bad("--token in a schedule file would be logged and shown by `hubdex status`: give the daemon "
                  "HF_TOKEN in its environment or `hubdex daemon --token-file PATH` instead")
    spec = JobSpec(job_id, path, list(args), trigger, enabled, description=str(table.get("description", "")))
    try:
        r = resolve_args(args, cli)
        spec.command, spec.given, spec.accepts = r.command, r.given, r.accepts
    except ValueError as e:
        if enabled:
            raise bad(str(e)) from None
        spec.command = args[0] if args else ""
        spec.why_disabled = f"args do not resolve yet: {e}"
    return spec

"""The export as a job: its run row (mode 'export'), the writer lock shared with crawls and derives
(a plain export only reads, but under the lock no job changes a table while it is read, and
--prune-history-before deletes), its outcome."""

from __future__ import annotations

import os

from ..clock import Clock
from ..export import ExportBusy, ExportResult, export, select_tables
from ..export.prune import PruneRefused, prune_history
from ..store.db import SCAN_CACHE_KB
from .runner import Refused, Stop

class ExportJob:
    needs_database = True  # exporting a file that isn't there is a mistake, not a new database
    holder = "export"

    def __init__(self, out_dir: str, tables=(), since: int | None = None, prune_before: int | None = None):
        self.tables = select_tables(tables)  # an unknown name is refused before anything is locked
        self.asked = tuple(tables)
        self.out_dir = os.path.abspath(out_dir)
        self.since, self.prune_before = since, prune_before
        self.result: ExportResult | None = None
        self.pruned: dict | None = None

    def configure(self, db):
        # The export's reads are scans, which a large page cache does not speed up.
        db.conn.execute(f"PRAGMA cache_size=-{SCAN_CACHE_KB}")

    def mode(self, db) -> str:
        return "export"

    def describe(self):
        args = {"dir": self.out_dir, "tables": list(self.asked) or "all",
                "since": Clock.date_of(self.since) if self.since is not None else None,
                "prune_history_before": Clock.date_of(self.prune_before) if self.prune_before is not None else None}
        return ",".join(self.asked), "", args

    def execute(self, ctx):
        try:
            self.result = export(ctx.db, self.out_dir, tables=self.tables, since=self.since, run_id=ctx.run_id,
                                 now=ctx.clock.now())
            ctx.notes = self.result.notes
            if self.prune_before is not None:
                self.pruned = prune_history(ctx.db, self.out_dir, self.tables, self.prune_before, today=ctx.day,
                                            now=ctx.clock.now(), run_id=ctx.run_id)
        except ExportBusy as e:
            raise Stop(str(e)) from None
        except PruneRefused as e:
            raise Refused(str(e)) from None
        except OSError as e:
            raise Stop(f"cannot write the export to {self.out_dir}: {e.strerror or e}") from None

    def report(self, status: str, reason: str | None):
        r = self.result
        lines = r.summary().splitlines() if r else [f"export {status}"]
        if self.pruned is not None:
            lines.insert(1, "pruned history before " + Clock.date_of(self.prune_before) + ": "
                         + ", ".join(f"{n:,} rows of {t}" for t, n in self.pruned.items())
                         + " (each model's latest row before that day kept)")
        if reason:  # the outcome's second line is its reason (the CLI prints it as the error)
            lines = [lines[0], f"reason: {reason}"]
        figures = {"files_written": r.files_written, "rows_written": r.rows_written} if r else {}
        if self.pruned is not None:
            figures["rows_pruned"] = sum(self.pruned.values())
        return "\n".join(lines), figures

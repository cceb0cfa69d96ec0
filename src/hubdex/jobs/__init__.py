"""Jobs, on top of the pipeline: one way to run a crawl or a derive (and, later, the daemon's and
the export's work): the writer lock, the clock, the `runs` row and the outcome's exit code."""

from .runner import (EXIT_BUSY, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, EXIT_STOPPED, EXIT_STORAGE, EXIT_USAGE,
                     Context, Outcome, Refused, Stop, Usage, request_stop, run)

__all__ = ["EXIT_BUSY", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_REFUSED", "EXIT_STOPPED", "EXIT_STORAGE", "EXIT_USAGE",
           "Context", "Outcome", "Refused", "Stop", "Usage", "request_stop", "run"]

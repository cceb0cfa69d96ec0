"""What a crawl is asked to do: its settings (the CLI's options, as one value) and its scope."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

MODES = ("auto", "full", "incremental", "metrics", "cards", "prices", "search", "evidence", "scoped")


@dataclass
class Scope:
    author: str | None = None
    search: str | None = None
    filters: list = field(default_factory=list)
    pipeline_tag: str | None = None
    limit: int | None = None
    model_ids: list = field(default_factory=list)

    def params(self) -> list[tuple[str, str]]:
        out = [("filter", f) for f in self.filters]
        for key, value in (("author", self.author), ("search", self.search), ("pipeline_tag", self.pipeline_tag)):
            if value:
                out.append((key, value))
        return out

    def is_set(self) -> bool:
        return bool(self.params() or self.limit or self.model_ids)

    def key(self) -> str:
        text = json.dumps([self.params(), self.limit, sorted(self.model_ids)])
        return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class CrawlSettings:
    endpoint: str = "https://huggingface.co"
    token: str | None = field(default=None, repr=False)  # never stored, logged or printed
    mode: str = "auto"
    scope: Scope = field(default_factory=Scope)
    router: str | None = None
    timeout: float = 30.0
    max_retries: int = 8
    backoff: float = 1.0
    progress: bool | None = None
    details: bool = True
    max_db_pages: int | None = None
    queries_file: str | None = None   # the search crawl's queries (default: schedules/queries.toml)
    search_budget: int | None = None  # its requests per day (default: the queries file's)
    evidence_budget: int | None = None  # the evidence crawl's requests per day (default: crawl/evidence.py)
    spaces_models: int | None = None    # how many of the most downloaded models' Spaces it follows

    def args(self) -> dict:
        """What the `runs` row records of them: never the token."""
        return {"mode": self.mode, "scope": self.scope.params(), "limit": self.scope.limit,
                "ids": self.scope.model_ids, "details": self.details,
                **({"queries": self.queries_file, "search_budget": self.search_budget} if self.mode == "search" else {}),
                **({"evidence_budget": self.evidence_budget, "spaces_models": self.spaces_models}
                   if self.mode == "evidence" else {})}

"""Shared fixtures: real replicas on 127.0.0.1, and the real fixtures in ../shared."""

from __future__ import annotations

import os
import pathlib

import pytest
import requests

from hubdex.replica.server import start_replica

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "fixtures" / "real"
UNLIMITED = {"api": 10**9, "resolvers": 10**9}

# huggingface_hub reads HF_HOME at import: keep its cache (agent registry, downloads) out of ~/.cache.
os.environ.setdefault("HF_HOME", str(REPO / ".pytest-hf-home"))
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def real_dir() -> pathlib.Path:
    """The ground truth: ../shared when it is beside the repo, else the copy shipped in the package."""
    if SHARED_REAL.is_dir():
        return SHARED_REAL
    return REPO / "src" / "hubdex" / "replica" / "data" / "real"


@pytest.fixture(scope="session")
def demo_replica():
    server = start_replica("demo", quotas=UNLIMITED)
    yield server
    server.stop()


@pytest.fixture
def replica_factory():
    """Start replicas with any catalogue / faults / quotas; all stopped at the end of the test."""
    started = []

    def start(catalog="demo", **kwargs):
        kwargs.setdefault("quotas", UNLIMITED)
        server = start_replica(catalog, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def replica_oids(server, sort: str = "createdAt") -> set:
    """Every model the replica lists right now (its `_id`s), paging through the whole listing."""
    out, url = set(), f"{server.url}/api/models?sort={sort}&expand=createdAt"
    while url:
        r = requests.get(url, timeout=60)
        out |= {i["_id"] for i in r.json()}
        url = r.links.get("next", {}).get("url")
    return out


@pytest.fixture
def crawled(replica_factory, tmp_path):
    """A replica and a database holding a completed full crawl of it: `server, db = crawled("synthetic:2000")`."""
    def make(catalog="demo", **kwargs):
        server = replica_factory(catalog, **kwargs)
        db = tmp_path / "hub.db"
        outcome = crawl(db, server.url, mode="full")
        assert outcome.ok, outcome.summary
        return server, db

    return make


def control(server, method, what, body=b""):
    r = requests.request(method, f"{server.url}/_replica/{what}", data=body, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def crawl(db, endpoint, *, scope=None, clock=None, **settings):
    """A crawl job run as the CLI runs it (lock, runs row, outcome); `settings` are CrawlSettings'."""
    from hubdex import jobs
    from hubdex.crawl.scope import CrawlSettings, Scope
    from hubdex.jobs.crawl import CrawlJob

    settings.setdefault("progress", False)
    return jobs.run(CrawlJob(CrawlSettings(endpoint=endpoint, scope=scope or Scope(), **settings)), str(db),
                    clock=clock)


def derive(db, *, clock=None, **kwargs):
    """A derive job on `db` (a path or an open sqlite_utils Database); returns its DeriveResult."""
    from hubdex import jobs
    from hubdex.jobs.derive import DeriveJob
    from hubdex.store.db import path_of

    job = DeriveJob(**kwargs)
    outcome = jobs.run(job, str(db) if isinstance(db, (str, os.PathLike)) else path_of(db), clock=clock)
    assert outcome.ok, outcome.summary
    return job.result

"""Git revisions of a replica repo: which commit a revision names, the refs, the commit history.

Every revision the Hub resolves resolves here too: a branch (`main`, `refs/heads/main`), `HEAD`, a tag
(`v1.0`, `refs/tags/v1.0`), a pull request (`refs/pr/N`), a full or abbreviated commit sha. Nothing is
stored per model: a synthetic model's history is its versions (version v has sha `sha_of(oid, v)`,
bumped by each scenario update), and whether it has a tag or open pull requests is a function of its
`_id`. A model backed by a recorded or hand-written body has one commit, its recorded `sha`, and
`main` only (a snapshot knows nothing of its history).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from . import render
from .store import Store

HEX = re.compile(r"[0-9a-f]{4,40}")
PR_REF = re.compile(r"refs/pr/([1-9][0-9]*)")
COMMITS_PAGE = 50  # commits per page of /commits/{rev} (the Hub's page size is not documented)


@dataclass(frozen=True)
class Rev:
    sha: str
    version: int | None  # the model version whose content it has; None = the current one
    ref: str | None      # the ref it was resolved through, if any


def _h(oid: str) -> int:
    return int(hashlib.sha1(f"refs:{oid}".encode()).hexdigest()[:8], 16)


def current_sha(store: Store, row: int) -> str:
    return render.Page(store, [row], listing=False).value("sha", 0)


def _synthetic(store: Store, row: int) -> bool:
    return row not in store.bodies


def tags(store: Store, row: int) -> dict[str, int]:
    """Tag name -> the version it points at: one synthetic model in three tagged its first commit."""
    if not _synthetic(store, row) or _h(store.oid(row)) % 3:
        return {}
    return {"v1.0": 0}


def pull_requests(store: Store, row: int) -> list[int]:
    """Open pull requests (numbers): one synthetic model in four has refs/pr/1, one in eight also refs/pr/2."""
    if not _synthetic(store, row):
        return []
    h = _h(store.oid(row))
    return [n for n, mod in ((1, 4), (2, 8)) if h % mod == 0]


def pr_sha(store: Store, row: int, number: int) -> str:
    return hashlib.sha1(f"{store.oid(row)}:pr{number}".encode()).hexdigest()


def version_count(store: Store, row: int) -> int:
    return int(store.cols["version"][row]) + 1 if _synthetic(store, row) else 1


def commit_sha(store: Store, row: int, version: int) -> str:
    return render.sha_of(store.oid(row), version) if _synthetic(store, row) else current_sha(store, row)


def resolve(store: Store, row: int, revision: str) -> Rev | None:
    """The commit a revision names, or None when the repo has no such revision."""
    rev = revision or "main"
    if rev in ("main", "HEAD", "refs/heads/main"):
        return Rev(current_sha(store, row), None, "refs/heads/main")
    tag = rev[len("refs/tags/"):] if rev.startswith("refs/tags/") else rev
    tagged = tags(store, row)
    if tag in tagged:
        return Rev(commit_sha(store, row, tagged[tag]), tagged[tag], f"refs/tags/{tag}")
    m = PR_REF.fullmatch(rev)
    if m:
        n = int(m.group(1))
        return Rev(pr_sha(store, row, n), None, rev) if n in pull_requests(store, row) else None
    if not HEX.fullmatch(rev):
        return None
    last = version_count(store, row) - 1
    found = [Rev(commit_sha(store, row, v), None if v == last else v, None) for v in range(last, -1, -1)]
    found += [Rev(pr_sha(store, row, n), None, None) for n in pull_requests(store, row)]
    hits = [r for r in found if r.sha.startswith(rev)]
    return hits[0] if len({r.sha for r in hits}) == 1 else None  # an ambiguous prefix names nothing


def refs(store: Store, row: int, include_prs: bool) -> dict:
    def ref(name, full, sha):
        return {"name": name, "ref": full, "targetCommit": sha}

    out = {"branches": [ref("main", "refs/heads/main", current_sha(store, row))], "converts": [],
           "tags": [ref(t, f"refs/tags/{t}", commit_sha(store, row, v)) for t, v in tags(store, row).items()]}
    if include_prs:
        out["pullRequests"] = [ref(f"refs/pr/{n}", f"refs/pr/{n}", pr_sha(store, row, n))
                               for n in pull_requests(store, row)]
    return out


def _commit_date(store: Store, row: int, version: int) -> int:
    if not _synthetic(store, row):
        return int(store.cols["modified"][row])
    created, modified = int(store.cols["created"][row]), int(store.cols["modified"][row])
    last = version_count(store, row) - 1
    if version == last:
        return modified
    return created + (modified - created) * version // max(last, 1)


def commits(store: Store, row: int, rev: Rev) -> list[dict]:
    """The history reachable from a revision, newest first, as /api/models/{id}/commits/{rev} lists it."""
    author = store.model_id(row).split("/")[0]
    person = [{"user": author, "avatar": f"https://cdn-avatars.huggingface.co/v1/production/uploads/{author}.png"}]
    last = version_count(store, row) - 1
    top = last if rev.version is None else rev.version
    out = []
    if rev.ref and rev.ref.startswith("refs/pr/"):
        out.append({"id": rev.sha, "title": f"Upload folder using huggingface_hub ({rev.ref})", "message": "",
                    "authors": person, "date": render.iso(int(store.clock or store.cols["modified"][row]))})
    for v in range(top, -1, -1):
        if not _synthetic(store, row):
            title = "Upload folder using huggingface_hub"
        else:
            title = "initial commit" if v == 0 else f"Update eval_results/v{v}.json and README.md"
        out.append({"id": commit_sha(store, row, v), "title": title, "message": "",
                    "authors": person, "date": render.iso(_commit_date(store, row, v))})
    return out


def split_rev(segments: list[str]) -> tuple[str, list[str]]:
    """A revision at the head of raw path segments, and the segments after it: `refs%2Fpr%2F1` is one
    segment, an unencoded `refs/pr/1` (or `refs/heads/x`, `refs/tags/x`) three."""
    from urllib.parse import unquote

    if len(segments) >= 3 and segments[0] == "refs" and segments[1] in ("pr", "heads", "tags"):
        return unquote("/".join(segments[:3])), segments[3:]
    return (unquote(segments[0]) if segments else ""), segments[1:]


FULL_SHA = re.compile(r"[0-9a-f]{40}")

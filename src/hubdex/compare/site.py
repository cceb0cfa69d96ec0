"""`hubdex site DIR`: the comparisons as a static site that works offline.

  DIR/index.html              the tasks, each with its models
  DIR/tasks/<task>.html       the models of a task in the entries, best ranked first
  DIR/models/<model>.html     a model's profile, its competitors and its comparisons
  DIR/compare/<a>-vs-<b>.html one entry

Every piece of text (ids, card text, capability details) is HTML-escaped; no page has a script,
and each carries a Content-Security-Policy that allows none, nor any request to another host (the
style is inline; links to the Hub are plain links, never loaded). File names are derived from ids
(only [A-Za-z0-9._-], with a hash of the id), so no id can name a path outside DIR. A rerun writes
only the pages whose bytes changed, and removes the pages it wrote before that are no longer part
of the site (listed in DIR/.hubdex-site.json).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from dataclasses import dataclass

from . import build as build_
from . import entry as entry_

MANIFEST = ".hubdex-site.json"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; base-uri 'none'"
STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:1.5rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.8rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;
vertical-align:top}th{background:#f4f4f4}.src{color:#777;font-size:12px}.unknown{color:#999;font-style:italic}
.mark{font-size:12px;padding:0 .3rem;border-radius:3px;background:#eee}.unique{background:#e3f0ff}
nav a{margin-right:1rem}"""


def esc(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def slug(text: str, limit: int = 80) -> str:
    """A file name piece for any id: safe characters only, never '.' or '..', unique by its hash."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:limit] or "x"
    return f"{base}-{hashlib.blake2b(text.encode(), digest_size=4).hexdigest()}"


def model_path(model_id: str) -> str:
    return f"models/{slug(model_id)}.html"


def compare_path(a: str, b: str) -> str:
    digest = hashlib.blake2b(f"{a}\0{b}".encode(), digest_size=5).hexdigest()
    return f"compare/{slug(a.split('/')[-1], 50)[:-9]}-vs-{slug(b.split('/')[-1], 50)[:-9]}-{digest}.html"


def task_path(task: str | None) -> str:
    return f"tasks/{slug(task or 'no-task')}.html"


def _rel(from_path: str, to_path: str) -> str:
    depth = from_path.count("/")
    return esc("../" * depth + to_path)


def page(title: str, body: str, here: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"referrer\" content=\"no-referrer\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<nav><a href=\"{_rel(here, 'index.html')}\">hubdex comparisons</a></nav>\n{body}\n</body></html>\n")


def _cell(c: dict) -> str:
    cls = " class=\"unknown\"" if c["value"] is None else ""
    s = c["source"]
    row = ", ".join(f"{k}={v}" for k, v in s["row"].items())
    src = f"{s['table']}.{s['column']} [{row}]" + (f" @ {s['day']}" if s.get("day") else "")
    return f"<td{cls}>{esc(c['shown'])}<div class=\"src\">{esc(src)}</div></td>"


def _model_link(m: dict, here: str, linked: bool) -> str:
    name = esc(m["id"])
    hub = f" <a class=\"src\" href=\"{esc(m['hub_url'])}\" rel=\"noopener noreferrer\">Hub page</a>"
    if linked:
        return f"<a href=\"{_rel(here, model_path(m['id']))}\">{name}</a>{hub}"
    return name + hub


def comparison_body(e: dict, here: str, linked: bool = True) -> str:
    a, b = e["models"]["a"], e["models"]["b"]
    out = [f"<h1>{esc(a['name'])} vs {esc(b['name'])}</h1>", f"<p class=\"headline\">{esc(e['headline'])}</p>",
           f"<p>{_model_link(a, here, linked)} ({esc(a['task'] or 'no task')}) &middot; "
           f"{_model_link(b, here, linked)} ({esc(b['task'] or 'no task')})</p>"]
    for title, rows, key in (("Features", e["features"], "feature"), ("Figures", e["figures"], "figure")):
        out.append(f"<h2>{title}</h2><table id=\"{key}s\"><tr><th>{'Feature' if key == 'feature' else 'Figure'}</th>"
                   f"<th>{esc(a['name'])}</th><th>{esc(b['name'])}</th></tr>")
        out += [f"<tr><th>{esc(r[key])}</th>{_cell(r['a'])}{_cell(r['b'])}</tr>" for r in rows]
        out.append("</table>")
    h = e["head_to_head"]
    out.append(f"<h2>Head to head</h2><p id=\"head-to-head\">{esc(h['statement'])}</p>")
    if h["shared"]:
        out.append(f"<table><tr><th>Benchmark</th><th>{esc(a['name'])}</th><th>{esc(b['name'])}</th></tr>")
        for r in h["shared"]:
            name = f"{r['dataset']} / {r['metric']}" + (f" ({r['split']})" if r["split"] else "")
            va, vb = format(r["a"]["value"], "g"), format(r["b"]["value"], "g")
            out.append(f"<tr><th>{esc(name)}</th><td>{esc(va)}<div class=\"src\">"
                       f"{esc(r['a']['where'])}</div></td><td>{esc(vb)}<div class=\"src\">"
                       f"{esc(r['b']['where'])}</div></td></tr>")
        out.append("</table>")
    for side, m in (("a", a), ("b", b)):
        caps = e["capabilities"][side]
        out.append(f"<h2>{esc(m['name'])} capabilities</h2><ul>")
        out += [f"<li><span class=\"mark {esc(c['mark'])}\">{esc(c['mark'])}</span> {esc(c['sentence'])} "
                f"<span class=\"src\">{esc('; '.join(c['evidence']))}</span></li>" for c in caps["shown"]]
        if caps["more"]:
            out.append(f"<li>+{caps['more']} more</li>")
        if not caps["shown"]:
            out.append("<li class=\"unknown\">none recorded</li>")
        out.append("</ul>")
    v = e["verdict"]
    out.append(f"<h2>Verdict</h2><p id=\"verdict\">{esc(v['summary'])}</p><ul>")
    out += [f"<li>{esc(line)}</li>" for line in v["lines"]]
    out.append(f"</ul><p class=\"src\">A lead is claimed only at a margin of {v['margin_points']} points or more on "
               "the 0-100 scale; closer is a tie (benchmarks: 1% of the better value). Unknown is shown as unknown, never as 0. Each figure names the "
               "table, column, row and crawl day it came from.</p>")
    return "\n".join(out)


def comparison_html(e: dict) -> str:
    """One entry as a standalone page (`hubdex compare --format html`)."""
    return page(e["title"], comparison_body(e, "x.html", linked=False), "x.html")


def model_body(side: dict, competitors: list, comparisons: list, here: str) -> str:
    c = side["cells"]
    out = [f"<h1>{esc(side['id'])}</h1>",
           f"<p><a href=\"{esc(side['hub_url'])}\" rel=\"noopener noreferrer\">Hub page</a> &middot; task "
           f"<a href=\"{_rel(here, task_path(side['task']))}\">{esc(side['task'] or 'no task')}</a></p>",
           "<h2>Profile</h2><table id=\"profile\">"]
    for label, k in entry_.FEATURES + entry_.FIGURES:
        out.append(f"<tr><th>{esc(label)}</th>{_cell(c[k])}</tr>")
    out.append("</table><h2>Competitors</h2><ol id=\"competitors\">")
    for oid, weight, path in competitors:
        link = f"<a href=\"{_rel(here, path)}\">comparison</a>" if path else ""
        out.append(f"<li><a href=\"{_rel(here, model_path(oid))}\">{esc(oid)}</a> (match weight {weight:.2f}) {link}</li>")
    if not competitors:
        out.append("<li class=\"unknown\">none in the match graph</li>")
    out.append("</ol><h2>Comparisons</h2><ul id=\"comparisons\">")
    out += [f"<li><a href=\"{_rel(here, path)}\">{esc(title)}</a></li>" for title, path in comparisons]
    out.append("</ul><h2>Capabilities</h2><ul>")
    out += [f"<li>{esc(g['sentence'])} <span class=\"src\">{esc('; '.join(g['evidence']))}</span></li>"
            for g in side["capabilities"]]
    out.append("</ul>")
    return "\n".join(out)


@dataclass
class SiteResult:
    pages: int = 0
    written: int = 0
    unchanged: int = 0
    removed: int = 0

    def summary(self, out_dir) -> str:
        return (f"site in {out_dir}: {self.pages:,} pages, {self.written:,} written, {self.unchanged:,} unchanged, "
                f"{self.removed:,} removed")


def _inside(root: str, rel: str) -> str:
    path = os.path.realpath(os.path.join(root, rel))
    if os.path.commonpath([root, path]) != root:
        raise ValueError(f"refusing to write outside {root}: {rel}")
    return path


def build_site(conn, out_dir: str) -> SiteResult:
    """Write the site of the current (not stale) comparisons into out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    root = os.path.realpath(out_dir)
    pages: dict[str, str] = {}
    rows = conn.execute("SELECT model_a, model_b, a_key, b_key, entry FROM comparisons WHERE stale = 0 "
                        "ORDER BY model_a, model_b").fetchall()
    by_model: dict = {}
    keys = set()
    for a, b, ka, kb, doc in rows:
        e = json.loads(doc)
        path = compare_path(a, b)
        pages[path] = page(e["title"], comparison_body(e, path), path)
        for me, other, k in ((a, b, ka), (b, a, kb)):
            by_model.setdefault(me, []).append((f"{e['title']}", path, other))
            keys.add(k)
    side = entry_.sides(conn, sorted(keys))
    ids = {s["id"]: s for s in side.values()}
    top = {}
    for ka, kb in build_.pairs(conn):
        for k, o in ((ka, kb), (kb, ka)):
            top.setdefault(k, []).append(o)
    weights = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT a_key, b_key, standing * 10 + weight FROM match_edges WHERE relation = 'competitor'")} if keys else {}
    tasks: dict = {}
    for mid, s in sorted(ids.items()):
        path = model_path(mid)
        have = {other: p for _t, p, other in by_model.get(mid, [])}
        comps = []
        for o in sorted(top.get(s["key"], []), key=lambda o: -weights.get((min(o, s["key"]), max(o, s["key"])), 0)):
            oside = side.get(o)
            if oside is None:
                continue
            w = weights.get((min(o, s["key"]), max(o, s["key"])), 0.0)
            comps.append((oside["id"], round(w, 2), have.get(oside["id"])))
        listed = sorted((t, p) for t, p, _o in by_model.get(mid, []))
        pages[path] = page(mid, model_body(s, comps, listed, path), path)
        tasks.setdefault(s["task"], []).append(s)
    for task, models in tasks.items():
        path = task_path(task)
        models.sort(key=lambda s: (-(s["cells"]["rank"]["value"] or -1), s["id"]))
        body = [f"<h1>Task: {esc(task or 'no task')}</h1><table><tr><th>Model</th><th>Rank</th><th>Comparisons</th></tr>"]
        body += [f"<tr><td><a href=\"{_rel(path, model_path(s['id']))}\">{esc(s['id'])}</a></td>"
                 f"<td>{esc(s['cells']['rank']['shown'])}</td><td>{len(by_model.get(s['id'], []))}</td></tr>"
                 for s in models]
        body.append("</table>")
        pages[path] = page(f"Task {task or 'no task'}", "\n".join(body), path)
    index = ["<h1>hubdex comparisons</h1>", f"<p>{len(rows):,} comparisons of {len(ids):,} models, by task.</p><ul>"]
    index += [f"<li><a href=\"{_rel('index.html', task_path(t))}\">{esc(t or 'no task')}</a> ({len(m)} models)</li>"
              for t, m in sorted(tasks.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))]
    index.append("</ul>")
    pages["index.html"] = page("hubdex comparisons", "\n".join(index), "index.html")
    return _write(root, pages)


def _write(root: str, pages: dict) -> SiteResult:
    res = SiteResult(pages=len(pages))
    for sub in ("models", "compare", "tasks"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for rel, text in pages.items():
        path = _inside(root, rel)
        data = text.encode("utf-8")
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    res.unchanged += 1
                    continue
        except FileNotFoundError:
            pass
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        res.written += 1
    manifest = _inside(root, MANIFEST)
    try:
        with open(manifest, encoding="utf-8") as f:
            before = set(json.load(f))
    except (FileNotFoundError, ValueError):
        before = set()
    for rel in sorted(before - set(pages)):
        try:
            os.remove(_inside(root, rel))
            res.removed += 1
        except (FileNotFoundError, ValueError):
            pass
    with open(manifest, "w", encoding="utf-8") as f:
        json.dump(sorted(pages), f)
    return res

"""`hubdex site DIR`: a static site of every model and every comparison, that works offline.

  DIR/index.html              search over every model (a static index and the site's own script), tasks
  DIR/tasks/<task>.html       a task's models with size, licence class, downloads and rank (sortable, filterable)
  DIR/models/<model>.html     one model: its facts with sources, adoption history (inline SVG), its
                              competitors as `hubdex matches` lists them, its comparisons, capabilities
  DIR/compare/<a>-vs-<b>.html one entry, verdict first, sources on demand
  DIR/assets/                 site.css, site.js, search-index.js (the site's own; the CSP allows no other)

Every piece of text is HTML-escaped; file names are derived from ids (only [A-Za-z0-9._-], with a hash
of the id), so no id can name a path outside DIR. A rerun writes only the files whose bytes changed,
and removes the files it wrote before that are no longer part of the site (DIR/.hubdex-site.json).
Models are read in batches of keys, so a page per model costs a batch of sides at a time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field

import orjson

from . import entry as entry_
from . import reading
from .render import CSS, esc, html_body, html_page, src_text

MANIFEST = ".hubdex-site.json"
BATCH = 2000          # models read per batch
TASK_ROWS = 2000      # rows per task page (the best ranked; search finds every model)


def slug(text: str, limit: int = 80) -> str:
    """A file name piece for any id: safe characters only, never '.' or '..', unique by its hash."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:limit] or "x"
    return f"{base}-{hashlib.blake2b(text.encode(), digest_size=4).hexdigest()}"


@functools.lru_cache(maxsize=1 << 18)  # a build asks for each model's path 2-3 times (index, task, links)
def model_path(model_id: str) -> str:
    return f"models/{slug(model_id)}.html"


def compare_path(a: str, b: str) -> str:
    digest = hashlib.blake2b(f"{a}\0{b}".encode(), digest_size=5).hexdigest()
    return f"compare/{slug(a.split('/')[-1], 50)[:-9]}-vs-{slug(b.split('/')[-1], 50)[:-9]}-{digest}.html"


def task_path(task: str | None) -> str:
    return f"tasks/{slug(task or 'no-task')}.html"


def _rel(here: str, to: str) -> str:
    return "../" * here.count("/") + to


def _page(title: str, body: str, here: str, scripts: tuple = ()) -> str:
    up = "../" * here.count("/")
    nav = (f"<nav><a href=\"{up}index.html\">hubdex</a><a href=\"{up}index.html#search\">Search</a>"
           f"<a href=\"{up}index.html#tasks\">Tasks</a></nav>")
    return html_page(title, body, css_href=up + "assets/site.css", scripts=tuple(up + s for s in scripts), nav=nav)


# -- the script of the site's own: search on the index, sorting and filtering of task tables ------------
SCRIPT = r"""(function () {
  "use strict";
  function fmt(n) { if (n === null || n === undefined) return "unknown";
    var u = [[1e9, "B"], [1e6, "M"], [1e3, "K"]];
    for (var i = 0; i < u.length; i++) if (n >= u[i][0]) return (n / u[i][0]).toPrecision(3).replace(/\.?0+$/, "") + u[i][1];
    return String(n); }
  var box = document.getElementById("q"), out = document.getElementById("results");
  if (box && out && window.HUBDEX_INDEX) {
    var idx = window.HUBDEX_INDEX, hits = [];
    var run = function () {
      var q = box.value.trim().toLowerCase(); out.textContent = ""; hits = [];
      if (q.length < 2) return;
      for (var i = 0; i < idx.length && hits.length < 50; i++) if (idx[i][0].toLowerCase().indexOf(q) >= 0) hits.push(idx[i]);
      hits.forEach(function (h) {
        var li = document.createElement("li"), a = document.createElement("a");
        a.href = h[3]; a.textContent = h[0]; li.appendChild(a);
        li.appendChild(document.createTextNode(" " + (h[1] || "no task") + ", " + fmt(h[2]) + " downloads a month"));
        out.appendChild(li); });
      if (!hits.length) { var li = document.createElement("li"); li.textContent = "no model matches"; out.appendChild(li); }
    };
    box.addEventListener("input", run);
    document.getElementById("search-form").addEventListener("submit", function (ev) {
      ev.preventDefault(); run(); if (hits.length) window.location.href = hits[0][3]; });
    run();
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (t) {
    var body = t.tBodies[0];
    Array.prototype.forEach.call(t.tHead.rows[0].cells, function (th, col) {
      if (!th.hasAttribute("data-sort")) return;
      th.classList.add("sort"); th.tabIndex = 0;
      var go = function () {
        var desc = th.getAttribute("aria-sort") !== "descending", num = th.getAttribute("data-sort") === "num";
        Array.prototype.forEach.call(t.tHead.rows[0].cells, function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", desc ? "descending" : "ascending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (x, y) {
          var a = x.cells[col].getAttribute("data-v"), b = y.cells[col].getAttribute("data-v");
          if (num) { a = a === "" ? -Infinity : +a; b = b === "" ? -Infinity : +b; return desc ? b - a : a - b; }
          return desc ? b.localeCompare(a) : a.localeCompare(b); });
        rows.forEach(function (r) { body.appendChild(r); });
      };
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (ev) { if (ev.key === "Enter") go(); });
    });
  });
  var filter = document.getElementById("filter"), lic = document.getElementById("licence-filter");
  var table = document.getElementById("models");
  if (table && (filter || lic)) {
    var apply = function () {
      var q = filter ? filter.value.trim().toLowerCase() : "", l = lic ? lic.value : "", shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        var ok = (!q || r.getAttribute("data-id").indexOf(q) >= 0) && (!l || r.getAttribute("data-licence") === l);
        r.hidden = !ok; if (ok) shown++; });
      var c = document.getElementById("count"); if (c) c.textContent = shown + " shown";
    };
    if (filter) filter.addEventListener("input", apply);
    if (lic) lic.addEventListener("change", apply);
  }
})();
"""


ICON = ("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect width=\"16\" height=\"16\" "
        "rx=\"3\" fill=\"#0b57d0\"/><path d=\"M4 12V4h2v3h4V4h2v8h-2V9H6v3z\" fill=\"#fff\"/></svg>\n")


# -- pages ---------------------------------------------------------------------------------------------
def sparkline(history: list) -> str:
    """Downloads over the stored history as a small inline SVG (no request, allowed by the CSP)."""
    pts = [(d, v) for d, v in history if v is not None]
    if not pts:
        return "<span class=\"unknown\">no history stored</span>"
    w, h = 160, 36
    hi = max(v for _d, v in pts) or 1
    if len(pts) == 1:
        return (f"<svg class=\"spark\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" "
                f"aria-label=\"one snapshot: {pts[0][1]} downloads on {pts[0][0]}\"><circle cx=\"{w - 4}\" "
                f"cy=\"{h / 2}\" r=\"3\" fill=\"#0b57d0\"/></svg> <span class=\"note\">one snapshot ({esc(pts[0][0])})</span>")
    step = (w - 8) / (len(pts) - 1)
    line = " ".join(f"{4 + i * step:.1f},{h - 4 - (v / hi) * (h - 8):.1f}" for i, (_d, v) in enumerate(pts))
    return (f"<svg class=\"spark\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\""
            f"downloads from {esc(pts[0][0])} to {esc(pts[-1][0])}\"><polyline fill=\"none\" stroke=\"#0b57d0\" "
            f"stroke-width=\"1.5\" points=\"{line}\"/></svg> <span class=\"note\">{esc(pts[0][0])} to "
            f"{esc(pts[-1][0])}, {len(pts)} snapshots</span>")


PROFILE = (("Task", "task"), ("Rank", "rank"), ("Downloads (30 days)", "downloads"), ("Trend", "trend"),
           ("Parameters", "params"), ("Memory at fp16", "memory_fp16"), ("Memory at int4", "memory_int4"),
           ("Context length", "context_length"), ("Embedding dimension", "embedding_dim"), ("Max input", "max_input"),
           ("Languages", "languages"), ("Input", "input_modalities"), ("Output", "output_modalities"),
           ("Licence", "licence"), ("Commercial use", "commercial_use"), ("Conditions", "licence_conditions"),
           ("Gated", "gated"), ("Inference providers", "providers"), ("Cheapest hosted price", "price"),
           ("Released", "released"), ("Last commit", "last_modified"), ("Likes", "likes"),
           ("Fine-tunes", "children_finetune"), ("Spaces", "spaces"), ("Library", "library"),
           ("Quality", "quality"), ("Adoption", "adoption"), ("Ecosystem", "ecosystem"))


def model_body(s, comparisons: dict, here: str) -> str:
    c = s.cells
    out = [f"<h1>{esc(s.id)}</h1>",
           f"<p><a href=\"{esc(s.hub_url)}\" rel=\"noopener noreferrer\">Hub page</a> &middot; task "
           f"<a href=\"{esc(_rel(here, task_path(s.task)))}\">{esc(s.task or 'no task')}</a></p>",
           f"<p id=\"history\">Downloads a month: {sparkline(s.history)}</p>",
           "<h2>Profile</h2><table id=\"profile\" class=\"cmp\"><tbody>"]
    for label, k in PROFILE:
        v = c[k]
        if k in ("embedding_dim", "max_input") and v["value"] is None and s.task_group != "embeddings":
            continue
        cls = " class=\"unknown\"" if v["value"] is None else ""
        out.append(f"<tr><th>{esc(label)}</th><td{cls}>{esc(v['shown'])}</td></tr>")
    out.append("</tbody></table><details class=\"sources\"><summary>Sources</summary><ul>")
    out += [f"<li>{esc(label)}: {esc(src_text(c[k]['source']))}</li>" for label, k in PROFILE]
    if s.licence:
        out.append(f"<li>Licence terms summarised from <a href=\"{esc(s.licence['text'])}\" "
                   f"rel=\"noopener noreferrer\">{esc(s.licence['text'])}</a> ({esc(', '.join(s.licence['clauses']))})</li>")
    out.append("</ul></details>")
    out.append("<h2>Competitors</h2><p class=\"note\">As <code>hubdex matches</code> lists them: strongest match "
               "edge first.</p><ol id=\"competitors\">")
    for r in s.rivals:
        cmp_path = comparisons.get(r["id"])
        link = f" &middot; <a href=\"{esc(_rel(here, cmp_path))}\">compare</a>" if cmp_path else ""
        out.append(f"<li><a href=\"{esc(_rel(here, model_path(r['id'])))}\">{esc(r['id'])}</a> "
                   f"<span class=\"note\">{esc(r['task'] or 'no task')}, match weight {r['weight']:.2f}"
                   f"{', rank ' + str(r['rank']) + '/100' if r['rank'] is not None else ''}</span>{link}</li>")
    if not s.rivals:
        out.append("<li class=\"unknown\">none in the match graph</li>")
    out.append("</ol>")
    others = sorted(o for o in comparisons if o not in {r["id"] for r in s.rivals})
    if others:
        out.append("<h2>Other comparisons</h2><ul id=\"comparisons\">")
        out += [f"<li><a href=\"{esc(_rel(here, comparisons[o]))}\">{esc(s.name)} vs {esc(o)}</a></li>" for o in others]
        out.append("</ul>")
    cl = entry_.claims(s)
    out.append("<h2>Capabilities</h2>")
    group = None
    for x in cl:
        if x["group"] != group:
            out.append(("</ul>" if group else "") + f"<h3>{esc(x['group'])}</h3><ul>")
            group = x["group"]
        out.append(f"<li>{esc(x['sentence'])}</li>")
    out.append("</ul>" if group else "<p class=\"unknown\">none recorded</p>")
    return "\n".join(out)


_CLASS = {"yes": "commercial use", "on conditions": "commercial on conditions", "no": "non-commercial"}


def task_page(task, rows: list, total: int, here: str) -> str:
    classes = sorted({r[2] for r in rows})
    body = [f"<h1>Task: {esc(task or 'no task')}</h1>",
            f"<p>{total:,} models" + (f"; the {len(rows):,} best ranked are listed (search finds every model)"
                                       if total > len(rows) else "") + ". Click a column to sort.</p>",
            "<div class=\"controls\"><input id=\"filter\" type=\"search\" placeholder=\"filter by name\" "
            "aria-label=\"filter by name\"><select id=\"licence-filter\" aria-label=\"licence class\">"
            "<option value=\"\">any licence</option>"
            + "".join(f"<option value=\"{esc(c)}\">{esc(c)}</option>" for c in classes)
            + "</select><span id=\"count\" class=\"note\"></span></div>",
            "<table id=\"models\" class=\"sortable\"><thead><tr><th data-sort=\"text\">Model</th>"
            "<th data-sort=\"num\">Size</th><th data-sort=\"text\">Licence</th>"
            "<th data-sort=\"num\">Downloads</th><th data-sort=\"num\">Rank</th></tr></thead><tbody>"]
    for mid, params, lclass, lic_shown, dl, rank in rows:
        params_shown, dl_shown = reading.count_text(params), reading.count_text(dl)
        body.append(f"<tr data-id=\"{esc(mid.lower())}\" data-licence=\"{esc(lclass)}\">"
                    f"<td data-v=\"{esc(mid.lower())}\"><a href=\"{esc(_rel(here, model_path(mid)))}\">{esc(mid)}</a></td>"
                    f"<td data-v=\"{'' if params is None else params}\">{esc(params_shown)}</td>"
                    f"<td data-v=\"{esc(lclass)}\" title=\"{esc(lic_shown)}\">{esc(lclass)}</td>"
                    f"<td data-v=\"{'' if dl is None else dl}\">{esc(dl_shown)}</td>"
                    f"<td data-v=\"{'' if rank is None else rank}\">{'unknown' if rank is None else rank}</td></tr>")
    body.append("</tbody></table>")
    return _page(f"Task {task or 'no task'}", "\n".join(body), here, scripts=("assets/site.js",))


def index_page(tasks: dict, models: int, comparisons: int) -> str:
    body = ["<h1>hubdex: choose between models</h1>",
            f"<p>{models:,} models, {comparisons:,} comparisons. Every figure names its source.</p>",
            "<form id=\"search-form\" role=\"search\"><h2 id=\"search\">Search</h2><div class=\"controls\">"
            "<input id=\"q\" type=\"search\" placeholder=\"part of a model's name, e.g. llama\" autocomplete=\"off\" "
            "aria-label=\"search models\"></div></form><ol id=\"results\"></ol>",
            "<h2 id=\"tasks\">Tasks</h2><ul>"]
    body += [f"<li><a href=\"{esc(task_path(t))}\">{esc(t or 'no task')}</a> ({n:,} models)</li>"
             for t, n in sorted(tasks.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))]
    body.append("</ul>")
    return _page("hubdex", "\n".join(body), "index.html", scripts=("assets/search-index.js", "assets/site.js"))


# -- the build ---------------------------------------------------------------------------------------
@dataclass
class SiteResult:
    pages: int = 0
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    kept: int = 0  # of the unchanged: pages not rendered at all, their fingerprint the one they were written with
    written_paths: list = field(default_factory=list)

    def summary(self, out_dir) -> str:
        return (f"site in {out_dir}: {self.pages:,} files, {self.written:,} written, {self.unchanged:,} unchanged, "
                f"{self.removed:,} removed")


_PLAIN = re.compile(r"(?:(models|compare|tasks|assets)/)?[A-Za-z0-9_-][A-Za-z0-9._-]*")


def _inside(root: str, rel: str, folders: dict | None = None) -> str:
    """The path of rel under root, refusing any that resolves outside it. The site's own names (a file
    in one of its folders, named by slug()) are checked by their shape and their folder's real path,
    resolved once a build (`folders`): realpath() of each of 100,000 pages cost more than writing them."""
    m = _PLAIN.fullmatch(rel) if folders is not None else None
    if m:
        sub = m.group(1) or ""
        real = folders.get(sub)
        if real is None:
            real = folders[sub] = os.path.realpath(os.path.join(root, sub))
        if real == root or os.path.dirname(real) == root and os.path.basename(real) == sub:
            return os.path.join(root, rel)
    path = os.path.realpath(os.path.join(root, rel))
    if os.path.commonpath([root, path]) != root:
        raise ValueError(f"refusing to write outside {root}: {rel}")
    return path


class _Writer:
    """Writes a file only when its bytes differ from what is there; remembers every file of the site and
    the fingerprint of what each page shows, so that the next run skips pages whose inputs did not move."""

    def __init__(self, root: str, manifest: bool = True):
        self.root = root
        self.res = SiteResult()
        self.paths: dict = {}
        self.folders: dict = {}  # the site's folders' real paths, resolved once (_inside)
        self.listed: dict = {}   # folder -> the names it held when first asked (_exists)
        for sub in ("models", "compare", "tasks", "assets"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        try:
            with open(_inside(root, MANIFEST), encoding="utf-8") as f:
                before = orjson.loads(f.read()) if manifest else {}
        except (FileNotFoundError, ValueError):
            before = {}
        self.before = before if isinstance(before, dict) else {p: "" for p in before}

    def _exists(self, rel: str) -> bool:
        """Whether the site holds rel: its folder listed once (one scandir, not a stat per page)."""
        folder, _, name = rel.rpartition("/")
        names = self.listed.get(folder)
        if names is None:
            try:
                with os.scandir(_inside(self.root, folder, self.folders) if folder else self.root) as it:
                    names = self.listed[folder] = {e.name for e in it}
            except FileNotFoundError:
                names = self.listed[folder] = set()
        return name in names

    def fresh(self, rel: str, fp: str) -> bool:
        """True (and the page kept as it is) when the page's fingerprint is the one it was written with."""
        if fp and self.before.get(rel) == fp and self._exists(rel):
            self.paths[rel] = fp
            self.res.pages += 1
            self.res.unchanged += 1
            self.res.kept += 1
            return True
        return False

    def put(self, rel: str, text: str, fp: str = ""):
        self.paths[rel] = fp
        self.res.pages += 1
        path = _inside(self.root, rel, self.folders)
        data = text.encode("utf-8")
        try:
            if os.path.getsize(path) == len(data):
                with open(path, "rb") as f:
                    if f.read() == data:
                        self.res.unchanged += 1
                        return
        except FileNotFoundError:
            pass
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        self.res.written += 1
        self.res.written_paths.append(rel)

    def merge(self, paths: dict, res: SiteResult):
        """What a worker process wrote (its pages and counts), as if written here."""
        self.paths.update(paths)
        self.res.pages += res.pages
        self.res.written += res.written
        self.res.unchanged += res.unchanged
        self.res.written_paths += res.written_paths

    def finish(self) -> SiteResult:
        for rel in sorted(set(self.before) - set(self.paths)):
            try:
                os.remove(_inside(self.root, rel, self.folders))
                self.res.removed += 1
            except (FileNotFoundError, ValueError):
                pass
        with open(_inside(self.root, MANIFEST), "w", encoding="utf-8") as f:
            f.write(orjson.dumps(self.paths, option=orjson.OPT_SORT_KEYS).decode())
        return self.res


SITE_VERSION = "1"  # bump when a page's template changes: every page is then rendered again


def _fp(*parts) -> str:
    return hashlib.blake2b(orjson.dumps(parts), digest_size=10).hexdigest()


WORKERS = min(2, os.cpu_count() or 1)  # processes rendering pages in a large build
PARALLEL_FROM = 4000                    # pages to render before a second process is worth its start


def _db_path(conn) -> str | None:
    for _seq, name, path in conn.execute("PRAGMA database_list"):
        if name == "main":
            return path or None
    return None


def _model_pages(conn, w: "_Writer", items: list):
    """Render and write model pages: items are (key, fingerprint, {other id: comparison path})."""
    for i in range(0, len(items), BATCH):
        batch = {k: (fp, cmp) for k, fp, cmp in items[i:i + BATCH]}
        for s in reading.sides(conn, batch, shares=False).values():
            here = model_path(s.id)
            fp, cmp = batch[s.key]
            w.put(here, _page(s.id, model_body(s, cmp, here), here), fp)


def _compare_pages(conn, w: "_Writer", items: list, live):
    """Render and write comparison pages: items are (model_a, model_b, fingerprint)."""
    for a, b, fp in items:
        here = compare_path(a, b)
        row = conn.execute("SELECT entry FROM comparisons WHERE model_a = ? AND model_b = ?", (a, b)).fetchone()
        e = orjson.loads(row[0]) if row else {}
        if "sections" not in e:
            continue  # an entry of an older version (rebuilt by the next derive), or gone meanwhile
        w.put(here, _page(e["title"], html_body(
            e, lambda mid, here=here: _rel(here, model_path(mid)) if mid in live else None), here), fp)


_FORKED: dict = {}  # what every worker process inherits when forked (the live ids), instead of a copy per job


def _work(job):
    """One chunk of pages, in a worker process: its own read-only connection and writer."""
    db_path, root, kind, items = job
    live = _FORKED.get("live")
    import sqlite3

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        w = _Writer(root, manifest=False)
        if kind == "models":
            _model_pages(conn, w, items)
        else:
            _compare_pages(conn, w, items, live)
        return w.paths, w.res
    finally:
        conn.close()


def _render(conn, w: "_Writer", kind: str, items: list, live, workers: int, parallel_from: int):
    """Render pages inline, or, for many, in `workers` processes (each page's bytes are the same either
    way: a page is a function of its rows). The writer learns every page written."""
    path = _db_path(conn) if workers > 1 and len(items) >= parallel_from else None
    if path is None:
        if kind == "models":
            _model_pages(conn, w, items)
        else:
            _compare_pages(conn, w, items, live)
        return
    import multiprocessing

    size = max(BATCH // 4, min(BATCH, -(-len(items) // (workers * 4))))
    jobs = [(path, w.root, kind, items[i:i + size]) for i in range(0, len(items), size)]
    _FORKED["live"] = live
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for paths, res in pool.imap_unordered(_work, jobs):
                w.merge(paths, res)
    finally:
        _FORKED.clear()


def build_site(conn, out_dir: str, *, workers: int = WORKERS, parallel_from: int = PARALLEL_FROM) -> SiteResult:
    """Write the site: every live model, every current (not stale) comparison, tasks and the index.
    A model page is rendered only when its fingerprint (reading.page_rows) moved; so is a comparison
    page (its entry's inputs hash). Many pages to render are shared among `workers` processes."""
    os.makedirs(out_dir, exist_ok=True)
    w = _Writer(os.path.realpath(out_dir))
    w.put("assets/site.css", CSS + "\n")
    w.put("assets/site.js", SCRIPT)
    w.put("assets/icon.svg", ICON)
    compared: dict = {}
    ncmp = 0
    for a, b in conn.execute("SELECT model_a, model_b FROM comparisons WHERE stale = 0"):
        path = compare_path(a, b)
        compared.setdefault(a, {})[b] = path
        compared.setdefault(b, {})[a] = path
        ncmp += 1
    index, tasks = [], {}
    after = -1
    terms = reading.licence_terms()
    todo = []
    while True:
        keys = reading.live_keys(conn, after, BATCH)
        if not keys:
            break
        after = keys[-1]
        for key, mid, task, params, downloads, rank, lic, commercial, lic_name, shown in reading.page_rows(conn, keys):
            here = model_path(mid)
            index.append((mid, task, downloads, here))
            t = terms.get(lic) if lic else None
            cu = t["commercial"] if t else {"yes": "yes", "no": "no", "conditional": "on conditions"}.get(commercial or "")
            tasks.setdefault(task, []).append((
                mid, params, _CLASS.get(cu, "unknown"), lic_name or lic or "unknown", downloads, rank))
            cmp = compared.get(mid, {})
            fp = _fp(SITE_VERSION, entry_.ENTRY_VERSION, shown, sorted(cmp.items()))
            if not w.fresh(here, fp):
                todo.append((key, fp, cmp))
    _render(conn, w, "models", todo, None, workers, parallel_from)
    del todo
    live = {r[0] for r in index}  # a link only to a page the site has
    # comparison pages: those whose entry (its inputs hash) or whose links moved
    todo = []
    last = ("", "")
    while True:
        rows = conn.execute("SELECT model_a, model_b, inputs_hash FROM comparisons WHERE stale = 0 AND "
                            "(model_a, model_b) > (?, ?) ORDER BY model_a, model_b LIMIT 2000", last).fetchall()
        if not rows:
            break
        last = rows[-1][:2]
        for a, b, h in rows:
            fp = _fp(SITE_VERSION, h, [x in live for x in (a, b)])
            if not w.fresh(compare_path(a, b), fp):
                todo.append((a, b, fp))
    _render(conn, w, "compare", todo, live, workers, parallel_from)
    counts = {}
    for task, rows in tasks.items():
        rows.sort(key=lambda r: (-(r[5] if r[5] is not None else -1), -(r[4] or 0), r[0]))
        counts[task] = len(rows)
        here = task_path(task)
        w.put(here, task_page(task, rows[:TASK_ROWS], len(rows), here))
    index.sort(key=lambda r: (-(r[2] or 0), r[0]))
    w.put("assets/search-index.js", "window.HUBDEX_INDEX=" + orjson.dumps(index).decode() + ";\n")
    w.put("index.html", index_page(counts, len(index), ncmp))
    return w.finish()

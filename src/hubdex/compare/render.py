"""One renderer per format, each walking an entry's sections in order: text, Markdown, JSON, HTML.

Each renderer has one function per section kind (verdict, table, benchmarks, capabilities, list), so
a new section of an existing kind needs no change here. JSON is the entry itself; every cell keeps
the row's value (`value`) apart from the text shown (`shown`) and its source.
"""

from __future__ import annotations

import functools
import html
import textwrap

import orjson

WIDTH = 100  # text: no line longer than this


# -- JSON --------------------------------------------------------------------------------------------
def render_json(e: dict) -> str:
    return orjson.dumps(e, option=orjson.OPT_SORT_KEYS).decode()


def src_text(s: dict) -> str:
    row = ", ".join(f"{k}={v}" for k, v in s["row"].items())
    out = f"{s['table']}.{s['column']} [{row}]"
    if s.get("how"):
        out += f" ({s['how']})"
    return out + (f" @ {s['day']}" if s.get("day") else "")


def _bench_value(bm) -> str:
    return f"{bm['value']:.4g} ({bm['how']})"


def _bench_name(r) -> str:
    name = r["dataset"] + (f" [{r['config']}]" if r.get("config") else "")
    return f"{name} / {r['metric']}" + (f" ({r['split']})" if r.get("split") else "")


# -- text --------------------------------------------------------------------------------------------
def render_text(e: dict) -> str:
    a, b = e["models"]["a"], e["models"]["b"]
    out = [f"{a['id']} vs {b['id']}", ""]
    for s in e["sections"]:
        out += _TEXT[s["kind"]](s, a, b)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _wrap(text: str, indent: str = "", width: int = WIDTH) -> list:
    return textwrap.wrap(text, width=width, initial_indent=indent,
                         subsequent_indent=" " * (len(indent) + 2)) or [indent]


def _t_verdict(s, a, b):
    out = [s["title"].upper()]
    out += _wrap(s["summary"]) if s["summary"] else []
    for p in s["picks"]:
        out += _wrap(p, "  - ")
    return out


def _t_table(s, a, b):
    w0, w = 22, (WIDTH - 22 - 4) // 2
    out = [s["title"].upper(), f"{'':<{w0}}  {a['name'][:w]:<{w}}  {b['name'][:w]}"]
    for r in s["rows"]:
        xa = textwrap.wrap(r["a"]["shown"], w) or [""]
        xb = textwrap.wrap(r["b"]["shown"], w) or [""]
        for i in range(max(len(xa), len(xb))):
            label = r["label"] if i == 0 else ""
            out.append(f"{label:<{w0}}  {(xa[i] if i < len(xa) else ''):<{w}}  {xb[i] if i < len(xb) else ''}".rstrip())
    if s.get("note"):
        out += _wrap(s["note"], "  ")
    return out


def _t_bench(s, a, b):
    out = [s["title"].upper()] + _wrap(s["statement"])
    for r in s["shared"]:
        lead = {"a": a["name"], "b": b["name"], "tie": "tie", "unknown": "unknown (which way is better is not known)"}[
            r["lead"]]
        out += _wrap(f"{_bench_name(r)}: {_bench_value(r['a'])} vs {_bench_value(r['b'])}; leads: {lead}"
                     + ("; lower is better" if r["lower_is_better"] else ""), "  ")
    for side, m in (("a", a), ("b", b)):
        if s.get("best") is None:
            break
        rows = s["best"][side]
        out.append(f"  {m['name']}: " + ("none recorded" if not rows else ""))
        for bm in rows:
            out += _wrap(f"{_bench_name(bm)}: {_bench_value(bm)}", "    ")
    return out


def _t_caps(s, a, b):
    out = [s["title"].upper()]
    for side, m in (("a", a), ("b", b)):
        c = s["sides"][side]
        out.append(f"{m['name']} ({c['count']} claims of what it does):")
        for x in c["shown"]:
            out += _wrap(x["sentence"] + (f" [{x['mark_text']}]" if x["mark_text"] else ""), "  ")
        if c["more"]:
            out.append(f"  ({len(c['more'])} more in the JSON and on the site)")
        if not c["shown"] and not c["more"]:
            out.append("  none recorded")
    return out


def _t_list(s, a, b):
    out = [s["title"].upper()] + _wrap(s["statement"])
    for it in s["items"]:
        out += _wrap(f"{it['id']}: {it['text']}", "  - ")
    return out


_TEXT = {"verdict": _t_verdict, "table": _t_table, "benchmarks": _t_bench, "capabilities": _t_caps, "list": _t_list}


# -- Markdown ----------------------------------------------------------------------------------------
_MD = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\n": " ", "\r": " ", **{
    ch: "\\" + ch for ch in "\\`*_[]|#!"}})


@functools.lru_cache(maxsize=1 << 16)
def md_escape(text) -> str:
    """Card and id text in Markdown: no markup, link or HTML gets through."""
    return str(text).translate(_MD)


def render_markdown(e: dict) -> str:
    a, b = e["models"]["a"], e["models"]["b"]
    out = [f"# {md_escape(a['name'])} vs {md_escape(b['name'])}", ""]
    for s in e["sections"]:
        out += [f"## {md_escape(s['title'])}", ""] + _MDR[s["kind"]](s, a, b) + [""]
    out.append("Sources: every figure's table, column, row and crawl day are in the entry's JSON "
               "(`hubdex compare A B --format json`) and on its page of `hubdex site`.")
    return "\n".join(out) + "\n"


def _m_verdict(s, a, b):
    return ([md_escape(s["summary"]), ""] if s["summary"] else []) + [f"- **{md_escape(p)}**" for p in s["picks"]]


def _m_table(s, a, b):
    out = [f"| | {md_escape(a['name'])} | {md_escape(b['name'])} |", "|---|---|---|"]
    out += [f"| {md_escape(r['label'])} | {md_escape(r['a']['shown'])} | {md_escape(r['b']['shown'])} |"
            for r in s["rows"]]
    return out + (["", f"*{md_escape(s['note'])}*"] if s.get("note") else [])


def _m_bench(s, a, b):
    out = [md_escape(s["statement"])]
    if s["shared"]:
        out += ["", f"| Benchmark | {md_escape(a['name'])} | {md_escape(b['name'])} |", "|---|---|---|"]
        out += [f"| {md_escape(_bench_name(r))} | {md_escape(_bench_value(r['a']))} | {md_escape(_bench_value(r['b']))} |"
                for r in s["shared"]]
    elif s.get("best"):
        for side, m in (("a", a), ("b", b)):
            out += ["", f"**{md_escape(m['name'])}**:"]
            out += [f"- {md_escape(_bench_name(bm))}: {md_escape(_bench_value(bm))}" for bm in s["best"][side]] or \
                ["- none recorded"]
    return out


def _m_caps(s, a, b):
    out = []
    for side, m in (("a", a), ("b", b)):
        c = s["sides"][side]
        out += [f"**{md_escape(m['name'])}** ({c['count']} claims of what it does):", ""]
        out += [f"- {md_escape(x['sentence'])}" + (f" *({md_escape(x['mark_text'])})*" if x["mark_text"] else "")
                for x in c["shown"]]
        if c["more"]:
            out.append(f"- {len(c['more'])} more: " + " ".join(md_escape(x["sentence"]) for x in c["more"]))
        if not c["shown"] and not c["more"]:
            out.append("- none recorded")
        out.append("")
    return out


def _m_list(s, a, b):
    return [md_escape(s["statement"]), ""] + [f"- {md_escape(it['id'])}: {md_escape(it['text'])}" for it in s["items"]]


_MDR = {"verdict": _m_verdict, "table": _m_table, "benchmarks": _m_bench, "capabilities": _m_caps, "list": _m_list}


# -- HTML --------------------------------------------------------------------------------------------
def esc(x) -> str:
    """html.escape(x, quote=True), with None as ''. Most texts a page holds need no escaping, and a site
    of 100,000 pages escapes millions of them: those are returned as they are, without five replaces."""
    if x is None:
        return ""
    s = x if type(x) is str else str(x)
    if "&" in s or "<" in s or ">" in s or '"' in s or "'" in s:
        return html.escape(s, quote=True)
    return s


def html_body(e: dict, model_href=None) -> str:
    """An entry as HTML (the body of a comparison page): verdict first, sources on demand.
    model_href(id) gives the link to a model's page on the site, or None."""
    a, b = e["models"]["a"], e["models"]["b"]

    def who(m):
        name = esc(m["id"])
        href = model_href(m["id"]) if model_href else None
        link = f"<a href=\"{esc(href)}\">{name}</a>" if href else name
        return (f"{link} <span class=\"task\">{esc(m['task'] or 'no task')}</span> "
                f"<a class=\"hub\" href=\"{esc(m['hub_url'])}\" rel=\"noopener noreferrer\">Hub page</a>")

    out = [f"<h1>{esc(a['name'])} <span class=\"vs\">vs</span> {esc(b['name'])}</h1>",
           f"<p class=\"models\">A: {who(a)}<br>B: {who(b)}</p>"]
    for s in e["sections"]:
        out.append(f"<section id=\"{esc(s['id'])}\" class=\"{esc(s['kind'])}\"><h2>{esc(s['title'])}</h2>")
        out.append(_HTML[s["kind"]](s, a, b, model_href))
        out.append("</section>")
    return "\n".join(out)


def _h_verdict(s, a, b, href):
    out = f"<p class=\"summary\">{esc(s['summary'])}</p>" if s["summary"] else ""
    return out + "<ul class=\"picks\">" + "".join(f"<li>{esc(p)}</li>" for p in s["picks"]) + "</ul>"


def _cell_html(c):
    v = c["value"]
    if v is None:
        return f"<td class=\"unknown\">{esc(c['shown'])}</td>"
    if c["source"]["column"] == "text" and isinstance(v, str) and v.startswith("https://"):
        return f"<td><a href=\"{esc(v)}\" rel=\"noopener noreferrer\">licence text</a></td>"
    return f"<td>{esc(c['shown'])}</td>"


def _h_table(s, a, b, href):
    out = ["<table class=\"cmp\"><thead><tr><th></th>"
           f"<th>{esc(a['name'])}</th><th>{esc(b['name'])}</th></tr></thead><tbody>"]
    out += [f"<tr><th>{esc(r['label'])}</th>{_cell_html(r['a'])}{_cell_html(r['b'])}</tr>" for r in s["rows"]]
    out.append("</tbody></table>")
    if s.get("note"):
        out.append(f"<p class=\"note\">{esc(s['note'])}</p>")
    out.append("<details class=\"sources\"><summary>Sources</summary><ul>")
    for r in s["rows"]:
        for side, m in (("a", a), ("b", b)):
            out.append(f"<li>{esc(r['label'])}, {esc(m['name'])}: {esc(src_text(r[side]['source']))}</li>")
    out.append("</ul></details>")
    return "".join(out)


def _h_bench(s, a, b, href):
    out = [f"<p>{esc(s['statement'])}</p>"]
    if s["shared"]:
        out.append(f"<table class=\"cmp\"><thead><tr><th>Benchmark</th><th>{esc(a['name'])}</th>"
                   f"<th>{esc(b['name'])}</th></tr></thead><tbody>")
        for r in s["shared"]:
            cls = {"a": (" class=\"lead\"", ""), "b": ("", " class=\"lead\""), "tie": ("", ""), "unknown": ("", "")}[
                r["lead"]]
            out.append(f"<tr><th>{esc(_bench_name(r))}</th><td{cls[0]}>{esc(_bench_value(r['a']))}</td>"
                       f"<td{cls[1]}>{esc(_bench_value(r['b']))}</td></tr>")
        out.append("</tbody></table><details class=\"sources\"><summary>Sources</summary><ul>")
        out += [f"<li>{esc(_bench_name(r))}: {esc(r['a']['where'])}; {esc(r['b']['where'])}</li>" for r in s["shared"]]
        out.append("</ul></details>")
    elif s.get("best"):
        for side, m in (("a", a), ("b", b)):
            rows = s["best"][side]
            out.append(f"<h3>{esc(m['name'])}</h3><ul>")
            out += [f"<li>{esc(_bench_name(bm))}: {esc(_bench_value(bm))} <span class=\"src\">"
                    f"{esc(bm['where'])}</span></li>" for bm in rows] or ["<li class=\"unknown\">none recorded</li>"]
            out.append("</ul>")
    return "".join(out)


def _claim_li(x):
    mark = f" <span class=\"mark {esc(x['mark'])}\">{esc(x['mark_text'])}</span>" if x["mark_text"] else ""
    return f"<li>{esc(x['sentence'])}{mark}</li>"


def _h_caps(s, a, b, href):
    out = ["<div class=\"two\">"]
    for side, m in (("a", a), ("b", b)):
        c = s["sides"][side]
        out.append(f"<div><h3>{esc(m['name'])}</h3><ul>")
        out += [_claim_li(x) for x in c["shown"]]
        if not c["shown"] and not c["more"]:
            out.append("<li class=\"unknown\">none recorded</li>")
        out.append("</ul>")
        if c["more"]:
            out.append(f"<details><summary>{len(c['more'])} more</summary>")
            group = None
            for x in c["more"]:
                if x["group"] != group:
                    out.append(("</ul>" if group else "") + f"<h4>{esc(x['group'])}</h4><ul>")
                    group = x["group"]
                out.append(_claim_li(x))
            out.append("</ul></details>")
        out.append("</div>")
    out.append("</div>")
    return "".join(out)


def _h_list(s, a, b, href):
    out = [f"<p>{esc(s['statement'])}</p><ul>"]
    for it in s["items"]:
        link = href(it["id"]) if href else None
        name = f"<a href=\"{esc(link)}\">{esc(it['id'])}</a>" if link else esc(it["id"])
        out.append(f"<li>{name}: {esc(it['text'])}</li>")
    return "".join(out) + "</ul>"


_HTML = {"verdict": _h_verdict, "table": _h_table, "benchmarks": _h_bench, "capabilities": _h_caps, "list": _h_list}

CSS = """*{box-sizing:border-box}body{font:15px/1.45 system-ui,sans-serif;max-width:64rem;margin:0 auto;
padding:.5rem .8rem;color:#1d1d1f}h1{font-size:1.45rem;margin:.4rem 0}h2{font-size:1.15rem;margin:1.2rem 0 .4rem}
h3{font-size:1rem}a{color:#0b57d0}table{border-collapse:collapse;margin:.4rem 0;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.25rem .4rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
table.cmp{table-layout:fixed}table.cmp th:first-child{width:30%}th{font-weight:600}thead th{background:#f3f4f6}
.unknown{color:#888;font-style:italic}.src,.note,.task,.hub{color:#666;font-size:.85em}.vs{color:#888}
section.verdict{background:#f5f8ff;border:1px solid #cfdcf7;border-radius:6px;padding:.2rem .8rem .5rem}
section.verdict h2{margin-top:.5rem}.picks li{font-weight:600}.mark{font-size:.8em;color:#555;
background:#eef;border-radius:3px;padding:0 .3rem}.mark.unique{background:#e6f4ea}.lead{font-weight:700}
.two{display:grid;grid-template-columns:1fr 1fr;gap:1rem}@media (max-width:600px){.two{grid-template-columns:1fr}
body{font-size:14px}}details summary{cursor:pointer;color:#0b57d0}nav a{margin-right:1rem}
.controls{display:flex;flex-wrap:wrap;gap:.5rem;margin:.5rem 0}.controls input{flex:1;min-width:12rem;padding:.3rem}
th.sort{cursor:pointer;text-decoration:underline dotted}#results li{margin:.2rem 0}.spark{vertical-align:middle}"""


def html_page(title: str, body: str, *, css_href: str | None = None, scripts: tuple = (), nav: str = "") -> str:
    """A standalone page. With css_href the style is the site's own file (its CSP allows only the
    site's own style and scripts); without, it is inline and the page allows no script at all."""
    if css_href:
        csp = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "base-uri 'none'; form-action 'none'")
        style = (f"<link rel=\"stylesheet\" href=\"{esc(css_href)}\">"
                 f"<link rel=\"icon\" href=\"{esc(css_href.rsplit('/', 1)[0])}/icon.svg\">")
    else:
        csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
        style = f"<style>{CSS}</style>"
    js = "".join(f"<script src=\"{esc(s)}\" defer></script>" for s in scripts)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">"
            "<meta name=\"referrer\" content=\"no-referrer\">"
            f"<title>{esc(title)}</title>{style}{js}</head><body>{nav}\n{body}\n</body></html>\n")


def render_html(e: dict) -> str:
    """One entry as a standalone page (`hubdex compare --format html`): no script."""
    return html_page(e["title"], html_body(e))

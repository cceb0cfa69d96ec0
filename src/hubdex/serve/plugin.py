"""hubdex's Datasette plugin, registered by `hubdex serve` (never through an entry point, so it acts
only on the database that command serves).

- A model id (a `model_id` or `parent` column, `model_search.id`) links to its Hub page, with a link
  to its profile (the `model_profile` canned query) beside it.
- A `model_key` column shows the model's id, linked to its row in `models` (Datasette's own
  foreign-key link would point at /models/<key>, but `models` is keyed by id).
- Card text (`card_sections.text`, and a canned query's `card_excerpt` column) is rendered by
  datasette-render-markdown's `render_markdown` (Markdown, then bleach: a card's raw HTML never
  reaches the page), cut to an excerpt; images become links, so a page never loads anything from
  outside the server.
- Every row page keyed by a model (`models/<id>`, and the tables keyed by `model_key`) and every
  canned query about one model shows the model's story: its profile, rank with its working, history
  chart, competitors, comparisons, derivatives, providers and prices, card, and how many rows each
  table holds for it, each a link that filters by the model's integer key (Datasette's own "links
  from other tables" filter by the row's primary key, the text id: "0 rows" everywhere).
- Figures are readable: counts with separators, parameters and bytes in K/M/B and MB/GB, ISO
  timestamps and stored days (days since 1970-01-01) as dates, percentiles marked %, prices in $;
  the exact value stays in the cell's title (and in every JSON and CSV answer, which this never touches).
- A comparison entry's Markdown is rendered in full (bleach-sanitised) with the models' ids linked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import quote, urlencode

import markupsafe
from datasette import hookimpl
from datasette.utils import tilde_decode, tilde_encode, urlsafe_components

DB_NAME = "hubdex"
HUB = "https://huggingface.co"
EXCERPT_CHARS = 1200

MODEL_ID_COLUMNS = {"model_id", "parent"}
MODEL_ID_IN_TABLE = {("model_search", "id")}
MARKDOWN_COLUMNS = {("card_sections", "text"), (None, "card_excerpt")}
# Columns holding a model's integer key (models.key): shown as the model's id, linked to its row.
KEY_COLUMNS = {"model_key", "a_key", "b_key", "canonical_key"}
# A comparison entry (stored once, as JSON), shown as its Markdown rendered whole with its models' ids as links.
COMPARISON_COLUMNS = {("comparisons", "entry"), (None, "comparison_entry")}

_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'\b(src|alt)="([^"]*)"')


def hub_url(model_id: str) -> str:
    return f"{HUB}/{quote(model_id, safe='/')}"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip() + " …"


# Markdown tables (cards' results tables, comparison entries' figures) rendered as tables, still
# through the plugin's bleach allow-list (no attributes beyond its own, so no style or handlers).
TABLE_TAGS = ["table", "thead", "tbody", "tr", "th", "td"]


def sanitised_markdown(text: str) -> str:
    from datasette_render_markdown import render_markdown

    return str(render_markdown(text, extensions=["tables"], extra_tags=TABLE_TAGS))


def render_card_markdown(text: str) -> markupsafe.Markup:
    """Markdown through datasette-render-markdown's sanitiser, images replaced by links."""
    html = sanitised_markdown(excerpt(text))

    def as_link(match):
        attrs = dict(_ATTR.findall(match.group(0)))
        src, alt = attrs.get("src", ""), attrs.get("alt", "") or "image"
        return f'<a href="{src}">[image: {alt}]</a>' if src else f"[image: {alt}]"

    return markupsafe.Markup(_IMG.sub(as_link, html))


def model_link(datasette, model_id: str) -> markupsafe.Markup:
    profile = datasette.urls.path(f"/{DB_NAME}/model_profile") + "?" + urlencode({"model": model_id})
    return markupsafe.Markup(
        '<a href="{hub}" title="its page on the Hub">{id}</a> <a href="{profile}" title="its profile" '
        'class="hubdex-profile">(profile)</a>'
    ).format(hub=hub_url(model_id), id=model_id, profile=profile)


@hookimpl(tryfirst=True)
def render_cell(row, value, column, table, database, datasette):
    if database != DB_NAME or value is None:
        return None
    if (column in MODEL_ID_COLUMNS or (table, column) in MODEL_ID_IN_TABLE) and isinstance(value, str):
        return model_link(datasette, value)
    if ((table, column) in MARKDOWN_COLUMNS or (None, column) in MARKDOWN_COLUMNS) and isinstance(value, str):
        return render_card_markdown(value)
    if ((table, column) in COMPARISON_COLUMNS or (None, column) in COMPARISON_COLUMNS) and isinstance(value, str):
        return render_comparison(entry_markdown(value), datasette, _pair_names(row))
    if column == "comparison" and table is None and isinstance(value, str) and " vs " in value:
        a, b = value.split(" vs ", 1)
        href = datasette.urls.path(f"/{DB_NAME}/comparison") + "?" + urlencode({"a": a, "b": b})
        return markupsafe.Markup('<a href="{href}" class="hubdex-comparison">{text}</a>').format(href=href, text=value)
    if column in KEY_COLUMNS and table != "models":
        return _model_key_cell(value, datasette)
    if table == "models" and column == "id" and isinstance(value, str):
        return model_link(datasette, value)
    return readable(column, value, table)


def _model_key_cell(value, datasette):
    if isinstance(value, dict):  # a foreign key Datasette expanded: its label is the id
        key, model_id = value.get("value"), value.get("label")
        return _key_markup(datasette, key, model_id)
    if not isinstance(value, int):
        return None

    async def lookup():
        rows = await datasette.get_database(DB_NAME).execute("SELECT id FROM models WHERE key = ?", [value])
        row = rows.first()
        return _key_markup(datasette, value, row[0] if row else None)

    return lookup


def _key_markup(datasette, key, model_id):
    if not model_id:
        return None
    href = datasette.urls.table(DB_NAME, "models") + "/" + tilde_encode(model_id)
    return markupsafe.Markup('<a href="{href}">{id}</a> <em>{key}</em>').format(href=href, id=model_id, key=key)


# Datasette 0.65 lists every column's description above a table (48 of them for `models`), which
# pushes the rows off the first screen: fold the list into a <details>, and give each column header
# its description as a tooltip. Inline, so the page still loads nothing from elsewhere.
FOLD_DESCRIPTIONS_JS = """
document.addEventListener('DOMContentLoaded', function () {
  var dl = document.querySelector('dl.column-descriptions');
  if (!dl) { return; }
  var texts = {};
  dl.querySelectorAll('dt').forEach(function (dt) {
    var dd = dt.nextElementSibling;
    if (dd) { texts[dt.textContent.trim()] = dd.textContent.trim(); }
  });
  var details = document.createElement('details');
  details.className = 'hubdex-columns';
  var summary = document.createElement('summary');
  summary.textContent = 'What each column means (' + Object.keys(texts).length + ')';
  dl.parentNode.insertBefore(details, dl);
  details.appendChild(summary);
  details.appendChild(dl);
  document.querySelectorAll('th[data-column]').forEach(function (th) {
    var text = texts[th.getAttribute('data-column')];
    if (text) { th.title = text; }
  });
});
"""


# Ad-hoc charts of any table page or query's rows (no maintained Datasette 0.65 plugin does this:
# datasette-vega's last release is from 2018, datasette-plot needs the 1.0 alphas): a "Chart these
# rows" panel drawing with Vega-Lite, whose JS datasette-dashboards (maintained) bundles and serves,
# so nothing is loaded from elsewhere. The rows are read from the page's own JSON (raw values).
CHART_JS = """
document.addEventListener('DOMContentLoaded', function () {
  var table = document.querySelector('table.rows-and-columns');
  if (!table) { return; }
  // a table page's headers carry data-column; a query's only their text
  var columns = Array.from(table.querySelectorAll('thead th'))
    .map(function (th) { return th.getAttribute('data-column') || th.textContent.trim(); })
    .filter(function (c) { return c && c !== 'Link' && c !== 'rowid'; });
  if (!columns.length) { return; }
  var assets = %(assets)s;
  var panel = document.createElement('details');
  panel.className = 'hubdex-chart';
  function select(name, withNone) {
    var options = (withNone ? ['(none)'] : []).concat(columns)
      .map(function (c) { return '<option>' + c + '</option>'; }).join('');
    return '<label>' + name + ' <select name="' + name + '">' + options + '</select></label> ';
  }
  panel.innerHTML = '<summary>Chart these rows</summary><form class="hubdex-chart-form">' + select('x') +
    select('y') + select('colour', true) + '<label>mark <select name="mark"><option>bar</option>' +
    '<option>line</option><option>point</option><option>area</option></select></label> ' +
    '<button type="submit">Draw</button></form><div class="hubdex-chart-view"></div>';
  table.parentNode.insertBefore(panel, table);
  var form = panel.querySelector('form');
  if (columns.length > 1) { form.y.selectedIndex = 1; }
  function load(i, done) {
    if (i >= assets.length) { return done(); }
    if (i === 0 && window.vegaEmbed) { return done(); }
    var s = document.createElement('script');
    s.src = assets[i];
    s.onload = function () { load(i + 1, done); };
    document.head.appendChild(s);
  }
  function kind(values) {
    var v = values.filter(function (x) { return x !== null && x !== undefined; });
    if (v.length && v.every(function (x) { return typeof x === 'number'; })) { return 'quantitative'; }
    if (v.length && v.every(function (x) { return /^\\d{4}-\\d\\d(-\\d\\d)?/.test(String(x)); })) { return 'temporal'; }
    return 'nominal';
  }
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var url = new URL(window.location.href);
    url.pathname = url.pathname.replace(/\\/$/, '') + '.json';
    url.searchParams.set('_shape', 'array');
    if (document.body.classList.contains('table')) { url.searchParams.set('_size', 'max'); }
    fetch(url).then(function (r) { return r.json(); }).then(function (rows) {
      var x = form.x.value, y = form.y.value, colour = form.colour.value;
      var encoding = {
        x: {field: x, type: kind(rows.map(function (r) { return r[x]; }))},
        y: {field: y, type: kind(rows.map(function (r) { return r[y]; }))}
      };
      if (colour !== '(none)') { encoding.color = {field: colour, type: 'nominal'}; }
      var spec = {data: {values: rows},
                  mark: {type: form.mark.value, tooltip: true}, encoding: encoding, width: 640, height: 320};
      load(0, function () {
        vegaEmbed(panel.querySelector('.hubdex-chart-view'), spec, {actions: false, mode: 'vega-lite'}).then(function () {
          panel.setAttribute('data-drawn', rows.length);
        });
      });
    });
  });
});
"""


# A table keyed by model_key (model_scores, cards, match_scores, ...) shows its key in Datasette's
# link column, which no render_cell reaches: the models' ids are put beside those keys, read in one
# query through the read-only SQL endpoint.
KEY_NAMES_JS = """
document.addEventListener('DOMContentLoaded', function () {
  var cells = Array.from(document.querySelectorAll('table.rows-and-columns td.col-model_key.type-pk a'));
  var keys = cells.map(function (a) { return a.textContent.trim(); }).filter(function (k) { return /^\\d+$/.test(k); });
  if (!keys.length) { return; }
  var url = %(sql_url)s + '?' + new URLSearchParams({
    sql: 'SELECT key, id FROM models WHERE key IN (' + keys.join(',') + ')', _shape: 'array'});
  fetch(url).then(function (r) { return r.json(); }).then(function (rows) {
    var ids = {};
    rows.forEach(function (r) { ids[String(r.key)] = r.id; });
    cells.forEach(function (a) {
      var id = ids[a.textContent.trim()];
      if (!id) { return; }
      var span = document.createElement('span');
      span.className = 'hubdex-key-name';
      var link = document.createElement('a');
      link.href = %(models_url)s + '/' + id.replace(/~/g, '~7E').replace(/\\//g, '~2F').replace(/\\./g, '~2E');
      link.textContent = id;
      span.appendChild(document.createTextNode(' '));
      span.appendChild(link);
      a.parentNode.appendChild(span);
    });
  });
});
"""


@hookimpl
def extra_body_script(database, view_name, datasette):
    if database != DB_NAME:
        return None
    script = FOLD_DESCRIPTIONS_JS
    if view_name in ("table", "query", "database"):
        import json

        assets = [datasette.urls.static_plugins("datasette_dashboards", f)
                  for f in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")]
        script += CHART_JS % {"assets": json.dumps(assets)}
        script += KEY_NAMES_JS % {"sql_url": json.dumps(datasette.urls.database(DB_NAME) + ".json"),
                                  "models_url": json.dumps(datasette.urls.table(DB_NAME, "models"))}
    return script


# -- readable figures --------------------------------------------------------------------------------
# By column name; the stored value is never changed, only how a page shows it (JSON and CSV answers
# keep the raw values). A column not named here is shown as Datasette shows it, but an ISO
# timestamp anywhere is shown as a date and time.
COUNT_COLUMNS = {
    "downloads", "downloads_all_time", "likes", "trending_score", "children_finetune", "children_adapter",
    "children_quantized", "children_merge", "spaces_count", "providers_count", "growth_7d", "growth_30d",
    "models", "models_moved", "models_seen", "models_new", "models_changed", "models_renamed", "models_removed",
    "models_revived", "metrics_moved", "requests", "rows", "rows_written", "rows_deleted", "rows_pruned",
    "offers", "offers_for_task", "new_models", "with_hosted_providers", "total", "results", "members", "pages",
    "capabilities_count", "context_length", "tokens",
}
PARAM_COLUMNS = {"params"}
BYTE_COLUMNS = {"used_storage", "bytes", "db_bytes"}
BYTE_COLUMNS_IN = {("model_files", "size")}  # elsewhere `size` is a match edge's size contribution
DAY_COLUMNS = {"day", "fetched_day", "before_day"}
PERCENTILE_COLUMNS = re.compile(r"^(?:p|pt)_\w+$|^\w+_pct$")  # stored 0-100
SHARE_COLUMNS = re.compile(r"^(?:q|e)_\w+$|^eval_standing$|^confidence$")  # stored 0..1
SIGNAL_COLUMNS = {"rank", "adoption", "quality", "ecosystem", "pricing", "match", "mean_rank", "best_rank"}
USD_COLUMNS = re.compile(r"_usd_per_m$")
_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(?:Z|[+-]00:?00)?$")
EPOCH = dt.date(1970, 1, 1)


def short(n: float, units=("", "K", "M", "B", "T"), step=1000.0) -> str:
    """7_615_616_512 -> '7.62B'; 950 -> '950'."""
    i, v = 0, float(n)
    while abs(v) >= step and i < len(units) - 1:
        v, i = v / step, i + 1
    return (f"{v:,.0f}" if i == 0 else f"{v:.3g}") + units[i]


def human_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} bytes"


def _titled(shown: str, raw) -> markupsafe.Markup:
    return markupsafe.Markup('<span class="hubdex-figure" title="{raw}">{shown}</span>').format(raw=raw, shown=shown)


def readable(column: str, value, table: str | None = None):
    """The cell as an analyst reads it, or None (Datasette's own display)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        m = _ISO.match(value)
        return _titled(f"{m.group(1)} {m.group(2)} UTC", value) if m else None
    if not isinstance(value, (int, float)):
        return None
    if column in DAY_COLUMNS and isinstance(value, int) and 3650 < value < 73000:
        return _titled((EPOCH + dt.timedelta(days=value)).isoformat(), value)
    if column in PARAM_COLUMNS:
        return _titled(short(value), value)
    if column in BYTE_COLUMNS or (table, column) in BYTE_COLUMNS_IN:
        return _titled(human_bytes(value), value)
    if USD_COLUMNS.search(column):
        return _titled(f"${value:,.2f}" if abs(value) >= 0.1 or value == 0 else f"${value:.2g}", value)
    if PERCENTILE_COLUMNS.match(column):
        return _titled(f"{value:.1f}%", value)
    if SHARE_COLUMNS.match(column):
        return _titled(f"{100 * value:.0f}%", value)
    if column in SIGNAL_COLUMNS:
        return _titled(f"{value:.1f}", value)
    if column in COUNT_COLUMNS and abs(value) >= 1000:
        return _titled(f"{value:,}" if isinstance(value, int) else f"{value:,.1f}", value)
    return None


# -- comparison entries ------------------------------------------------------------------------------
def entry_markdown(stored: str) -> str:
    """A stored entry's Markdown, rendered from its JSON (the one form stored) as `hubdex compare
    --format markdown` renders it; an entry that cannot be read is shown as its text."""
    from ..compare.render import render_markdown

    try:
        e = json.loads(stored)
        return render_markdown(e) if isinstance(e, dict) and "sections" in e else stored
    except (ValueError, KeyError, TypeError):
        return stored


def _pair_names(row) -> dict:
    """The names an entry calls its two models by (the id, and the name without its author), each to the id."""
    names = {}
    try:
        ids = [row["model_a"], row["model_b"]]
    except (KeyError, IndexError, TypeError):
        return names
    for model_id in ids:
        if isinstance(model_id, str) and model_id:
            names[model_id] = model_id
            names.setdefault(model_id.rsplit("/", 1)[-1], model_id)
    return names


def render_comparison(text: str, datasette, names: dict | None = None) -> markupsafe.Markup:
    """A comparison entry's Markdown, whole, through the same sanitiser as cards; each of its two
    models, by id or by the short name the entry uses, linked to its profile."""
    from bs4 import BeautifulSoup

    html = sanitised_markdown(text)
    soup = BeautifulSoup(html, "html.parser")
    names = dict(names or {})
    if names:
        pattern = re.compile(r"(?<![\w/.-])(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
                             + r")(?![\w/-])")
        for node in list(soup.find_all(string=pattern)):
            if node.find_parent(["a", "code", "pre"]):
                continue
            parts, last = [], 0
            for m in pattern.finditer(node):
                parts.append(node[last:m.start()])
                a = soup.new_tag("a", href=_profile_url(datasette, names[m.group(1)]))
                a["class"] = "hubdex-model"
                a.string = m.group(0)
                parts.append(a)
                last = m.end()
            parts.append(node[last:])
            for part in parts:
                node.insert_before(part)
            node.extract()
    out = str(soup)
    return markupsafe.Markup(_IMG.sub(lambda m: "[image]", out))


def _profile_url(datasette, model_id: str) -> str:
    return datasette.urls.path(f"/{DB_NAME}/model_profile") + "?" + urlencode({"model": model_id})


# -- a model's story ---------------------------------------------------------------------------------
# Canned queries about one model (their `model` parameter): their pages carry the story too.
MODEL_QUERIES = {"model_profile", "model_rank", "model_competitors", "model_comparisons", "derivative_tree",
                 "model_prices"}


def story_links(datasette, model_id: str, key: int | None) -> list[dict]:
    """Where each part of a model's story is, one click each."""
    q = urlencode({"model": model_id})
    path = datasette.urls.path
    links = [
        {"label": "profile", "href": path(f"/{DB_NAME}/model_profile?{q}"),
         "what": "facts, signals, licence, pricing, capabilities with evidence, evaluations, card"},
        {"label": "rank and its working", "href": path(f"/{DB_NAME}/model_rank?{q}"),
         "what": "each signal, its weight, its parts"},
        {"label": "history chart", "href": path(f"/-/dashboards/adoption?{q}"),
         "what": "downloads, likes, trending by day"},
        {"label": "competitors", "href": path(f"/{DB_NAME}/model_competitors?{q}"),
         "what": "with the evidence behind each"},
        {"label": "comparisons", "href": path(f"/{DB_NAME}/model_comparisons?{q}"),
         "what": "its \"A vs B\" entries, rendered"},
        {"label": "derivatives by relation", "href": datasette.urls.table(DB_NAME, "model_relations") + "?"
         + urlencode({"parent": model_id, "_facet": "relation"}), "what": "fine-tunes, adapters, quantisations, merges"},
        {"label": "derivative tree", "href": path(f"/{DB_NAME}/derivative_tree?{q}"),
         "what": "its bases and derivatives, 4 levels"},
        {"label": "providers and prices", "href": path(f"/{DB_NAME}/model_prices?{q}"),
         "what": "every offer, every day seen"},
        {"label": "row", "href": datasette.urls.table(DB_NAME, "models") + "/" + tilde_encode(model_id),
         "what": "everything crawled"},
        {"label": "Hub page", "href": hub_url(model_id), "what": "huggingface.co"},
    ]
    if key is not None:
        links.insert(8, {"label": "card", "href": datasette.urls.table(DB_NAME, "card_sections") + "?"
                         + urlencode({"model_key": key}), "what": "its sections, rendered"})
    return links


async def _model_tables(db) -> list[tuple[str, str]]:
    """(table, column) of every table holding rows per model through an index on its key column."""
    out = []
    for table in await db.table_names():
        if table.startswith(("sqlite_", "model_search_fts")) or table == "models":
            continue
        columns = await db.table_columns(table)
        for column in ("model_key", "a_key", "b_key"):
            if column not in columns:
                continue
            plan = await db.execute(f"EXPLAIN QUERY PLAN SELECT count(*) FROM [{table}] WHERE [{column}] = 1")
            if any(("INDEX" in r[3] or "PRIMARY KEY" in r[3]) for r in plan.rows):
                out.append((table, column))
    return out


_TABLES_CACHE: dict = {}


async def model_tables(db) -> list[tuple[str, str]]:
    version = (await db.execute("PRAGMA schema_version")).first()[0]
    if _TABLES_CACHE.get("version") != version:
        _TABLES_CACHE.update(version=version, tables=await _model_tables(db))
    return _TABLES_CACHE["tables"]


async def model_story(datasette, model_id: str | None = None, key: int | None = None) -> dict | None:
    db = datasette.get_database(DB_NAME)
    if model_id is not None:
        row = (await db.execute("SELECT key, id FROM models WHERE id = ?", [model_id])).first()
    else:
        row = (await db.execute("SELECT key, id FROM models WHERE key = ?", [key])).first()
    if not row:
        return None
    key, model_id = row[0], row[1]
    tables = await model_tables(db)
    counts = []
    if tables:
        sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM [{t}] WHERE [{c}] = :key)" for t, c in tables)
        values = (await db.execute(sql, {"key": key})).first()
        for (table, column), n in zip(tables, values):
            counts.append({"other_table": table, "other_column": column, "column": "key", "count": n,
                           "link": datasette.urls.table(DB_NAME, table) + "?" + urlencode({column: key})})
    return {"id": model_id, "key": key, "links": story_links(datasette, model_id, key), "tables": counts}


_KEYED_BY_MODEL = {"model_key"}


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    if database != DB_NAME or request is None:
        return None

    async def story():
        if view_name == "row" and table:
            pks = urlsafe_components(request.url_vars.get("pks", ""))
            if len(pks) != 1:
                return {}
            db = datasette.get_database(DB_NAME)
            if table == "models":
                found = await model_story(datasette, model_id=pks[0])
                # Datasette's own links filter model_key by the text id: replaced by these
                return {"hubdex_model": found, "foreign_key_tables": found["tables"] if found else []}
            pk = await db.primary_keys(table)
            if pk == ["model_key"] and pks[0].lstrip("-").isdigit():
                return {"hubdex_model": await model_story(datasette, key=int(pks[0]))}
            return {}
        if view_name == "database" or template.startswith("database"):
            return {"hubdex_start": True}
        canned = request.url_vars.get("table") or ""
        if template.startswith("query") and tilde_decode(canned) in MODEL_QUERIES:
            model = request.args.get("model") or ""
            if model:
                return {"hubdex_model": await model_story(datasette, model_id=model)}
        return {}

    return story


# -- whole exports -----------------------------------------------------------------------------------
# A CSV stream ("stream all rows") stops at max_csv_mb (100 MB); Datasette then writes one bare line,
# "CSV contains more than N bytes", that reads like a last row. It is made to say what happened and
# where the whole table is: `hubdex export DIR` (Parquet, every row).
CSV_LIMIT_NOTE = (b"\n# TRUNCATED: this CSV stopped at Datasette's max_csv_mb limit (%d MB); it does not hold every row. "
                  b"`hubdex export DIR` writes whole tables as Parquet.\n")


@hookimpl
def asgi_wrapper(datasette):
    limit_mb = datasette.setting("max_csv_mb")

    def wrap(app):
        async def wrapped(scope, receive, send):
            if scope.get("type") != "http" or not scope.get("path", "").endswith(".csv"):
                return await app(scope, receive, send)

            async def send_noting_the_limit(message):
                if message.get("type") == "http.response.body" and message.get("body", b"").startswith(
                        b"CSV contains more than "):
                    message = {**message, "body": CSV_LIMIT_NOTE % limit_mb}
                await send(message)

            return await app(scope, receive, send_noting_the_limit)

        return wrapped

    return wrap


# -- the start page's facets -------------------------------------------------------------------------
# model_overview's five facets (metadata: `counted: <column>`) are counted from overview_cube (its rows
# per combination of the five columns, kept by every derive) whenever the page is filtered by
# nothing but equalities on those columns: a sum over a small table instead of a scan of a million
# index entries per facet (300-400 ms each at a million models). Any other filter (a search, `__gt`,
# `_where`, another column) counts the page's rows live, as Datasette's column facet does, but all
# five facets in one pass.
CUBE_TABLE = ("model_overview", "overview_cube")
CUBE_COLUMNS = ("pipeline_tag", "library_name", "licence_family", "gated", "size_band")
# query-string keys that never narrow the rows
_NEUTRAL_ARGS = {"_facet", "_facet_counted", "_size", "_sort", "_sort_desc", "_next", "_facet_size", "_nocount",
                 "_col", "_nocol", "_labels", "_nofacet", "_trace", "_shape", "_json", "_timelimit"}


def _cube_filters(request) -> dict | None:
    """The page's filters as {column: value} when all of them are equalities on cube columns."""
    from urllib.parse import parse_qsl

    filters = {}
    for key, value in parse_qsl(request.query_string, keep_blank_values=True):
        if key in _NEUTRAL_ARGS or key.startswith("_facet"):
            continue
        column = key[: -len("__exact")] if key.endswith("__exact") else key
        if column not in CUBE_COLUMNS or column in filters:
            return None
        filters[column] = value
    return filters


def _counted_facet_class():
    from datasette.database import QueryInterrupted
    from datasette.facets import ColumnFacet
    from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args

    class CountedFacet(ColumnFacet):
        type = "counted"

        async def _live_cube(self, columns):
            """The page's rows counted per combination of the facet columns, in one pass (five
            facets counted live were five passes over the rows: 3 s for a search matching a quarter
            of a million models)."""
            cols = ", ".join(escape_sqlite(c) for c in columns)
            sql = f"SELECT {cols}, count(*) AS models FROM ({self.sql}) GROUP BY {cols}"
            limit = self.ds.setting("facet_time_limit_ms") * max(1, len(columns))
            return (await self.ds.execute(self.database, sql, self.params, truncate=False,
                                          custom_time_limit=limit)).rows

        async def facet_results(self):
            filters = _cube_filters(self.request) if self.table == CUBE_TABLE[0] else None
            db = self.ds.get_database(self.database)
            configs = self.get_configs()
            columns = [c["config"].get("column") or c["config"]["simple"] for c in configs]
            if not columns:  # a table with no counted facet (every table but model_overview)
                return [], []
            live = None
            if filters is None or not await db.table_exists(CUBE_TABLE[1]):
                try:
                    live = await self._live_cube(columns)
                except QueryInterrupted:
                    return [], columns
            results, qs_pairs, size = [], self.get_querystring_pairs(), self.get_facet_size()
            where = " AND ".join(f"{escape_sqlite(c)} = :{c}" for c in filters or {})
            for source_and_config, column in zip(configs, columns):
                if live is not None:
                    counts = {}
                    for row in live:
                        if row[column] is not None:
                            counts[row[column]] = counts.get(row[column], 0) + row["models"]
                    rows = [{"value": v, "count": n}
                            for v, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:size + 1]]
                else:
                    sql = (f"SELECT {escape_sqlite(column)} AS value, sum(models) AS count FROM {CUBE_TABLE[1]} "
                           f"WHERE {escape_sqlite(column)} IS NOT NULL{' AND ' + where if where else ''} "
                           f"GROUP BY {escape_sqlite(column)} ORDER BY count DESC, value LIMIT {size + 1}")
                    rows = (await db.execute(sql, filters)).rows
                values = []
                results.append({"name": column, "type": self.type, "hideable": source_and_config["source"] != "metadata",
                                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request,
                                                                                       {"_facet_counted": column})),
                                "results": values, "truncated": len(rows) > size})
                for row in rows[:size]:
                    selected = (column, str(row["value"])) in qs_pairs
                    toggle = (path_with_removed_args(self.request, {column: str(row["value"])}) if selected
                              else path_with_added_args(self.request, {column: row["value"]}))
                    values.append({"value": row["value"], "label": row["value"], "count": row["count"],
                                   "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(toggle)),
                                   "selected": selected})
            return results, []

    return CountedFacet


@hookimpl
def register_facet_classes():
    return [_counted_facet_class()]

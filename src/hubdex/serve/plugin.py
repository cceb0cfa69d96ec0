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
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

import markupsafe
from datasette import hookimpl
from datasette.utils import tilde_encode

DB_NAME = "hubdex"
HUB = "https://huggingface.co"
EXCERPT_CHARS = 1200

MODEL_ID_COLUMNS = {"model_id", "parent"}
MODEL_ID_IN_TABLE = {("model_search", "id")}
MARKDOWN_COLUMNS = {("card_sections", "text"), (None, "card_excerpt")}

_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'\b(src|alt)="([^"]*)"')


def hub_url(model_id: str) -> str:
    return f"{HUB}/{quote(model_id, safe='/')}"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip() + " …"


def render_card_markdown(text: str) -> markupsafe.Markup:
    """Markdown through datasette-render-markdown's sanitiser, images replaced by links."""
    from datasette_render_markdown import render_markdown

    html = str(render_markdown(excerpt(text)))

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
def render_cell(value, column, table, database, datasette):
    if database != DB_NAME or value is None:
        return None
    if (column in MODEL_ID_COLUMNS or (table, column) in MODEL_ID_IN_TABLE) and isinstance(value, str):
        return model_link(datasette, value)
    if ((table, column) in MARKDOWN_COLUMNS or (None, column) in MARKDOWN_COLUMNS) and isinstance(value, str):
        return render_card_markdown(value)
    if column == "model_key" and table != "models":
        return _model_key_cell(value, datasette)
    return None


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


@hookimpl
def extra_body_script(database):
    if database != DB_NAME:
        return None
    return FOLD_DESCRIPTIONS_JS

"""HTML building blocks: every interpolated value goes through ``e`` (html.escape).

The page shell is a string.Template; fragments are small functions returning strings.
Whatever comes from the cluster (names, messages, versions) is text the user or a model
author wrote, so it is escaped at the one place it enters markup: ``e``. A test renders
a page from an object whose fields hold markup and checks none of it survives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from string import Template

ASSET_VERSION = "1"  # bumped when app.js/app.css change, so browsers fetch them again


def e(value: object) -> str:
    """Text -> HTML text or attribute value (quotes escaped too)."""
    return escape("" if value is None else str(value), quote=True)


def attrs(values: Mapping[str, object]) -> str:
    """` k="v"` pairs, skipping None values, escaped."""
    return "".join(f' {k}="{e(v)}"' for k, v in values.items() if v is not None)


def table(
    headers: Sequence[str], rows: Iterable[str], table_attrs: Mapping[str, object] | None = None
) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    return (
        f"<table{attrs(table_attrs or {})}><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def cell(field: str | None, text: object, html: str | None = None) -> str:
    """A td with data-field (what tests and scripts select on); ``html`` is trusted
    markup built here, ``text`` is escaped."""
    a = attrs({"data-field": field})
    return f"<td{a}>{html if html is not None else e(text)}</td>"


def badge(text: str | None) -> str:
    """A verdict or phase as a coloured label: the class is the word itself."""
    if not text:
        return ""
    return f'<span class="badge b-{e(text)}">{e(text)}</span>'


def link(href: str, text: object) -> str:
    return f'<a href="{e(href)}">{e(text)}</a>'


_SHELL = Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="modelship-csrf" content="$csrf">
<title>$title - modelship</title>
<link rel="stylesheet" href="/static/app.css?v=$asset">
<script src="/static/app.js?v=$asset" defer></script>
</head><body data-page="$page">
<header><a class="brand" href="/">modelship</a>
<nav><a href="/">Fleet</a> <a href="/promotions">Promotions</a></nav>
<span id="live" class="live" title="live updates from the cluster's watch">connecting</span>
</header>
<main>
<h1>$heading</h1>
$body
</main>
<dialog id="confirm"><form method="dialog">
<p id="confirm-text">Are you sure?</p>
<label id="confirm-message-label" hidden>Message
<input id="confirm-message" type="text" maxlength="1000"></label>
<menu><button id="confirm-no" value="no" type="submit">Cancel</button>
<button id="confirm-yes" value="yes" type="submit">Yes, do it</button></menu>
</form></dialog>
</body></html>
"""
)


def page(title: str, heading_html: str, body: str, csrf: str, page_id: str) -> str:
    """The whole document; ``heading_html`` and ``body`` are markup built here."""
    return _SHELL.substitute(
        title=e(title),
        heading=heading_html,
        body=body,
        csrf=e(csrf),
        asset=ASSET_VERSION,
        page=e(page_id),
    )


def section(id_: str, title: str, inner: str, tag: str = "div") -> str:
    """A titled block whose content element carries ``id_``: live updates replace the
    content of that element by id."""
    return f'<section><h2>{e(title)}</h2><{tag} id="{e(id_)}">{inner}</{tag}></section>'


def action_buttons(kind: str, namespace: str, name: str, actions: Sequence[tuple[str, str]]) -> str:
    """Buttons for manual commands; app.js asks for confirmation, then POSTs."""
    buttons = "".join(
        f'<button type="button" data-action="{e(a)}" title="{e(help_)}">{e(a)}</button>'
        for a, help_ in actions
    )
    target = attrs({"data-kind": kind, "data-namespace": namespace, "data-name": name})
    return (
        f'<div class="actions" id="actions"{target}>{buttons}</div>'
        '<div id="action-result" role="status" aria-live="polite"></div>'
    )

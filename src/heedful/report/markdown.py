"""Markdown files of a run (a comparison's ``table.md``) as HTML: tables become tables. Raw HTML in the file is
escaped, never passed through."""

from __future__ import annotations

from markupsafe import Markup, escape


def to_html(text: str) -> Markup:
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # the report still shows the text
        return Markup(f"<pre>{escape(text)}</pre>")
    return Markup(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))

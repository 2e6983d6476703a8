"""The jinja2 environment of the report: templates are package data under ``templates/``, every value is escaped
(autoescape) unless the code marks it as markup it built itself (plotly's figure, an inline SVG, rendered markdown)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from markupsafe import Markup

from heedful.report.values import cell, is_percent_key, is_scalar


@dataclass
class Section:
    slug: str
    title: str
    body: Markup


@cache
def environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("heedful.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name in a template fails the tests instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = cell
    env.filters["pretty_json"] = lambda obj: json.dumps(obj, indent=2, ensure_ascii=False)
    env.filters["compact_json"] = lambda obj: json.dumps(obj, ensure_ascii=False)
    env.filters["columns"] = lambda rows: list(dict.fromkeys(k for r in rows for k in r))
    env.tests["percent_key"] = is_percent_key
    env.tests["scalar"] = is_scalar
    env.tests["records"] = lambda obj: isinstance(obj, list) and bool(obj) and all(isinstance(x, dict) for x in obj)
    env.tests["scalar_map"] = lambda obj: isinstance(obj, dict) and all(is_scalar(v) for v in obj.values())
    return env


def render(template: str, **context) -> Markup:
    return Markup(environment().get_template(template).render(**context))


def section(slug: str, title: str, template: str, **context) -> Section:
    return Section(slug, title, render(template, **context))

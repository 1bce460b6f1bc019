"""A local Sphinx extension for the LPLR companion's site (listed in ``_config.yml``).

Three small things the theme and autodoc do not do on their own:

* **plotly.js only where a figure is drawn.** ``plotly/plotly.min.js`` (vendored by
  ``book/tools/vendor_assets.py``) is added to a page's ``<head>`` only when the page
  body holds a plotly figure; text-only pages load none of it. Right after it comes
  ``lplr_figures.js`` (``book/assets/``), which lays the figures out again on a phone
  (viewport under 600 px): wrapped titles, no toolbar, the legend below every axis
  title and slider, measured in the browser. The bundle vendored is
  the smallest one that draws every trace type the notebooks use; a page that draws a
  trace type the vendored bundle lacks is a build warning (an error under ``-W``).
* **One search box.** pydata-sphinx-theme puts a second search field in a top bar that
  is otherwise empty; the sidebar's field (and, on a phone, the header's search icon)
  stays. An explicit ``navbar_persistent`` in ``html_theme_options`` is respected.
* **NamedTuple fields documented once, with their meaning.** autodoc lists every field
  of a ``typing.NamedTuple`` as a member whose docstring is Python's "Alias for field
  number N". This extension skips those members and documents the fields in the
  class's ``Attributes`` section instead (rendered by napoleon): a field the class
  docstring already describes there is left as written; any other field gets the
  comment written after it in the class body (``value: float  # the best estimate``),
  or its annotation when it has no comment.

Nothing here imports the core package: NamedTuples are recognized from the objects
autodoc hands over.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

PLOTLY_JS = "plotly/plotly.min.js"          # relative to an html_static_path entry
FIGURES_JS = "lplr_figures.js"              # book/assets/: the phone layout of the figures
PLOTLY_MANIFEST = "plotly/.vendored.json"   # written by book/tools/vendor_assets.py
_FIGURE = re.compile(r'class="[^"]*\bplotly-graph-div\b')
_TYPE = re.compile(r'"type":\s*"([a-z0-9]+)"')
_ALIAS = re.compile(r"^Alias for field number \d+$")


# --- plotly.js ---------------------------------------------------------------------------

def _known_trace_types() -> frozenset[str]:
    """Every trace type plotly knows (from the installed plotly package)."""
    import plotly.graph_objects as go
    from plotly.basedatatypes import BaseTraceType

    types = set()
    for value in vars(go).values():
        if isinstance(value, type) and issubclass(value, BaseTraceType) and value is not BaseTraceType:
            types.add(value().type)
    return frozenset(types)


def _bundle_traces(app: Sphinx) -> tuple[str, frozenset[str] | None]:
    """The vendored bundle's name and the trace types it draws (None: all of them)."""
    cached = getattr(app, "_lplr_plotly_bundle", None)
    if cached is not None:
        return cached
    result: tuple[str, frozenset[str] | None] = ("unknown", None)
    for static in app.config.html_static_path:
        manifest = Path(app.confdir, static, PLOTLY_MANIFEST)
        if manifest.is_file():
            recorded = json.loads(manifest.read_text(encoding="utf8"))
            traces = recorded.get("traces")
            result = (recorded.get("bundle", "unknown"),
                      None if traces in (None, "all") else frozenset(traces))
            break
    else:
        logger.warning("lplr_site: no %s under html_static_path; run book/tools/vendor_assets.py",
                       PLOTLY_MANIFEST, type="lplr_site", subtype="plotly")
    app._lplr_plotly_bundle = result  # type: ignore[attr-defined]
    return result


def add_plotly_where_drawn(app: Sphinx, pagename: str, templatename: str,
                           context: dict[str, Any], doctree: Any) -> None:
    body = context.get("body") or ""
    if not _FIGURE.search(body):
        return
    app.builder.add_js_file(PLOTLY_JS)  # type: ignore[attr-defined]
    # Right after plotly.js and before the figures' inline Plotly.newPlot calls, which it
    # wraps: on a phone it lays every figure out again (see book/assets/lplr_figures.js).
    app.builder.add_js_file(FIGURES_JS)  # type: ignore[attr-defined]
    bundle, traces = _bundle_traces(app)
    if traces is None:
        return
    if not hasattr(app, "_lplr_trace_types"):
        app._lplr_trace_types = _known_trace_types()  # type: ignore[attr-defined]
    used = set(_TYPE.findall(body)) & app._lplr_trace_types  # type: ignore[attr-defined]
    missing = sorted(used - traces)
    if missing:
        logger.warning("lplr_site: %s draws trace type(s) %s that the vendored plotly.js bundle "
                       "%r does not include; re-run book/tools/vendor_assets.py (it picks a "
                       "bundle that draws every trace type the notebooks use)",
                       pagename, ", ".join(missing), bundle, type="lplr_site", subtype="plotly")


# --- one search box ----------------------------------------------------------------------

def one_search_box(app: Sphinx, config: Any) -> None:
    options = dict(config.html_theme_options or {})
    options.setdefault("navbar_persistent", [])
    config.html_theme_options = options


# --- NamedTuple fields -------------------------------------------------------------------

def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")


def _is_field_alias(obj: Any) -> bool:
    return type(obj).__name__ == "_tuplegetter" and bool(_ALIAS.match((obj.__doc__ or "").strip()))


_RST_SPECIAL = re.compile(r"([\\`*_|<>\[\]])")


def _rst_text(text: str) -> str:
    """Plain text (a source comment) made safe to drop into reStructuredText."""
    return _RST_SPECIAL.sub(r"\\\1", text)


def field_comments(cls: type) -> dict[str, tuple[str, str]]:
    """``{field: (annotation, comment)}`` read from the class body's source.

    A comment is what follows ``#`` on the field's line, plus any comment-only lines
    right below it that are indented deeper than the field.
    """
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    fields = set(cls._fields)
    found: dict[str, tuple[str, str]] = {}
    current = None
    indent = None
    pattern = re.compile(r"^(\s+)([A-Za-z_]\w*)\s*:\s*([^#=]+?)\s*(?:=\s*[^#]*?)?\s*(?:#\s?(.*))?$")
    for line in lines[1:]:
        m = pattern.match(line)
        if m and m[2] in fields and (indent is None or len(m[1]) == indent):
            indent = len(m[1])
            current = m[2]
            found[current] = (m[3].strip(), (m[4] or "").strip())
            continue
        stripped = line.strip()
        if (current and stripped.startswith("#") and indent is not None
                and len(line) - len(line.lstrip()) > indent):
            annotation, comment = found[current]
            found[current] = (annotation, f"{comment} {stripped.lstrip('#').strip()}".strip())
            continue
        current = None
    return found


_SECTION = re.compile(r"^\s*(Attributes|Args|Arguments|Returns|Raises|Yields|Examples?|Notes?|"
                      r"References|See Also|Warnings?|Methods|Todo)\s*:\s*$")
_ENTRY = re.compile(r"^\s+([A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:")


def documented_attributes(lines: list[str]) -> set[str]:
    """Names listed in the Google-style ``Attributes:`` section(s) of a docstring."""
    names: set[str] = set()
    inside = False
    for line in lines:
        header = _SECTION.match(line)
        if header:
            inside = header[1] == "Attributes"
            continue
        if inside:
            if line.strip() and not line[:1].isspace():
                inside = False
                continue
            entry = _ENTRY.match(line)
            if entry:
                names.add(entry[1])
    return names


def document_namedtuple_fields(app: Sphinx, what: str, name: str, obj: Any,
                               options: Any, lines: list[str]) -> None:
    if what != "class" or not _is_namedtuple(obj):
        return
    missing = [f for f in obj._fields if f not in documented_attributes(lines)]
    if not missing:
        return
    comments = field_comments(obj)
    while lines and not lines[-1].strip():
        lines.pop()
    lines += ["", "Attributes:"]
    for field in missing:
        annotation, comment = comments.get(field, ("", ""))
        text = _rst_text(comment) if comment else (f"``{annotation}``" if annotation else "")
        lines.append(f"  {field}: {text}".rstrip())
    lines.append("")


def skip_field_aliases(app: Sphinx, what: str, name: str, obj: Any, skip: bool,
                       options: Any) -> bool | None:
    # The class's Attributes section (above) documents every field.
    if _is_field_alias(obj):
        return True
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", one_search_box)
    app.connect("html-page-context", add_plotly_where_drawn)
    # Before napoleon (priority 500), which turns the Attributes section into markup.
    app.connect("autodoc-process-docstring", document_namedtuple_fields, priority=400)
    app.connect("autodoc-skip-member", skip_field_aliases)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

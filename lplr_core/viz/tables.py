"""Small tables for the notebooks: one helper, the same table in the book, JupyterLab and a terminal.

:func:`table` turns rows, column headers and a format per column into a :class:`Table`.
Displayed in a notebook (as a cell's last expression or with ``IPython.display.display``),
it carries two MIME types:

* ``text/html`` (``Table._repr_html_``): a small self-styled ``<table>`` under its
  caption. Numbers are right-aligned in tabular figures, text left-aligned, the header
  underlined, every other row lightly shaded. All styling is inline and uses no colour of
  its own (borders in ``currentColor``, a translucent grey shade), so the table reads the
  same in the book's light and dark modes and in JupyterLab, whose HTML sanitizer keeps
  these ``style`` properties and the ``table``/``thead``/``tbody`` tags of an untrusted
  notebook's stored outputs. In the book's dark mode the theme draws HTML outputs on a light
  card with dark text, as it does for figures.
* ``text/plain`` (``repr(table)``, also ``str(table)`` and ``print(table)``): the caption on
  its first line, then an aligned text table. It holds no object repr and no memory address,
  and it is a pure function of the rows, so ``pytest --nbval`` compares it byte for byte.

Why ``text/html`` and no ``_repr_markdown_``: one rich MIME type keeps one rendering to
check. HTML is the one that both front ends render as a table. myst-nb's HTML builder ranks
``text/html`` *above* ``text/markdown`` (render priority 30 against 80, lower wins), so a
Markdown representation next to the HTML would never be shown in the book; and alone it
would be rendered as CommonMark (``nb_render_markdown_format`` defaults to ``commonmark``),
which has no pipe tables, so it would appear as a paragraph of ``|`` characters. Markdown
tables have no caption either. JupyterLab renders ``text/html`` natively.

Headers, captions, notes and text cells may use a tiny markup: ``<sub>...</sub>``,
``<sup>...</sup>``, ``<b>...</b>`` and ``<i>...</i>`` (rendered in HTML, written as ``_x``,
``^x`` and plain text in the text table); everything else is escaped, so a cell can never
inject HTML.

Example::

    >>> from lplr_core.viz.tables import table
    >>> t = table([(16, 10.74, 0.0339), (32, 11.18, 0.0358)],
    ...           ["width m", "β<sub>0</sub>", "λ<sub>0</sub>"],
    ...           formats={"β<sub>0</sub>": ".4g", "λ<sub>0</sub>": ".3g"},
    ...           caption="NTK parameterization")
    >>> print(t)
    NTK parameterization
    width m    β_0     λ_0
    -------  -----  ------
         16  10.74  0.0339
         32  11.18  0.0358
"""

from __future__ import annotations

import html
import math
import numbers
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

import numpy as np

__all__ = ["Table", "table", "grid_table"]

Format = Union[str, Callable[[Any], str], None]
"""A column's format: a format spec for ``format`` (``".3g"``, ``".2f"``, ``"d"``,
``".1%"``), a ``str.format`` template with one field (``"{:.3g} s"``), a callable from the
cell's value to its text, or ``None`` for the default."""

DEFAULT_FLOAT_FORMAT = ".4g"
"""Floats without a column format: four significant digits."""
MISSING = "–"
"""Text of an absent value (``None``) or a NaN, unless ``missing=`` says otherwise."""
_ALIGNMENTS = ("left", "right", "center")
_GAP = "  "
_MARKUP = re.compile(r"<(/?)(sub|sup|b|i)>")
_ESCAPED_MARKUP = re.compile(r"&lt;(/?)(sub|sup|b|i)&gt;")
_NEGATIVE_ZERO = re.compile(r"^-(0*\.?0*)(e[+-]?\d+)?(%?)$", re.IGNORECASE)

# Inline styles: no colour of their own (dark mode), tabular figures for numbers. The caption
# and the note are <div>s, not <caption>/<tfoot>: a <caption> is only as wide as the table,
# so a long caption over a narrow table wrapped after every few words.
_BOX_STYLE = "margin: 0.25em 0 0.75em 0"
_TABLE_STYLE = "border-collapse: collapse; margin: 0; font-size: 0.9em; line-height: 1.35"
_CAPTION_STYLE = "font-weight: 600; margin: 0 0 0.35em 0"
_CELL_PAD = "padding: 0.2em 0.75em"
_HEAD_STYLE = "border-bottom: 1px solid currentColor; font-weight: 600"
_SHADE = "background-color: rgba(127, 127, 127, 0.09)"
_NOTE_STYLE = "font-size: 0.85em; margin: 0.35em 0 0 0"


def _display_width(text: str) -> int:
    """Terminal columns of ``text``: combining marks (the hat of L̂) take none."""
    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)


def _to_text_markup(text: str) -> str:
    """The text form of the mini markup: ``β<sub>0</sub>`` -> ``β_0``."""
    def repl(match: re.Match) -> str:
        closing, tag = match.groups()
        if closing:
            return ""
        return {"sub": "_", "sup": "^"}.get(tag, "")
    return _MARKUP.sub(repl, text)


def _to_html_markup(text: str) -> str:
    """Escape ``text`` for HTML, then re-enable the mini markup's tags."""
    return _ESCAPED_MARKUP.sub(r"<\1\2>", html.escape(text, quote=True))


def _scalar(value: Any, where: str) -> Any:
    """A plain Python scalar (or None) from a cell value, or a TypeError naming the cell."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, numbers.Number)):
        return value
    if hasattr(value, "__array__") and not isinstance(value, (Mapping, list, tuple)):
        arr = np.asarray(value)
        if arr.ndim == 0:
            return arr.item()
        raise TypeError(f"{where}: an array of shape {arr.shape} is not a single value; "
                        f"a cell holds a number, a bool, a string or None")
    raise TypeError(f"{where}: a value of type {type(value).__name__} cannot be a table cell; "
                    f"a cell holds a number, a bool, a string or None")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _clean_number_text(text: str) -> str:
    """``-0``, ``-0.00``, ``-0e+00`` -> without the sign (a rounded tiny negative number)."""
    return text[1:] if _NEGATIVE_ZERO.match(text) else text


def _format_cell(value: Any, fmt: Format, missing: str, where: str) -> str:
    if value is None:
        return missing
    if isinstance(value, float) and math.isnan(value):
        return missing
    if isinstance(value, complex):
        raise TypeError(f"{where}: complex value {value!r} cannot be a table cell; "
                        f"give its real part or its modulus")
    if callable(fmt):
        text = fmt(value)
        if not isinstance(text, str):
            raise TypeError(f"{where}: the column's format function returned "
                            f"{type(text).__name__}, not a str")
        return text
    # A format spec is for numbers: strings and bools in a numeric column pass through.
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if fmt is None:
        fmt = "d" if isinstance(value, numbers.Integral) else DEFAULT_FLOAT_FORMAT
    try:
        text = fmt.format(value) if "{" in fmt else format(value, fmt)
    except (ValueError, TypeError, IndexError, KeyError) as err:
        raise ValueError(f"{where}: format {fmt!r} cannot format the value {value!r} "
                         f"({err}); use a format spec such as '.3g', '.2f' or 'd', "
                         f"a template such as '{{:.3g}} s', or a function") from None
    return _clean_number_text(text) if _is_number(value) else text


def _check_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {type(value).__name__}")
    return value


class Table:
    """A formatted table: HTML in notebooks and the book, aligned text in terminals.

    Build it with :func:`table` or :func:`grid_table`. The constructor formats every cell
    at once, so a bad format or value fails where the table is made, not when it is shown.

    Attributes:
        columns: The column headers, as given (mini markup included).
        rows: The cell values, as plain Python scalars (``None`` for absent values).
        cells: The formatted cell texts, row by row.
        caption: The caption, or ``None``.
        note: A line under the table (what a symbol means, the units), or ``None``.
        align: One of ``"left"``, ``"right"``, ``"center"`` per column.
    """

    __slots__ = ("columns", "rows", "cells", "caption", "note", "align")

    def __init__(self, rows: Iterable[Sequence[Any]], columns: Sequence[str], *,
                 formats: Format | Sequence[Format] | Mapping[str, Format] = None,
                 caption: str | None = None, note: str | None = None,
                 align: Mapping[str, str] | Sequence[str] | None = None,
                 missing: str = MISSING) -> None:
        if isinstance(columns, str) or not isinstance(columns, Sequence):
            raise TypeError(f"columns must be a sequence of header strings, got "
                            f"{type(columns).__name__}")
        columns = tuple(columns)
        if not columns:
            raise ValueError("columns is empty: a table needs at least one column")
        for j, name in enumerate(columns):
            if not isinstance(name, str):
                raise TypeError(f"columns[{j}] must be a str, got {type(name).__name__}")
        if len(set(columns)) != len(columns):
            dupes = sorted({c for c in columns if columns.count(c) > 1})
            raise ValueError(f"columns has repeated headers {dupes}: headers must be unique")
        if not isinstance(missing, str):
            raise TypeError(f"missing must be a str, got {type(missing).__name__}")
        self.columns = columns
        self.caption = _check_text(caption, "caption")
        self.note = _check_text(note, "note")

        if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
            raise TypeError(f"rows must be a sequence of rows (each a sequence of "
                            f"{len(columns)} values), got {type(rows).__name__}")
        plain: list[tuple[Any, ...]] = []
        for i, row in enumerate(rows):
            if isinstance(row, (str, bytes, Mapping)) or not isinstance(row, Iterable):
                raise TypeError(f"rows[{i}] must be a sequence of {len(columns)} values, "
                                f"got {type(row).__name__}")
            row = tuple(row)
            if len(row) != len(columns):
                raise ValueError(f"rows[{i}] has {len(row)} values but there are "
                                 f"{len(columns)} columns {list(columns)}")
            plain.append(tuple(_scalar(v, f"rows[{i}][{j}] (column {columns[j]!r})")
                               for j, v in enumerate(row)))
        self.rows = tuple(plain)

        per_column = self._per_column(formats, "formats", allowed=lambda f: (
            f is None or isinstance(f, str) or callable(f)),
            allowed_text="a format spec str, a function or None")
        self.cells = tuple(
            tuple(_format_cell(v, per_column[j], missing,
                               f"rows[{i}][{j}] (column {columns[j]!r})")
                  for j, v in enumerate(row))
            for i, row in enumerate(self.rows))

        numeric = [all(_is_number(row[j]) or row[j] is None for row in self.rows)
                   and any(_is_number(row[j]) for row in self.rows)
                   for j in range(len(columns))]
        default_align = ["right" if n else "left" for n in numeric]
        given = self._per_column(align, "align", allowed=lambda a: a is None or a in _ALIGNMENTS,
                                 allowed_text=f"one of {_ALIGNMENTS} or None", broadcast=False)
        self.align = tuple(g or d for g, d in zip(given, default_align))

    def _per_column(self, spec: Any, name: str, *, allowed: Callable[[Any], bool],
                    allowed_text: str, broadcast: bool = True) -> list[Any]:
        """One entry per column from a single value, a sequence or a mapping by header."""
        n = len(self.columns)
        if spec is None:
            return [None] * n
        if isinstance(spec, Mapping):
            unknown = [k for k in spec if k not in self.columns]
            if unknown:
                raise ValueError(f"{name} names columns {unknown} that the table does not "
                                 f"have; its columns are {list(self.columns)}")
            out = [spec.get(c) for c in self.columns]
        elif isinstance(spec, str) or callable(spec):
            if not broadcast:
                raise TypeError(f"{name} must be a mapping from header to value or a sequence "
                                f"of {n} values, got {spec!r}")
            out = [spec] * n
        elif isinstance(spec, Sequence):
            if len(spec) != n:
                raise ValueError(f"{name} has {len(spec)} entries but the table has {n} "
                                 f"columns {list(self.columns)}")
            out = list(spec)
        else:
            raise TypeError(f"{name} must be {allowed_text}, a sequence of those (one per "
                            f"column) or a mapping from header to one, got "
                            f"{type(spec).__name__}")
        for col, value in zip(self.columns, out):
            if not allowed(value):
                raise ValueError(f"{name} for column {col!r} is {value!r}; allowed: "
                                 f"{allowed_text}")
        return out

    # -- text -----------------------------------------------------------------------------
    def to_text(self) -> str:
        """The table as aligned text: caption, header, a rule, the rows, the note."""
        headers = [_to_text_markup(c) for c in self.columns]
        body = [[_to_text_markup(c) for c in row] for row in self.cells]
        widths = [max([_display_width(h)] + [_display_width(r[j]) for r in body])
                  for j, h in enumerate(headers)]

        def line(texts: Sequence[str]) -> str:
            parts = []
            for text, width, how in zip(texts, widths, self.align):
                pad = width - _display_width(text)
                if how == "right":
                    parts.append(" " * pad + text)
                elif how == "center":
                    parts.append(" " * (pad // 2) + text + " " * (pad - pad // 2))
                else:
                    parts.append(text + " " * pad)
            return _GAP.join(parts).rstrip()

        lines = []
        if self.caption:
            lines.append(_to_text_markup(self.caption))
        lines.append(line(headers))
        lines.append(_GAP.join("-" * w for w in widths))
        lines.extend(line(r) for r in body)
        if self.note:
            lines.append(_to_text_markup(self.note))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.to_text())

    # -- html -----------------------------------------------------------------------------
    def to_html(self) -> str:
        """The table as self-styled HTML: a ``<div>`` holding the caption, the ``<table>``
        and the note (inline styles only, no ids, no colour of its own)."""
        def cell(tag: str, text: str, j: int, extra: str = "") -> str:
            style = f"text-align: {self.align[j]}; {_CELL_PAD}"
            if self.align[j] == "right":
                style += "; font-variant-numeric: tabular-nums; white-space: nowrap"
            elif tag == "th":
                style += "; white-space: nowrap"
            if extra:
                style += "; " + extra
            scope = ' scope="col"' if tag == "th" else ""
            return f'<{tag}{scope} style="{style}">{_to_html_markup(text)}</{tag}>'

        out = [f'<div class="lplr-table" style="{_BOX_STYLE}">']
        if self.caption:
            out.append(f'<div class="lplr-table-caption" style="{_CAPTION_STYLE}">'
                       f"{_to_html_markup(self.caption)}</div>")
        out.append(f'<table style="{_TABLE_STYLE}">')
        out.append("<thead><tr>" + "".join(cell("th", c, j, _HEAD_STYLE)
                                            for j, c in enumerate(self.columns))
                   + "</tr></thead>")
        out.append("<tbody>")
        for i, row in enumerate(self.cells):
            shade = f' style="{_SHADE}"' if i % 2 == 1 else ""
            out.append(f"<tr{shade}>" + "".join(cell("td", c, j) for j, c in enumerate(row))
                       + "</tr>")
        out.append("</tbody>")
        out.append("</table>")
        if self.note:
            out.append(f'<div class="lplr-table-note" style="{_NOTE_STYLE}">'
                       f"{_to_html_markup(self.note)}</div>")
        out.append("</div>")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        return self.to_html()


def table(rows: Iterable[Sequence[Any]], columns: Sequence[str], *,
          formats: Format | Sequence[Format] | Mapping[str, Format] = None,
          caption: str | None = None, note: str | None = None,
          align: Mapping[str, str] | Sequence[str] | None = None,
          missing: str = MISSING) -> Table:
    """A table of rows under column headers, each column with its own number format.

    Args:
        rows: The rows, each a sequence with one value per column: numbers (Python, NumPy or
            0-d arrays), bools (shown as ``yes``/``no``), strings or ``None``.
        columns: The column headers (unique). May use ``<sub>``, ``<sup>``, ``<b>``, ``<i>``.
        formats: The number format: one for every column, a sequence with one per column, or
            a mapping from header to format (unlisted columns get the default). A format is a
            spec for ``format`` such as ``".3g"``, ``".2f"``, ``"d"`` or ``".1%"``, a
            template such as ``"{:.3g} s"``, a function from value to text, or ``None``:
            integers as they are, floats with ``".4g"``. Specs and templates apply to
            numbers only (strings and bools in the column are shown as they are); a
            function gets every non-missing value. A rounded negative zero (``-0.00``)
            loses its sign.
        caption: A line above the table.
        note: A line under the table, e.g. what ``–`` means in it.
        align: ``"left"``, ``"right"`` or ``"center"`` per column (a sequence, or a mapping
            from header); by default numeric columns right, others left.
        missing: The text of ``None`` and NaN cells (default an en dash).

    Returns:
        A :class:`Table`; display it (last expression of a cell, or ``display(t)``) for HTML,
        ``print(t)`` for text.

    Raises:
        TypeError: A cell that is not a scalar (a list, an array with more than one element,
            an arbitrary object), headers that are not strings, a format function that does
            not return a str.
        ValueError: A row of the wrong length, repeated headers, a format or alignment for a
            column that does not exist, a format that cannot format its column's values.
    """
    return Table(rows, columns, formats=formats, caption=caption, note=note, align=align,
                 missing=missing)


def grid_table(values: Any, row_labels: Sequence[Any], column_labels: Sequence[Any], *,
               corner: str = "", format: Format = None, label_format: Format = None,
               caption: str | None = None, note: str | None = None,
               missing: str = MISSING) -> Table:
    """A table of a 2-D array with labelled rows and columns (e.g. width × step size).

    Args:
        values: A 2-D array-like of shape ``(len(row_labels), len(column_labels))``.
        row_labels: The label of each row (shown in the first column).
        column_labels: The label of each column (shown as headers).
        corner: The first column's header, e.g. ``"m \\\\ c"``.
        format: The format of every value (see :func:`table`).
        label_format: The format of the column labels when they are numbers (default
            ``"g"``); the row labels use the table's default formatting.
        caption: A line above the table.
        note: A line under the table.
        missing: The text of NaN values.

    Returns:
        A :class:`Table` whose first column holds the row labels.

    Raises:
        ValueError: ``values`` is not 2-D or its shape does not match the labels, or the
            column labels are not unique once formatted.
    """
    arr = np.asarray(values)
    if arr.dtype == object or arr.ndim != 2:
        raise ValueError(f"values must be a 2-D array of numbers, got shape {arr.shape} "
                         f"and dtype {arr.dtype}")
    row_labels, column_labels = list(row_labels), list(column_labels)
    if arr.shape != (len(row_labels), len(column_labels)):
        raise ValueError(f"values has shape {arr.shape} but there are {len(row_labels)} row "
                         f"labels and {len(column_labels)} column labels")
    if not isinstance(corner, str):
        raise TypeError(f"corner must be a str, got {type(corner).__name__}")
    headers = []
    for j, label in enumerate(column_labels):
        label = _scalar(label, f"column_labels[{j}]")
        headers.append(label if isinstance(label, str)
                       else _format_cell(label, label_format or "g", missing,
                                         f"column_labels[{j}]"))
    rows = [(label, *row) for label, row in zip(row_labels, arr.tolist())]
    return Table(rows, [corner, *headers], formats=[None] + [format] * len(headers),
                 caption=caption, note=note, missing=missing)

"""Tests for lplr_core.viz.tables: one table helper, HTML for notebooks, aligned text for nbval.

The expected cell texts are computed here with Python's own ``format`` and the HTML is read
back with the standard library's HTML parser, not with the module's code.
"""

from __future__ import annotations

import math
import re
import unicodedata
from html.parser import HTMLParser

import numpy as np
import pytest

from lplr_core.viz.tables import MISSING, Table, grid_table, table

ROWS = [(16, 10.7412, 0.033912, -0.1351, True, "ntk"),
        (32, 11.1777, 0.035804, -0.0200, False, "standard"),
        (256, 11.9401, 0.084203, 0.0722, True, "ntk")]
COLUMNS = ["m", "β<sub>0</sub>", "λ<sub>0</sub>", "μ̂", "linear", "parameterization"]
FORMATS = {"β<sub>0</sub>": ".4g", "λ<sub>0</sub>": ".3g", "μ̂": ".3f"}


class _Cells(HTMLParser):
    """Texts of the caption, note, th and td (tags inside them kept as text, e.g. <sub>)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.caption, self.heads, self.rows, self.foot = None, [], [], []
        self._where, self._buf, self._section, self._div = None, [], None, None
        self.styles: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if "style" in attrs:
            self.styles.append(attrs["style"])
        kind = {"lplr-table-caption": "caption", "lplr-table-note": "note"}.get(
            attrs.get("class"))
        if kind:
            self._where, self._buf, self._div = kind, [], tag
        elif tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            self.rows.append([])
        elif tag in ("th", "td"):
            self._where, self._buf = tag, []
        elif self._where:
            self._buf.append(f"<{tag}>")

    def handle_endtag(self, tag):
        if self._where in ("caption", "note") and tag == self._div:
            text = "".join(self._buf)
            if self._where == "caption":
                self.caption = text
            else:
                self.foot.append(text)
            self._where = None
        elif tag in ("th", "td") and self._where == tag:
            text = "".join(self._buf)
            if self._section == "thead":
                self.heads.append(text)
            else:
                self.rows[-1].append(text)
            self._where = None
        elif self._where:
            self._buf.append(f"</{tag}>")

    def handle_data(self, data):
        if self._where:
            self._buf.append(data)


def _parse(html_text: str) -> _Cells:
    parser = _Cells()
    parser.feed(html_text)
    parser.close()
    return parser


def _expected_cells():
    specs = [None, ".4g", ".3g", ".3f", None, None]
    out = []
    for row in ROWS:
        texts = []
        for value, spec in zip(row, specs):
            if isinstance(value, bool):
                texts.append("yes" if value else "no")
            elif isinstance(value, int):
                texts.append(str(value))
            elif isinstance(value, str):
                texts.append(value)
            else:
                texts.append(format(value, spec))
        out.append(texts)
    return out


def _width(text):
    return sum(not unicodedata.combining(ch) for ch in text)


# ------------------------------------------------------------------------- formatting

def test_cells_follow_the_column_formats():
    t = table(ROWS, COLUMNS, formats=FORMATS)
    assert [list(r) for r in t.cells] == _expected_cells()
    assert t.rows[0] == ROWS[0]


def test_default_float_format_and_numpy_scalars():
    values = [np.float32(0.1234567), np.float64(12345.678), np.int64(7), np.array(2.5)]
    t = table([values], ["a", "b", "c", "d"])
    assert t.cells[0] == (format(float(np.float32(0.1234567)), ".4g"), format(12345.678, ".4g"),
                          "7", "2.5")
    assert all(type(v) in (int, float) for v in t.rows[0])


def test_templates_callables_and_percent():
    t = table([(0.25, 3.14159, 2)], ["p", "t", "n"],
              formats=["{:.1%}", "{:.2f} s", lambda v: f"n={v}"])
    assert t.cells[0] == ("25.0%", "3.14 s", "n=2")


def test_specs_apply_to_numbers_only():
    t = table([(1.23456, True), ("n/a", False)], ["x", "ok"], formats=".2f")
    assert [list(r) for r in t.cells] == [["1.23", "yes"], ["n/a", "no"]]
    assert t.align == ("left", "left")          # a column with text is not numeric


def test_missing_values_and_negative_zero():
    t = table([(None, float("nan"), -0.0001, -1e-9)], ["a", "b", "c", "d"],
              formats={"c": ".2f", "d": ".1e"})
    assert t.cells[0][:2] == (MISSING, MISSING)
    assert t.cells[0][2] == "0.00"          # format() gives "-0.00"
    assert t.cells[0][3] == "-1.0e-09"      # a real negative number keeps its sign
    assert table([(None,)], ["a"], missing="n/a").cells[0] == ("n/a",)
    assert table([(float("inf"),)], ["a"]).cells[0] == ("inf",)


# ------------------------------------------------------------------------- text/plain

def test_text_is_an_aligned_table():
    t = table(ROWS, COLUMNS, formats=FORMATS, caption="Per width, <b>c = 1</b>",
              note="μ̂ is an estimate")
    lines = repr(t).splitlines()
    assert lines[0] == "Per width, c = 1"
    assert lines[-1] == "μ̂ is an estimate"
    header, rule, *body = lines[1:-1]
    assert "β_0" in header and "λ_0" in header and "<" not in header
    assert set(rule) <= {"-", " "}
    # the rule's dashes give the column widths; every cell sits inside its column
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", rule)]
    assert len(spans) == len(COLUMNS)
    expected = _expected_cells()
    for line, cells in zip(body, expected):
        # display columns: drop combining marks before slicing
        flat = "".join(ch for ch in line if not unicodedata.combining(ch))
        for (a, b), cell, how in zip(spans, cells, t.align):
            piece = flat[a:b]
            plain = "".join(ch for ch in cell if not unicodedata.combining(ch))
            if how == "right":
                assert piece == plain.rjust(b - a), (piece, cell)
            else:
                assert piece.rstrip() == plain, (piece, cell)
    assert t.align == ("right", "right", "right", "right", "left", "left")
    assert len(body) == len(ROWS)


def test_text_widths_count_combining_marks_once():
    t = table([(1.0,), (22.0,)], ["L̂<sub>Θ</sub>"])
    header, rule, *body = repr(t).splitlines()
    assert _width(header) == len(rule) == max(_width("L̂_Θ"), 2)
    assert [_width(line) for line in body] == [len(rule)] * 2


def test_text_is_stable_and_holds_no_object_reprs():
    t = table(ROWS, COLUMNS, formats=FORMATS)
    text = repr(t)
    assert text == str(t) == t.to_text() == repr(table(ROWS, COLUMNS, formats=FORMATS))
    assert "0x" not in text and "object at" not in text and "Table" not in text


def test_ipython_display_gives_html_and_the_text():
    ipython_formatters = pytest.importorskip("IPython.core.formatters")
    fmt = ipython_formatters.DisplayFormatter()
    data, _ = fmt.format(table(ROWS, COLUMNS, formats=FORMATS, caption="cap"))
    assert set(data) == {"text/plain", "text/html"}
    assert data["text/plain"] == table(ROWS, COLUMNS, formats=FORMATS, caption="cap").to_text()
    assert data["text/html"] == table(ROWS, COLUMNS, formats=FORMATS, caption="cap").to_html()


# ------------------------------------------------------------------------- text/html

def test_html_holds_the_same_cells_escaped():
    rows = [(1, "<script>alert(1)</script>"), (2, "a & b")]
    t = table(rows, ["n", "x<sub>i</sub>"], caption="τ <sup>2</sup> & <em>x</em>",
              note="note <i>here</i>")
    parsed = _parse(t._repr_html_())
    # allowed markup survives as tags, anything else is escaped text
    assert parsed.caption == "τ <sup>2</sup> & <em>x</em>"
    assert "sup" in parsed.tags and "em" not in parsed.tags and "script" not in parsed.tags
    assert parsed.heads == ["n", "x<sub>i</sub>"]
    assert parsed.rows == [["1", "<script>alert(1)</script>"], ["2", "a & b"]]
    assert parsed.foot == ["note <i>here</i>"]
    assert "i" in parsed.tags


def test_html_cells_match_the_text_cells():
    t = table(ROWS, COLUMNS, formats=FORMATS, caption="c")
    parsed = _parse(t.to_html())
    assert parsed.heads == COLUMNS
    assert parsed.rows == _expected_cells()


def test_html_is_inline_styled_without_ids_or_colours():
    html_text = table(ROWS, COLUMNS, formats=FORMATS).to_html()
    assert " id=" not in html_text and "<style" not in html_text and "<script" not in html_text
    assert not re.search(r"(?<![-\w])color:\s*#", html_text)      # no fixed text colour
    parsed = _parse(html_text)
    aligns = [re.search(r"text-align: (\w+)", s).group(1) for s in parsed.styles
              if "text-align" in s][:len(COLUMNS)]   # the header cells
    assert aligns == ["right", "right", "right", "right", "left", "left"]


# ----------------------------------------------------------------------------- grid

def test_grid_table_matches_the_array():
    values = np.array([[0.0, 0.5, 1.0], [1.0, np.nan, 0.25]])
    t = grid_table(values, [16, 32], [0.5, 1.0, 1.9], corner="m \\ c", format=".2f")
    assert t.columns == ("m \\ c", "0.5", "1", "1.9")
    for i, m in enumerate([16, 32]):
        assert t.cells[i][0] == str(m)
        for j in range(3):
            v = values[i, j]
            assert t.cells[i][j + 1] == (MISSING if math.isnan(v) else format(v, ".2f"))


# ------------------------------------------------------------------------ bad inputs

@pytest.mark.parametrize("kwargs, error, words", [
    (dict(rows=[(1, 2)], columns=["a"]), ValueError, ["rows[0]", "2 values", "1 columns"]),
    (dict(rows=[(1,)], columns=[]), ValueError, ["columns", "empty"]),
    (dict(rows=[(1, 2)], columns=["a", "a"]), ValueError, ["repeated", "'a'"]),
    (dict(rows=[(1,)], columns="a"), TypeError, ["columns", "str"]),
    (dict(rows=[(1,)], columns=[3]), TypeError, ["columns[0]", "int"]),
    (dict(rows=5, columns=["a"]), TypeError, ["rows", "int"]),
    (dict(rows=["ab"], columns=["a"]), TypeError, ["rows[0]", "str"]),
    (dict(rows=[([1, 2],)], columns=["a"]), TypeError, ["rows[0][0]", "'a'", "list"]),
    (dict(rows=[(np.ones(3),)], columns=["a"]), TypeError, ["rows[0][0]", "shape (3,)"]),
    (dict(rows=[(object(),)], columns=["a"]), TypeError, ["rows[0][0]", "object"]),
    (dict(rows=[(1j,)], columns=["a"]), TypeError, ["rows[0][0]", "complex"]),
    (dict(rows=[(1.5,)], columns=["a"], formats={"b": ".2f"}), ValueError,
     ["formats", "['b']", "['a']"]),
    (dict(rows=[(1.5,)], columns=["a"], formats=[".2f", "d"]), ValueError,
     ["formats", "2 entries", "1 columns"]),
    (dict(rows=[(1.5,)], columns=["a"], formats="d"), ValueError,
     ["rows[0][0]", "'a'", "'d'", "1.5"]),
    (dict(rows=[(1.5,)], columns=["a"], formats={"a": 3}), ValueError,
     ["formats", "'a'", "3"]),
    (dict(rows=[(1.5,)], columns=["a"], formats=lambda v: 1), TypeError,
     ["rows[0][0]", "format function", "int"]),
    (dict(rows=[(1.5,)], columns=["a"], align={"a": "middle"}), ValueError,
     ["align", "'a'", "'middle'"]),
    (dict(rows=[(1.5,)], columns=["a"], align="left"), TypeError, ["align"]),
    (dict(rows=[(1.5,)], columns=["a"], caption=3), TypeError, ["caption", "int"]),
])
def test_bad_inputs_name_the_argument(kwargs, error, words):
    with pytest.raises(error) as info:
        table(**kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("args, words", [
    ((np.ones(3), [1, 2, 3], [1]), ["2-D", "(3,)"]),
    ((np.ones((2, 3)), [1, 2], [1, 2]), ["shape (2, 3)", "2 row labels", "2 column labels"]),
])
def test_grid_table_bad_inputs(args, words):
    with pytest.raises(ValueError) as info:
        grid_table(*args)
    for word in words:
        assert word in str(info.value)


def test_table_is_the_class():
    assert isinstance(table([(1,)], ["a"]), Table)

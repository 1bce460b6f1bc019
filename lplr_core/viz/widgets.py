"""Live control panels for the notebooks (ipywidgets; needs a running kernel).

A panel is a row of controls, a status line and an output area. When a control
is *released* (``continuous_update=False``: dragging a slider does not fire a
recomputation per pixel), the panel reads the current value of every control,
calls ``compute(**values)`` (which calls the core) and shows what it returns.

* While ``compute`` runs the status line says "computing…"; afterwards it gives
  the wall time.
* In a live kernel (JupyterLab, Binder, Colab) every recomputation after the
  first runs in a worker thread (``background=True``), so the kernel never
  freezes: the controls stay usable while the core computes (JAX releases the
  Python lock), moves made meanwhile are coalesced, and only the latest values
  are computed next. Outside a kernel (tests, scripts), or with
  ``background=False``, the panel computes in the event handler and disables
  its controls meanwhile.
* Each handler re-reads all controls and skips the work when the values are
  those already shown.
* An exception inside ``compute`` is shown as a one-line message in the output
  area (its type and text), never as a traceback, and the panel stays usable.
* Determinate progress: a ``compute`` that takes a keyword argument named
  ``progress`` is called with a function ``progress(fraction, text=None)``; each
  call moves a progress bar (an ``ipywidgets.FloatProgress``, shown from the first
  call until the redraw ends) to ``fraction`` of the work (0 to 1) and puts
  ``text`` (e.g. "step size 3 of 8") on the status line. Call it between the
  pieces of a long computation (one sweep per step size, one width, ...). In a
  kernel the recomputation runs in the worker thread, so every call reaches the
  front end while the computation goes on; the kernel stays free.

In the static book a panel is dead (no kernel), so the notebooks tag the cell
that displays it ``remove-output`` and tell the reader to launch Binder or
Colab; use :func:`~lplr_core.viz.figures.slider_figure` for controls that must work
without a kernel.

Before the kernel runs, a notebook shows the panel's *stored* output. Widget
state is not stored, so the panel is displayed as one MIME bundle that carries,
next to the widget view, a static placeholder (:meth:`LivePanel.placeholder`):
"Run this cell to get the live panel", the controls with their values, and what
the panel last showed, as text (figures by their title). JupyterLab shows it
for a notebook it does not trust (any notebook just opened: the widget renderer
is not "safe", the HTML one is) and the live widget once the cell runs; other
front ends without a widget manager show it too, never a ``VBox(...)`` repr.
"""

from __future__ import annotations

import html
import inspect
import math
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import display

from lplr_core.viz.figures import PLOTLY_MIMETYPE, in_colab, figure_bundle

__all__ = ["LivePanel", "dropdown", "int_slider", "live_panel", "options_slider"]

_STYLE = {"description_width": "initial"}


def _layout() -> widgets.Layout:
    # One Layout per control: a shared one would be one model that every control mutates.
    return widgets.Layout(width="330px")


def int_slider(description: str, value: int, min: int, max: int,  # noqa: A002
               step: int = 1) -> widgets.IntSlider:
    """An integer slider that fires only on release (``continuous_update=False``)."""
    return widgets.IntSlider(value=value, min=min, max=max, step=step, description=description,
                             continuous_update=False, style=_STYLE, layout=_layout())


def options_slider(description: str, options: Sequence[Any],
                   value: Any = None) -> widgets.SelectionSlider:
    """A slider over a list of values (e.g. widths 64, 128, ...), firing only on release."""
    options = list(options)
    if not options:
        raise ValueError(f"options must be a non-empty sequence for {description!r}; got []")
    return widgets.SelectionSlider(options=options, value=options[0] if value is None else value,
                                   description=description, continuous_update=False,
                                   style=_STYLE, layout=_layout())


def dropdown(description: str, options: Sequence[Any], value: Any = None) -> widgets.Dropdown:
    """A drop-down menu (it fires once per choice, so needs no debouncing)."""
    options = list(options)
    if not options:
        raise ValueError(f"options must be a non-empty sequence for {description!r}; got []")
    return widgets.Dropdown(options=options, value=options[0] if value is None else value,
                            description=description, style=_STYLE, layout=_layout())


def _bundles(item: Any) -> list[dict[str, Any]]:
    """What the panel shows for ``compute``'s result, as MIME bundles."""
    if item is None:
        return []
    if isinstance(item, go.Figure):
        return [figure_bundle(item, include_plotlyjs="cdn" if in_colab() else False)]
    if isinstance(item, str):
        return [{"text/html": f"<pre style='margin:0.3em 0'>{html.escape(item)}</pre>",
                 "text/plain": item}]
    if isinstance(item, (tuple, list)):
        return [bundle for sub in item for bundle in _bundles(sub)]
    from IPython.core.formatters import format_display_data
    data, _ = format_display_data(item)
    return [data]


def _takes_progress(compute: Callable[..., Any]) -> bool:
    """Whether ``compute`` has a parameter named ``progress`` (it then gets the reporter)."""
    try:
        parameters = inspect.signature(compute).parameters
    except (TypeError, ValueError):  # a builtin without a signature takes no progress
        return False
    parameter = parameters.get("progress")
    return parameter is not None and parameter.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LivePanel:
    """Controls + status line + output area; see :func:`live_panel`.

    Attributes:
      controls: the mapping ``name -> widget`` passed to :func:`live_panel`.
      status: the status line (an ``HTML`` widget).
      output: the output area (an ``Output`` widget).
      widget: the whole panel (a ``VBox``); displaying the panel displays it.
      calls: how many times ``compute`` has been called (for tests).
      timings: wall time in seconds of every refresh, compute and redraw
        together, in order (read by ``benchmarks/bench_widgets.py``).
      background: whether recomputations run in a worker thread (see the module
        docstring); :meth:`wait` waits for the one in flight.
      progress: the progress bar (a ``FloatProgress`` from 0 to 1), hidden except
        while a ``compute`` that takes ``progress`` runs and has reported.
      progress_log: per refresh, the ``(seconds since its start, fraction)`` pairs
        it reported, in order (read by ``benchmarks/bench_widgets.py``).
    """

    _registry: "weakref.WeakSet[LivePanel]" = weakref.WeakSet()

    @classmethod
    def instances(cls) -> list["LivePanel"]:
        """The panels created in this process that are still alive, oldest first."""
        return sorted(cls._registry, key=lambda panel: panel._serial)

    def __init__(self, compute: Callable[..., Any], controls: Mapping[str, widgets.ValueWidget],
                 *, title: str | None = None, background: bool | None = None):
        if not callable(compute):
            raise TypeError(f"compute must be callable; got {type(compute).__name__}")
        if not controls:
            raise ValueError("controls must map at least one keyword name to a widget")
        for name, control in controls.items():
            if not isinstance(control, widgets.ValueWidget):
                raise TypeError(f"controls[{name!r}] must be an ipywidgets value widget; "
                                f"got {type(control).__name__}")
        if background is not None and not isinstance(background, bool):
            raise TypeError(f"background must be True, False or None; got {background!r}")
        if title is not None and not isinstance(title, str):
            raise TypeError(f"title must be a string or None; got {title!r}")
        self._takes_progress = _takes_progress(compute)
        if self._takes_progress and "progress" in controls:
            raise ValueError("controls must not be named 'progress' when compute takes a "
                             "progress argument (the panel passes its progress reporter there)")
        self.compute = compute
        self._title = title
        self.background = _in_kernel() if background is None else background
        self._lock = threading.Lock()
        self._pending: dict[str, Any] | None = None
        self._worker: threading.Thread | None = None
        self.controls = dict(controls)
        self.status = widgets.HTML(value="")
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0,
                                              layout=widgets.Layout(width="330px",
                                                                    display="none"))
        self.progress_log: list[list[tuple[float, float]]] = []
        self.output = widgets.Output()
        self.calls = 0
        self.timings: list[float] = []
        self._serial = time.monotonic_ns()
        LivePanel._registry.add(self)
        self._shown: dict[str, Any] | None = None
        for control in self.controls.values():
            if hasattr(control, "continuous_update"):
                control.continuous_update = False
            control.observe(self._on_change, names="value")
        header = [widgets.HTML(f"<b>{html.escape(title)}</b>")] if title else []
        self.widget = widgets.VBox(
            [*header, widgets.HBox(list(self.controls.values()),
                                   layout=widgets.Layout(flex_flow="row wrap")),
             self.status, self.progress, self.output])

    def values(self) -> dict[str, Any]:
        """The current value of every control, by keyword name."""
        return {name: control.value for name, control in self.controls.items()}

    def _on_change(self, _change: Mapping[str, Any]) -> None:
        self.refresh()

    def _set_disabled(self, disabled: bool) -> None:
        for control in self.controls.values():
            if hasattr(control, "disabled"):
                control.disabled = disabled

    def refresh(self, force: bool = False, *, wait: bool = False) -> None:
        """Recompute for the current values (skipped if already shown, unless ``force``).

        The first computation, and every one when ``background`` is off, runs
        here; later ones run in the worker thread (``wait=True`` runs it here).
        """
        values = self.values()
        if not force and values == self._shown:
            return
        self._shown = values
        if not self.background or wait or not self.timings:
            self._compute_and_show(values, threaded=False)
            return
        with self._lock:
            self._pending = values
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, daemon=True,
                                                name="lplr-live-panel")
                self._worker.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the recomputation in flight, if any; ``True`` when none is left."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    def _work(self) -> None:
        while True:
            with self._lock:
                values, self._pending = self._pending, None
                if values is None:
                    self._worker = None
                    return
            self._compute_and_show(values, threaded=True)

    def _reporter(self, start: float, log: list[tuple[float, float]]) -> Callable[..., None]:
        """The ``progress(fraction, text=None)`` function passed to one ``compute`` call."""
        def progress(fraction: float, text: str | None = None) -> None:
            if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                    or not math.isfinite(fraction) or not 0.0 <= fraction <= 1.0:
                raise ValueError(f"progress fraction must be a number from 0 to 1; "
                                 f"got {fraction!r}")
            if text is not None and not isinstance(text, str):
                raise TypeError(f"progress text must be a string or None; got {text!r}")
            log.append((time.perf_counter() - start, float(fraction)))
            self.progress.layout.display = None          # shown (the widget's default) ...
            self.progress.value = float(fraction)         # ... then moved
            label = f" {html.escape(text)}" if text else ""
            self.status.value = f"<i>computing… {100 * fraction:.0f}%{label}</i>"
        return progress

    def _compute_and_show(self, values: dict[str, Any], *, threaded: bool) -> None:
        self.status.value = "<i>computing…</i>"
        if not threaded:
            self._set_disabled(True)
        start = time.perf_counter()
        log: list[tuple[float, float]] = []
        self.progress_log.append(log)
        try:
            try:
                self.calls += 1
                extra = {"progress": self._reporter(start, log)} if self._takes_progress else {}
                bundles = _bundles(self.compute(**values, **extra))
                status = f"<i>done in {time.perf_counter() - start:.1f} s</i>"
            except Exception as exc:  # shown to the reader as a message, not a traceback
                message = f"{type(exc).__name__}: {exc}"
                bundles = [{"text/html": "<div style='color:#B00020'><b>Could not compute "
                                         f"this case.</b> {html.escape(message)}</div>",
                            "text/plain": message}]
                status = "<span style='color:#B00020'>error: see below</span>"
            # The outputs are set, not captured from display() calls: that works from
            # the kernel's thread and from a worker thread alike.
            self.output.outputs = tuple({"output_type": "display_data", "metadata": {},
                                         "data": bundle} for bundle in bundles)
            self.status.value = status
        finally:
            if log:
                self.progress.layout.display = "none"
                self.progress.value = 0.0
            if not threaded:
                self._set_disabled(False)
            self.timings.append(time.perf_counter() - start)

    def placeholder(self) -> dict[str, str]:
        """The static stand-in for the panel: ``{"text/html": ..., "text/plain": ...}``.

        It names the panel and its controls (with their current values), says to
        run the cell, and repeats what the panel last showed: text as text, a
        figure by its title (a static figure would need an image renderer that
        the pinned environment does not have, and plotly's HTML needs scripts,
        which an untrusted notebook strips).
        """
        title = self._title or "Live panel"
        controls = [(getattr(control, "description", "") or name, control.value)
                    for name, control in self.controls.items()]
        shown = []   # (kind, text): what the output area holds now
        for output in self.output.outputs:
            data = output.get("data", {})
            if PLOTLY_MIMETYPE in data:
                layout = data[PLOTLY_MIMETYPE].get("layout", {})
                text = (layout.get("title") or {}).get("text") or "a figure"
                # plotly titles use <sub>/<sup>/<br> markup; the placeholder is plain text
                text = re.sub(r"<br\s*/?>", " ", text)
                text = html.unescape(re.sub(r"<[^>]+>", "", text))
                shown.append(("figure", text))
            elif "text/plain" in data:
                shown.append(("text", data["text/plain"]))
        note = "Run this cell (or Run All) to get the live panel."
        plain = [f"{title} (live panel). {note}",
                 "Controls: " + ", ".join(f"{label} = {value}" for label, value in controls)]
        parts = [f"<div class='lplr-panel-placeholder' style='border:1px dashed #888;"
                 f"padding:0.5em 0.8em;margin:0.3em 0'><b>{html.escape(title)}</b> "
                 f"<i>(live panel)</i><br><b>{html.escape(note)}</b> It needs a running "
                 f"kernel; until then this is a static summary.<br>Controls: "
                 + ", ".join(f"{html.escape(str(label))} = <code>{html.escape(str(value))}"
                             "</code>" for label, value in controls)]
        if shown:
            parts.append("<br>For these values the panel shows:")
            plain.append("For these values the panel shows:")
        for kind, text in shown:
            if kind == "figure":
                parts.append(f"<div>[figure: {html.escape(text)}]</div>")
                plain.append(f"[figure: {text}]")
            else:
                parts.append(f"<pre style='margin:0.3em 0'>{html.escape(text)}</pre>")
                plain.append(text)
        parts.append("</div>")
        return {"text/html": "".join(parts), "text/plain": "\n".join(plain)}

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        # The widget view (shown by a live kernel's widget manager) plus the static
        # placeholder, which replaces the widget's `VBox(children=...)` text repr.
        bundle = dict(self.widget._repr_mimebundle_())
        bundle.update(self.placeholder())
        return bundle

    def _ipython_display_(self) -> None:
        display(self._repr_mimebundle_(), raw=True)


def live_panel(compute: Callable[..., Any], controls: Mapping[str, widgets.ValueWidget], *,
               title: str | None = None, run: bool = True,
               background: bool | None = None) -> LivePanel:
    """A live panel that calls ``compute(**values)`` whenever a control is released.

    Args:
      compute: called with one keyword argument per control (its current value),
        plus ``progress`` if it has a parameter of that name (see the module
        docstring: call ``progress(fraction, text=None)`` to move the panel's
        progress bar during a long computation); returns what to show: a plotly figure (shown with
        :func:`~lplr_core.viz.figures.figure_bundle`, as :func:`~lplr_core.viz.figures.show` does), a string (shown preformatted), any other
        displayable object, or a list/tuple of these, shown in order.
      controls: ``{keyword: widget}``, e.g. from :func:`options_slider`,
        :func:`int_slider`, :func:`dropdown`. Sliders are switched to
        ``continuous_update=False``.
      title: an optional bold heading.
      run: compute once now for the initial values (always in the calling thread).
      background: recompute in a worker thread so the kernel never freezes;
        ``None`` (the default) does so when running in a Jupyter kernel.

    Returns:
      A :class:`LivePanel`; display it (last expression of a cell) to show it.
    """
    panel = LivePanel(compute, controls, title=title, background=background)
    if run:
        panel.refresh()
    return panel

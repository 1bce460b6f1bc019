"""pytest plugin: nbval's notebooks must fit Binder's limits (2 minutes, 2 GiB each).

Loaded by ``make test`` / ``make test-notebooks`` on their nbval line
(``pytest --nbval notebooks ... -p tests.nbval_binder``). nbval runs every notebook top to
bottom in a fresh kernel and compares its outputs with the stored ones; this plugin adds one
item per notebook, ``<notebook>::binder-limits``, run after its last cell while the kernel is
still alive. It fails when

* the notebook took ``--binder-max-seconds`` (120) or more, from before its kernel started to the
  end of its last cell (kernel start-up and imports included, as a reader waits for them), or
* the kernel's peak resident memory reached ``--binder-max-mib`` (2048): the sum of the peak RSS
  (``VmHWM`` in ``/proc/<pid>/status``) of the kernel and of every process it started, or,
  where that is larger or ``/proc`` is absent, the largest sum seen by sampling the kernel's
  process tree every 50 ms.

The kernels run as a Binder reader's do: nothing compiled beforehand. The plugin removes
the persistent XLA compilation cache from their environment (``JAX_COMPILATION_CACHE_DIR``,
``JAX_PERSISTENT_CACHE_*``; ``JAX_ENABLE_COMPILATION_CACHE=false``), as Binder has none, so
that every program's compile time counts; it also removes ``XLA_FLAGS`` (the suite's two host
devices) and ``LPLR_FAST``. A terminal summary lists each notebook's time and peak memory.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

DEFAULT_MAX_SECONDS = 120.0
DEFAULT_MAX_MIB = 2048.0
ITEM_NAME = "binder-limits"
_REMOVED = ("XLA_FLAGS", "LPLR_FAST")
_REMOVED_PREFIXES = ("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE")


def pytest_addoption(parser):
    group = parser.getgroup("nbval-binder", "Binder limits for nbval's notebooks")
    group.addoption("--binder-max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                    help="fail a notebook that takes this long or longer, kernel start-up "
                         "included (default: %(default)s)")
    group.addoption("--binder-max-mib", type=float, default=DEFAULT_MAX_MIB,
                    help="fail a notebook whose kernel peaks at this resident memory or more, "
                         "in MiB (default: %(default)s)")


def _active(config) -> bool:
    opt = config.option
    return bool(getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False))


def reader_environment(environ) -> dict:
    """The environment a Binder reader's kernel sees: ``environ`` without the suite's settings
    (compilation cache, forced host devices, LPLR_FAST), with the cache explicitly off."""
    env = {k: v for k, v in environ.items()
           if k not in _REMOVED and not k.startswith(_REMOVED_PREFIXES)}
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    return env


def pytest_configure(config):
    for name, value in (("binder_max_seconds", config.option.binder_max_seconds),
                        ("binder_max_mib", config.option.binder_max_mib)):
        if not value > 0:
            raise pytest.UsageError(f"--{name.replace('_', '-')}={value}: must be positive")
    if not _active(config):
        return
    # nbval's KernelManager starts each kernel with a copy of os.environ.
    config._binder_saved_environ = dict(os.environ)
    new = reader_environment(os.environ)
    for key in list(os.environ):
        if key not in new:
            del os.environ[key]
    os.environ.update(new)
    config._binder_records = {}
    config.pluginmanager.register(_BinderPlugin(config), "nbval-binder-limits")


def pytest_unconfigure(config):
    saved = getattr(config, "_binder_saved_environ", None)
    if saved is not None:
        os.environ.clear()
        os.environ.update(saved)


def _kernel_pid(notebook) -> int | None:
    kernel = getattr(notebook, "kernel", None)
    km = getattr(kernel, "km", None)
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    return getattr(process, "pid", None)


def _vm_hwm_bytes(pid: int) -> int | None:
    """Peak resident set size of ``pid`` (Linux ``VmHWM``), or None where unavailable."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _tree(pid):
    import psutil
    root = psutil.Process(pid)
    return [root] + root.children(recursive=True)


class _Watcher:
    """Samples the resident memory of a kernel's process tree until stopped."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        import psutil
        while not self._stop.is_set():
            try:
                procs = _tree(self.pid)
            except psutil.Error:
                return
            total = 0
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def peak_tree_bytes(pid: int, sampled: int = 0) -> tuple[int, str]:
    """Peak memory of the kernel ``pid`` and its descendants, and how it was obtained."""
    import psutil
    hwm = []
    try:
        hwm = [_vm_hwm_bytes(p.pid) for p in _tree(pid)]
    except psutil.Error:
        pass
    if hwm and None not in hwm and sum(hwm) >= sampled:
        return sum(hwm), f"VmHWM of {len(hwm)} process(es)"
    return sampled, "sampled every 50 ms"


class BinderLimits(pytest.Item):
    """Runs after a notebook's last cell: its wall time and its kernel's peak memory."""

    def runtest(self):
        config = self.config
        record = config._binder_records.get(self.parent.nodeid)
        if record is None or "start" not in record:
            raise RuntimeError(f"{self.parent.name}: no timing recorded (no cell ran)")
        elapsed = time.perf_counter() - record["start"]
        pid = record.get("pid")
        if pid is None:
            raise RuntimeError(f"{self.parent.name}: nbval's kernel process was not found, "
                               "so its memory cannot be measured")
        sampled = record["watcher"].stop() if "watcher" in record else 0
        peak, how = peak_tree_bytes(pid, sampled)
        record.update(seconds=elapsed, peak=peak, how=how)
        max_s, max_mib = config.option.binder_max_seconds, config.option.binder_max_mib
        if peak < 10 * 2 ** 20:
            raise RuntimeError(f"{self.parent.name}: the kernel's peak memory reads "
                               f"{peak} bytes ({how}): the measurement is broken")
        problems = []
        if elapsed >= max_s:
            problems.append(f"took {elapsed:.1f} s, kernel start-up included "
                            f"(Binder limit {max_s:g} s)")
        if peak >= max_mib * 2 ** 20:
            problems.append(f"its kernel peaked at {peak / 2 ** 20:.0f} MiB of resident memory "
                            f"({how}; Binder limit {max_mib:g} MiB)")
        if problems:
            raise BinderLimitExceeded(f"{self.parent.name} does not fit Binder: "
                                      + "; ".join(problems))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, (BinderLimitExceeded, RuntimeError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.parent.name}::{ITEM_NAME}"


class BinderLimitExceeded(AssertionError):
    """A notebook over Binder's time or memory limit."""


class _BinderPlugin:
    def __init__(self, config):
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        # After the last cell of every notebook, one BinderLimits item of the same notebook.
        out, last_parent = [], None
        notebooks = {}
        for item in items:
            parent = item.parent
            if type(parent).__name__ == "IPyNbFile":
                notebooks[parent.nodeid] = parent
        for index, item in enumerate(items):
            out.append(item)
            parent = item.parent
            nxt = items[index + 1].parent if index + 1 < len(items) else None
            if parent.nodeid in notebooks and nxt is not parent:
                out.append(BinderLimits.from_parent(parent, name=ITEM_NAME))
        items[:] = out

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item):
        parent = item.parent
        records = self.config._binder_records
        first = (type(parent).__name__ == "IPyNbFile" and not isinstance(item, BinderLimits)
                 and parent.nodeid not in records)
        if first:
            # Before nbval's IPyNbFile.setup, which starts the kernel.
            records[parent.nodeid] = {"start": time.perf_counter()}
        try:
            return (yield)
        finally:
            if first:
                pid = _kernel_pid(parent)
                records[parent.nodeid]["pid"] = pid
                if pid is not None:
                    records[parent.nodeid]["watcher"] = _Watcher(pid)

    def pytest_terminal_summary(self, terminalreporter):
        rows = [(nodeid, r) for nodeid, r in self.config._binder_records.items()
                if "seconds" in r]
        if not rows:
            return
        terminalreporter.section("Binder limits (uncached kernel, start-up included)")
        for nodeid, r in rows:
            terminalreporter.write_line(f"{nodeid}: {r['seconds']:.1f} s, "
                                        f"peak {r['peak'] / 2 ** 20:.0f} MiB ({r['how']})")

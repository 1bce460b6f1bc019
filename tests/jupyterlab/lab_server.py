"""What the JupyterLab browser tests share: finding Chromium, and a JupyterLab server from this
environment on a free local port (127.0.0.1, no token), stopped with its whole process group."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
JUPYTER_LAB = Path(sys.executable).with_name("jupyter-lab")


def chromium_or_skip(message: str) -> None:
    """Skip (loudly, with ``message``) without Chromium; under CI a missing Chromium fails."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_lab(root: Path, env: dict[str, str], *extra_args: str, start_seconds: float = 120):
    """A JupyterLab server on ``root`` (its log in ``root / "server.log"``): yields its URL
    once ``/api/status`` answers; fails with the log's tail if it exits or does not answer
    within ``start_seconds``."""
    assert JUPYTER_LAB.exists(), f"{JUPYTER_LAB} missing: JupyterLab is not installed in .venv"
    port = free_port()
    log = open(root / "server.log", "w")
    server = subprocess.Popen(
        [str(JUPYTER_LAB), "--no-browser", "--ip", "127.0.0.1", f"--port={port}",
         "--ServerApp.token=", "--ServerApp.password=", "--allow-root",
         "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
         "--NotebookNotary.db_file=:memory:", *extra_args],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("JupyterLab did not start:\n"
                                         + (root / "server.log").read_text()[-3000:])
                time.sleep(0.5)
        yield url
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        except ProcessLookupError:
            pass
        log.close()

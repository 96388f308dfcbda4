"""Interactive use works: the set-up's JupyterLab starts, serves the chapters, has a
Python kernel, and renders ipywidgets (its widget extension is installed)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read().decode()


@pytest.fixture
def lab(tmp_path):
    exe = BIN / "jupyter-lab"
    if not exe.is_file():
        pytest.fail(
            f"{exe} is missing: the set-up must install JupyterLab (requirements/ci.txt)"
        )
    port, token = free_port(), "book-test"
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    cmd = [
        str(exe),
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={ROOT / 'chapters'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI machines run as root; readers do not need this
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"jupyter lab exited with {proc.returncode}:\n{proc.stdout.read()}"
                )
            try:
                if get(f"{base}/api/status?token={token}")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("jupyter lab did not answer on localhost within 90 s")
            time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_jupyter_lab_starts_and_serves_the_chapters(lab):
    base, token = lab
    status, page = get(f"{base}/lab?token={token}")
    assert status == 200 and "JupyterLab" in page
    _, listing = get(f"{base}/api/contents?token={token}")
    names = {item["name"] for item in json.loads(listing)["content"]}
    assert "00_baselines.ipynb" in names, names
    _, specs = get(f"{base}/api/kernelspecs?token={token}")
    assert "python3" in json.loads(specs)["kernelspecs"]


def test_widgets_render_in_jupyterlab():
    out = subprocess.run(
        [str(BIN / "jupyter"), "labextension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    listed = out.stdout + out.stderr
    assert "@jupyter-widgets/jupyterlab-manager" in listed and "enabled" in listed, listed

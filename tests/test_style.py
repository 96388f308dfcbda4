"""The book's code stays readable: formatted at 90 columns (ruff), so no line of a chapter
or of the library is cut off at the page's edge or needs scrolling."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).parent / "ruff"
PATHS = ["chapters", "condcomp_lib", "scripts", "benchmarks", "tests"]


def ruff(*args):
    exe = str(RUFF) if RUFF.is_file() else shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is missing: the set-up installs it (requirements/ci.txt)")
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True)


def test_no_line_wider_than_90_characters():
    out = ruff("check", "--select", "E501", "--output-format", "concise", *PATHS)
    assert out.returncode == 0, out.stdout[-3000:]


def test_code_is_formatted():
    out = ruff("format", "--check", *PATHS)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]

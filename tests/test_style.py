"""The code's habits: ``ruff check`` and ``ruff format --check`` are clean (config in pyproject.toml).

Fix findings with ``make format`` (``ruff format`` then ``ruff check --fix``) and wrap by hand what
remains (long strings and comments; implicit concatenation keeps a printed string's text as it is).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the Python source of the repository, held to one style
PATHS = [p for p in ("icl", "tests", "experiments") if (ROOT / p).is_dir()]


def _ruff_exe() -> str | None:
    # ruff beside this interpreter (the venv's), else on PATH
    exe = Path(sys.executable).with_name("ruff")
    return str(exe) if exe.exists() else shutil.which("ruff")


pytestmark = pytest.mark.skipif(
    _ruff_exe() is None, reason="ruff is not installed (pip install -e '.[test]' brings it)"
)


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_ruff_exe(), *args, *PATHS], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check_is_clean():
    out = _ruff("check", "--no-cache")
    assert out.returncode == 0, f"ruff check {' '.join(PATHS)}:\n{out.stdout}{out.stderr}"


def test_ruff_format_leaves_every_file_as_it_is():
    out = _ruff("format", "--check", "--no-cache")
    assert out.returncode == 0, f"ruff format {' '.join(PATHS)} would change:\n{out.stdout}{out.stderr}"

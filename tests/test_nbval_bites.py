"""The notebook regression check bites: an altered verdict output makes nbval fail.

Runs nbval (with the Makefile's flags and sanitize file) on a small notebook whose
``# NBVAL_CHECK_OUTPUT`` verdict cell has a committed output: unchanged it passes,
with one number altered it fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent

SOURCE = """# VERDICT
# NBVAL_CHECK_OUTPUT
gap = round(0.1 + 0.2, 3)
print(f"C1 HELD\\n    max gap = {gap:.3f} (criterion <= 0.05)")"""


def make_notebook(path: Path, printed: str) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(SOURCE)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    cell.execution_count = 2
    nb.cells = [nbformat.v4.new_code_cell("import time\nprint(time.time())"), cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(ROOT / "tests" / "nbval_sanitize.cfg"),
            "-p",
            "no:cacheprovider",
            "-q",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=path.parent,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "printed, passes",
    [
        ("C1 HELD\n    max gap = 0.300 (criterion <= 0.05)\n", True),
        ("C1 HELD\n    max gap = 0.301 (criterion <= 0.05)\n", False),
    ],
)
def test_altered_verdict_output_fails_nbval(tmp_path, printed, passes):
    nb = tmp_path / "01_check.ipynb"
    make_notebook(nb, printed)
    result = nbval(nb)
    assert (result.returncode == 0) == passes, result.stdout[-2000:]

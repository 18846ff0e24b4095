"""Every output nbval checks prints only digits that are the same on every CPU.

nbval compares the recorded output of each ``# NBVAL_CHECK_OUTPUT`` cell (the verdict cells)
character for character, and the last bits of a float computation depend on the CPU's kernels
(MKL/oneDNN take other code paths on Intel and AMD). So the chapters print numbers by one rule,
checked here on the committed notebooks' recorded outputs (the printed text and the same lines
emitted as verdict data):

* A number is a run of digits (with ``,`` thousands separators and at most one decimal point)
  not glued to a letter or ``_``: run and claim names (``linear-w0.50``, ``C1``, ``x1.2``) are
  names, not numbers, and dates (``2026-12-01``) are skipped.
* A number with a decimal point has at most 3 decimals (errors, costs, fractions: ``0.068``,
  ``-0.055``; swept values such as ``0.125`` are exact).
* An integer has at most 2 significant digits (trailing zeros do not count: ``130,000`` and
  ``2,100`` pass, ``126,367`` does not): a count derived from floats, such as the prompts that
  would decide an inconclusive part, is printed to two significant figures. Exact integers are
  the exception, known by what precedes them: the prompts used now (``now 1,280``), and
  ``k=``, ``nnz=``, ``d =``, ``step``, ``seed`` values.

The test fails on a recorded output that breaks the rule (re-executing the notebooks refreshes the
recorded outputs; the rule is enforced where the chapters print, e.g. ``verdict._to_decide``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from icl.chapters.verdict import VERDICT_MIME

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w])")
EXACT = re.compile(r"(?:\bnow |\bk ?= ?|\bnnz ?= ?|\bd ?= ?|\bsteps? |\bseed )$")
MAX_DECIMALS, MAX_FIGURES = 3, 2


def checked_texts(path: Path) -> list[tuple[int, str]]:
    """(cell index, text) of every recorded output of the notebook's nbval-checked cells."""
    out = []
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code" or CHECK not in "".join(cell["source"]):
            continue
        for o in cell.get("outputs", []):
            if "text" in o:
                out.append((i, "".join(o["text"])))
            data = o.get("data", {})
            if "text/plain" in data:
                out.append((i, "".join(data["text/plain"])))
            for v in data.get(VERDICT_MIME, {}).get("verdicts", []):
                out.append((i, "\n".join(v["lines"])))
    return out


def violations(text: str) -> list[str]:
    """The numbers in ``text`` that break the print rule (see the module docstring), each with its context."""
    text = DATE.sub(" ", text).replace("..", " .. ")  # a range k=1..20: two numbers
    bad = []
    for m in NUMBER.finditer(text):
        whole, decimals = m.group(1).replace(",", ""), m.group(2)
        context = text[max(0, m.start() - 40) : m.end() + 20].replace("\n", " ")
        if decimals is not None:
            if len(decimals) > MAX_DECIMALS:
                bad.append(f"{m.group(0)} has {len(decimals)} decimals: ...{context}...")
        elif len(whole.lstrip("0").rstrip("0")) > MAX_FIGURES and not EXACT.search(text[: m.start()]):
            bad.append(f"{m.group(0)} has more than {MAX_FIGURES} significant figures: ...{context}...")
    return bad


def test_the_rule_catches_what_the_cpu_decides_and_passes_what_it_does_not():
    def flagged(text: str) -> list[str]:
        return [v.split(" ")[0] for v in violations(text)]

    assert flagged(
        "to decide: sparse prompts: about 126,367 prompts (now 1,280; notebook parameter n_eval)"
    ) == ["126,367"]
    assert violations("about 126,367 prompts")[0].startswith(
        "126,367 has more than 2 significant figures: ...about"
    )
    assert (
        flagged("about 130,000 prompts (now 1,280; notebook parameter n_eval); about 2,100; about 16") == []
    )
    assert flagged("largest 0.068 [95% CI 0.045, 0.094] at k=7; ratio 0.0681") == ["0.0681"]
    assert (
        flagged(
            "linear-w0.50 - linear-w1.00 over k=1..20 at 0.125, x1.2; judged until 2026-12-04; "
            "forked at step 65000, seed 12345; nnz=3..8; +0.575 [95% CI -0.005, +0.702]"
        )
        == []
    )
    assert flagged("a mean excess of 1.5 over 1234 prompts; k=1..120 and 1..125") == ["1234", "125"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_outputs_print_only_cpu_stable_digits(path):
    texts = checked_texts(path)
    bad = [f"cell {i}: {v}" for i, text in texts for v in violations(text)]
    assert not bad, f"{path.name}: numbers nbval would compare digit by digit:\n" + "\n".join(bad)


def test_every_notebook_has_a_checked_cell():
    assert NOTEBOOKS and all(checked_texts(p) for p in NOTEBOOKS)

"""The README's front door: its results table is the committed report's, rendered, and its code runs.

The table between the results markers must equal ``icl.report.readme_table.readme_block`` of
``reports/report.json`` (after ``make report``: ``python -m icl report --update-readme``); the
renderer takes whatever claims, scales, seeds and outcomes a report holds; the README stays a
front door (at most about 250 lines, the bottom line in its first screen); and its "evaluate
your own model" snippet runs on the committed checkpoints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from icl.__main__ import main
from icl.report.readme_table import (
    BEGIN,
    CLAIM_TEXTS,
    END,
    read_report,
    readme_block,
    replace_block,
    results_table,
)

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _block(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def test_readme_table_is_the_committed_reports():
    text = README.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert _block(text) == readme_block(read_report()), (
        "README.md's results table differs from reports/report.json: run python -m icl report --update-readme"
    )


def test_every_reported_claim_has_its_text():
    report = read_report()
    claims = {v["claim"] for ch in report["chapters"] for v in ch["verdicts"]}
    assert claims and claims <= set(CLAIM_TEXTS)
    table = results_table(report)
    for claim in claims:
        assert f"**{claim}** " in table and CLAIM_TEXTS[claim] in table


def _verdict(claim, outcome, **extra):
    return {"claim": claim, "outcome": outcome, "lines": [f"{claim} {outcome}", "    detail line"], **extra}


def test_renderer_takes_seeds_split_claims_and_not_tested():
    report = {
        "commit": "abcdef0123",
        "chapters": [
            {
                "number": "01",
                "scale": "cpu",
                "verdicts": [
                    _verdict(
                        "C1",
                        "NOT TESTED",
                        precondition="the sparse-only model closes 0.119 of the gap (needs 0.5)",
                    )
                ],
            },
            {
                "number": "01",
                "scale": "small",
                "verdicts": [_verdict("C1", "NOT HELD"), _verdict("C1", "HELD", seed=1)],
            },
            {
                "number": "04",
                "scale": "cpu",
                "verdicts": [_verdict("C7a", "NOT HELD"), _verdict("C7b", "HELD")],
            },
            {
                "number": "06",
                "scale": "small",
                "verdicts": [_verdict("R1a", "HELD"), _verdict("R1b", "INCONCLUSIVE")],
            },
        ],
    }
    table = results_table(report)
    rows = [ln for ln in table.splitlines() if ln.startswith("|")]
    assert rows[0] == "| claim | `cpu` | `small`, seed 0 | `small`, seed 1 |"
    cells = {row.split("**")[1]: [c.strip() for c in row.strip("|").split("|")[1:]] for row in rows[2:]}
    assert list(cells) == ["C1", "C7a", "C7b", "R1a", "R1b"]  # the order the chapters report them
    assert cells["C1"] == ["NOT TESTED", "NOT HELD", "HELD"]
    assert cells["C7a"] == ["NOT HELD", "n/a", "n/a"] and cells["R1b"] == ["n/a", "INCONCLUSIVE", "n/a"]
    assert "NOT TESTED: C1 at `cpu`: the sparse-only model closes 0.119" in table
    assert "seed 0 only" not in table  # seed 1 is recorded
    assert "commit `abcdef0`" in table
    # no seed-1 verdicts: seed 0's column says so beneath the table
    report["chapters"][1]["verdicts"].pop()
    assert "`small`: seed 0 only" in results_table(report)


def test_unknown_claim_is_refused_by_name():
    with pytest.raises(ValueError, match="C99"):
        results_table({"chapters": [{"number": "09", "scale": "cpu", "verdicts": [_verdict("C99", "HELD")]}]})


def test_a_verdict_without_its_seed_never_overwrites_another():
    chapter = {
        "number": "01",
        "scale": "small",
        "verdicts": [_verdict("C1", "NOT HELD"), _verdict("C1", "HELD")],
    }
    with pytest.raises(ValueError, match="two verdicts of C1 at scale small, seed 0"):
        results_table({"chapters": [chapter]})


def test_replace_block_needs_exactly_one_block():
    block = f"{BEGIN}\nnew\n{END}"
    assert replace_block(f"a\n{BEGIN}\nold\n{END}\nb", block) == f"a\n{block}\nb"
    for bad in ("no markers", f"{BEGIN}\n{END}\n{BEGIN}\n{END}"):
        with pytest.raises(ValueError, match="exactly once"):
            replace_block(bad, block)


def test_cli_prints_the_block(capsys):
    assert main(["report", "--readme-table"]) == 0
    assert capsys.readouterr().out.strip() == readme_block(read_report())


def test_readme_is_a_front_door():
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= 260, f"README.md has {len(lines)} lines: move detail to docs/"
    assert "## Bottom line" in "\n".join(lines[:40]), "the bottom line belongs in the first screen"
    assert "make report" in text and "make test" in text
    assert not re.search(r"\(20\d\d-\d\d-\d\d[,)]|^#+ .*20\d\d-\d\d-\d\d", text, re.M), (
        "no dated log sections"
    )


def test_readme_snippet_runs():
    code = re.search(
        r"## Evaluate your own model in five lines\n+```python\n(.*?)```", README.read_text(), re.S
    )
    assert code, "the README's evaluate-your-own-model code block"
    out = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr
    names = [ln.split()[0] for ln in out.stdout.splitlines()]
    assert names == ["model", "least", "Lasso"] and all(
        len(ln.split()) >= 6 for ln in out.stdout.splitlines()
    )


def test_each_seed_has_its_column_or_a_note():
    """At a scale with second-seed runs, the README's table and the index's matrix show seed 1's column when
    report.json records its verdicts (chapters 1-2 emit them, tagged with their seed) and otherwise say
    "seed 0 only": the committed report renders either way, and so does one without seed 1 (an older
    build)."""
    from icl.report.index import render_matrix
    from icl.report.results import ChapterResult

    committed = read_report()
    older = {
        **committed,
        "chapters": [
            {**ch, "verdicts": [v for v in ch["verdicts"] if not v.get("seed")]}
            for ch in committed["chapters"]
        ],
    }
    for report in (committed, older):
        recorded = any(v.get("seed") for ch in report["chapters"] for v in ch["verdicts"])
        table = results_table(report)
        assert ("`small`, seed 1" in table.splitlines()[0]) == recorded
        assert ("`small`: seed 0 only" in table) != recorded
        matrix = render_matrix([ChapterResult.from_dict(ch) for ch in report["chapters"]])
        assert ("small scale, seed 1" in matrix) == recorded
        assert ("small scale: seed 0 only" in matrix) != recorded

"""The README's results table, rendered from ``report.json`` (never typed by hand).

This module owns :data:`CLAIM_TEXTS` (each claim id's one-line statement, the study's claims
in the words of ``docs/protocol.md``), the grid of claims by scale and seed that the README's
table and the index's matrix share (:func:`results_grid`), :func:`results_table` (the markdown
table: one row per claim with its text, one column per scale and training seed that ``report.json`` holds,
``n/a`` where a claim is not run at a scale, then a note per NOT TESTED cell with its reason
and a note where a scale's second seed is not recorded) and the block of ``README.md``
between :data:`BEGIN` and :data:`END` that holds it (:func:`readme_block`,
:func:`replace_block`). ``python -m icl report --readme-table`` prints the block and
``python -m icl report --update-readme`` writes it into ``README.md``;
``tests/test_readme.py`` checks that the README's block equals the rendering of the
committed ``reports/report.json``.

It reads ``report.json`` as plain data (chapters, each with ``number``, ``scale`` and
``verdicts``; a verdict's ``claim``, ``outcome``, ``lines`` and optional ``precondition``),
so whatever claims and outcomes a build records appear. A verdict's training seed is its
``seed`` field, else its chapter's, else 0 (the seed-0 runs, which the chapters' verdict
cells judge).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import REPORTS, SCALES, seed_runs
from .verdicts import Outcome

__all__ = [
    "CLAIM_TEXTS",
    "BEGIN",
    "END",
    "NOT_RUN",
    "ResultsGrid",
    "results_grid",
    "results_table",
    "single_seed_note",
    "readme_block",
    "replace_block",
    "read_report",
    "update_readme",
]

# each claim's statement, short (the paper's figure or section and the criteria: docs/protocol.md,
# docs/criteria.md)
CLAIM_TEXTS: dict[str, str] = {
    "C1": "A model pretrained on the w = 0.5 dense/sparse mixture is as good as the dense-only model on "
    "dense functions and as the sparse-only model on sparse ones",
    "C2": "Those specialists are near optimal (dense-only ≈ least squares, sparse-only ≈ Lasso) and the "
    "sparse-only model selects sparse solutions",
    "C3": "Out of class the specialists fail: the sparse-only model on dense functions; the dense-only model "
    "on sparse ones behaves like least squares",
    "C4": "Across nnz = 1..d the mixture model is as good as the better specialist",
    "C5": "Across nnz the mixture model follows the sparse-only model at small nnz, the dense-only one at "
    "large nnz, and lies between them in between",
    "C6": "Model selection also holds for a mixture of linear functions and 2-layer ReLU networks",
    "C7": "A line/sine mixture model predicts each class well but fails on their convex combinations",
    "C7a": "A line/sine mixture model predicts lines and sines each as well as its specialist",
    "C7b": "The same model fails on convex combinations a·line + (1 − a)·sine, which are in neither class",
    "C8": "Far outside the pretraining range (sine frequency, slope, input scale) predictions break down; "
    "close to it they stay good",
    "R1": "A class rare in pretraining (5% of prompts) is learned further from its specialist than in the "
    "balanced mixture",
    "R1a": "A class rare in pretraining (5% of prompts) is learned further from its specialist than in the "
    "balanced mixture",
    "R1b": "On a rare class's prompts the error rises with k somewhere (a non-monotonic learning curve)",
    "R2": "Task-family instructions (the class label given to the model) lower the selection cost",
}

BEGIN = "<!-- results:begin (generated from reports/report.json: python -m icl report --update-readme) -->"
END = "<!-- results:end -->"
NOT_RUN = "n/a"


def read_report(path: Path | None = None) -> dict[str, Any]:
    """``report.json`` as data (default: the committed ``reports/report.json``)."""
    return json.loads(Path(path or REPORTS / "report.json").read_text(encoding="utf-8"))


def _seed(chapter: dict[str, Any], verdict: dict[str, Any]) -> int:
    return int(verdict.get("seed", chapter.get("seed", 0)))


def _reason(verdict: dict[str, Any]) -> str:
    """Why a claim is NOT TESTED: its precondition's reason, else its first detail line."""
    if verdict.get("precondition"):
        return str(verdict["precondition"]).strip()
    lines = [ln.strip() for ln in verdict.get("lines", [])[1:] if ln.strip()]
    return lines[0] if lines else "no reason recorded"


def _column_name(scale: str, seed: int, split: bool) -> str:
    return f"`{scale}`, seed {seed}" if split or seed else f"`{scale}`"


@dataclass
class ResultsGrid:
    """The claims-by-column grid of a report, shared by the README's table and the index's matrix:
    ``columns`` (scale, seed) in scale order then seed, ``cells`` claim -> column -> verdict (a
    dict as in report.json) in the order the chapters report the claims, ``chapters`` the same
    keys -> the chapter (dict) that holds the verdict, ``chapter_of`` each claim's first chapter
    number, ``split`` whether a scale has second-seed runs (its columns then name their seed)."""

    columns: list[tuple[str, int]]
    cells: dict[str, dict[tuple[str, int], dict[str, Any]]]
    chapters: dict[str, dict[tuple[str, int], dict[str, Any]]]
    chapter_of: dict[str, str]
    split: dict[str, bool]

    def single_seed_scales(self) -> list[str]:
        """The scales with second-seed runs whose verdicts are recorded for seed 0 only."""
        return [
            s for s in self.split if self.split[s] and {seed for sc, seed in self.columns if sc == s} == {0}
        ]


def results_grid(report: dict[str, Any], strict: bool = True) -> ResultsGrid:
    """The :class:`ResultsGrid` of ``report`` (a parsed ``report.json``). ``strict`` (the README):
    a claim without a text in :data:`CLAIM_TEXTS`, or two verdicts in one cell, is a ValueError;
    otherwise (the index) such a claim is kept and the later verdict wins."""
    cells: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}  # claim -> (scale, seed) -> verdict
    chapters: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}
    chapter_of: dict[str, str] = {}
    for ch in report.get("chapters", []):
        for v in ch.get("verdicts", []):
            claim = v["claim"]
            if strict and claim not in CLAIM_TEXTS:
                raise ValueError(
                    f"claim {claim!r} of chapter {ch.get('name')} has no text: add it to "
                    f"icl.report.readme_table.CLAIM_TEXTS"
                )
            col = (ch["scale"], _seed(ch, v))
            if strict and col in cells.get(claim, {}):
                raise ValueError(
                    f"two verdicts of {claim} at scale {col[0]}, seed {col[1]}: a second seed's verdict "
                    f"needs its own 'seed' field in report.json"
                )
            cells.setdefault(claim, {})[col] = v
            chapters.setdefault(claim, {})[col] = ch
            chapter_of.setdefault(claim, str(ch.get("number", "")).lstrip("0") or "?")
    known = [s for s in SCALES if any(s == sc for row in cells.values() for sc, _ in row)]
    scales = known + sorted({sc for row in cells.values() for sc, _ in row} - set(known))
    columns = sorted({col for row in cells.values() for col in row}, key=lambda c: (scales.index(c[0]), c[1]))
    split = {
        s: s in SCALES and seed_runs(s) != [] for s in scales
    }  # a scale with second-seed runs names its seed
    return ResultsGrid(columns, cells, chapters, chapter_of, split)


def results_table(report: dict[str, Any]) -> str:
    """The markdown results table of ``report`` (a parsed ``report.json``) and its notes."""
    grid = results_grid(report)
    cells, columns, split = grid.cells, grid.columns, grid.split
    if not cells:
        return "No verdicts recorded in report.json yet.\n"
    head = " | ".join(_column_name(s, seed, split[s]) for s, seed in columns)
    rows = [f"| claim | {head} |", "|---|" + "---|" * len(columns)]
    notes = []
    for claim, row in cells.items():  # claims in the order the chapters report them
        out = []
        for col in columns:
            v = row.get(col)
            if v is None:
                out.append(NOT_RUN)
                continue
            out.append(v["outcome"])
            if v["outcome"] == Outcome.NOT_TESTED:
                where = _column_name(*col, split[col[0]])
                notes.append(f"- {Outcome.NOT_TESTED}: {claim} at {where}: {_reason(v)}")
        rows.append(
            f"| **{claim}** (ch. {grid.chapter_of[claim]}) {CLAIM_TEXTS[claim]} | " + " | ".join(out) + " |"
        )
    for s in grid.single_seed_scales():
        notes.append(f"- `{s}`: {single_seed_note(s)}")
    commit = str(report.get("commit") or "")[:7]
    lines = rows + [""] + ([f"`{NOT_RUN}`: the claim is not run at that scale."] + notes)
    if commit:
        lines += ["", f"Rendered from `reports/report.json` (the build of commit `{commit}`)."]
    return "\n".join(lines) + "\n"


def single_seed_note(scale: str) -> str:
    """Why a scale with second-seed runs shows seed 0 only (one sentence pair, no markup)."""
    return (
        f"seed 0 only: this build recorded no verdict on the second training seed's runs "
        f'({", ".join(seed_runs(scale))}), which chapters 1–2 judge in their "Two seeds" sections '
        f"when given them (parameter seed_runs)."
    )


def readme_block(report: dict[str, Any]) -> str:
    """The README's results block: :data:`BEGIN`, the table and its notes, :data:`END`."""
    return f"{BEGIN}\n{results_table(report)}{END}"


def replace_block(text: str, block: str) -> str:
    """``text`` with its block between :data:`BEGIN` and :data:`END` (markers included) replaced."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if len(pattern.findall(text)) != 1:
        raise ValueError(
            f"the README must hold the results block exactly once, between {BEGIN!r} and {END!r}"
        )
    return pattern.sub(lambda _: block, text)


def update_readme(readme: Path, report: dict[str, Any]) -> bool:
    """Rewrite ``readme``'s results block from ``report``; True if the file changed."""
    old = readme.read_text(encoding="utf-8")
    new = replace_block(old, readme_block(report))
    if new != old:
        readme.write_text(new, encoding="utf-8")
    return new != old

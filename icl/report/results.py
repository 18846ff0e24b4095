"""What a build found, chapter by chapter: the records behind the index and ``report.json``.

This module owns :class:`ChapterResult` (one build of one notebook: its :class:`BuildStatus`, time,
parameters, its claims' verdicts as :class:`~icl.report.verdicts.ClaimVerdict`, its files),
how a previous ``report.json`` is read back (:func:`previous_results`: a file written in
another format counts as no previous result), and the tallies drawn from the verdicts:
the claims per outcome (:func:`count_outcomes`), how many were not tested because a
precondition failed (:func:`count_preconditions`, counted apart since 2026-12-04) and the
claims-by-scale table of the seed-0 verdicts (:func:`claims_by_scale`). The tallies count every
verdict, a second training seed's too: one per cell of the claims matrix that was run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .verdicts import ClaimVerdict, Outcome, VerdictDataError

__all__ = [
    "BuildStatus",
    "ChapterResult",
    "previous_results",
    "count_outcomes",
    "count_preconditions",
    "claims_by_scale",
]


class BuildStatus(StrEnum):
    """Whether a chapter's notebook executed to its end (also the CSS class of its status label)."""

    PASSED = "passed"
    FAILED = "failed"


@dataclass
class ChapterResult:
    """The outcome of one notebook, as shown in the index and report.json."""

    number: str
    name: str
    status: BuildStatus  # a plain string is read as its BuildStatus ("passed" -> BuildStatus.PASSED)
    seconds: float
    parameters: dict[str, Any]
    verdicts: list[ClaimVerdict] = field(default_factory=list)
    error: str | None = None  # last line of the error, when failed
    page: str | None = None  # HTML page, relative to the report folder
    notebook: str | None = None  # executed notebook, relative to the report folder
    previous_page: str | None = None  # kept page of the last passing build, when failed
    built: str = ""  # date of the build that produced this entry
    scale: str = "cpu"  # the scale whose runs the chapter evaluated
    title: str = ""  # the notebook's first heading ("" in a report.json written before it was recorded)
    commit: str = ""  # the commit of the build that produced this entry
    dirty: bool = False  # that build's tree had uncommitted changes (see icl.report.stamp)

    def __post_init__(self) -> None:
        self.status = BuildStatus(self.status)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChapterResult:
        """One entry of ``report.json``'s ``chapters``; raises (TypeError, KeyError,
        :class:`~icl.report.verdicts.VerdictDataError`) on an entry of another format."""
        verdicts = [ClaimVerdict.from_dict(v) for v in data.get("verdicts", [])]
        return cls(**{**data, "verdicts": verdicts})


def previous_results(out: Path) -> dict[str, ChapterResult]:
    """Entries of the previous report.json by chapter name (empty if none, unreadable, or written
    in another format, such as verdicts as bare text lines)."""
    try:
        data = json.loads((out / "report.json").read_text(encoding="utf-8"))
        return {c["name"]: ChapterResult.from_dict(c) for c in data["chapters"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, VerdictDataError):
        return {}


def count_outcomes(results: list[ChapterResult]) -> dict[Outcome, int]:
    """How many claims of ``results`` have each outcome (every outcome listed, 0 included)."""
    found = [v.outcome for r in results for v in r.verdicts]
    return {o: found.count(o) for o in Outcome}


def count_preconditions(results: list[ChapterResult]) -> int:
    """How many of the NOT TESTED claims of ``results`` were not tested because their
    precondition failed (the others lacked a run or a value)."""
    return sum(v.precondition is not None for r in results for v in r.verdicts)


Cell = tuple[Outcome, str | None, str | None]  # (outcome, page, the unmet precondition's reason or None)


def claims_by_scale(results: list[ChapterResult]) -> dict[str, dict[str, Cell]]:
    """claim -> scale -> (outcome, page, the unmet precondition's reason or None) from every
    chapter's verdicts on training seed 0 (every seed's: :func:`icl.report.readme_table.results_grid`)."""
    table: dict[str, dict[str, Cell]] = {}
    for r in results:
        for v in r.verdicts:
            if v.seed == 0:
                table.setdefault(v.claim, {})[r.scale] = (v.outcome, r.page, v.precondition)
    return table

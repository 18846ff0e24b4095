"""The claims' verdicts as the report reads them: structured data from the ``# VERDICT`` cell.

This module owns the contract between a chapter notebook and the report. A code cell
whose source contains :data:`VERDICT_MARK` prints each verdict (for people, and for
nbval) and also emits one ``display_data`` output whose data has the MIME type
:data:`VERDICT_MIME` (chapters 1-2 have a second such cell, their second training seed's
verdicts, each entry with ``"seed": 1``), with the value::

    {"verdicts": [{"claim": "C1", "outcome": "INCONCLUSIVE",
                   "lines": ["C1 INCONCLUSIVE", "    inconclusive: ...", ...]}, ...]}

``outcome`` is an :class:`~icl.chapters.verdict.Outcome`'s text and ``lines`` are exactly the
printed lines of that verdict, its heading first; a claim NOT TESTED because its precondition
failed at this scale also has ``"precondition"``, the one-line reason (since 2026-12-04), which
the index counts apart from the claims that were tested; a verdict on the runs of another
training seed than 0 has ``"seed"`` (the index and the README give each seed its column). The
report takes claims, outcomes and the lines it shows from this data only
(:func:`extract_verdicts`), never from the printed text; a malformed value is a
:class:`VerdictDataError`. The data is for the report alone: chapter pages are rendered without
it (:func:`without_verdict_data`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

# one definition of each, beside the verdict cell's show(): the outcomes and the data's MIME type
from ..chapters.verdict import VERDICT_MIME, Outcome

__all__ = [
    "VERDICT_MARK",
    "VERDICT_MIME",
    "Outcome",
    "VerdictDataError",
    "ClaimVerdict",
    "extract_verdicts",
    "without_verdict_data",
    "outcome_class",
]

VERDICT_MARK = "# VERDICT"


class VerdictDataError(ValueError):
    """A ``# VERDICT`` cell's structured output does not follow the contract."""


@dataclass(frozen=True)
class ClaimVerdict:
    """One claim's verdict: its name (``C1``), its :class:`~icl.chapters.verdict.Outcome` (a plain
    string is read as its Outcome) and the lines the chapter printed for it, heading first."""

    claim: str
    outcome: Outcome
    lines: tuple[str, ...]
    precondition: str | None = None  # NOT TESTED on an unmet precondition: the one-line reason
    seed: int = 0  # the training seed of the runs judged (a chapter's verdict on its second seed says 1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))

    @classmethod
    def from_dict(cls, data: Any) -> ClaimVerdict:
        """Read one entry of the ``verdicts`` list (or of ``report.json``); raises
        :class:`VerdictDataError` naming what is wrong."""
        if not isinstance(data, dict):
            raise VerdictDataError(f"a verdict must be an object with claim, outcome and lines, got {data!r}")
        claim, outcome, lines = data.get("claim"), data.get("outcome"), data.get("lines")
        if not isinstance(claim, str) or not claim:
            raise VerdictDataError(f"verdict {data!r}: 'claim' must be a non-empty string")
        if outcome not in list(Outcome):
            raise VerdictDataError(
                f"verdict of {claim}: outcome {outcome!r} is not one of {', '.join(Outcome)}"
            )
        if not isinstance(lines, (list, tuple)) or not lines or not all(isinstance(ln, str) for ln in lines):
            raise VerdictDataError(f"verdict of {claim}: 'lines' must be a non-empty list of strings")
        why = data.get("precondition")
        if why is not None and (not isinstance(why, str) or not why or outcome != Outcome.NOT_TESTED):
            raise VerdictDataError(
                f"verdict of {claim}: 'precondition' must be a non-empty string, on a "
                f"{Outcome.NOT_TESTED} verdict only"
            )
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise VerdictDataError(f"verdict of {claim}: 'seed' must be a non-negative integer, got {seed!r}")
        return cls(claim, outcome, tuple(lines), why, seed)


def _verdict_outputs(nb: Any) -> list[Any]:
    """The outputs of the marked code cells that carry verdict data, in order."""
    return [
        out
        for cell in nb.cells
        if cell.cell_type == "code" and VERDICT_MARK in cell.source
        for out in cell.get("outputs", [])
        if VERDICT_MIME in out.get("data", {})
    ]


def extract_verdicts(nb: Any) -> list[ClaimVerdict]:
    """Every verdict the notebook's ``# VERDICT`` cell(s) emitted as :data:`VERDICT_MIME` data, in
    order (none when the cell emitted no such output, e.g. it failed before)."""
    verdicts: list[ClaimVerdict] = []
    for out in _verdict_outputs(nb):
        value = out["data"][VERDICT_MIME]
        if not isinstance(value, dict) or not isinstance(value.get("verdicts"), list):
            raise VerdictDataError(f'{VERDICT_MIME} output must be {{"verdicts": [...]}}, got {value!r:.200}')
        verdicts += [ClaimVerdict.from_dict(v) for v in value["verdicts"]]
    return verdicts


def without_verdict_data(nb: Any) -> Any:
    """A copy of the notebook without the verdict data (nbconvert cannot show that MIME type: it
    would leave an empty output box on the page and warn)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data and VERDICT_MIME in data:
                del data[VERDICT_MIME]
                if not data:
                    continue
            kept.append(out)
        cell.outputs = kept
    return nb


def outcome_class(outcome: Outcome | str) -> str:
    """The CSS class of an outcome: ``HELD`` -> ``held``, ``NOT HELD`` -> ``not-held``, ..."""
    return outcome.lower().replace(" ", "-")

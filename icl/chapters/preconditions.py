"""Preconditions: a claim whose premise fails at a scale is NOT TESTED there, with the reason.

This module owns :class:`Precondition` (whether a claim's premise held at this scale and
seed, and the one-line reason when it did not) and :func:`judged_if`, which turns the
verdict a claim would have had into NOT TESTED when its precondition is unmet: the reason
is the first line (``precondition unmet: ...``) and is carried as data to the report,
which counts such claims apart from those tested; the verdict judged without the
precondition is kept as the ``before`` line (the outcome until 2026-12-04), its numbers
below it. Each claim's precondition is defined in code beside its verdict (issue 37):
C1 in :mod:`icl.chapters.model_selection` (:func:`~icl.chapters.model_selection.selection_precondition`:
the sparse-only model selects, C2's selection part), C4 and C5 in
:mod:`icl.chapters.sparsity_sweep` (the same premise); C2, C3, C6-C8, R1a, R1b and R2 state
theirs as none in their docstrings.
"""

from __future__ import annotations

from dataclasses import dataclass

from .verdict import Outcome, Verdict

__all__ = ["Precondition", "judged_if"]


@dataclass(frozen=True)
class Precondition:
    """A claim's premise: ``met``, and ``reason``, one line saying what was measured against
    what (e.g. "the sparse-only model closes 0.119 of the ... gap (needs 0.5), so the
    specialists do not differ")."""

    met: bool
    reason: str


def judged_if(pre: Precondition | None, verdict: Verdict) -> Verdict:
    """``verdict`` when ``pre`` is None or met (or the verdict is NOT TESTED already), else a NOT
    TESTED verdict of the same claim: ``precondition unmet: <reason>``, then the ``before``
    line with the outcome judged without the precondition, then that verdict's numbers (its
    lines on what would decide an inconclusive part dropped: nothing is to be decided)."""
    if pre is None or pre.met or verdict.status is Outcome.NOT_TESTED:
        return verdict
    first, *rest = verdict.details or ["(no detail)"]
    kept = [line for line in rest if not line.startswith("to decide:")]
    return Verdict(
        verdict.claim,
        Outcome.NOT_TESTED,
        [
            f"precondition unmet: {pre.reason}",
            f"before (judged without its precondition, as until 2026-12-04): {verdict.status}; {first}",
            *kept,
        ],
        precondition=pre.reason,
    )

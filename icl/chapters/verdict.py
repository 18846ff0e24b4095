"""Verdicts: how a claim's parts are decided and how a verdict is printed and recorded.

This module owns the :class:`Verdict` of a claim (HELD, NOT HELD, INCONCLUSIVE or NOT
TESTED) and its :meth:`Verdict.judge`, the :class:`Decision` of one part judged on a 95%
interval (:func:`at_most`, :func:`at_least`, combined by :func:`every` and :func:`some`),
the comparisons the chapters share (:func:`largest_gap`, :func:`settles_from`,
:func:`mean_excess`), and :func:`show`, which a notebook's verdict cell calls: it prints
each verdict and emits the same verdicts as data (:data:`VERDICT_MIME`) for the report.

How a criterion is judged (study.md; fixed 2026-12-01, before any new run was evaluated)

* A criterion must be passed by the Bayes-optimal learner of the same prior
  (``tests/test_calibration.py`` checks it): selection is never free at k = 1, so "the
  mixture model is as good as the specialist" (C1, C6, C7) is a *selection cost* no larger
  than the optimal learner's own plus a tolerance (:mod:`icl.chapters.selection`).
* Criteria are written through the input dimension d, read from the chapter object, so
  they read the same at d = 5, 10 or 20.
* A part judged on a 95% bootstrap interval over prompts (paired: every predictor of a
  comparison is scored on the same prompts) holds when the whole interval is on the
  holding side of its threshold, fails when the whole interval is on the other side, and
  is INCONCLUSIVE when it straddles the threshold. Parts judged on means say so.
* Every verdict that changed keeps its old criterion as one detail line starting
  ``strict (``, with its outcome and numbers, so nothing is hidden.

A verdict is ``HELD`` (every part holds), ``NOT HELD`` (a part fails), ``INCONCLUSIVE``
(no part fails, some part's interval straddles its threshold; a line says about how many
prompts would decide it) or ``NOT TESTED`` (a run it needs is missing, or the evaluation
lacks a value the criterion reads). The first detail line names the failing parts, then
the inconclusive ones; the others print the numbers each part was decided on.
Thresholds are arguments, never tuned after the fact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from ..evaluate import Curve, bootstrap_ci

__all__ = ["HELD", "NOT_HELD", "INCONCLUSIVE", "NOT_TESTED", "OUTCOMES", "N_EVAL", "VERDICT_MIME", "Decision",
           "at_most", "at_least", "every", "some", "outcome", "Verdict", "not_tested", "show", "fmt", "largest_gap",
           "settles_from", "k_or_never", "mean_excess"]

HELD, NOT_HELD, INCONCLUSIVE, NOT_TESTED = "HELD", "NOT HELD", "INCONCLUSIVE", "NOT TESTED"
OUTCOMES = (HELD, NOT_HELD, INCONCLUSIVE, NOT_TESTED)
N_EVAL = "n_eval"  # every chapter notebook's parameter for the number of evaluation prompts


@dataclass(frozen=True)
class Decision:
    """The outcome of one part of a claim: ``holds`` is True, False, or None when the 95%
    interval of the quantity it is judged on straddles the threshold (inconclusive).
    ``margin`` is how far the deciding end of the interval lies from the threshold, positive
    on the holding side (None for a part decided otherwise). When inconclusive, ``n_needed``
    is about how many prompts would shrink the interval enough to decide it (None: the
    estimate sits on the threshold) and ``n_now`` how many it was computed from; ``leans`` is
    the outcome more prompts would bring, the side of the threshold the estimate lies on (True:
    holding, False: failing, None: on the threshold or not known)."""

    holds: bool | None
    margin: float | None = None
    n_needed: int | None = None
    n_now: int | None = None
    leans: bool | None = None


def _decide(estimate: float, lo: float, hi: float, threshold: float, holds_above: bool, n: int | None) -> Decision:
    """Hold / fail / inconclusive from an interval; for a straddle, the prompts that would move
    the interval end on the threshold's side of the estimate past it (its half-width shrinks as
    1/sqrt(n))."""
    estimate, lo, hi = float(estimate), float(lo), float(hi)
    margin = lo - threshold if holds_above else threshold - hi
    if holds_above:
        holds, fails = lo >= threshold, hi < threshold
    else:
        holds, fails = hi <= threshold, lo > threshold
    if holds or fails:
        return Decision(bool(holds), margin)
    gap = abs(estimate - threshold)
    half = estimate - lo if estimate >= threshold else hi - estimate
    n_needed = None if gap == 0 or n is None else math.ceil(n * (half / gap) ** 2 - 1e-9)  # - 1e-9: float noise
    leans = None if gap == 0 else (estimate > threshold) == holds_above
    return Decision(None, margin, n_needed, n, leans)


def at_most(estimate: float, lo: float, hi: float, threshold: float, n: int | None = None) -> Decision:
    """"At most ``threshold``", judged on the interval [lo, hi] of ``estimate`` from ``n`` prompts
    (``lo = hi = estimate`` for a part judged on a mean)."""
    return _decide(estimate, lo, hi, threshold, False, n)


def at_least(estimate: float, lo: float, hi: float, threshold: float, n: int | None = None) -> Decision:
    """"At least ``threshold``", judged on the interval [lo, hi] of ``estimate`` from ``n`` prompts
    (``lo = hi = estimate`` for a part judged on a mean)."""
    return _decide(estimate, lo, hi, threshold, True, n)


def _combine(decisions: Sequence[Decision], holds: bool | None, worst: Callable[[list[float]], float],
             alone: bool) -> Decision:
    """Decisions combined: the given outcome, the ``worst`` (min or max) margin, and for an
    inconclusive outcome the prompts that would decide it first. One part can decide the whole
    by itself only towards ``alone`` (False for :func:`every`: one failing k fails it; True for
    :func:`some`): if an inconclusive part leans that way, the smallest count among those that
    do; else (every inconclusive part leans the other way) enough to decide every one of them,
    the largest count (None if one cannot be estimated)."""
    margins = [d.margin for d in decisions]
    margin = None if None in margins or not margins else worst(margins)
    if holds is not None:
        return Decision(holds, margin)
    open_ = [d for d in decisions if d.holds is None]
    first = [d.n_needed for d in open_ if d.leans is alone]
    if first:
        known = [n for n in first if n is not None]
        return Decision(None, margin, min(known) if known else None, open_[0].n_now, alone)
    needed = [d.n_needed for d in open_]
    leans = (not alone) if all(d.leans is (not alone) for d in open_) else None
    return Decision(None, margin, None if None in needed else max(needed), open_[0].n_now, leans)


def every(decisions: Sequence[Decision]) -> Decision:
    """Holds when all hold, fails when one fails, else inconclusive (e.g. "at every k")."""
    holds = False if any(d.holds is False for d in decisions) else True if all(d.holds for d in decisions) else None
    return _combine(decisions, holds, min, alone=False)


def some(decisions: Sequence[Decision]) -> Decision:
    """Holds when one holds, fails when all fail, else inconclusive (e.g. "somewhere far out")."""
    holds = True if any(d.holds is True for d in decisions) else \
        False if all(d.holds is False for d in decisions) else None
    return _combine(decisions, holds, max, alone=True)


def outcome(ok: bool) -> str:
    """HELD or NOT HELD, for a criterion decided without intervals (the ``strict`` lines)."""
    return HELD if ok else NOT_HELD


@dataclass
class Verdict:
    claim: str
    status: str  # one of OUTCOMES
    details: list[str] = field(default_factory=list)
    parts: dict[str, Decision] = field(default_factory=dict)  # each part's outcome, by name
    # NOT TESTED because the claim's premise failed at this scale: the one-line reason
    # (icl.chapters.preconditions); None for a claim that was tested, or lacked a run or value
    precondition: str | None = None

    @property
    def held(self) -> bool:
        return self.status == HELD

    def __str__(self) -> str:
        return "\n".join([f"{self.claim} {self.status}"] + [f"    {d}" for d in self.details])

    @classmethod
    def judge(cls, claim: str, parts: Sequence[tuple[str, bool | Decision]], details: Sequence[str]) -> "Verdict":
        """NOT HELD if a part fails, else INCONCLUSIVE if a part is undecided, else HELD. A part
        is ``(name, outcome)``, the outcome a bool or a :class:`Decision`. The first detail line
        names the failing parts ("fails on: ..."), then the inconclusive ones, or says every part
        holds; with inconclusive parts the next line says what would decide them."""
        named = [(name, d if isinstance(d, Decision) else Decision(bool(d))) for name, d in parts]
        failed = [name for name, d in named if d.holds is False]
        open_ = [(name, d) for name, d in named if d.holds is None]
        summary = "; ".join(([f"fails on: {'; '.join(failed)}"] if failed else [])
                            + ([f"inconclusive: {'; '.join(name for name, _ in open_)}"] if open_ else []))
        lines = [summary or "every part holds"]
        if open_:
            lines.append("to decide: " + "; ".join(f"{name}: {_to_decide(d)}" for name, d in open_))
        status = NOT_HELD if failed else INCONCLUSIVE if open_ else HELD
        return cls(claim, status, [*lines, *details], dict(named))


def _two_figures(n: int) -> int:
    """``n`` rounded to two significant figures (126,367 -> 130,000; 16 -> 16): how a count derived
    from a float ratio is printed, so that the last bits of a CPU's arithmetic never show."""
    scale = 10 ** max(len(str(abs(int(n)))) - 2, 0)
    return (int(n) + scale // 2) // scale * scale


def _to_decide(d: Decision) -> str:
    """What would decide an inconclusive part, for the line under "inconclusive: ..." (the count
    to two significant figures, :func:`_two_figures`; the prompts used now exactly)."""
    if d.n_needed is None:
        return "the estimate sits on the threshold; more prompts alone may not decide it"
    now = f"now {d.n_now:,}; " if d.n_now is not None else ""
    return f"about {_two_figures(d.n_needed):,} prompts ({now}notebook parameter {N_EVAL})"


def not_tested(curves: Mapping, names: Sequence[str], claim: str, what: str = "trained run(s)") -> Verdict | None:
    """A NOT TESTED verdict naming the ``what`` absent from ``curves``, or None if all are there."""
    absent = [n for n in names if n not in curves]
    if absent:
        return Verdict(claim, NOT_TESTED, [f"missing {what}: {', '.join(absent)}"])
    return None


def fmt(x: float) -> str:
    """A number as the verdicts print it (three decimals)."""
    return f"{x:.3f}"


def largest_gap(a: Curve, b: Curve, ks: np.ndarray) -> tuple[float, int]:
    """The largest |a - b| of the mean curves over ``ks``, and its k."""
    gap = np.abs(a.mean[ks] - b.mean[ks])
    i = int(np.argmax(gap))
    return float(gap[i]), int(ks[i])


def settles_from(a: Curve, b: Curve, ks: np.ndarray, tol: float) -> int | None:
    """The smallest k in ``ks`` from which |a - b| stays within ``tol`` for every larger k
    (None when it is still above ``tol`` at the last k)."""
    ok = np.abs(a.mean[ks] - b.mean[ks]) <= tol
    if not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    return int(ks[bad[-1] + 1]) if bad.size else int(ks[0])


def k_or_never(k: int | None) -> str:
    return "never (still above at the last k)" if k is None else str(k)


def mean_excess(curves: Mapping[str, Curve], model: str, ref: str, ks: np.ndarray, n_boot: int = 1000,
                seed: int = 0) -> tuple[float, float, float]:
    """Mean over ``ks`` of ``model - ref`` and its paired 95% bootstrap interval over prompts."""
    diff = (curves[model].per_prompt[:, ks] - curves[ref].per_prompt[:, ks]).mean(1)
    m, lo, hi = bootstrap_ci(diff, n_boot=n_boot, seed=seed)
    return float(m), float(lo), float(hi)


# the MIME type of the verdicts a notebook's verdict cell emits as data; the report reads it
VERDICT_MIME = "application/vnd.icl.verdicts+json"


def show(*verdicts: Verdict) -> None:
    """Print each verdict (the text nbval checks) and emit all of them as one display output
    of type :data:`VERDICT_MIME`: ``{"verdicts": [{"claim", "outcome", "lines"}]}``, ``lines``
    being exactly the printed lines, plus ``"precondition"`` (the one-line reason) for a claim
    NOT TESTED on an unmet precondition. The report reads that output, never the printed text."""
    for v in verdicts:
        print(v)
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is None:  # a plain script: the printed text is all there is
        return
    data = {"verdicts": [{"claim": v.claim, "outcome": v.status, "lines": str(v).splitlines(),
                          **({"precondition": v.precondition} if v.precondition else {})} for v in verdicts]}
    display({VERDICT_MIME: data}, raw=True)

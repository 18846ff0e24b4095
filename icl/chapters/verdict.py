"""Verdicts: how a claim's parts are decided and how a verdict is printed and recorded.

This module owns the :class:`Outcome` of a claim (HELD, NOT HELD, INCONCLUSIVE or NOT
TESTED: the one definition the chapters, the prose and the report use), its :class:`Verdict`
and :meth:`Verdict.judge`, the :class:`Decision` of one part judged on a 95%
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

Two stages (fixed 2026-12-04, before the numbers it judges were seen again)

* A part left INCONCLUSIVE by sample size (its interval straddles the threshold and the
  first stage estimates, as :attr:`Decision.n_needed`, about how many prompts would decide
  it) gets a second, independent evaluation: fresh prompts from another seed
  (:func:`stage2_seed`) of the size the first stage asks for (rounded up to two significant
  figures, :func:`stage_size`), at most :data:`STAGE2_MAX_PROMPTS` per prompt set. The part's
  outcome is the second stage's alone: its interval is valid on its own, the first stage's
  prompts being left out of it. :func:`two_stage` runs it from a part's :class:`Stage`
  function; a part still INCONCLUSIVE at the cap says so. The page shows both stages (one
  ``two stages, ...`` line per such part, :meth:`TwoStage.line`). Parts decided at the first
  stage, parts whose estimate sits on the threshold (no count to ask for) and chapters built
  without their predictors (no second stage can be drawn) have one stage.

A verdict is ``HELD`` (every part holds), ``NOT HELD`` (a part fails), ``INCONCLUSIVE``
(no part fails, some part's interval straddles its threshold; a line says about how many
prompts would decide it) or ``NOT TESTED`` (a run it needs is missing, or the evaluation
lacks a value the criterion reads). The first detail line names the failing parts, then
the inconclusive ones; then the two-stage lines; the others print the numbers each part was
decided on at its first stage. Thresholds are arguments, never tuned after the fact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from ..evaluate import Curve, bootstrap_ci

__all__ = [
    "Outcome",
    "N_EVAL_PARAM",
    "VERDICT_MIME",
    "Decision",
    "at_most",
    "at_least",
    "every",
    "some",
    "outcome",
    "Verdict",
    "not_tested",
    "show",
    "fmt",
    "largest_gap",
    "settles_from",
    "k_or_never",
    "mean_excess",
    "STAGE2_MAX_PROMPTS",
    "STAGE2_SEED_OFFSET",
    "stage2_seed",
    "stage_size",
    "Stage",
    "StageFn",
    "TwoStage",
    "two_stage",
    "ci",
    "every_stage",
    "some_stage",
]


class Outcome(StrEnum):
    """A claim's outcome, as printed in its verdict's heading and recorded in the report (a StrEnum:
    a member is its text in an f-string, in JSON and in a comparison with a plain string)."""

    HELD = "HELD"  # every part holds
    NOT_HELD = "NOT HELD"  # a part fails
    INCONCLUSIVE = "INCONCLUSIVE"  # no part fails, some part's interval straddles its threshold
    NOT_TESTED = "NOT TESTED"  # a run or a value it needs is missing, or its precondition is unmet


N_EVAL_PARAM = "n_eval"  # the name of every chapter notebook's parameter: the number of evaluation prompts

STAGE2_MAX_PROMPTS = 20_000
"""The most prompts a second stage reads, per prompt set (one class's prompts, or one swept
value's), whatever the first stage asks for (fixed 2026-12-04, before the numbers it judges
were seen again). A count, not a time: the outcome must be the same on every machine, and a
cap of minutes would let a slower CPU stop earlier and decide otherwise. Why 20,000: it is
about 16 times the chapters' default ``n_eval`` of 1,280 (to two significant figures, as counts
are printed), so a second stage can narrow the first interval about four-fold (the half-width
shrinks as 1/sqrt(n)); a part still straddling its threshold there lies within about a quarter
of its first half-width of it, closer than the study's sample sizes can call. It also bounds
the cost: a second stage costs at most about 16 times the first evaluation of the prompt set
it draws again (5 times for the chapters read at 4,096 prompts)."""

STAGE2_SEED_OFFSET = 1_000_000
"""A second stage draws its prompts as its chapter would with the evaluation seed ``seed +
STAGE2_SEED_OFFSET`` (:func:`stage2_seed`): every prompt set of a chapter is drawn from its seed
plus a small offset (at most 10,007, or ``seed * 1000 + nnz`` in chapter 2), and every stream
from ``(seed, step, purpose)`` through a SeedSequence, so a second stage's prompts are fresh and
independent of the first's, and the same on every re-execution (for notebook seeds below
1,000,000, as all of the study's are)."""


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


def _decide(
    estimate: float, lo: float, hi: float, threshold: float, holds_above: bool, n: int | None
) -> Decision:
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
    n_needed = (
        None if gap == 0 or n is None else math.ceil(n * (half / gap) ** 2 - 1e-9)
    )  # - 1e-9: float noise
    leans = None if gap == 0 else (estimate > threshold) == holds_above
    return Decision(None, margin, n_needed, n, leans)


def at_most(estimate: float, lo: float, hi: float, threshold: float, n: int | None = None) -> Decision:
    """ "At most ``threshold``", judged on the interval [lo, hi] of ``estimate`` from ``n`` prompts
    (``lo = hi = estimate`` for a part judged on a mean)."""
    return _decide(estimate, lo, hi, threshold, False, n)


def at_least(estimate: float, lo: float, hi: float, threshold: float, n: int | None = None) -> Decision:
    """ "At least ``threshold``", judged on the interval [lo, hi] of ``estimate`` from ``n`` prompts
    (``lo = hi = estimate`` for a part judged on a mean)."""
    return _decide(estimate, lo, hi, threshold, True, n)


def _combine(
    decisions: Sequence[Decision], holds: bool | None, worst: Callable[[list[float]], float], alone: bool
) -> Decision:
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
    holds = (
        False
        if any(d.holds is False for d in decisions)
        else True
        if all(d.holds for d in decisions)
        else None
    )
    return _combine(decisions, holds, min, alone=False)


def some(decisions: Sequence[Decision]) -> Decision:
    """Holds when one holds, fails when all fail, else inconclusive (e.g. "somewhere far out")."""
    holds = (
        True
        if any(d.holds is True for d in decisions)
        else False
        if all(d.holds is False for d in decisions)
        else None
    )
    return _combine(decisions, holds, max, alone=True)


def ci(estimate: float, lo: float, hi: float) -> str:
    """An estimate and its 95% interval as the verdicts print them: ``0.238 [95% CI 0.177, 0.312]``."""
    return f"{fmt(float(estimate))} [95% CI {fmt(float(lo))}, {fmt(float(hi))}]"


@dataclass(frozen=True)
class Stage:
    """One evaluation of a part: its :class:`Decision` and the ``reading`` it was decided on, the
    number a reader checks (e.g. ``"0.238 [95% CI 0.177, 0.312] at slope scale 8"``)."""

    decision: Decision
    reading: str


# a part decided on fresh prompts: (prompts per prompt set, the chapter's evaluation seed) -> its Stage
StageFn = Callable[[int, int], Stage]


def _deciding(items: Sequence[tuple[Decision, str]], decision: Decision, worst: bool) -> Stage:
    """``decision`` with the reading of the item that decides it: among the items whose outcome is the
    combined one, the smallest margin (``worst``, for :func:`every`) or the largest (for :func:`some`);
    items without a margin come last."""
    if not items:
        return Stage(decision, "no value to judge")
    sign = -1.0 if worst else 1.0
    # read at an item with the combined outcome (an inconclusive "some" at a straddling item, not at a
    # failing one whose margin happens to be larger), then by margin
    alike = [it for it in items if it[0].holds == decision.holds] or list(items)
    best = max(alike, key=lambda it: -math.inf if it[0].margin is None else sign * it[0].margin)
    return Stage(decision, best[1])


def every_stage(items: Sequence[tuple[Decision, str]]) -> Stage:
    """:func:`every` of the items' decisions, read at the item with the smallest margin."""
    return _deciding(items, every([d for d, _ in items]) if items else Decision(False), worst=True)


def some_stage(items: Sequence[tuple[Decision, str]]) -> Stage:
    """:func:`some` of the items' decisions, read at the item with the largest margin."""
    return _deciding(items, some([d for d, _ in items]) if items else Decision(False), worst=False)


def stage2_seed(seed: int) -> int:
    """The evaluation seed a second stage draws its prompts with (:data:`STAGE2_SEED_OFFSET`)."""
    return int(seed) + STAGE2_SEED_OFFSET


def stage_size(n_needed: int) -> int:
    """The prompts a first stage asks for: ``n_needed`` rounded *up* to two significant figures
    (3,251 -> 3,300), the count printed; so the last bits of a CPU's arithmetic in the estimate
    never change how many prompts are drawn (a count exactly on a boundary aside)."""
    scale = 10 ** max(len(str(abs(int(n_needed)))) - 2, 0)
    return -(-int(n_needed) // scale) * scale


def _says(d: Decision) -> str:
    return "holds" if d.holds else Outcome.INCONCLUSIVE if d.holds is None else "fails"


@dataclass(frozen=True)
class TwoStage:
    """A part decided in up to two stages (:func:`two_stage`): the ``first`` on the chapter's
    ``n_first`` prompts per set from evaluation seed ``seed_first``, and, when the first is
    inconclusive with a count to ask for, the ``second`` on ``n_second`` fresh prompts from
    ``seed_second``. ``asked`` is the count the first stage asked for (:func:`stage_size`, before
    the cap). The part's :attr:`decision` is the second stage's alone when there is one."""

    first: Stage
    n_first: int
    seed_first: int
    second: Stage | None = None
    n_second: int | None = None
    seed_second: int | None = None
    asked: int | None = None
    cap: int = STAGE2_MAX_PROMPTS

    @property
    def decision(self) -> Decision:
        return self.second.decision if self.second is not None else self.first.decision

    @property
    def at_cap(self) -> bool:
        """The prompts asked for reach the cap: a second stage reads the cap (or none is drawn,
        the first having read as many already)."""
        return self.asked is not None and self.asked >= self.cap

    def line(self, name: str) -> str | None:
        """The page's line on both stages (None for a part decided in one stage)."""
        if self.asked is None:
            return None
        head = (
            f"two stages, {name}: stage 1 (seed {self.seed_first}, {N_EVAL_PARAM} now {self.n_first:,}): "
            f"{self.first.reading}: INCONCLUSIVE, asks for {self.asked:,} prompts"
        )
        if self.second is None:
            return f"{head}; no stage 2: stage 1 read as many as a second stage may ({self.cap:,}, the cap)"
        cap = ", the cap" if self.at_cap else ""
        open_ = self.at_cap and self.second.decision.holds is None
        still = "; still INCONCLUSIVE at the cap" if open_ else ""
        return (
            f"{head}; stage 2 (fresh prompts, seed {self.seed_second:,}, {self.n_second:,} "
            f"prompts{cap}): {self.second.reading}: {_says(self.second.decision)} (the part's outcome)"
            f"{still}"
        )


def two_stage(
    first: Stage, n: int, seed: int, again: StageFn | None, cap: int = STAGE2_MAX_PROMPTS
) -> TwoStage:
    """A part decided in two stages: ``first``, its decision on the chapter's ``n`` prompts per set
    (evaluation seed ``seed``); when that is inconclusive with a count to ask for
    (``n_needed``) and ``again`` can draw fresh prompts, ``again(m, stage2_seed(seed))`` with
    ``m = min(stage_size(n_needed), cap)`` decides it alone. No second stage when the first is
    decided, when its estimate sits on the threshold (no count), when ``again`` is None, or when
    the first read at least ``m`` prompts already."""
    d = first.decision
    if d.holds is not None or d.n_needed is None or again is None:
        return TwoStage(first, n, seed, cap=cap)
    asked = stage_size(d.n_needed)
    m = min(asked, cap)
    if m <= n:
        return TwoStage(first, n, seed, asked=asked, cap=cap)
    seed2 = stage2_seed(seed)
    return TwoStage(first, n, seed, again(m, seed2), m, seed2, asked, cap)


def outcome(ok: bool) -> Outcome:
    """HELD or NOT HELD, for a criterion decided without intervals (the ``strict`` lines)."""
    return Outcome.HELD if ok else Outcome.NOT_HELD


@dataclass
class Verdict:
    claim: str
    status: Outcome  # a plain string is read as its Outcome ("HELD" -> Outcome.HELD)
    details: list[str] = field(default_factory=list)
    parts: dict[str, Decision] = field(default_factory=dict)  # each part's outcome, by name
    # NOT TESTED because the claim's premise failed at this scale: the one-line reason
    # (icl.chapters.preconditions); None for a claim that was tested, or lacked a run or value
    precondition: str | None = None
    stages: dict[str, TwoStage] = field(default_factory=dict)  # the parts decided by two_stage, by name

    def __post_init__(self) -> None:
        self.status = Outcome(self.status)

    @property
    def held(self) -> bool:
        return self.status is Outcome.HELD

    def __str__(self) -> str:
        return "\n".join([f"{self.claim} {self.status}"] + [f"    {d}" for d in self.details])

    @classmethod
    def judge(
        cls, claim: str, parts: Sequence[tuple[str, bool | Decision | TwoStage]], details: Sequence[str]
    ) -> Verdict:
        """NOT HELD if a part fails, else INCONCLUSIVE if a part is undecided, else HELD. A part
        is ``(name, outcome)``, the outcome a bool, a :class:`Decision` or a :class:`TwoStage`
        (decided by its last stage). The first detail line names the failing parts ("fails on:
        ..."), then the inconclusive ones, or says every part holds; with inconclusive parts the
        next line says what would decide them; then one line per part decided in two stages."""
        stages = {name: d for name, d in parts if isinstance(d, TwoStage)}
        named = [
            (
                name,
                d.decision
                if isinstance(d, TwoStage)
                else d
                if isinstance(d, Decision)
                else Decision(bool(d)),
            )
            for name, d in parts
        ]
        failed = [name for name, d in named if d.holds is False]
        open_ = [(name, d) for name, d in named if d.holds is None]
        summary = "; ".join(
            ([f"fails on: {'; '.join(failed)}"] if failed else [])
            + ([f"inconclusive: {'; '.join(name for name, _ in open_)}"] if open_ else [])
        )
        lines = [summary or "every part holds"]
        if open_:
            lines.append(
                "to decide: " + "; ".join(f"{name}: {_to_decide(d, stages.get(name))}" for name, d in open_)
            )
        lines += [line for name, st in stages.items() if (line := st.line(name)) is not None]
        status = Outcome.NOT_HELD if failed else Outcome.INCONCLUSIVE if open_ else Outcome.HELD
        return cls(claim, status, [*lines, *details], dict(named), stages=stages)


def _two_figures(n: int) -> int:
    """``n`` rounded to two significant figures (126,367 -> 130,000; 16 -> 16): how a count derived
    from a float ratio is printed, so that the last bits of a CPU's arithmetic never show."""
    scale = 10 ** max(len(str(abs(int(n)))) - 2, 0)
    return (int(n) + scale // 2) // scale * scale


def _to_decide(d: Decision, stages: TwoStage | None = None) -> str:
    """What would decide an inconclusive part, for the line under "inconclusive: ..." (the count
    to two significant figures, :func:`_two_figures`; the prompts used now exactly). For a part
    whose second stage was drawn (``stages``), what that stage read, and whether at the cap."""
    if d.n_needed is None:
        return "the estimate sits on the threshold; more prompts alone may not decide it"
    if stages is not None and stages.asked is not None:
        read = (
            f"stage 2 read {stages.n_second:,} fresh prompts"
            if stages.second is not None
            else f"stage 1 read {N_EVAL_PARAM} now {stages.n_first:,}"
        )
        head = f"INCONCLUSIVE at the cap of {stages.cap:,} prompts ({read})" if stages.at_cap else read
        return f"{head}; about {_two_figures(d.n_needed):,} prompts would decide it"
    now = f"now {d.n_now:,}; " if d.n_now is not None else ""
    return f"about {_two_figures(d.n_needed):,} prompts ({now}notebook parameter {N_EVAL_PARAM})"


def not_tested(
    curves: Mapping, names: Sequence[str], claim: str, what: str = "trained run(s)"
) -> Verdict | None:
    """A NOT TESTED verdict naming the ``what`` absent from ``curves``, or None if all are there."""
    absent = [n for n in names if n not in curves]
    if absent:
        return Verdict(claim, Outcome.NOT_TESTED, [f"missing {what}: {', '.join(absent)}"])
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


def mean_excess(
    curves: Mapping[str, Curve], model: str, ref: str, ks: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean over ``ks`` of ``model - ref`` and its paired 95% bootstrap interval over prompts."""
    diff = (curves[model].per_prompt[:, ks] - curves[ref].per_prompt[:, ks]).mean(1)
    m, lo, hi = bootstrap_ci(diff, n_boot=n_boot, seed=seed)
    return float(m), float(lo), float(hi)


# the MIME type of the verdicts a notebook's verdict cell emits as data; the report reads it
VERDICT_MIME = "application/vnd.icl.verdicts+json"


def show(*verdicts: Verdict, seed: int = 0) -> None:
    """Print each verdict (the text nbval checks) and emit all of them as one display output
    of type :data:`VERDICT_MIME`: ``{"verdicts": [{"claim", "outcome", "lines"}]}``, ``lines``
    being exactly the printed lines, plus ``"precondition"`` (the one-line reason) for a claim
    NOT TESTED on an unmet precondition and ``"seed"`` when the runs judged are of training seed
    ``seed`` > 0 (a chapter's second seed: its own column in the report). The report reads that
    output, never the printed text."""
    for v in verdicts:
        print(v)
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is None:  # a plain script: the printed text is all there is
        return
    data = {
        "verdicts": [
            {
                "claim": v.claim,
                "outcome": v.status.value,
                "lines": str(v).splitlines(),
                **({"precondition": v.precondition} if v.precondition else {}),
                **({"seed": seed} if seed else {}),
            }
            for v in verdicts
        ]
    }
    display({VERDICT_MIME: data}, raw=True)

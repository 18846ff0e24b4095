"""Selection cost: "the mixture model is as good as the specialist", as C1, C6 and C7 judge it.

``cost(k) = err_mixture(k) - err_specialist(k)`` on one class's prompts. Selection is
never free at k = 1, not even for the Bayes-optimal learner, so the criterion allows the
optimal learner's own cost: ``cost(k) - max(0, err_bayes_mixture(k) - err_bayes_specialist(k))
<= tol`` at every k, judged on the paired 95% interval. Where no optimal learner is
computable (C6), the cost must vanish from the first k at which the classes are
identifiable and be small on average. A :class:`Specialist` names one class's part, and how
to draw that class's prompts again: a part left inconclusive is decided on a second stage of
fresh prompts (:func:`selection_stages`, :func:`~icl.chapters.verdict.two_stage`);
:func:`mixture_matches_specialists` is the shared form of C1 and C6 (C7a uses its parts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..evaluate import Curve, bootstrap_ci
from .verdict import (
    Decision,
    Outcome,
    Stage,
    TwoStage,
    Verdict,
    at_most,
    ci,
    every,
    fmt,
    k_or_never,
    largest_gap,
    not_tested,
    outcome,
    settles_from,
    two_stage,
)

__all__ = [
    "Specialist",
    "selection_cost",
    "selection_stages",
    "strict_every_k",
    "check_specialists",
    "mixture_matches_specialists",
]


@dataclass(frozen=True)
class Specialist:
    """One class of a mixture as a selection-cost part reads it (C1, C6, C7): the prompts of
    that class (``curves``: every predictor on them, paired) and its single-class ``model``.
    The allowance is the Bayes-optimal learner's own selection cost, the gap between the
    learner of the mixture prior (``bayes_mixture``) and of this class alone
    (``bayes_model``); without such learners, ``identifiable_from`` is the first k from
    which a learner can tell the classes apart, and the cost must vanish from there.
    ``draw(names, n, seed)``, when given, scores the predictors ``names`` on ``n`` fresh prompts of
    this class drawn from evaluation seed ``seed`` (a chapter's
    :meth:`~icl.chapters.stages.Redraw.curves`); ``eval_seed`` is the seed ``curves`` were drawn
    from. Both are needed for a second stage."""

    label: str  # the part's name, e.g. "sparse prompts"
    curves: Mapping[str, Curve]
    model: str
    bayes_mixture: str | None = None
    bayes_model: str | None = None
    identifiable_from: int | None = None
    draw: Callable[[Sequence[str], int, int], Mapping[str, Curve]] | None = None
    eval_seed: int | None = None

    def __post_init__(self) -> None:
        if (self.bayes_mixture is None) != (self.bayes_model is None) or (self.bayes_mixture is None) == (
            self.identifiable_from is None
        ):
            raise ValueError(
                f"{self.label}: give both Bayes learners or identifiable_from, not neither or both"
            )

    def needs(self) -> list[str]:
        """The baselines the allowance reads."""
        return [n for n in (self.bayes_mixture, self.bayes_model) if n is not None]


def selection_cost(
    mix: str, s: Specialist, tol: float, n_boot: int = 1000, seed: int = 0
) -> tuple[Decision, str]:
    """The part "``mix`` is as good as ``s.model`` on its class": with Bayes learners,
    ``cost(k) - allowance(k) <= tol`` at every k >= 1 (paired per prompt: the learner's own
    cost is subtracted on the same prompts where it is positive); else ``cost(k) <= tol`` at
    every k >= ``identifiable_from`` and the mean cost over every k at most ``tol``. Each
    judged on its 95% interval. Returns the decision and the line reporting it (one stage:
    :func:`selection_stages` adds the second)."""
    stage, line = _cost(mix, s, tol, n_boot, seed)
    return stage.decision, line


def selection_stages(
    mix: str, s: Specialist, tol: float, n_boot: int = 1000, seed: int = 0, second: bool = True
) -> tuple[TwoStage, str]:
    """:func:`selection_cost` in two stages (:func:`~icl.chapters.verdict.two_stage`): when it is
    inconclusive on the chapter's prompts, decided on fresh prompts of the class (``s.draw``),
    unless ``second`` is False or ``s`` cannot draw them. Returns the stages and the line
    reporting the first."""
    first, line = _cost(mix, s, tol, n_boot, seed)
    names = [mix, s.model, *s.needs()]
    again = None
    if second and s.draw is not None and s.eval_seed is not None:

        def again(n: int, eval_seed: int) -> Stage:
            return _cost(mix, replace(s, curves=s.draw(names, n, eval_seed)), tol, n_boot, seed)[0]

    n = s.curves[mix].per_prompt.shape[0]
    return two_stage(first, n, s.eval_seed if s.eval_seed is not None else 0, again), line


def _cost(mix: str, s: Specialist, tol: float, n_boot: int, seed: int) -> tuple[Stage, str]:
    """:func:`selection_cost`'s decision with its reading (the deciding k), and its line."""
    c = s.curves
    ks = np.arange(1, c[mix].mean.shape[0])
    cost = c[mix].per_prompt[:, ks] - c[s.model].per_prompt[:, ks]  # (P, K)
    n = cost.shape[0]
    name = f"{mix} - {s.model}"
    if s.bayes_mixture is not None:
        own = c[s.bayes_mixture].per_prompt[:, ks] - c[s.bayes_model].per_prompt[:, ks]
        positive = own.mean(0) > 0  # allowance = max(0, own cost)
        m, lo, hi = bootstrap_ci(cost - np.where(positive, own, 0.0), n_boot=n_boot, seed=seed)
        decision = every([at_most(m[i], lo[i], hi[i], tol, n) for i in range(len(ks))])
        i, j = int(np.argmax(m)), int(np.argmax(own.mean(0)))
        allowance = np.maximum(own.mean(0), 0.0)
        reading = f"cost minus allowance, largest {ci(m[i], lo[i], hi[i])} at k={ks[i]}"
        return Stage(decision, reading), (
            f"{s.label}: selection cost ({name}) minus the Bayes-optimal learner's own ({s.bayes_mixture} - "
            f"{s.bayes_model}, floored at 0): largest {fmt(m[i])} [95% CI {fmt(lo[i])}, {fmt(hi[i])}] at "
            f"k={ks[i]} (cost {fmt(float(cost[:, i].mean()))}, allowance {fmt(allowance[i])}; criterion <= "
            f"{tol} at every k); the learner's own cost peaks at {fmt(allowance[j])} (k={ks[j]})"
        )
    late = ks >= s.identifiable_from
    m, lo, hi = bootstrap_ci(cost, n_boot=n_boot, seed=seed)
    mm, mlo, mhi = bootstrap_ci(cost.mean(1), n_boot=n_boot, seed=seed)
    decision = every(
        [*(at_most(m[i], lo[i], hi[i], tol, n) for i in np.flatnonzero(late)), at_most(mm, mlo, mhi, tol, n)]
    )
    i = int(np.flatnonzero(late)[np.argmax(m[late])])
    j = int(np.argmax(np.where(late, -np.inf, m)))
    early = f"; before k={s.identifiable_from}: largest {fmt(m[j])} at k={ks[j]}" if (~late).any() else ""
    reading = (
        f"cost from k={s.identifiable_from}, largest {ci(m[i], lo[i], hi[i])} at k={ks[i]}; mean "
        f"{ci(mm, mlo, mhi)}"
    )
    return Stage(decision, reading), (
        f"{s.label}: selection cost ({name}) from k={s.identifiable_from} on (the classes identifiable): "
        f"largest {fmt(m[i])} [95% CI {fmt(lo[i])}, {fmt(hi[i])}] at k={ks[i]} (criterion <= {tol} at every "
        f"such k); mean over k=1..{ks[-1]} {fmt(float(mm))} [95% CI {fmt(float(mlo))}, {fmt(float(mhi))}] "
        f"(criterion <= {tol}){early}"
    )


def strict_every_k(mix: str, specialists: Sequence[Specialist], tol: float) -> tuple[bool, str]:
    """The criterion before 2026-12-01, kept as a reported line: the mixture model's mean
    curve within ``tol`` of each single-class model's at every k >= 1. (held, numbers)."""
    ks = np.arange(1, specialists[0].curves[mix].mean.shape[0])
    texts, ok = [], True
    for s in specialists:
        g, k = largest_gap(s.curves[mix], s.curves[s.model], ks)
        ok &= g <= tol
        settle = settles_from(s.curves[mix], s.curves[s.model], ks, tol)
        texts.append(
            f"{s.label}: max |{mix} - {s.model}| = {fmt(g)} at k={k}, within {tol} from "
            f"k={k_or_never(settle)} on"
        )
    return ok, "; ".join(texts)


def check_specialists(claim: str, mix: str, specialists: Sequence[Specialist]) -> Verdict | None:
    """NOT TESTED when a run or a baseline a selection-cost part reads is missing or not finite."""
    for s in specialists:
        v = not_tested(s.curves, [mix, s.model], claim) or not_tested(
            s.curves, s.needs(), claim, "baseline(s)"
        )
        if v:
            return v
    for s in specialists:
        if s.identifiable_from is not None and s.identifiable_from >= s.curves[mix].mean.shape[0]:
            return Verdict(
                claim,
                Outcome.NOT_TESTED,
                [
                    f"{s.label}: the prompts end before "
                    f"k={s.identifiable_from}, where the classes become "
                    f"identifiable"
                ],
            )
        for name in [mix, s.model, *s.needs()]:
            if not np.isfinite(s.curves[name].per_prompt[:, 1:]).all():
                return Verdict(
                    claim,
                    Outcome.NOT_TESTED,
                    [
                        f"{s.label}: {name} has no value at some k >= 1 "
                        f"(computed at a few k only?); the selection cost "
                        f"reads every k"
                    ],
                )
    return None


def mixture_matches_specialists(
    claim: str, mix: str, specialists: Sequence[Specialist], tol: float = 0.05, second: bool = True
) -> Verdict:
    """The shared form of C1 and C6: on each class's prompts the mixture model ``mix`` is as
    good as that class's single-class model, up to the optimal selection cost
    (:func:`selection_cost`), in two stages (:func:`selection_stages`; none when ``second`` is
    False); the old every-k criterion is reported as the ``strict`` line."""
    v = check_specialists(claim, mix, specialists)
    if v:
        return v
    judged = [(s.label, *selection_stages(mix, s, tol, second=second)) for s in specialists]
    strict_ok, strict_text = strict_every_k(mix, specialists, tol)
    return Verdict.judge(
        claim,
        [(label, d) for label, d, _ in judged],
        [line for _, _, line in judged]
        + [f"strict (every k within {tol}): {outcome(strict_ok)}; {strict_text}"],
    )

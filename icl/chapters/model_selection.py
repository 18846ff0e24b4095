"""Chapter 1, model selection (notebook ``01_model_selection``): dense/sparse runs, C1-C3.

This module owns what chapter 1 evaluates and how it is judged. :func:`linear_chapter`
scores every run and the reference predictors (:func:`linear_baselines`, keyed by their own
names: the constants below) on the same dense and on the same sparse prompts of a scale's
:class:`Geometry`; :func:`verdict_c1` (the mixture's selection cost against each
specialist, :mod:`icl.chapters.selection`), :func:`verdict_c2` (each specialist against
its class's optimal baseline, and the sparse-only model's selection fraction
:func:`selection_fraction`) and :func:`verdict_c3` (specialists fail out of class) judge
them; :func:`seed_spread` puts a run beside its second seed (rows by :func:`seed_row`, chapter 2's too).
The chapter keeps its predictors and how its dense and sparse prompts are drawn
(:class:`~icl.chapters.stages.Redraw`), so that a part judged on an interval and left
inconclusive is decided on a second stage of fresh prompts (:func:`~icl.chapters.verdict.two_stage`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..baselines import BayesDense, BayesSparse, Lasso, LeastSquares, bayes_name, bayes_predictor, keyed
from ..config import TaskConfig, get_run_config, registry_run
from ..emergence import selection_range
from ..evaluate import Curve, Predictor, choose_lasso_alpha, evaluate, sample_prompts
from ..tasks import ClassName, DenseLinear, SparseLinear
from .notebook import check_scale_param
from .preconditions import Precondition, judged_if
from .selection import Specialist, mixture_matches_specialists
from .stages import PromptSet, Redraw
from .verdict import (
    Outcome,
    Stage,
    TwoStage,
    Verdict,
    at_least,
    at_most,
    ci,
    fmt,
    mean_excess,
    not_tested,
    outcome,
    two_stage,
)

__all__ = [
    "LEAST_SQUARES",
    "LASSO",
    "BAYES_DENSE",
    "BAYES_SPARSE",
    "W_MIX",
    "MIX_RUN",
    "DENSE_RUN",
    "SPARSE_RUN",
    "Geometry",
    "geometry",
    "seed_spread",
    "seed_row",
    "LinearChapter",
    "bayes_mixture_name",
    "linear_prior",
    "linear_baselines",
    "linear_chapter",
    "verdict_c1",
    "selection_range",
    "selection_fraction",
    "selection_precondition",
    "verdict_c2",
    "verdict_c3",
]

# the curve keys of chapter 1's reference predictors, their own names (chapter 2 reuses them)
LEAST_SQUARES, LASSO = LeastSquares.name, Lasso.name
BAYES_DENSE, BAYES_SPARSE = BayesDense.name, BayesSparse.name

# the runs chapters 1 and 2 judge by default, found in the registry by their pretraining weights: the
# mixture of dense weight W_MIX (whose Bayes-optimal predictor is the reference) and the two specialists
W_MIX = 0.5
MIX_RUN, DENSE_RUN, SPARSE_RUN = (
    registry_run("linear", {ClassName.DENSE: w, ClassName.SPARSE: 1 - w}) for w in (W_MIX, 1.0, 0.0)
)


@dataclass(frozen=True)
class Geometry:
    """The prompts of chapters 1-2 at one scale: input dimension, sparsity, prompt length."""

    scale: str
    d: int
    nnz: int
    n_points: int

    def default_ks(self) -> list[int]:
        """k values written through d for tables and panels: 2, d/2, d, 2d (within the prompt)."""
        return sorted({k for k in (2, max(1, self.d // 2), self.d, 2 * self.d) if k < self.n_points})


def geometry(scale: str = "cpu") -> Geometry:
    """Chapters 1-2's prompt geometry at ``scale``, read from the scale's linear-run config."""
    cfg = get_run_config(MIX_RUN, check_scale_param(scale))
    return Geometry(scale, cfg.task.n_dims, cfg.task.nnz, cfg.model.n_points)


def seed_spread(ch: LinearChapter, pairs: Sequence[tuple[str, str]], ks: Sequence[int]):
    """Headline numbers of each run and its second seed side by side: the error at ``ks`` on
    both prompt classes, and the sparse-only selection fraction, with the seed difference."""
    import pandas as pd

    rows = []
    for a, b in pairs:
        if a not in ch.sparse or b not in ch.sparse:
            continue
        for task, curves in ((ClassName.DENSE, ch.dense), (ClassName.SPARSE, ch.sparse)):
            for k in ks:
                rows.append(seed_row(a, {"task": task.value, "k": k}, curves[a].mean[k], curves[b].mean[k]))
    return pd.DataFrame(rows)


def seed_row(run: str, where: Mapping[str, object], first: float, second: float) -> dict:
    """One row of a seed-spread table (chapters 1 and 2): ``run`` at ``where`` (task, nnz, k),
    its first and second seed's mean errors and their distance, rounded to 3 digits."""
    first, second = float(first), float(second)
    return {
        "run": run,
        **where,
        "seed 0": round(first, 3),
        "seed 1": round(second, 3),
        "spread": round(abs(first - second), 3),
    }


# --------------------------------------------------------------------------- chapter 1


@dataclass
class LinearChapter:
    """Curves of every model and baseline on dense and on sparse prompts (d dimensions,
    sparse functions with nnz non-zero coefficients)."""

    d: int
    nnz: int
    dense: dict[str, Curve]
    sparse: dict[str, Curve]
    lasso_alpha: float
    missing: list[str]
    n_prompts: int
    seed: int | None = None  # the evaluation seed the prompts were drawn from
    redraw: Redraw | None = field(default=None, repr=False)  # sets "dense", "sparse": for second stages

    def curves(self, task: str) -> dict[str, Curve]:
        """The curves on ``task``'s prompts ("dense" or "sparse")."""
        return self.dense if task == ClassName.DENSE else self.sparse

    def draw(self, task: str) -> Callable[[Sequence[str], int, int], Mapping[str, Curve]] | None:
        """How to score predictors on fresh prompts of ``task`` ("dense" or "sparse"), or None
        when the chapter was built without its predictors (one stage only)."""
        return (
            None
            if self.redraw is None or self.seed is None
            else (lambda names, n, seed: self.redraw.curves(task, names, n, seed))
        )

    def table(self, ks: Sequence[int]):
        import pandas as pd

        rows = []
        for task in (ClassName.DENSE, ClassName.SPARSE):
            for name, c in self.curves(task).items():
                rows.append(
                    {
                        "task": task.value,
                        "predictor": name,
                        **{f"k={k}": round(float(c.mean[k]), 3) for k in ks},
                    }
                )
        return pd.DataFrame(rows)


def linear_prior(d: int, nnz: int, w_dense: float) -> TaskConfig:
    """The dense/sparse prior of dense weight ``w_dense`` (unit-variance classes): chapters 1, 2 and 6's."""
    return TaskConfig((ClassName.DENSE, ClassName.SPARSE), (w_dense, 1 - w_dense), d, nnz)


def bayes_mixture_name(w_mix: float) -> str:
    """The name (curve key) of the Bayes-optimal predictor of the ``w_mix`` dense/sparse mixture prior."""
    return bayes_name((ClassName.DENSE, ClassName.SPARSE), (w_mix, 1 - w_mix))


def linear_baselines(d: int, nnz: int, w_mix: float, lasso_alpha: float) -> dict:
    """Reference predictors for the dense/sparse chapter, by their names: least squares, the Lasso and
    the Bayes-optimal predictors of the dense, the sparse and the ``w_mix`` mixture prior."""
    return keyed(
        LeastSquares(),
        Lasso(lasso_alpha),
        *(bayes_predictor(linear_prior(d, nnz, w)) for w in (1.0, 0.0, w_mix)),
    )


def linear_chapter(
    models: Mapping[str, Predictor],
    d: int | None = None,
    nnz: int | None = None,
    n_points: int | None = None,
    n_prompts: int = 1280,
    seed: int = 1,
    w_mix: float = W_MIX,
    lasso_alphas: Sequence[float] = (1e-3, 1e-2, 1e-1),
    missing: Sequence[str] = (),
    n_boot: int = 1000,
) -> LinearChapter:
    """Every model (a trained run, or any predictor standing in for one) and the reference
    predictors, scored on the same dense and on the same sparse prompts; the dimensions not
    given are the cpu scale's (:func:`geometry`)."""
    cpu = geometry("cpu")
    d, nnz, n_points = (
        cpu.d if d is None else d,
        cpu.nnz if nnz is None else nnz,
        cpu.n_points if n_points is None else n_points,
    )
    dense, sparse = DenseLinear(d, normalize=True), SparseLinear(d, nnz, normalize=True)
    alpha = choose_lasso_alpha(sparse, n_points, lasso_alphas, seed)
    preds = {**models, **linear_baselines(d, nnz, w_mix, alpha)}
    redraw = Redraw(
        {
            ClassName.DENSE: PromptSet(lambda n, s: sample_prompts(dense, n, n_points, s), preds),
            ClassName.SPARSE: PromptSet(lambda n, s: sample_prompts(sparse, n, n_points, s + 1), preds),
        },
        n_boot,
    )
    return LinearChapter(
        d=d,
        nnz=nnz,
        dense=evaluate(preds, dense, n_prompts, n_points, seed=seed, n_boot=n_boot),
        sparse=evaluate(preds, sparse, n_prompts, n_points, seed=seed + 1, n_boot=n_boot),
        lasso_alpha=alpha,
        missing=list(missing),
        n_prompts=n_prompts,
        seed=seed,
        redraw=redraw,
    )


def verdict_c1(
    ch: LinearChapter,
    mix: str = MIX_RUN,
    dense_only: str = DENSE_RUN,
    sparse_only: str = SPARSE_RUN,
    tol: float = 0.05,
    w_mix: float = W_MIX,
    selects: float = 0.5,
) -> Verdict:
    """C1: on dense prompts the mixture model's selection cost over the dense-only model, and
    on sparse prompts over the sparse-only model, is at most the Bayes-optimal learner's own
    (Bayes mixture ``w_mix`` against Bayes dense, resp. Bayes sparse) plus ``tol``, at every
    k >= 1, judged on the 95% interval (see :func:`selection_cost`).

    Precondition (2026-12-04): :func:`selection_precondition`, C2's selection part held for the
    same seed (``sparse_only`` closes at least ``selects`` of the least-squares-to-Lasso gap);
    else "as good as the sparse specialist" is vacuous (both behave like least squares) and C1
    is NOT TESTED, the verdict it would have had kept as the ``before`` line (judged in one
    stage: with the premise unmet nothing is to be decided). A part left inconclusive is decided
    on a second stage of fresh prompts (:func:`~icl.chapters.verdict.two_stage`)."""
    bayes = bayes_mixture_name(w_mix)
    pre = selection_precondition(ch.sparse, sparse_only, ch.d, selects)
    return judged_if(
        pre,
        mixture_matches_specialists(
            "C1",
            mix,
            [
                Specialist(
                    "dense prompts",
                    ch.dense,
                    dense_only,
                    bayes,
                    BAYES_DENSE,
                    draw=ch.draw(ClassName.DENSE),
                    eval_seed=ch.seed,
                ),
                Specialist(
                    "sparse prompts",
                    ch.sparse,
                    sparse_only,
                    bayes,
                    BAYES_SPARSE,
                    draw=ch.draw(ClassName.SPARSE),
                    eval_seed=ch.seed,
                ),
            ],
            tol,
            second=pre.met,
        ),
    )


def selection_fraction(curves: Mapping[str, Curve], model: str, ks: np.ndarray) -> np.ndarray:
    """``s(k) = (err_LS - err_model) / (err_LS - err_Lasso)`` at ``ks`` (mean curves): the
    fraction of the least-squares-to-Lasso gap that ``model`` closes."""
    ls, lasso = curves[LEAST_SQUARES].mean[ks], curves[LASSO].mean[ks]
    return (ls - curves[model].mean[ks]) / (ls - lasso)


def _unreadable(sparse: Mapping[str, Curve], d: int, min_gap: float = 0.01) -> str | None:
    """Why the selection fraction cannot be read on these sparse-prompt curves, or None: no k in
    ceil(d/2)..d-1, or Lasso not better than least squares by ``min_gap`` there (then s has no
    meaning)."""
    ks = selection_range(d)
    if LEAST_SQUARES not in sparse or LASSO not in sparse:
        return "least squares and the Lasso not evaluated on sparse prompts"
    if ks.size == 0 or ks[-1] >= sparse[LEAST_SQUARES].mean.shape[0]:
        return f"no k in {math.ceil(d / 2)}..{d - 1} in the curves (d={d})"
    gap = sparse[LEAST_SQUARES].mean[ks] - sparse[LASSO].mean[ks]
    if (gap <= min_gap).any():
        return (
            f"on sparse prompts Lasso is not better than least squares by {min_gap} at every "
            f"k={ks[0]}..{ks[-1]} (gap {', '.join(fmt(g) for g in gap)}): the selection fraction has no "
            "meaning there"
        )
    return None


def _selection_readable(ch: LinearChapter, claim: str) -> Verdict | None:
    """NOT TESTED when the selection fraction cannot be read (:func:`_unreadable`)."""
    why = _unreadable(ch.sparse, ch.d)
    return Verdict(claim, Outcome.NOT_TESTED, [why]) if why else None


def selection_precondition(
    sparse: Mapping[str, Curve], sparse_only: str, d: int, selects: float = 0.5, where: str = ""
) -> Precondition:
    """The precondition of C1, C4 and C5 (2026-12-04): C2's selection part held for the same
    seed, i.e. on sparse prompts (``sparse``: curves of ``sparse_only``, least squares and the
    Lasso on the same prompts) ``sparse_only`` closes a mean of at least ``selects`` of the
    least-squares-to-Lasso gap over k = ceil(d/2)..d-1 (on means, as C2 judges it). Unmet, the
    mixture model's specialists do not differ (the sparse one behaves like least squares).
    ``where`` names the prompts in the reason (e.g. "on chapter 2's prompts of nnz=2")."""
    if sparse_only not in sparse:
        return Precondition(
            False,
            f"the sparse-only model {sparse_only} was not evaluated on sparse prompts{where}, "
            f"so whether the specialists differ is not known",
        )
    why = _unreadable(sparse, d)
    if why:
        return Precondition(False, f"{why}{where}, so whether the specialists differ is not known")
    ks = selection_range(d)
    s = float(selection_fraction(sparse, sparse_only, ks).mean())
    return Precondition(
        s >= selects,
        f"the sparse-only model {sparse_only} closes {fmt(s)} of the least-squares-to-"
        f"Lasso gap over k={ks[0]}..{ks[-1]}{where} (needs {selects}, C2's selection "
        f"part), so the specialists do not differ",
    )


# long: C2's three parts and the docstring that states them
def verdict_c2(
    ch: LinearChapter,
    mix: str = MIX_RUN,
    dense_only: str = DENSE_RUN,
    sparse_only: str = SPARSE_RUN,
    tol: float = 0.05,
    w_mix: float = W_MIX,
    selects: float = 0.5,
) -> Verdict:
    """C2, three parts, each single-class model against the baseline the paper (after Garg et
    al.) calls optimal for its class:

    1. on dense prompts the dense-only model's mean excess over least squares, over
       k = 1..2d (clipped to the curves), is at most ``tol`` (95% paired interval);
    2. on sparse prompts the sparse-only model's mean excess over the Lasso, likewise;
    3. selection: on sparse prompts the sparse-only model's mean selection fraction
       :func:`selection_fraction` over k = ceil(d/2)..d-1 is at least ``selects`` (on means).

    Reported, not a part: the mixture model's mean excess over the exact Bayes-optimal
    predictor of the ``w_mix`` mixture prior (with noiseless data the exact sparse posterior
    recovers the support from nnz + 1 points, far beyond Lasso: not what the paper says the
    transformer matches; the mixture's near-optimality is C1's selection cost). The two excess
    parts are decided in two stages (:func:`~icl.chapters.verdict.two_stage`)."""
    v = not_tested(ch.dense, [dense_only, sparse_only], "C2") or _selection_readable(ch, "C2")
    if v:
        return v
    n, d = ch.dense[dense_only].mean.shape[0], ch.d
    ks = np.arange(1, min(2 * d, n - 1) + 1)
    parts, details = [], []
    for task, model, ref, curves in (
        (ClassName.DENSE, dense_only, LEAST_SQUARES, ch.dense),
        (ClassName.SPARSE, sparse_only, LASSO, ch.sparse),
    ):
        m, lo, hi = mean_excess(curves, model, ref, ks)
        decide = lambda c, model=model, ref=ref: _excess(c, model, ref, ks, tol)  # noqa: E731
        parts.append((f"{task} ({model} vs {ref})", _stages(ch, task, [model, ref], decide)))
        excess = curves[model].mean[ks] - curves[ref].mean[ks]
        details.append(
            f"{task}: {model} - {ref}: mean excess {fmt(m)} [95% CI {fmt(lo)}, {fmt(hi)}] over "
            f"k=1..{ks[-1]} (criterion <= {tol}); largest {fmt(float(excess.max()))} at "
            f"k={ks[np.argmax(excess)]}"
        )
    sel_ks = selection_range(d)
    s = selection_fraction(ch.sparse, sparse_only, sel_ks)
    parts.append(("selection", at_least(s.mean(), s.mean(), s.mean(), selects)))
    details.append(
        f"selection: {sparse_only} on sparse prompts closes a mean {fmt(float(s.mean()))} of the least-"
        f"squares-to-Lasso gap over k={sel_ks[0]}..{sel_ks[-1]} (criterion >= {selects}, on means; "
        f"per k: {', '.join(fmt(x) for x in s)})"
    )
    bayes = bayes_mixture_name(w_mix)
    if mix in ch.dense and bayes in ch.dense:
        rep = [
            (task, *mean_excess(ch.curves(task), mix, bayes, ks))
            for task in (ClassName.DENSE, ClassName.SPARSE)
        ]
        details.append(
            f"reported, not a part: {mix} - {bayes} (exact posterior): mean excess over k=1..{ks[-1]} "
            + "; ".join(f"{task} {fmt(m)} [95% CI {fmt(lo)}, {fmt(hi)}]" for task, m, lo, hi in rep)
        )
    details.append(_strict_c2(ch, mix, dense_only, sparse_only, tol, bayes))
    return Verdict.judge("C2", parts, details)


def _stages(
    ch: LinearChapter,
    task: str,
    names: Sequence[str],
    decide: Callable[[Mapping[str, Curve]], Stage],
    second: bool = True,
) -> TwoStage:
    """A part of chapter 1 read on ``task``'s curves by ``decide``, in two stages: the chapter's
    curves, then, when inconclusive, the predictors ``names`` on fresh prompts of ``task``."""
    curves = ch.curves(task)
    draw = ch.draw(task) if second else None
    again = None if draw is None else (lambda n, seed: decide(draw(names, n, seed)))
    return two_stage(decide(curves), curves[names[0]].per_prompt.shape[0], ch.seed or 0, again)


def _excess(curves: Mapping[str, Curve], model: str, ref: str, ks: np.ndarray, tol: float) -> Stage:
    """C2's excess part: the mean over ``ks`` of ``model - ref`` at most ``tol`` (paired interval)."""
    m, lo, hi = mean_excess(curves, model, ref, ks)
    return Stage(
        at_most(m, lo, hi, tol, curves[model].per_prompt.shape[0]),
        f"mean excess {ci(m, lo, hi)} over k=1..{ks[-1]}",
    )


def _strict_c2(ch: LinearChapter, mix: str, dense_only: str, sparse_only: str, tol: float, bayes: str) -> str:
    """C2's criteria before 2026-12-01, as one line: four mean excesses over k = 1..n-1 (the two
    above and the mixture model against the exact Bayes mixture on both classes) at most
    ``tol`` on means, and the sparse-only model at k = 5 at most half of least squares."""
    n = ch.dense[dense_only].mean.shape[0]
    ks = np.arange(1, n)
    dense, sparse = ClassName.DENSE, ClassName.SPARSE
    checks = [
        (dense, dense_only, LEAST_SQUARES, ch.dense),
        (sparse, sparse_only, LASSO, ch.sparse),
        (dense, mix, bayes, ch.dense),
        (sparse, mix, bayes, ch.sparse),
    ]
    failed = []
    for task, model, ref, curves in checks:
        if model not in curves or ref not in curves:
            failed.append(f"{task} ({model} vs {ref}): missing")
            continue
        avg = float((curves[model].mean[ks] - curves[ref].mean[ks]).mean())
        if avg > tol:
            failed.append(f"{task} ({model} vs {ref}) {fmt(avg)}")
    if n > 5:
        sel, ls = float(ch.sparse[sparse_only].mean[5]), float(ch.sparse[LEAST_SQUARES].mean[5])
        if sel > 0.5 * ls:
            failed.append(f"selection at k=5 ({fmt(sel)} vs least squares {fmt(ls)})")
    else:
        failed.append("selection at k=5: no such k")
    return (
        f"strict (old criteria: mean excess <= {tol} also for {mix} vs {bayes} on both classes, over "
        f"k=1..{n - 1}; {sparse_only} at k=5 at most half of least squares): {outcome(not failed)}"
        + (f"; fails on: {'; '.join(failed)}" if failed else "")
    )


def verdict_c3(
    ch: LinearChapter,
    dense_only: str = DENSE_RUN,
    sparse_only: str = SPARSE_RUN,
    fails: float = 0.2,
    solvable: float = 0.01,
    like_ls: float = 0.2,
) -> Verdict:
    """C3: single-class models fail out of class, read through d.

    1. the sparse-only model on dense prompts at k = d errs at least ``fails`` (95% interval),
    2. while least squares there errs at most ``solvable`` (the task is solvable at k = d);
    3. the dense-only model on sparse prompts behaves like least squares: its mean selection
       fraction over k = ceil(d/2)..d-1 is at most ``like_ls`` (on means).

    Parts 1 and 2 are decided in two stages (:func:`~icl.chapters.verdict.two_stage`)."""
    v = not_tested(ch.dense, [dense_only, sparse_only], "C3") or _selection_readable(ch, "C3")
    if v:
        return v
    d = ch.d
    s_on_d, ls_d = ch.dense[sparse_only], ch.dense[LEAST_SQUARES]
    sel_ks = selection_range(d)
    s = selection_fraction(ch.sparse, dense_only, sel_ks)

    def at_d(name: str, side: Callable, threshold: float) -> Callable[[Mapping[str, Curve]], Stage]:
        """The error of ``name`` at k = d against ``threshold`` (``side``: at_least or at_most)."""

        def decide(curves: Mapping[str, Curve]) -> Stage:
            c = curves[name]
            return Stage(
                side(c.mean[d], c.lo[d], c.hi[d], threshold, c.per_prompt.shape[0]),
                f"{ci(c.mean[d], c.lo[d], c.hi[d])} at k={d}",
            )

        return decide

    parts = [
        (
            f"{sparse_only} on dense prompts",
            _stages(ch, ClassName.DENSE, [sparse_only], at_d(sparse_only, at_least, fails)),
        ),
        (
            f"least squares on dense prompts (the task is solvable at k={d})",
            _stages(ch, ClassName.DENSE, [LEAST_SQUARES], at_d(LEAST_SQUARES, at_most, solvable)),
        ),
        (f"{dense_only} on sparse prompts", at_most(s.mean(), s.mean(), s.mean(), like_ls)),
    ]
    return Verdict.judge(
        "C3",
        parts,
        [
            f"{sparse_only} on dense prompts at k={d} (= d): {fmt(s_on_d.mean[d])} [95% CI "
            f"{fmt(s_on_d.lo[d])}, {fmt(s_on_d.hi[d])}] (criterion >= {fails}), least squares "
            f"{fmt(ls_d.mean[d])} [95% CI up to {fmt(ls_d.hi[d])}] (criterion <= {solvable})",
            f"{dense_only} on sparse prompts closes a mean {fmt(float(s.mean()))} of the "
            f"least-squares-to-Lasso gap over k={sel_ks[0]}..{sel_ks[-1]} (criterion <= {like_ls}, on means; "
            f"per k: {', '.join(fmt(x) for x in s)})",
            _strict_c3(ch, dense_only, sparse_only),
        ],
    )


def _strict_c3(ch: LinearChapter, dense_only: str, sparse_only: str) -> str:
    """C3's criteria before 2026-12-01 (written for d = 10), as one line: at k = 10 the
    sparse-only model on dense prompts errs >= 0.2 and least squares <= 0.01; at k = 5 the
    dense-only model on sparse prompts is within 0.05 of least squares and at least twice Lasso."""
    if ch.dense[sparse_only].mean.shape[0] <= 10:
        return "strict (old criteria at k=10 and k=5): no k=10 in the curves"
    s_on_d, ls_d = float(ch.dense[sparse_only].mean[10]), float(ch.dense[LEAST_SQUARES].mean[10])
    d_on_s, ls_s, lasso_s = (float(ch.sparse[n].mean[5]) for n in (dense_only, LEAST_SQUARES, LASSO))
    ok = s_on_d >= 0.2 and ls_d <= 0.01 and abs(d_on_s - ls_s) <= 0.05 and d_on_s >= 2 * lasso_s
    return (
        f"strict (old criteria: at k=10 {sparse_only} on dense prompts >= 0.2 and least squares <= 0.01; at "
        f"k=5 {dense_only} on sparse prompts within 0.05 of least squares and at least twice Lasso): "
        f"{outcome(ok)}; {fmt(s_on_d)}, {fmt(ls_d)}; {fmt(d_on_s)} vs least squares {fmt(ls_s)}, Lasso "
        f"{fmt(lasso_s)}"
    )

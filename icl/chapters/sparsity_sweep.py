"""Chapter 2, the sparsity sweep (notebook ``02_sparsity_sweep``): error against nnz, C4-C5.

This module owns what chapter 2 evaluates and how it is judged: :func:`sparsity_chapter`
scores the runs and chapter 1's reference predictors on sparse prompts of every nnz
= 1..d, as a :class:`~icl.chapters.sweeps.Sweep` against nnz that also records the mixture
model's prediction distance to each single-class model; :func:`verdict_c4` (the mixture
never much worse than the better specialist) and :func:`verdict_c5` (it tracks the sparse
model at small nnz, the dense one at large nnz, and neither in between) judge the sweep;
:func:`seed_spread` sets two seeds' sweeps side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..evaluate import Predictor, sample_prompts
from ..tasks import SparseLinear
from .model_selection import LASSO, LEAST_SQUARES, bayes_mixture_name, linear_baselines, seed_row
from .sweeps import Sweep, sweep
from .verdict import NOT_TESTED, Verdict, at_most, fmt, not_tested

__all__ = ["sparsity_baselines", "SparsityChapter", "sparsity_chapter", "verdict_c4", "verdict_c5", "seed_spread"]


def sparsity_baselines(d: int, nnz: int, lasso_alpha: float, w_mix: float = 0.5) -> dict:
    """Chapter 2's reference predictors, chapter 1's own (:func:`linear_baselines`): least
    squares, the Lasso and the Bayes-optimal predictor of the ``w_mix`` mixture prior."""
    full = linear_baselines(d, nnz, w_mix, lasso_alpha)
    return {name: full[name] for name in (LEAST_SQUARES, LASSO, bayes_mixture_name(w_mix))}


@dataclass
class SparsityChapter:
    """Chapter 2: the sweep over nnz = 1..d of sparse prompts in d dimensions."""

    d: int
    sweep: Sweep  # against nnz; distances from the mixture run to the single-class runs
    missing: list[str]
    n_prompts: int


def sparsity_chapter(models: Mapping[str, Predictor], baselines: Mapping[str, Predictor], d: int = 10,
                     n_points: int = 21, ks: Sequence[int] = (5, 10), n_prompts: int = 1280, seed: int = 2,
                     mix: str = "linear-w0.50", others: Sequence[str] = ("linear-w0.00", "linear-w1.00"),
                     missing: Sequence[str] = (), n_boot: int = 500) -> SparsityChapter:
    """Error at fixed k for nnz = 1..d, and the mixture model's distance to the single-class models."""
    prompts = lambda s: sample_prompts(SparseLinear(d, s, normalize=True), n_prompts, n_points,  # noqa: E731
                                       seed=seed * 1000 + s)
    sw = sweep({**models, **baselines}, "nnz", np.arange(1, d + 1), prompts, ks, seed, n_boot,
               distances=(mix, [o for o in others if o in models] if mix in models else []))
    return SparsityChapter(d, sw, list(missing), n_prompts)


def verdict_c4(ch: SparsityChapter, mix: str = "linear-w0.50",
               singles: Sequence[str] = ("linear-w0.00", "linear-w1.00"), tol: float = 0.05) -> Verdict:
    """C4: across nnz the mixture model is never worse than the better single-class model by > tol
    (on means; criterion unchanged on 2026-12-01: the Bayes-optimal models pass it)."""
    sw = ch.sweep
    v = not_tested(sw.error, [mix, *singles], "C4")
    if v:
        return v
    best = np.minimum.reduce([sw.error[s] for s in singles])
    excess = sw.error[mix] - best  # (S, K)
    i, j = np.unravel_index(np.argmax(excess), excess.shape)
    worst = float(excess.max())
    part = (f"largest excess (nnz={sw.values[i]}, k={sw.ks[j]})", at_most(worst, worst, worst, tol))
    return Verdict.judge("C4", [part], [
        f"largest excess of {mix} over the better single-class model: {fmt(float(excess.max()))} "
        f"at nnz={sw.values[i]}, k={sw.ks[j]} (criterion <= {tol})",
    ])


def verdict_c5(ch: SparsityChapter, sparse_only: str = "linear-w0.00", dense_only: str = "linear-w1.00",
               k_index: int = 0, differ: float = 0.02) -> Verdict:
    """C5: the mixture model tracks the sparse model at small nnz (closest at nnz 1-2), the dense
    model at large nnz (closest at nnz d-1 or d), and at some intermediate nnz (3 to d-2, d read
    from the chapter) differs from both (mean squared distance to the nearer > ``differ``)."""
    sw, d = ch.sweep, ch.d
    ds, dd = sw.distance.get(sparse_only), sw.distance.get(dense_only)
    if ds is None or dd is None:
        return Verdict("C5", NOT_TESTED, ["missing trained runs for the prediction distances"])
    nnz = sw.values
    inner = np.flatnonzero((nnz >= 3) & (nnz <= d - 2))
    if inner.size == 0:
        return Verdict("C5", NOT_TESTED, [f"no intermediate nnz 3..d-2 at d={d}"])
    k = sw.ks[k_index]
    ds, dd = ds[:, k_index], dd[:, k_index]
    near_s, near_d = int(nnz[np.argmin(ds)]), int(nnz[np.argmin(dd)])
    both = np.minimum(ds, dd)
    mid = int(inner[np.argmax(both[inner])])
    parts = [("small nnz", near_s <= 2), ("large nnz", near_d >= d - 1),
             ("intermediate nnz", float(both[mid]) > differ)]
    return Verdict.judge("C5", parts, [
        f"at k={k}: distance to {sparse_only} is smallest at nnz={near_s} (criterion: 1-2); "
        f"to {dense_only} smallest at nnz={near_d} (criterion: {d - 1}-{d})",
        f"largest distance to the nearer of the two at nnz={nnz[inner[0]]}..{nnz[inner[-1]]}: "
        f"{fmt(float(both[mid]))} at nnz={nnz[mid]} (criterion > {differ})",
    ])


def seed_spread(first: SparsityChapter, second: SparsityChapter, pairs: Sequence[tuple[str, str]]):
    """Each run of ``first`` beside its second seed in ``second`` (the same prompts: both sweeps
    drawn with one evaluation seed), at every nnz and k: the two mean errors and their distance."""
    import pandas as pd

    if list(first.sweep.ks) != list(second.sweep.ks) or not np.array_equal(first.sweep.values, second.sweep.values):
        raise ValueError(f"the two sweeps are read at different nnz or k: {first.sweep.ks} and {second.sweep.ks}")
    rows = []
    for a, b in pairs:
        if a not in first.sweep.error or b not in second.sweep.error:
            continue
        ea, eb = first.sweep.error[a], second.sweep.error[b]  # (V, K)
        for i, nnz in enumerate(first.sweep.values):
            for j, k in enumerate(first.sweep.ks):
                rows.append(seed_row(a, {"nnz": int(nnz), "k": int(k)}, ea[i, j], eb[i, j]))
    return pd.DataFrame(rows)

"""Chapter 2, the sparsity sweep (notebook ``02_sparsity_sweep``): error against nnz, C4-C5.

This module owns what chapter 2 evaluates and how it is judged: :func:`sparsity_chapter`
scores the runs and chapter 1's reference predictors on sparse prompts of every nnz
= 1..d, as a :class:`~icl.chapters.sweeps.Sweep` against nnz that also records the mixture
model's prediction distance to each single-class model (per prompt, with its interval),
and the single-class runs' full curves at the pretraining nnz (:attr:`SparsityChapter.pretraining`,
for the precondition); :func:`verdict_c4` (the mixture never much worse than the better
specialist) and :func:`verdict_c5` (it tracks the sparse model at small nnz, the dense one
at large nnz, and neither in between) judge the sweep on paired 95% bootstrap intervals
(since 2026-12-04; the judgement on means is the ``before`` line), each part left
inconclusive decided on a second stage of fresh prompts (the sweep drawn again for the
runs it reads, :class:`~icl.chapters.stages.Redraw`; :func:`~icl.chapters.verdict.two_stage`);
:func:`seed_spread` sets two seeds' sweeps side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..evaluate import Curve, Predictor, bootstrap_ci, evaluate, sample_prompts
from ..tasks import SparseLinear
from .model_selection import (
    DENSE_RUN,
    LASSO,
    LEAST_SQUARES,
    MIX_RUN,
    SPARSE_RUN,
    W_MIX,
    bayes_mixture_name,
    geometry,
    linear_baselines,
    seed_row,
    selection_precondition,
)
from .preconditions import judged_if
from .stages import Redraw, SweepSet
from .sweeps import Sweep, sweep
from .verdict import (
    Decision,
    Outcome,
    Stage,
    StageFn,
    Verdict,
    at_least,
    at_most,
    ci,
    every_stage,
    fmt,
    not_tested,
    outcome,
    some_stage,
    two_stage,
)

__all__ = [
    "sparsity_baselines",
    "SparsityChapter",
    "sparsity_chapter",
    "precondition",
    "verdict_c4",
    "verdict_c5",
    "seed_spread",
]


def sparsity_baselines(d: int, nnz: int, lasso_alpha: float, w_mix: float = W_MIX) -> dict:
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
    nnz: int | None = None  # the pretraining sparsity
    # full curves of the single-class runs, least squares and the Lasso on the sweep's prompts of nnz
    pretraining: dict[str, Curve] = field(default_factory=dict)
    seed: int | None = None  # the evaluation seed the sweep's prompts were drawn from
    redraw: Redraw | None = field(default=None, repr=False)  # set "nnz": the sweep, for second stages

    def again(
        self,
        names: Sequence[str],
        values: np.ndarray,
        second: bool = True,
        distances: tuple[str, Sequence[str]] | None = None,
    ) -> Callable[[int, int], Sweep] | None:
        """How to draw the sweep again for the runs ``names`` at ``values`` (``(n, seed) -> Sweep``),
        or None when there is no second stage (``second`` False, or no predictors kept)."""
        if not second or self.redraw is None or self.seed is None:
            return None
        return lambda n, seed: self.redraw.sweep("nnz", names, values, n, seed, distances=distances)


def sparsity_chapter(
    models: Mapping[str, Predictor],
    baselines: Mapping[str, Predictor],
    d: int | None = None,
    n_points: int | None = None,
    ks: Sequence[int] | None = None,
    n_prompts: int = 1280,
    seed: int = 2,
    mix: str = MIX_RUN,
    others: Sequence[str] = (SPARSE_RUN, DENSE_RUN),
    missing: Sequence[str] = (),
    n_boot: int = 500,
    nnz: int | None = None,
) -> SparsityChapter:
    """Error at fixed k for nnz = 1..d, and the mixture model's distance to the single-class
    models; with the pretraining ``nnz``, also the full curves of the single-class models, least
    squares and the Lasso (from ``baselines``) on the sweep's prompts of that nnz (the precondition).
    ``d`` and ``n_points`` not given are the cpu scale's (:func:`geometry`); ``ks`` not given: d/2 and d."""
    cpu = geometry("cpu")
    d, n_points = cpu.d if d is None else d, cpu.n_points if n_points is None else n_points
    ks = (max(1, d // 2), d) if ks is None else ks

    def draw(s, n, ev):
        return sample_prompts(SparseLinear(d, int(s), normalize=True), n, n_points, seed=ev * 1000 + int(s))

    prompts = lambda s: draw(s, n_prompts, seed)  # noqa: E731
    sw = sweep(
        {**models, **baselines},
        "nnz",
        np.arange(1, d + 1),
        prompts,
        ks,
        seed,
        n_boot,
        distances=(mix, [o for o in others if o in models] if mix in models else []),
    )
    pretraining = {}
    if nnz is not None:
        preds = {
            **{o: models[o] for o in others if o in models},
            **{n: baselines[n] for n in (LEAST_SQUARES, LASSO) if n in baselines},
        }
        pretraining = evaluate(preds, None, prompts=prompts(nnz), n_boot=n_boot, seed=seed)
    redraw = Redraw({"nnz": SweepSet("nnz", draw, {**models, **baselines}, list(ks))}, n_boot)
    return SparsityChapter(d, sw, list(missing), n_prompts, nnz, pretraining, seed, redraw)


def precondition(ch: SparsityChapter, sparse_only: str, selects: float = 0.5):
    """C4's and C5's precondition (2026-12-04), C1's (:func:`selection_precondition`): the
    sparse-only model selects, read on this chapter's prompts of the pretraining nnz."""
    return selection_precondition(
        ch.pretraining,
        sparse_only,
        ch.d,
        selects,
        f" on chapter 2's prompts of nnz={ch.nnz}"
        if ch.nnz is not None
        else " (the chapter was built without the pretraining nnz)",
    )


def verdict_c4(
    ch: SparsityChapter,
    mix: str = MIX_RUN,
    singles: Sequence[str] = (SPARSE_RUN, DENSE_RUN),
    tol: float = 0.05,
    sparse_only: str | None = None,
    selects: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
) -> Verdict:
    """C4: at every nnz and k of the sweep the mixture model's excess over the better (on means)
    single-class model, ``err_mix - err_best`` on the same prompts, is at most ``tol``, judged on
    its paired 95% bootstrap interval (on means until 2026-12-04: the ``before`` line). The
    criterion is unchanged: the Bayes-optimal models pass it. Precondition: :func:`precondition`
    for ``sparse_only`` (default: ``singles[0]``). Left inconclusive, the part is decided on a
    second stage: the sweep of the three runs drawn again (:func:`~icl.chapters.verdict.two_stage`;
    not with the precondition unmet)."""
    sw = ch.sweep
    v = not_tested(sw.error, [mix, *singles], "C4")
    if v:
        return v
    if not all(n in sw.per_prompt for n in (mix, *singles)):
        return Verdict("C4", Outcome.NOT_TESTED, ["the sweep kept no per-prompt errors: no paired interval"])
    m, lo, hi = _excess_c4(sw, mix, singles, n_boot, seed)
    pre = precondition(ch, sparse_only or singles[0], selects)
    decide = lambda s: _c4_stage(*_excess_c4(s, mix, singles, n_boot, seed), s, tol)  # noqa: E731
    again = ch.again([mix, *singles], sw.values, pre.met)
    part = two_stage(
        _c4_stage(m, lo, hi, sw, tol),
        sw.per_prompt[mix].shape[1],
        ch.seed or 0,
        None if again is None else lambda n, s: decide(again(n, s)),
    )
    i, j = np.unravel_index(np.argmax(hi), hi.shape)
    a, b = np.unravel_index(np.argmax(m), m.shape)
    worst = float(m.max())
    return judged_if(
        pre,
        Verdict.judge(
            "C4",
            [("excess at every nnz and k", part)],
            [
                f"excess of {mix} over the better single-class model (paired, per nnz and k): largest upper "
                f"end {fmt(float(m[i, j]))} [95% CI {fmt(float(lo[i, j]))}, {fmt(float(hi[i, j]))}] at "
                f"nnz={sw.values[i]}, k={sw.ks[j]}; largest mean {fmt(worst)} [95% CI "
                f"{fmt(float(lo[a, b]))}, {fmt(float(hi[a, b]))}] at nnz={sw.values[a]}, k={sw.ks[b]} "
                f"(criterion <= {tol} at every nnz and k)",
                f"before (on means, until 2026-12-04): {outcome(worst <= tol)}; largest excess "
                f"{fmt(worst)} at nnz={sw.values[a]}, k={sw.ks[b]} (criterion <= {tol})",
            ],
        ),
    )


def _excess_c4(
    sw: Sweep, mix: str, singles: Sequence[str], n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """C4's excess of ``mix`` over the better (on means) of ``singles`` at each nnz and k of the
    sweep, paired per prompt: (V, K) estimates and 95% interval ends."""
    means = np.stack([sw.error[s] for s in singles])  # (M, V, K)
    best = np.argmin(means, axis=0)  # (V, K)
    per_best = np.take_along_axis(np.stack([sw.per_prompt[s] for s in singles]), best[None, :, None, :], 0)[0]
    diff = sw.per_prompt[mix] - per_best  # (V, P, K)
    return bootstrap_ci(np.moveaxis(diff, 1, 0), n_boot=n_boot, seed=seed)  # (V, K) each


def _c4_stage(m: np.ndarray, lo: np.ndarray, hi: np.ndarray, sw: Sweep, tol: float) -> Stage:
    """C4's part from its excesses: at most ``tol`` at every nnz and k, read where it decides."""
    n = next(iter(sw.per_prompt.values())).shape[1]
    return every_stage(
        [
            (
                at_most(m[i, j], lo[i, j], hi[i, j], tol, n),
                f"excess {ci(m[i, j], lo[i, j], hi[i, j])} at nnz={sw.values[i]}, k={sw.ks[j]}",
            )
            for i in range(m.shape[0])
            for j in range(m.shape[1])
        ]
    )


def _boot_means(per: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap means of ``per`` (V, P, M): prompts resampled independently for each swept value
    (each value has its own prompts), the same resample for the M quantities of one value
    (paired). Returns (n_boot, V, M)."""
    rng = np.random.default_rng(seed)
    V, P, _ = per.shape
    return np.stack([per[v][rng.integers(0, P, (n_boot, P))].mean(1) for v in range(V)], 1)


def _positive(q: float, lo: float, hi: float, n: int, threshold: float = 0.0) -> Decision:
    """ "Above ``threshold``" on the interval; an interval whose lower end is exactly 0 (two
    identical predictors) is undecided, not a hold."""
    return (
        Decision(None, 0.0, None, n) if threshold == 0.0 and lo == 0.0 else at_least(q, lo, hi, threshold, n)
    )


# long: C5's three parts and the docstring that states them
def verdict_c5(
    ch: SparsityChapter,
    sparse_only: str = SPARSE_RUN,
    dense_only: str = DENSE_RUN,
    k_index: int = 0,
    differ: float = 0.02,
    selects: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
) -> Verdict:
    """C5 at the sweep's ``k_index``-th k, three parts on paired 95% bootstrap intervals (prompts
    resampled within each nnz; on means until 2026-12-04: the ``before`` line):

    1. small nnz: the mixture model's distance to the sparse model is smallest at nnz 1-2: the
       smallest distance at nnz >= 3 minus the smallest at nnz 1-2 has its interval above 0;
    2. large nnz: likewise to the dense model at nnz d-1..d against nnz <= d-2;
    3. intermediate: at some nnz in 3..d-2 (d read from the chapter) the distance to the nearer
       of the two, min(to sparse, to dense) on the same prompts, has its interval above ``differ``.

    Precondition: :func:`precondition` (the sparse-only model selects). A part left inconclusive
    is decided on a second stage, the sweep's distances drawn again at the nnz it reads
    (:func:`~icl.chapters.verdict.two_stage`; not with the precondition unmet)."""
    sw, d = ch.sweep, ch.d
    ds, dd = sw.distance.get(sparse_only), sw.distance.get(dense_only)
    if ds is None or dd is None:
        return Verdict("C5", Outcome.NOT_TESTED, ["missing trained runs for the prediction distances"])
    nnz = sw.values
    inner = np.flatnonzero((nnz >= 3) & (nnz <= d - 2))
    if inner.size == 0:
        return Verdict("C5", Outcome.NOT_TESTED, [f"no intermediate nnz 3..d-2 at d={d}"])
    if sparse_only not in sw.distance_per_prompt or dense_only not in sw.distance_per_prompt:
        return Verdict("C5", Outcome.NOT_TESTED, ["the sweep kept no per-prompt distances: no interval"])
    k = sw.ks[k_index]
    est, lo, hi, n = _c5_stats(sw, sparse_only, dense_only, k_index, d, n_boot, seed)
    both = est[2:]
    pre = precondition(ch, sparse_only, selects)
    mix, parts = sw.distance_from, []
    for name in C5_PARTS:
        stage = _c5_stage(name, est, lo, hi, n, nnz, inner, differ)
        again = ch.again(
            [mix, sparse_only, dense_only],
            nnz[inner] if name == "intermediate nnz" else nnz,
            pre.met,
            distances=(mix, [sparse_only, dense_only]),
        )
        parts.append(
            (
                name,
                two_stage(
                    stage,
                    n,
                    ch.seed or 0,
                    again
                    and _c5_again(again, name, sparse_only, dense_only, k_index, d, differ, n_boot, seed),
                ),
            )
        )
    near_s, near_d = int(nnz[np.argmin(ds[:, k_index])]), int(nnz[np.argmin(dd[:, k_index])])
    mid = int(inner[np.argmax(both[inner])])
    old = [near_s <= 2, near_d >= d - 1, float(both[mid]) > differ]
    old_failed = [name for (name, _), ok in zip(parts, old) if not ok]
    return judged_if(
        pre,
        Verdict.judge(
            "C5",
            parts,
            [
                f"at k={k}: distance to {sparse_only} is smallest at nnz={near_s} (criterion: 1-2; smallest "
                f"at nnz >= 3 minus smallest at 1-2: {fmt(est[0])} [95% CI {fmt(lo[0])}, {fmt(hi[0])}], "
                f"criterion > 0); to {dense_only} smallest at nnz={near_d} (criterion: {d - 1}-{d}; smallest "
                f"at nnz <= {d - 2} minus smallest at {d - 1}-{d}: {fmt(est[1])} [95% CI {fmt(lo[1])}, "
                f"{fmt(hi[1])}], criterion > 0)",
                f"largest distance to the nearer of the two at nnz={nnz[inner[0]]}..{nnz[inner[-1]]}: "
                f"{fmt(float(both[mid]))} [95% CI {fmt(lo[2 + mid])}, {fmt(hi[2 + mid])}] at nnz={nnz[mid]} "
                f"(criterion: CI > {differ} at some such nnz)",
                f"before (on means, until 2026-12-04): {outcome(not old_failed)}"
                + (f"; fails on: {'; '.join(old_failed)}" if old_failed else ""),
            ],
        ),
    )


def _c5_stats(
    sw: Sweep, sparse_only: str, dense_only: str, k_index: int, d: int, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """C5's quantities at the sweep's ``k_index``-th k, with their 95% intervals (prompts resampled
    within each nnz, the two distances paired): (2 + V,) estimates, lower and upper ends, and the
    prompts per nnz. First the two end quantities (the small- and the large-nnz part; NaN when the
    sweep lacks the nnz an end reads), then min(to sparse, to dense) at each nnz of the sweep."""
    nnz = sw.values
    per = np.stack(
        [sw.distance_per_prompt[sparse_only][..., k_index], sw.distance_per_prompt[dense_only][..., k_index]],
        -1,
    )  # (V, P, 2)
    small, large = nnz <= 2, nnz >= d - 1
    ends = small.any() and (~small).any() and large.any() and (~large).any()

    def stats(mean: np.ndarray) -> np.ndarray:
        """(..., V, 2) means -> (..., 2 + V): the two end quantities, then min(to sparse, to dense)
        per nnz."""
        s, e = mean[..., 0], mean[..., 1]
        nan = np.full(s.shape[:-1], np.nan)
        q_small = s[..., ~small].min(-1) - s[..., small].min(-1) if ends else nan
        q_large = e[..., ~large].min(-1) - e[..., large].min(-1) if ends else nan
        return np.concatenate([q_small[..., None], q_large[..., None], np.minimum(s, e)], -1)

    est = stats(per.mean(1))
    lo, hi = np.quantile(stats(_boot_means(per, n_boot, seed)), [0.025, 0.975], axis=0)
    return est, lo, hi, per.shape[1]


C5_PARTS = ("small nnz", "large nnz", "intermediate nnz")  # C5's parts, in order


def _c5_stage(
    name: str,
    est: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    n: int,
    nnz: np.ndarray,
    inner: np.ndarray,
    differ: float,
) -> Stage:
    """C5's part ``name`` (one of :data:`C5_PARTS`) from :func:`_c5_stats` (``inner``: the indices
    of nnz 3..d-2 in ``nnz``)."""
    if name != "intermediate nnz":
        q = C5_PARTS.index(name)
        return Stage(_positive(est[q], lo[q], hi[q], n), f"difference {ci(est[q], lo[q], hi[q])}")
    both = est[2:]
    return some_stage(
        [
            (
                at_least(both[i], lo[2 + i], hi[2 + i], differ, n),
                f"distance {ci(both[i], lo[2 + i], hi[2 + i])} at nnz={nnz[i]}",
            )
            for i in inner
        ]
    )


def _c5_again(
    again: Callable[[int, int], Sweep],
    name: str,
    sparse_only: str,
    dense_only: str,
    k_index: int,
    d: int,
    differ: float,
    n_boot: int,
    seed: int,
) -> StageFn:
    """C5's part ``name`` decided on the sweep drawn again (``again``: the nnz the part reads)."""

    def stage(n: int, eval_seed: int) -> Stage:
        sw = again(n, eval_seed)
        est, lo, hi, m = _c5_stats(sw, sparse_only, dense_only, k_index, d, n_boot, seed)
        inner = np.flatnonzero((sw.values >= 3) & (sw.values <= d - 2))
        return _c5_stage(name, est, lo, hi, m, sw.values, inner, differ)

    return stage


def seed_spread(first: SparsityChapter, second: SparsityChapter, pairs: Sequence[tuple[str, str]]):
    """Each run of ``first`` beside its second seed in ``second`` (the same prompts: both sweeps
    drawn with one evaluation seed), at every nnz and k: the two mean errors and their distance."""
    import pandas as pd

    if list(first.sweep.ks) != list(second.sweep.ks) or not np.array_equal(
        first.sweep.values, second.sweep.values
    ):
        raise ValueError(
            f"the two sweeps are read at different nnz or k: {first.sweep.ks} and {second.sweep.ks}"
        )
    rows = []
    for a, b in pairs:
        if a not in first.sweep.error or b not in second.sweep.error:
            continue
        ea, eb = first.sweep.error[a], second.sweep.error[b]  # (V, K)
        for i, nnz in enumerate(first.sweep.values):
            for j, k in enumerate(first.sweep.ks):
                rows.append(seed_row(a, {"nnz": int(nnz), "k": int(k)}, ea[i, j], eb[i, j]))
    return pd.DataFrame(rows)

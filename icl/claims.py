"""The study's claims as computations: what each chapter evaluates and its verdicts.

This module owns the logic behind notebooks 01-02, so that a notebook is narrative,
parameters and a few calls, and what every chapter shares: loading runs
(:func:`load_runs`, :func:`check_runs`), the :class:`Verdict` type and its
:meth:`Verdict.judge`, and the comparison helpers :mod:`icl.chapters` reuses
(:func:`mixture_matches_specialists`, ``settles_from``). :func:`linear_chapter` evaluates the
dense/sparse runs and the reference predictors on shared prompts, :func:`sparsity_sweep` the
error against nnz; ``verdict_c1`` ... ``verdict_c5`` turn those numbers into a
:class:`Verdict` with the criteria of the issue tracker (thresholds are arguments, never
tuned after the fact). A verdict is ``HELD``, ``NOT HELD`` or ``NOT TESTED`` (a run it
needs is missing, or the evaluation lacks a value the criterion reads); the first detail
line names the parts that fail, the others print the numbers each part was decided on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from .baselines import BayesDense, BayesDenseSparse, BayesSparse, Lasso, LeastSquares
from .checkpoint import RunNotTrainedError, load_run, run_dir
from .config import RUNS, get_run_config, run_names
from .evaluate import Curve, errors, evaluate, predict, sample_prompts
from .notebook import ParameterError
from .tasks import DenseLinear, SparseLinear

__all__ = ["Verdict", "load_runs", "run_source", "describe_sources", "check_runs", "LinearChapter", "linear_chapter",
           "choose_lasso_alpha", "verdict_c1", "verdict_c2", "verdict_c3", "sparsity_sweep", "verdict_c4", "verdict_c5",
           "mixture_matches_specialists", "check_run_params"]


@dataclass
class Verdict:
    claim: str
    status: str  # "HELD" | "NOT HELD" | "NOT TESTED"
    details: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.status == "HELD"

    def __str__(self) -> str:
        return "\n".join([f"{self.claim} {self.status}"] + [f"    {d}" for d in self.details])

    @classmethod
    def judge(cls, claim: str, parts: Sequence[tuple[str, bool]], details: Sequence[str]) -> "Verdict":
        """HELD iff every named part holds; the first detail line names the parts that fail
        ("fails on: ...") or says every part holds, so a reader need not compare criteria by eye."""
        failed = [name for name, ok in parts if not ok]
        summary = f"fails on: {'; '.join(failed)}" if failed else "every part holds"
        return cls(claim, "NOT HELD" if failed else "HELD", [summary, *details])


def check_runs(names: Sequence[str], param: str = "runs") -> list[str]:
    """Validate a notebook's run-list parameter (named ``param``): a list of known run names."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ParameterError(f"parameter {param}={names!r} must be a list of run names, e.g. {run_names()[:2]}")
    bad = [n for n in names if n not in RUNS]
    if bad:
        raise ParameterError(f"parameter {param}={list(names)!r}: unknown run name {bad[0]!r}; allowed: "
                             f"{', '.join(run_names())}")
    return list(names)


def check_run_params(**params: str) -> list[str]:
    """Validate single-run notebook parameters given by name, e.g.
    ``check_run_params(mix_run=mix_run, dense_run=dense_run)``; returns the run names."""
    for param, name in params.items():
        if not isinstance(name, str) or name not in RUNS:
            raise ParameterError(f"parameter {param}={name!r} is not a run of the study; allowed: "
                                 f"{', '.join(run_names())}")
    return list(params.values())


def run_source(name: str, root: Path | None = None) -> Path:
    """Where a run is read from: ``root/<name>`` if that folder exists, else the committed ``data/runs/<name>``."""
    return run_dir(name, root) if root is not None and run_dir(name, root).exists() else run_dir(name)


def load_runs(names: Sequence[str], allow_partial: bool = False,
              root: Path | None = None) -> tuple[dict, dict, list[str]]:
    """Load the runs that exist: (models, configs, missing names).

    ``root`` is a folder holding ``<run name>/`` checkpoints (the notebooks' ``runs_dir``): a
    run found there replaces the committed one, the others come from ``data/runs`` (see
    :func:`run_source`). The chapters evaluate the prompts of the ``cpu`` scale, so a run
    trained on another input dimension or on shorter prompts is refused here with the
    reason, instead of being judged on prompts it never saw.
    """
    models, configs, missing = {}, {}, []
    for name in check_runs(names):
        where = run_source(name, root)
        try:
            model, config = load_run(name, root=where.parent, allow_partial=allow_partial)
        except RunNotTrainedError:
            missing.append(name)
            continue
        if config.name != name:
            raise ParameterError(f"{where} holds run {config.name!r}, not {name!r}: a run's folder must carry its name")
        want = get_run_config(name, "cpu")
        trained_len = min(config.model.n_points, config.curriculum.points.end)
        if config.task.n_dims != want.task.n_dims or trained_len < want.model.n_points:
            raise ParameterError(
                f"run {name!r} at {where} was trained on d={config.task.n_dims} with prompts of up to {trained_len} "
                f"points; the notebooks evaluate the cpu scale's prompts (d={want.task.n_dims}, "
                f"{want.model.n_points} points) and criteria, which this run does not fit")
        models[name], configs[name] = model, config
    return models, configs, missing


def describe_sources(names: Sequence[str], root: Path | None) -> str:
    """One line for a notebook: which runs come from ``runs_dir`` (empty when it is not set)."""
    if root is None:
        return ""
    mine = [n for n in names if run_source(n, root) != run_dir(n)]
    return f"from runs_dir {root}: {', '.join(mine) or 'none'}; the others from data/runs"


def _fmt(x: float) -> str:
    return f"{x:.3f}"


# --------------------------------------------------------------------------- chapter 1


def choose_lasso_alpha(fc, n_points: int, alphas: Sequence[float], seed: int, n_prompts: int = 256) -> float:
    """The Lasso penalty with the lowest mean error over k = 1..n-1 on held-out prompts
    (a seed different from the evaluation prompts)."""
    prompts = sample_prompts(fc, n_prompts, n_points, seed=seed + 10_007)
    scores = {a: errors(predict(Lasso(a), prompts), prompts)[:, 1:].mean() for a in alphas}
    return min(scores, key=scores.get)


@dataclass
class LinearChapter:
    """Curves of every model and baseline on dense and on sparse prompts."""

    dense: dict[str, Curve]
    sparse: dict[str, Curve]
    lasso_alpha: float
    missing: list[str]
    n_prompts: int

    def table(self, ks: Sequence[int]):
        import pandas as pd

        rows = []
        for task, curves in (("dense", self.dense), ("sparse", self.sparse)):
            for name, c in curves.items():
                rows.append({"task": task, "predictor": name,
                             **{f"k={k}": round(float(c.mean[k]), 3) for k in ks}})
        return pd.DataFrame(rows)


def linear_baselines(d: int, nnz: int, w_mix: float, lasso_alpha: float) -> dict:
    """Reference predictors for the dense/sparse chapter (unit-variance priors)."""
    sd, ss = 1 / math.sqrt(d), 1 / math.sqrt(nnz)
    return {
        "least squares": LeastSquares(),
        "Lasso": Lasso(lasso_alpha),
        "Bayes dense": BayesDense(sd),
        "Bayes sparse": BayesSparse(d, nnz, ss),
        f"Bayes mixture w={w_mix:g}": BayesDenseSparse(d, nnz, w_mix, sd, ss),
    }


def linear_chapter(models: Mapping[str, torch.nn.Module], d: int = 10, nnz: int = 2, n_points: int = 21,
                   n_prompts: int = 1280, seed: int = 1, w_mix: float = 0.5,
                   lasso_alphas: Sequence[float] = (1e-3, 1e-2, 1e-1), missing: Sequence[str] = (),
                   n_boot: int = 1000) -> LinearChapter:
    dense, sparse = DenseLinear(d, normalize=True), SparseLinear(d, nnz, normalize=True)
    alpha = choose_lasso_alpha(sparse, n_points, lasso_alphas, seed)
    preds = {**models, **linear_baselines(d, nnz, w_mix, alpha)}
    return LinearChapter(
        dense=evaluate(preds, dense, n_prompts, n_points, seed=seed, n_boot=n_boot),
        sparse=evaluate(preds, sparse, n_prompts, n_points, seed=seed + 1, n_boot=n_boot),
        lasso_alpha=alpha, missing=list(missing), n_prompts=n_prompts,
    )


def _need(curves: Mapping, names: Sequence[str], claim: str) -> Verdict | None:
    """A NOT TESTED verdict naming the runs absent from ``curves``, or None if all are there."""
    absent = [n for n in names if n not in curves]
    if absent:
        return Verdict(claim, "NOT TESTED", [f"missing trained run(s): {', '.join(absent)}"])
    return None


def _max_gap(a: Curve, b: Curve, ks: np.ndarray) -> tuple[float, int]:
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


def mixture_matches_specialists(claim: str, mix: str, specialists: Sequence[tuple[str, Mapping[str, Curve], str]],
                                tol: float = 0.05, settle: bool = False) -> Verdict:
    """The shared form of C1 and C6: on each class's prompts (``(label, curves, specialist)``),
    the mixture model ``mix`` is within ``tol`` of that class's single-class model at every k >= 1."""
    first = specialists[0][1]
    v = _need(first, [mix, *(s for _, _, s in specialists)], claim)
    if v:
        return v
    ks = np.arange(1, first[mix].mean.shape[0])
    gaps = [(label, spec, *_max_gap(curves[mix], curves[spec], ks)) for label, curves, spec in specialists]
    parts = [(f"{label} prompts", g <= tol) for label, _, g, _ in gaps]
    held = all(ok for _, ok in parts)
    details = [f"{label} prompts: max |{mix} - {spec}| = {_fmt(g)} at k={k} (criterion <= {tol})"
               for label, spec, g, k in gaps]
    if settle and not held:  # where the gap is: only the first examples, or throughout?
        details += [f"{label} prompts: within {tol} from k={_k(settles_from(curves[mix], curves[spec], ks, tol))} on"
                    for label, curves, spec in specialists]
    return Verdict.judge(claim, parts, details)


def _k(k: int | None) -> str:
    return "never (still above at the last k)" if k is None else str(k)


def verdict_c1(ch: LinearChapter, mix: str = "linear-w0.50", dense_only: str = "linear-w1.00",
               sparse_only: str = "linear-w0.00", tol: float = 0.05) -> Verdict:
    """C1: the mixture model is within ``tol`` of each single-class model on its class, at every k."""
    return mixture_matches_specialists("C1", mix, [("dense", ch.dense, dense_only), ("sparse", ch.sparse, sparse_only)],
                                       tol)


def verdict_c2(ch: LinearChapter, mix: str = "linear-w0.50", dense_only: str = "linear-w1.00",
               sparse_only: str = "linear-w0.00", tol: float = 0.05, w_mix: float = 0.5) -> Verdict:
    """C2, five parts: averaged over k = 1..n-1, the dense-only model is within ``tol`` of least
    squares on dense prompts, the sparse-only model within ``tol`` of Lasso on sparse prompts,
    and the mixture model within ``tol`` of the Bayes-optimal predictor of the ``w_mix``
    mixture prior on both; and the sparse-only model selects: at k = 5 on sparse prompts its
    error is at most half of least squares'."""
    v = _need(ch.dense, [mix, dense_only, sparse_only], "C2")
    if v:
        return v
    ks = np.arange(1, ch.dense[mix].mean.shape[0])
    bayes_mix = f"Bayes mixture w={w_mix:g}"
    checks = [
        ("dense", dense_only, "least squares", ch.dense),
        ("sparse", sparse_only, "Lasso", ch.sparse),
        ("dense", mix, bayes_mix, ch.dense),
        ("sparse", mix, bayes_mix, ch.sparse),
    ]
    parts, details = [], []
    for task, model, ref, curves in checks:
        excess = curves[model].mean[ks] - curves[ref].mean[ks]
        avg, worst = float(excess.mean()), int(ks[np.argmax(excess)])
        parts.append((f"{task} ({model} vs {ref})", avg <= tol))
        details.append(f"{task}: {model} - {ref}: mean excess {_fmt(avg)} over k=1..{ks[-1]} "
                       f"(criterion <= {tol}); largest {_fmt(float(excess.max()))} at k={worst}")
    sel, ls = float(ch.sparse[sparse_only].mean[5]), float(ch.sparse["least squares"].mean[5])
    parts.append(("selection", sel <= 0.5 * ls))
    details.append(f"selection: {sparse_only} on sparse prompts at k=5: {_fmt(sel)} vs least squares "
                   f"{_fmt(ls)} (criterion <= half)")
    return Verdict.judge("C2", parts, details)


def verdict_c3(ch: LinearChapter, dense_only: str = "linear-w1.00", sparse_only: str = "linear-w0.00") -> Verdict:
    """C3: single-class models fail out of class."""
    v = _need(ch.dense, [dense_only, sparse_only], "C3")
    if v:
        return v
    s_on_d, ls_d = float(ch.dense[sparse_only].mean[10]), float(ch.dense["least squares"].mean[10])
    d_on_s, ls_s, lasso_s = (float(ch.sparse[n].mean[5]) for n in (dense_only, "least squares", "Lasso"))
    parts = [(f"{sparse_only} on dense prompts", s_on_d >= 0.2),
             ("least squares on dense prompts (the task is solvable at k=10)", ls_d <= 0.01),
             (f"{dense_only} on sparse prompts", abs(d_on_s - ls_s) <= 0.05 and d_on_s >= 2 * lasso_s)]
    return Verdict.judge("C3", parts, [
        f"{sparse_only} on dense prompts at k=10: {_fmt(s_on_d)} (criterion >= 0.2), least squares {_fmt(ls_d)} "
        f"(criterion <= 0.01)",
        f"{dense_only} on sparse prompts at k=5: {_fmt(d_on_s)}; least squares {_fmt(ls_s)} "
        f"(criterion: within 0.05), Lasso {_fmt(lasso_s)} (criterion: at least twice)",
    ])


# --------------------------------------------------------------------------- chapter 2


@dataclass
class SparsitySweep:
    nnz: np.ndarray  # (S,)
    ks: list[int]
    error: dict[str, np.ndarray]  # predictor -> (S, len(ks)) mean error
    lo: dict[str, np.ndarray]
    hi: dict[str, np.ndarray]
    distance: dict[str, np.ndarray]  # "to <run>" -> (S, len(ks)) mean squared prediction distance
    missing: list[str]


def sparsity_sweep(models: Mapping[str, torch.nn.Module], baselines: Mapping[str, object], d: int = 10,
                   n_points: int = 21, ks: Sequence[int] = (5, 10), n_prompts: int = 1280, seed: int = 2,
                   mix: str = "linear-w0.50", others: Sequence[str] = ("linear-w0.00", "linear-w1.00"),
                   missing: Sequence[str] = (), n_boot: int = 500) -> SparsitySweep:
    """Error at fixed k for nnz = 1..d, and the mixture model's distance to the single-class models."""
    from .evaluate import bootstrap_ci

    nnzs = np.arange(1, d + 1)
    ks = [int(k) for k in ks]
    preds_all = {**models, **baselines}
    err = {n: [] for n in preds_all}
    lo, hi = {n: [] for n in preds_all}, {n: [] for n in preds_all}
    dist = {f"to {o}": [] for o in others if o in models and mix in models}
    for s in nnzs:
        prompts = sample_prompts(SparseLinear(d, int(s), normalize=True), n_prompts, n_points, seed=seed * 1000 + int(s))
        p = {n: predict(f, prompts) for n, f in preds_all.items()}
        for n in preds_all:
            m, l, h = bootstrap_ci(errors(p[n], prompts)[:, ks], n_boot=n_boot, seed=seed)
            err[n].append(m), lo[n].append(l), hi[n].append(h)
        for o in others:
            if f"to {o}" in dist:
                dist[f"to {o}"].append((p[mix] - p[o]).square()[:, ks].mean(0).numpy())
    stack = lambda dct: {k: np.stack(v) for k, v in dct.items()}  # noqa: E731
    return SparsitySweep(nnzs, ks, stack(err), stack(lo), stack(hi), stack(dist), list(missing))


def verdict_c4(sw: SparsitySweep, mix: str = "linear-w0.50", singles: Sequence[str] = ("linear-w0.00", "linear-w1.00"),
               tol: float = 0.05) -> Verdict:
    """C4: across nnz the mixture model is never worse than the better single-class model by > tol."""
    v = _need(sw.error, [mix, *singles], "C4")
    if v:
        return v
    best = np.minimum.reduce([sw.error[s] for s in singles])
    excess = sw.error[mix] - best  # (S, K)
    i, j = np.unravel_index(np.argmax(excess), excess.shape)
    held = float(excess.max()) <= tol
    return Verdict.judge("C4", [(f"largest excess (nnz={sw.nnz[i]}, k={sw.ks[j]})", held)], [
        f"largest excess of {mix} over the better single-class model: {_fmt(float(excess.max()))} "
        f"at nnz={sw.nnz[i]}, k={sw.ks[j]} (criterion <= {tol})",
    ])


def verdict_c5(sw: SparsitySweep, sparse_only: str = "linear-w0.00", dense_only: str = "linear-w1.00",
               k_index: int = 0, differ: float = 0.02) -> Verdict:
    """C5: the mixture model tracks the sparse model at small nnz (closest at nnz 1-2), the dense
    model at large nnz (closest at nnz d-1 or d), and at some intermediate nnz (3 to d-2)
    differs from both (mean squared distance to the nearer > ``differ``)."""
    ds, dd = sw.distance.get(f"to {sparse_only}"), sw.distance.get(f"to {dense_only}")
    if ds is None or dd is None:
        return Verdict("C5", "NOT TESTED", ["missing trained runs for the prediction distances"])
    k = sw.ks[k_index]
    ds, dd = ds[:, k_index], dd[:, k_index]
    small_ok = int(np.argmin(ds)) <= 1  # nnz = 1 or 2
    large_ok = int(np.argmin(dd)) >= len(dd) - 2  # nnz = d - 1 or d
    both = np.minimum(ds, dd)
    inner = np.arange(len(both))[2:-2]  # nnz 3 .. d-2
    mid = int(inner[np.argmax(both[inner])])
    parts = [("small nnz", small_ok), ("large nnz", large_ok), ("intermediate nnz", float(both[mid]) > differ)]
    return Verdict.judge("C5", parts, [
        f"at k={k}: distance to {sparse_only} is smallest at nnz={sw.nnz[int(np.argmin(ds))]} (criterion: 1-2); "
        f"to {dense_only} smallest at nnz={sw.nnz[int(np.argmin(dd))]} (criterion: {len(dd) - 1}-{len(dd)})",
        f"largest distance to the nearer of the two at nnz={sw.nnz[inner[0]]}..{sw.nnz[inner[-1]]}: "
        f"{_fmt(float(both[mid]))} at nnz={sw.nnz[mid]} (criterion > {differ})",
    ])

"""Chapters 3-5 as computations: what each evaluates, and the verdicts of C6-C8.

This module owns the logic behind notebooks 03-05, in the style of :mod:`icl.claims`
(which owns chapters 1-2, the :class:`~icl.claims.Verdict` type and how a criterion is
judged):

* chapter 3, :func:`nonlinear_chapter` / :func:`verdict_c6`: the linear + ReLU-network
  mixture against the single-class models, on dense linear and on ReLU prompts (d = 10);
* chapter 4, :func:`combination_chapter` / :func:`verdict_c7`: the 1-D line + sine
  mixture on pure lines, pure sines and their convex combinations
  ``a * line + (1 - a) * sine``, against a fit that knows the combined class;
* chapter 5, :func:`extremes_chapter` / :func:`verdict_c8`: the sine models against the
  Bayes-optimal predictor in the pretraining band, and every model on sinusoid
  frequencies, slope scales and input scales far outside pretraining.

All predictors of one comparison are scored on the same prompts (paired), drawn from
the evaluation stream; sweeps over a parameter reuse one seed for every value, so
neighbouring values share their inputs and function draws (common random numbers).

The criteria (fixed 2026-12-01, before any new run was evaluated; see :mod:`icl.claims`):
"the mixture model is as good as the specialist" is a selection cost no larger than the
optimal one plus a tolerance: for lines and sines (C7) the Bayes-optimal learner of the
line/sine prior pays its own cost at small k (0.156 on lines, 0.078 on sines at k = 1),
which is allowed; for linear/ReLU (C6) no Bayes-optimal learner is computable, and with
k <= d points any data are fit exactly by a linear function, so the cost must vanish
from k = d + 2 on and be small on average. A part judged on a 95% interval that straddles
its threshold is INCONCLUSIVE. A verdict is HELD, NOT HELD, INCONCLUSIVE or NOT TESTED (a
run it needs is not trained yet, named in the verdict, or the evaluation lacks a value
the criterion reads); each keeps its criterion before 2026-12-01 as a ``strict`` line.
Thresholds are arguments with the values fixed before training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from .baselines import (KNN, BayesDense, BayesLine, BayesLineSine, BayesSine, CombinedFit, LeastSquares,
                        ReluNetGD, restricted)
from .claims import (NOT_TESTED, Decision, Specialist, Verdict, at_least, at_most, check_specialists, every, fmt,
                     mean_excess, mixture_matches_specialists, not_tested, outcome, selection_cost, some,
                     strict_every_k)
from .config import EVAL, stream_generator
from .evaluate import Curve, Prompts, bootstrap_ci, errors, evaluate, predict, sample_prompts
from .tasks import ConvexCombination, DenseLinear, FunctionClass, Line1D, ReluNet, Sine1D, Task, sample_xs

__all__ = [
    "Sweep", "Example", "Scaled", "check_band", "check_lengths", "check_task", "example_curves", "doubling_points",
    "NonlinearChapter", "nonlinear_baselines", "nonlinear_chapter", "verdict_c6",
    "CombinationChapter", "combination_baselines", "combination_chapter", "verdict_c7",
    "ExtremesChapter", "extremes_chapter", "verdict_c8",
]

Predictors = Mapping[str, Callable]


# --------------------------------------------------------------------------- shared pieces


@dataclass
class Sweep:
    """Error at one k against a parameter of the prompt distribution (a, omega, a scale)."""

    label: str  # the parameter's name, for axes and tables
    values: np.ndarray  # (V,)
    k: int
    error: dict[str, np.ndarray]  # predictor -> (V,) mean error
    lo: dict[str, np.ndarray]  # 95% bootstrap interval
    hi: dict[str, np.ndarray]

    def table(self, names: Sequence[str] | None = None):
        import pandas as pd

        names = [n for n in (names or self.error) if n in self.error]
        return pd.DataFrame({n: np.round(self.error[n], 3) for n in names},
                            index=pd.Index(np.round(self.values, 4), name=self.label))


@dataclass
class Example:
    """One prompt drawn as a curve: the true function on a grid of x, the in-context
    points, and each predictor's prediction at every grid x given those points."""

    title: str
    x_ctx: np.ndarray  # (k,)
    y_ctx: np.ndarray
    x_grid: np.ndarray  # (G,)
    y_true: np.ndarray
    preds: dict[str, np.ndarray]  # name -> (G,)


class Scaled(FunctionClass):
    """``f = scale * g`` for ``g`` from ``base`` (variance ``scale^2`` times the base's)."""

    def __init__(self, base: FunctionClass, scale: float):
        if not scale > 0:
            raise ValueError(f"scale={scale!r} must be > 0")
        self.base, self.scale, self.n_dims = base, float(scale), base.n_dims
        self.name = f"{base.name} x {scale:g}"

    def variance(self, d_active=None) -> float:
        return self.scale**2 * self.base.variance(d_active)

    def sample(self, batch_size, generator, d_active=None) -> Task:
        t, s = self.base.sample(batch_size, generator, d_active), self.scale
        return Task(lambda xs: s * t.evaluate(xs), t.variance * s**2, t.labels)


def check_lengths(models: Mapping[str, torch.nn.Module], n_points: int) -> None:
    """Every model must accept prompts of ``n_points`` examples."""
    for name, m in models.items():
        cap = getattr(getattr(m, "cfg", None), "n_points", None)
        if cap is not None and cap < n_points:
            raise ValueError(f"run {name!r} was trained on prompts of {cap} points; this chapter needs {n_points}")


def check_band(configs: Mapping, band: Sequence[float]) -> tuple[float, float]:
    """The sinusoid band of the chapter must be the one the loaded 1-D runs were trained on."""
    band = (float(band[0]), float(band[1]))
    for name, cfg in configs.items():
        if "sine" in cfg.task.classes and tuple(cfg.task.band) != band:
            raise ValueError(f"band={list(band)} differs from run {name!r}'s pretraining band {list(cfg.task.band)}")
    return band


def check_task(configs: Mapping, hidden: int = 100) -> None:
    """The chapters' prompts are drawn from unit-variance classes and ReLU networks of width
    ``hidden``: refuse a run trained otherwise (e.g. with ``--set task.hidden=20``) rather
    than judge it on prompts of another class."""
    for name, cfg in configs.items():
        if not cfg.task.normalize:
            raise ValueError(f"run {name!r} was trained with task.normalize=False; the chapters need "
                             f"task.normalize=True (unit-variance classes)")
        if "relu" in cfg.task.classes and cfg.task.hidden != hidden:
            raise ValueError(f"run {name!r} was trained on ReLU networks of width task.hidden={cfg.task.hidden}; "
                             f"this chapter's prompts use width {hidden}")


def _scaled_inputs(fc: FunctionClass, n_prompts: int, n_points: int, seed: int, x_scale: float) -> Prompts:
    """Prompts with ``x ~ N(0, x_scale^2 I)``, normalised by the variance of the targets at
    that scale (``x_scale^2`` times the class variance: for linear classes only)."""
    p = sample_prompts(fc, n_prompts, n_points, seed=seed, x_scale=x_scale)
    return Prompts(p.xs, p.ys, p.variance * x_scale**2, p.labels)


def _sweep(predictors: Predictors, label: str, values: Sequence[float], prompts_of: Callable[[float], Prompts],
           k: int, seed: int, n_boot: int, per_value: Callable[[float], Predictors] | None = None) -> Sweep:
    """Error at ``k`` of every predictor on the prompts of each value (shared per value);
    baselines that can are computed at ``k`` only."""
    rows: dict[str, list[tuple[float, float, float]]] = {}
    predictors = {n: restricted(f, [k]) for n, f in predictors.items()}
    for v in values:
        p = prompts_of(float(v))
        extra = {n: restricted(f, [k]) for n, f in (per_value(float(v)) if per_value else {}).items()}
        for name, f in {**predictors, **extra}.items():
            m, l, h = bootstrap_ci(errors(predict(f, p), p)[:, k], n_boot=n_boot, seed=seed)
            rows.setdefault(name, []).append((float(m), float(l), float(h)))
    col = lambda j: {n: np.array([r[j] for r in rs]) for n, rs in rows.items()}  # noqa: E731
    return Sweep(label, np.asarray(values, dtype=float), k, col(0), col(1), col(2))


def example_curves(predictors: Predictors, fc: FunctionClass, k: int, seed: int, title: str = "",
                   x_range: tuple[float, float] = (-3.0, 3.0), n_grid: int = 121) -> Example:
    """One 1-D prompt of ``k`` examples, and every predictor's curve ``x -> f_hat(x | prompt)``."""
    if fc.n_dims != 1:
        raise ValueError("example curves are drawn for 1-D classes only")
    g = stream_generator(seed, 0, EVAL)
    xs = sample_xs(1, k, 1, g)
    task = fc.sample(1, g)
    ys = task.evaluate(xs)
    xg = torch.linspace(*x_range, n_grid)
    y_true = task.evaluate(xg.reshape(1, n_grid, 1))[0]
    # one prompt per grid point: the k examples, then the grid x as the query
    X = torch.cat([xs.expand(n_grid, k, 1), xg.reshape(n_grid, 1, 1)], 1)
    Y = torch.cat([ys.expand(n_grid, k), torch.zeros(n_grid, 1)], 1)
    batch = Prompts(X, Y, torch.ones(n_grid), torch.zeros(n_grid, dtype=torch.long))
    preds = {name: predict(restricted(f, [k]), batch)[:, k].numpy() for name, f in predictors.items()}
    return Example(title, xs[0, :, 0].numpy(), ys[0].numpy(), xg.numpy(), y_true.numpy(), preds)


def doubling_points(values: np.ndarray, err: np.ndarray, low: float, high: float, ref: float, floor: float = 0.0
                    ) -> tuple[float | None, float | None]:
    """Scanning outward from the interval [low, high]: the first swept value below and the
    first above where the error reaches ``2 * max(ref, floor)`` (None when it never does in
    the sweep). The floor keeps a near-zero reference (0.001 at k = 20) from turning noise
    into a "doubling"."""
    threshold = 2 * max(ref, floor)
    pairs = sorted(zip(np.asarray(values, dtype=float), np.asarray(err, dtype=float)))
    first = lambda seq: next((float(v) for v, e in seq if e >= threshold), None)  # noqa: E731
    return first([p for p in pairs if p[0] < low][::-1]), first([p for p in pairs if p[0] > high])


def _table(groups: Mapping[str, Mapping[str, Curve]], ks: Sequence[int]):
    import pandas as pd

    rows = []
    for task, curves in groups.items():
        for name, c in curves.items():
            rows.append({"prompts": task, "predictor": name,
                         **{f"k={k}": round(float(c.mean[k]), 3) for k in ks if k < len(c.mean)}})
    return pd.DataFrame(rows)


def _v(x: float | None) -> str:
    return "none in the sweep" if x is None else f"{x:g}"


# --------------------------------------------------------------------------- chapter 3


@dataclass
class NonlinearChapter:
    """Curves of every model and baseline on dense linear and on ReLU-network prompts (d dimensions)."""

    d: int
    linear: dict[str, Curve]
    relu: dict[str, Curve]
    missing: list[str]
    n_prompts: int

    def table(self, ks: Sequence[int]):
        return _table({"linear": self.linear, "ReLU net": self.relu}, ks)


def nonlinear_baselines(d: int = 10, hidden: int = 100, relu_ks: Sequence[int] | None = (1, 2, 5, 10, 20, 30, 40),
                        relu_steps: int = 100, seed: int = 0) -> dict:
    """Reference predictors for chapter 3 (unit-variance classes)."""
    return {
        "least squares": LeastSquares(),
        "Bayes dense": BayesDense(1 / math.sqrt(d)),
        "ReLU net (GD)": ReluNetGD(hidden, steps=relu_steps, seed=seed, ks=None if relu_ks is None else list(relu_ks)),
        "3-NN": KNN(3),
    }


def nonlinear_chapter(models: Mapping[str, torch.nn.Module], baselines: Predictors | None = None, d: int = 10,
                      hidden: int = 100, n_points: int = 41, n_prompts: int = 1280, seed: int = 3,
                      missing: Sequence[str] = (), n_boot: int = 1000) -> NonlinearChapter:
    check_lengths(models, n_points)
    preds = {**models, **(baselines if baselines is not None else nonlinear_baselines(d, hidden))}
    return NonlinearChapter(
        d=d,
        linear=evaluate(preds, DenseLinear(d, normalize=True), n_prompts, n_points, seed=seed, n_boot=n_boot),
        relu=evaluate(preds, ReluNet(d, hidden, normalize=True), n_prompts, n_points, seed=seed + 1, n_boot=n_boot),
        missing=list(missing), n_prompts=n_prompts,
    )


def verdict_c6(ch: NonlinearChapter, mix: str = "linear-relu-w0.50", linear_only: str = "linear-only",
               relu_only: str = "relu-only", tol: float = 0.05) -> Verdict:
    """C6: on linear and on ReLU-network prompts, the mixture model's selection cost over the
    matching single-class model is at most ``tol`` at every k >= d + 2 and on average over every
    k (95% intervals). No Bayes-optimal learner of the linear/ReLU prior is computable, so the
    allowance is the identifiability limit: with k <= d points any data are fit exactly by a
    linear function, so no learner can tell the classes apart before k = d + 1."""
    return mixture_matches_specialists("C6", mix, [
        Specialist("linear prompts", ch.linear, linear_only, identifiable_from=ch.d + 2),
        Specialist("ReLU-net prompts", ch.relu, relu_only, identifiable_from=ch.d + 2),
    ], tol)


# --------------------------------------------------------------------------- chapter 4


@dataclass
class CombinationChapter:
    """Chapter 4: full curves on pure lines (a = 1) and pure sines (a = 0), and error at a
    few k against the mixing weight a of ``a * line + (1 - a) * sine``."""

    line: dict[str, Curve]  # a = 1, prompts of n_points
    sine: dict[str, Curve]  # a = 0
    a_values: np.ndarray
    ks: list[int]
    by_a: dict[float, dict[str, Curve]]  # a -> curves on prompts of max(ks) + 1 points (baselines: NaN off ks)
    examples: dict[float, Example]
    missing: list[str]
    n_prompts: int

    def at_k(self, k: int) -> Sweep:
        """Error at ``k`` against a (from the sweep's curves)."""
        names = list(next(iter(self.by_a.values())))
        get = lambda attr, n: np.array([float(getattr(self.by_a[a][n], attr)[k]) for a in self.a_values])  # noqa: E731
        return Sweep("a", self.a_values, k, {n: get("mean", n) for n in names}, {n: get("lo", n) for n in names},
                     {n: get("hi", n) for n in names})

    def table(self, ks: Sequence[int] | None = None):
        """Rows: predictor and k; columns: a."""
        import pandas as pd

        rows = []
        for k in ks or self.ks:
            sw = self.at_k(k)
            for n, e in sw.error.items():
                rows.append({"predictor": n, "k": k, **{f"a={a:g}": round(float(x), 3) for a, x in zip(sw.values, e)}})
        return pd.DataFrame(rows)


def combination_baselines(band: Sequence[float] = (1.0, 3.0), w_line: float = 0.5, n_omega: int = 128,
                          n_phi: int = 256) -> dict:
    """Reference predictors for chapter 4: the combined-class fit, the Bayes-optimal
    predictor of the mixture prior, and the line prior's posterior mean."""
    band = tuple(band)
    return {
        "combined fit": CombinedFit(band),
        f"Bayes line/sine w={w_line:g}": BayesLineSine(w_line, band=band, n_omega=n_omega, n_phi=n_phi),
        "Bayes line": BayesLine(),
    }


def combination_chapter(models: Mapping[str, torch.nn.Module], baselines: Predictors | None = None,
                        a_values: Sequence[float] = tuple(np.round(np.linspace(0, 1, 11), 2)),
                        ks: Sequence[int] = (5, 10, 20), band: Sequence[float] = (1.0, 3.0), n_points: int = 41,
                        n_prompts: int = 1280, seed: int = 4, example_a: Sequence[float] = (0.0, 0.5, 1.0),
                        example_k: int = 20, missing: Sequence[str] = (), n_boot: int = 1000) -> CombinationChapter:
    ks = sorted(int(k) for k in ks)
    if ks[-1] >= n_points:
        raise ValueError(f"ks={ks} must be < n_points={n_points}")
    check_lengths(models, n_points)
    band = tuple(float(b) for b in band)
    preds = {**models, **(baselines if baselines is not None else combination_baselines(band))}
    line, sine = Line1D(), Sine1D(band)
    comb = lambda a: ConvexCombination(line, sine, float(a))  # noqa: E731
    n_sweep = ks[-1] + 1  # the sweep is read at k <= max(ks): shorter prompts, same estimates
    at_ks = {n: restricted(f, ks) for n, f in preds.items()}  # grid baselines: computed at ks only
    by_a = {float(a): evaluate(at_ks, comb(a), n_prompts, n_sweep, seed=seed, n_boot=n_boot) for a in a_values}
    examples = {float(a): example_curves(preds, comb(a), example_k, seed=seed + 100, title=f"a = {a:g}")
                for a in example_a}
    return CombinationChapter(
        line=evaluate(preds, line, n_prompts, n_points, seed=seed + 1, n_boot=n_boot),
        # pure sines also against the sine prior's own posterior mean: with the mixture prior's, it
        # shows what not knowing the class costs even an ideal learner at small k
        sine=evaluate({**preds, "Bayes sine": BayesSine(band)}, sine, n_prompts, n_points, seed=seed + 2,
                      n_boot=n_boot),
        a_values=np.asarray([float(a) for a in a_values]), ks=ks, by_a=by_a, examples=examples,
        missing=list(missing), n_prompts=n_prompts,
    )


def verdict_c7(ch: CombinationChapter, mix: str = "line-sine-w0.50", line_only: str = "line-only",
               sine_only: str = "sine-only", fit: str = "combined fit", tol: float = 0.05, a_mid: float = 0.5,
               k: int = 20, ratio: float = 3.0, w_line: float = 0.5, n_boot: int = 1000, seed: int = 0) -> Verdict:
    """C7, three parts:

    1. on pure lines (a = 1) the mixture model's selection cost over the line-only model is at
       most the Bayes-optimal learner's own (the line/sine posterior of weight ``w_line``
       against Bayes line) plus ``tol`` at every k >= 1 (95% interval; :func:`~icl.claims.selection_cost`);
    2. likewise on pure sines (a = 0) against the sine-only model (allowance: the line/sine
       posterior against Bayes sine);
    3. on the combination ``a_mid`` its error at ``k`` is at least ``ratio`` times the
       combined-class fit's, with the 95% paired bootstrap interval of the difference above
       ``tol`` (real, and larger than what counts as matching: the fit's error is ~0, so a
       ratio alone would call any error a failure); an interval straddling ``tol`` is inconclusive.
    """
    v = not_tested(ch.line, [mix, line_only, sine_only], "C7")
    if v:
        return v
    if a_mid not in ch.by_a or k not in ch.ks:
        return Verdict("C7", NOT_TESTED, [f"the sweep has no a={a_mid:g} or does not read k={k} "
                                          f"(a values {[float(a) for a in ch.a_values]}, ks {list(ch.ks)})"])
    v = not_tested(ch.by_a[a_mid], [mix, fit], "C7")
    if v:
        return v
    bayes = f"Bayes line/sine w={w_line:g}"
    pure = [Specialist("a=1 (lines)", ch.line, line_only, bayes, "Bayes line"),
            Specialist("a=0 (sines)", ch.sine, sine_only, bayes, "Bayes sine")]
    v = check_specialists("C7", mix, pure)
    if v:
        return v
    judged = [(s.label, *selection_cost(mix, s, tol, n_boot, seed)) for s in pure]
    curves = ch.by_a[a_mid]
    e_mix, e_fit = curves[mix].per_prompt[:, k], curves[fit].per_prompt[:, k]
    diff, lo, hi = bootstrap_ci(e_mix - e_fit, n_boot=n_boot, seed=seed)
    m_mix, m_fit = float(e_mix.mean()), float(e_fit.mean())
    # "fails" needs a real, sizeable gap: at least ``ratio`` x the fit, and the interval of the
    # difference above ``tol`` (the fit is ~0 from k = 4, so "above 0" alone would call an
    # error of 0.001 a failure)
    worse = at_least(float(diff), float(lo), float(hi), tol, len(e_mix))
    fails = worse if m_mix >= ratio * m_fit else Decision(False)
    parts = [(label, d) for label, d, _ in judged] + [(f"a={a_mid:g}, k={k}: clearly worse than the {fit}", fails)]
    details = [line for _, _, line in judged] + [
        f"a={a_mid:g}, k={k}: {mix} {fmt(m_mix)} vs {fit} {fmt(m_fit)} (criterion: at least {ratio:g}x); "
        f"paired difference {fmt(float(diff))} [95% CI {fmt(float(lo))}, {fmt(float(hi))}] (criterion: CI >= {tol}, "
        f"a gap larger than what counts as matching)",
    ]
    if bayes in curves:
        details.append(f"for reference, {bayes} (the pretraining prior) at a={a_mid:g}, k={k}: "
                       f"{fmt(float(curves[bayes].mean[k]))}")
    strict_ok, strict_text = strict_every_k(mix, pure, tol)
    old_fails = m_mix >= ratio * m_fit and float(lo) >= tol
    details.append(f"strict (every k within {tol}; a={a_mid:g} on the interval's lower end, a straddle failing): "
                   f"{outcome(strict_ok and old_fails)}; {strict_text}")
    return Verdict.judge("C7", parts, details)


# --------------------------------------------------------------------------- chapter 5


@dataclass
class ExtremesChapter:
    """Chapter 5: in-band sine curves, and error at ``k`` against omega, slope scale and
    input scale (1-D line and d-dimensional dense linear)."""

    in_band: dict[str, Curve]
    omega: Sweep
    slope_1d: Sweep
    input_1d: Sweep
    slope_nd: Sweep
    input_nd: Sweep
    band: tuple[float, float]
    examples: dict[float, Example]
    missing: list[str]
    n_prompts: int

    def sweeps(self) -> dict[str, Sweep]:
        return {"omega": self.omega, "slope scale (1-D)": self.slope_1d, "input scale (1-D)": self.input_1d,
                "slope scale (d-dim)": self.slope_nd, "input scale (d-dim)": self.input_nd}

    def table(self, ks: Sequence[int]):
        return _table({"sine in band": self.in_band}, ks)


DEFAULT_OMEGAS = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.5, 2.0, 2.5, 3.0, 3.3, 3.75, 4.5, 5.5, 6.5, 8.0)
DEFAULT_SCALES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def extremes_chapter(models: Mapping[str, torch.nn.Module], sine_runs: Sequence[str] = ("sine-only", "line-sine-w0.50"),
                     line_runs: Sequence[str] = ("line-only", "line-sine-w0.50"),
                     linear_runs: Sequence[str] = ("linear-only",), band: Sequence[float] = (1.0, 3.0),
                     omegas: Sequence[float] = DEFAULT_OMEGAS, scales: Sequence[float] = DEFAULT_SCALES,
                     k: int = 20, d: int = 10, n_points: int = 41, n_prompts: int = 1280, seed: int = 5,
                     example_omegas: Sequence[float] = (2.0, 0.5, 5.0), example_k: int = 20,
                     n_omega: int = 128, n_phi: int = 256, missing: Sequence[str] = (),
                     n_boot: int = 1000) -> ExtremesChapter:
    band = (float(band[0]), float(band[1]))
    check_lengths(models, n_points)
    if not 1 <= k < n_points:
        raise ValueError(f"k={k} must be in 1..n_points-1={n_points - 1}")
    pick = lambda names: {n: models[n] for n in names if n in models}  # noqa: E731
    sines, lines, linears = pick(sine_runs), pick(line_runs), pick(linear_runs)
    bayes_sine = BayesSine(band, n_omega=n_omega, n_phi=n_phi)
    known = lambda w: {"Bayes sine, known omega": BayesSine((w, w), n_phi=n_phi)}  # noqa: E731
    n_sweep = k + 1
    in_band = evaluate({**sines, "Bayes sine": bayes_sine, "3-NN": KNN(3)}, Sine1D(band), n_prompts, n_points,
                       seed=seed, n_boot=n_boot)
    omega = _sweep({**sines, "Bayes sine": bayes_sine}, "omega", omegas,
                   lambda w: sample_prompts(Sine1D((w, w)), n_prompts, n_sweep, seed=seed + 1), k, seed, n_boot,
                   per_value=known)
    ref_1d = {"least squares": LeastSquares(), "Bayes line": BayesLine()}
    slope_1d = _sweep({**lines, **ref_1d}, "slope scale", scales,
                      lambda s: sample_prompts(Line1D(s), n_prompts, n_sweep, seed=seed + 2), k, seed, n_boot)
    input_1d = _sweep({**lines, **ref_1d}, "input scale", scales,
                      lambda c: _scaled_inputs(Line1D(), n_prompts, n_sweep, seed + 3, c), k, seed, n_boot)
    dense = DenseLinear(d, normalize=True)
    ref_nd = {"least squares": LeastSquares()}
    slope_nd = _sweep({**linears, **ref_nd}, "slope scale", scales,
                      lambda s: sample_prompts(Scaled(dense, s), n_prompts, n_sweep, seed=seed + 4), k, seed, n_boot)
    input_nd = _sweep({**linears, **ref_nd}, "input scale", scales,
                      lambda c: _scaled_inputs(dense, n_prompts, n_sweep, seed + 5, c), k, seed, n_boot)
    examples = {}
    for w in example_omegas:
        where = "in band" if band[0] <= w <= band[1] else "outside the band"
        examples[float(w)] = example_curves({**sines, "Bayes sine": bayes_sine, **known(float(w))},
                                            Sine1D((w, w)), example_k, seed=seed + 100,
                                            title=f"omega = {w:g} ({where})")
    return ExtremesChapter(in_band, omega, slope_1d, input_1d, slope_nd, input_nd, band, examples,
                           list(missing), n_prompts)


def _stability(sw: Sweep, name: str, low: float, high: float, ref: float, near: float, far: float, tol: float,
               unstable: float, floor: float, n: int, label: str | None = None
               ) -> tuple[list[tuple[str, Decision]], list[bool], str]:
    """Near [low, high] (within a factor ``near``) the error stays within ``ref + tol`` at every
    swept value, judged on its 95% interval (from ``n`` prompts per value); far from it (beyond a
    factor ``far``) it reaches ``unstable`` at some value, likewise. An interval straddling the
    threshold is inconclusive. Returns the two named parts (for :meth:`Verdict.judge`), their
    outcomes under the criterion before 2026-12-01 (upper end, resp. lower end, of the interval
    against the threshold, a straddle failing) and the line that reports them; ``label`` names
    the sweep there (default ``sw.label``)."""
    label = label or sw.label
    v, e, lo_e, hi_e = sw.values, sw.error[name], sw.lo[name], sw.hi[name]
    outside = (v < low) | (v > high)
    near_mask = outside & (v >= low / near) & (v <= high * near)
    far_mask = (v <= low / far) | (v >= high * far)
    near_ok = every([at_most(e[i], lo_e[i], hi_e[i], ref + tol, n) for i in np.flatnonzero(near_mask)]) \
        if near_mask.any() else Decision(False)
    far_ok = some([at_least(e[i], lo_e[i], hi_e[i], unstable, n) for i in np.flatnonzero(far_mask)]) \
        if far_mask.any() else Decision(False)
    strict = [bool(near_mask.any()) and bool((hi_e[near_mask] <= ref + tol).all()),
              bool(far_mask.any()) and float(lo_e[far_mask].max()) >= unstable]
    below, above = doubling_points(v, e, low, high, ref, floor)
    where = "the band" if low < high else f"{low:g}"
    def worst(mask: np.ndarray, bound: np.ndarray) -> str:
        """The swept value in ``mask`` whose interval end ``bound`` is largest, formatted."""
        if not mask.any():
            return "no swept value there"
        i = int(np.argmax(np.where(mask, bound, -np.inf)))
        return f"worst {fmt(float(e[i]))} (95% CI {fmt(float(lo_e[i]))}, {fmt(float(hi_e[i]))}) at {v[i]:g}"

    text = (f"{name}, {label} at k={sw.k}: reference {fmt(ref)}; error first reaches "
            f"{fmt(2 * max(ref, floor))} (twice max(reference, {floor:g})) at {sw.label} {_v(below)} below "
            f"{where} and {_v(above)} above; near (within x{near:g}): {worst(near_mask, hi_e)} (criterion: CI <= "
            f"{fmt(ref + tol)} at every value); far (beyond x{far:g}): {worst(far_mask, lo_e)} (criterion: CI >= "
            f"{unstable} at some value)")
    return [(f"near ({name}, {label})", near_ok), (f"far ({name}, {label})", far_ok)], strict, text


def verdict_c8(ch: ExtremesChapter, sine_run: str = "sine-only", line_run: str = "line-only",
               linear_run: str = "linear-only", mix_run: str | None = "line-sine-w0.50", tol: float = 0.05,
               near: float = 2.0, near_omega: float = 1.2, far: float = 8.0, far_omega: float = 2.0,
               unstable: float = 0.2, floor: float = 0.01) -> Verdict:
    """C8, three groups of parts (twelve named parts by default), all needed for HELD, each
    judged on a 95% interval (a straddle is inconclusive):

    1. in band, each sine model (``sine_run`` and, unless None, the line/sine mixture
       ``mix_run``) errs at most ``tol`` more than the Bayes-optimal sine predictor on
       average over k = 1..n-1 (paired interval; the largest excess is reported too);
    2. frequency (``sine_run``): just outside the band (within a factor ``near_omega`` of
       its edges) the error at k stays within ``tol`` of the in-band average at every
       swept frequency; far outside (a factor ``far_omega`` or more) it reaches
       ``unstable`` at some frequency;
    3. slope and input scale (1-D line model and d-dim linear model): likewise within a
       factor ``near`` of scale 1 (against the error at 1) and beyond a factor ``far``.

    Also reported: where the error first doubles on each side, from a reference of at
    least ``floor`` (errors below it count as equally good), and the outcome under the
    criterion before 2026-12-01 (the same interval ends, a straddle failing).
    """
    sines = [sine_run] + ([mix_run] if mix_run else [])
    sweeps = ch.sweeps()
    scale_runs = {"slope scale (1-D)": line_run, "input scale (1-D)": line_run, "slope scale (d-dim)": linear_run,
                  "input scale (d-dim)": linear_run}  # the run each scale sweep judges, by its label in sweeps()
    groups = [(ch.in_band, sines)] + [(sweeps[label].error, [name])
                                      for label, name in {"omega": sine_run, **scale_runs}.items()]
    absent = list(dict.fromkeys(n for curves, names in groups for n in names if n not in curves))
    v = not_tested({}, absent, "C8")  # NOT TESTED, naming every run missing from any part, or None
    if v:
        return v
    ks = np.arange(1, ch.in_band[sine_run].mean.shape[0])
    parts, strict, details = [], [], []
    for name in sines:
        m, lo_m, hi_m = mean_excess(ch.in_band, name, "Bayes sine", ks)
        parts.append((f"in band ({name})", at_most(m, lo_m, hi_m, tol, ch.in_band[name].per_prompt.shape[0])))
        strict.append(m <= tol)
        excess = ch.in_band[name].mean[ks] - ch.in_band["Bayes sine"].mean[ks]
        details.append(f"in band {list(ch.band)}: {name} - Bayes sine: mean excess {fmt(m)} [95% CI {fmt(lo_m)}, "
                       f"{fmt(hi_m)}] over k=1..{ks[-1]} (criterion <= {tol}); largest {fmt(float(excess.max()))} "
                       f"at k={int(ks[np.argmax(excess)])}")
    lo, hi = ch.band
    w = ch.omega.values
    in_band = (w >= lo) & (w <= hi)
    e_in = float(ch.omega.error[sine_run][in_band].mean())
    checks = [_stability(ch.omega, sine_run, lo, hi, e_in, near_omega, far_omega, tol, unstable, floor,
                         ch.n_prompts)]
    for label, name in scale_runs.items():
        sw = sweeps[label]
        one = np.isclose(sw.values, 1.0)
        if not one.any():
            return Verdict("C8", NOT_TESTED, [f"the {label} sweep has no scale 1 to compare with"])
        checks.append(_stability(sw, name, 1.0, 1.0, float(sw.error[name][one][0]), near, far, tol, unstable,
                                 floor, ch.n_prompts, label))
    parts += [part for named, _, _ in checks for part in named]
    strict += [ok for _, oks, _ in checks for ok in oks]
    strict_failed = [name for (name, _), ok in zip(parts, strict) if not ok]
    details += [text for _, _, text in checks]
    details.append(f"strict (the same interval ends, a straddle failing): {outcome(not strict_failed)}"
                   + (f"; fails on: {'; '.join(strict_failed)}" if strict_failed else ""))
    return Verdict.judge("C8", parts, details)

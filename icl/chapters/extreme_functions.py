"""Chapter 5, extreme functions (notebook ``05_extreme_functions``): far outside pretraining, C8.

This module owns what chapter 5 evaluates and how it is judged. :func:`extremes_chapter`
scores the sine runs against the Bayes-optimal sine predictor of the pretraining band
(chapter 4's :data:`~icl.chapters.convex_combinations.BAYES_SINE`, with the key below for
the predictor that knows the frequency), and sweeps (:class:`~icl.chapters.sweeps.Sweep`,
read at one k) every model over sinusoid frequencies, slope scales and input scales far
outside pretraining (1-D lines and d-dimensional dense linear functions, against least
squares and Bayes line; input scales through :func:`scaled_inputs`). :func:`verdict_c8`
judges them: near the Bayes predictor in band, stable just outside (:func:`doubling_points`
reports where the error doubles), unstable far out; a part left inconclusive is decided on a
second stage of fresh prompts (the chapter keeps a :class:`~icl.chapters.stages.Redraw` of its
in-band prompts and of each sweep; :func:`~icl.chapters.verdict.two_stage`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..baselines import KNN, BayesLine, BayesSine, LeastSquares, keyed
from ..config import get_run_config
from ..evaluate import Curve, Prompts, evaluate, sample_prompts
from ..tasks import DenseLinear, FunctionClass, Line1D, Scaled, Sine1D
from .convex_combinations import BAYES_SINE, LINE_RUN, MIX_RUN, SINE_RUN
from .nonlinear_mixtures import LINEAR_RUN
from .prompts import Example, check_lengths, curve_table, example_curves
from .stages import PromptSet, Redraw, SweepSet
from .sweeps import Sweep, SweepAtK, sweep
from .verdict import (
    Outcome,
    Stage,
    TwoStage,
    Verdict,
    at_least,
    at_most,
    ci,
    every_stage,
    fmt,
    mean_excess,
    not_tested,
    outcome,
    some_stage,
    two_stage,
)

__all__ = [
    "BAYES_SINE_KNOWN",
    "DEFAULT_OMEGAS",
    "DEFAULT_SCALES",
    "ExtremesChapter",
    "scaled_inputs",
    "doubling_points",
    "extremes_chapter",
    "verdict_c8",
]

# the curve key of the sine posterior that knows the frequency (one per swept omega)
BAYES_SINE_KNOWN = "Bayes sine, known omega"

DEFAULT_OMEGAS = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.5, 2.0, 2.5, 3.0, 3.3, 3.75, 4.5, 5.5, 6.5, 8.0)
DEFAULT_SCALES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


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
    seed: int | None = None  # the evaluation seed the prompts were drawn from
    # "in band" and each sweep by its label in sweeps(): for second stages
    redraw: Redraw | None = field(default=None, repr=False)

    def can_redraw(self) -> bool:
        return self.redraw is not None and self.seed is not None

    def sweeps(self) -> dict[str, Sweep]:
        return {
            "omega": self.omega,
            "slope scale (1-D)": self.slope_1d,
            "input scale (1-D)": self.input_1d,
            "slope scale (d-dim)": self.slope_nd,
            "input scale (d-dim)": self.input_nd,
        }

    def table(self, ks: Sequence[int]):
        return curve_table({"sine in band": self.in_band}, ks)


def scaled_inputs(fc: FunctionClass, n_prompts: int, n_points: int, seed: int, x_scale: float) -> Prompts:
    """Prompts with ``x ~ N(0, x_scale^2 I)``, normalised by the variance of the targets at
    that scale (``x_scale^2`` times the class variance: for linear classes only)."""
    p = sample_prompts(fc, n_prompts, n_points, seed=seed, x_scale=x_scale)
    return Prompts(p.xs, p.ys, p.variance * x_scale**2, p.labels)


def doubling_points(
    values: np.ndarray, err: np.ndarray, low: float, high: float, ref: float, floor: float = 0.0
) -> tuple[float | None, float | None]:
    """Scanning outward from the interval [low, high]: the first swept value below and the
    first above where the error reaches ``2 * max(ref, floor)`` (None when it never does in
    the sweep). The floor keeps a near-zero reference (0.001 at k = 20) from turning noise
    into a "doubling"."""
    threshold = 2 * max(ref, floor)
    pairs = sorted(zip(np.asarray(values, dtype=float), np.asarray(err, dtype=float)))
    first = lambda seq: next((float(v) for v, e in seq if e >= threshold), None)  # noqa: E731
    return first([p for p in pairs if p[0] < low][::-1]), first([p for p in pairs if p[0] > high])


# long: chapter 5's five sweeps (frequency; slope and input scale, 1-D and d-dim) and its examples
def extremes_chapter(
    models: Mapping[str, torch.nn.Module],
    sine_runs: Sequence[str] = (SINE_RUN, MIX_RUN),
    line_runs: Sequence[str] = (LINE_RUN, MIX_RUN),
    linear_runs: Sequence[str] = (LINEAR_RUN,),
    band: Sequence[float] | None = None,
    omegas: Sequence[float] = DEFAULT_OMEGAS,
    scales: Sequence[float] = DEFAULT_SCALES,
    k: int = 20,
    d: int | None = None,
    n_points: int | None = None,
    n_prompts: int = 1280,
    seed: int = 5,
    example_omegas: Sequence[float] = (2.0, 0.5, 5.0),
    example_k: int = 20,
    n_omega: int = 128,
    n_phi: int = 256,
    missing: Sequence[str] = (),
    n_boot: int = 1000,
) -> ExtremesChapter:
    # the defaults are the runs' own: the sines' band and the prompt length of the line/sine mixture, the d of
    # the linear run (the registry's configs)
    mix, linear = get_run_config(MIX_RUN), get_run_config(LINEAR_RUN)
    band = mix.task.band if band is None else band
    d = linear.task.n_dims if d is None else d
    n_points = mix.model.n_points if n_points is None else n_points
    band = (float(band[0]), float(band[1]))
    check_lengths(models, n_points)
    if not 1 <= k < n_points:
        raise ValueError(f"k={k} must be in 1..n_points-1={n_points - 1}")
    pick = lambda names: {n: models[n] for n in names if n in models}  # noqa: E731
    sines, lines, linears = pick(sine_runs), pick(line_runs), pick(linear_runs)
    bayes_sine = BayesSine(band, n_omega=n_omega, n_phi=n_phi)
    known = lambda w: {BAYES_SINE_KNOWN: BayesSine((w, w), n_phi=n_phi)}  # noqa: E731
    n_sweep = k + 1
    values = lambda vs: np.asarray(vs, dtype=float)  # noqa: E731
    in_band_preds = {**sines, **keyed(bayes_sine, KNN(3))}
    in_band = evaluate(in_band_preds, Sine1D(band), n_prompts, n_points, seed=seed, n_boot=n_boot)
    ref_1d = keyed(LeastSquares(), BayesLine())
    dense = DenseLinear(d, normalize=True)
    ref_nd = keyed(LeastSquares())
    # each sweep: its predictors, and its prompts of one value (value, n, evaluation seed) -> Prompts
    sets = {
        "omega": SweepSet(
            "omega",
            lambda w, n, s: sample_prompts(Sine1D((w, w)), n, n_sweep, seed=s + 1),
            {**sines, **keyed(bayes_sine)},
            [k],
            known,
        ),
        "slope scale (1-D)": SweepSet(
            "slope scale",
            lambda v, n, s: sample_prompts(Line1D(v), n, n_sweep, seed=s + 2),
            {**lines, **ref_1d},
            [k],
        ),
        "input scale (1-D)": SweepSet(
            "input scale",
            lambda c, n, s: scaled_inputs(Line1D(), n, n_sweep, s + 3, c),
            {**lines, **ref_1d},
            [k],
        ),
        "slope scale (d-dim)": SweepSet(
            "slope scale",
            lambda v, n, s: sample_prompts(Scaled(dense, v), n, n_sweep, s + 4),
            {**linears, **ref_nd},
            [k],
        ),
        "input scale (d-dim)": SweepSet(
            "input scale",
            lambda c, n, s: scaled_inputs(dense, n, n_sweep, s + 5, c),
            {**linears, **ref_nd},
            [k],
        ),
    }
    drawn = {
        key: sweep(
            st.predictors,
            st.label,
            values(omegas if key == "omega" else scales),
            lambda v, st=st: st.prompts(v, n_prompts, seed),
            [k],
            seed,
            n_boot,
            per_value=st.per_value,
        )
        for key, st in sets.items()
    }
    omega, slope_1d, input_1d, slope_nd, input_nd = drawn.values()
    in_band_set = PromptSet(lambda n, s: sample_prompts(Sine1D(band), n, n_points, s), in_band_preds)
    redraw = Redraw({"in band": in_band_set, **sets}, n_boot)
    examples = {}
    for w in example_omegas:
        where = "in band" if band[0] <= w <= band[1] else "outside the band"
        examples[float(w)] = example_curves(
            {**sines, **keyed(bayes_sine), **known(float(w))},
            Sine1D((w, w)),
            example_k,
            seed=seed + 100,
            title=f"omega = {w:g} ({where})",
        )
    return ExtremesChapter(
        in_band,
        omega,
        slope_1d,
        input_1d,
        slope_nd,
        input_nd,
        band,
        examples,
        list(missing),
        n_prompts,
        seed,
        redraw,
    )


def _v(x: float | None) -> str:
    return "none in the sweep" if x is None else f"{x:g}"


def _masks(v: np.ndarray, low: float, high: float, near: float, far: float) -> tuple[np.ndarray, np.ndarray]:
    """The swept values near [low, high] (outside it, within a factor ``near``) and far from it
    (beyond a factor ``far``)."""
    outside = (v < low) | (v > high)
    return outside & (v >= low / near) & (v <= high * near), (v <= low / far) | (v >= high * far)


def _near(
    at: SweepAtK, name: str, low: float, high: float, ref: float, near: float, far: float, tol: float, n: int
) -> Stage:
    """The near part: at every value near [low, high] the error's interval at most ``ref + tol``."""
    v, e, lo_e, hi_e = at.values, at.error[name], at.lo[name], at.hi[name]
    return every_stage(
        [
            (
                at_most(e[i], lo_e[i], hi_e[i], ref + tol, n),
                f"{ci(e[i], lo_e[i], hi_e[i])} at {v[i]:g} (criterion <= {fmt(ref + tol)})",
            )
            for i in np.flatnonzero(_masks(v, low, high, near, far)[0])
        ]
    )


def _far(
    at: SweepAtK, name: str, low: float, high: float, near: float, far: float, unstable: float, n: int
) -> Stage:
    """The far part: at some value far from [low, high] the error's interval at least ``unstable``."""
    v, e, lo_e, hi_e = at.values, at.error[name], at.lo[name], at.hi[name]
    return some_stage(
        [
            (at_least(e[i], lo_e[i], hi_e[i], unstable, n), f"{ci(e[i], lo_e[i], hi_e[i])} at {v[i]:g}")
            for i in np.flatnonzero(_masks(v, low, high, near, far)[1])
        ]
    )


# draws a sweep again for the judged run at the given values: values -> (n, evaluation seed) -> Sweep
SweepAgain = Callable[[np.ndarray], Callable[[int, int], Sweep]]


# long: near and far parts of one sweep, with their two-stage redraw
def _stability(
    sw: Sweep,
    name: str,
    low: float,
    high: float,
    ref_of: Callable[[SweepAtK], float],
    near: float,
    far: float,
    tol: float,
    unstable: float,
    floor: float,
    n: int,
    label: str | None = None,
    again: SweepAgain | None = None,
    seed: int = 0,
    ref_values: Sequence[float] = (),
) -> tuple[list[tuple[str, TwoStage]], list[bool], str]:
    """Near [low, high] (within a factor ``near``) the error stays within ``ref + tol`` at every
    swept value, the reference ``ref = ref_of(view at k)`` read off the same sweep, judged on its
    95% interval (from ``n`` prompts per value); far from it (beyond a factor ``far``) it reaches
    ``unstable`` at some value, likewise. An interval straddling the threshold is inconclusive, and
    decided on a second stage when ``again`` can draw the sweep again (evaluation seed ``seed``
    first): the values the part reads (for the near part with ``ref_values``, those its reference
    reads). Returns the two named parts (for :meth:`Verdict.judge`), their
    outcomes under the criterion before 2026-12-01 (upper end, resp. lower end, of the interval
    against the threshold, a straddle failing) and the line that reports them; ``label`` names
    the sweep there (default ``sw.label``)."""
    label = label or sw.label
    at = sw.at_k()
    ref = ref_of(at)
    v, e, lo_e, hi_e = at.values, at.error[name], at.lo[name], at.hi[name]
    near_mask, far_mask = _masks(v, low, high, near, far)

    def near_again(m: int, s: int) -> Stage:
        view = again(np.union1d(v[near_mask], np.asarray(ref_values, dtype=float)))(m, s).at_k()
        return _near(view, name, low, high, ref_of(view), near, far, tol, m)

    def far_again(m: int, s: int) -> Stage:
        return _far(again(v[far_mask])(m, s).at_k(), name, low, high, near, far, unstable, m)

    near_ok = two_stage(
        _near(at, name, low, high, ref, near, far, tol, n),
        n,
        seed,
        near_again if again is not None and near_mask.any() else None,
    )
    far_ok = two_stage(
        _far(at, name, low, high, near, far, unstable, n),
        n,
        seed,
        far_again if again is not None and far_mask.any() else None,
    )
    strict = [
        bool(near_mask.any()) and bool((hi_e[near_mask] <= ref + tol).all()),
        bool(far_mask.any()) and float(lo_e[far_mask].max()) >= unstable,
    ]
    below, above = doubling_points(v, e, low, high, ref, floor)
    where = "the band" if low < high else f"{low:g}"

    def worst(mask: np.ndarray, bound: np.ndarray) -> str:
        """The swept value in ``mask`` whose interval end ``bound`` is largest, formatted."""
        if not mask.any():
            return "no swept value there"
        i = int(np.argmax(np.where(mask, bound, -np.inf)))
        return f"worst {fmt(float(e[i]))} (95% CI {fmt(float(lo_e[i]))}, {fmt(float(hi_e[i]))}) at {v[i]:g}"

    text = (
        f"{name}, {label} at k={at.k}: reference {fmt(ref)}; error first reaches "
        f"{fmt(2 * max(ref, floor))} (twice max(reference, {floor:g})) at {sw.label} {_v(below)} below "
        f"{where} and {_v(above)} above; near (within x{near:g}): {worst(near_mask, hi_e)} (criterion: CI <= "
        f"{fmt(ref + tol)} at every value); far (beyond x{far:g}): {worst(far_mask, lo_e)} (criterion: CI >= "
        f"{unstable} at some value)"
    )
    return [(f"near ({name}, {label})", near_ok), (f"far ({name}, {label})", far_ok)], strict, text


def _excess_stage(curves: Mapping[str, Curve], name: str, ks: np.ndarray, tol: float) -> Stage:
    """The in-band part: ``name``'s mean excess over the Bayes sine predictor over ``ks`` at most
    ``tol`` (paired interval)."""
    m, lo, hi = mean_excess(curves, name, BAYES_SINE, ks)
    return Stage(
        at_most(m, lo, hi, tol, curves[name].per_prompt.shape[0]),
        f"mean excess {ci(m, lo, hi)} over k=1..{ks[-1]}",
    )


def _in_band(ch: ExtremesChapter, name: str, ks: np.ndarray, tol: float) -> TwoStage:
    """The in-band part of ``name`` in two stages (the second on fresh in-band prompts)."""
    again = None
    if ch.can_redraw():

        def again(n: int, seed: int) -> Stage:
            return _excess_stage(ch.redraw.curves("in band", [name, BAYES_SINE], n, seed), name, ks, tol)

    n = ch.in_band[name].per_prompt.shape[0]
    return two_stage(_excess_stage(ch.in_band, name, ks, tol), n, ch.seed or 0, again)


def _sweep_again(ch: ExtremesChapter, key: str, name: str) -> SweepAgain | None:
    """How to draw sweep ``key`` again for run ``name`` (None: the chapter cannot)."""
    if not ch.can_redraw():
        return None
    return lambda values: lambda n, seed: ch.redraw.sweep(key, [name], values, n, seed)


# long: C8's twelve parts and the docstring that states them
def verdict_c8(
    ch: ExtremesChapter,
    sine_run: str = SINE_RUN,
    line_run: str = LINE_RUN,
    linear_run: str = LINEAR_RUN,
    mix_run: str | None = MIX_RUN,
    tol: float = 0.05,
    near: float = 2.0,
    near_omega: float = 1.2,
    far: float = 8.0,
    far_omega: float = 2.0,
    unstable: float = 0.2,
    floor: float = 0.01,
) -> Verdict:
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
    criterion before 2026-12-01 (the same interval ends, a straddle failing). A part left
    inconclusive is decided on a second stage of fresh prompts of the values it reads (and of
    those its reference reads), :func:`~icl.chapters.verdict.two_stage`.
    """
    sines = [sine_run] + ([mix_run] if mix_run else [])
    sweeps = ch.sweeps()
    scale_runs = {
        "slope scale (1-D)": line_run,
        "input scale (1-D)": line_run,
        "slope scale (d-dim)": linear_run,
        "input scale (d-dim)": linear_run,
    }  # the run each scale sweep judges, by its label in sweeps()
    groups = [(ch.in_band, sines)] + [
        (sweeps[label].error, [name]) for label, name in {"omega": sine_run, **scale_runs}.items()
    ]
    absent = list(dict.fromkeys(n for curves, names in groups for n in names if n not in curves))
    v = not_tested({}, absent, "C8")  # NOT TESTED, naming every run missing from any part, or None
    if v:
        return v
    ks = np.arange(1, ch.in_band[sine_run].mean.shape[0])
    parts, strict, details = [], [], []
    for name in sines:
        m, lo_m, hi_m = mean_excess(ch.in_band, name, BAYES_SINE, ks)
        parts.append((f"in band ({name})", _in_band(ch, name, ks, tol)))
        strict.append(m <= tol)
        excess = ch.in_band[name].mean[ks] - ch.in_band[BAYES_SINE].mean[ks]
        details.append(
            f"in band {list(ch.band)}: {name} - {BAYES_SINE}: mean excess {fmt(m)} [95% CI {fmt(lo_m)}, "
            f"{fmt(hi_m)}] over k=1..{ks[-1]} (criterion <= {tol}); largest {fmt(float(excess.max()))} "
            f"at k={int(ks[np.argmax(excess)])}"
        )
    lo, hi = ch.band
    w = ch.omega.values
    in_band = lambda at: float(at.error[sine_run][(at.values >= lo) & (at.values <= hi)].mean())  # noqa: E731
    checks = [
        _stability(
            ch.omega,
            sine_run,
            lo,
            hi,
            in_band,
            near_omega,
            far_omega,
            tol,
            unstable,
            floor,
            ch.n_prompts,
            again=_sweep_again(ch, "omega", sine_run),
            seed=ch.seed or 0,
            ref_values=w[(w >= lo) & (w <= hi)],
        )
    ]
    for label, name in scale_runs.items():
        sw = sweeps[label]
        if not np.isclose(sw.values, 1.0).any():
            return Verdict("C8", Outcome.NOT_TESTED, [f"the {label} sweep has no scale 1 to compare with"])
        at_one = lambda at, name=name: float(at.error[name][np.isclose(at.values, 1.0)][0])  # noqa: E731
        checks.append(
            _stability(
                sw,
                name,
                1.0,
                1.0,
                at_one,
                near,
                far,
                tol,
                unstable,
                floor,
                ch.n_prompts,
                label,
                again=_sweep_again(ch, label, name),
                seed=ch.seed or 0,
                ref_values=sw.values[np.isclose(sw.values, 1.0)],
            )
        )
    parts += [part for named, _, _ in checks for part in named]
    strict += [ok for _, oks, _ in checks for ok in oks]
    strict_failed = [name for (name, _), ok in zip(parts, strict) if not ok]
    details += [text for _, _, text in checks]
    details.append(
        f"strict (the same interval ends, a straddle failing): {outcome(not strict_failed)}"
        + (f"; fails on: {'; '.join(strict_failed)}" if strict_failed else "")
    )
    return Verdict.judge("C8", parts, details)

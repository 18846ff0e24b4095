"""Chapter 4, convex combinations (notebook ``04_convex_combinations``): lines, sines, between, C7.

This module owns what chapter 4 evaluates and how it is judged. :func:`combination_chapter`
scores the 1-D line + sine mixture run, the two single-class runs and the reference
predictors (:func:`combination_baselines`, keyed by their own names, the constants below: a fit that knows
the combined class, the Bayes-optimal predictor of the pretraining prior and the line
prior's posterior mean) on pure lines (a = 1), pure sines (a = 0) and, as a
:class:`~icl.chapters.sweeps.Sweep` against the mixing weight a, on the convex combinations
``a * line + (1 - a) * sine``; :func:`verdict_c7` judges it as two claims (split on
2026-12-04): C7a, the mixture is as good as each specialist on its class up to the
Bayes-optimal learner's own selection cost (:mod:`icl.chapters.selection`), and C7b, it is
clearly worse than the combined-class fit between. A part left inconclusive is decided on a
second stage of fresh prompts (the chapter keeps a :class:`~icl.chapters.stages.Redraw`;
:func:`~icl.chapters.verdict.two_stage`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..baselines import BayesLine, BayesSine, CombinedFit, bayes_name, bayes_predictor, keyed, restricted
from ..config import TaskConfig, get_run_config, registry_run
from ..evaluate import Curve, Predictor, bootstrap_ci, evaluate, sample_prompts
from ..tasks import ClassName, ConvexCombination, Line1D, Sine1D
from .prompts import Example, check_lengths, example_curves
from .selection import Specialist, check_specialists, selection_stages, strict_every_k
from .stages import PromptSet, Redraw, SweepSet
from .sweeps import Sweep
from .verdict import (
    Decision,
    Outcome,
    Stage,
    TwoStage,
    Verdict,
    at_least,
    ci,
    fmt,
    not_tested,
    outcome,
    two_stage,
)

__all__ = [
    "COMBINED_FIT",
    "BAYES_LINE",
    "BAYES_SINE",
    "W_LINE",
    "MIX_RUN",
    "LINE_RUN",
    "SINE_RUN",
    "line_sine_prior",
    "bayes_line_sine_name",
    "CombinationChapter",
    "combination_baselines",
    "combination_chapter",
    "verdict_c7",
    "verdict_c7a",
    "verdict_c7b",
]

# the curve keys of chapter 4's reference predictors, their own names (chapter 5 reuses the Bayes ones)
COMBINED_FIT, BAYES_LINE, BAYES_SINE = CombinedFit.name, BayesLine.name, BayesSine.name

# the runs C7 judges by default, found in the registry by their pretraining weights: the mixture of line
# weight W_LINE (whose Bayes-optimal predictor is the reference) and the two specialists (chapter 5's too)
W_LINE = 0.5
MIX_RUN, LINE_RUN, SINE_RUN = (
    registry_run("1d", {ClassName.LINE: w, ClassName.SINE: 1 - w}) for w in (W_LINE, 1.0, 0.0)
)


def line_sine_prior(w_line: float, band: Sequence[float] = (1.0, 3.0)) -> TaskConfig:
    """The line/sine prior of line weight ``w_line`` and sinusoid band ``band``: chapter 4's."""
    return TaskConfig((ClassName.LINE, ClassName.SINE), (w_line, 1 - w_line), 1, band=tuple(band))


def bayes_line_sine_name(w_line: float) -> str:
    """The name (curve key) of the Bayes-optimal predictor of the line/sine prior, line weight ``w_line``."""
    return bayes_name((ClassName.LINE, ClassName.SINE), (w_line, 1 - w_line))


@dataclass
class CombinationChapter:
    """Chapter 4: full curves on pure lines (a = 1) and pure sines (a = 0), and the error at a
    few k against the mixing weight a of ``a * line + (1 - a) * sine``."""

    line: dict[str, Curve]  # a = 1, prompts of n_points
    sine: dict[str, Curve]  # a = 0
    by_a: Sweep  # against a, read at the chapter's ks (on prompts of max(ks) + 1 points)
    examples: dict[float, Example]
    missing: list[str]
    n_prompts: int
    seed: int | None = None  # the evaluation seed the prompts were drawn from
    redraw: Redraw | None = field(default=None, repr=False)  # "line", "sine", sweep "a": for second stages

    def draw(self, task: str):
        """Scores predictors on fresh prompts of ``task`` ("line" or "sine"; ``(names, n, seed) ->
        curves``), or None when the chapter was built without its predictors (one stage only)."""
        return (
            None
            if self.redraw is None or self.seed is None
            else (lambda names, n, seed: self.redraw.curves(task, names, n, seed))
        )

    def table(self, ks: Sequence[int] | None = None):
        """Rows: predictor and k; columns: a."""
        import pandas as pd

        rows = []
        for k in ks or self.by_a.ks:
            sw = self.by_a.at_k(k)
            for n, e in sw.error.items():
                rows.append(
                    {"predictor": n, "k": k, **{f"a={a:g}": round(float(x), 3) for a, x in zip(sw.values, e)}}
                )
        return pd.DataFrame(rows)


def combination_baselines(
    band: Sequence[float] = (1.0, 3.0), w_line: float = W_LINE, n_omega: int = 128, n_phi: int = 256
) -> dict:
    """Reference predictors for chapter 4, by their names: the combined-class fit, the Bayes-optimal
    predictor of the mixture prior (its sine posterior on an ``n_omega`` x ``n_phi`` grid), and the
    line prior's posterior mean."""
    band = tuple(band)
    bayes = bayes_predictor(line_sine_prior(w_line, band), n_omega, n_phi)
    return keyed(CombinedFit(band), bayes, BayesLine())


def combination_chapter(
    models: Mapping[str, torch.nn.Module],
    baselines: Mapping[str, Predictor] | None = None,
    a_values: Sequence[float] = tuple(np.round(np.linspace(0, 1, 11), 2)),
    ks: Sequence[int] = (5, 10, 20),
    band: Sequence[float] | None = None,
    n_points: int | None = None,
    n_prompts: int = 1280,
    seed: int = 4,
    example_a: Sequence[float] = (0.0, 0.5, 1.0),
    example_k: int = 20,
    missing: Sequence[str] = (),
    n_boot: int = 1000,
) -> CombinationChapter:
    """Chapter 4's sweep over a and curves; ``band``, ``n_points``: the mixture run's by default."""
    cfg = get_run_config(MIX_RUN)
    band = cfg.task.band if band is None else band
    n_points = cfg.model.n_points if n_points is None else n_points
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
    a_values = [float(a) for a in a_values]
    by_a = Sweep.from_curves(
        "a",
        a_values,
        ks,
        [evaluate(at_ks, comb(a), n_prompts, n_sweep, seed=seed, n_boot=n_boot) for a in a_values],
    )
    examples = {
        float(a): example_curves(preds, comb(a), example_k, seed=seed + 100, title=f"a = {a:g}")
        for a in example_a
    }
    # pure sines also against the sine prior's own posterior mean: with the mixture prior's, it
    # shows what not knowing the class costs even an ideal learner at small k
    sine_preds = {**preds, **keyed(BayesSine(band))}
    redraw = Redraw(
        {
            ClassName.LINE: PromptSet(lambda n, s: sample_prompts(line, n, n_points, s + 1), preds),
            ClassName.SINE: PromptSet(lambda n, s: sample_prompts(sine, n, n_points, s + 2), sine_preds),
            "a": SweepSet("a", lambda a, n, s: sample_prompts(comb(a), n, n_sweep, s), preds, ks),
        },
        n_boot,
    )
    return CombinationChapter(
        line=evaluate(preds, line, n_prompts, n_points, seed=seed + 1, n_boot=n_boot),
        sine=evaluate(sine_preds, sine, n_prompts, n_points, seed=seed + 2, n_boot=n_boot),
        by_a=by_a,
        examples=examples,
        missing=list(missing),
        n_prompts=n_prompts,
        seed=seed,
        redraw=redraw,
    )


def _judge_c7(
    ch: CombinationChapter,
    mix: str,
    line_only: str,
    sine_only: str,
    fit: str,
    tol: float,
    a_mid: float,
    k: int,
    ratio: float,
    w_line: float,
    n_boot: int,
    seed: int,
) -> tuple[Verdict, Verdict]:
    """C7a and C7b (see :func:`verdict_c7`), each with its own checks, and each with the line
    ``before (...)``: the outcome of C7 as one claim, as judged until 2026-12-04."""
    a = _c7a(ch, mix, line_only, sine_only, tol, w_line, n_boot, seed)
    b = _c7b(ch, mix, fit, tol, a_mid, k, ratio, w_line, n_boot, seed)
    if isinstance(a, Verdict) or isinstance(b, Verdict):
        old = f"{Outcome.NOT_TESTED}; " + "; ".join(x.details[0] for x in (a, b) if isinstance(x, Verdict))
    else:  # one stage, as until 2026-12-04
        v = Verdict.judge(
            "C7",
            [(name, d.first.decision if isinstance(d, TwoStage) else d) for name, d in [*a[0], *b[0]]],
            [],
        )
        old = f"{v.status}; {v.details[0]}"
    before = f"before (C7 as one claim, judged so until 2026-12-04): {old}"
    return tuple(
        x if isinstance(x, Verdict) else Verdict.judge(claim, x[0], [*x[1], before])
        for claim, x in (("C7a", a), ("C7b", b))
    )


def _c7a(
    ch: CombinationChapter,
    mix: str,
    line_only: str,
    sine_only: str,
    tol: float,
    w_line: float,
    n_boot: int,
    seed: int,
) -> Verdict | tuple[list, list[str]]:
    """C7a's parts and detail lines, or its NOT TESTED verdict."""
    v = not_tested(ch.line, [mix, line_only, sine_only], "C7a")
    if v:
        return v
    bayes = bayes_line_sine_name(w_line)
    pure = [
        Specialist(
            "a=1 (lines)",
            ch.line,
            line_only,
            bayes,
            BAYES_LINE,
            draw=ch.draw(ClassName.LINE),
            eval_seed=ch.seed,
        ),
        Specialist(
            "a=0 (sines)",
            ch.sine,
            sine_only,
            bayes,
            BAYES_SINE,
            draw=ch.draw(ClassName.SINE),
            eval_seed=ch.seed,
        ),
    ]
    v = check_specialists("C7a", mix, pure)
    if v:
        return v
    judged = [(s.label, *selection_stages(mix, s, tol, n_boot, seed)) for s in pure]
    strict_ok, strict_text = strict_every_k(mix, pure, tol)
    return [(label, d) for label, d, _ in judged], [line for _, _, line in judged] + [
        f"strict (every k within {tol}): {outcome(strict_ok)}; {strict_text}"
    ]


def _c7b(
    ch: CombinationChapter,
    mix: str,
    fit: str,
    tol: float,
    a_mid: float,
    k: int,
    ratio: float,
    w_line: float,
    n_boot: int,
    seed: int,
) -> Verdict | tuple[list, list[str]]:
    """C7b's part and detail lines, or its NOT TESTED verdict."""
    sw = ch.by_a
    i = sw.index(a_mid)
    if i is None or k not in sw.ks:
        return Verdict(
            "C7b",
            Outcome.NOT_TESTED,
            [
                f"the sweep has no a={a_mid:g} or does not read k={k} "
                f"(a values {[float(a) for a in sw.values]}, ks {list(sw.ks)})"
            ],
        )
    at = sw.at_k(k)
    v = not_tested(at.error, [mix, fit], "C7b")
    if v:
        return v
    e_mix, e_fit = at.per_prompt[mix][i], at.per_prompt[fit][i]
    diff, lo, hi = bootstrap_ci(e_mix - e_fit, n_boot=n_boot, seed=seed)
    m_mix, m_fit = float(e_mix.mean()), float(e_fit.mean())
    first = _worse(e_mix, e_fit, tol, ratio, n_boot, seed)
    again = None
    if ch.redraw is not None and ch.seed is not None:

        def again(n: int, eval_seed: int) -> Stage:
            per = ch.redraw.sweep("a", [mix, fit], [a_mid], n, eval_seed, ks=[k]).per_prompt
            return _worse(per[mix][0, :, 0], per[fit][0, :, 0], tol, ratio, n_boot, seed)

    fails = two_stage(first, len(e_mix), ch.seed or 0, again)
    details = [
        f"a={a_mid:g}, k={k}: {mix} {fmt(m_mix)} vs {fit} {fmt(m_fit)} (criterion: at least {ratio:g}x); "
        f"paired difference {fmt(float(diff))} [95% CI {fmt(float(lo))}, {fmt(float(hi))}] (criterion: CI >= "
        f"{tol}, a gap larger than what counts as matching)"
    ]
    bayes = bayes_line_sine_name(w_line)
    if bayes in at.error:
        details.append(
            f"for reference, {bayes} (the pretraining prior) at a={a_mid:g}, k={k}: "
            f"{fmt(float(at.error[bayes][i]))}"
        )
    old_fails = m_mix >= ratio * m_fit and float(lo) >= tol
    details.append(
        f"strict (a={a_mid:g} on the interval's lower end, a straddle failing): {outcome(old_fails)}"
    )
    return [(f"a={a_mid:g}, k={k}: clearly worse than the {fit}", fails)], details


def _worse(e_mix: np.ndarray, e_fit: np.ndarray, tol: float, ratio: float, n_boot: int, seed: int) -> Stage:
    """C7b's part on per-prompt errors of the mixture model and the fit: "fails" needs a real,
    sizeable gap: at least ``ratio`` x the fit, and the interval of the difference above ``tol``
    (the fit is ~0 from k = 4, so "above 0" alone would call an error of 0.001 a failure)."""
    diff, lo, hi = bootstrap_ci(e_mix - e_fit, n_boot=n_boot, seed=seed)
    m_mix, m_fit = float(e_mix.mean()), float(e_fit.mean())
    worse = at_least(float(diff), float(lo), float(hi), tol, len(e_mix))
    return Stage(
        worse if m_mix >= ratio * m_fit else Decision(False),
        f"{fmt(m_mix)} vs {fmt(m_fit)}, difference {ci(diff, lo, hi)}",
    )


def verdict_c7(
    ch: CombinationChapter,
    mix: str = MIX_RUN,
    line_only: str = LINE_RUN,
    sine_only: str = SINE_RUN,
    fit: str = COMBINED_FIT,
    tol: float = 0.05,
    a_mid: float = 0.5,
    k: int = 20,
    ratio: float = 3.0,
    w_line: float = W_LINE,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[Verdict, Verdict]:
    """C7 is two claims (split on 2026-12-04), returned as ``(C7a, C7b)``, each with its own outcome:

    **C7a** (each class is predicted well), two parts:

    1. on pure lines (a = 1) the mixture model's selection cost over the line-only model is at
       most the Bayes-optimal learner's own (the line/sine posterior of weight ``w_line``
       against Bayes line) plus ``tol`` at every k >= 1 (95% interval;
       :func:`~icl.chapters.selection.selection_cost`);
    2. likewise on pure sines (a = 0) against the sine-only model (allowance: the line/sine
       posterior against Bayes sine).

    **C7b** (convex combinations fail), one part: on the combination ``a_mid`` the mixture
    model's error at ``k`` is at least ``ratio`` times the combined-class fit's, with the 95%
    paired bootstrap interval of the difference above ``tol`` (real, and larger than what counts
    as matching: the fit's error is ~0, so a ratio alone would call any error a failure); an
    interval straddling ``tol`` is inconclusive.

    Preconditions: none stated (2026-12-04). C7a presupposes, like C1, that the two specialists
    differ (each better than the other on its own class); chapter 4's figure of the pure classes
    shows it, and no threshold was fixed to judge it, so it is not made a precondition. C7b
    compares the mixture model with a fit, not with the specialists: it presupposes nothing.
    Each verdict also prints the outcome of the single C7 judged until 2026-12-04 (``before``).
    """
    return _judge_c7(ch, mix, line_only, sine_only, fit, tol, a_mid, k, ratio, w_line, n_boot, seed)


def verdict_c7a(ch: CombinationChapter, **kw) -> Verdict:
    """C7a alone (:func:`verdict_c7`'s first verdict; the same keyword arguments)."""
    return verdict_c7(ch, **kw)[0]


def verdict_c7b(ch: CombinationChapter, **kw) -> Verdict:
    """C7b alone (:func:`verdict_c7`'s second verdict; the same keyword arguments)."""
    return verdict_c7(ch, **kw)[1]

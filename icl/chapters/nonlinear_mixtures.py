"""Chapter 3, non-linear mixtures (notebook ``03_nonlinear_mixtures``): linear + ReLU networks, C6.

This module owns what chapter 3 evaluates and how it is judged. :func:`nonlinear_chapter`
scores the linear + ReLU-network mixture run, the two single-class runs and the reference
predictors (:func:`nonlinear_baselines`, keyed by their own names: the constants below and chapter
1's :data:`~icl.chapters.model_selection.LEAST_SQUARES` and ``BAYES_DENSE``) on the same dense
linear and on the same ReLU-network prompts (d = 10, unit variance); :func:`verdict_c6`
judges the mixture's selection cost against each specialist
(:mod:`icl.chapters.selection`). No Bayes-optimal learner of the linear/ReLU prior is
computable, and with k <= d points any data are fit exactly by a linear function, so the
cost must vanish from k = d + 2 on and be small on average (fixed 2026-12-01, before any
new run was evaluated); the old every-k criterion is kept as the ``strict`` line. A part left
inconclusive is decided on a second stage of fresh prompts of its class (the chapter keeps a
:class:`~icl.chapters.stages.Redraw`; :func:`~icl.chapters.verdict.two_stage`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from ..baselines import KNN, LeastSquares, ReluNetGD, bayes_predictor, keyed
from ..config import TaskConfig, get_run_config, registry_run
from ..evaluate import Curve, Predictor, evaluate, sample_prompts
from ..tasks import ClassName, DenseLinear, ReluNet
from .prompts import check_lengths, curve_table
from .selection import Specialist, mixture_matches_specialists
from .stages import PromptSet, Redraw
from .verdict import Verdict

__all__ = [
    "MIX_RUN",
    "LINEAR_RUN",
    "RELU_RUN",
    "RELU_GD",
    "THREE_NN",
    "NonlinearChapter",
    "nonlinear_baselines",
    "nonlinear_chapter",
    "task_geometry",
    "verdict_c6",
]

# the curve keys of chapter 3's own reference predictors, their own names (chapter 5 reuses THREE_NN)
RELU_GD, THREE_NN = ReluNetGD.name, KNN(3).name

# the runs C6 judges by default, found in the registry by their pretraining weights (chapter 5 reuses
# LINEAR_RUN)
MIX_RUN, LINEAR_RUN, RELU_RUN = (
    registry_run("nonlinear", weights)
    for weights in (
        {ClassName.DENSE: 0.5, ClassName.RELU: 0.5},
        {ClassName.DENSE: 1.0},
        {ClassName.RELU: 1.0},
    )
)


@dataclass
class NonlinearChapter:
    """Curves of every model and baseline on dense linear and on ReLU-network prompts (d dimensions)."""

    d: int
    linear: dict[str, Curve]
    relu: dict[str, Curve]
    missing: list[str]
    n_prompts: int
    seed: int | None = None  # the evaluation seed the prompts were drawn from
    # sets "linear" (the dense linear prompts, as the field) and "relu": for second stages
    redraw: Redraw | None = field(default=None, repr=False)

    def draw(self, task: str):
        """Scores predictors on fresh prompts of ``task`` (``(names, n, seed) -> curves``), or None."""
        return (
            None
            if self.redraw is None or self.seed is None
            else (lambda names, n, seed: self.redraw.curves(task, names, n, seed))
        )

    def table(self, ks: Sequence[int]):
        return curve_table({"linear": self.linear, "ReLU net": self.relu}, ks)


def nonlinear_baselines(
    d: int | None = None,
    hidden: int | None = None,
    relu_ks: Sequence[int] | None = (1, 2, 5, 10, 20, 30, 40),
    relu_steps: int = 100,
    seed: int = 0,
) -> dict:
    """Reference predictors for chapter 3 (unit-variance classes), by their names: least squares, the
    Bayes-optimal predictor of dense linear functions, the ReLU-network fit and 3-NN. ``d`` and ``hidden``
    default to the mixture run's (:func:`task_geometry`)."""
    d, hidden, _ = task_geometry(d, hidden)
    fit = ReluNetGD(hidden, steps=relu_steps, seed=seed, ks=None if relu_ks is None else list(relu_ks))
    return keyed(LeastSquares(), bayes_predictor(TaskConfig((ClassName.DENSE,), (1.0,), d)), fit, KNN(3))


def task_geometry(
    d: int | None = None, hidden: int | None = None, n_points: int | None = None
) -> tuple[int, int, int]:
    """``(d, hidden, n_points)``: the values given, the rest read from the mixture run's config (the
    registry's ``MIX_RUN``, the only scale chapter 3 runs at)."""
    cfg = get_run_config(MIX_RUN)
    return (
        cfg.task.n_dims if d is None else d,
        cfg.task.hidden if hidden is None else hidden,
        cfg.model.n_points if n_points is None else n_points,
    )


def nonlinear_chapter(
    models: Mapping[str, torch.nn.Module],
    baselines: Mapping[str, Predictor] | None = None,
    d: int | None = None,
    hidden: int | None = None,
    n_points: int | None = None,
    n_prompts: int = 1280,
    seed: int = 3,
    missing: Sequence[str] = (),
    n_boot: int = 1000,
) -> NonlinearChapter:
    """Chapter 3's curves on linear and ReLU-network prompts; the geometry defaults to the mixture run's."""
    d, hidden, n_points = task_geometry(d, hidden, n_points)
    check_lengths(models, n_points)
    preds = {**models, **(baselines if baselines is not None else nonlinear_baselines(d, hidden))}
    linear, relu = DenseLinear(d, normalize=True), ReluNet(d, hidden, normalize=True)
    redraw = Redraw(
        {
            "linear": PromptSet(lambda n, s: sample_prompts(linear, n, n_points, s), preds),
            ClassName.RELU: PromptSet(lambda n, s: sample_prompts(relu, n, n_points, s + 1), preds),
        },
        n_boot,
    )
    return NonlinearChapter(
        d=d,
        linear=evaluate(preds, linear, n_prompts, n_points, seed=seed, n_boot=n_boot),
        relu=evaluate(preds, relu, n_prompts, n_points, seed=seed + 1, n_boot=n_boot),
        missing=list(missing),
        n_prompts=n_prompts,
        seed=seed,
        redraw=redraw,
    )


def verdict_c6(
    ch: NonlinearChapter,
    mix: str = MIX_RUN,
    linear_only: str = LINEAR_RUN,
    relu_only: str = RELU_RUN,
    tol: float = 0.05,
) -> Verdict:
    """C6: on linear and on ReLU-network prompts, the mixture model's selection cost over the
    matching single-class model is at most ``tol`` at every k >= d + 2 and on average over every
    k (95% intervals). No Bayes-optimal learner of the linear/ReLU prior is computable, so the
    allowance is the identifiability limit: with k <= d points any data are fit exactly by a
    linear function, so no learner can tell the classes apart before k = d + 1. A part left
    inconclusive is decided on a second stage (:func:`~icl.chapters.verdict.two_stage`)."""
    return mixture_matches_specialists(
        "C6",
        mix,
        [
            Specialist(
                "linear prompts",
                ch.linear,
                linear_only,
                identifiable_from=ch.d + 2,
                draw=ch.draw("linear"),
                eval_seed=ch.seed,
            ),
            Specialist(
                "ReLU-net prompts",
                ch.relu,
                relu_only,
                identifiable_from=ch.d + 2,
                draw=ch.draw(ClassName.RELU),
                eval_seed=ch.seed,
            ),
        ],
        tol,
    )

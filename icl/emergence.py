"""The emergence log: a run's in-context errors at two fixed k, measured while it trains.

This module owns how a training run watches selection arrive. Every ``eval_every`` steps
(and at step 0) the run scores itself on a small *fixed* evaluation set, one per class
of its task (dense and sparse prompts for the linear runs), drawn once from the
``EMERGENCE`` stream (disjoint from training and from the chapters' evaluation prompts),
at two values of k written through d (:func:`emergence_ks`: k = ceil(d/2) and k = d - 1,
the range where selecting a sparse solution pays and least squares cannot yet fit). The
rows go to ``eval.csv`` beside ``loss.csv`` and into the resumable state, so a resumed run
keeps its log. :func:`reference_errors` scores least squares and the Lasso on the same
prompts: the horizontal lines an emergence figure is read against.

Cost: one forward pass over ``2 x 256`` prompts per 1,000 steps (0.19 s at the small scale: about 1% of training).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import EMERGENCE, RunConfig, TaskConfig, stream_generator
from .evaluate import Prompts, errors, predict
from .model import Instructed, TransformerModel
from .tasks import sample_xs

__all__ = ["N_PROMPTS", "emergence_ks", "logged_ks", "EmergenceSet", "emergence_set", "column", "columns",
           "reference_errors"]

N_PROMPTS = 256  # per class; small and fixed, so the log is cheap and its curves are paired across steps


def emergence_ks(d: int) -> tuple[int, int]:
    """The two k the log reads: ceil(d/2) and d - 1 (for 1-D runs, k = 2 and 5)."""
    return (2, 5) if d == 1 else (max(1, math.ceil(d / 2)), max(2, d - 1))


def logged_ks(config: RunConfig) -> tuple[int, ...]:
    """:func:`emergence_ks` of the run's d, clipped to its prompt length (distinct values)."""
    n = config.model.n_points
    return tuple(dict.fromkeys(min(k, n - 1) for k in emergence_ks(config.task.n_dims)))


def _classes(task: TaskConfig) -> tuple[str, ...]:
    """The classes the log scores: a linear run's dense and sparse prompts, else the run's own classes."""
    return ("dense", "sparse") if set(task.classes) <= {"dense", "sparse"} else task.classes


@dataclass
class EmergenceSet:
    """The fixed prompts of one run's log: one :class:`~icl.evaluate.Prompts` per class."""

    prompts: dict[str, Prompts]
    ks: tuple[int, int]
    instructions: dict[str, int] = field(default_factory=dict)  # a conditional run's label of each class

    def score(self, predictor) -> np.ndarray:
        """Mean normalised error of ``predictor`` at each column: (len(columns),). A model on
        another device (CUDA) gets the prompts there; the errors are computed on the CPU. A
        conditional run's model (``n_classes > 0``) is given each class's correct instruction."""
        device = next(predictor.parameters()).device if isinstance(predictor, torch.nn.Module) else None
        out = []
        for name, p in self.prompts.items():
            instructed = name in self.instructions and isinstance(predictor, TransformerModel)
            out += self._score(Instructed(predictor, self.instructions[name]) if instructed else predictor, p, device)
        return np.array(out)

    def _score(self, predictor, p: Prompts, device) -> list[float]:
        """The mean errors of one class's prompts at the log's k."""
        if device is not None and device.type != "cpu":
            with torch.no_grad():
                predictor.eval()
                pred = predictor(p.xs.to(device), p.ys.to(device)).float().cpu()
        else:
            pred = predict(predictor, p)
        err = errors(pred, p)  # (P, n)
        return [float(err[:, k].mean()) for k in self.ks]


def emergence_set(config: RunConfig) -> EmergenceSet:
    """The run's fixed evaluation set: a function of its task's classes, d and prompt length only,
    so runs of every seed are scored on the same prompts (paired)."""
    d, n = config.task.n_dims, config.model.n_points
    prompts = {}
    for i, name in enumerate(_classes(config.task)):
        fc = config.task.build_class(name)
        g = stream_generator(0, i, EMERGENCE)
        xs = sample_xs(N_PROMPTS, n, d, g)
        task = fc.sample(N_PROMPTS, g)
        prompts[name] = Prompts(xs, task.evaluate(xs), task.variance, task.labels)
    # a conditional run is scored under its correct instructions; a label curriculum's run without labels
    # (its labels are withdrawn by the end: the log follows the plain model it becomes)
    conditional = config.model.n_classes and not config.curriculum.labels.active
    instructions = {name: config.task.classes.index(name) for name in prompts} if conditional else {}
    return EmergenceSet(prompts, logged_ks(config), instructions)


def column(cls: str, k: int) -> str:
    """The ``eval.csv`` column of class ``cls`` at ``k``, e.g. ``sparse_k5``."""
    return f"{cls}_k{k}"


def columns(config: RunConfig) -> list[str]:
    """The column names of a run's ``eval.csv`` after ``step``: every class at every :func:`logged_ks`."""
    return [column(c, k) for c in _classes(config.task) for k in logged_ks(config)]


def reference_errors(config: RunConfig) -> dict[str, np.ndarray]:
    """Least squares and, for linear runs, the Lasso on the run's emergence set, per column.
    The Lasso penalty is chosen on held-out sparse prompts as in chapter 1
    (:func:`icl.evaluate.choose_lasso_alpha`)."""
    from .baselines import Lasso, LeastSquares
    from .evaluate import choose_lasso_alpha

    es = emergence_set(config)
    refs = {"least squares": es.score(LeastSquares())}
    if "sparse" in es.prompts:
        sparse = config.task.build_class("sparse")
        alpha = choose_lasso_alpha(sparse, config.model.n_points, (1e-3, 1e-2, 1e-1), seed=0)
        refs["Lasso"] = es.score(Lasso(alpha))
    return refs

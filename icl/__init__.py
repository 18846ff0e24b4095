"""icl: in-context learning of function classes and their mixtures.

A thin package behind the study's notebooks (Yadlowsky, Doshi, Tripuraneni 2023).
The core: ``tasks`` (function classes), ``model`` (the transformer), ``config`` (scales
and the registry of named runs), ``curriculum`` (schedules over the training steps),
``train`` (training and exact resume), ``forks`` (exact forks, a whole scale),
``checkpoint`` (files on disk), ``evaluate`` (errors with bootstrap intervals), ``emergence`` (the
selection log written during training). The study: ``baselines/`` (reference predictors:
linear, Bayes-optimal, fitted), ``chapters/`` (one module per notebook, its evaluation
and verdicts, plus the shared verdict logic and notebook setup), ``plots``. Tooling:
``report/`` (the HTML report and its browser checks), ``bench/`` (benchmarks),
``provenance`` (commit and versions), ``protocol`` (the small scale's holds and step counts and
the cpu scale's step counts, data beside their runs), ``train_many`` (several runs side by side:
the prepared command for a lent GPU). The sweeps that chose the scales, the C1 search and the
probe are ``experiments/``, beside the package: they import it, it never imports them.

What a researcher needs is importable from here (see ``__all__``)::

    import icl
    model, cfg = icl.load_run("linear-w0.50", scale="small")
    curves = icl.evaluate({"model": model, "Lasso": icl.Lasso(0.01)}, cfg.task.build_class("sparse"))

Runs are read from ``data/runs/<scale>/<run>/`` beside the package, or from
``$ICL_DATA/runs/<scale>/<run>/`` when the ``ICL_DATA`` environment variable names a folder
laid out like ``data/`` (:func:`icl.config.scale_dir`).

``icl.evaluate`` is the function; the module of the same name is reached by
``from icl.evaluate import ...`` (``import icl.evaluate as m`` would bind the function).
"""

from __future__ import annotations

from .baselines import (
    KNN,
    Averaging,
    BayesDense,
    BayesLine,
    BayesMixture,
    BayesSine,
    BayesSparse,
    CombinedFit,
    Lasso,
    LeastSquares,
    Predictor,
    ReluNetGD,
    Ridge,
    Zero,
)
from .evaluate import Curve, Prompts, errors, evaluate, predict, sample_prompts
from .run_folder import load_run
from .tasks import (
    ConvexCombination,
    DenseLinear,
    FunctionClass,
    Line1D,
    Mixture,
    ReluNet,
    Scaled,
    Sine1D,
    SparseLinear,
    Task,
)

__version__ = "0.1.0"


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch global RNGs (notebooks call this first)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


__all__ = [
    # runs and evaluation
    "load_run",
    "evaluate",
    "sample_prompts",
    "predict",
    "errors",
    "Prompts",
    "Curve",
    "seed_everything",
    # function classes (icl.tasks)
    "Task",
    "FunctionClass",
    "DenseLinear",
    "SparseLinear",
    "ReluNet",
    "Line1D",
    "Sine1D",
    "ConvexCombination",
    "Scaled",
    "Mixture",
    # reference predictors (icl.baselines), all with the model's signature (xs, ys) -> preds
    "Predictor",
    "Zero",
    "Averaging",
    "KNN",
    "LeastSquares",
    "Ridge",
    "Lasso",
    "BayesDense",
    "BayesSparse",
    "BayesLine",
    "BayesSine",
    "BayesMixture",
    "ReluNetGD",
    "CombinedFit",
]

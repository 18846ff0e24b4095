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
``provenance`` (commit and versions), ``sizing`` (the sweeps that chose the scales),
``train_many`` (several runs side by side: the prepared command for a lent GPU).
"""

from __future__ import annotations

__version__ = "0.1.0"


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch global RNGs (notebooks call this first)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_run(name: str, root=None, allow_partial: bool = False, scale: str = "cpu"):
    """Load a trained run by name and scale: (model, config). See :func:`icl.checkpoint.load_run`."""
    from .checkpoint import load_run as _load_run

    return _load_run(name, root=root, allow_partial=allow_partial, scale=scale)

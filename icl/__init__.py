"""icl: in-context learning of function classes and their mixtures.

A thin package behind the study's notebooks (Yadlowsky, Doshi, Tripuraneni 2023):
``tasks`` (function classes), ``model`` (the transformer), ``baselines`` (reference
predictors), ``config`` (scales and named runs), ``train`` (training and resume),
``checkpoint`` (files on disk), ``evaluate`` (errors with bootstrap intervals),
``claims`` (chapters 1-2, verdicts C1-C5, the shared :class:`~icl.claims.Verdict`),
``chapters`` (chapters 3-5, verdicts C6-C8), ``notebook`` (parameter checks and setup
for the notebooks), ``plots``, ``report`` (the HTML report), ``browser`` (its
screenshot), ``bench`` (benchmarks) and ``sizing`` (the sweeps that chose the cpu scale).
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

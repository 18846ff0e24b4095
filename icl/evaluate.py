"""Evaluation: normalised squared error at every prompt length, with bootstrap intervals.

This module owns how a predictor (a trained model or a baseline; both are callables
``(xs, ys) -> preds``) is scored on a function class. Prompts are drawn from the
evaluation stream (``purpose=EVAL`` of :func:`icl.config.stream_generator`), which is
disjoint from every training stream. All predictors of one comparison are scored on
the *same* prompts, so their differences are paired.

The error of a prediction is ``(pred - y)^2 / var`` where ``var`` is the normalising
variance of the class the prompt was drawn from (predicting 0 scores about 1). ``k``
is the number of in-context examples before the query: position ``k`` of a prompt.

:func:`draw_prompts` is the one prompt sampler of the package (inputs first, then one function per
prompt, both from one generator): :func:`sample_prompts` (evaluation prompts), the emergence log's
fixed set and the chapters' example prompts all draw through it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from .config import BOOTSTRAP, EVAL, stream_generator
from .tasks import FunctionClass, Task, sample_xs

Predictor = Callable[[Tensor, Tensor], Tensor]

__all__ = [
    "Prompts",
    "draw_prompts",
    "sample_prompts",
    "predict",
    "errors",
    "bootstrap_ci",
    "Curve",
    "evaluate",
    "choose_lasso_alpha",
]


@dataclass
class Prompts:
    xs: Tensor  # (P, n, d)
    ys: Tensor  # (P, n)
    variance: Tensor  # (P,)
    labels: Tensor  # (P,) mixture component of each prompt
    # the functions the prompts were drawn from (None: built by hand), e.g. to draw one on a grid of x
    task: Task | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return self.xs.shape[0]


def draw_prompts(
    fc: FunctionClass,
    n_prompts: int,
    n_points: int,
    generator: torch.Generator,
    n_dims: int | None = None,
    x_scale: float = 1.0,
) -> Prompts:
    """``n_prompts`` prompts of ``n_points`` examples of ``fc`` drawn from ``generator``: the inputs
    ``x ~ N(0, x_scale^2 I)`` in ``n_dims`` dimensions (default: the class's) first, then one function
    per prompt. Every prompt of the package is drawn here, in this order of draws, so a generator's
    stream gives the same prompts wherever it is used."""
    xs = sample_xs(n_prompts, n_points, fc.n_dims if n_dims is None else n_dims, generator, scale=x_scale)
    task = fc.sample(n_prompts, generator)
    return Prompts(xs, task.evaluate(xs), task.variance, task.labels, task)


def sample_prompts(
    fc: FunctionClass, n_prompts: int, n_points: int, seed: int = 0, x_scale: float = 1.0
) -> Prompts:
    """``n_prompts`` fresh prompts of ``n_points`` examples from the evaluation stream of ``seed``."""
    if not isinstance(n_prompts, int) or n_prompts < 1:
        raise ValueError(f"n_prompts={n_prompts!r} must be an integer >= 1")
    if not isinstance(n_points, int) or n_points < 1:
        raise ValueError(f"n_points={n_points!r} must be an integer >= 1")
    return draw_prompts(fc, n_prompts, n_points, stream_generator(seed, 0, EVAL), x_scale=x_scale)


@torch.no_grad()
def predict(predictor: Predictor, prompts: Prompts, batch_size: int = 512) -> Tensor:
    """Predictions (P, n) in chunks of ``batch_size`` prompts."""
    if isinstance(predictor, torch.nn.Module):
        predictor.eval()
    out = [
        predictor(prompts.xs[i : i + batch_size], prompts.ys[i : i + batch_size])
        for i in range(0, len(prompts), batch_size)
    ]
    return torch.cat(out).to(torch.float64)


def errors(preds: Tensor, prompts: Prompts) -> np.ndarray:
    """Normalised squared errors (P, n)."""
    e = (preds.double() - prompts.ys.double()).square() / prompts.variance.double()[:, None]
    return e.numpy()


@functools.lru_cache(maxsize=16)
def _resample_counts(seed: int, P: int, n_boot: int) -> np.ndarray:
    """How often each of P prompts is drawn in each of n_boot resamples (n_boot, P), a
    function of (seed, P, n_boot) only, so it is drawn once and shared by every curve."""
    g = stream_generator(seed, 0, BOOTSTRAP)
    idx = torch.randint(0, P, (n_boot, P), generator=g).numpy()
    flat = (np.arange(n_boot)[:, None] * P + idx).ravel()
    counts = np.bincount(flat, minlength=n_boot * P).reshape(n_boot, P).astype(np.float64)
    counts.setflags(write=False)
    return counts


def bootstrap_ci(
    err: np.ndarray, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over prompts and a percentile bootstrap interval: three arrays over the last axes."""
    err = np.asarray(err, dtype=np.float64)
    P = err.shape[0]
    # mean of resampled prompts = counts-weighted mean: (n_boot, P) @ (P, ...) without the big gather
    boots = _resample_counts(seed, P, n_boot) @ err.reshape(P, -1) / P  # (n_boot, n)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2], axis=0)
    shape = err.shape[1:]
    return err.mean(0), lo.reshape(shape), hi.reshape(shape)


@dataclass
class Curve:
    """Error of one predictor against k on one class: mean and interval per k."""

    name: str
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    per_prompt: np.ndarray  # (P, n) normalised squared errors

    @property
    def ks(self) -> np.ndarray:
        return np.arange(self.mean.shape[0])


def evaluate(
    predictors: Mapping[str, Predictor],
    fc: FunctionClass,
    n_prompts: int = 1280,
    n_points: int = 21,
    seed: int = 0,
    x_scale: float = 1.0,
    n_boot: int = 1000,
    prompts: Prompts | None = None,
) -> dict[str, Curve]:
    """Score every predictor on the same ``n_prompts`` prompts of ``fc``."""
    prompts = prompts if prompts is not None else sample_prompts(fc, n_prompts, n_points, seed, x_scale)
    out = {}
    for name, p in predictors.items():
        err = errors(predict(p, prompts), prompts)
        mean, lo, hi = bootstrap_ci(err, n_boot=n_boot, seed=seed)
        out[name] = Curve(name, mean, lo, hi, err)
    return out


def choose_lasso_alpha(fc, n_points: int, alphas: Sequence[float], seed: int, n_prompts: int = 256) -> float:
    """The Lasso penalty with the lowest mean error over k = 1..n-1 on held-out prompts
    (a seed different from the evaluation prompts)."""
    from .baselines import Lasso

    prompts = sample_prompts(fc, n_prompts, n_points, seed=seed + 10_007)
    scores = {a: errors(predict(Lasso(a), prompts), prompts)[:, 1:].mean() for a in alphas}
    return min(scores, key=scores.get)

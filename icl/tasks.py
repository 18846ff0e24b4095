"""Function classes: the distributions over functions that prompts are drawn from.

This module owns *what* a prompt is about. A :class:`FunctionClass` is a prior over
functions ``f: R^d -> R`` (dense linear, sparse linear, 2-layer ReLU network, 1-D
line, 1-D sinusoid, a convex combination of two classes, a class scaled by a constant,
a mixture of classes). Its ``sample`` draws one function per prompt and returns a
:class:`Task` (Garg et al.'s name for a batch of sampled functions) whose
``evaluate(xs)`` gives the targets.

Every class knows its normalising variance ``E[f(x)^2]`` under ``x ~ N(0, I)``, so
errors can be reported on a common scale (predicting 0 scores about 1). With
``normalize=True`` the functions are rescaled so that this variance is exactly 1; the
``cpu`` scale trains that way so that a dense/sparse mixture weights both classes
equally in the loss.

All sampling is batched and takes an explicit ``torch.Generator``; nothing here reads
global random state. The curriculum is supported through ``d_active``: only the first
``d_active`` input coordinates are non-zero, and functions only use those.

The names of the classes (:class:`ClassName`) and of the families of runs that read them
(:class:`Family`) are defined here once; configs, logs and chapters use these. Both are
``str`` enums, so a member is equal to its text and prints as it (JSON, CSV and verdicts unchanged).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from enum import StrEnum

import torch
from torch import Tensor

__all__ = [
    "ClassName",
    "PRETRAINING_CLASSES",
    "Family",
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
    "sample_xs",
]


class ClassName(StrEnum):
    """A function class by the name a config, the emergence log and the chapters give it."""

    DENSE = "dense"  # DenseLinear
    SPARSE = "sparse"  # SparseLinear
    RELU = "relu"  # ReluNet
    LINE = "line"  # Line1D
    SINE = "sine"  # Sine1D
    # convex combinations of a line and a sine: a prompt set of the 1-D emergence log (and chapter 4's
    # sweep), never a pretraining class
    COMBINATION = "combination"


# the classes a run can be pretrained on (a config's ``task.classes``)
PRETRAINING_CLASSES = tuple(c for c in ClassName if c is not ClassName.COMBINATION)


class Family(StrEnum):
    """A family of runs: the classes its chapters and its emergence log read."""

    LINEAR = "linear"  # dense/sparse (chapters 1, 2, 6)
    NONLINEAR = "nonlinear"  # dense linear and ReLU networks (chapter 3)
    ONE_D = "1d"  # lines and sines (chapters 4, 5)


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def sample_xs(
    batch_size: int,
    n_points: int,
    n_dims: int,
    generator: torch.Generator,
    d_active: int | None = None,
    scale: float = 1.0,
) -> Tensor:
    """Inputs ``x ~ N(0, scale^2 I)``, shape (batch, n_points, n_dims).

    Coordinates ``>= d_active`` are zero (Garg et al.'s dimension curriculum).
    """
    xs = torch.randn(batch_size, n_points, n_dims, generator=generator) * scale
    if d_active is not None and d_active < n_dims:
        xs[..., d_active:] = 0.0
    return xs


class Task:
    """A batch of functions, one per prompt (Garg et al.'s ``Task``).

    ``evaluate(xs)`` maps inputs (B, n, d) to targets (B, n). ``variance`` is the
    per-prompt normalising variance (B,) of the class each function was drawn from.
    ``labels`` says which mixture component each prompt came from (all 0 for a
    single class).
    """

    def __init__(self, fn, variance: Tensor, labels: Tensor | None = None):
        self._fn = fn
        self.variance = variance
        self.labels = labels if labels is not None else torch.zeros_like(variance, dtype=torch.long)

    def evaluate(self, xs: Tensor) -> Tensor:
        return self._fn(xs)

    def __len__(self) -> int:
        return self.variance.shape[0]


class FunctionClass(ABC):
    """A prior over functions R^n_dims -> R."""

    n_dims: int
    name: str = "function class"

    @abstractmethod
    def variance(self, d_active: int | None = None) -> float:
        """E[f(x)^2] for x ~ N(0, I) with ``d_active`` live coordinates."""

    @abstractmethod
    def sample(self, batch_size: int, generator: torch.Generator, d_active: int | None = None) -> Task:
        """Draw ``batch_size`` independent functions."""

    def _active(self, d_active: int | None) -> int:
        if d_active is None:
            return self.n_dims
        _check(1 <= d_active <= self.n_dims, f"d_active={d_active} must be in 1..{self.n_dims}")
        return d_active


class DenseLinear(FunctionClass):
    """``f(x) = w . x`` with ``w ~ N(0, I_d)`` (scaled by 1/sqrt(d) when normalised)."""

    name = "dense linear"

    def __init__(self, n_dims: int, normalize: bool = False):
        _check(isinstance(n_dims, int) and n_dims >= 1, f"n_dims={n_dims!r} must be an integer >= 1")
        self.n_dims, self.normalize = n_dims, normalize

    def raw_variance(self, d_active: int | None = None) -> float:
        return float(self._active(d_active))

    def variance(self, d_active: int | None = None) -> float:
        return 1.0 if self.normalize else self.raw_variance(d_active)

    def prior_std(self, d_active: int | None = None) -> float:
        """Standard deviation of each weight under the prior."""
        return 1.0 / math.sqrt(self.raw_variance(d_active)) if self.normalize else 1.0

    def sample_weights(
        self, batch_size: int, generator: torch.Generator, d_active: int | None = None
    ) -> Tensor:
        d = self._active(d_active)
        w = torch.randn(batch_size, self.n_dims, generator=generator)
        w[:, d:] = 0.0
        return w * self.prior_std(d_active)

    def sample(self, batch_size, generator, d_active=None) -> Task:
        w = self.sample_weights(batch_size, generator, d_active)
        var = torch.full((batch_size,), self.variance(d_active))
        return Task(lambda xs: torch.einsum("bnd,bd->bn", xs, w), var)


class SparseLinear(DenseLinear):
    """``f(x) = w . x`` with ``nnz`` non-zero N(0, 1) coordinates on a uniform support."""

    name = "sparse linear"

    def __init__(self, n_dims: int, nnz: int, normalize: bool = False):
        super().__init__(n_dims, normalize)
        _check(
            isinstance(nnz, int) and 1 <= nnz <= n_dims,
            f"nnz={nnz!r} is not allowed: it must be an integer in 1..d={n_dims}",
        )
        self.nnz = nnz

    def _nnz(self, d_active: int | None) -> int:
        return min(self.nnz, self._active(d_active))

    def raw_variance(self, d_active: int | None = None) -> float:
        return float(self._nnz(d_active))

    def sample_weights(self, batch_size, generator, d_active=None) -> Tensor:
        d = self._active(d_active)
        w = torch.randn(batch_size, self.n_dims, generator=generator)
        # uniform support of size nnz among the d active coordinates: rank of random keys
        keys = torch.rand(batch_size, d, generator=generator)
        support = keys.argsort(dim=1)[:, : self._nnz(d_active)]
        mask = torch.zeros(batch_size, self.n_dims)
        mask.scatter_(1, support, 1.0)
        return w * mask * self.prior_std(d_active)


class ReluNet(FunctionClass):
    """``f(x) = sqrt(2/h) sum_j a_j relu(u_j . x)``, ``u_j ~ N(0, I)``, ``a_j ~ N(0, 1)``."""

    name = "2-layer ReLU network"

    def __init__(self, n_dims: int, hidden: int = 100, normalize: bool = False):
        _check(isinstance(n_dims, int) and n_dims >= 1, f"n_dims={n_dims!r} must be an integer >= 1")
        _check(isinstance(hidden, int) and hidden >= 1, f"hidden={hidden!r} must be an integer >= 1")
        self.n_dims, self.hidden, self.normalize = n_dims, hidden, normalize

    def variance(self, d_active=None) -> float:
        return 1.0 if self.normalize else float(self._active(d_active))

    def sample(self, batch_size, generator, d_active=None) -> Task:
        d = self._active(d_active)
        u = torch.randn(batch_size, self.n_dims, self.hidden, generator=generator)
        u[:, d:, :] = 0.0
        a = torch.randn(batch_size, self.hidden, generator=generator)
        scale = math.sqrt(2.0 / self.hidden) / (math.sqrt(d) if self.normalize else 1.0)
        var = torch.full((batch_size,), self.variance(d_active))

        def fn(xs: Tensor) -> Tensor:
            return scale * torch.einsum("bnh,bh->bn", torch.relu(xs @ u), a)

        return Task(fn, var)


class Line1D(FunctionClass):
    """1-D line ``f(x) = a x`` with ``a ~ N(0, slope_scale^2)``; variance slope_scale^2."""

    name = "1-D line"

    def __init__(self, slope_scale: float = 1.0):
        _check(slope_scale > 0, f"slope_scale={slope_scale!r} must be > 0")
        self.n_dims, self.slope_scale = 1, float(slope_scale)

    def variance(self, d_active=None) -> float:
        return self.slope_scale**2

    def sample(self, batch_size, generator, d_active=None) -> Task:
        a = torch.randn(batch_size, generator=generator) * self.slope_scale
        return Task(lambda xs: xs[..., 0] * a[:, None], torch.full((batch_size,), self.variance()))


class Sine1D(FunctionClass):
    """1-D sinusoid ``f(x) = sqrt(2) sin(omega x + phi)``, omega ~ U[band], phi ~ U[0, 2pi)."""

    name = "1-D sinusoid"

    def __init__(self, band: Sequence[float] = (1.0, 3.0)):
        lo, hi = (float(b) for b in band)
        _check(0 <= lo <= hi, f"frequency band={tuple(band)!r} must satisfy 0 <= low <= high")
        self.n_dims, self.band = 1, (lo, hi)

    def variance(self, d_active=None) -> float:
        return 1.0

    def sample_params(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        lo, hi = self.band
        omega = lo + (hi - lo) * torch.rand(batch_size, generator=generator)
        phi = 2 * math.pi * torch.rand(batch_size, generator=generator)
        return omega, phi

    def sample(self, batch_size, generator, d_active=None) -> Task:
        omega, phi = self.sample_params(batch_size, generator)
        fn = lambda xs: math.sqrt(2.0) * torch.sin(omega[:, None] * xs[..., 0] + phi[:, None])  # noqa: E731
        return Task(fn, torch.full((batch_size,), 1.0))


class ConvexCombination(FunctionClass):
    """``f = a * f_1 + (1 - a) * f_2`` with independent ``f_1 ~ first``, ``f_2 ~ second``.

    The variance is ``a^2 var_1 + (1-a)^2 var_2``: the two parts are independent and
    the classes used here have zero mean.
    """

    name = "convex combination"

    def __init__(self, first: FunctionClass, second: FunctionClass, a: float):
        _check(
            isinstance(a, (int, float)) and 0.0 <= a <= 1.0,
            f"mixing weight a={a!r} is outside the allowed range [0, 1]",
        )
        _check(first.n_dims == second.n_dims, "both classes must have the same n_dims")
        self.first, self.second, self.a, self.n_dims = first, second, float(a), first.n_dims

    def variance(self, d_active=None) -> float:
        return self.a**2 * self.first.variance(d_active) + (1 - self.a) ** 2 * self.second.variance(d_active)

    def sample(self, batch_size, generator, d_active=None) -> Task:
        t1 = self.first.sample(batch_size, generator, d_active)
        t2 = self.second.sample(batch_size, generator, d_active)
        a = self.a
        return Task(
            lambda xs: a * t1.evaluate(xs) + (1 - a) * t2.evaluate(xs),
            torch.full((batch_size,), self.variance(d_active)),
        )


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


class Mixture(FunctionClass):
    """Draw the class independently for every prompt with probabilities ``weights``."""

    name = "mixture"

    def __init__(self, classes: Sequence[FunctionClass], weights: Sequence[float]):
        _check(len(classes) >= 1 and len(classes) == len(weights), "need one weight per class")
        for w in weights:
            _check(
                isinstance(w, (int, float)) and 0.0 <= w <= 1.0,
                f"mixture weight {w!r} is outside the allowed range [0, 1]",
            )
        _check(abs(sum(weights) - 1.0) < 1e-6, f"mixture weights {list(weights)} must sum to 1")
        _check(len({c.n_dims for c in classes}) == 1, "all classes must have the same n_dims")
        self.classes, self.weights = list(classes), [float(w) for w in weights]
        self.n_dims = classes[0].n_dims

    def variance(self, d_active=None) -> float:
        return sum(w * c.variance(d_active) for w, c in zip(self.weights, self.classes))

    def sample(self, batch_size, generator, d_active=None) -> Task:
        probs = torch.tensor(self.weights)
        labels = torch.multinomial(probs, batch_size, replacement=True, generator=generator)
        # every component is drawn for the whole batch (fixed random-number consumption,
        # so the stream does not depend on the labels) and then selected per prompt
        tasks = [c.sample(batch_size, generator, d_active) for c in self.classes]
        var = torch.stack([t.variance for t in tasks], 1).gather(1, labels[:, None])[:, 0]

        def fn(xs: Tensor) -> Tensor:
            ys = torch.stack([t.evaluate(xs) for t in tasks], 0)  # (C, B, n)
            return ys.gather(0, labels[None, :, None].expand(1, *ys.shape[1:]))[0]

        return Task(fn, var, labels)

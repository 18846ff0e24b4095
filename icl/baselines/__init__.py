"""Reference predictors, batched over prompts and over every prefix length.

This package owns the baselines the transformer is compared with, and here the contract
they all keep (:class:`Predictor`) with the prefix helpers they share. A predictor is a
callable with the model's signature: ``predictor(xs, ys) -> preds`` where ``xs`` is
(B, n, d), ``ys`` is (B, n) and ``preds[:, i]`` predicts ``ys[:, i]`` from the first
``i`` examples only (``preds[:, 0]`` sees nothing). No Python loop runs per prompt:
every estimator is written on the per-prefix sufficient statistics
(:func:`prefix_stats`)

    G_i = sum_{j<i} x_j x_j^T   (B, n, d, d)      h_i = sum_{j<i} y_j x_j   (B, n, d)

or on other prefix sums, and solved in one batched call (loops run over prefix lengths
or over chunks of a grid, never over prompts). The linear predictors compute in float64;
:class:`BayesSine`'s quadrature grid (and with it the sine part of a mixture) and the
ReLU-network fit run in float32, for speed (see their docstrings). The grid and fitting
predictors, whose cost grows with the number of prefixes predicted, take ``ks``: the
prefix lengths to predict at (NaN elsewhere); :func:`restricted` sets it on a copy.

Submodules, by kind:

- :mod:`~icl.baselines.linear`: :class:`Zero`, :class:`Averaging`, :class:`KNN`,
  :class:`LeastSquares` (minimum-norm below d), :class:`Ridge`, :class:`Lasso` (the exact
  Lasso homotopy, scikit-learn's objective).
- :mod:`~icl.baselines.bayes`: the Bayes-optimal posterior means of the pretraining
  priors, each a :class:`Posterior` that also reports its log evidence:
  :class:`BayesDense`, :class:`BayesSparse` (exact enumeration of the C(d, nnz)
  supports), :class:`BayesLine` (the 1-D dense posterior), :class:`BayesSine`
  (quadrature), and :class:`BayesMixture` (any mixture of them, posterior class weights);
  :func:`bayes_predictor` builds the one of a task config's prior.
- :mod:`~icl.baselines.fits`: :class:`ReluNetGD` (a 2-layer ReLU network fitted to each
  prompt prefix by gradient descent) and :class:`CombinedFit` (least squares in
  ``a x + b sin(omega x + phi)``).

Noiseless data are handled with a jitter noise variance ``noise_var`` (default 1e-4 for
the linear priors, 1e-3 for the sine, stated in ``docs/protocol.md``): the posterior of a model
with Gaussian noise of that variance, which for unit-variance targets is numerically
noiseless.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor

DTYPE = torch.float64  # what every predictor computes in (parts of the grid fits: float32, see there)


class Predictor:
    """The contract of every baseline: ``predictor(xs (B, n, d), ys (B, n)) -> preds (B, n)``,
    ``preds[:, i]`` from the examples ``j < i`` only, returned in the dtype of ``xs``.

    Subclasses implement :meth:`predict` on float64 inputs and set ``name``: the key their curves
    are filed under wherever predictors are scored (:func:`keyed`; chapters' tables and verdicts,
    the emergence log's references, the sizing scores), and the repr unless a subclass adds to it.
    A predictor whose cost grows with the prefixes it predicts also has a ``ks`` attribute
    (``None``: every prefix), which :func:`restricted` sets.
    """

    name = "predictor"

    def __call__(self, xs: Tensor, ys: Tensor) -> Tensor:
        out_dtype = xs.dtype
        return self.predict(xs.to(DTYPE), ys.to(DTYPE)).to(out_dtype)

    def predict(self, xs: Tensor, ys: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


def prefix_stats(xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Exclusive prefix sums: G (B, n, d, d), h (B, n, d), counts (n,)."""
    B, n, d = xs.shape
    outer = xs[..., :, None] * xs[..., None, :]  # (B, n, d, d)
    G = torch.cumsum(outer, 1) - outer  # sum over j < i
    xy = xs * ys[..., None]
    h = torch.cumsum(xy, 1) - xy
    return G, h, torch.arange(n, dtype=xs.dtype)


def prefix_positions(ks: Sequence[int] | None, n: int) -> Tensor:
    """The prefix lengths to predict at: every one (``ks=None``) or those of ``ks`` below ``n``."""
    if ks is None:
        return torch.arange(n)
    return torch.tensor(sorted({int(k) for k in ks if 0 <= int(k) < n}), dtype=torch.long)


def check_ks(ks: Sequence[int] | None) -> list[int] | None:
    """``ks`` validated and sorted without repeats (``None`` stays ``None``: every prefix)."""
    if ks is None:
        return None
    if isinstance(ks, (str, bytes)) or not all(isinstance(k, int) and k >= 0 for k in ks):
        raise ValueError(f"ks={ks!r} must be prefix lengths (integers >= 0)")
    return sorted(set(ks))


def restricted(predictor, ks: Sequence[int]):
    """A copy of ``predictor`` that predicts at the prefix lengths ``ks`` only (NaN
    elsewhere) if it supports that (it has ``ks``: the grid and fitting baselines, whose
    cost grows with the number of prefixes predicted, and mixtures of them); any other
    predictor is returned as is. Sweeps read the error at one or a few k, so they use this."""
    if not hasattr(predictor, "ks"):
        return predictor
    out = copy.deepcopy(predictor)
    out.ks = check_ks(list(ks))
    return out


def keyed(*predictors: Predictor) -> dict[str, Predictor]:
    """The predictors by their own names (:attr:`Predictor.name`), in order: the curve keys."""
    return {p.name: p for p in predictors}


# The submodules build on the contract above, so they are imported after it.
from .bayes import (  # noqa: E402
    BayesDense,
    BayesLine,
    BayesMixture,
    BayesSine,
    BayesSparse,
    Posterior,
    bayes_name,
    bayes_predictor,
)
from .fits import CombinedFit, ReluNetGD  # noqa: E402
from .linear import KNN, Averaging, Lasso, LeastSquares, Ridge, Zero  # noqa: E402

__all__ = [
    "DTYPE",
    "Predictor",
    "prefix_stats",
    "prefix_positions",
    "check_ks",
    "restricted",
    "keyed",
    "Zero",
    "Averaging",
    "KNN",
    "LeastSquares",
    "Ridge",
    "Lasso",
    "Posterior",
    "BayesDense",
    "BayesSparse",
    "BayesLine",
    "BayesSine",
    "BayesMixture",
    "bayes_name",
    "bayes_predictor",
    "ReluNetGD",
    "CombinedFit",
]

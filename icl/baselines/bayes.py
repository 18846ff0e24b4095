"""Bayes-optimal reference predictors: the posterior means of the pretraining priors.

This module owns the exact Bayesian baselines and the contract that lets them be mixed.
Each is a :class:`Posterior`: besides the posterior-mean prediction it reports, for every
prefix, the log evidence (log marginal likelihood) of the prefix under its prior, up to a
constant ``C(y)`` that depends on the targets and on ``noise_var`` only, so that the
evidences of priors with the same likelihood variance compare. :class:`BayesMixture`
needs nothing else: it turns the components' evidences into posterior class weights.

- :class:`BayesDense`: ``w ~ N(0, prior_std^2 I_d)``, closed form; :class:`BayesLine` is
  its d = 1 case (``f(x) = a x``), a subclass that only renames the prior's scale.
- :class:`BayesSparse`: a uniform support of ``nnz`` coordinates, exact enumeration.
- :class:`BayesSine`: the prior of :class:`~icl.tasks.Sine1D`, by quadrature.
- :class:`BayesMixture`: ``sum_c weights[c] * prior_c`` over any of the above (chapter 1's
  dense/sparse mixture, chapter 4's line/sine mixture).

:func:`bayes_predictor` is the one factory of the Bayes-optimal predictor of a task config (its
classes, weights and class settings), named by :func:`bayes_name`: each predictor's ``name`` is the
curve key the chapters, the emergence log's references and the sizing scores file it under.

The Gaussian priors compute in float64; the sine quadrature grid in float32 (see there).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..tasks import ClassName
from . import DTYPE, Predictor, check_ks, prefix_positions, prefix_stats

if TYPE_CHECKING:
    from ..config import TaskConfig

__all__ = [
    "LINEAR_NOISE_VAR",
    "SINE_NOISE_VAR",
    "Posterior",
    "BayesDense",
    "BayesLine",
    "BayesSparse",
    "BayesSine",
    "BayesMixture",
    "bayes_name",
    "bayes_predictor",
]

# the jitter noise variances that model noiseless data (module docstring of icl.baselines); a mixture
# with a sine takes the sine's for every component, so that their evidences compare
LINEAR_NOISE_VAR, SINE_NOISE_VAR = 1e-4, 1e-3


class Posterior(Predictor):
    """The contract of a Bayes-optimal predictor, which is what :class:`BayesMixture` reads.

    - ``mean_and_evidence(xs (B, n, d), ys (B, n)) -> (mean (B, n), evidence (B, n))``: the
      posterior-mean prediction of every prefix and ``log p(y_<i | x_<i) - C(y_<i)``, the
      log marginal likelihood of the prefix under the prior minus
      ``C(y) = -k/2 log(2 pi noise_var) - |y|^2 / (2 noise_var)`` (k = len(y)); where a
      prefix is not computed (``ks``) both are NaN.
    - ``noise_var``: the Gaussian likelihood variance. ``C(y)`` depends on it, so only
      evidences computed with the same ``noise_var`` may be compared.

    The prediction is the posterior mean.
    """

    noise_var: float

    def mean_and_evidence(self, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def predict(self, xs, ys):
        return self.mean_and_evidence(xs, ys)[0]


def _gaussian_evidence(G: Tensor, h: Tensor, prior_var: float, noise_var: float) -> tuple[Tensor, Tensor]:
    """Posterior mean and the feature-dependent part of the log evidence.

    For ``y = Z w + e``, ``w ~ N(0, prior_var I_p)``, ``e ~ N(0, noise_var I)`` with
    ``G = Z^T Z`` and ``h = Z^T y``: ``A = G / noise_var + I / prior_var``,
    ``b = h / noise_var``, mean ``A^{-1} b`` and
    ``log p(y) = C(y) + b^T A^{-1} b / 2 - logdet(A) / 2 - p log(prior_var) / 2``,
    where ``C(y)`` does not depend on the features. Returns (mean, log p - C).
    """
    p = G.shape[-1]
    A = G / noise_var + torch.eye(p, dtype=G.dtype) / prior_var
    L = torch.linalg.cholesky(A)
    b = h / noise_var
    z = torch.linalg.solve_triangular(L, b[..., None], upper=False)
    mean = torch.linalg.solve_triangular(L.mT, z, upper=True)[..., 0]
    logdet = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    return mean, 0.5 * z[..., 0].square().sum(-1) - 0.5 * logdet - 0.5 * p * math.log(prior_var)


class BayesDense(Posterior):
    """Posterior mean under ``w ~ N(0, prior_std^2 I_d)`` (dense linear prior)."""

    name = "Bayes dense"

    def __init__(self, prior_std: float = 1.0, noise_var: float = LINEAR_NOISE_VAR):
        self.prior_std, self.noise_var = prior_std, noise_var

    def mean_and_evidence(self, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
        G, h, _ = prefix_stats(xs, ys)
        w, ev = _gaussian_evidence(G, h, self.prior_std**2, self.noise_var)
        return (w * xs).sum(-1), ev


class BayesLine(BayesDense):
    """1-D line ``f(x) = a x`` with ``a ~ N(0, slope_std^2)``: :class:`BayesDense` at d = 1
    (the slope is the one weight), the same computation under the 1-D chapters' names.
    Closed form: ``a_hat = sum x y / (sum x^2 + noise_var / slope_std^2)``."""

    name = "Bayes line"

    def __init__(self, slope_std: float = 1.0, noise_var: float = LINEAR_NOISE_VAR):
        super().__init__(slope_std, noise_var)


class BayesSparse(Posterior):
    """Posterior mean under the sparse prior: a uniform support of ``nnz`` coordinates,
    ``N(0, prior_std^2)`` weights on it. Exact: enumerates all C(d, nnz) supports."""

    name = "Bayes sparse"

    def __init__(
        self,
        n_dims: int,
        nnz: int,
        prior_std: float = 1.0,
        noise_var: float = LINEAR_NOISE_VAR,
        chunk: int = 64,
    ):
        if not (isinstance(nnz, int) and 1 <= nnz <= n_dims):
            raise ValueError(f"nnz={nnz!r} is not allowed: it must be an integer in 1..d={n_dims}")
        self.n_dims, self.nnz, self.prior_std, self.noise_var, self.chunk = (
            n_dims,
            nnz,
            prior_std,
            noise_var,
            chunk,
        )
        self.supports = torch.tensor(list(itertools.combinations(range(n_dims), nnz)))  # (S, nnz)

    def mean_and_evidence(self, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior-mean predictions (B, n) and log evidence up to C(y) (B, n)."""
        preds, evs = [], []
        S = self.supports
        for lo in range(0, xs.shape[0], self.chunk):
            x, y = xs[lo : lo + self.chunk], ys[lo : lo + self.chunk]
            G, h, _ = prefix_stats(x, y)  # (b, n, d, d), (b, n, d)
            Gs = G[:, :, S[:, :, None], S[:, None, :]]  # (b, n, S, nnz, nnz)
            hs = h[:, :, S]  # (b, n, S, nnz)
            w, ev = _gaussian_evidence(Gs, hs, self.prior_std**2, self.noise_var)  # (b,n,S,nnz), (b,n,S)
            pred_s = (w * x[:, :, S]).sum(-1)  # (b, n, S)
            post = torch.softmax(ev, dim=-1)
            preds.append((post * pred_s).sum(-1))
            evs.append(torch.logsumexp(ev, dim=-1) - math.log(S.shape[0]))
        return torch.cat(preds), torch.cat(evs)


class BayesSine(Posterior):
    """Posterior mean under the prior of :class:`~icl.tasks.Sine1D`:
    ``f(x) = sqrt(2) sin(omega x + phi)``, ``omega ~ U[band]``, ``phi ~ U[0, 2 pi)``, with a
    Gaussian likelihood of variance ``noise_var``.

    The posterior is computed by quadrature on a product grid: ``n_omega`` midpoints of
    the band and ``n_phi`` equally spaced phases (the trapezoidal rule, spectrally
    accurate for the periodic phase integral). Writing
    ``f = sqrt(2) (cos phi sin(omega x) + sin phi cos(omega x))``, the log likelihood of
    every prefix needs only five prefix sums per ``omega`` (of ``y s, y c, s^2, c^2, s c``
    with ``s = sin(omega x)``, ``c = cos(omega x)``): one small matrix product gives it
    for all phases, so the cost is O(n_omega * n_phi * P * n) whatever k. Weights are
    accumulated with a running log-sum-exp over chunks of ``omega`` (memory bounded by
    ``chunk_elems``); the grid part runs in float32 (the log weights are shifted by
    their maximum first), the accumulation in float64.

    Noise variance and grid go together: the likelihood's width in ``omega`` and ``phi``
    is about ``sqrt(noise_var / k)`` and the grid must resolve it at the k where the
    posterior is still multi-modal (k <= 4 or so); later the posterior sits on a few
    grid points whose spacing bounds the error. Noiseless data are modelled with the
    jitter ``noise_var = 1e-3`` (the error at k = 2 still moves with it: 0.256, 0.221,
    0.196 at 1e-2, 3e-3, 1e-3 on one set of prompts; 1e-4 would need a 3x finer phase
    grid). The default 128 x 256 grid agrees with a 512 x 1024 grid to a mean squared
    prediction difference below 1e-4 at every k (measured; a coarse-vs-fine test guards it).

    With ``ks`` given, only those prefix lengths are computed (NaN elsewhere): the cost
    is proportional to their number.
    """

    name = "Bayes sine"

    def __init__(
        self,
        band: tuple[float, float] = (1.0, 3.0),
        noise_var: float = SINE_NOISE_VAR,
        n_omega: int = 128,
        n_phi: int = 256,
        chunk_elems: int = 1 << 22,
        ks: Sequence[int] | None = None,
    ):
        lo, hi = (float(b) for b in band)
        if not 0 <= lo <= hi:
            raise ValueError(f"frequency band={tuple(band)!r} must satisfy 0 <= low <= high")
        if not noise_var > 0:
            raise ValueError(f"noise_var={noise_var!r} must be > 0")
        for name, v in (("n_omega", n_omega), ("n_phi", n_phi)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"{name}={v!r} must be an integer >= 1")
        self.band, self.noise_var, self.chunk_elems = (lo, hi), float(noise_var), int(chunk_elems)
        n_omega = 1 if hi == lo else n_omega
        self.omegas = lo + (hi - lo) * (torch.arange(n_omega, dtype=DTYPE) + 0.5) / n_omega
        self.phis = 2 * math.pi * torch.arange(n_phi, dtype=DTYPE) / n_phi
        self.ks = check_ks(ks)

    def mean_and_evidence(self, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior-mean predictions (P, n) and the log evidence minus ``C(y)`` (P, n),
        where ``C(y) = -k/2 log(2 pi noise_var) - |y|^2 / (2 noise_var)`` (as in
        :func:`_gaussian_evidence`, so the evidences of the two are comparable)."""
        x, y = xs[..., 0].to(DTYPE), ys.to(DTYPE)
        P, n_all = y.shape
        idx = prefix_positions(self.ks, n_all)
        n = len(idx)
        cp, sp = torch.cos(self.phis), torch.sin(self.phis)  # (F,)
        F, r2 = len(self.phis), math.sqrt(2.0)
        # (2 y.f - |f|^2) / (2 noise_var) = coef @ (Sys, Syc, Sss, Scc, Ssc) for each phase
        coef = (torch.stack([r2 * cp, r2 * sp, -cp * cp, -sp * sp, -2 * cp * sp], 1) / self.noise_var).float()
        proj = torch.stack([torch.ones_like(cp), cp, sp], 0).float()  # (3, F): sum of weights, E cos, E sin
        m = max(1, self.chunk_elems // max(1, F * P * n))
        M = torch.full((P, n), -float("inf"), dtype=DTYPE)
        Z = torch.zeros(P, n, dtype=DTYPE)
        N = torch.zeros(P, n, dtype=DTYPE)

        def excl(t: Tensor) -> Tensor:  # exclusive prefix sum over positions
            return torch.cumsum(t, -1) - t

        for lo in range(0, len(self.omegas), m):
            wx = self.omegas[lo : lo + m, None, None] * x[None]  # (m, P, n_all)
            s, c = torch.sin(wx), torch.cos(wx)
            stats = torch.stack([excl(y * s), excl(y * c), excl(s * s), excl(c * c), excl(s * c)], 0)[
                ..., idx
            ]
            s, c = s[..., idx], c[..., idx]  # (m, P, n): the query positions
            ll = coef @ stats.reshape(5, -1).float()  # (F, m P n)
            top = ll.amax(0)
            ll -= top
            # exp of very negative float32 numbers leaves the vectorised fast path (~13x slower
            # here); clamped at -80, such a weight is 1.8e-35 of the largest instead of smaller:
            # a relative change of the sums below n_phi * 2e-35, i.e. none
            ll.clamp_(min=-80.0).exp_()
            acc = (proj @ ll).to(DTYPE).reshape(3, -1, P, n)  # (3, m, P, n)
            top = top.to(DTYPE).reshape(-1, P, n)
            M_new = torch.maximum(M, top.amax(0))
            w = torch.exp(top - M_new)  # (m, P, n)
            old = torch.exp(M - M_new)
            Z = Z * old + (acc[0] * w).sum(0)
            N = N * old + r2 * ((acc[1] * s + acc[2] * c) * w).sum(0)
            M = M_new
        mean = torch.full((P, n_all), float("nan"), dtype=DTYPE)
        ev = torch.full((P, n_all), float("nan"), dtype=DTYPE)
        mean[:, idx], ev[:, idx] = N / Z, M + torch.log(Z) - math.log(len(self.omegas) * F)
        return mean, ev


class BayesMixture(Predictor):
    """Posterior mean under the mixture prior ``sum_c weights[c] * prior_c``.

    ``components`` are :class:`Posterior` s with one ``noise_var``; ``weights`` their prior
    class probabilities (each in [0, 1], summing to 1). For every prefix the class
    posterior is ``P(c | prefix) = weights[c] exp(evidence_c) / sum_c' weights[c'] exp(evidence_c')``
    and the prediction is ``sum_c P(c | prefix) * mean_c``. Components of weight 0 are
    never evaluated; a mixture with one component of positive weight is that component.
    With two classes of positive weight (every mixture of the study), the first's posterior
    is the logistic of the log odds ``log w - log1p(-w) + evidence_1 - evidence_2`` (``w`` its
    weight, ``1 - w`` the other's) and the second's is one minus it; with more, a softmax.

    Examples: chapter 1's ``BayesMixture([BayesDense(sd), BayesSparse(d, nnz, ss)], [w, 1 - w])``,
    chapter 4's ``BayesMixture([BayesLine(noise_var=1e-3), BayesSine(band)], [w, 1 - w])``
    (the sine's default ``noise_var`` is 1e-3, the line's 1e-4: they must agree).
    ``ks`` (:func:`~icl.baselines.restricted`) is passed on to the components that take it.
    """

    def __init__(self, components: Sequence[Posterior], weights: Sequence[float], name: str | None = None):
        components, weights = list(components), list(weights)
        if len(components) < 2 or len(weights) != len(components):
            raise ValueError(
                f"{len(components)} components and {len(weights)} weights: a mixture needs at least "
                "two components and one weight for each"
            )
        for c in components:
            if not isinstance(c, Posterior):
                raise TypeError(f"component {c!r} is not a Posterior (a mixture needs its mean_and_evidence)")
        for w in weights:
            if not (isinstance(w, (int, float)) and 0.0 <= w <= 1.0):
                raise ValueError(f"weight w={w!r} is outside the allowed range [0, 1]")
        if abs(sum(weights) - 1.0) > 1e-9:
            raise ValueError(f"weights={weights!r} sum to {sum(weights)!r}: they must sum to 1")
        if len({c.noise_var for c in components}) > 1:
            raise ValueError(
                f"the components' noise_var {[c.noise_var for c in components]} differ: their "
                "evidences compare only under one likelihood variance"
            )
        self.components, self.weights = components, [float(w) for w in weights]
        self.live = [i for i, w in enumerate(self.weights) if w > 0]  # the components ever evaluated
        self.name = name or f"Bayes mixture w={'/'.join(f'{w:g}' for w in self.weights[:-1])}"

    @property
    def ks(self) -> list[int] | None:
        """Prefix lengths predicted (None: all); NaN elsewhere. Those of the components that take ``ks``."""
        return next((c.ks for c in self.components if hasattr(c, "ks")), None)

    @ks.setter
    def ks(self, value: Sequence[int] | None) -> None:
        for c in self.components:
            if hasattr(c, "ks"):
                c.ks = check_ks(value)

    def class_posterior(self, evidences: Sequence[Tensor | None]) -> list[Tensor]:
        """``P(c | prefix)`` (B, n) for every component, from the evidences (B, n) of those of
        positive weight (the others' entries are not read and may be None)."""
        live = self.live
        ref = evidences[live[0]]
        probs = [torch.zeros_like(ref) for _ in self.components]
        if len(live) == 1:
            probs[live[0]] = torch.ones_like(ref)
        elif len(live) == 2:
            (i, j), w = live, self.weights[live[0]]
            probs[i] = torch.sigmoid(math.log(w) - math.log1p(-w) + evidences[i] - evidences[j])
            probs[j] = 1 - probs[i]
        else:
            post = torch.softmax(torch.stack([math.log(self.weights[i]) + evidences[i] for i in live]), 0)
            for i, p in zip(live, post):
                probs[i] = p
        return probs

    def posterior(self, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
        """(``P(c | prefix)`` (C, B, n), each component's posterior-mean prediction (C, B, n)),
        every component evaluated (those of weight 0 have probability 0)."""
        means, evidences = zip(*(c.mean_and_evidence(xs.to(DTYPE), ys.to(DTYPE)) for c in self.components))
        return torch.stack(self.class_posterior(evidences)), torch.stack(means)

    def predict(self, xs, ys):
        if len(self.live) == 1:
            return self.components[self.live[0]].predict(xs, ys)
        means, evidences = [None] * len(self.components), [None] * len(self.components)
        for i in self.live:
            means[i], evidences[i] = self.components[i].mean_and_evidence(xs, ys)
        probs = self.class_posterior(evidences)
        out = probs[self.live[0]] * means[self.live[0]]
        for i in self.live[1:]:
            out = out + probs[i] * means[i]
        return out


def bayes_name(classes: Sequence[str], weights: Sequence[float]) -> str:
    """The name, and curve key, of the Bayes-optimal predictor of the prior ``weights`` over ``classes``:
    with one class of positive weight, its posterior's (``Bayes dense``, ``Bayes sine``); else
    ``Bayes mixture w=0.25`` for the dense/sparse prior (chapter 1's name, the dense weight) and
    ``Bayes <class>/<class> w=...`` for any other (``Bayes line/sine w=0.5``: the line weight)."""
    live = [c for c, w in zip(classes, weights) if w > 0]
    if len(live) == 1:
        return _POSTERIORS[ClassName(live[0])].name
    what = "mixture" if tuple(classes) == (ClassName.DENSE, ClassName.SPARSE) else "/".join(map(str, classes))
    return f"Bayes {what} w={'/'.join(f'{float(w):g}' for w in weights[:-1])}"


def bayes_predictor(task: TaskConfig, n_omega: int = 128, n_phi: int = 256) -> Predictor:
    """The Bayes-optimal predictor of ``task``'s prior (a :class:`~icl.config.TaskConfig`: its classes
    and weights, with ``n_dims``, ``nnz``, ``band`` and ``normalize``), named by :func:`bayes_name`:
    the posterior of its one class of positive weight, else their :class:`BayesMixture` (every
    component with one noise variance: the sine's when a sine is among them). ``n_omega`` and
    ``n_phi``: the sine posterior's grid. A ReLU-network class has none (ValueError)."""
    live = [(ClassName(c), float(w)) for c, w in zip(task.classes, task.weights) if w > 0]
    noise_var = SINE_NOISE_VAR if any(c is ClassName.SINE for c, _ in live) else LINEAR_NOISE_VAR

    def posterior(cls: ClassName) -> Posterior:
        """The posterior of one class under ``task``'s settings (unit variance when normalised)."""
        if cls is ClassName.DENSE:
            return BayesDense(1 / math.sqrt(task.n_dims) if task.normalize else 1.0, noise_var)
        if cls is ClassName.SPARSE:
            std = 1 / math.sqrt(task.nnz) if task.normalize else 1.0
            return BayesSparse(task.n_dims, task.nnz, std, noise_var)
        if cls is ClassName.LINE:
            return BayesLine(1.0, noise_var)
        if cls is ClassName.SINE:
            return BayesSine(task.band, noise_var, n_omega=n_omega, n_phi=n_phi)
        raise ValueError(f"no Bayes-optimal predictor of the {cls} class is computable")

    parts = [posterior(c) for c, _ in live]
    if len(parts) == 1:
        return parts[0]
    return BayesMixture(parts, [w for _, w in live], name=bayes_name(task.classes, task.weights))


_POSTERIORS = {
    ClassName.DENSE: BayesDense,
    ClassName.SPARSE: BayesSparse,
    ClassName.LINE: BayesLine,
    ClassName.SINE: BayesSine,
}  # each class's posterior, for its name

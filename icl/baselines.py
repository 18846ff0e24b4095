"""Reference predictors, batched over prompts and over every prefix length.

This module owns the baselines the transformer is compared with. Each is a callable
with the model's signature: ``predictor(xs, ys) -> preds`` where ``xs`` is (B, n, d),
``ys`` is (B, n) and ``preds[:, i]`` predicts ``ys[:, i]`` from the first ``i``
examples only (``preds[:, 0]`` sees nothing). No Python loop runs per prompt: every
estimator is written on the per-prefix sufficient statistics

    G_i = sum_{j<i} x_j x_j^T   (B, n, d, d)      h_i = sum_{j<i} y_j x_j   (B, n, d)

or on the zero-padded prefix design matrices, and solved in one batched call.
The linear predictors compute in float64; ``BayesSine``'s quadrature grid (and with
it ``BayesLineSine``'s sine part) and the ReLU-network fit run in float32, for speed
(see their docstrings).

Predictors: :class:`Zero`, :class:`Averaging`, :class:`KNN`, :class:`LeastSquares`
(minimum-norm below d), :class:`Ridge`, :class:`Lasso` (batched coordinate descent,
scikit-learn's objective), and the Bayes-optimal posterior means :class:`BayesDense`,
:class:`BayesSparse` (exact enumeration of the C(d, nnz) supports) and
:class:`BayesDenseSparse` (their mixture with posterior class weights). For chapters
3-5: :class:`ReluNetGD` (a 2-layer ReLU network fitted to each prompt prefix by
gradient descent), the 1-D posterior means :class:`BayesLine`, :class:`BayesSine` and
:class:`BayesLineSine` (the line/sine mixture prior), :class:`CombinedFit` (least
squares in ``a x + b sin(omega x + phi)``) and :func:`restricted` (a predictor
evaluated at a few k only).

Noiseless data are handled with a jitter noise variance ``noise_var`` (default
1e-4, stated in the README): the posterior of a model with Gaussian noise of that
variance, which for unit-variance targets is numerically noiseless.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Sequence

import torch
from torch import Tensor

__all__ = [
    "Predictor", "Zero", "Averaging", "KNN", "LeastSquares", "Ridge", "Lasso", "BayesDense", "BayesSparse",
    "BayesDenseSparse", "prefix_stats", "prefix_designs",
]

DTYPE = torch.float64


def prefix_stats(xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Exclusive prefix sums: G (B, n, d, d), h (B, n, d), counts (n,)."""
    B, n, d = xs.shape
    outer = xs[..., :, None] * xs[..., None, :]  # (B, n, d, d)
    G = torch.cumsum(outer, 1) - outer  # sum over j < i
    xy = xs * ys[..., None]
    h = torch.cumsum(xy, 1) - xy
    return G, h, torch.arange(n, dtype=xs.dtype)


def prefix_designs(xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
    """Zero-padded designs: X (B, n, n, d) with X[b, i, j] = x_j if j < i else 0; Y likewise."""
    B, n, d = xs.shape
    mask = torch.tril(torch.ones(n, n, dtype=xs.dtype), diagonal=-1)  # [i, j] = 1 iff j < i
    return xs[:, None, :, :] * mask[None, :, :, None], ys[:, None, :] * mask[None]


class Predictor:
    name = "predictor"

    def __call__(self, xs: Tensor, ys: Tensor) -> Tensor:
        out_dtype = xs.dtype
        return self.predict(xs.to(DTYPE), ys.to(DTYPE)).to(out_dtype)

    def predict(self, xs: Tensor, ys: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class Zero(Predictor):
    name = "zero"

    def predict(self, xs, ys):
        return torch.zeros_like(ys)


class Averaging(Predictor):
    """``w_hat = mean_{j<i} y_j x_j`` (Garg et al.'s averaging estimator)."""

    name = "averaging"

    def predict(self, xs, ys):
        _, h, cnt = prefix_stats(xs, ys)
        w = h / cnt.clamp(min=1)[None, :, None]
        return (w * xs).sum(-1)


class KNN(Predictor):
    """Mean of the targets of the ``k`` nearest earlier inputs (fewer if fewer exist)."""

    def __init__(self, k: int = 3):
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k={k!r} must be an integer >= 1")
        self.k, self.name = k, f"{k}-NN"

    def predict(self, xs, ys):
        B, n, _ = xs.shape
        dist = torch.cdist(xs, xs)  # (B, n, n): [i, j] = |x_i - x_j|
        future = torch.triu(torch.ones(n, n, dtype=torch.bool))  # j >= i is not allowed
        dist = dist.masked_fill(future, float("inf"))
        k = min(self.k, max(n - 1, 1))
        d_k, idx = dist.topk(k, dim=2, largest=False)  # (B, n, k)
        valid = torch.isfinite(d_k).to(ys.dtype)
        y_nb = ys[:, None, :].expand(B, n, n).gather(2, idx) * valid
        return y_nb.sum(2) / valid.sum(2).clamp(min=1)


class LeastSquares(Predictor):
    """Ordinary least squares; the minimum-norm solution when fewer points than dims."""

    name = "least squares"

    def predict(self, xs, ys):
        # X^+ y = (X^T X)^+ X^T y: the minimum-norm solution from the Gram matrix
        G, h, _ = prefix_stats(xs, ys)
        w = torch.linalg.pinv(G, rtol=1e-10, hermitian=True) @ h[..., None]  # (B, n, d, 1)
        return (w[..., 0] * xs).sum(-1)


class Ridge(Predictor):
    """``w = (X^T X + alpha I)^{-1} X^T y``."""

    def __init__(self, alpha: float = 0.1):
        if not alpha > 0:
            raise ValueError(f"alpha={alpha!r} must be > 0")
        self.alpha, self.name = float(alpha), f"ridge (alpha={alpha:g})"

    def predict(self, xs, ys):
        G, h, _ = prefix_stats(xs, ys)
        eye = torch.eye(xs.shape[-1], dtype=xs.dtype)
        w = torch.linalg.solve(G + self.alpha * eye, h[..., None])[..., 0]
        return (w * xs).sum(-1)


class Lasso(Predictor):
    """scikit-learn's Lasso (no intercept): ``min 1/(2k) |y - Xw|^2 + alpha |w|_1``.

    Solved *exactly* by the Lasso homotopy (LARS with the Lasso modification,
    Efron et al. 2004; Osborne et al. 2000), all prompts and prefixes at once: start
    from ``w = 0`` at ``lambda = max|X^T y|/k``, follow the piecewise-linear solution
    path ``w_A(lambda) = G_AA^{-1} (h_A - lambda s_A)``, adding the coordinate whose
    correlation reaches ``lambda`` and dropping one whose coefficient crosses zero,
    until ``lambda = alpha``. With d coordinates this takes a few batched d x d solves
    (at most ``max_steps``), not thousands of coordinate-descent sweeps, and is exact
    where coordinate descent crawls (fewer points than dimensions, small alpha).
    """

    def __init__(self, alpha: float = 1e-3, max_steps: int | None = None):
        if not (isinstance(alpha, (int, float)) and alpha > 0):
            raise ValueError(f"alpha={alpha!r} must be > 0")
        self.alpha, self.max_steps = float(alpha), max_steps
        self.name = f"Lasso (alpha={alpha:g})"
        self.n_steps_ = 0
        self.n_unfinished_ = 0

    def objective(self, G: Tensor, h: Tensor, w: Tensor) -> Tensor:
        """``1/(2k)|y - Xw|^2 + alpha |w|_1`` minus the constant ``|y|^2/(2k)``, in Gram form."""
        return 0.5 * (w * (G @ w[..., None])[..., 0]).sum(-1) - (h * w).sum(-1) + self.alpha * w.abs().sum(-1)

    @staticmethod
    def _solve_active(G: Tensor, rhs: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
        """Solve G_AA x_A = rhs_A (x = 0 off A) for every problem; also returns success flags."""
        both = active[:, :, None] & active[:, None, :]
        M = torch.where(both, G, 0.0) + torch.diag_embed((~active).to(G.dtype))
        x, info = torch.linalg.solve_ex(M, torch.where(active, rhs, 0.0))
        return x, (info == 0) & torch.isfinite(x).all(1)

    def fit_gram(self, G: Tensor, h: Tensor) -> Tensor:
        """Solve every problem given ``G = X^T X / k`` and ``h = X^T y / k``: (..., d)."""
        d, shape = G.shape[-1], h.shape
        G, h = G.reshape(-1, d, d), h.reshape(-1, d)
        P = h.shape[0]
        alpha = self.alpha
        w = torch.zeros_like(h)
        lam = h.abs().amax(1)  # (P,) current penalty on the path
        running = lam > alpha
        rows = torch.arange(P)
        active = torch.zeros_like(h, dtype=torch.bool)
        j0 = h.abs().argmax(1)
        active[rows, j0] = running
        sign = torch.zeros_like(h)
        sign[rows, j0] = torch.sign(h[rows, j0])
        eps = 1e-12
        inf = torch.tensor(float("inf"), dtype=h.dtype)
        max_steps = self.max_steps or 8 * d
        for step in range(max_steps):
            if not bool(running.any()):
                break
            self.n_steps_ = step + 1
            direction, ok = self._solve_active(G, sign, active)  # dw/d(-lambda) on A
            running &= ok
            c = h - (G @ w[..., None])[..., 0]  # correlations; equal lambda * sign on A
            a = (G @ direction[..., None])[..., 0]  # their rate of decrease
            # an inactive coordinate joins when |c_j - g a_j| reaches lambda - g
            g1 = (lam[:, None] - c) / (1 - a)
            g2 = (lam[:, None] + c) / (1 + a)
            g1 = torch.where((g1 > eps) & ~active, g1, inf)
            g2 = torch.where((g2 > eps) & ~active, g2, inf)
            g_join = torch.minimum(g1, g2)
            gj, jj = g_join.min(1)
            # an active coefficient crosses zero
            g_cross = torch.where(active & (-w / direction > eps), -w / direction, inf)
            gc, jc = g_cross.min(1)
            g_end = lam - alpha
            gamma = torch.minimum(torch.minimum(gj, gc), g_end)
            gamma = torch.where(running, gamma, torch.zeros_like(gamma))
            w = w + gamma[:, None] * direction * running[:, None]
            lam = lam - gamma
            finished = running & (g_end <= torch.minimum(gj, gc))
            join = running & ~finished & (gj <= gc)
            cross = running & ~finished & ~join
            active[rows[join], jj[join]] = True
            sign[rows[join], jj[join]] = torch.sign(c[rows[join], jj[join]] - gj[join] * a[rows[join], jj[join]])
            active[rows[cross], jc[cross]] = False
            sign[rows[cross], jc[cross]] = 0.0
            w[rows[cross], jc[cross]] = 0.0
            running &= ~finished
        self.n_unfinished_ = int(running.sum())
        # exact final solve on the active set at lambda = alpha (removes accumulated rounding)
        exact, ok = self._solve_active(G, h - alpha * sign, active)
        better = ok & (self.objective(G, h, exact) <= self.objective(G, h, w) + 1e-12)
        return torch.where(better[:, None], exact, w).reshape(shape)

    def predict(self, xs, ys):
        G, h, cnt = prefix_stats(xs, ys)
        c = cnt.clamp(min=1)
        w = self.fit_gram(G / c[None, :, None, None], h / c[None, :, None])
        return (w * xs).sum(-1)


# --------------------------------------------------------------------------- Bayes-optimal


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


class BayesDense(Predictor):
    """Posterior mean under ``w ~ N(0, prior_std^2 I_d)`` (dense linear prior)."""

    name = "Bayes (dense prior)"

    def __init__(self, prior_std: float = 1.0, noise_var: float = 1e-4):
        self.prior_std, self.noise_var = prior_std, noise_var

    def mean_and_evidence(self, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
        G, h, _ = prefix_stats(xs, ys)
        w, ev = _gaussian_evidence(G, h, self.prior_std**2, self.noise_var)
        return (w * xs).sum(-1), ev

    def predict(self, xs, ys):
        return self.mean_and_evidence(xs, ys)[0]


class BayesSparse(Predictor):
    """Posterior mean under the sparse prior: a uniform support of ``nnz`` coordinates,
    ``N(0, prior_std^2)`` weights on it. Exact: enumerates all C(d, nnz) supports."""

    name = "Bayes (sparse prior)"

    def __init__(self, n_dims: int, nnz: int, prior_std: float = 1.0, noise_var: float = 1e-4,
                 chunk: int = 64):
        if not (isinstance(nnz, int) and 1 <= nnz <= n_dims):
            raise ValueError(f"nnz={nnz!r} is not allowed: it must be an integer in 1..d={n_dims}")
        self.n_dims, self.nnz, self.prior_std, self.noise_var, self.chunk = n_dims, nnz, prior_std, noise_var, chunk
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

    def predict(self, xs, ys):
        return self.mean_and_evidence(xs, ys)[0]


class BayesDenseSparse(Predictor):
    """Posterior mean under the mixture prior ``w_dense * dense + (1 - w_dense) * sparse``."""

    def __init__(self, n_dims: int, nnz: int, w_dense: float, dense_std: float = 1.0, sparse_std: float = 1.0,
                 noise_var: float = 1e-4):
        if not (isinstance(w_dense, (int, float)) and 0.0 <= w_dense <= 1.0):
            raise ValueError(f"dense weight w={w_dense!r} is outside the allowed range [0, 1]")
        self.w = float(w_dense)
        self.dense = BayesDense(dense_std, noise_var)
        self.sparse = BayesSparse(n_dims, nnz, sparse_std, noise_var)
        self.name = f"Bayes (mixture prior, w={self.w:g})"

    def posterior_dense(self, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        pd, ed = self.dense.mean_and_evidence(xs, ys)
        ps, es = self.sparse.mean_and_evidence(xs, ys)
        if self.w in (0.0, 1.0):
            p = torch.full_like(pd, self.w)
        else:
            p = torch.sigmoid(math.log(self.w) - math.log1p(-self.w) + ed - es)
        return p, pd, ps

    def predict(self, xs, ys):
        p, pd, ps = self.posterior_dense(xs, ys)
        return p * pd + (1 - p) * ps


# --------------------------------------------------------------------------- chapters 3-5
#
# Non-linear and 1-D reference predictors. Same contract as above: ``preds[:, i]`` uses
# the examples ``j < i`` only, batched over prompts (loops run over prefix lengths or
# over chunks of a grid, never over prompts).

__all__ += ["ReluNetGD", "BayesLine", "BayesSine", "BayesLineSine", "CombinedFit", "restricted"]


def _positions(ks: Sequence[int] | None, n: int) -> Tensor:
    """The prefix lengths to predict at: every one (``ks=None``) or those of ``ks`` below ``n``."""
    if ks is None:
        return torch.arange(n)
    return torch.tensor(sorted({int(k) for k in ks if 0 <= int(k) < n}), dtype=torch.long)


def _check_ks(ks: Sequence[int] | None) -> list[int] | None:
    if ks is None:
        return None
    if isinstance(ks, (str, bytes)) or not all(isinstance(k, int) and k >= 0 for k in ks):
        raise ValueError(f"ks={ks!r} must be prefix lengths (integers >= 0)")
    return sorted(set(ks))


def restricted(predictor, ks: Sequence[int]):
    """A copy of ``predictor`` that predicts at the prefix lengths ``ks`` only (NaN
    elsewhere) if it supports that (the grid and fitting baselines below, whose cost
    grows with the number of prefixes predicted); any other predictor is returned as is.
    Sweeps read the error at one or a few k, so they use this."""
    if not hasattr(predictor, "ks"):
        return predictor
    out = copy.deepcopy(predictor)
    out.ks = _check_ks(list(ks))
    return out


class ReluNetGD(Predictor):
    """A 2-layer ReLU network ``f(x) = sum_j a_j relu(u_j . x)`` (no biases, like the
    :class:`~icl.tasks.ReluNet` class) fitted to each prompt's prefix by full-batch Adam.

    For every prefix length ``k`` one fit runs for all prompts at once: the parameters
    are batched tensors ``U`` (P, h, d) and ``a`` (P, h), the loss is the sum over
    prompts of each prompt's mean squared error on its ``k`` examples, so the prompts'
    fits are independent (Adam is element-wise). Every prompt and every ``k`` starts
    from the *same* initialisation, drawn from a generator seeded with ``seed``, so the
    result does not depend on how prompts are chunked and repeats exactly. A fixed
    number of ``steps``; no early stopping. Fitting runs in float32.

    The cost is ``steps * P * h * d * sum(k)``: fitting every prefix of 41-point prompts
    is about 10x the cost of fitting ``ks = (2, 5, 10, 20, 40)``. With ``ks`` given, only
    those prefix lengths are fitted and the predictions elsewhere are NaN (position 0,
    no examples, is always 0).
    """

    def __init__(self, hidden: int = 100, steps: int = 100, lr: float = 0.01, seed: int = 0,
                 ks: Sequence[int] | None = None):
        self.ks = _check_ks(ks)
        if not (isinstance(hidden, int) and hidden >= 1):
            raise ValueError(f"hidden={hidden!r} must be an integer >= 1")
        if not (isinstance(steps, int) and steps >= 1):
            raise ValueError(f"steps={steps!r} must be an integer >= 1")
        if not lr > 0:
            raise ValueError(f"lr={lr!r} must be > 0")
        self.hidden, self.steps, self.lr, self.seed = hidden, steps, float(lr), seed
        self.name = "ReLU net (GD)"
        self.train_loss_: Tensor | None = None  # (P, n): final training MSE of each prefix fit

    def init(self, d: int) -> tuple[Tensor, Tensor]:
        """The shared initialisation: ``U`` (h, d) with N(0, 1/d) rows, ``a`` (h,) N(0, 1/h)."""
        g = torch.Generator().manual_seed(self.seed)
        u = torch.randn(self.hidden, d, generator=g) / math.sqrt(d)
        a = torch.randn(self.hidden, generator=g) / math.sqrt(self.hidden)
        return u, a

    def fit(self, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Fit one network per prompt on all its points: (U (P, h, d), a (P, h), final MSE (P,)).

        The gradient is written out (it is three batched products) and Adam is
        torch.optim.Adam's update with its defaults (betas 0.9, 0.999, eps 1e-8), applied
        in place: no autograd graph and no optimizer bookkeeping per step (measured on
        640 prompts x 7 prefix lengths: 1.4x faster than autograd + torch.optim.Adam,
        predictions equal to 6e-5)."""
        xs, ys = xs.float(), ys.float()
        P, k, d = xs.shape
        u0, a0 = self.init(d)
        # U is held as (P, d, h) so that both products with the inputs are plain batched matmuls
        u, a = u0.mT.expand(P, -1, -1).clone(), a0.expand(P, -1).clone()  # (P, d, h), (P, h)
        params = (u, a)
        m1 = [torch.zeros_like(t) for t in params]
        m2 = [torch.zeros_like(t) for t in params]
        b1, b2, eps = 0.9, 0.999, 1e-8
        xT = xs.mT.contiguous()  # (P, d, k)
        for step in range(1, self.steps + 1):
            z = xs @ u  # (P, k, h)
            act = torch.relu(z)
            r = ((act @ a[..., None])[..., 0] - ys) * (2.0 / k)  # d loss / d out  (P, k)
            grad_a = (r[:, None, :] @ act)[:, 0]  # (P, h)
            # d loss / d U[d, h] = a_h sum_k x_kd r_k 1[z_kh > 0]
            grad_u = (xT @ (z > 0).to(z.dtype).mul_(r[..., None])).mul_(a[:, None, :])  # (P, d, h)
            bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
            for p_, g_, m_, v_ in zip(params, (grad_u, grad_a), m1, m2):
                m_.mul_(b1).add_(g_, alpha=1 - b1)
                v_.mul_(b2).addcmul_(g_, g_, value=1 - b2)
                p_.addcdiv_(m_, (v_.sqrt() / math.sqrt(bc2)).add_(eps), value=-self.lr / bc1)
        mse = ((torch.relu(xs @ u) @ a[..., None])[..., 0] - ys).square().mean(1)
        u = u.mT  # (P, h, d)
        return u, a, mse

    def predict(self, xs, ys):
        P, n, d = xs.shape
        preds = torch.zeros(P, n, dtype=xs.dtype)
        train = torch.zeros(P, n, dtype=xs.dtype)
        if self.ks is not None:  # only the requested prefix lengths; NaN elsewhere
            preds[:, 1:] = train[:, 1:] = float("nan")
        for k in (range(1, n) if self.ks is None else [k for k in self.ks if 1 <= k < n]):
            u, a, mse = self.fit(xs[:, :k], ys[:, :k])
            x = xs[:, k].float()
            preds[:, k] = (torch.relu((u @ x[..., None])[..., 0]) * a).sum(-1).to(xs.dtype)
            train[:, k] = mse.to(xs.dtype)
        self.train_loss_ = train
        return preds


class BayesLine(BayesDense):
    """1-D line ``f(x) = a x`` with ``a ~ N(0, slope_std^2)``: the Gaussian posterior mean
    (closed form: ``a_hat = sum x y / (sum x^2 + noise_var / slope_std^2)``)."""

    def __init__(self, slope_std: float = 1.0, noise_var: float = 1e-4):
        super().__init__(slope_std, noise_var)
        self.name = "Bayes line"


class BayesSine(Predictor):
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

    def __init__(self, band: tuple[float, float] = (1.0, 3.0), noise_var: float = 1e-3, n_omega: int = 128,
                 n_phi: int = 256, chunk_elems: int = 1 << 22, ks: Sequence[int] | None = None):
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
        self.ks = _check_ks(ks)
        self.name = "Bayes sine"

    def mean_and_evidence(self, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior-mean predictions (P, n) and the log evidence minus ``C(y)`` (P, n),
        where ``C(y) = -k/2 log(2 pi noise_var) - |y|^2 / (2 noise_var)`` (as in
        :func:`_gaussian_evidence`, so the evidences of the two are comparable)."""
        x, y = xs[..., 0].to(DTYPE), ys.to(DTYPE)
        P, n_all = y.shape
        idx = _positions(self.ks, n_all)
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
            stats = torch.stack([excl(y * s), excl(y * c), excl(s * s), excl(c * c), excl(s * c)], 0)[..., idx]
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

    def predict(self, xs, ys):
        return self.mean_and_evidence(xs, ys)[0]


class BayesLineSine(Predictor):
    """Posterior mean under the 1-D mixture prior ``w * line + (1 - w) * sine``: each
    class's posterior mean weighted by its posterior probability (model evidence),
    both with the same likelihood variance ``noise_var``."""

    def __init__(self, w_line: float = 0.5, slope_std: float = 1.0, band: tuple[float, float] = (1.0, 3.0),
                 noise_var: float = 1e-3, n_omega: int = 128, n_phi: int = 256, ks: Sequence[int] | None = None):
        if not (isinstance(w_line, (int, float)) and 0.0 <= w_line <= 1.0):
            raise ValueError(f"line weight w={w_line!r} is outside the allowed range [0, 1]")
        self.w = float(w_line)
        self.line = BayesLine(slope_std, noise_var)
        self.sine = BayesSine(band, noise_var, n_omega, n_phi, ks=ks)
        self.name = f"Bayes line/sine w={self.w:g}"

    @property
    def ks(self) -> list[int] | None:
        """Prefix lengths predicted (None: all); NaN elsewhere."""
        return self.sine.ks

    @ks.setter
    def ks(self, value: Sequence[int] | None) -> None:
        self.sine.ks = _check_ks(value)

    def posterior_line(self, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(P(line | prefix), line prediction, sine prediction), each (P, n)."""
        pl, el = self.line.mean_and_evidence(xs, ys)
        ps, es = self.sine.mean_and_evidence(xs, ys)
        if self.w in (0.0, 1.0):
            p = torch.full_like(pl, self.w)
        else:
            p = torch.sigmoid(math.log(self.w) - math.log1p(-self.w) + el - es)
        return p, pl, ps

    def predict(self, xs, ys):
        if self.w == 1.0:
            return self.line.predict(xs, ys)
        if self.w == 0.0:
            return self.sine.predict(xs, ys)
        p, pl, ps = self.posterior_line(xs, ys)
        return p * pl + (1 - p) * ps


class CombinedFit(Predictor):
    """Least squares in the combined class ``f(x) = a x + b sin(omega x + phi)`` (study.md's
    predictor that knows the class of the convex combinations).

    For fixed ``omega`` the model is linear in ``(a, b cos phi, b sin phi)`` with features
    ``(x, sin(omega x), cos(omega x))``; it is solved by ridge least squares (penalty
    ``alpha``, which only matters when k <= 3 and the fit interpolates) for every
    ``omega`` on a grid of ``n_omega`` midpoints of ``band``, and the ``omega`` with the
    smallest penalised residual is kept (profile least squares). The chosen ``omega`` is
    then refined ``refine`` times on a local grid of ``n_local`` points, each time 8x
    finer, so a noiseless combination is recovered to high precision once ``k >= 4``.
    With ``ks`` given, only those prefix lengths are refined and predicted (NaN elsewhere).
    """

    def __init__(self, band: tuple[float, float] = (1.0, 3.0), n_omega: int = 128, alpha: float = 1e-9,
                 refine: int = 4, n_local: int = 17, chunk_elems: int = 1 << 22, ks: Sequence[int] | None = None):
        lo, hi = (float(b) for b in band)
        if not 0 <= lo <= hi:
            raise ValueError(f"frequency band={tuple(band)!r} must satisfy 0 <= low <= high")
        if not alpha > 0:
            raise ValueError(f"alpha={alpha!r} must be > 0")
        self.band, self.alpha, self.refine, self.n_local = (lo, hi), float(alpha), int(refine), int(n_local)
        self.n_omega = 1 if hi == lo else int(n_omega)
        self.omegas = lo + (hi - lo) * (torch.arange(self.n_omega, dtype=DTYPE) + 0.5) / self.n_omega
        self.chunk_elems = int(chunk_elems)
        self.ks = _check_ks(ks)
        self.name = "combined fit"

    @staticmethod
    def features(x: Tensor, omega: Tensor) -> Tensor:
        """(x, sin(omega x), cos(omega x)) along a new last axis; ``omega`` broadcasts with ``x``."""
        wx = omega * x
        return torch.stack([x.expand_as(wx), torch.sin(wx), torch.cos(wx)], -1)

    def _solve(self, G: Tensor, h: Tensor, yy: Tensor) -> tuple[Tensor, Tensor]:
        """Ridge solution ``t = (G + alpha I)^-1 h`` and penalised residual
        ``|y - F t|^2 + alpha |t|^2 = |y|^2 - h^T (G + alpha I)^-1 h`` for 3 x 3 systems
        (..., 3, 3), by a Cholesky factorisation written out elementwise: one vectorised
        pass over every system instead of a batched LAPACK call per tiny matrix (the solve
        alone about 7x faster here), and backward stable since ``G + alpha I`` is positive definite."""
        a = self.alpha
        l11 = (G[..., 0, 0] + a).sqrt()
        l21, l31 = G[..., 1, 0] / l11, G[..., 2, 0] / l11
        l22 = (G[..., 1, 1] + a - l21 * l21).clamp_min(a).sqrt()
        l32 = (G[..., 2, 1] - l31 * l21) / l22
        l33 = (G[..., 2, 2] + a - l31 * l31 - l32 * l32).clamp_min(a).sqrt()
        z1 = h[..., 0] / l11  # forward substitution: L z = h
        z2 = (h[..., 1] - l21 * z1) / l22
        z3 = (h[..., 2] - l31 * z1 - l32 * z2) / l33
        t3 = z3 / l33  # back substitution: L^T t = z
        t2 = (z2 - l32 * t3) / l22
        t1 = (z1 - l21 * t2 - l31 * t3) / l11
        return torch.stack([t1, t2, t3], -1), yy - (z1 * z1 + z2 * z2 + z3 * z3)

    def _gram(self, x: Tensor, y: Tensor, omega: Tensor, mask: Tensor, sxx: Tensor, sxy: Tensor
              ) -> tuple[Tensor, Tensor]:
        """Prefix Gram matrices and moments of the features at per-prefix frequencies.

        ``x``, ``y`` (p, n); ``omega`` (p, n_i, R): R candidate frequencies for each of the
        n_i prefixes; ``mask`` (n_i, n) with ``mask[i, j] = 1`` iff example j is in prefix i;
        ``sxx``, ``sxy`` (p, n_i): the frequency-free moments (prefix sums). Returns G
        (p, n_i, R, 3, 3) and h (p, n_i, R, 3). The frequency-dependent sums
        ``sum_j (x_j, y_j, 1) (s_j, c_j, s_j^2, s_j c_j)`` are one batched matrix product
        per prefix; ``sum c^2 = k - sum s^2``."""
        wx = omega[:, :, None, :] * x[:, None, :, None]  # (p, n_i, n, R)
        sn, cs = torch.sin(wx), torch.cos(wx)
        T = torch.cat([sn, cs, sn * sn, sn * cs], -1)  # (p, n_i, n, 4R)
        W = torch.stack([x[:, None, :] * mask, y[:, None, :] * mask, mask.expand(x.shape[0], -1, -1)], 2)
        S = (W @ T).unflatten(-1, (4, -1))  # (p, n_i, 3 weights, 4 functions, R)
        xs_, xc, ys_, yc = S[:, :, 0, 0], S[:, :, 0, 1], S[:, :, 1, 0], S[:, :, 1, 1]
        ss, sc = S[:, :, 2, 2], S[:, :, 2, 3]
        cc = mask.sum(-1)[None, :, None] - ss
        xx = sxx[..., None].expand_as(ss)
        G = torch.stack([torch.stack([xx, xs_, xc], -1), torch.stack([xs_, ss, sc], -1),
                         torch.stack([xc, sc, cc], -1)], -2)
        h = torch.stack([sxy[..., None].expand_as(ys_), ys_, yc], -1)
        return G, h

    def _solve_at(self, omega: Tensor, x: Tensor, y: Tensor, mask: Tensor, sxx: Tensor, sxy: Tensor,
                  yy: Tensor) -> tuple[Tensor, Tensor]:
        """Ridge fits (t (P, n_i, R, 3), penalised residual (P, n_i, R)) at the frequencies
        ``omega`` (P, n_i, R) of every prefix (arguments as in :meth:`_gram`; ``yy`` (P, n_i)),
        in chunks of prompts: about 10 temporaries of (p, n_i, n, R) floats live at once
        in :meth:`_gram`."""
        P, n_i, R = omega.shape
        c = max(1, self.chunk_elems // (max(1, n_i) * x.shape[1] * R * 10))
        ts, objs = [], []
        for i in range(0, P, c):
            G, h = self._gram(x[i : i + c], y[i : i + c], omega[i : i + c], mask, sxx[i : i + c], sxy[i : i + c])
            t, obj = self._solve(G, h, yy[i : i + c, :, None])
            ts.append(t)
            objs.append(obj)
        return torch.cat(ts), torch.cat(objs)

    def predict(self, xs, ys):
        x, y = xs[..., 0], ys
        P, n = y.shape
        excl = lambda t: torch.cumsum(t, 1) - t  # noqa: E731  sum over j < i
        yy, sxx, sxy = excl(y * y), excl(x * x), excl(x * y)  # (P, n)
        # coarse grid over omega: prefix sums along positions for every grid frequency
        best_obj = torch.full((P, n), float("inf"), dtype=DTYPE)
        best_om = torch.full((P, n), self.omegas[0].item(), dtype=DTYPE)
        m = max(1, self.chunk_elems // max(1, P * n * 12))
        for lo in range(0, self.n_omega, m):
            om = self.omegas[lo : lo + m]  # (m,)
            Fx = self.features(x[None], om[:, None, None])  # (m, P, n, 3)
            outer = Fx[..., :, None] * Fx[..., None, :]
            G = torch.cumsum(outer, 2) - outer
            fy = Fx * y[None, ..., None]
            h = torch.cumsum(fy, 2) - fy
            _, obj = self._solve(G, h, yy[None])  # (m, P, n)
            o, j = obj.min(0)
            better = o < best_obj
            best_obj = torch.where(better, o, best_obj)
            best_om = torch.where(better, om[j], best_om)
        # local refinement: every (prompt, prefix) has its own omega now, so the sums over
        # the prefix are taken per (prompt, prefix, candidate), for the requested prefixes only
        idx = _positions(self.ks, n)
        mask = torch.tril(torch.ones(n, n, dtype=DTYPE), diagonal=-1)[idx]  # [i, j] = 1 iff j < idx[i]
        best_om, yy, sxx, sxy = best_om[:, idx], yy[:, idx], sxx[:, idx], sxy[:, idx]
        fit = lambda om: self._solve_at(om, x, y, mask, sxx, sxy, yy)  # noqa: E731
        width = (self.band[1] - self.band[0]) / self.n_omega
        offsets = torch.linspace(-1.0, 1.0, self.n_local, dtype=DTYPE)
        for _ in range(self.refine if self.n_omega > 1 else 0):
            cand = (best_om[..., None] + width * offsets).clamp(*self.band)  # (P, n_i, R)
            _, obj = fit(cand)
            best_om = cand.gather(-1, obj.argmin(-1, keepdim=True))[..., 0]
            width /= 8
        t = fit(best_om[..., None])[0][:, :, 0]  # (P, n_i, 3): the final solve at the chosen omega
        self.omega_ = torch.full((P, n), float("nan"), dtype=DTYPE)
        self.omega_[:, idx] = best_om
        out = torch.full((P, n), float("nan"), dtype=DTYPE)
        out[:, idx] = (t * self.features(x[:, idx], best_om)).sum(-1)
        return out

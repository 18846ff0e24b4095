"""Reference predictors, batched over prompts and over every prefix length.

This module owns the baselines the transformer is compared with. Each is a callable
with the model's signature: ``predictor(xs, ys) -> preds`` where ``xs`` is (B, n, d),
``ys`` is (B, n) and ``preds[:, i]`` predicts ``ys[:, i]`` from the first ``i``
examples only (``preds[:, 0]`` sees nothing). No Python loop runs per prompt: every
estimator is written on the per-prefix sufficient statistics

    G_i = sum_{j<i} x_j x_j^T   (B, n, d, d)      h_i = sum_{j<i} y_j x_j   (B, n, d)

or on the zero-padded prefix design matrices, and solved in one batched call.
Computation is in float64.

Predictors: :class:`Zero`, :class:`Averaging`, :class:`KNN`, :class:`LeastSquares`
(minimum-norm below d), :class:`Ridge`, :class:`Lasso` (batched coordinate descent,
scikit-learn's objective), and the Bayes-optimal posterior means :class:`BayesDense`,
:class:`BayesSparse` (exact enumeration of the C(d, nnz) supports) and
:class:`BayesDenseSparse` (their mixture with posterior class weights).

Noiseless data are handled with a jitter noise variance ``noise_var`` (default
1e-4, stated in the README): the posterior of a model with Gaussian noise of that
variance, which for unit-variance targets is numerically noiseless.
"""

from __future__ import annotations

import itertools
import math

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

"""Linear reference predictors: the classical estimators fitted to every prompt prefix.

This module owns the non-Bayesian baselines of the linear chapters: :class:`Zero`,
:class:`Averaging` (Garg et al.'s averaging estimator), :class:`KNN`,
:class:`LeastSquares` (the minimum-norm solution below d points), :class:`Ridge` and
:class:`Lasso` (scikit-learn's objective, solved exactly by the Lasso homotopy). All are
written on the exclusive prefix sums of :func:`~icl.baselines.prefix_stats` (or, for
k-NN, on the masked distance matrix) and compute in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import Predictor, prefix_stats

__all__ = ["Zero", "Averaging", "KNN", "LeastSquares", "Ridge", "Lasso"]


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

    name = "Lasso"  # the curve key of every Lasso, whatever its penalty (chapters 1-2 choose one)

    def __init__(self, alpha: float = 1e-3, max_steps: int | None = None):
        if not (isinstance(alpha, (int, float)) and alpha > 0):
            raise ValueError(f"alpha={alpha!r} must be > 0")
        self.alpha, self.max_steps = float(alpha), max_steps
        self.n_unfinished_ = 0

    def __repr__(self) -> str:
        return f"Lasso (alpha={self.alpha:g})"

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
        for _ in range(max_steps):
            if not bool(running.any()):
                break
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
            sign[rows[join], jj[join]] = torch.sign(
                c[rows[join], jj[join]] - gj[join] * a[rows[join], jj[join]]
            )
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

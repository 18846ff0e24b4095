"""Fitted reference predictors for the non-linear chapters: one fit per prompt prefix.

This module owns the baselines that fit a model class to each prefix by optimisation
rather than by a posterior: :class:`ReluNetGD` (chapter 3: a 2-layer ReLU network,
full-batch Adam, float32) and :class:`CombinedFit` (chapter 4: profile least squares in
``a x + b sin(omega x + phi)``, the predictor that knows the class of the convex
combinations). Both are batched over prompts (loops run over prefix lengths or over
chunks of a frequency grid) and take ``ks``, the prefix lengths to fit (NaN elsewhere),
since their cost grows with the number of prefixes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from . import DTYPE, Predictor, check_ks, prefix_positions

__all__ = ["ReluNetGD", "CombinedFit"]


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

    name = "ReLU net (GD)"

    def __init__(
        self,
        hidden: int = 100,
        steps: int = 100,
        lr: float = 0.01,
        seed: int = 0,
        ks: Sequence[int] | None = None,
    ):
        self.ks = check_ks(ks)
        if not (isinstance(hidden, int) and hidden >= 1):
            raise ValueError(f"hidden={hidden!r} must be an integer >= 1")
        if not (isinstance(steps, int) and steps >= 1):
            raise ValueError(f"steps={steps!r} must be an integer >= 1")
        if not lr > 0:
            raise ValueError(f"lr={lr!r} must be > 0")
        self.hidden, self.steps, self.lr, self.seed = hidden, steps, float(lr), seed
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
            bc1, bc2 = 1 - b1**step, 1 - b2**step
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
        for k in range(1, n) if self.ks is None else [k for k in self.ks if 1 <= k < n]:
            u, a, mse = self.fit(xs[:, :k], ys[:, :k])
            x = xs[:, k].float()
            preds[:, k] = (torch.relu((u @ x[..., None])[..., 0]) * a).sum(-1).to(xs.dtype)
            train[:, k] = mse.to(xs.dtype)
        self.train_loss_ = train
        return preds


class CombinedFit(Predictor):
    """Least squares in the combined class ``f(x) = a x + b sin(omega x + phi)`` (the protocol's
    predictor that knows the class of the convex combinations, docs/protocol.md).

    For fixed ``omega`` the model is linear in ``(a, b cos phi, b sin phi)`` with features
    ``(x, sin(omega x), cos(omega x))``; it is solved by ridge least squares (penalty
    ``alpha``, which only matters when k <= 3 and the fit interpolates) for every
    ``omega`` on a grid of ``n_omega`` midpoints of ``band``, and the ``omega`` with the
    smallest penalised residual is kept (profile least squares). The chosen ``omega`` is
    then refined ``refine`` times on a local grid of ``n_local`` points, each time 8x
    finer, so a noiseless combination is recovered to high precision once ``k >= 4``.
    With ``ks`` given, only those prefix lengths are refined and predicted (NaN elsewhere).
    """

    name = "combined fit"

    def __init__(
        self,
        band: tuple[float, float] = (1.0, 3.0),
        n_omega: int = 128,
        alpha: float = 1e-9,
        refine: int = 4,
        n_local: int = 17,
        chunk_elems: int = 1 << 22,
        ks: Sequence[int] | None = None,
    ):
        lo, hi = (float(b) for b in band)
        if not 0 <= lo <= hi:
            raise ValueError(f"frequency band={tuple(band)!r} must satisfy 0 <= low <= high")
        if not alpha > 0:
            raise ValueError(f"alpha={alpha!r} must be > 0")
        self.band, self.alpha, self.refine, self.n_local = (lo, hi), float(alpha), int(refine), int(n_local)
        self.n_omega = 1 if hi == lo else int(n_omega)
        self.omegas = lo + (hi - lo) * (torch.arange(self.n_omega, dtype=DTYPE) + 0.5) / self.n_omega
        self.chunk_elems = int(chunk_elems)
        self.ks = check_ks(ks)

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

    def _gram(
        self, x: Tensor, y: Tensor, omega: Tensor, mask: Tensor, sxx: Tensor, sxy: Tensor
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
        G = torch.stack(
            [torch.stack([xx, xs_, xc], -1), torch.stack([xs_, ss, sc], -1), torch.stack([xc, sc, cc], -1)],
            -2,
        )
        h = torch.stack([sxy[..., None].expand_as(ys_), ys_, yc], -1)
        return G, h

    def _solve_at(
        self, omega: Tensor, x: Tensor, y: Tensor, mask: Tensor, sxx: Tensor, sxy: Tensor, yy: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Ridge fits (t (P, n_i, R, 3), penalised residual (P, n_i, R)) at the frequencies
        ``omega`` (P, n_i, R) of every prefix (arguments as in :meth:`_gram`; ``yy`` (P, n_i)),
        in chunks of prompts: about 10 temporaries of (p, n_i, n, R) floats live at once
        in :meth:`_gram`."""
        P, n_i, R = omega.shape
        c = max(1, self.chunk_elems // (max(1, n_i) * x.shape[1] * R * 10))
        ts, objs = [], []
        for i in range(0, P, c):
            G, h = self._gram(
                x[i : i + c], y[i : i + c], omega[i : i + c], mask, sxx[i : i + c], sxy[i : i + c]
            )
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
        idx = prefix_positions(self.ks, n)
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

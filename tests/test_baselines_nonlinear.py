"""Baselines of chapters 3-5 against brute-force numpy references on small cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from icl.baselines import BayesLine, BayesMixture, BayesSine, CombinedFit, ReluNetGD, restricted
from icl.config import EVAL, stream_generator
from icl.evaluate import errors, sample_prompts
from icl.tasks import ConvexCombination, Line1D, ReluNet, Sine1D


def line_sine(w=0.5, noise_var=1e-3, **sine):
    """The line/sine mixture prior of chapter 4, line weight ``w``."""
    return BayesMixture([BayesLine(noise_var=noise_var), BayesSine(noise_var=noise_var, **sine)], [w, 1 - w])


def prompts_1d(fc, n_prompts=3, n_points=6, seed=0):
    p = sample_prompts(fc, n_prompts, n_points, seed=seed)
    return p.xs.double(), p.ys.double()


# --------------------------------------------------------------------------- Bayes line


def test_bayes_line_is_closed_form_ridge():
    xs, ys = prompts_1d(Line1D(2.0), n_prompts=4, n_points=7)
    s2, nv = 4.0, 1e-2
    pred = BayesLine(slope_std=2.0, noise_var=nv)(xs, ys).numpy()
    x, y = xs[..., 0].numpy(), ys.numpy()
    for i in range(7):
        a_hat = (x[:, :i] * y[:, :i]).sum(1) / ((x[:, :i] ** 2).sum(1) + nv / s2)
        np.testing.assert_allclose(pred[:, i], a_hat * x[:, i], rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- Bayes sine


def numpy_sine_posterior(x, y, band, noise_var, n_omega=512, n_phi=1024):
    """Dense-grid posterior mean and log evidence (minus C(y)) computed directly: no
    sufficient statistics, the residual of every grid function on every prefix."""
    om = band[0] + (band[1] - band[0]) * (np.arange(n_omega) + 0.5) / n_omega
    ph = 2 * np.pi * np.arange(n_phi) / n_phi
    f = np.sqrt(2) * np.sin(om[:, None, None] * x[None, None, :] + ph[None, :, None])  # (O, F, n)
    n = len(x)
    mean, ev = np.zeros(n), np.zeros(n)
    for i in range(n):
        ll = -((y[:i] - f[..., :i]) ** 2).sum(-1) / (2 * noise_var)  # (O, F)
        top = ll.max()
        w = np.exp(ll - top)
        mean[i] = (w * f[..., i]).sum() / w.sum()
        ev[i] = top + np.log(w.mean()) + (y[:i] ** 2).sum() / (2 * noise_var)
    return mean, ev


@pytest.mark.parametrize("noise_var", [1e-2, 1e-3])
def test_bayes_sine_matches_dense_grid_posterior(noise_var):
    band = (1.0, 3.0)
    xs, ys = prompts_1d(Sine1D(band), n_prompts=2, n_points=6, seed=3)
    pred, ev = BayesSine(band, noise_var=noise_var).mean_and_evidence(xs, ys)
    for b in range(2):
        m, e = numpy_sine_posterior(xs[b, :, 0].numpy(), ys[b].numpy(), band, noise_var)
        np.testing.assert_allclose(pred[b].numpy(), m, atol=2e-3)
        np.testing.assert_allclose(ev[b].numpy(), e, atol=5e-3)


def test_bayes_sine_grid_is_converged():
    """The default grid against a 4x finer one, on 32 prompts: mean squared difference
    of the predictions below 1e-4 at every k (normalised scale: the class variance is 1)."""
    xs, ys = prompts_1d(Sine1D(), n_prompts=32, n_points=12, seed=5)
    coarse = BayesSine()(xs, ys)
    fine = BayesSine(n_omega=256, n_phi=512)(xs, ys)
    assert ((coarse - fine) ** 2).mean(0).max() < 1e-4


def test_bayes_sine_learns_in_band_sines_and_is_batch_independent():
    p = sample_prompts(Sine1D(), 16, 12, seed=1)
    pred = BayesSine()(p.xs, p.ys)
    err = errors(pred.double(), p).mean(0)
    assert err[0] == pytest.approx(errors(torch.zeros_like(p.ys).double(), p).mean(0)[0])
    assert err[6:].max() < 1e-2
    one = BayesSine()(p.xs[3:4], p.ys[3:4])
    torch.testing.assert_close(one[0], pred[3], atol=1e-6, rtol=0)


def test_bayes_sine_single_frequency_band():
    """A band of width 0 is a single frequency: the phase posterior alone."""
    xs, ys = prompts_1d(Sine1D((2.0, 2.0)), n_prompts=3, n_points=5)
    pred = BayesSine((2.0, 2.0))(xs, ys)
    assert torch.isfinite(pred).all() and (pred[:, 2:] - ys[:, 2:]).abs().max() < 1e-2


# --------------------------------------------------------------------------- mixture


def test_bayes_line_sine_selects_the_class():
    nv = 1e-3
    mix = line_sine(0.5, noise_var=nv)
    xl, yl = prompts_1d(Line1D(), n_prompts=8, n_points=8, seed=2)
    xsn, ysn = prompts_1d(Sine1D(), n_prompts=8, n_points=8, seed=2)
    p_line = mix.posterior(xl, yl)[0][0]  # P(line | prefix) on line prompts
    p_sine = mix.posterior(xsn, ysn)[0][0]  # ... and on sine prompts
    assert torch.allclose(p_line[:, 0], torch.tensor(0.5, dtype=p_line.dtype))
    assert (p_line[:, 4:] > 0.99).all() and (p_sine[:, 4:] < 0.01).all()
    # the mixture prediction is the evidence-weighted average of the two posterior means
    (p, q), (pl, ps) = mix.posterior(xl, yl)
    torch.testing.assert_close(q, 1 - p)
    torch.testing.assert_close(mix(xl, yl), p * pl + (1 - p) * ps)
    # w = 1 is the line posterior (same likelihood variance)
    torch.testing.assert_close(line_sine(1.0, noise_var=nv)(xl, yl), BayesLine(noise_var=nv)(xl, yl))


def test_line_evidence_is_the_gaussian_marginal():
    """Line evidence minus C(y) from the code equals log N(y; 0, s^2 x x^T + nv I) - C(y)."""
    xs, ys = prompts_1d(Line1D(), n_prompts=2, n_points=5, seed=4)
    nv = 1e-2
    _, ev = BayesLine(1.0, nv).mean_and_evidence(xs, ys)
    for b in range(2):
        x, y = xs[b, :, 0].numpy(), ys[b].numpy()
        for i in range(1, 5):
            cov = np.outer(x[:i], x[:i]) + nv * np.eye(i)
            logp = -0.5 * (y[:i] @ np.linalg.solve(cov, y[:i]) + np.linalg.slogdet(2 * np.pi * cov)[1])
            c = -0.5 * i * math.log(2 * math.pi * nv) - (y[:i] ** 2).sum() / (2 * nv)
            assert ev[b, i].item() == pytest.approx(logp - c, abs=1e-6)


# --------------------------------------------------------------------------- combined fit


@pytest.mark.parametrize("a", [0.0, 0.5, 1.0])
def test_combined_fit_recovers_noiseless_combinations(a):
    p = sample_prompts(ConvexCombination(Line1D(), Sine1D(), a), 8, 14, seed=6)
    cf = CombinedFit()
    err = errors(cf(p.xs, p.ys).double(), p)
    assert err[:, 6:].max() < 1e-6, err[:, 6:].max()


def test_combined_fit_finds_the_frequency():
    g = stream_generator(7, 0, EVAL)
    xs = torch.randn(4, 12, 1, generator=g, dtype=torch.float64)
    omega = torch.tensor([1.1, 1.7, 2.33, 2.9], dtype=torch.float64)
    ys = 0.3 * xs[..., 0] + 0.7 * math.sqrt(2) * torch.sin(omega[:, None] * xs[..., 0] + 0.4)
    cf = CombinedFit()
    pred = cf(xs, ys)
    torch.testing.assert_close(cf.omega_[:, -1], omega, atol=1e-5, rtol=0)
    torch.testing.assert_close(pred[:, 6:], ys[:, 6:], atol=1e-4, rtol=0)


def test_combined_fit_elementwise_cholesky_matches_lapack():
    """The hand-written 3 x 3 solve equals torch.linalg.solve, including rank-deficient
    Gram matrices (k <= 2 points: only the ridge term makes them invertible)."""
    g = torch.Generator().manual_seed(3)
    cf = CombinedFit(alpha=1e-6)
    for k in (1, 2, 3, 10):
        F = torch.randn(500, k, 3, generator=g, dtype=torch.float64)
        y = torch.randn(500, k, generator=g, dtype=torch.float64)
        G, h, yy = F.mT @ F, (F.mT @ y[..., None])[..., 0], (y * y).sum(-1)
        t, obj = cf._solve(G, h, yy)
        ref = torch.linalg.solve(G + 1e-6 * torch.eye(3, dtype=torch.float64), h[..., None])[..., 0]
        torch.testing.assert_close(t, ref, rtol=1e-6, atol=1e-6)
        resid = ((y - (F @ ref[..., None])[..., 0]) ** 2).sum(-1) + 1e-6 * (ref**2).sum(-1)
        torch.testing.assert_close(obj, resid, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- ReLU network by GD


def test_relu_gd_hand_written_gradient_and_adam_match_autograd():
    """ReluNetGD.fit writes the gradient and Adam out by hand; the reference is the same
    fit with autograd and torch.optim.Adam."""
    p = sample_prompts(ReluNet(10, normalize=True), 6, 13, seed=9)
    net = ReluNetGD(hidden=16, steps=30, lr=0.01)
    xs, ys = p.xs[:, :12].float(), p.ys[:, :12].float()
    u, a, mse = net.fit(xs, ys)
    u0, a0 = net.init(10)
    ur = u0.expand(6, -1, -1).clone().requires_grad_(True)
    ar = a0.expand(6, -1).clone().requires_grad_(True)
    opt = torch.optim.Adam([ur, ar], lr=0.01)
    for _ in range(30):
        opt.zero_grad()
        loss = ((torch.relu(xs @ ur.mT) @ ar[..., None])[..., 0] - ys).square().mean(1).sum()
        loss.backward()
        opt.step()
    torch.testing.assert_close(u, ur.detach(), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a, ar.detach(), atol=1e-5, rtol=1e-4)
    ref_mse = ((torch.relu(xs @ ur.mT) @ ar[..., None])[..., 0] - ys).square().mean(1).detach()
    torch.testing.assert_close(mse, ref_mse, atol=1e-6, rtol=1e-4)


def test_relu_gd_fits_a_relu_prompt_and_is_deterministic():
    p = sample_prompts(ReluNet(10, normalize=True), 4, 21, seed=8)
    net = ReluNetGD(ks=[20])
    pred = net(p.xs, p.ys)
    assert net.train_loss_[:, 20].max() < 1e-3  # unit-variance targets: small training error
    assert torch.isnan(pred[:, 1:20]).all() and (pred[:, 0] == 0).all() and torch.isfinite(pred[:, 20]).all()
    torch.testing.assert_close(ReluNetGD(ks=[20])(p.xs, p.ys), pred, equal_nan=True)
    # chunking prompts does not change a prompt's fit (shared initialisation)
    torch.testing.assert_close(
        ReluNetGD(ks=[20])(p.xs[1:2], p.ys[1:2])[0], pred[1], equal_nan=True, atol=1e-5, rtol=0
    )


# --------------------------------------------------------------------------- causality


@pytest.mark.parametrize(
    "make",
    [
        lambda: BayesSine(n_omega=32, n_phi=64),
        lambda: line_sine(n_omega=32, n_phi=64),
        lambda: CombinedFit(n_omega=32),
        lambda: BayesLine(),
        lambda: ReluNetGD(steps=20, ks=[1, 3, 4, 5]),
    ],
)
def test_prediction_at_i_uses_examples_before_i_only(make):
    xs, ys = prompts_1d(ConvexCombination(Line1D(), Sine1D(), 0.5), n_prompts=3, n_points=7, seed=9)
    j = 3
    base = make()(xs, ys)
    xs2, ys2 = xs.clone(), ys.clone()
    ys2[:, j] += 5.0
    xs2[:, j + 1 :] += 1.0
    other = make()(xs2, ys2)
    torch.testing.assert_close(other[:, : j + 1], base[:, : j + 1], equal_nan=True)
    assert not torch.allclose(other[:, j + 1], base[:, j + 1], equal_nan=True)


# --------------------------------------------------------------------------- restriction to a few k


@pytest.mark.parametrize(
    "make",
    [
        lambda: BayesSine(n_omega=32, n_phi=64),
        lambda: line_sine(n_omega=32, n_phi=64),
        lambda: CombinedFit(n_omega=32),
        lambda: ReluNetGD(steps=10),
    ],
)
def test_restricted_predictors_agree_at_their_ks(make):
    xs, ys = prompts_1d(ConvexCombination(Line1D(), Sine1D(), 0.5), n_prompts=3, n_points=9, seed=10)
    full, part = make(), restricted(make(), [0, 2, 8, 30])
    assert part.ks == [0, 2, 8, 30] and full.ks is None  # a copy: the original is unchanged
    pf, pp = full(xs, ys), part(xs, ys)
    torch.testing.assert_close(pp[:, [0, 2, 8]], pf[:, [0, 2, 8]], atol=1e-5, rtol=0)
    assert torch.isnan(pp[:, [1, 3, 4, 5, 6, 7]]).all()
    line = BayesLine()
    assert restricted(line, [2]) is line  # no ks: returned as is

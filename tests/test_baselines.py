"""Baselines against scikit-learn, numpy and brute-force references on small cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso as SkLasso
from sklearn.linear_model import Ridge as SkRidge
from sklearn.neighbors import KNeighborsRegressor

from icl.baselines import (
    KNN,
    Averaging,
    BayesDense,
    BayesLine,
    BayesMixture,
    BayesSine,
    BayesSparse,
    Lasso,
    LeastSquares,
    ReluNetGD,
    Ridge,
    Zero,
    bayes_name,
    bayes_predictor,
    keyed,
    prefix_stats,
)
from icl.config import TaskConfig
from icl.tasks import DenseLinear, SparseLinear, sample_xs


def data(fc, B=6, n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    xs = sample_xs(B, n, fc.n_dims, g)
    return xs.double(), fc.sample(B, g).evaluate(xs).double()


def prefix_designs(xs, ys):
    """Zero-padded designs: X (B, n, n, d) with X[b, i, j] = x_j if j < i else 0; Y likewise."""
    n = xs.shape[1]
    mask = torch.tril(torch.ones(n, n, dtype=xs.dtype), diagonal=-1)  # [i, j] = 1 iff j < i
    return xs[:, None, :, :] * mask[None, :, :, None], ys[:, None, :] * mask[None]


def dense_sparse(d, nnz, w, sd=1.0, ss=1.0, noise=1e-4):
    """The dense/sparse mixture prior of chapter 1, dense weight ``w``."""
    return BayesMixture([BayesDense(sd, noise), BayesSparse(d, nnz, ss, noise)], [w, 1 - w])


def per_prefix(fit_predict, xs, ys, start=1):
    """Reference loop: one fit per prompt and prefix."""
    B, n, _ = xs.shape
    out = np.zeros((B, n))
    for b in range(B):
        for i in range(start, n):
            out[b, i] = fit_predict(xs[b, :i].numpy(), ys[b, :i].numpy(), xs[b, i].numpy())
    return out


def test_prefix_statistics():
    xs, ys = data(DenseLinear(3), B=2, n=5)
    G, h, cnt = prefix_stats(xs, ys)
    X, Y = prefix_designs(xs, ys)
    for i in range(5):
        assert torch.allclose(G[:, i], xs[:, :i].mT @ xs[:, :i])
        assert torch.allclose(h[:, i], (xs[:, :i] * ys[:, :i, None]).sum(1))
        assert torch.equal(X[:, i, :i], xs[:, :i]) and torch.all(X[:, i, i:] == 0)


def test_least_squares_matches_numpy_min_norm():
    xs, ys = data(DenseLinear(5))
    ref = per_prefix(lambda X, y, x: x @ np.linalg.pinv(X) @ y, xs, ys)
    assert np.abs(LeastSquares()(xs, ys).numpy() - ref).max() < 1e-6


def test_ridge_matches_sklearn():
    xs, ys = data(DenseLinear(4))
    ref = per_prefix(
        lambda X, y, x: SkRidge(alpha=0.3, fit_intercept=False).fit(X, y).predict(x[None])[0], xs, ys
    )
    assert np.abs(Ridge(0.3)(xs, ys).numpy() - ref).max() < 1e-8


@pytest.mark.parametrize("alpha", [0.01, 0.1])
def test_lasso_matches_sklearn(alpha):
    xs, ys = data(SparseLinear(5, 2), B=5, n=10, seed=1)

    def sk(X, y, x):
        m = SkLasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=200_000).fit(X, y)
        return m.predict(x[None])[0]

    ours = Lasso(alpha)(xs, ys).numpy()
    assert np.abs(ours - per_prefix(sk, xs, ys)).max() < 1e-6


def test_knn_matches_sklearn_and_handles_short_prefixes():
    xs, ys = data(DenseLinear(3), B=3, n=8)

    def sk(X, y, x):
        return KNeighborsRegressor(n_neighbors=min(3, len(X))).fit(X, y).predict(x[None])[0]

    out = KNN(3)(xs, ys).numpy()
    assert np.abs(out - per_prefix(sk, xs, ys)).max() < 1e-10
    assert np.all(out[:, 0] == 0)


def test_averaging_and_zero():
    xs, ys = data(DenseLinear(3), B=2, n=6)
    ref = per_prefix(lambda X, y, x: x @ (X * y[:, None]).mean(0), xs, ys)
    assert np.abs(Averaging()(xs, ys).numpy() - ref).max() < 1e-10
    assert torch.all(Zero()(xs, ys) == 0)


def test_bayes_dense_is_closed_form_ridge():
    xs, ys = data(DenseLinear(4, normalize=True))
    s, noise = 0.5, 0.01
    assert torch.allclose(BayesDense(s, noise)(xs, ys), Ridge(noise / s**2)(xs, ys), atol=1e-10)


def gaussian_logpdf(y, cov):
    sign, logdet = np.linalg.slogdet(cov)
    return -0.5 * (y @ np.linalg.solve(cov, y) + logdet + len(y) * math.log(2 * math.pi))


def brute_force_sparse(X, y, x, d, nnz, s, noise):
    """Posterior mean by explicit enumeration, with the covariance-form evidence."""
    logp, preds = [], []
    for S in itertools.combinations(range(d), nnz):
        Z = X[:, S]
        cov = s**2 * Z @ Z.T + noise * np.eye(len(y))
        logp.append(gaussian_logpdf(y, cov) if len(y) else 0.0)
        m = s**2 * Z.T @ np.linalg.solve(cov, y) if len(y) else np.zeros(nnz)
        preds.append(x[list(S)] @ m)
    p = np.exp(np.array(logp) - max(logp))
    return float(p @ np.array(preds) / p.sum()), float(np.logaddexp.reduce(logp) - math.log(len(logp)))


def brute_force_dense_logp(X, y, s, noise):
    return gaussian_logpdf(y, s**2 * X @ X.T + noise * np.eye(len(y))) if len(y) else 0.0


def test_bayes_sparse_matches_brute_force():
    d, nnz, s, noise = 5, 2, 0.7, 0.05
    xs, ys = data(SparseLinear(d, nnz), B=3, n=7, seed=2)
    ref = per_prefix(lambda X, y, x: brute_force_sparse(X, y, x, d, nnz, s, noise)[0], xs, ys, start=0)
    assert np.abs(BayesSparse(d, nnz, s, noise)(xs, ys).numpy() - ref).max() < 1e-8


def test_bayes_mixture_posterior_weights_match_brute_force():
    d, nnz, sd, ss, noise, w = 4, 1, 0.5, 1.0, 0.05, 0.3
    xs, ys = data(SparseLinear(d, nnz), B=2, n=6, seed=3)

    def mix(X, y, x):
        ps, ls = brute_force_sparse(X, y, x, d, nnz, ss, noise)
        ld = brute_force_dense_logp(X, y, sd, noise)
        cov = sd**2 * X @ X.T + noise * np.eye(len(y))
        pdn = x @ (sd**2 * X.T @ np.linalg.solve(cov, y))
        p_dense = 1 / (1 + (1 - w) / w * math.exp(ls - ld))
        return p_dense * pdn + (1 - p_dense) * ps

    ours = dense_sparse(d, nnz, w, sd, ss, noise)(xs, ys).numpy()
    assert np.abs(ours - per_prefix(mix, xs, ys)).max() < 1e-8


def test_bayes_mixture_endpoints_equal_single_priors():
    xs, ys = data(SparseLinear(6, 2, True), B=4, n=10)
    sd, ss = 1 / math.sqrt(6), 1 / math.sqrt(2)
    assert torch.equal(dense_sparse(6, 2, 1.0, sd, ss)(xs, ys), BayesDense(sd)(xs, ys))
    assert torch.equal(dense_sparse(6, 2, 0.0, sd, ss)(xs, ys), BayesSparse(6, 2, ss)(xs, ys))


def test_three_class_mixture_posterior_matches_brute_force():
    """More than two classes: the softmax of log prior + log evidence, against enumeration;
    a weight of 0 drops its class, and two classes left give the two-class posterior."""
    d, sd, ss, noise, ws = 4, 0.5, 1.0, 0.05, (0.2, 0.3, 0.5)
    xs, ys = data(SparseLinear(d, 1), B=2, n=6, seed=5)
    three = BayesMixture(
        [BayesDense(sd, noise), BayesSparse(d, 1, ss, noise), BayesSparse(d, 2, ss, noise)], ws
    )

    def mix(X, y, x):
        (p1, l1), (p2, l2) = (brute_force_sparse(X, y, x, d, m, ss, noise) for m in (1, 2))
        ld = brute_force_dense_logp(X, y, sd, noise)
        cov = sd**2 * X @ X.T + noise * np.eye(len(y))
        pdn = x @ (sd**2 * X.T @ np.linalg.solve(cov, y)) if len(y) else 0.0
        logp = np.log(ws) + np.array([ld, l1, l2])
        post = np.exp(logp - logp.max())
        return float(post @ np.array([pdn, p1, p2]) / post.sum())

    assert np.abs(three(xs, ys).numpy() - per_prefix(mix, xs, ys, start=0)).max() < 1e-8
    probs, _ = three.posterior(xs, ys)
    torch.testing.assert_close(probs.sum(0), torch.ones_like(probs[0]))
    dropped = BayesMixture(
        [BayesDense(sd, noise), BayesSparse(d, 1, ss, noise), BayesSparse(d, 2, ss, noise)], [0.4, 0.0, 0.6]
    )
    two = BayesMixture([BayesDense(sd, noise), BayesSparse(d, 2, ss, noise)], [0.4, 0.6])
    torch.testing.assert_close(dropped(xs, ys), two(xs, ys), rtol=0, atol=1e-12)
    assert (dropped.posterior(xs, ys)[0][1] == 0).all()


def test_bayes_interpolates_with_enough_points():
    for fc, pred in [
        (DenseLinear(4, True), BayesDense(0.5)),
        (SparseLinear(6, 2, True), BayesSparse(6, 2, 0.7)),
        (SparseLinear(6, 2, True), dense_sparse(6, 2, 0.5, 0.4, 0.7)),
    ]:
        xs, ys = data(fc, B=20, n=14)
        err = (pred(xs, ys) - ys).square()
        assert err[:, 8:].max() < 1e-3


def test_sparse_bayes_selects_before_least_squares_can():
    fc = SparseLinear(8, 2, True)
    xs, ys = data(fc, B=200, n=9, seed=4)
    bayes = (BayesSparse(8, 2, 1 / math.sqrt(2))(xs, ys) - ys).square().mean(0)
    ls = (LeastSquares()(xs, ys) - ys).square().mean(0)
    assert bayes[4] < 0.05 and ls[4] > 0.3


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: BayesSparse(5, 6), "nnz=6"),
        (lambda: dense_sparse(5, 2, 1.5), "w=1.5"),
        (lambda: BayesMixture([BayesDense(), BayesSparse(5, 2)], [0.5, 0.6]), "sum to 1.1"),
        (lambda: BayesMixture([BayesDense(), BayesSparse(5, 2)], [1.0]), "1 weights"),
        (lambda: BayesMixture([BayesDense(noise_var=1e-3), BayesSparse(5, 2)], [0.5, 0.5]), "noise_var"),
        (lambda: Lasso(alpha=0.0), "alpha=0.0"),
        (lambda: KNN(0), "k=0"),
    ],
)
def test_bad_baseline_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_bayes_factory_builds_each_priors_learner_under_its_curve_key():
    """bayes_predictor(task) is the one way the chapters, the log's references and the sizing scores build
    a Bayes-optimal learner: the same computation as the learner written out, named by bayes_name."""
    xs, ys = data(DenseLinear(6, True), B=5, n=9, seed=2)
    mix = bayes_predictor(TaskConfig(("dense", "sparse"), (0.25, 0.75), 6, 2))
    by_hand = BayesMixture([BayesDense(1 / math.sqrt(6)), BayesSparse(6, 2, 1 / math.sqrt(2))], [0.25, 0.75])
    assert mix.name == "Bayes mixture w=0.25" == bayes_name(("dense", "sparse"), (0.25, 0.75))
    assert torch.equal(mix(xs, ys), by_hand(xs, ys))
    dense = bayes_predictor(TaskConfig(("dense", "sparse"), (1.0, 0.0), 6, 2))
    assert isinstance(dense, BayesDense) and dense.name == "Bayes dense"
    assert dense.prior_std == 1 / math.sqrt(6)
    sparse = bayes_predictor(TaskConfig(("sparse",), (1.0,), 6, 2, normalize=False))
    assert isinstance(sparse, BayesSparse) and sparse.name == "Bayes sparse" and sparse.prior_std == 1.0
    line_sine = bayes_predictor(TaskConfig(("line", "sine"), (0.5, 0.5), 1, band=(1.0, 2.0)), 8, 16)
    assert line_sine.name == "Bayes line/sine w=0.5" and {c.noise_var for c in line_sine.components} == {1e-3}
    assert isinstance(line_sine.components[0], BayesLine) and line_sine.components[1].band == (1.0, 2.0)
    assert bayes_predictor(TaskConfig(("sine",), (1.0,), 1)).name == BayesSine.name == "Bayes sine"
    with pytest.raises(ValueError, match="relu"):
        bayes_predictor(TaskConfig(("dense", "relu"), (0.5, 0.5), 4))


def test_predictors_are_keyed_by_their_own_names():
    assert list(keyed(LeastSquares(), Lasso(0.1), KNN(3), ReluNetGD())) == [
        "least squares",
        "Lasso",
        "3-NN",
        "ReLU net (GD)",
    ]
    assert repr(Lasso(0.1)) == "Lasso (alpha=0.1)" and Lasso(0.01).name == Lasso.name

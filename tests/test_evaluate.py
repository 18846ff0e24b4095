"""Evaluation: shared prompts, normalisation, bootstrap intervals, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from icl.baselines import LeastSquares, Zero
from icl.config import EVAL, stream_generator
from icl.evaluate import bootstrap_ci, draw_prompts, evaluate, sample_prompts
from icl.tasks import ConvexCombination, DenseLinear, Line1D, Sine1D, SparseLinear, sample_xs


def test_zero_predictor_scores_about_one_and_ls_zero_past_d():
    curves = evaluate(
        {"zero": Zero(), "ls": LeastSquares()}, DenseLinear(5), n_prompts=4000, n_points=9, seed=1
    )
    zero, ls = curves["zero"], curves["ls"]
    assert np.all((zero.lo < 1.0) & (1.0 < zero.hi) | (np.abs(zero.mean - 1) < 0.03))
    assert np.all(ls.mean[6:] < 1e-8)
    # expected error of min-norm least squares at k < d is (d - k) / d
    expected = (5 - np.arange(5)) / 5
    assert np.all(np.abs(ls.mean[:5] - expected) < 2.5 * (ls.hi[:5] - ls.lo[:5]) / 2)


def test_bootstrap_interval_brackets_the_mean_and_shrinks():
    rng = np.random.default_rng(0)
    err = rng.exponential(size=(4000, 3))
    m, lo, hi = bootstrap_ci(err, n_boot=500)
    assert np.all(lo < m) and np.all(m < hi)
    assert np.allclose(hi - lo, 2 * 1.96 * err.std(0) / np.sqrt(4000), rtol=0.15)
    m2, lo2, hi2 = bootstrap_ci(err[:400], n_boot=500)
    assert np.all(hi2 - lo2 > 2 * (hi - lo))
    assert np.array_equal(bootstrap_ci(err, n_boot=500)[1], lo)  # deterministic


def test_prompts_are_reproducible_and_seed_dependent():
    a = sample_prompts(SparseLinear(6, 2), 10, 5, seed=3)
    b = sample_prompts(SparseLinear(6, 2), 10, 5, seed=3)
    c = sample_prompts(SparseLinear(6, 2), 10, 5, seed=4)
    assert torch.equal(a.xs, b.xs) and torch.equal(a.ys, b.ys) and not torch.equal(a.xs, c.xs)


@pytest.mark.parametrize(
    "kwargs, message", [(dict(n_prompts=0), "n_prompts=0"), (dict(n_points=-1), "n_points=-1")]
)
def test_bad_evaluation_parameters(kwargs, message):
    args = dict(n_prompts=10, n_points=5) | kwargs
    with pytest.raises(ValueError, match=message):
        sample_prompts(DenseLinear(3), **args)


def test_every_prompt_comes_from_the_one_sampler():
    """Inputs first, then one function per prompt, from one generator: sample_prompts is the sampler on
    the evaluation stream of its seed, and the prompts keep the functions they were drawn from."""
    fc = ConvexCombination(Line1D(), Sine1D(), 0.5)
    p = draw_prompts(fc, 6, 4, stream_generator(7, 0, EVAL))
    q = sample_prompts(fc, 6, 4, seed=7)
    g = stream_generator(7, 0, EVAL)
    xs = sample_xs(6, 4, 1, g)
    task = fc.sample(6, g)
    for a in (p, q):
        assert torch.equal(a.xs, xs) and torch.equal(a.ys, task.evaluate(xs))
        assert torch.equal(a.variance, task.variance)
        assert torch.equal(a.task.evaluate(a.xs), a.ys)
    wide = draw_prompts(DenseLinear(3), 2, 5, torch.Generator().manual_seed(0), n_dims=3, x_scale=2.0)
    assert wide.xs.shape == (2, 5, 3)

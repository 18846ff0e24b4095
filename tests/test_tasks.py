"""Function classes: shapes, variances, supports, curriculum, validation."""

from __future__ import annotations

import json
import math

import pytest
import torch

from icl.config import CLASS_NAMES, TaskConfig
from icl.tasks import (
    PRETRAINING_CLASSES,
    ClassName,
    ConvexCombination,
    DenseLinear,
    Family,
    Line1D,
    Mixture,
    ReluNet,
    Sine1D,
    SparseLinear,
    sample_xs,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def empirical_variance(fc, n=20_000, points=8, seed=0, d_active=None):
    g = gen(seed)
    xs = sample_xs(n, points, fc.n_dims, g, d_active)
    task = fc.sample(n, g, d_active)
    ys = task.evaluate(xs)
    return ys.square().mean().item(), task


CLASSES = [
    DenseLinear(10),
    DenseLinear(10, normalize=True),
    SparseLinear(10, 2),
    SparseLinear(10, 2, normalize=True),
    ReluNet(10),
    ReluNet(10, normalize=True),
    Line1D(),
    Sine1D(),
    Sine1D((0.5, 6.0)),
    ConvexCombination(Line1D(), Sine1D(), 0.3),
]


@pytest.mark.parametrize("fc", CLASSES, ids=lambda c: f"{c.name}")
def test_normalised_variance_is_about_one(fc):
    v, task = empirical_variance(fc)
    assert v / fc.variance() == pytest.approx(1.0, abs=0.05)
    assert torch.all(task.variance == fc.variance())


def test_raw_variances_match_the_study():
    assert DenseLinear(10).variance() == 10 and SparseLinear(10, 3).variance() == 3
    assert ReluNet(7).variance() == 7 and Line1D().variance() == 1 and Sine1D().variance() == 1
    assert ConvexCombination(Line1D(), Sine1D(), 0.5).variance() == pytest.approx(0.5)


def test_sparse_support_has_nnz_uniform_coordinates():
    fc = SparseLinear(6, 2)
    w = fc.sample_weights(30_000, gen(1))
    nz = (w != 0).float()
    assert torch.all(nz.sum(1) == 2)
    freq = nz.mean(0)  # each coordinate is in the support with probability 2/6
    assert torch.allclose(freq, torch.full((6,), 2 / 6), atol=0.015)


def test_curriculum_uses_only_active_coordinates():
    g = gen(2)
    xs = sample_xs(64, 5, 10, g, d_active=4)
    assert torch.all(xs[..., 4:] == 0) and torch.all(xs[..., :4] != 0)
    for fc in (DenseLinear(10), SparseLinear(10, 3), ReluNet(10)):
        v, _ = empirical_variance(fc, d_active=4)
        assert v == pytest.approx(fc.variance(4), rel=0.06)
    w = SparseLinear(10, 3).sample_weights(100, g, d_active=4)
    assert torch.all(w[:, 4:] == 0)


def test_sine_frequency_band_and_phase():
    fc = Sine1D((1.0, 3.0))
    omega, phi = fc.sample_params(10_000, gen(3))
    assert omega.min() >= 1.0 and omega.max() <= 3.0 and omega.mean().item() == pytest.approx(2.0, abs=0.03)
    assert phi.min() >= 0 and phi.max() < 2 * math.pi


def test_mixture_draws_class_per_prompt_with_weights():
    fc = Mixture([DenseLinear(5, True), SparseLinear(5, 1, True)], [0.25, 0.75])
    g = gen(4)
    xs = sample_xs(20_000, 6, 5, g)
    task = fc.sample(20_000, g)
    assert task.labels.float().mean().item() == pytest.approx(0.75, abs=0.015)
    ys = task.evaluate(xs)
    # a sparse prompt (nnz=1) is an exact function of a single coordinate; a dense one is not
    assert ys.shape == (20_000, 6)
    assert ys.square().mean().item() == pytest.approx(1.0, abs=0.05)


def test_convex_combination_endpoints_are_the_classes():
    g1, g2 = gen(5), gen(5)
    xs = torch.linspace(-3, 3, 11).reshape(1, 11, 1).expand(4, 11, 1)
    comb = ConvexCombination(Line1D(), Sine1D(), 1.0).sample(4, g1)
    line = Line1D().sample(4, g2)
    assert torch.allclose(comb.evaluate(xs), line.evaluate(xs))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SparseLinear(10, 11), "nnz=11"),
        (lambda: SparseLinear(10, 0), "nnz=0"),
        (lambda: ConvexCombination(Line1D(), Sine1D(), 1.5), "a=1.5"),
        (lambda: ConvexCombination(Line1D(), Sine1D(), -0.1), "a=-0.1"),
        (lambda: Mixture([DenseLinear(3), DenseLinear(3)], [0.5, 0.6]), "sum to 1"),
        (lambda: Mixture([DenseLinear(3), DenseLinear(3)], [1.2, -0.2]), "1.2"),
        (lambda: Sine1D((3.0, 1.0)), "band"),
        (lambda: DenseLinear(0), "n_dims=0"),
        (lambda: TaskConfig(classes=("dense", "cubic"), weights=(0.5, 0.5)), "cubic"),
        (lambda: DenseLinear(5).sample(2, gen(), d_active=6), "d_active=6"),
    ],
)
def test_bad_parameters_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        make()


def test_class_and_family_names_are_their_text():
    """One definition of the names; a member is its text wherever text is made (JSON, CSV columns,
    f-strings, dict keys), so configs, logs and verdicts read the same as with plain strings."""
    assert ClassName.DENSE == "dense" and f"{ClassName.SPARSE}_k5" == "sparse_k5"
    assert str(Family.ONE_D) == "1d" and [f.value for f in Family] == ["linear", "nonlinear", "1d"]
    assert json.dumps({ClassName.LINE: [Family.NONLINEAR]}) == '{"line": ["nonlinear"]}'
    assert {"relu": 1}[ClassName.RELU] == 1 and ClassName("sine") is ClassName.SINE
    assert CLASS_NAMES == tuple(c.value for c in PRETRAINING_CLASSES)
    assert CLASS_NAMES == ("dense", "sparse", "relu", "line", "sine")
    assert ClassName.COMBINATION not in PRETRAINING_CLASSES
    assert TaskConfig(classes=(ClassName.DENSE, ClassName.SPARSE)) == TaskConfig()

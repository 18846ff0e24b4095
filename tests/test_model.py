"""The transformer: shapes, causality (the question users ask first), validation."""

from __future__ import annotations

import pytest
import torch

from icl.model import ModelConfig, TransformerModel


@pytest.mark.parametrize(
    "layout, attention",
    [("garg", "sdpa"), ("compact", "sdpa"), ("pair", "sdpa"), ("pair", "math"), ("garg", "math")],
)
def test_predictions_are_causal(layout, attention):
    torch.manual_seed(0)
    cfg = ModelConfig(
        n_dims=5, n_points=9, n_embd=32, n_layer=2, n_head=4, layout=layout, attention=attention
    )
    model = TransformerModel(cfg).eval()
    xs, ys = torch.randn(3, 9, 5), torch.randn(3, 9)
    base = model(xs, ys)
    assert base.shape == (3, 9)
    for j in range(9):
        # changing y_j may only affect predictions at positions > j
        ys2 = ys.clone()
        ys2[:, j] += 10.0
        out = model(xs, ys2)
        assert torch.equal(out[:, : j + 1], base[:, : j + 1]), f"y_{j} leaked into an earlier prediction"
        if j + 1 < 9:
            assert not torch.allclose(out[:, j + 1 :], base[:, j + 1 :])
        # changing x_{j+1..} may only affect predictions at positions > j
        xs2 = xs.clone()
        xs2[:, j + 1 :] += 5.0
        assert torch.equal(model(xs2, ys)[:, : j + 1], base[:, : j + 1])


def test_math_attention_is_the_same_function_as_sdpa():
    """attention="math" is an implementation switch: same weights, same predictions and
    gradients to float rounding; activation="gelu" is a different (exact) GELU."""
    torch.manual_seed(2)
    cfg = ModelConfig(n_dims=4, n_points=11, n_embd=32, n_layer=2, n_head=4)
    a = TransformerModel(cfg)
    b = TransformerModel(ModelConfig(**{**cfg.__dict__, "attention": "math"}))
    b.load_state_dict(a.state_dict())
    xs, ys = torch.randn(5, 11, 4), torch.randn(5, 11)
    pa, pb = a(xs, ys), b(xs, ys)
    torch.testing.assert_close(pa, pb, atol=1e-6, rtol=1e-5)
    pa.square().sum().backward()
    pb.square().sum().backward()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4, msg=name)
    c = TransformerModel(ModelConfig(**{**cfg.__dict__, "activation": "gelu"}))
    c.load_state_dict(a.state_dict())
    diff = (c(xs, ys) - pa).abs().max().item()
    assert 0 < diff < 1e-2


def test_prediction_at_i_depends_on_x_i():
    torch.manual_seed(1)
    model = TransformerModel(ModelConfig(n_dims=3, n_points=5, n_embd=16, n_layer=1, n_head=2)).eval()
    xs, ys = torch.randn(2, 5, 3), torch.randn(2, 5)
    xs2 = xs.clone()
    xs2[:, 2] += 1.0
    assert not torch.allclose(model(xs, ys)[:, 2], model(xs2, ys)[:, 2])


def test_layouts_have_expected_token_counts():
    g = ModelConfig(n_points=7, layout="garg")
    c = ModelConfig(n_points=7, layout="compact")
    assert g.n_tokens == 14 and c.n_tokens == 7 and ModelConfig(n_points=7, layout="pair").n_tokens == 7
    m = TransformerModel(ModelConfig(n_dims=2, n_points=3, n_embd=8, n_layer=1, n_head=2, layout="garg"))
    tok = m.tokens(torch.ones(1, 3, 2), torch.tensor([[5.0, 6.0, 7.0]]))
    assert tok[0, 1].tolist() == [5.0, 0.0] and tok[0, 0].tolist() == [1.0, 1.0]
    m = TransformerModel(ModelConfig(n_dims=2, n_points=3, n_embd=8, n_layer=1, n_head=2, layout="pair"))
    xs = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    tok = m.tokens(xs, torch.tensor([[7.0, 8.0, 9.0]]))
    assert tok[0].tolist() == [[0, 0, 0, 1, 2], [1, 2, 7, 3, 4], [3, 4, 8, 5, 6]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(layout="rnn"), "layout='rnn'"),
        (dict(n_embd=30, n_head=4), "divisible"),
        (dict(n_layer=0), "n_layer=0"),
        (dict(attention="flash"), r"attention='flash' is not allowed; choose one of \('sdpa', 'math'\)"),
        (dict(activation="relu"), r"activation='relu' is not allowed; choose one of \('gelu_tanh', 'gelu'\)"),
    ],
)
def test_bad_model_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kwargs)


def test_wrong_input_shapes_are_reported():
    m = TransformerModel(ModelConfig(n_dims=3, n_points=4, n_embd=8, n_layer=1, n_head=2))
    with pytest.raises(ValueError, match="n_dims=3"):
        m(torch.randn(1, 4, 5), torch.randn(1, 4))
    with pytest.raises(ValueError, match="n_points=4"):
        m(torch.randn(1, 6, 3), torch.randn(1, 6))

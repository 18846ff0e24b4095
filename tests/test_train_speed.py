"""The faster training loop (issue 36): fused AdamW, ``train.compile = "auto"``, the step's overheads.

Fused AdamW is part of a run's config and resumes bit-identically; a config saved before the switch
existed resumes unfused and bit-identically, even when the preset now says otherwise. ``auto`` times
eager against compiled steps on a throwaway copy (the run's result does not depend on the timing),
keeps one mode per session and records it; a run resumed across a mode change finishes. The eager
model is bit-identical (outputs and gradients) to the code before the overhead work, kept below.
"""

from __future__ import annotations

import copy
import json
import types
from dataclasses import replace

import pytest
import torch
from conftest import tiny_config
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

import icl.step as step_mod
import icl.train as train_mod
from icl.config import NEW_RUN_LOOP, SCALES, RunConfig, get_run_config
from icl.model import ModelConfig, TransformerModel, garg_tokens
from icl.step import make_optimizer, session_compile
from icl.train import train


def weights(folder):
    return load_file(folder / "model.safetensors")


def same_weights(a, b) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def sessions(folder) -> list[dict]:
    return json.loads((folder / "config.json").read_text())["sessions"]


# --------------------------------------------------------------------------- the eager model before and after


def old_tokens(self, xs: Tensor, ys: Tensor) -> Tensor:
    """TransformerModel.tokens before the overhead work (verbatim)."""
    if self.cfg.layout == "garg":
        return garg_tokens(xs, ys)  # (B, 2n, d)
    B, n, d = xs.shape
    y_prev = torch.cat([ys.new_zeros(B, 1), ys[:, :-1]], dim=1)[..., None]  # (B, n, 1): y_{i-1}, y_{-1} = 0
    if self.cfg.layout == "compact":
        return torch.cat([xs, y_prev], dim=2)  # (B, n, d + 1)
    x_prev = torch.cat([xs.new_zeros(B, 1, d), xs[:, :-1]], dim=1)  # (B, n, d): x_{i-1}
    return torch.cat([x_prev, y_prev, xs], dim=2)  # (B, n, 2d + 1)


def old_attention(self, x: Tensor) -> Tensor:
    """CausalSelfAttention.forward before the overhead work (verbatim, one line wrapped)."""
    B, T, C = x.shape
    q, k, v = self.qkv(x).split(C, dim=2)  # each (B, T, C)
    q, k, v = (
        t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)
    )  # (B, H, T, hs)
    if self.math:
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)  # (T, T): j > i
        att = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)  # (B, H, T, T)
        y = torch.softmax(att.masked_fill(future, float("-inf")), dim=-1) @ v  # (B, H, T, hs)
    else:
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, hs)
    return self.proj(y.transpose(1, 2).reshape(B, T, C))


def as_before(model: TransformerModel) -> TransformerModel:
    """A copy of ``model`` (same weights) running the code from before the overhead work."""
    old = copy.deepcopy(model)
    old.tokens = types.MethodType(old_tokens, old)
    for block in old.blocks:
        block.attn.forward = types.MethodType(old_attention, block.attn)
    return old


def outputs_and_grads(model: TransformerModel, xs, ys, labels, given, bf16: bool) -> list[Tensor]:
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        pred = model(xs, ys, labels, given)
    (pred.float() - ys).square().mean().backward()
    return [pred] + [p.grad for p in model.parameters()]


@pytest.mark.parametrize("layout", ["pair", "compact", "garg"])
@pytest.mark.parametrize("attention", ["math", "sdpa"])
def test_the_eager_model_is_bit_identical_to_before_the_overhead_work(layout, attention):
    """Outputs and every gradient equal (torch.equal) on fixed inputs: full-length prompts, a shorter
    one after them (a curriculum: the cached mask sliced), instructions given to some prompts, bf16."""
    cfg = ModelConfig(
        n_dims=5, n_points=11, n_embd=32, n_layer=2, n_head=4, layout=layout, attention=attention, n_classes=2
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        new = TransformerModel(cfg)
    old = as_before(new)
    g = torch.Generator().manual_seed(1)
    for n, bf16 in ((11, False), (6, False), (11, True)):
        xs, ys = torch.randn(8, n, 5, generator=g), torch.randn(8, n, generator=g)
        labels, given = torch.randint(0, 2, (8,), generator=g), torch.rand(8, generator=g) < 0.5
        for lab, giv in ((None, None), (labels, given)):
            a = outputs_and_grads(new, xs, ys, lab, giv, bf16)
            b = outputs_and_grads(old, xs, ys, lab, giv, bf16)
            assert len(a) == len(b)
            assert all((x is None and y is None) or torch.equal(x, y) for x, y in zip(a, b)), (n, bf16, lab)


def test_the_mask_is_not_part_of_the_state_and_survives_inference_mode():
    cfg = ModelConfig(n_dims=3, n_points=5, n_embd=8, n_layer=1, n_head=2, attention="math")
    model = TransformerModel(cfg)
    keys = set(model.state_dict())
    xs, ys = torch.randn(2, 5, 3), torch.randn(2, 5)
    with torch.inference_mode():
        model(xs, ys)  # the mask is first built here
    model(xs, ys).sum().backward()  # and still usable with autograd
    assert set(model.state_dict()) == keys and not list(model.buffers())


# --------------------------------------------------------------------------- fused AdamW


def test_presets_train_new_runs_with_fused_adamw_and_auto_compile():
    for scale in SCALES:
        tc = get_run_config("linear-w0.50", scale).train
        assert (tc.fused_adamw, tc.compile) == (True, "auto")
    assert NEW_RUN_LOOP == dict(fused_adamw=True, compile="auto")
    old = get_run_config("linear-w0.50", "small").to_dict()
    del old["train"]["fused_adamw"], old["train"]["compile"]  # a config saved before the switches existed
    tc = RunConfig.from_dict(old).train
    assert (tc.fused_adamw, tc.compile) == (False, "off")  # loads as it trained
    for bad, says in (
        (dict(fused_adamw="yes"), "fused_adamw='yes' must be true or false"),
        (dict(compile="fast"), "compile='fast' is not one of off, auto"),
    ):
        with pytest.raises(ValueError, match=says):
            tiny_config(**bad)


def test_a_fused_adamw_run_resumes_bit_identically(tmp_path):
    cfg = tiny_config(steps=14, fused_adamw=True)
    assert make_optimizer(TransformerModel(cfg.model), cfg).defaults["fused"] is True
    assert not make_optimizer(TransformerModel(cfg.model), tiny_config()).defaults["fused"]
    a = train(cfg, tmp_path / "a", progress=False)
    train(cfg, tmp_path / "b", progress=False, stop_after=6)  # between the checkpoints at 4 and 8
    b = train(cfg, tmp_path / "b", progress=False)
    assert same_weights(a, b)
    assert (a / "loss.csv").read_text() == (b / "loss.csv").read_text()
    assert json.loads((b / "config.json").read_text())["config"]["train"]["fused_adamw"] is True
    unfused = train(tiny_config(steps=14), tmp_path / "c", progress=False)
    assert not same_weights(a, unfused)  # the implementation really changed (float rounding)


def drop_new_fields(folder) -> None:
    """Rewrite a run folder as a run saved before ``train.fused_adamw`` and ``train.compile`` existed."""
    path = folder / "state.safetensors"
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = load_file(path)
    config = json.loads(meta["config"])
    del config["train"]["fused_adamw"], config["train"]["compile"]
    save_file(tensors, str(path), metadata={**meta, "config": json.dumps(config)})
    info = json.loads((folder / "config.json").read_text())
    del info["config"]["train"]["fused_adamw"], info["config"]["train"]["compile"]
    (folder / "config.json").write_text(json.dumps(info))


def test_an_old_config_resumes_unfused_and_bit_identically_whatever_the_preset_says(tmp_path, monkeypatch):
    """A run saved without the switches (the C1 runs in progress) is resumed by a command whose config
    now says fused AdamW and compile="auto": it is accepted, keeps the default AdamW and eager steps,
    and ends bit-identical to the uninterrupted old run; its config.json then names the switches."""
    monkeypatch.setattr(step_mod, "AUTO_MIN_STEPS", 0)  # auto would time compilation at once...
    monkeypatch.setattr(train_mod, "time_compile", lambda *a, **k: pytest.fail("the run's own compile: off"))
    old = tiny_config(steps=14)
    a = train(old, tmp_path / "a", progress=False)
    train(old, tmp_path / "b", progress=False, stop_after=6)
    drop_new_fields(tmp_path / "b")
    b = train(replace(old, train=replace(old.train, **NEW_RUN_LOOP)), tmp_path / "b", progress=False)
    assert same_weights(a, b)
    assert (a / "loss.csv").read_text() == (b / "loss.csv").read_text()
    saved = json.loads((b / "config.json").read_text())["config"]["train"]
    assert (saved["fused_adamw"], saved["compile"]) == (False, "off")
    assert "compile" not in sessions(b)[-1] and "compile_auto" not in sessions(b)[-1]
    with pytest.raises(ValueError, match="different config"):  # what is trained is still checked
        train(replace(old, train=replace(old.train, lr=3e-3, **NEW_RUN_LOOP)), tmp_path / "b", progress=False)


# --------------------------------------------------------------------------- compile = "auto"


def test_session_compile_passes_settings_and_skips_short_sessions():
    never = lambda: pytest.fail("no timing expected")  # noqa: E731
    assert session_compile("off", 10**6, never) == ("off", None)
    assert session_compile("default", 10**6, never) == ("default", None)
    mode, why = session_compile("auto", step_mod.AUTO_MIN_STEPS - 1, never)
    assert mode == "off" and "compilation would not pay" in why["why"] and why["chose"] == "off"
    assert session_compile("auto", step_mod.AUTO_MIN_STEPS, lambda: {"chose": "default"}) == (
        "default",
        {"chose": "default"},
    )
    with pytest.raises(ValueError, match="compile='graphs' is not one of off, auto, default"):
        train(tiny_config(), "unused", progress=False, compile="graphs")


def test_auto_times_on_a_copy_and_the_run_does_not_depend_on_the_timing(tmp_path, monkeypatch):
    """The real timing (torch.compile of a copy, eager and compiled steps on the run's first batch) runs,
    is recorded, and leaves the run exactly as an eager run: bit-identical weights and loss log."""
    monkeypatch.setattr(step_mod, "AUTO_MIN_STEPS", 0)
    monkeypatch.setattr(step_mod, "AUTO_PROBE_STEPS", 4)
    monkeypatch.setattr(step_mod, "AUTO_PROBE_ROUNDS", 2)
    timed, real = [], train_mod.time_compile
    monkeypatch.setattr(
        train_mod,
        "time_compile",
        lambda *a, **k: timed.append(real(*a, **k)) or {**timed[-1], "chose": "off"},
    )  # measured for real; eager kept, to compare with an eager run
    cfg = tiny_config(steps=10, fused_adamw=True)
    eager = train(cfg, tmp_path / "eager", progress=False, compile="off")
    auto = train(replace(cfg, train=replace(cfg.train, compile="auto")), tmp_path / "auto", progress=False)
    assert len(timed) == 1 and same_weights(eager, auto)
    assert (eager / "loss.csv").read_text() == (auto / "loss.csv").read_text()
    rec = sessions(auto)[0]["compile_auto"]
    assert rec["eager_ms"] > 0 and rec["compiled_ms"] > 0 and rec["steps"] == 4
    assert rec["compile_s"] >= 0  # 0.0 when this process compiled the same step before (another test)
    assert rec["shape"] == [[8, 3, 4], [8, 3]] and rec["threads"] == torch.get_num_threads()  # step 0's batch
    assert timed[0]["chose"] == ("default" if rec["compiled_ms"] < rec["eager_ms"] else "off")


def test_auto_keeps_one_mode_per_session_and_a_run_across_a_mode_change_finishes(tmp_path, monkeypatch):
    """Session 1 chose compiled steps, session 2 eager ones: each session compiled its step at most once,
    records its mode and what was measured, and the run finishes close to an eager one (float rounding)."""
    monkeypatch.setattr(step_mod, "AUTO_MIN_STEPS", 0)
    choices = iter(["default", "off"])
    monkeypatch.setattr(
        train_mod,
        "time_compile",
        lambda *a, **k: {"eager_ms": 2.0, "compiled_ms": 1.0, "chose": next(choices)},
    )
    compiled_calls, real = [], torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compiled_calls.append(kw) or real(model, **kw))
    cfg = tiny_config(steps=8, fused_adamw=True, compile="auto")
    run = train(cfg, tmp_path / "run", progress=False, stop_after=3)  # one prompt length: one compilation
    assert compiled_calls == [{"mode": "default"}]
    train(cfg, tmp_path / "run", progress=False)
    assert compiled_calls == [{"mode": "default"}]  # the eager session compiled nothing
    first, second = sessions(run)
    assert (first["compile"], first["compile_auto"]["chose"]) == ("default", "default")
    assert "compile" not in second and second["compile_auto"]["chose"] == "off" and second["start_step"] == 3
    eager = train(cfg, tmp_path / "eager", progress=False, compile="off")
    we, wr = weights(eager), weights(run)
    assert all(torch.allclose(we[k], wr[k], atol=1e-5, rtol=1e-4) for k in we)
    assert json.loads((run / "config.json").read_text())["status"] == "finished"

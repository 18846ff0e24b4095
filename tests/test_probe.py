"""The probe of issue 40: a finished run's exact weights continued with a fresh AdamW at a constant
learning rate on the batches after its last step, logged, resumable bit for bit, and scored."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from experiments import probe
from icl.checkpoint import load_state
from icl.config import CurriculumConfig, RunConfig, Schedule, TaskConfig, TrainConfig
from icl.model import ModelConfig
from icl.train import build_model, make_optimizer, sample_batch, train

STEPS = 6  # the tiny run's steps; its probe trains as many more


def tiny_1d() -> RunConfig:
    """A 1-D line/sine run that trains in a second (prompts of 12 points: the combinations at k = 11)."""
    return RunConfig(
        name="tiny-1d",
        scale="cpu",
        model=ModelConfig(n_dims=1, n_points=12, n_embd=16, n_layer=2, n_head=2),
        task=TaskConfig(classes=("line", "sine"), weights=(0.5, 0.5), n_dims=1),
        curriculum=CurriculumConfig(Schedule(1, 1, 0, 1), Schedule(6, 12, 3, 2)),
        train=TrainConfig(
            steps=STEPS,
            batch_size=8,
            lr=1e-3,
            warmup_steps=2,
            schedule="cosine",
            checkpoint_every=2,
            log_every=1,
            eval_every=2,
        ),
    )


@pytest.fixture
def finished(tmp_path):
    """A finished tiny run under ``tmp_path/runs/tiny-1d`` (its resumable state dropped, as committed)."""
    folder = train(tiny_1d(), tmp_path / "runs" / "tiny-1d", progress=False)
    (folder / "state.safetensors").unlink()
    return tmp_path / "runs"


def test_the_probe_starts_from_the_finished_weights_with_a_fresh_optimizer(finished, tmp_path):
    out = probe.start("tiny-1d", tmp_path / "probe", root=finished, steps=STEPS, lr=1e-4)
    st = load_state(out / "state.safetensors")
    weights = load_file(finished / "tiny-1d" / "model.safetensors")
    assert st["step"] == STEPS and set(st["model"]) == set(weights)
    assert all(torch.equal(st["model"][k], weights[k]) for k in weights)
    assert st["optim"] == {}  # no AdamW moments: a fresh optimizer
    cfg = st["config"]
    assert (cfg.train.steps, cfg.train.lr, cfg.train.schedule, cfg.train.warmup_steps) == (
        2 * STEPS,
        1e-4,
        "constant",
        0,
    )
    assert replace(cfg, train=tiny_1d().train, notes="") == tiny_1d()  # else the run's own config
    assert "fresh AdamW" in cfg.notes and "probe" in cfg.notes
    info = json.loads((out / "config.json").read_text())
    assert info["sessions"][0]["note"] == cfg.notes and info["sessions"][0]["start_step"] == STEPS
    # the committed loss log, and one log row: the finished weights on the fixed set
    assert (out / "loss.csv").read_text() == (finished / "tiny-1d" / "loss.csv").read_text()
    with open(out / "eval.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "line_k3", "line_k10", "sine_k3", "sine_k10", "combination_k11"]
    assert [r["step"] for r in rows] == [str(STEPS)]
    with open(finished / "tiny-1d" / "eval.csv") as f:
        assert list(csv.DictReader(f))[-1] == rows[0]  # the same weights, the same prompts: the same row
    with pytest.raises(ValueError, match="already holds a run"):
        probe.start("tiny-1d", out, root=finished)

    # its first step: a fresh AdamW's step at the constant rate on the batch of step STEPS (never trained on)
    probe.resume(out, progress=False, stop_after=STEPS + 1)
    model = build_model(cfg)
    model.load_state_dict(weights)
    opt = make_optimizer(model, cfg)
    xs, ys = sample_batch(cfg, STEPS)
    loss = (model(xs, ys) - ys).square().mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
    opt.step()
    after = load_state(out / "state.safetensors")["model"]
    for k, v in model.state_dict().items():
        torch.testing.assert_close(after[k], v, rtol=0, atol=1e-6)


def test_a_probe_trains_resumes_bit_identically_and_logs_the_new_columns(finished, tmp_path):
    a = probe.start("tiny-1d", tmp_path / "a", root=finished, steps=STEPS, lr=1e-4)
    b = probe.start("tiny-1d", tmp_path / "b", root=finished, steps=STEPS, lr=1e-4)
    probe.resume(a, progress=False)
    probe.resume(b, progress=False, stop_after=STEPS + 3)  # paused between checkpoints, then resumed
    assert not (b / "model.safetensors").exists()
    probe.resume(b, progress=False)
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    for name in ("loss.csv", "eval.csv"):
        assert (a / name).read_text() == (b / name).read_text()
    with open(a / "eval.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [STEPS, STEPS + 2, STEPS + 4, 2 * STEPS]
    assert rows[0]["combination_k11"] and json.loads((a / "config.json").read_text())["status"] == "finished"
    table = probe.curves(tmp_path, every=2)
    assert "**a**" in table and "**b**" in table and "| 10 | " in table and "combination_k11" in table


def test_the_score_of_an_untrained_probe_is_the_committed_runs(tmp_path):
    """Probes of the committed 1-D runs, not yet trained: the same numbers as the committed weights (change
    0), each model against its Bayes learner, and C7a's excess at k = 3."""
    for run in probe.PROBE_RUNS:
        probe.start(run, tmp_path / run, steps=10, lr=1e-4)
    text = probe.markdown(probe.score(tmp_path, n_prompts=64))
    assert "| sine-only (probe) | 50,000 |" in text and "(Bayes sine) | 0.000 [0.000, 0.000] |" in text
    assert "(Bayes line/sine w=0.5) | 0.000 [0.000, 0.000] |" in text
    assert "C7a's excess on sines at k = 3" in text and "- change: 0.000 [0.000, 0.000]" in text

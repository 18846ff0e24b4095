"""Training: exact resume, data stream, checkpoints, CLI, config round trips."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import tiny_config
from safetensors.torch import load_file

from icl.checkpoint import CheckpointError, load_state
from icl.config import EVAL, SCALES, TRAIN, RunConfig, get_run_config, run_names, stream_generator
from icl.run_folder import load_run
from icl.train import DivergenceError, sample_batch, train


def weights(folder):
    return load_file(folder / "model.safetensors")


def test_resumed_run_is_bit_identical(tmp_path):
    cfg = tiny_config(steps=14)
    a = train(cfg, tmp_path / "a", progress=False)
    # interrupted at step 6 (between checkpoints 4 and 8), then rerun to the end
    train(cfg, tmp_path / "b", progress=False, stop_after=6)
    assert load_state(tmp_path / "b" / "state.safetensors")["step"] == 6
    assert not (tmp_path / "b" / "model.safetensors").exists()
    b = train(cfg, tmp_path / "b", progress=False)
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / "loss.csv").read_text() == (b / "loss.csv").read_text()


def test_resume_refuses_a_different_config(tmp_path):
    train(tiny_config(steps=4), tmp_path, progress=False, stop_after=2)
    with pytest.raises(ValueError, match="different config"):
        train(tiny_config(steps=4, seed=3), tmp_path, progress=False)


def test_a_run_takes_a_new_step_count_only_before_its_decay(tmp_path):
    """A run whose curve asks for more steps (its selection arrived late) takes a new step count
    while neither schedule has begun its decay, and ends bit-identical to the run trained with
    that count from scratch; the session record names the old count. Past a decay it is refused."""
    a = train(tiny_config(steps=20), tmp_path / "a", progress=False)  # decay from step 16
    train(tiny_config(steps=12), tmp_path / "b", progress=False, stop_after=6)  # decay from step 9
    b = train(tiny_config(steps=20), tmp_path / "b", progress=False)
    wa, wb = weights(a), weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / "loss.csv").read_text() == (b / "loss.csv").read_text()
    sessions = json.loads((b / "config.json").read_text())["sessions"]
    assert [s.get("steps_from") for s in sessions] == [None, 12]
    train(tiny_config(steps=12), tmp_path / "c", progress=False, stop_after=10)  # inside its decay
    with pytest.raises(
        ValueError, match="only before either schedule's decay begins; the state is at step 10"
    ):
        train(tiny_config(steps=20), tmp_path / "c", progress=False)
    assert load_state(tmp_path / "c" / "state.safetensors")["config"].train.steps == 12  # untouched


def test_a_finished_run_without_its_state_is_not_retrained(tmp_path):
    """The committed runs keep only their final weights: training one again is a no-op that leaves
    the weights untouched (not a fresh start over them), and another config there is refused."""
    cfg = tiny_config(steps=4)
    out = train(cfg, tmp_path, progress=False)
    (out / "state.safetensors").unlink(missing_ok=True)
    before = (out / "model.safetensors").read_bytes()
    assert train(cfg, tmp_path, progress=False) == out
    assert not (out / "state.safetensors").exists()
    assert (out / "model.safetensors").read_bytes() == before
    with pytest.raises(ValueError, match="different config"):
        train(tiny_config(steps=4, seed=3), tmp_path, progress=False)
    assert (out / "model.safetensors").read_bytes() == before


def test_a_run_keeps_its_attention_kernel_on_resume(tmp_path):
    """attention is an implementation switch: a run started with sdpa resumes with sdpa when
    the requested config (a changed preset) says math, and ends as the uninterrupted run."""
    from dataclasses import replace

    sdpa = tiny_config(steps=8)
    math_cfg = replace(sdpa, model=replace(sdpa.model, attention="math"))
    a = train(sdpa, tmp_path / "a", progress=False)
    train(sdpa, tmp_path / "b", progress=False, stop_after=4)
    b = train(math_cfg, tmp_path / "b", progress=False)
    wa, wb = weights(a), weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert json.loads((b / "config.json").read_text())["config"]["model"]["attention"] == "sdpa"
    with pytest.raises(ValueError, match="different config"):  # any other difference is still refused
        gelu = replace(math_cfg, model=replace(math_cfg.model, activation="gelu"))
        train(gelu, tmp_path / "b", progress=False)


def test_data_stream_is_a_function_of_seed_and_step():
    cfg = tiny_config()
    x1, y1 = sample_batch(cfg, 5)
    torch.manual_seed(123)  # global state must not matter
    x2, y2 = sample_batch(cfg, 5)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x3, _ = sample_batch(cfg, 6)
    assert x3.shape != x1.shape or not torch.equal(x1, x3)
    # evaluation streams never coincide with training streams
    a = torch.randn(4, generator=stream_generator(0, 0, TRAIN))
    b = torch.randn(4, generator=stream_generator(0, 0, EVAL))
    assert not torch.equal(a, b)


def test_curriculum_shapes_batches():
    cfg = tiny_config()
    xs, _ = sample_batch(cfg, 0)
    assert xs.shape == (8, 3, 4) and torch.all(xs[..., 2:] == 0)
    xs, _ = sample_batch(cfg, 100)
    assert xs.shape == (8, 7, 4) and torch.all(xs[..., 3] != 0)


def test_a_held_curriculum_stays_at_its_start_then_counts_from_the_hold():
    """Schedule.hold (the d = 10 search's lever): d stays 5 for the first 60k steps, then grows as Garg et
    al.'s schedule does from step 0; hold = 0, every study run's, is the old schedule; an old config without
    the field loads with 0; a negative hold is refused in one line."""
    from icl.curriculum import Schedule

    held, plain = Schedule(5, 10, 1, 2000, hold=60_000), Schedule(5, 10, 1, 2000)
    assert [held.at(s) for s in (0, 59_999, 61_999, 62_000, 66_000, 10**6)] == [5, 5, 5, 6, 8, 10]
    assert all(held.at(60_000 + s) == plain.at(s) for s in range(0, 20_000, 500))
    assert all(Schedule(5, 10, 1, 2000, hold=0).at(s) == plain.at(s) for s in range(0, 20_000, 500))
    cfg = get_run_config("linear-w0.00", "cpu")
    d = cfg.to_dict()
    del d["curriculum"]["dims"]["hold"], d["curriculum"]["points"]["hold"]  # a header from before the field
    assert RunConfig.from_dict(d) == cfg
    assert cfg.override({"curriculum.dims.hold": "60000"}).curriculum.dims.at(61_000) == 5
    with pytest.raises(ValueError, match="curriculum hold=-1 must be a whole number of steps >= 0"):
        Schedule(5, 10, 1, 2000, hold=-1)


def test_finished_run_has_config_log_manifest_and_loads(tmp_path):
    cfg = tiny_config(steps=6)
    out = train(cfg, tmp_path / "tiny", progress=False)
    info = json.loads((out / "config.json").read_text())
    assert info["status"] == "finished" and RunConfig.from_dict(info["config"]) == cfg
    assert "torch" in info["versions"] and "git_commit" in info
    assert (out / "loss.csv").read_text().startswith("step,loss\n2,")
    model, cfg2 = load_run("tiny", root=tmp_path)
    assert cfg2 == cfg
    assert model(torch.randn(2, 7, 4), torch.randn(2, 7)).shape == (2, 7)


def test_damaged_checkpoint_is_refused_with_hashes(tmp_path):
    out = train(tiny_config(steps=4), tmp_path / "tiny", progress=False)
    p = out / "model.safetensors"
    data = bytearray(p.read_bytes())
    data[-3] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="expected sha256 [0-9a-f]{64}, found [0-9a-f]{64}"):
        load_run("tiny", root=tmp_path)


def test_truncated_checkpoint_without_manifest_is_refused(tmp_path):
    out = train(tiny_config(steps=4), tmp_path / "tiny", progress=False)
    (out / "MANIFEST.sha256").unlink()
    p = out / "model.safetensors"
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_run("tiny", root=tmp_path)


def test_unknown_run_names_are_listed(tmp_path):
    with pytest.raises(ValueError, match="unknown run name 'linear-w0.3'.*linear-w0.50"):
        get_run_config("linear-w0.3")
    with pytest.raises(CheckpointError, match="no run named 'nope'"):
        load_run("nope", root=tmp_path)
    with pytest.raises(ValueError, match="unknown scale 'gpu'"):
        get_run_config("linear-w0.50", "gpu")


def test_divergence_stops_and_keeps_last_checkpoint(tmp_path):
    cfg = tiny_config(steps=8)
    train(cfg, tmp_path, progress=False, stop_after=4)
    before = (tmp_path / "state.safetensors").read_bytes()
    big = cfg.with_overrides(lr=1e30, grad_clip=1e30)  # blows up, but is a different config: fresh folder
    with pytest.raises(DivergenceError, match="at step"):
        train(big, tmp_path / "diverged", progress=False)
    assert (tmp_path / "state.safetensors").read_bytes() == before


@pytest.mark.parametrize("scale,name", [(s, n) for s in SCALES for n in run_names(s)])
def test_every_registered_run_builds_at_its_scales(scale, name):
    cfg = get_run_config(name, scale)
    assert RunConfig.from_dict(json.loads(cfg.to_json())) == cfg
    xs, ys = sample_batch(cfg, 10**7)
    assert xs.shape[1] == cfg.model.n_points and torch.isfinite(ys).all()
    if scale == "paper":
        assert cfg.model.n_layer == 12 and cfg.model.n_embd == 256 and cfg.model.n_head == 8
        assert cfg.train.steps == 500_000 and cfg.train.batch_size == 64


def test_cli_help_lists_runs_and_rejects_bad_input():
    out = subprocess.run([sys.executable, "-m", "icl", "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and all(n in out.stdout for n in run_names())
    bad = subprocess.run(
        [sys.executable, "-m", "icl", "train", "linear-w0.3"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "invalid choice: 'linear-w0.3'" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "icl", "train", "linear-w0.50", "--steps", "-3"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "-3 must be >= 1" in bad.stderr


def test_a_bf16_step_is_within_tolerance_of_fp32_and_resumes_exactly(tmp_path):
    """train.autocast="bf16" (the paper preset's, on CPU too): the loss of a bf16 forward on the same weights
    and
    batch is within 2% of the fp32 one (bfloat16 keeps about 3 significant digits), the setting is saved with
    the run, and a bf16 run interrupted and resumed ends bit-identical to one trained without a stop."""
    from dataclasses import replace

    from icl.train import build_model

    cfg = tiny_config(steps=8)
    bf = replace(cfg, train=replace(cfg.train, autocast="bf16"))
    model = build_model(cfg)
    xs, ys = sample_batch(cfg, 0)
    with torch.no_grad():
        fp32 = (model(xs, ys) - ys).square().mean()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            pred = model(xs, ys)
        bf16 = (pred.float() - ys).square().mean()
    assert pred.dtype == torch.bfloat16
    assert abs(float(bf16) - float(fp32)) <= 0.02 * float(fp32)
    a = train(bf, tmp_path / "a", progress=False)
    train(bf, tmp_path / "b", progress=False, stop_after=4)
    b = train(bf, tmp_path / "b", progress=False)
    wa, wb = weights(a), weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert json.loads((a / "config.json").read_text())["config"]["train"]["autocast"] == "bf16"
    fp = train(cfg, tmp_path / "fp32", progress=False)
    assert not all(torch.equal(wa[k], weights(fp)[k]) for k in wa)  # the switch is real: another numeric path
    with pytest.raises(ValueError, match="different config"):  # a bf16 run does not resume in fp32
        train(cfg, tmp_path / "b", progress=False)


def test_autocast_setting_is_checked():
    with pytest.raises(ValueError, match="autocast='fp16' is not allowed; choose 'off', 'bf16' or 'auto'"):
        tiny_config().with_overrides(autocast="fp16")
    assert get_run_config("linear-w0.50", "paper").train.autocast == "auto"  # bf16 only where it pays
    assert get_run_config("linear-w0.50", "cpu").train.autocast == "off"
    assert get_run_config("linear-w0.50", "small").train.autocast == "off"


def test_auto_autocast_uses_bf16_on_a_cpu_only_with_bf16_instructions(tmp_path):
    """ "auto" (the paper preset's): on a CPU without bf16 instructions (emulated bf16 is 10-30x slower,
    reports/benchmarks.md) it trains in fp32, bit-identical to "off"; with them, as "bf16"."""
    from dataclasses import replace

    from icl.provenance import cpu_bf16_instructions

    cfg = tiny_config(steps=4)
    auto = train(replace(cfg, train=replace(cfg.train, autocast="auto")), tmp_path / "auto", progress=False)
    same = "off" if not cpu_bf16_instructions() else "bf16"
    ref = train(replace(cfg, train=replace(cfg.train, autocast=same)), tmp_path / same, progress=False)
    wa, wr = weights(auto), weights(ref)
    assert all(torch.equal(wa[k], wr[k]) for k in wa)


def test_each_stop_reason_leaves_a_checkpoint_and_only_a_signal_exits(tmp_path):
    """The clock pauses after the step in hand (a checkpoint, a normal return); a pause step at the last
    step checkpoints without the final weights; SIGTERM finishes the step, checkpoints and exits with a
    message naming the step; each run then resumes to the same weights as an uninterrupted one."""
    import os
    import signal
    import threading
    import time

    cfg = tiny_config(steps=12)
    a = train(cfg, tmp_path / "a", progress=False)
    train(cfg, tmp_path / "clock", progress=False, max_seconds=0)  # TIME_LIMIT after step 1
    assert load_state(tmp_path / "clock" / "state.safetensors")["step"] == 1
    train(cfg, tmp_path / "last", progress=False, stop_after=12)  # PAUSE_STEP at the run's last step
    assert load_state(tmp_path / "last" / "state.safetensors")["step"] == 12
    assert not (tmp_path / "last" / "model.safetensors").exists()

    long = tiny_config(steps=10**6)
    header = tmp_path / "sig" / "config.json"

    def signal_once_training() -> None:  # the header is written once the handler is in place
        deadline = time.time() + 60
        while time.time() < deadline and not header.exists():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=signal_once_training, daemon=True).start()
    with pytest.raises(SystemExit, match=r"interrupted at step \d+; checkpoint saved to .*; rerun to resume"):
        train(long, tmp_path / "sig", progress=False)
    assert load_state(tmp_path / "sig" / "state.safetensors")["step"] >= 1
    assert signal.getsignal(signal.SIGTERM) == before  # the session's handler is gone
    for name in ("clock", "last"):
        b = train(cfg, tmp_path / name, progress=False)
        wa, wb = weights(a), weights(b)
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name

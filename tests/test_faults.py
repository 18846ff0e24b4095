"""Faults: a training process killed with SIGKILL resumes from its last complete checkpoint
and ends bit-identical; a property test that random valid configs train and evaluate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from icl.checkpoint import load_state
from icl.config import CurriculumConfig, RunConfig, Schedule, TaskConfig, TrainConfig
from icl.evaluate import evaluate
from icl.model import ModelConfig
from icl.train import train

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {tests!r})
    torch.set_num_threads(1)
    from conftest import tiny_config
    from icl.train import train
    train(tiny_config(steps=400, checkpoint_every=7), {out!r}, progress=False)
""")


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_checkpoints", [1, 3])
def test_sigkill_at_a_random_moment_then_resume_is_bit_identical(tmp_path, kill_after_checkpoints):
    torch.set_num_threads(1)
    ref = train(tiny_config(steps=400, checkpoint_every=7), tmp_path / "ref", progress=False)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(tests=str(ROOT / "tests"), out=str(out))])
    state = out / "state.safetensors"
    deadline = time.time() + 120
    seen = 0
    last = None
    while time.time() < deadline and proc.poll() is None:
        if state.exists():
            m = state.stat().st_mtime_ns
            if m != last:
                seen, last = seen + 1, m
            if seen >= kill_after_checkpoints:
                break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state.exists(), "the run was killed before its first checkpoint"
    killed_at = load_state(state)["step"]  # loads: never a torn file
    assert 0 < killed_at <= 400 and not any(
        p.name.endswith(".tmp") for p in out.iterdir() if not p.name.startswith(".")
    )
    train(tiny_config(steps=400, checkpoint_every=7), out, progress=False)
    a, b = load_file(ref / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sigterm_saves_a_checkpoint_before_exiting(tmp_path):
    out = tmp_path / "term"
    script = SCRIPT.format(tests=str(ROOT / "tests"), out=str(out)).replace(
        "checkpoint_every=7", "checkpoint_every=1000"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while (
        not (out / "config.json").exists() and time.time() < deadline
    ):  # written once the handler is installed
        time.sleep(0.01)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run finished before SIGTERM arrived")
    assert "checkpoint saved" in err and "Traceback" not in err
    assert load_state(out / "state.safetensors")["step"] > 0


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    d=st.integers(1, 6),
    layout=st.sampled_from(["garg", "compact", "pair"]),
    width=st.sampled_from([8, 16]),
    heads=st.sampled_from([1, 2]),
    w=st.floats(0, 1),
    nnz=st.integers(1, 6),
    points=st.integers(2, 8),
    kind=st.sampled_from(["linear", "relu", "1d"]),
)
def test_random_valid_configs_sample_train_and_evaluate(
    tmp_path, d, layout, width, heads, w, nnz, points, kind
):
    nnz = min(nnz, d)
    if kind == "1d":
        d, classes, weights = 1, ("line", "sine"), (w, 1 - w)
    elif kind == "relu":
        classes, weights = ("dense", "relu"), (w, 1 - w)
    else:
        classes, weights = ("dense", "sparse"), (w, 1 - w)
    cfg = RunConfig(
        name="prop",
        scale="cpu",
        model=ModelConfig(n_dims=d, n_points=points, n_embd=width, n_layer=1, n_head=heads, layout=layout),
        task=TaskConfig(classes=classes, weights=weights, n_dims=d, nnz=nnz, hidden=4),
        curriculum=CurriculumConfig(Schedule(1, d, 1, 1), Schedule(min(2, points), points, 1, 1)),
        train=TrainConfig(steps=2, batch_size=4, warmup_steps=1, checkpoint_every=1, log_every=1),
    )
    out = train(cfg, tmp_path / f"run-{os.getpid()}-{time.time_ns()}", progress=False)
    from icl import load_run

    model, _ = load_run(out.name, root=out.parent)
    curves = evaluate({"m": model}, cfg.task.build(), n_prompts=8, n_points=points, n_boot=10)
    assert curves["m"].mean.shape == (points,)


KILL_IN_WRITE = textwrap.dedent("""
    import os, signal, sys, torch
    sys.path.insert(0, {tests!r})
    torch.set_num_threads(1)
    import icl.checkpoint as ck
    from conftest import tiny_config
    from icl.train import train
    real_save, calls = ck.save_file, []

    def dying_save(tensors, filename, metadata=None):
        calls.append(1)
        if len(calls) < 3:
            return real_save(tensors, filename, metadata=metadata)
        real_save(tensors, filename, metadata=metadata)
        if {mode!r} == "mid_write":  # leave a torn temp file, as a kill inside write() would
            size = os.path.getsize(filename)
            with open(filename, "r+b") as f:
                f.truncate(size // 2)
        os.kill(os.getpid(), signal.SIGKILL)  # before the rename

    ck.save_file = dying_save
    train(tiny_config(steps=40, checkpoint_every=7), {out!r}, progress=False)
""")


@pytest.mark.parametrize("mode", ["mid_write", "before_rename"])
def test_sigkill_during_a_checkpoint_write_resumes_from_the_previous_one(tmp_path, mode):
    torch.set_num_threads(1)
    ref = train(tiny_config(steps=40, checkpoint_every=7), tmp_path / "ref", progress=False)
    out = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-c", KILL_IN_WRITE.format(tests=str(ROOT / "tests"), out=str(out), mode=mode)],
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL
    assert any(p.name.endswith(".tmp") for p in out.iterdir())  # the write really was cut off
    assert load_state(out / "state.safetensors")["step"] == 14  # the 2nd checkpoint, intact
    train(tiny_config(steps=40, checkpoint_every=7), out, progress=False)
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())  # the torn temp file was cleaned up
    a, b = load_file(ref / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)

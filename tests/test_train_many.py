"""Several runs side by side (icl.train_many, the prepared command for a lent GPU) and the
torch.compile switch, tested on the CPU: everything but the GPU itself."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile

import pytest
import torch
from conftest import tiny_config

from icl.checkpoint import load_state
from icl.config import ROOT, get_run_config
from icl.train import train
from icl.train_many import STATE_LIMIT_MIB, adopt, prepare_forks, train_many

STEPS = 30  # each run's step override: the small scale's real model and data, a few seconds of training


@pytest.mark.slow
def test_two_runs_side_by_side_finish_report_and_bundle(tmp_path):
    """Both runs train in their own processes to the end; the report gives each one's steps and steps/s and a
    state under the 16 MiB return limit; the bundle holds one tar per run; a second call trains nothing."""
    said = []
    names = ["linear-w0.00", "linear-w1.00"]
    reports = train_many(
        "small",
        names,
        device="cpu",
        minutes=5,
        runs_dir=tmp_path / "runs",
        threads=1,
        steps=STEPS,
        bundle=tmp_path / "out",
        say=said.append,
    )
    assert [r.run for r in reports] == names
    for r in reports:
        got = (r.start_step, r.end_step, r.total_steps, r.returncode, r.status)
        assert got == (0, STEPS, STEPS, 0, "finished")
        assert r.steps_per_second > 0 and 0 < r.state_mib < STATE_LIMIT_MIB
        with tarfile.open(tmp_path / "out" / f"small.{r.run}.tar") as tar:  # one file per run comes back
            assert {"model.safetensors", "state.safetensors", "config.json", "loss.csv", "eval.csv"} <= set(
                tar.getnames()
            )
    info = json.loads((tmp_path / "out" / "train-many.json").read_text())
    assert [r["status"] for r in info["runs"]] == ["finished", "finished"] and info["device"] == "cpu"
    assert any(line.startswith("linear-w0.00") and "finished" in line for line in said)
    again = train_many(
        "small",
        names,
        device="cpu",
        minutes=5,
        runs_dir=tmp_path / "runs",
        threads=1,
        steps=STEPS,
        say=said.append,
    )
    assert [(r.start_step, r.end_step) for r in again] == [(STEPS, STEPS)] * 2


@pytest.mark.slow
def test_a_bundle_is_adopted_only_where_it_is_further_along(tmp_path):
    """A study run paused after a few seconds on the "other" machine comes back as one tar; adopt puts it in
    place; a second adopt keeps the local run (level), and so does a third once the local run is further
    along;
    a tar of another config, or a broken one, is reported on its own line while the other tars are adopted."""
    train_many(
        "small",
        ["linear-w1.00"],
        device="cpu",
        minutes=0.05,
        runs_dir=tmp_path / "there",
        threads=1,
        bundle=tmp_path / "bundle",
        say=lambda m: None,
    )
    step = load_state(tmp_path / "there" / "linear-w1.00" / "state.safetensors")["step"]
    here = tmp_path / "here" / "small" / "linear-w1.00"
    said = []
    adopted = adopt(tmp_path / "bundle", runs_root=tmp_path / "here", say=said.append)
    assert adopted == (["small/linear-w1.00"], [])
    assert load_state(here / "state.safetensors")["step"] == step > 0
    assert adopt(tmp_path / "bundle", runs_root=tmp_path / "here", say=said.append) == ([], [])
    assert said[-1] == f"small/linear-w1.00: kept this machine's (step {step:,}; the bundle's is {step:,})"
    train(get_run_config("linear-w1.00", "small"), here, progress=False, stop_after=step + 3)  # local moves
    assert adopt(tmp_path / "bundle", runs_root=tmp_path / "here", say=said.append) == ([], [])
    assert said[-1] == (
        f"small/linear-w1.00: kept this machine's (step {step + 3:,}; the bundle's is {step:,})"
    )
    assert load_state(here / "state.safetensors")["step"] == step + 3

    train_many(
        "small",
        ["linear-w0.00"],
        device="cpu",
        minutes=5,
        runs_dir=tmp_path / "other",
        threads=1,
        steps=STEPS,
        bundle=tmp_path / "mixed",
        say=lambda m: None,
    )  # another config (a step override)
    (tmp_path / "mixed" / "small.broken.tar").write_bytes(b"not a tar")
    shutil.copy(tmp_path / "bundle" / "small.linear-w1.00.tar", tmp_path / "mixed")
    shutil.rmtree(tmp_path / "here")
    adopted, problems = adopt(tmp_path / "mixed", runs_root=tmp_path / "here", say=lambda m: None)
    assert adopted == ["small/linear-w1.00"] and len(problems) == 2
    assert any("trained with another config than the study's" in p for p in problems)
    assert any(p.startswith("small.broken.tar:") for p in problems)
    assert not (tmp_path / "here" / "small" / "linear-w0.00").exists()
    assert not list((tmp_path / "here" / "small").glob(".adopt-*"))  # no temporary folder left behind
    with pytest.raises(ValueError, match="holds no run bundle"):
        adopt(tmp_path / "here")


@pytest.mark.slow
def test_a_signal_stops_every_run_with_a_checkpoint_and_is_not_a_failure(tmp_path):
    """SIGTERM to train-many reaches every run: each saves its state and the report says "stopped
    (checkpointed)", not "failed"."""
    import os
    import signal
    import threading
    import time

    runs = tmp_path / "runs"

    def signal_once_both_train() -> None:  # a run writes config.json once its own SIGTERM handler is in place
        deadline = time.time() + 300
        while time.time() < deadline and not all((runs / n / "config.json").exists() for n in names):
            time.sleep(0.2)
        time.sleep(2)
        os.kill(os.getpid(), signal.SIGTERM)

    names = ["linear-w0.00", "linear-w1.00"]
    threading.Thread(target=signal_once_both_train, daemon=True).start()
    reports = train_many(
        "small", names, device="cpu", minutes=5, runs_dir=runs, threads=1, say=lambda m: None
    )
    for r in reports:
        assert r.stopped and r.status == "stopped (checkpointed)" and r.end_step < r.total_steps
        assert (tmp_path / "runs" / r.run / "state.safetensors").exists()


def test_the_cpu_and_small_states_come_back_under_the_limit():
    """A resumable state holds the weights and AdamW's two moments in fp32 (12 bytes a parameter) plus the
    logs: the cpu and small runs' 8 x 64 model comes back well under 16 MiB, the paper's does not."""
    from icl.train import build_model

    for scale, fits in (("cpu", True), ("small", True), ("paper", False)):
        n = sum(p.numel() for p in build_model(get_run_config("linear-w0.50", scale)).parameters())
        assert (12 * n / 2**20 < STATE_LIMIT_MIB) is fits, (scale, n)


def test_a_mixture_run_is_forked_from_its_specialists_state_before_the_hold(tmp_path):
    """linear-w0.25 at small repeats linear-w0.00's batches up to its hold: with w0.00 paused at step 12, the
    mixture run starts from that state (exact; icl.forks) instead of from scratch."""
    runs = tmp_path / "runs"
    src = get_run_config("linear-w0.00", "small").with_overrides(steps=STEPS)
    train(src, runs / "linear-w0.00", progress=False, stop_after=12)
    said = []
    prepare_forks("small", ["linear-w0.25"], runs, steps=STEPS, say=said.append)
    assert load_state(runs / "linear-w0.25" / "state.safetensors")["step"] == 12
    assert said == ["linear-w0.25: forked from linear-w0.00 at step 12"]
    prepare_forks("small", ["linear-w0.25"], runs, steps=STEPS, say=said.append)  # started: left alone
    assert len(said) == 1


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(names=["linear-w9"]), "'linear-w9' is not a run of the small scale"),
        (dict(names=["linear-w0.00", "linear-w0.00"]), "a run is named twice"),
        (dict(names=[]), "no runs given"),
        (
            dict(compile="fast"),
            "compile='fast' is not one of off, auto, default, reduce-overhead, max-autotune",
        ),
        (dict(minutes=0), "minutes=0 must be a positive number"),
        (
            dict(
                names=[
                    "linear-w0.00",
                    "linear-w0.25",
                    "linear-w0.50",
                    "linear-w0.75",
                    "linear-w1.00",
                    "linear-w0.05",
                    "linear-w0.95",
                    "linear-w0.50-cond",
                ],
                bundle="b",
            ),
            "8 runs with a bundle: at most 7",
        ),
    ],
)
def test_bad_input_is_refused_before_anything_starts(tmp_path, bad, message):
    kw = dict(names=["linear-w0.00"], device="cpu", minutes=1, runs_dir=tmp_path, steps=STEPS, **{})
    kw.update(bad)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        train_many("small", kw.pop("names"), **kw)
    assert not any(tmp_path.iterdir())


def test_the_command_refuses_cuda_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    r = subprocess.run(
        [sys.executable, "-m", "icl", "train-many", "small", "--runs", "linear-w0.00", "--minutes", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stderr.strip().startswith("error: --device cuda: no CUDA device here")


def test_a_compiled_step_matches_the_eager_one_and_is_recorded(tmp_path, monkeypatch):
    """compile="default" (torch.compile) trains the same function: after a few steps its weights agree with
    eager training to float rounding, the session record names the mode, and the run resumes without it."""
    cfg = tiny_config(steps=4)
    eager = train(cfg, tmp_path / "eager", progress=False)
    calls, real = [], torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: calls.append(kw) or real(model, **kw))
    compiled = train(cfg, tmp_path / "compiled", progress=False, compile="default", stop_after=2)
    assert calls == [{"mode": "default"}]  # the step really went through torch.compile
    train(cfg, tmp_path / "compiled", progress=False)  # resumed eagerly: the state is the plain model's
    we, wc = (load_state(p / "state.safetensors")["model"] for p in (eager, compiled))
    assert all(torch.allclose(we[k], wc[k], atol=1e-5, rtol=1e-4) for k in we)
    sessions = json.loads((compiled / "config.json").read_text())["sessions"]
    assert sessions[0]["compile"] == "default" and "compile" not in sessions[1]
    with pytest.raises(ValueError, match="compile='graphs' is not one of"):
        train(cfg, tmp_path / "bad", progress=False, compile="graphs")

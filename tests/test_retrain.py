"""Chapters 3-5's retraining (issue 40, experiments.retrain): a run holds its peak learning rate until its
emergence log is flat on its own classes, then takes the smallest step count whose decay begins there."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_probe import tiny_1d

from experiments import retrain
from icl.config import TrainConfig
from icl.emergence import column_keys, write_eval_csv
from icl.train import train


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25, 0.3])
def test_the_decay_count_is_the_smallest_whose_decay_starts_at_the_step(fraction):
    """Read by icl's own schedule (TrainConfig.lr_at, which the resume check compares): the peak rate at the
    step under the count (the schedule is flat before its decay), a decayed one under the count below."""
    peak = 1e-3
    for step in [1, 999, 1000, 7_700, 14_700, 40_000, 40_001, 123_456, 239_999]:  # 7,700: 11000 * 0.7 < 7700
        n = retrain.decay_from(step, fraction)
        assert n % 1000 == 0
        at = {
            c: TrainConfig(steps=c, lr=peak, warmup_steps=0, schedule="cosine", decay_fraction=fraction)
            for c in (n, n - 1000)
            if c > 0
        }
        assert at[n].lr_at(step) == peak  # the decay has not begun by the step: the change is accepted
        assert n == 1000 or at[n - 1000].lr_at(step) < peak  # and no smaller count would do


def test_a_paused_run_takes_the_decay_count_and_refuses_a_smaller_one(tmp_path):
    """Through icl's own resume check (a new step count is taken only before either schedule's decay
    begins): the count for the state's step is accepted, the count one rounding unit below it refused."""
    base = tiny_1d()
    cfg = replace(base, train=replace(base.train, steps=300))
    train(cfg, tmp_path / cfg.name, progress=False, stop_after=40)  # a state at step 40 (checkpoints every 2)
    n = retrain.decay_from(40, cfg.train.decay_fraction, round_to=10)
    assert n == 50
    with pytest.raises(ValueError, match="decay"):
        train(replace(cfg, train=replace(cfg.train, steps=n - 10)), tmp_path / cfg.name, progress=False)
    folder = train(replace(cfg, train=replace(cfg.train, steps=n)), tmp_path / cfg.name, progress=False)
    assert (folder / "model.safetensors").exists()


def _paused(tmp_path, steps: int):
    """A tiny 1-D run paused at step 2 under ``tmp_path/<name>``, its config asking for ``steps`` steps."""
    cfg = tiny_1d()
    cfg = replace(cfg, train=replace(cfg.train, steps=steps))
    train(cfg, tmp_path / cfg.name, progress=False, stop_after=2)
    return cfg


def _log(cfg, tmp_path, sine_k3: list[float], line_k3: list[float]) -> None:
    """Overwrite the run's emergence log: the sine and line errors at k = 3 as given, the rest constant."""
    keys = column_keys(cfg)
    rows = []
    for i, (s, ln) in enumerate(zip(sine_k3, line_k3)):
        values = {("sine", 3): s, ("line", 3): ln}
        rows.append(((i + 1) * 1000, [values.get(k, 0.5) for k in keys]))
    write_eval_csv(tmp_path / cfg.name / "eval.csv", cfg, rows)


def test_status_judges_the_runs_own_classes_and_says_how_to_decay(tmp_path):
    cfg = _paused(tmp_path, steps=300_000)
    [row] = retrain.status(tmp_path)
    assert row["run"] == cfg.name and row["flat"] is None  # two steps logged: not judged yet
    falling = list(np.linspace(0.2, 0.1, 30))
    _log(cfg, tmp_path, sine_k3=[0.1] * 30, line_k3=falling)  # the mixture: its lines still improving
    [row] = retrain.status(tmp_path)
    assert row["flat"] is False and "decay now" not in retrain.markdown([row], tmp_path)
    _log(cfg, tmp_path, sine_k3=[0.1] * 30, line_k3=[0.3] * 30)
    [row] = retrain.status(tmp_path)
    # flat at 30,000: 38,000 would decay from there, but no run trains fewer steps than the preset's 50,000
    assert row["flat"] is True and row["step"] == 30_000 and row["decay_steps"] == 50_000
    _log(cfg, tmp_path, sine_k3=[0.1] * 60, line_k3=[0.3] * 60)
    [row] = retrain.status(tmp_path)
    assert row["flat"] is True and row["step"] == 60_000 and row["decay_steps"] == 75_000
    text = retrain.markdown([row], tmp_path)
    assert f"--steps 75000 --out {tmp_path / cfg.name}" in text


def test_the_decay_count_is_for_the_state_when_it_is_past_the_log(tmp_path):
    """A stopped run's state lies past its last logged step: the count is the state's (icl refuses others)."""
    cfg = _paused(tmp_path, steps=300_000)  # its state at step 2
    write_eval_csv(tmp_path / cfg.name / "eval.csv", cfg, [(0, [0.5] * len(column_keys(cfg)))])
    [row] = retrain.status(tmp_path)
    assert row["step"] == 0 and row["state_step"] == 2
    assert row["decay_steps"] == max(50_000, retrain.decay_from(2, 0.2))  # the preset's count at least


def test_a_sine_specialist_is_not_held_back_by_its_line_errors(tmp_path):
    base = tiny_1d()
    cfg = replace(
        base,
        task=replace(base.task, classes=("sine",), weights=(1.0,)),
        train=replace(base.train, steps=300_000),
    )
    train(cfg, tmp_path / cfg.name, progress=False, stop_after=2)
    _log(
        cfg, tmp_path, sine_k3=[0.1] * 30, line_k3=list(np.linspace(0.9, 0.5, 30))
    )  # lines: never trained on
    [row] = retrain.status(tmp_path)
    assert row["flat"] is True


def test_a_decaying_run_gets_no_command_and_a_bad_folder_one_line(tmp_path, capsys):
    cfg = _paused(tmp_path, steps=30_000)  # its decay begins at 24,000
    _log(cfg, tmp_path, sine_k3=[0.1] * 30, line_k3=[0.3] * 30)
    [row] = retrain.status(tmp_path)
    assert row["decaying"] and "decay now" not in retrain.markdown([row], tmp_path)
    assert retrain.main(["status", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert retrain.main(["status", str(tmp_path)]) == 0 and (tmp_path / "status.md").exists()

"""Chapters 3-5's retraining (issue 40, experiments.retrain): a run holds its peak learning rate until its
emergence log is flat on its own classes, then takes the smallest step count whose decay begins there."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_probe import tiny_1d

from experiments import retrain
from icl.emergence import column_keys, write_eval_csv
from icl.train import train


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25])
def test_the_decay_count_is_the_smallest_whose_decay_starts_at_the_step(fraction):
    for step in [1, 999, 1000, 40_000, 40_001, 123_456, 239_999]:
        n = retrain.decay_from(step, fraction)
        assert n % 1000 == 0
        assert round(n * (1 - fraction)) >= step  # the decay begins at or after the step: the change is exact
        assert round((n - 1000) * (1 - fraction)) < step  # and no smaller count would do


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
    assert row["flat"] is True and row["step"] == 30_000 and row["decay_steps"] == 38_000
    text = retrain.markdown([row], tmp_path)
    assert f"--steps 38000 --out {tmp_path / cfg.name}" in text


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

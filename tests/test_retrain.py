"""Chapters 3-5's retraining (issue 40, experiments.retrain): a run holds its peak learning rate until its
emergence log is flat on its own classes, then takes the smallest step count whose decay begins there."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
from test_probe import tiny_1d

import icl.config as config
from experiments import retrain
from icl.checkpoint import sha256
from icl.config import RunConfig, TrainConfig
from icl.emergence import column_keys, write_eval_csv
from icl.protocol import PROTOCOL_FILE
from icl.run_folder import load_run
from icl.train import train


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25, 0.3])
def test_the_decay_count_is_the_smallest_whose_decay_starts_at_the_step(fraction):
    """Read by icl's own schedule (TrainConfig.lr_at, which the resume check compares): the peak rate at the
    step under the count (the schedule is flat before its decay), a decayed one under the count below."""
    peak = 1e-3
    for step in [1, 999, 1000, 7_700, 14_700, 40_000, 40_001, 123_456, 239_999]:  # 7,700: 11000 * 0.7 < 7700
        train = TrainConfig(lr=peak, warmup_steps=0, schedule="cosine", decay_fraction=fraction)
        n = retrain.decay_from(step, train)
        assert n % 1000 == 0
        at = {c: replace(train, steps=c) for c in (n, n - 1000) if c > 0}
        assert at[n].decay_start >= step and (n == 1000 or at[n - 1000].decay_start < step)
        assert at[n].lr_at(step) == peak  # the decay has not begun by the step: the change is accepted
        assert n == 1000 or at[n - 1000].lr_at(step) < peak  # and no smaller count would do


def test_a_constant_schedule_has_no_decay_to_begin():
    train = TrainConfig(steps=1000, schedule="constant")
    assert train.decay_start == 1000 and train.lr_at(999) == train.lr  # no step decays
    with pytest.raises(ValueError, match="schedule='constant' has no decay to begin; allowed: 'cosine'"):
        retrain.decay_from(10, train)


def test_a_paused_run_takes_the_decay_count_and_refuses_a_smaller_one(tmp_path):
    """Through icl's own resume check (a new step count is taken only before either schedule's decay
    begins): the count for the state's step is accepted, the count one rounding unit below it refused."""
    base = tiny_1d()
    cfg = replace(base, train=replace(base.train, steps=300))
    train(cfg, tmp_path / cfg.name, progress=False, stop_after=40)  # a state at step 40 (checkpoints every 2)
    n = retrain.decay_from(40, cfg.train, round_to=10)
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
    assert row["decay_steps"] == max(50_000, retrain.decay_from(2, cfg.train))  # the preset's count at least


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


@pytest.mark.parametrize("steps", [30_000, 75_000])  # logged to 30,000: decaying, and not decaying yet
def test_a_run_given_its_count_gets_no_command_and_a_bad_folder_one_line(tmp_path, capsys, steps):
    """Once a run holds a count other than START_STEPS it was given its decay, begun or not: stopping it
    again would move its decay (icl refuses that once the decay of its count has begun)."""
    cfg = _paused(tmp_path, steps=steps)
    _log(cfg, tmp_path, sine_k3=[0.1] * 30, line_k3=[0.3] * 30)
    [row] = retrain.status(tmp_path)
    text = retrain.markdown([row], tmp_path)
    assert row["flat"] and row["counted"] and "decay now" not in text
    assert f"given its count: {steps:,} steps, its decay from step {int(steps * 0.8):,}" in text
    assert retrain.main(["status", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert retrain.main(["status", str(tmp_path)]) == 0 and (tmp_path / "status.md").exists()


# --------------------------------------------------------------------------- promote: the successor in place

PRESET = 6  # the tiny layout's preset step count (its protocol.json's `steps`)


def _sine_only(steps: int, **train_changes) -> RunConfig:
    """A tiny sine specialist named like the study's: "the registry's" ``sine-only`` in the tmp layout."""
    base = tiny_1d()
    return replace(
        base,
        name="sine-only",
        task=replace(base.task, classes=("sine",), weights=(1.0,)),
        train=replace(base.train, steps=steps, **train_changes),
    )


@pytest.fixture
def study(tmp_path, monkeypatch):
    """A tmp layout: ``data/runs/cpu/`` with a committed tiny ``sine-only`` (PRESET steps, no state) and a
    protocol file (the committed one with the preset's count PRESET, no run entries); the retraining folder
    ``retrain/`` empty. The registry reads this protocol (icl.config.DATA points here; its cache cleared),
    and its config of ``sine-only`` is the tiny run's with the protocol's count (as get_run_config's is)."""
    runs = tmp_path / "data" / "runs" / "cpu"
    committed = json.loads((config.DATA / "runs" / "cpu" / PROTOCOL_FILE).read_text())
    protocol = runs / PROTOCOL_FILE
    runs.mkdir(parents=True)
    protocol.write_text(
        json.dumps({**committed, "steps": PRESET, "runs": {}}, indent=2, ensure_ascii=False) + "\n"
    )
    monkeypatch.setattr(config, "DATA", tmp_path / "data")
    config.cpu_protocol.cache_clear()

    def registry(name: str, scale: str = "cpu") -> RunConfig:
        assert (name, scale) == ("sine-only", "cpu")
        return _sine_only(config.cpu_protocol().steps_of(name))

    monkeypatch.setattr(retrain, "get_run_config", registry)
    train(_sine_only(PRESET), runs / "sine-only", progress=False)
    (runs / "sine-only" / "state.safetensors").unlink()  # as committed: model, header, logs, manifest
    (tmp_path / "retrain").mkdir()
    yield {"runs": runs, "protocol": protocol, "retrain": tmp_path / "retrain"}
    config.cpu_protocol.cache_clear()  # the repository's protocol again for the tests after


def _promote(study, **kw):
    return retrain.promote(
        "sine-only", study["retrain"], runs_root=study["runs"], protocol_path=study["protocol"], **kw
    )


def _files(folder) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}  # the lock file is not the run's


def test_promotion_puts_the_successor_in_place_and_enters_its_count(study):
    before = study["protocol"].read_text()
    successor = train(_sine_only(PRESET + 4), study["retrain"] / "sine-only", progress=False)
    weights = sha256(successor / "model.safetensors")
    old_weights = sha256(study["runs"] / "sine-only" / "model.safetensors")
    spare = study["retrain"].parent / "spare"
    shutil.copytree(successor, spare)
    assert retrain.get_run_config("sine-only").train.steps == PRESET
    path = _promote(study, today="2026-12-20")
    assert path == study["runs"] / "sine-only" and not successor.exists()
    assert _files(path) == {"MANIFEST.sha256", "config.json", "loss.csv", "eval.csv", "model.safetensors"}
    assert sha256(path / "model.safetensors") == weights
    replaced = study["retrain"] / "replaced" / "sine-only"
    assert sha256(replaced / "model.safetensors") == old_weights  # the committed run, kept
    text = study["protocol"].read_text()
    after, was = json.loads(text), json.loads(before)
    assert after["runs"] == {"sine-only": {"steps": PRESET + 4, "read": "2026-12-20"}}
    assert list(after) == list(was) and {k: v for k, v in after.items() if k != "runs"} == {
        k: v for k, v in was.items() if k != "runs"
    }
    assert text == json.dumps(after, indent=2, ensure_ascii=False) + "\n"
    # the registry reads the new count at once (its cache cleared); the run under the name is the successor
    assert retrain.get_run_config("sine-only").train.steps == PRESET + 4
    assert config.get_run_config("sine-only", "cpu").train.steps == PRESET + 4  # icl's own registry too
    _, loaded = load_run("sine-only", root=study["runs"])  # its manifest checked
    assert loaded == retrain.get_run_config("sine-only")
    with pytest.raises(ValueError, match="holds no finished run"):  # nothing left to promote
        _promote(study)
    shutil.copytree(spare, successor)  # another successor: the replaced run is never overwritten
    with pytest.raises(ValueError, match=r"replaced/sine-only exists.*never overwritten"):
        _promote(study)
    assert sha256(path / "model.safetensors") == weights and study["protocol"].read_text() == text


def test_a_successor_still_training_or_unlike_the_registrys_run_is_refused(study, capsys):
    committed = sha256(study["runs"] / "sine-only" / "model.safetensors")
    protocol = study["protocol"].read_text()
    folder = study["retrain"] / "sine-only"
    train(_sine_only(PRESET + 4), folder, progress=False, stop_after=4)
    with pytest.raises(ValueError, match=r"still training \(its state at step 4 of 10\)"):
        _promote(study)
    shutil.rmtree(folder)
    train(_sine_only(PRESET + 4, lr=5e-4), folder, progress=False)
    with pytest.raises(ValueError, match=r"the successor's train.lr=0.0005 is not the registry's 0.001"):
        _promote(study)
    shutil.rmtree(folder)
    train(_sine_only(PRESET - 2), folder, progress=False)
    with pytest.raises(ValueError, match=r"train.steps=4 is below the preset's; allowed: >= 6"):
        _promote(study)
    with pytest.raises(
        ValueError, match=r"run='sine-onl' is not a run of the retraining; allowed: line-only"
    ):
        retrain.promote(
            "sine-onl", study["retrain"], runs_root=study["runs"], protocol_path=study["protocol"]
        )
    assert retrain.main(["promote", "sine-onl", str(study["retrain"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run='sine-onl'") and err.count("\n") == 1
    assert sha256(study["runs"] / "sine-only" / "model.safetensors") == committed  # nothing moved
    assert study["protocol"].read_text() == protocol and not (study["retrain"] / "replaced").exists()


def test_a_failed_protocol_write_leaves_the_committed_run_and_the_protocol(study, monkeypatch):
    committed = sha256(study["runs"] / "sine-only" / "model.safetensors")
    protocol = study["protocol"].read_text()
    successor = train(_sine_only(PRESET + 4), study["retrain"] / "sine-only", progress=False)

    def disk_full(path, text):
        raise OSError(28, "No space left on device")

    written = retrain.atomic_write_text

    monkeypatch.setattr(retrain, "atomic_write_text", disk_full)
    with pytest.raises(OSError, match="No space"):
        _promote(study)
    assert sha256(study["runs"] / "sine-only" / "model.safetensors") == committed
    assert study["protocol"].read_text() == protocol and config.get_run_config("sine-only").train.steps == 6
    assert not (study["retrain"] / "replaced" / "sine-only").exists()
    assert _files(successor) == {
        "MANIFEST.sha256",
        "config.json",
        "loss.csv",
        "eval.csv",
        "model.safetensors",
    }
    monkeypatch.setattr(
        retrain, "atomic_write_text", written
    )  # room again: the successor is promoted as it is
    assert _promote(study) == study["runs"] / "sine-only"
    assert config.get_run_config("sine-only").train.steps == PRESET + 4


def test_a_successor_with_the_presets_count_gets_no_entry(study):
    """The protocol's steps_rule: a run whose count is the preset's keeps it without an entry."""
    train(_sine_only(PRESET), study["retrain"] / "sine-only", progress=False)
    _promote(study, today="2026-12-20")
    assert json.loads(study["protocol"].read_text())["runs"] == {}
    assert config.get_run_config("sine-only", "cpu").train.steps == PRESET
    assert (study["retrain"] / "replaced" / "sine-only" / "model.safetensors").exists()


def test_an_empty_folder_says_no_run_is_training(tmp_path):
    """Once every run is promoted the status says so instead of printing a bare heading."""
    text = retrain.markdown([], tmp_path)
    assert "No run is training here" in text and "##" not in text

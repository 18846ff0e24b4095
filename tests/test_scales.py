"""Scales as an axis: the small preset, run folders per scale, the emergence log, the
mixing-weight curriculum and forking a mixture run from the sparse-only run's state."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from experiments.sizing import widen_state
from icl.checkpoint import load_state
from icl.config import SCALE_RUNS, WeightRamp, get_run_config, scale_dir
from icl.emergence import emergence_ks, emergence_set
from icl.forks import fork
from icl.model import ModelConfig, TransformerModel
from icl.protocol import PROTOCOL_FILE, load_protocol, load_step_protocol
from icl.run_folder import load_run
from icl.train import sample_batch, train


def small(name: str, steps: int = 24, hold: int = 8, ramp: int = 4):
    """A run of the small scale shrunk to a test: 2 layers of width 16, a few steps."""
    cfg = get_run_config(name, "small")
    cfg = replace(
        cfg,
        model=replace(cfg.model, n_embd=16, n_layer=2, n_head=2),
        train=replace(cfg.train, steps=steps, checkpoint_every=4, log_every=2, eval_every=4, warmup_steps=2),
    )
    if cfg.curriculum.mix.start:
        cfg = replace(
            cfg, curriculum=replace(cfg.curriculum, mix=replace(cfg.curriculum.mix, hold=hold, ramp=ramp))
        )
    return cfg


def test_the_small_scale_is_chapters_1_2_at_d5():
    cfg = get_run_config("linear-w0.50", "small")
    assert (cfg.task.n_dims, cfg.task.nnz, cfg.model.n_points) == (5, 1, 11)
    assert (cfg.model.n_layer, cfg.model.n_embd) == (8, 64)  # the same model as the cpu scale
    assert cfg.curriculum.mix.start == (0.0, 1.0) and cfg.curriculum.mix.hold > 0
    assert not get_run_config("linear-w0.00", "small").curriculum.mix.start  # specialists: their class alone
    assert not get_run_config("linear-w1.00", "small").curriculum.mix.start
    assert get_run_config("linear-w0.50-seed1", "small").train.seed == 1
    assert "linear-only" not in SCALE_RUNS["small"]
    with pytest.raises(ValueError, match="not a run of the small scale"):
        get_run_config("sine-only", "small")
    with pytest.raises(ValueError, match="unknown scale 'tiny'; allowed: cpu, small, paper"):
        get_run_config("linear-w0.50", "tiny")


def with_hold(monkeypatch, seed: int, hold: int | None) -> None:
    """The small scale's protocol as committed, but with training seed ``seed``'s hold ``hold``."""
    import icl.config as config

    protocol = config.small_protocol()
    changed = replace(protocol, holds={**protocol.holds, seed: hold})
    monkeypatch.setattr(config, "small_protocol", lambda: changed)


def test_each_seed_holds_at_its_own_hold_and_its_sparse_only_run_trains_past_it(monkeypatch):
    """The hold is read off each seed's own sparse-only run (data/runs/small/protocol.json): a seed whose
    selection arrives later holds its mixture runs later, and its sparse-only run trains ``sparse_after``
    steps past that hold (never fewer than ``steps``); seed 0 is untouched. While a seed's hold is not
    read, its sparse-only run trains towards the cap and its mixture runs are refused by every command
    that would train or fork them."""
    import icl.config as config

    protocol = config.small_protocol()
    assert protocol.holds == {0: 65_000, 1: 135_000}  # read 2026-12-02 (docs/scales.md)
    seed0 = {n: get_run_config(n, "small") for n in ("linear-w0.00", "linear-w0.50", "linear-w1.00")}
    with_hold(monkeypatch, 1, 80_000)
    assert {n: get_run_config(n, "small") for n in seed0} == seed0
    assert seed0["linear-w0.00"].train.steps == protocol.steps == protocol.hold(0) + protocol.sparse_after
    mix = get_run_config("linear-w0.50-seed1", "small")
    assert (mix.curriculum.mix.hold, mix.train.steps) == (80_000, 80_000 + protocol.mix_after)
    assert get_run_config("linear-w0.00-seed1", "small").train.steps == 80_000 + protocol.sparse_after
    assert get_run_config("linear-w1.00-seed1", "small").train.steps == protocol.steps  # nothing to select
    config.check_run_names("small", ["linear-w0.50-seed1"])  # read: trainable
    with_hold(monkeypatch, 1, None)  # not read yet
    assert get_run_config("linear-w0.00-seed1", "small").train.steps == protocol.selection_cap
    waits = "linear-w0.50-seed1 waits for the hold of training seed 1, not read yet: train linear-w0.00-seed1"
    with pytest.raises(ValueError, match=waits):
        config.check_run_names("small", ["linear-w1.00-seed1", "linear-w0.50-seed1"])
    config.check_run_names("small", ["linear-w0.00-seed1", "linear-w1.00-seed1", "linear-w0.50"])
    with pytest.raises(ValueError, match="no hold at the small scale"):
        protocol.hold(7)


def test_the_small_protocol_file_is_validated_in_one_line(tmp_path):
    """protocol.json is read once and checked: a damaged file, an unknown or missing key, a bad value each
    give one ValueError line naming the file, the key and what is allowed."""
    import icl.config as config

    committed = json.loads((config.DATA / "runs" / "small" / PROTOCOL_FILE).read_text())
    path = tmp_path / "protocol.json"
    path.write_text(json.dumps(committed))
    assert load_protocol(path) == config.small_protocol()
    bad = [
        ({**committed, "steps": 0}, "steps=0", "whole number of steps >= 1"),
        ({**committed, "steps": "100000"}, "steps='100000'", "whole number"),
        ({**committed, "mix_hold": 5}, "'mix_hold'", "the keys: about"),
        ({k: v for k, v in committed.items() if k != "selection_cap"}, "'selection_cap'", "missing"),
        ({**committed, "holds": {"one": {"hold": 5, "read": None}}}, "holds['one']", "training seed"),
        ({**committed, "holds": {"1": {"hold": -5, "read": None}}}, "holds['1'].hold=-5", "or null"),
        ({**committed, "holds": {"1": 135000}}, "holds['1']=135000", "the keys hold, read"),
        ([1, 2], "a JSON object", "list"),
    ]
    for content, *words in bad:
        path.write_text(json.dumps(content))
        with pytest.raises(ValueError) as e:
            load_protocol(path)
        assert str(path) in str(e.value) and "\n" not in str(e.value), e.value
        for w in words:
            assert w in str(e.value), (w, str(e.value))
    path.write_text('{"steps": 1,')
    with pytest.raises(ValueError, match="not valid JSON"):
        load_protocol(path)
    with pytest.raises(ValueError, match="cannot be read"):
        load_protocol(tmp_path / "missing.json")


def cpu_file(tmp_path: Path, **changes) -> Path:
    """The cpu scale's committed protocol.json with ``changes``, written under ``tmp_path``."""
    import icl.config as config

    committed = json.loads((config.DATA / "runs" / "cpu" / PROTOCOL_FILE).read_text())
    path = tmp_path / PROTOCOL_FILE
    path.write_text(json.dumps({**committed, **changes}))
    return path


def test_the_cpu_step_counts_are_data_and_a_run_with_its_own_count_trains_it(tmp_path, monkeypatch):
    """data/runs/cpu/protocol.json holds the preset's step count (50,000) and the counts read off the
    retrained runs' emergence logs: a run it lists trains its count, and only that run; the other scales
    keep their own."""
    import icl.config as config

    committed = config.cpu_protocol()
    assert committed.steps == 50_000 and "sine-only" not in committed.runs
    before = {n: get_run_config(n, "cpu") for n in SCALE_RUNS["cpu"]}
    assert {n: c.train.steps for n, c in before.items()} == {
        n: committed.steps_of(n) for n in SCALE_RUNS["cpu"]
    }
    entry = {"steps": 123_000, "read": "2026-12-10"}
    kept = {n: {"steps": s, "read": "2026-12-05"} for n, s in committed.runs.items()}  # the committed entries
    listed = load_step_protocol(cpu_file(tmp_path, runs={**kept, "sine-only": entry}), SCALE_RUNS["cpu"])
    assert listed.steps_of("sine-only") == 123_000 and listed.steps_of("line-only") == 50_000
    monkeypatch.setattr(config, "cpu_protocol", lambda: listed)
    after = {n: get_run_config(n, "cpu") for n in SCALE_RUNS["cpu"]}
    assert after["sine-only"] == before["sine-only"].with_overrides(steps=123_000)
    assert {n: c for n, c in after.items() if n != "sine-only"} == {
        n: c for n, c in before.items() if n != "sine-only"
    }
    assert config.train_config("sine-only", "cpu").train.steps == 123_000
    assert get_run_config("sine-only", "paper").train.steps == 500_000
    monkeypatch.setattr(config, "cpu_protocol", lambda: replace(listed, steps=60_000))  # the preset's count
    assert [get_run_config(n, "cpu").train.steps for n in ("linear-w0.50", "sine-only")] == [60_000, 123_000]


def test_the_cpu_protocol_file_is_validated_in_one_line(tmp_path):
    """The cpu file is checked like the small one: each bad value gives one ValueError line naming the
    file, the key, the value and what is allowed."""
    import icl.config as config

    path = cpu_file(tmp_path)
    assert load_step_protocol(path, SCALE_RUNS["cpu"]) == config.cpu_protocol()
    entry = {"steps": 60_000, "read": "2026-12-10"}
    bad = [
        ({"steps": 0}, "steps=0", "whole number of steps >= 1"),
        ({"steps": 5e4}, "steps=50000.0", "whole number"),
        ({"steps": "50000"}, "steps='50000'", "whole number"),
        ({"steps_after": 5}, "'steps_after'", "the keys: about, steps_rule, steps, runs"),
        ({"about": 3}, "about=3", "text"),
        ({"runs": [entry]}, "runs=[", "an object: run name -> entry"),
        ({"runs": {"sine-only": 60_000}}, "runs['sine-only']=60000", "the keys steps, read"),
        ({"runs": {"sine-only": {**entry, "steps": 0}}}, "runs['sine-only'].steps=0", "whole number"),
        ({"runs": {"sine-only": {**entry, "steps": 6.5}}}, "runs['sine-only'].steps=6.5", "whole number"),
        ({"runs": {"sine-only": {**entry, "read": None}}}, "runs['sine-only'].read=None", "date"),
        ({"runs": {"sine-onl": entry}}, "runs['sine-onl']='sine-onl'", "a run of the scale: linear-w0.00"),
        ({"runs": {"linear-w0.05": entry}}, "runs['linear-w0.05']", "a run of the scale"),  # small only
    ]
    for changes, *words in bad:
        with pytest.raises(ValueError) as e:
            load_step_protocol(cpu_file(tmp_path, **changes), SCALE_RUNS["cpu"])
        assert str(path) in str(e.value) and "\n" not in str(e.value), e.value
        for w in words:
            assert w in str(e.value), (w, str(e.value))
    path.write_text(json.dumps([entry]))
    with pytest.raises(ValueError, match="a JSON object is allowed, not list"):
        load_step_protocol(path, SCALE_RUNS["cpu"])
    committed = json.loads(cpu_file(tmp_path).read_text())
    path.write_text(json.dumps({k: v for k, v in committed.items() if k != "runs"}))
    with pytest.raises(ValueError, match="key 'runs' is unknown or missing"):
        load_step_protocol(path, SCALE_RUNS["cpu"])


def test_every_committed_cpu_run_trained_its_registry_step_count():
    """The registry's config of a cpu run (its count in data/runs/cpu/protocol.json) and the run committed
    under its name agree on the steps: a retrained run's count is entered when it replaces the old one."""
    import icl.config as config

    committed = sorted(p.parent for p in (config.DATA / "runs" / "cpu").glob("*/config.json"))
    assert {p.name for p in committed} == set(SCALE_RUNS["cpu"])
    for folder in committed:
        saved = json.loads((folder / "config.json").read_text())["config"]
        assert saved["name"] == folder.name and saved["scale"] == "cpu", folder
        assert saved["train"]["steps"] == get_run_config(folder.name, "cpu").train.steps, folder.name


def test_each_scale_has_its_own_folder_and_load_run_checks_the_scale():
    assert scale_dir("small").parent == scale_dir("cpu").parent and scale_dir("small") != scale_dir("cpu")
    model, cfg = load_run("linear-w0.00", scale="cpu")  # committed runs: cpu scale by default
    assert cfg.scale == "cpu" and cfg.task.n_dims == 10


def test_weight_ramp_holds_then_ramps():
    r = WeightRamp((0.0, 1.0), hold=10, ramp=4)
    w = (0.5, 0.5)
    assert r.at(0, w) == r.at(10, w) == (0.0, 1.0)
    assert r.at(12, w) == pytest.approx((0.25, 0.75))
    assert r.at(14, w) == r.at(1000, w) == w
    assert WeightRamp().at(0, w) == w


def test_a_mixture_run_sees_the_sparse_only_batches_until_its_hold():
    mix, sparse = small("linear-w0.50"), small("linear-w0.00")
    for step in (0, 5, 8):
        (xa, ya), (xb, yb) = sample_batch(mix, step), sample_batch(sparse, step)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    xa, ya = sample_batch(mix, 20)
    xb, yb = sample_batch(sparse, 20)
    assert not torch.equal(ya, yb)  # past the ramp half the prompts are dense


def test_a_forked_mixture_run_is_bit_identical_to_one_trained_from_scratch(tmp_path):
    mix, sparse = small("linear-w0.50"), small("linear-w0.00")
    scratch = train(mix, tmp_path / "scratch", progress=False)
    train(sparse, tmp_path / "sparse", progress=False, stop_after=8)  # the hold
    forked = fork(tmp_path / "sparse" / "state.safetensors", mix, tmp_path / "forked")
    train(mix, forked, progress=False)
    a, b = load_file(scratch / "model.safetensors"), load_file(forked / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (scratch / "loss.csv").read_text() == (forked / "loss.csv").read_text()
    assert (scratch / "eval.csv").read_text() == (forked / "eval.csv").read_text()


def test_a_fork_from_a_state_saved_before_the_faster_loop_keeps_its_optimiser_and_is_exact(tmp_path):
    """A specialist's state saved before ``train.fused_adamw``/``train.compile`` existed (the C1 search's
    holds) forks a mixture run whose preset now says fused AdamW and compile "auto": the fork keeps the
    source's default AdamW (steps 0..hold were trained with it) and ends bit-identical to the old-style
    mixture trained from scratch."""
    from test_train_speed import drop_new_fields

    old = {"fused_adamw": False, "compile": "off"}
    mix, sparse = small("linear-w0.50"), small("linear-w0.00")
    assert mix.train.fused_adamw and mix.train.compile == "auto"  # the presets' new loop
    old_mix = replace(mix, train=replace(mix.train, **old))
    scratch = train(old_mix, tmp_path / "scratch", progress=False)
    train(
        replace(sparse, train=replace(sparse.train, **old)), tmp_path / "sparse", progress=False, stop_after=8
    )
    drop_new_fields(tmp_path / "sparse")
    forked = fork(tmp_path / "sparse" / "state.safetensors", mix, tmp_path / "forked")
    saved = json.loads((forked / "config.json").read_text())["config"]["train"]
    assert (saved["fused_adamw"], saved["compile"]) == (False, "off")
    train(mix, forked, progress=False)
    a, b = load_file(scratch / "model.safetensors"), load_file(forked / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fork_refuses_where_it_would_not_be_exact(tmp_path):
    mix, sparse = small("linear-w0.50"), small("linear-w0.00")
    train(sparse, tmp_path / "sparse", progress=False, stop_after=12)
    with pytest.raises(ValueError, match="past the hold"):
        fork(tmp_path / "sparse" / "state.safetensors", mix, tmp_path / "a")
    train(small("linear-w1.00"), tmp_path / "dense", progress=False, stop_after=4)
    with pytest.raises(ValueError, match="not linear-w0.50's curriculum start"):
        fork(tmp_path / "dense" / "state.safetensors", mix, tmp_path / "b")
    other = replace(mix, train=replace(mix.train, lr=3e-3))
    with pytest.raises(ValueError, match="differ"):
        fork(tmp_path / "dense" / "state.safetensors", other, tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_emergence_log_is_written_resumed_and_reads_the_run(tmp_path):
    cfg = small("linear-w0.00", steps=12)
    train(cfg, tmp_path / "a", progress=False, stop_after=6)
    assert [r["step"] for r in csv.DictReader(open(tmp_path / "a" / "eval.csv"))] == ["0", "4"]
    train(cfg, tmp_path / "a", progress=False)
    rows = list(csv.DictReader(open(tmp_path / "a" / "eval.csv")))
    assert [r["step"] for r in rows] == ["0", "4", "8", "12"]
    assert list(rows[0]) == ["step", "dense_k3", "dense_k4", "sparse_k3", "sparse_k4"]
    # the last row is the finished model's error on the fixed set
    (tmp_path / "a").rename(tmp_path / "x")
    model, loaded = load_run("x", root=tmp_path)
    logged = [float(v) for k, v in rows[-1].items() if k != "step"]
    assert emergence_set(loaded).score(model) == pytest.approx(logged, rel=1e-4)


def test_emergence_ks_are_written_through_d():
    assert emergence_ks(5) == (3, 4) and emergence_ks(10) == (5, 9) and emergence_ks(20) == (10, 19)


def test_rerunning_a_paused_command_trains_nothing(tmp_path):
    """--pause-at STEP twice: the second call is a no-op, so a fork at that step stays possible."""
    cfg = small("linear-w0.00")
    train(cfg, tmp_path / "s", progress=False, stop_after=8)
    before = (tmp_path / "s" / "state.safetensors").read_bytes()
    train(cfg, tmp_path / "s", progress=False, stop_after=8)
    assert load_state(tmp_path / "s" / "state.safetensors")["step"] == 8
    assert (tmp_path / "s" / "state.safetensors").read_bytes() == before
    fork(tmp_path / "s" / "state.safetensors", small("linear-w0.50"), tmp_path / "m")  # still exact


def test_a_fork_records_its_source_and_cannot_be_repeated_over_a_run(tmp_path):
    import json

    mix = small("linear-w0.50")
    train(small("linear-w0.00"), tmp_path / "s", progress=False, stop_after=8)
    fork(tmp_path / "s" / "state.safetensors", mix, tmp_path / "m")
    sessions = json.loads((tmp_path / "m" / "config.json").read_text())["sessions"]
    assert sessions[0]["run"] == "linear-w0.00" and sessions[-1]["fork_step"] == 8
    with pytest.raises(ValueError, match="already holds a run"):
        fork(tmp_path / "s" / "state.safetensors", mix, tmp_path / "m")


def test_train_scale_forks_the_mixture_runs_and_trains_every_run(tmp_path, monkeypatch):
    """train_scale on shrunk small-scale runs in a temporary data/runs: the sparse-only run is
    trained to the hold, each mixture run forked from it, then every run trained to its end;
    the forked runs equal runs trained from scratch."""
    import icl.config as config

    names = ["linear-w0.00", "linear-w0.50", "linear-w1.00"]
    monkeypatch.setattr(config, "get_run_config", lambda name, scale="cpu": small(name))
    monkeypatch.setattr(config, "scale_dir", lambda scale="cpu": tmp_path / scale)
    from icl.forks import train_scale

    said = []
    done = train_scale("small", names, progress=False, say=said.append)
    assert done == names
    assert "linear-w0.50: forked from linear-w0.00 at step 8" in said
    scratch = train(small("linear-w0.50"), tmp_path / "scratch", progress=False)
    a = load_file(scratch / "model.safetensors")
    b = load_file(tmp_path / "small" / "linear-w0.50" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert train_scale("small", names, progress=False, say=said.append) == names  # finished: nothing to do
    with_hold(monkeypatch, 1, None)  # a seed whose hold is not read: its mixture waits
    with pytest.raises(ValueError, match="linear-w0.50-seed1 waits for the hold of training seed 1"):
        train_scale("small", ["linear-w0.50-seed1"], progress=False, say=said.append)  # named: refused
    monkeypatch.setattr(config, "run_names", lambda scale=None: ["linear-w0.50-seed1"])  # the scale's runs
    assert (
        train_scale("small", None, progress=False, say=said.append) == []
    )  # all of them: it waits, saying so
    assert said[-1].startswith("linear-w0.50-seed1 waits for the hold of training seed 1")
    assert not (tmp_path / "small" / "linear-w0.50-seed1").exists()


def test_one_writer_per_run_folder(tmp_path):
    """A second training of a folder in use exits at once with one line naming the holder, exit 2,
    writing nothing; a lock left by a killed (SIGKILL) holder does not block."""
    import os
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from icl.checkpoint import run_lock\n"
                f"with run_lock({str(folder)!r}):\n    print('locked', flush=True); time.sleep(60)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "icl",
                "train",
                "linear-w0.00",
                "--scale",
                "small",
                "--steps",
                "2",
                "--out",
                str(folder),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and f"in use by process {holder.pid}" in lines[0] and "run" in lines[0]
        assert sorted(p.name for p in folder.iterdir()) == [".lock"]  # nothing written
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    time.sleep(0.1)
    from icl.checkpoint import run_lock

    with run_lock(folder):  # the killed holder's lock died with it
        pass


def test_every_sizing_variant_is_a_valid_config_and_the_d10_hold_holds():
    """The sizing tries (experiments/sizing.py) all build; the d = 10 search's held curriculum trains at d = 5
    with 11 points until step 60k and reaches the preset's d = 10, 21 points by 70k; the other tries change
    only what their names say."""
    from dataclasses import replace

    from experiments.sizing import VARIANTS, variant_config

    configs = {name: variant_config(name) for name in VARIANTS}
    base, held = configs["d10-base"], configs["d10-hold60k"]
    assert held.curriculum.at(61_999) == (5, 11) and held.curriculum.at(70_000) == (10, 21)
    assert base.curriculum.at(10_000) == (10, 21) and base.model == held.model
    assert base.task.n_dims == 10 and base.train.schedule == "constant"
    c = base.curriculum
    assert held == replace(
        base, curriculum=replace(c, dims=replace(c.dims, hold=60_000), points=replace(c.points, hold=60_000))
    )
    assert configs["d10-l12"] == replace(base, model=replace(base.model, n_layer=12))
    assert configs["d10-lr3e-3"] == replace(base, train=replace(base.train, lr=3e-3, warmup_steps=2000))


def test_sizing_scores_a_held_curriculum_on_its_starting_task(tmp_path):
    """``sizing score --at-start`` reads a try on the task its held curriculum trains on first (here 2 active
    dimensions of 4, 3 points), the model seeing them zero-padded as in training; the plain score reads the
    full task."""
    import json

    import torch

    from experiments.sizing import score
    from icl.evaluate import errors, predict, sample_prompts
    from icl.tasks import SparseLinear
    from icl.train import train
    from tests.conftest import tiny_config

    train(tiny_config(steps=6), tmp_path / "try", progress=False)
    start = score(tmp_path, n_prompts=16, at_start=True)["try"]
    assert (start["d"], start["n_points"]) == (2, 3) and list(start["sparse"]["model"]) == [2]
    model, _ = load_run("try", root=tmp_path)
    p = sample_prompts(SparseLinear(2, 1, True), 16, 3, seed=1)
    padded = type(p)(torch.nn.functional.pad(p.xs, (0, 2)), p.ys, p.variance, p.labels)
    assert start["sparse"]["model"][2] == round(float(errors(predict(model, padded), padded).mean(0)[2]), 4)
    full = score(tmp_path, n_prompts=16)["try"]
    assert (full["d"], full["n_points"]) == (4, 7) and list(full["sparse"]["model"]) == [3, 5]
    assert json.loads((tmp_path / "sizing-start.json").read_text())["try"]["d"] == 2


@pytest.mark.parametrize("layout", ["garg", "compact", "pair"])
def test_a_widened_model_computes_the_source_on_zero_padded_prompts(layout):
    """widen_state: a model of d = 3, 5 points carried into d = 6, 9 points predicts, on the small prompts
    zero-padded to d = 6, exactly what the source predicts on them; its new positions and extra read-in
    columns do not change that, and the new columns are zero."""
    small = ModelConfig(n_dims=3, n_points=5, n_embd=16, n_layer=2, n_head=2, layout=layout)
    big = ModelConfig(n_dims=6, n_points=9, n_embd=16, n_layer=2, n_head=2, layout=layout)
    torch.manual_seed(0)
    src, dst = TransformerModel(small), TransformerModel(big)
    dst.load_state_dict(widen_state(src.state_dict(), small, big, dst.state_dict()))
    xs, ys = torch.randn(4, 5, 3), torch.randn(4, 5)
    with torch.no_grad():
        want = src(xs, ys)
        got = dst(torch.nn.functional.pad(xs, (0, 3)), ys)
        assert dst(torch.randn(4, 9, 6), torch.randn(4, 9)).shape == (4, 9)  # the longer prompts run
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert dst.read_in.weight.abs().sum(0).gt(0).sum() == src.read_in.weight.shape[1]


def test_widening_refuses_a_model_that_differs_beyond_d_and_length():
    small = ModelConfig(n_dims=3, n_points=5, n_embd=16, n_layer=2, n_head=2)
    for big in (
        ModelConfig(n_dims=6, n_points=9, n_embd=16, n_layer=3, n_head=2),
        ModelConfig(n_dims=2, n_points=9, n_embd=16, n_layer=2, n_head=2),
    ):
        with pytest.raises(ValueError, match="only n_dims and n_points may grow"):
            widen_state(TransformerModel(small).state_dict(), small, big, TransformerModel(big).state_dict())


def test_a_warm_start_variant_starts_from_the_small_run_widened_and_resumes(tmp_path):
    """The d = 10 search's warm start: step 0 of ``d10-warm-small`` is the small scale's finished sparse-only
    model carried to d = 10, 21 points (on d = 5 prompts zero-padded it predicts what that model does), its
    config says so, training resumes from it, and a second warm start over it is refused."""
    import json

    from experiments.sizing import variant_config, warm_start
    from icl.evaluate import sample_prompts
    from icl.tasks import SparseLinear

    out = warm_start("d10-warm-small", tmp_path / "warm")
    st = load_state(out / "state.safetensors")
    assert st["step"] == 0 and "warm start" in st["config"].notes
    assert (
        json.loads((out / "config.json").read_text())["sessions"][0]["warm_start"]
        == "data/runs/small/linear-w0.00"
    )
    small, _ = load_run("linear-w0.00", scale="small")
    big, cfg = load_run("warm", root=tmp_path, allow_partial=True)
    p = sample_prompts(SparseLinear(5, 1, True), 8, 11, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(
            big(torch.nn.functional.pad(p.xs, (0, 5)), p.ys), small(p.xs, p.ys), rtol=1e-4, atol=1e-5
        )
    assert cfg == variant_config("d10-warm-small")
    train(variant_config("d10-warm-small"), out, stop_after=2, progress=False)
    assert load_state(out / "state.safetensors")["step"] == 2
    with pytest.raises(ValueError, match="already holds a run"):
        warm_start("d10-warm-small", out)


def test_sizing_curves_read_each_try_against_least_squares_and_the_lasso(tmp_path):
    """``sizing curves``: one row per ``every`` steps and the last, the sparse errors of the try's emergence
    log and the selection fraction (LS - model) / (LS - Lasso) computed from the same prompts' references."""
    from experiments.sizing import curves
    from icl.emergence import reference_errors
    from tests.conftest import tiny_config

    cfg = tiny_config(steps=5, eval_every=2)
    train(cfg, tmp_path / "try", progress=False)
    text = curves(tmp_path, every=4)
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [r.split(" | ")[0] for r in rows] == ["| 0", "| 4", "| 5"]
    with open(tmp_path / "try" / "eval.csv") as f:
        last = [float(v) for v in f.read().splitlines()[-1].split(",")[1:]]
    refs = reference_errors(cfg)
    i = len(last) // 2  # the first sparse column (dense columns come first)
    frac = (refs["least squares"][i] - last[i]) / (refs["least squares"][i] - refs["Lasso"][i])
    assert rows[-1].split(" | ")[2].split(" / ")[0] == f"{frac:.2f}"
    assert (tmp_path / "curves.md").read_text() == text

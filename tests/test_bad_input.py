"""Bad input everywhere a user types: one clear line, non-zero exit, no deep traceback.

Three tables: the command line (``python -m icl ...``), config values (``--set`` and
the dataclasses behind it), and each notebook's papermill parameters (the notebook's
own validation cell, executed with the bad value injected, plus one real papermill run).
"""

from __future__ import annotations

import json
import re

import pytest
import torch

from icl.__main__ import main
from icl.chapters.notebook import ParameterError
from icl.config import ROOT, RunConfig, TaskConfig, get_run_config

# argv, words the single error line must contain
CLI_CASES = [
    (["train", "no-such-run"], ["no-such-run", "linear-w0.00"]),
    (["train", "linear-w0.00", "--steps", "0"], ["0", ">= 1"]),
    (["train", "linear-w0.00", "--steps", "abc"], ["abc", "not an integer"]),
    (["train", "linear-w0.00", "--scale", "huge"], ["huge", "cpu", "paper"]),
    (["train", "linear-w0.00", "--device", "tpu"], ["tpu", "cuda"]),
    (["train", "linear-w0.00", "--max-minutes", "-1"], ["-1", "> 0"]),
    (["train", "linear-w0.00", "--set", "train.lr=fast", "--out", "{tmp}"], ["train.lr", "fast", "float"]),
    (["train", "linear-w0.00", "--set", "model.width=64", "--out", "{tmp}"], ["model.width", "model.n_embd"]),
    (["train", "linear-w0.00", "--set", "lr", "--out", "{tmp}"], ["lr", "KEY=VALUE"]),
    (["train", "linear-w0.00", "--set", "d=8"], ["--out", "linear-w0.00"]),
    (["train", "linear-w0.00", "--set", "task.nnz=20", "--out", "{tmp}"], ["nnz=20", "10"]),
    (["train", "linear-w0.00", "--set", "task.weights=0.3,0.3", "--out", "{tmp}"], ["0.3", "sum to 1"]),
    (["train", "linear-w0.00", "--set", "task.weights=1.5,-0.5", "--out", "{tmp}"], ["1.5", "[0, 1]"]),
    (["train", "linear-w0.00", "--set", "model.n_head=3", "--out", "{tmp}"], ["n_embd=64", "n_head=3"]),
    (["train", "linear-w0.00", "--set", "train.schedule=linear", "--out", "{tmp}"], ["linear", "cosine"]),
    (["train", "linear-w0.00", "--set", "train.batch_size=0", "--out", "{tmp}"], ["batch_size=0", ">= 1"]),
    (["train", "linear-w0.00", "--set", "model.layout=tokens", "--out", "{tmp}"], ["tokens", "pair"]),
    (["train", "sine-only", "--set", "task.band=3,1", "--out", "{tmp}"], ["band", "3"]),
    (["train", "linear-w0.00", "--set", "curriculum.points.end=99", "--out", "{tmp}"], ["99", "n_points=21"]),
    (
        ["train", "linear-w0.50", "--scale", "small", "--fork-from", "linear-w9", "--out", "{tmp}"],
        ["--fork-from", "linear-w9", "small", "linear-w0.00"],
    ),
    (["train-scale", "small", "--runs", "linear-w9"], ["linear-w9", "small", "linear-w0.00"]),
    (["train-scale", "small", "--runs", ","], ["no runs given", "linear-w0.00"]),
    (["train-scale", "small", "--runs", "linear-w0.00,linear-w0.00"], ["named twice"]),
    (
        ["train-many", "small", "--runs", "linear-w9", "--device", "cpu", "--minutes", "1"],
        ["linear-w9", "small"],
    ),
    (["report", "--only", "99"], ["99"]),
    (["report", "--params", "{tmp}/missing.yaml"], ["missing.yaml"]),
    (["report", "--timeout", "0"], ["0", ">= 1"]),
    (["sizing", "score", "{tmp}"], ["sizing", "train"]),  # now python -m experiments.sizing (docs/sizing.md)
    (["bench", "--only", "nope", "--out", "{tmp}/bench"], ["--only", "nope", "train_step"]),
]


@pytest.mark.parametrize("argv, words", CLI_CASES, ids=[" ".join(a[:4]) for a, _ in CLI_CASES])
def test_cli_bad_input_gives_one_clear_line(argv, words, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    err = capsys.readouterr().err
    assert rc not in (0, None), err
    assert "Traceback" not in err
    line = [ln for ln in err.strip().splitlines() if "error" in ln][-1]
    for w in words:
        assert w in line, (w, line)
    assert not (tmp_path / "state.safetensors").exists()  # nothing was trained


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "linear-w0.50-seed1", "--scale", "small"],
        ["train-scale", "small", "--runs", "linear-w0.50-seed1"],
        ["train-many", "small", "--runs", "linear-w0.50-seed1", "--device", "cpu", "--minutes", "1"],
    ],
)
def test_a_mixture_run_waiting_for_its_seeds_hold_is_refused(argv, monkeypatch, capsys):
    """While a seed's hold is not read (null in data/runs/small/protocol.json), its mixture run cannot be
    trained: one line naming the run and what to train first; its folder is never created."""
    from dataclasses import replace

    import icl.config as config

    protocol = config.small_protocol()
    unread = replace(protocol, holds={**protocol.holds, 1: None})
    monkeypatch.setattr(config, "small_protocol", lambda: unread)
    folder = config.scale_dir("small") / "linear-w0.50-seed1"
    existed = folder.exists()
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc not in (0, None) and "Traceback" not in err
    line = [ln for ln in err.strip().splitlines() if "error" in ln][-1]
    assert (
        "linear-w0.50-seed1 waits for the hold of training seed 1" in line
        and "train linear-w0.00-seed1" in line
    )
    assert folder.exists() == existed


def test_the_library_refuses_what_the_command_line_refuses(tmp_path, monkeypatch):
    """The CLI's rules live in the functions it calls: from Python, train_config refuses another seed or an
    override into the study's own folder, and train_config and train_scale a mixture run whose seed's hold
    is not read, with the command line's words."""
    from dataclasses import replace

    import icl.config as config
    from icl.config import train_config
    from icl.forks import train_scale

    with pytest.raises(ValueError, match="--seed 3 trains another run than the study's linear-w0.00; give"):
        train_config("linear-w0.00", seed=3)
    with pytest.raises(ValueError, match="--set changes the study's config; give --out DIR"):
        train_config("linear-w0.00", sets=["d=8"])
    with pytest.raises(ValueError, match="'lr' must look like KEY=VALUE"):
        train_config("linear-w0.00", out=tmp_path, sets=["lr"])
    cfg = train_config("linear-w0.00", out=tmp_path, seed=3, sets=["d=8"], steps=7)
    assert (cfg.train.seed, cfg.task.n_dims, cfg.train.steps) == (3, 8, 7)
    assert train_config("linear-w0.50", "small") == get_run_config("linear-w0.50", "small")
    protocol = config.small_protocol()
    unread = replace(protocol, holds={**protocol.holds, 1: None})
    monkeypatch.setattr(config, "small_protocol", lambda: unread)
    for call in (
        lambda: train_config("linear-w0.50-seed1", "small"),
        lambda: train_scale("small", ["linear-w0.50-seed1"], progress=False),
    ):
        with pytest.raises(ValueError, match="linear-w0.50-seed1 waits for the hold of training seed 1"):
            call()
    elsewhere = train_config("linear-w0.50-seed1", "small", out=tmp_path)  # not the study's folder: allowed
    assert elsewhere.curriculum.mix.hold == protocol.selection_cap


def test_experiments_bad_input_gives_one_clear_line(tmp_path, capsys):
    """python -m experiments.sizing / .probe / .c1_search: one error line, exit 2, nothing written."""
    from experiments import c1_search, probe, sizing

    for main_, argv, words in [
        (
            sizing.main,
            ["launch", "--variants", "huge", "--minutes", "1", "--out", str(tmp_path / "s")],
            ["huge", "base"],
        ),
        (probe.main, ["start", "no-such-run", "--out", str(tmp_path / "p")], ["no-such-run"]),
        (probe.main, ["score", str(tmp_path)], ["no probe of", str(tmp_path)]),
        (c1_search.main, ["steps", str(tmp_path / "nowhere")], ["nowhere"]),
    ]:
        assert main_(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
        for w in words:
            assert w in err, (w, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_damaged_run_header_is_one_clear_line_naming_it(tmp_path, capsys):
    """config.json that is not JSON (or records no config) is refused where a run's header is read (the
    sizing scores and curves, the probe's curves, the emergence-log figure), never read as empty: one
    CheckpointError line naming the file."""
    import numpy as np
    from conftest import tiny_config

    from experiments import probe, sizing
    from icl.checkpoint import CheckpointError
    from icl.run_folder import RunFolder
    from icl.train import train

    folder = RunFolder(tmp_path / "try")
    train(tiny_config(steps=4, eval_every=2), folder, progress=False)
    for damage in ("{not json", "[1, 2]", '{"status": "finished"}'):  # the last: a header without its config
        folder.header_path.write_text(damage)
        score = [lambda: sizing.score(tmp_path, n_prompts=8)] if "status" not in damage else []  # sessions
        curves = [lambda: sizing.curves(tmp_path), lambda: probe.curves(tmp_path)]
        for read in (folder.header_config, *curves, *score):
            with pytest.raises(CheckpointError) as e:
                read()
            assert str(folder.header_path) in str(e.value) and "\n" not in str(e.value), e.value
        assert folder.sessions() == []  # a new session's records are written over it (provenance only)
        assert sizing.main(["curves", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(folder.header_path) in err, err
    pytest.importorskip("matplotlib")
    from icl.plots import plot_emergence_references

    with pytest.raises(CheckpointError, match="config.json"):
        plot_emergence_references({"try": folder.path}, refs={"least squares": np.zeros(4)})
    folder.header_path.unlink()
    assert folder.header() == {}  # no header at all: nothing recorded, not damage
    with pytest.raises(CheckpointError, match="no run header"):
        folder.header_config()


def test_cli_bad_run_never_touches_committed_runs(capsys):
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "data" / "runs").rglob("*") if p.is_file()}
    assert main(["train", "linear-w0.00", "--set", "train.lr=0"]) == 2
    after = {p: p.stat().st_mtime_ns for p in (ROOT / "data" / "runs").rglob("*") if p.is_file()}
    assert before == after


# --------------------------------------------------------------------------- config values

CONFIG_CASES = [
    (dict(classes=("dense", "sparse"), weights=(0.5, 0.5), n_dims=4, nnz=5), ["nnz", "5"]),
    (dict(classes=("dense", "sparse"), weights=(0.7, 0.7), n_dims=4), ["sum to 1"]),
    (dict(classes=("dense", "cubic"), weights=(0.5, 0.5), n_dims=4), ["cubic", "dense"]),
    (dict(classes=("sine",), weights=(1.0,), n_dims=1, band=(2.0, 2.0 - 1e-3)), ["band"]),
    (dict(classes=("dense",), weights=(1.0, 0.0), n_dims=4), ["one entry per class"]),
]


@pytest.mark.parametrize("kwargs, words", CONFIG_CASES)
def test_task_config_rejects(kwargs, words):
    with pytest.raises(ValueError) as e:
        TaskConfig(**kwargs)
    for w in words:
        assert w in str(e.value)


def test_override_round_trips_and_shortcut_d():
    cfg = get_run_config("linear-w0.00").override({"d": "8", "train.lr": "3e-3", "model.n_layer": "6"})
    assert (cfg.task.n_dims, cfg.model.n_dims, cfg.curriculum.dims.end) == (8, 8, 8)
    assert cfg.train.lr == 3e-3 and cfg.model.n_layer == 6
    assert RunConfig.from_dict(json.loads(cfg.to_json())) == cfg


# --------------------------------------------------------------------------- notebook parameters


def validation_source(notebook: str) -> str:
    """The notebook's validation cell, up to (not including) the model loading."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    src = next(
        "".join(c["source"]) for c in cells if c["cell_type"] == "code" and "check(" in "".join(c["source"])
    )
    return src.split("setup(seed)")[0]


def parameters_of(notebook: str) -> dict:
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    src = next("".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", []))
    ns: dict = {}
    exec(src, ns)
    return {k: v for k, v in ns.items() if not k.startswith("__")}


NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

NOTEBOOK_CASES = [
    ("01_model_selection.ipynb", "n_eval", "many"),
    ("01_model_selection.ipynb", "n_eval", 0),
    ("01_model_selection.ipynb", "seed", -1),
    ("01_model_selection.ipynb", "ks", [-1]),
    (
        "01_model_selection.ipynb",
        "ks",
        [21],
    ),  # beyond the cpu scale's 21-point prompts ([] means 2, d/2, d, 2d)
    ("01_model_selection.ipynb", "scale", "tiny"),
    ("01_model_selection.ipynb", "seed_runs", ["linear-only"]),
    ("02_sparsity_sweep.ipynb", "scale", "huge"),
    ("02_sparsity_sweep.ipynb", "seed_runs", ["linear-w0.50"]),  # a first-seed run
    ("01_model_selection.ipynb", "ks", 5),
    ("01_model_selection.ipynb", "runs", ["no-such-run"]),
    ("01_model_selection.ipynb", "lasso_alphas", [0.0]),
    ("01_model_selection.ipynb", "allow_partial", "yes"),
    ("02_sparsity_sweep.ipynb", "mix_run", "no-such-run"),
    ("02_sparsity_sweep.ipynb", "n_eval", 12.5),
    ("02_sparsity_sweep.ipynb", "ks", [0]),
    ("02_sparsity_sweep.ipynb", "seed", "1"),
    ("03_nonlinear_mixtures.ipynb", "relu_run", "no-such-run"),
    ("03_nonlinear_mixtures.ipynb", "relu_gd_ks", [0]),
    ("03_nonlinear_mixtures.ipynb", "relu_gd_steps", 2.5),
    ("04_convex_combinations.ipynb", "a_values", [1.5]),
    ("04_convex_combinations.ipynb", "band", [3.0, 1.0]),
    ("04_convex_combinations.ipynb", "example_k", -1),
    ("05_extreme_functions.ipynb", "sine_runs", ["no-such-run"]),
    ("05_extreme_functions.ipynb", "omegas", [-1.0]),
    ("05_extreme_functions.ipynb", "scales", [0.5, 2.0]),
    ("05_extreme_functions.ipynb", "band", []),
    ("01_model_selection.ipynb", "runs_dir", "no/such/folder"),
    ("04_convex_combinations.ipynb", "runs_dir", 3),
]


@pytest.mark.parametrize("notebook, name, value", NOTEBOOK_CASES)
def test_notebook_parameters_are_validated(notebook, name, value):
    ns = {**parameters_of(notebook), name: value}
    with pytest.raises(ValueError) as e:  # ParameterError is a ValueError
        exec(validation_source(notebook), ns)
    msg = str(e.value)
    assert f"{name}=" in msg, msg
    shown = [repr(value), repr(value[0])] if isinstance(value, list) and value else [repr(value)]
    assert any(s in msg for s in shown), msg
    assert "\n" not in msg.strip()


def test_notebook_defaults_pass_validation():
    for nb in NOTEBOOKS:
        exec(validation_source(nb), parameters_of(nb))


@pytest.mark.slow
def test_papermill_bad_parameter_fails_with_the_message(tmp_path):
    papermill = pytest.importorskip("papermill")
    with pytest.raises(papermill.PapermillExecutionError) as e:
        papermill.execute_notebook(
            str(ROOT / "notebooks" / "02_sparsity_sweep.ipynb"),
            str(tmp_path / "o.ipynb"),
            parameters={"n_eval": "many"},
            cwd=str(ROOT / "notebooks"),
            progress_bar=False,
            kernel_name="python3",
        )
    assert e.value.ename == "ParameterError"
    assert re.search(r"n_eval='many'.*expected int", e.value.evalue)
    assert issubclass(ParameterError, ValueError)


def test_runs_listing_shows_progress_of_a_partial_run(tmp_path):
    """`python -m icl runs` reports a paused run's step; a corrupt state gives no step, no crash."""
    from icl.__main__ import _progress
    from icl.checkpoint import CheckpointError, load_state, save_state, save_weights, state_progress
    from icl.model import TransformerModel

    cfg = get_run_config("linear-w0.50")
    model = TransformerModel(cfg.model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    state = tmp_path / "state.safetensors"
    save_state(state, model, opt, 1500, [(50, 0.9)], cfg)
    assert _progress(state) == f" (step 1,500 / {cfg.train.steps:,})"
    assert state_progress(state) == (1500, cfg.train.steps)
    assert state_progress(state) == (load_state(state)["step"], load_state(state)["config"].train.steps)
    # weights without the step metadata, a corrupt file, a missing file: a clear CheckpointError
    save_weights(tmp_path / "model.safetensors", model, cfg)
    with pytest.raises(CheckpointError, match="no valid step/config metadata"):
        state_progress(tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        state_progress(tmp_path / "nothing.safetensors")
    state.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        state_progress(state)
    assert _progress(state) == ""


def test_runs_dir_loads_retrained_runs_and_refuses_misfits(tmp_path):
    """A notebook's ``runs_dir``: a run found there replaces the committed one, the others come
    from data/runs; a run of another prompt geometry, or in a folder not named after it, is
    refused with the reason."""
    from icl.chapters.notebook import ParameterError, check_runs_dir, describe_sources, load_runs, run_source
    from icl.config import scale_dir
    from icl.train import train

    assert check_runs_dir("") is None
    assert check_runs_dir("data/runs") == ROOT / "data" / "runs"  # relative to the repository root

    cfg = get_run_config("linear-w0.50")
    train(cfg, tmp_path / "linear-w0.50", steps=2, progress=False)
    root = check_runs_dir(str(tmp_path))
    assert run_source("linear-w0.50", root) == tmp_path / "linear-w0.50"
    assert run_source("linear-w0.00", root) == scale_dir("cpu") / "linear-w0.00"
    models, configs, missing = load_runs(["linear-w0.50", "linear-w0.00"], root=root)
    assert set(models) == {"linear-w0.50", "linear-w0.00"} and missing == []
    assert configs["linear-w0.50"].train.steps == 2  # the retrained one, not the committed 50k-step run
    assert configs["linear-w0.00"].train.steps == 50_000
    assert "linear-w0.50" in describe_sources(["linear-w0.50", "linear-w0.00"], root)
    assert describe_sources(["linear-w0.50"], None) == ""

    (tmp_path / "linear-w0.50").rename(tmp_path / "linear-w0.25")
    with pytest.raises(ParameterError, match="holds run 'linear-w0.50'"):
        load_runs(["linear-w0.25"], root=root)

    for i, (key, value, words) in enumerate(
        [("d", "8", "d=8"), ("curriculum.points.end", "11", "up to 11 points")]
    ):
        other = tmp_path / f"misfit{i}"
        train(cfg.override({key: value}), other / "linear-w0.50", steps=2, progress=False)
        with pytest.raises(ParameterError, match=words):
            load_runs(["linear-w0.50"], root=check_runs_dir(str(other)))

"""The emergence log of every family (issue 40): the linear runs' log exactly as before (runs in
progress resume their eval.csv), the nonlinear and 1-D families' classes, k and combinations, their
references on the same prompts, and the figure that reads a log against them."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from icl.config import DATA, EMERGENCE, RUNS, SCALE_RUNS, RunConfig, get_run_config, stream_generator
from icl.emergence import (
    COMBINATION,
    N_PROMPTS,
    EvalLog,
    column,
    column_keys,
    columns,
    emergence_ks,
    emergence_set,
    family,
    is_flat,
    log_plan,
    logged_ks,
    read_eval_csv,
    reference_errors,
    selection_range,
    write_eval_csv,
)
from icl.evaluate import errors, predict
from icl.model import Instructed, TransformerModel
from icl.tasks import ConvexCombination, Line1D, Sine1D, sample_xs
from tests.conftest import tiny_config

# ----------------------------------------------------------------- the log before issue 40, verbatim


def _old_ks(d: int) -> tuple[int, int]:
    return (2, 5) if d == 1 else (max(1, math.ceil(d / 2)), max(2, d - 1))


def _old_logged_ks(config: RunConfig) -> tuple[int, ...]:
    n = config.model.n_points
    return tuple(dict.fromkeys(min(k, n - 1) for k in _old_ks(config.task.n_dims)))


def _old_classes(config: RunConfig) -> tuple[str, ...]:
    task = config.task
    return ("dense", "sparse") if set(task.classes) <= {"dense", "sparse"} else task.classes


def _old_columns(config: RunConfig) -> list[str]:
    return [f"{c}_k{k}" for c in _old_classes(config) for k in _old_logged_ks(config)]


def _old_set(config: RunConfig) -> tuple[dict, dict]:
    """(class -> (xs, ys, variance, labels), instructions) as the log drew them before issue 40."""
    d, n = config.task.n_dims, config.model.n_points
    prompts = {}
    for i, name in enumerate(_old_classes(config)):
        fc = config.task.build_class(name)
        g = stream_generator(0, i, EMERGENCE)
        xs = sample_xs(N_PROMPTS, n, d, g)
        task = fc.sample(N_PROMPTS, g)
        prompts[name] = (xs, task.evaluate(xs), task.variance, task.labels)
    conditional = config.model.n_classes and not config.curriculum.labels.active
    return prompts, ({name: config.task.classes.index(name) for name in prompts} if conditional else {})


def _old_score(config: RunConfig, model) -> np.ndarray:
    from icl.evaluate import Prompts

    prompts, instructions = _old_set(config)
    out = []
    for name, p in prompts.items():
        f = Instructed(model, instructions[name]) if name in instructions else model
        err = errors(predict(f, Prompts(*p)), Prompts(*p))
        out += [float(err[:, k].mean()) for k in _old_logged_ks(config)]
    return np.array(out)


def _linear_configs() -> list[RunConfig]:
    """Every linear run of every scale, the tests' tiny config and the sizing tries' other d."""
    cfgs = [get_run_config(n, s) for s in SCALE_RUNS for n in SCALE_RUNS[s] if RUNS[n].family == "linear"]
    base = get_run_config("linear-w0.50", "cpu")
    return cfgs + [tiny_config(), base.override({"d": "8"}), base.override({"d": "5", "task.nnz": "1"})]


def test_the_linear_runs_log_exactly_as_before():
    """Columns, ks, prompts (bit for bit), instructions and scores of every linear config agree with the
    log before the other families had one, computed here in the same process."""
    for cfg in _linear_configs():
        assert family(cfg.task) == "linear"
        assert columns(cfg) == _old_columns(cfg) and logged_ks(cfg) == _old_logged_ks(cfg), cfg.name
        es, (old, old_instructions) = emergence_set(cfg), _old_set(cfg)
        assert list(es.prompts) == list(old) == ["dense", "sparse"] and es.instructions == old_instructions
        for name, (xs, ys, var, labels) in old.items():
            p = es.prompts[name]
            pairs = ((p.xs, xs), (p.ys, ys), (p.variance, var), (p.labels, labels))
            assert all(torch.equal(a, b) for a, b in pairs), (cfg.name, name)
    small, cpu = get_run_config("linear-w0.50", "small"), get_run_config("linear-w0.00", "cpu")
    assert columns(small) == ["dense_k3", "dense_k4", "sparse_k3", "sparse_k4"]
    assert columns(cpu) == ["dense_k5", "dense_k9", "sparse_k5", "sparse_k9"]
    assert emergence_ks(5) == (3, 4) and emergence_ks(10) == (5, 9) and emergence_ks(20) == (10, 19)
    for cfg in (tiny_config(), get_run_config("linear-w0.50-cond", "small")):
        torch.manual_seed(0)
        model = TransformerModel(replace(cfg.model, n_embd=16, n_layer=1, n_head=2)).eval()
        assert np.array_equal(emergence_set(cfg).score(model), _old_score(cfg, model))


def test_every_logged_run_on_disk_keeps_its_columns():
    """The eval.csv of every run folder under data/ (committed runs, sizing tries, runs in progress)
    has the columns its config's log has now: a resumed run appends rows of the same shape."""
    found = 0
    for path in sorted(DATA.rglob("eval.csv")):
        info = path.parent / "config.json"
        if not info.exists():
            continue
        cfg = RunConfig.from_dict(json.loads(info.read_text())["config"])
        with open(path) as f:
            head = next(csv.reader(f))
        assert head == ["step", *columns(cfg)], path
        found += 1
    assert found > 0


def test_the_family_of_every_registry_run_is_its_log():
    for scale, names in SCALE_RUNS.items():
        for name in names:
            assert family(get_run_config(name, scale).task) == RUNS[name].family, (scale, name)
    one_d, nonlinear = get_run_config("sine-only", "cpu"), get_run_config("linear-only", "cpu")
    assert columns(one_d) == ["line_k3", "line_k10", "sine_k3", "sine_k10", "combination_k20"]
    assert columns(get_run_config("line-sine-w0.50", "paper")) == columns(one_d)  # every 1-D run: one log
    assert columns(nonlinear) == ["dense_k5", "dense_k12", "relu_k5", "relu_k12"]  # d = 10: d/2 and d + 2
    assert columns(get_run_config("relu-only", "paper")) == ["dense_k10", "dense_k22", "relu_k10", "relu_k22"]
    assert log_plan(one_d)[-1] == (COMBINATION, (20,))
    # every run of a family is scored on the same prompts
    a, b = emergence_set(one_d), emergence_set(get_run_config("line-only", "cpu"))
    assert all(torch.equal(a.prompts[c].ys, b.prompts[c].ys) for c in a.prompts)


def test_the_combinations_are_chapter_4s_at_a_half():
    """The combination prompts are drawn by chapter 4's sampler (ConvexCombination of the run's line and
    sine classes, a = 0.5) from the log's own stream, after the line and sine sets."""
    cfg = get_run_config("line-sine-w0.50", "cpu")
    p = emergence_set(cfg).prompts[COMBINATION]
    g = stream_generator(0, 2, EMERGENCE)
    xs = sample_xs(N_PROMPTS, 41, 1, g)
    task = ConvexCombination(Line1D(), Sine1D(cfg.task.band), 0.5).sample(N_PROMPTS, g)
    assert torch.equal(p.xs, xs) and torch.equal(p.ys, task.evaluate(xs))
    assert torch.all(p.variance == 0.5)


def test_the_references_of_the_other_families():
    """The 1-D log against the Bayes line, sine and line/sine learners and the combined fit; the nonlinear
    log against least squares, the Bayes dense learner and the ReLU-net fit: each where it is exact."""
    cfg = get_run_config("line-sine-w0.50", "cpu")
    refs, cols = reference_errors(cfg), columns(cfg)
    assert set(refs) == {"least squares", "Bayes line", "Bayes sine", "Bayes line/sine w=0.5", "combined fit"}
    at = {c: i for i, c in enumerate(cols)}
    assert refs["Bayes line"][at["line_k3"]] < 1e-3 and refs["Bayes sine"][at["sine_k10"]] < 1e-3
    assert refs["combined fit"][at[column(COMBINATION, 20)]] < 1e-3
    assert refs["Bayes sine"][at["sine_k3"]] <= refs["Bayes line/sine w=0.5"][at["sine_k3"]] + 1e-3
    cfg = get_run_config("linear-relu-w0.50", "cpu")
    refs, cols = reference_errors(cfg), columns(cfg)
    assert set(refs) == {"least squares", "Bayes dense", "ReLU net (GD)"}
    assert all(np.isfinite(v).all() and v.shape == (len(cols),) for v in refs.values())
    assert refs["least squares"][cols.index("dense_k12")] < 1e-6  # k > d: least squares fits a line exactly


def test_the_figure_reads_a_log_against_its_references(tmp_path):
    import matplotlib.pyplot as plt

    from icl.plots import plot_emergence_references
    from icl.train import train

    cfg = replace(get_run_config("line-sine-w0.50", "cpu"), name="line-sine-w0.50")
    cfg = replace(
        cfg,
        model=replace(cfg.model, n_embd=16, n_layer=1, n_head=2),
        train=replace(cfg.train, steps=4, eval_every=2, checkpoint_every=2, log_every=1),
    )
    train(cfg, tmp_path / "run", progress=False)
    refs = {"Bayes sine": np.full(5, 0.1), "least squares": np.full(5, np.nan)}
    fig, no_log = plot_emergence_references(
        {"line-sine-w0.50": tmp_path / "run", "old": tmp_path / "none"}, refs=refs
    )
    assert no_log == ["old"] and len(fig.axes) == len(columns(cfg))
    ax = fig.axes[2]
    assert ax.get_title() == "sine prompts, k = 3"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["line-sine-w0.50", "Bayes sine"]  # a NaN reference is not drawn
    plt.close(fig)
    assert plot_emergence_references({"old": tmp_path / "none"}, refs=refs) == (None, ["old"])


def test_a_log_row_is_the_models_error_on_the_fixed_set(tmp_path):
    """A 1-D run writes the new columns, and its last row is the finished model's score."""
    from icl.run_folder import load_run
    from icl.train import train

    cfg = get_run_config("sine-only", "cpu")
    cfg = replace(
        cfg,
        model=replace(cfg.model, n_embd=16, n_layer=1, n_head=2),
        train=replace(cfg.train, steps=3, eval_every=2, checkpoint_every=2, log_every=1),
    )
    train(cfg, tmp_path / "x", progress=False)
    with open(tmp_path / "x" / "eval.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", *columns(cfg)] and [r["step"] for r in rows] == ["0", "2", "3"]
    model, loaded = load_run("x", root=tmp_path)
    logged = [float(v) for k, v in rows[-1].items() if k != "step"]
    assert emergence_set(loaded).score(model) == pytest.approx(logged, rel=1e-4)


def test_unknown_family_ks_are_refused():
    with pytest.raises(ValueError, match="family='cubic' is not allowed"):
        emergence_ks(3, "cubic")
    assert emergence_ks(1, "1d") == (3, 10) and emergence_ks(10, "nonlinear") == (5, 12)


def test_the_log_is_read_back_by_class_and_k(tmp_path):
    """read_eval_csv finds each (class, k) column through column(), never by parsing a name; a column
    the file lacks (a log of another plan) is left out."""
    cfg = get_run_config("line-sine-w0.50", "cpu")
    keys = column_keys(cfg)
    assert columns(cfg) == [column(c, k) for c, k in keys] and keys[-1] == (COMBINATION, 20)
    rows = [(0, [0.5] * len(keys)), (10, [0.25 + i for i in range(len(keys))])]
    write_eval_csv(tmp_path / "eval.csv", cfg, rows)
    log = read_eval_csv(tmp_path / "eval.csv", cfg)
    assert log.steps.tolist() == [0, 10] and list(log.errors) == keys
    assert log.errors[("sine", 10)].tolist() == [0.5, 0.25 + keys.index(("sine", 10))]
    (tmp_path / "eval.csv").write_text("step,line_k3\n0,0.5\n")
    assert list(read_eval_csv(tmp_path / "eval.csv", cfg).errors) == [("line", 3)]


def test_the_linear_log_reads_the_ends_of_the_selection_range():
    for d in range(2, 40):
        ks = selection_range(d)
        assert emergence_ks(d) == (ks[0], max(2, ks[-1])) and list(ks) == list(range(math.ceil(d / 2), d))


def test_no_module_parses_a_log_column_name():
    """eval.csv is read by (class, k) (read_eval_csv), never by splitting a column name at "_k"."""
    import re
    from pathlib import Path

    import icl

    root = Path(icl.__file__).parent
    found = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if re.search(r"split\(\s*[\"']_k[\"']", p.read_text())
    ]
    assert not found, f"eval.csv column names parsed back (use icl.emergence.read_eval_csv): {found}"


def _log(values: list[float], every: int = 1000) -> EvalLog:
    return EvalLog(np.arange(1, len(values) + 1) * every, {("sparse", 4): np.array(values)})


def test_flat_compares_the_last_two_windows_of_the_log():
    """The rule fixed for the C1 search (2026-12-04) and chapters 3-5's retraining (issue 40): every
    column's mean over the last 10k logged steps within 0.01 of its mean over the 10k before."""
    steady = _log([0.10] * 30)
    assert is_flat(steady) is True
    falling = _log([0.10] * 20 + [0.08] * 10)  # the last 10k steps 0.02 lower: still moving
    assert is_flat(falling) is False
    nearly = _log([0.10] * 20 + [0.095] * 10)  # 0.005 lower: within the 0.01 tolerance
    assert is_flat(nearly) is True
    rising = _log([0.10] * 20 + [0.12] * 10)  # worse counts as moving too
    assert is_flat(rising) is False
    # fewer than 20k steps logged after the phase that must not count (labels given): not judged yet
    assert is_flat(steady, after=15_000) is None
    assert is_flat(_log([])) is None and is_flat(_log([0.1] * 15)) is None
    two = EvalLog(
        steady.steps,
        {("sparse", 4): steady.errors[("sparse", 4)], ("dense", 4): falling.errors[("sparse", 4)]},
    )
    assert is_flat(two) is False  # every column must be flat
    assert is_flat(two, classes=["sparse"]) is True  # the steady column alone
    own = EvalLog(
        steady.steps, {("sine", 3): steady.errors[("sparse", 4)], ("line", 3): falling.errors[("sparse", 4)]}
    )
    assert (
        is_flat(own) is False and is_flat(own, classes=["sine"]) is True
    )  # a sine model's line errors ignored
    assert is_flat(own, classes=(c for c in ["sine", "line"])) is False  # a one-pass iterable: both judged
    with pytest.raises(ValueError, match="relu"):
        is_flat(own, classes=["relu"])  # no column judged: never vacuously flat

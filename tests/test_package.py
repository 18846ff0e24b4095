"""The package as a researcher meets it: ``import icl``, where runs are read from, the README's example.

``import icl`` exposes the names of ``icl.__all__`` (loading a run, evaluating predictors, sampling
prompts, the function classes and the reference predictors) and imports nothing heavier than torch and
numpy. Runs are read from ``$ICL_DATA/runs/<scale>/<run>/`` when ICL_DATA is set, else from the
repository's ``data/runs``; when the chosen folder holds no ``runs/`` the error is one line naming the
path and the variable. The README's five-line example runs on the committed checkpoints.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import icl
import icl.baselines
import icl.config as config
import icl.tasks
from icl.__main__ import main
from icl.checkpoint import RunNotTrainedError

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_import_icl_exposes_what_a_researcher_needs():
    assert len(set(icl.__all__)) == len(icl.__all__)
    missing = [n for n in icl.__all__ if not hasattr(icl, n)]
    assert not missing, f"icl.__all__ names what icl lacks: {missing}"
    for name in ("load_run", "evaluate", "sample_prompts", "predict", "seed_everything"):
        assert callable(getattr(icl, name)) and name in icl.__all__
    tasks = {
        n
        for n in icl.tasks.__all__
        if isinstance(getattr(icl.tasks, n), type) and issubclass(getattr(icl.tasks, n), icl.FunctionClass)
    } | {"Task"}
    assert tasks <= set(icl.__all__), f"function classes not exported: {sorted(tasks - set(icl.__all__))}"
    predictors = {
        n
        for n in icl.baselines.__all__
        if isinstance(getattr(icl.baselines, n), type)
        and issubclass(getattr(icl.baselines, n), icl.Predictor)
    } - {"Posterior"}  # a base class
    assert predictors <= set(icl.__all__), f"predictors not exported: {sorted(predictors - set(icl.__all__))}"
    # icl.evaluate is the function; its module stays importable by name
    from icl.evaluate import Curve, evaluate

    assert icl.evaluate is evaluate and icl.Curve is Curve


def test_import_icl_stays_light():
    heavy = ("matplotlib", "pandas", "scipy", "sklearn", "seaborn", "nbformat", "papermill", "transformers")
    code = f"import sys, icl; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"import icl loads {out.stdout.strip()}"


def test_runs_are_the_repositorys_without_icl_data(monkeypatch):
    monkeypatch.delenv(config.DATA_ENV, raising=False)
    assert config.scale_dir("small") == ROOT / "data" / "runs" / "small"


def test_icl_data_names_a_folder_laid_out_as_data(tmp_path, monkeypatch):
    (tmp_path / "runs" / "small").mkdir(parents=True)
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path))
    assert config.scale_dir("small") == tmp_path / "runs" / "small"
    with pytest.raises(RunNotTrainedError, match=re.escape(str(tmp_path / "runs" / "small"))):
        icl.load_run("linear-w0.50", scale="small")  # read from ICL_DATA, where it is not (yet)
    committed = ROOT / "data" / "runs" / "small" / "linear-w0.50"
    shutil.copytree(committed, tmp_path / "runs" / "small" / "linear-w0.50")
    model, cfg = icl.load_run("linear-w0.50", scale="small")
    assert cfg.name == "linear-w0.50" and cfg.scale == "small"
    prompts = icl.sample_prompts(cfg.task.build_class("sparse"), 4, cfg.model.n_points, seed=0)
    assert icl.predict(model, prompts).shape == (4, cfg.model.n_points)


def _one_line(message: str, *parts: str) -> None:
    assert "\n" not in message.strip(), message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def test_icl_data_without_runs_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ValueError) as e:
        config.scale_dir("cpu")
    _one_line(str(e.value), "ICL_DATA", str(tmp_path / "nowhere" / "runs"))


def test_no_icl_data_and_no_repository_runs_is_one_clear_error(tmp_path, monkeypatch):
    """An installed package without the repository (data/ would be looked for beside site-packages)."""
    monkeypatch.delenv(config.DATA_ENV, raising=False)
    monkeypatch.setattr(config, "DATA", tmp_path / "data")
    with pytest.raises(ValueError) as e:
        config.scale_dir("cpu")
    _one_line(str(e.value), "ICL_DATA", "not set", str(tmp_path / "data" / "runs"))


def test_the_command_line_says_it_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path))
    assert main(["train", "linear-w0.00", "--steps", "1"]) == 2  # (one step into tmp_path if it did not stop)
    err = capsys.readouterr().err
    _one_line(err, "error: ", "ICL_DATA", str(tmp_path / "runs"))


def _readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, f"README.md has {len(blocks)} python blocks; this test runs the one example"
    return blocks[0]


def test_readme_example_runs_on_the_committed_checkpoints(monkeypatch, capsys):
    """The five lines as written; numbers differ across CPUs in the last digits, so shapes and ranges."""
    monkeypatch.delenv(config.DATA_ENV, raising=False)
    code = _readme_example()
    assert len(code.strip().splitlines()) <= 7, "the README promises a few lines"
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    curves, cfg = scope["curves"], scope["cfg"]
    assert list(curves) == ["model", "least squares", "Lasso"]
    n = cfg.model.n_points
    for name, c in curves.items():
        assert c.mean.shape == c.lo.shape == c.hi.shape == (n,) and c.per_prompt.shape == (512, n), name
        assert np.isfinite(c.mean).all() and (c.lo <= c.mean + 1e-12).all() and (c.mean <= c.hi + 1e-12).all()
        assert (c.mean >= 0).all() and c.mean[-1] < c.mean[1], f"{name}: error falls with more examples"
    lines = capsys.readouterr().out.splitlines()
    assert [ln[:14].strip() for ln in lines] == list(curves)
    assert all(len(ln[14:].split()) == 5 for ln in lines)

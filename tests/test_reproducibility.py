"""Reproducibility and provenance: same numbers twice and across thread counts, recorded
versions, a warning under another torch major version, and an interrupted report that
leaves the previous one intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import icl
import icl.train
from icl.checkpoint import atomic_save_tensors, save_weights
from icl.config import ROOT, scale_dir
from icl.evaluate import evaluate, sample_prompts
from icl.run_folder import load_run
from icl.tasks import DenseLinear, SparseLinear

CPU_RUNS = scale_dir("cpu")
COMMITTED = (
    sorted(p.name for p in CPU_RUNS.iterdir() if (p / "model.safetensors").exists())
    if CPU_RUNS.exists()
    else []
)


@pytest.mark.skipif(not COMMITTED, reason="no committed run")
def test_evaluation_is_identical_twice_and_with_one_or_two_threads():
    model, cfg = icl.load_run(COMMITTED[0])
    d, n = cfg.task.n_dims, cfg.model.n_points
    fc = SparseLinear(d, min(2, d), True) if d > 1 else DenseLinear(d, True)
    prompts = sample_prompts(fc, 256, n, seed=5)
    before = torch.get_num_threads()
    means = []
    try:
        for threads in (1, 1, 2):
            torch.set_num_threads(threads)
            curve = evaluate({"m": model}, fc, prompts=prompts, n_boot=50, seed=5)["m"]
            means.append((curve.mean, curve.lo, curve.hi))
    finally:
        torch.set_num_threads(before)
    for other in means[1:]:
        for a, b in zip(means[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not COMMITTED, reason="no committed run")
def test_committed_runs_record_versions_and_commit():
    for name in COMMITTED:
        info = json.loads((CPU_RUNS / name / "config.json").read_text())
        assert info["versions"]["torch"] and info["versions"]["numpy"]
        assert info["git_commit"]
        assert info["status"] == "finished"


def test_loading_weights_from_another_torch_major_warns(tmp_path, tiny):
    tiny_config = tiny
    model = icl.train.build_model(tiny_config)
    (tmp_path / "run").mkdir()
    save_weights(tmp_path / "run" / "model.safetensors", model, tiny_config)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # same torch: no warning
        load_run("run", root=tmp_path)
    meta = {"config": tiny_config.to_json(), "torch": "1.13.1"}
    atomic_save_tensors(
        tmp_path / "run" / "model.safetensors", {k: v.detach() for k, v in model.state_dict().items()}, meta
    )
    with pytest.warns(UserWarning, match=r"torch 1\.13\.1.*this is torch"):
        load_run("run", root=tmp_path)


@pytest.mark.slow
def test_killed_report_leaves_previous_report_intact(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from icl import report

    def notebook(path: Path, src: str) -> None:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, path)

    nb_dir, out = tmp_path / "notebooks", tmp_path / "reports"
    nb_dir.mkdir()
    notebook(nb_dir / "01_quick.ipynb", "print('first build')")
    assert report.build_report(out, None, timeout=120, notebooks_dir=nb_dir) == 0
    from icl.checkpoint import (
        LOCK,  # the folder's lock file holds the last builder's pid: not part of the report
    )

    snapshot = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != LOCK}

    # second build: a slow chapter; kill the builder while it runs
    notebook(nb_dir / "01_quick.ipynb", "print('second build')")
    notebook(nb_dir / "02_slow.ipynb", "import time\ntime.sleep(60)")
    code = (
        "from pathlib import Path; from icl import report; "
        f"report.build_report(Path({str(out)!r}), None, timeout=300, notebooks_dir=Path({str(nb_dir)!r}))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 90
    while time.time() < deadline and not list(out.glob(".tmp-*/**/01_quick.ipynb")):  # chapter 1 done
        time.sleep(0.2)
    assert list(out.glob(".tmp-*/**/01_quick.ipynb")), "the second build never got going"
    time.sleep(2.0)  # now inside the slow chapter
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    after = {
        p.relative_to(out): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and p.name != LOCK and not p.relative_to(out).parts[0].startswith(".tmp-")
    }
    assert after == snapshot  # the previous report, byte for byte

"""The C1 search's reading of its tries (experiments.c1_search): the listing of how far each try trained and
the target's "flat" rule, fixed before any try reached its label-free phase."""

from __future__ import annotations

import numpy as np
import pytest
from test_label_curriculum import shrunk

from experiments import c1_search
from icl.train import train


def log(values: list[float], every: int = 1000) -> dict[str, np.ndarray]:
    return {"step": np.arange(1, len(values) + 1) * every, "sparse_k4": np.array(values)}


def test_flat_compares_the_last_two_windows_of_label_free_steps():
    steady = log([0.10] * 30)
    assert c1_search.flat(steady, ["sparse_k4"], label_free_from=0) is True
    falling = log([0.10] * 20 + [0.08] * 10)  # the last 10k steps 0.02 lower: still moving
    assert c1_search.flat(falling, ["sparse_k4"], label_free_from=0) is False
    nearly = log([0.10] * 20 + [0.095] * 10)  # 0.005 lower: within the 0.01 tolerance
    assert c1_search.flat(nearly, ["sparse_k4"], label_free_from=0) is True
    # fewer than 20k label-free steps logged: not judged yet
    assert c1_search.flat(steady, ["sparse_k4"], label_free_from=15_000) is None


def test_steps_lists_each_try_with_its_progress(tmp_path):
    train(shrunk("linear-w0.50"), tmp_path / "label-try", progress=False, stop_after=10)
    (tmp_path / "not-a-try").mkdir()
    assert c1_search.steps(tmp_path) == ["label-try 10/24"]
    assert c1_search.main(["steps", str(tmp_path)]) == 0
    with pytest.raises(SystemExit) as e:  # argparse: one usage line, exit 2
        c1_search.main(["nonsense", str(tmp_path)])
    assert e.value.code == 2
    assert c1_search.main(["score", str(tmp_path / "nowhere")]) == 2  # no such folder: one error line


def test_a_warm_start_resumes_from_another_runs_state_and_says_so(tmp_path):
    import json
    from dataclasses import replace

    import torch

    from icl.checkpoint import load_state

    cond = shrunk("linear-w0.50-cond", labels=False)
    train(cond, tmp_path / "cond", progress=False)
    try_cfg = replace(shrunk("linear-w0.50"), train=replace(shrunk("linear-w0.50").train, steps=40))
    try_cfg = replace(
        try_cfg,
        curriculum=replace(
            try_cfg.curriculum, labels=replace(try_cfg.curriculum.labels, keep_until=24, drop_by=30)
        ),
    )
    c1_search.warm_start(tmp_path / "cond" / "state.safetensors", try_cfg, tmp_path / "try", note="test")
    st, src = (
        load_state(tmp_path / "try" / "state.safetensors"),
        load_state(tmp_path / "cond" / "state.safetensors"),
    )
    assert st["step"] == 24 and st["config"] == try_cfg
    assert all(torch.equal(st["model"][k], src["model"][k]) for k in src["model"])
    assert (
        json.loads((tmp_path / "try" / "config.json").read_text())["sessions"][0]["source_run"] == cond.name
    )
    train(try_cfg, tmp_path / "try", progress=False)
    assert c1_search.steps(tmp_path) == ["cond 24/24", "try 40/40"]

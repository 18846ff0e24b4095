"""The C1 search's reading of its tries (experiments.c1_search): the listing of how far each try trained and
the warm start (the target's "flat" rule is icl.emergence.is_flat: tests/test_emergence.py)."""

from __future__ import annotations

import pytest
from test_label_curriculum import shrunk

from experiments import c1_search
from icl.train import train


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

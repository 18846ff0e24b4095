"""Benchmark smoke test: ``--quick`` writes both reports, with every section, in seconds."""

from __future__ import annotations

import json

import pytest
import torch

from icl.bench import main


@pytest.mark.slow
def test_quick_bench_writes_markdown_and_json(tmp_path, capsys):
    threads = torch.get_num_threads()
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    assert torch.get_num_threads() == threads  # the thread sweep restores the setting
    assert "wrote" in capsys.readouterr().out
    md = (tmp_path / "benchmarks.md").read_text()
    res = json.loads((tmp_path / "benchmarks.json").read_text())
    assert set(res) == {"meta", "peak", "train_step", "scaling", "baselines", "report", "notes"}
    assert res["meta"]["quick"] is True
    assert res["peak"] and all(p["peak_gflops"] >= p["gflops"]["median"] > 0 for p in res["peak"])
    rows = res["train_step"]["rows"]
    assert {r["scale"] for r in rows} == {"cpu", "paper"}
    assert {(r["scale"], r["layout"]) for r in rows if r["impl"] == "ours"} >= {("cpu", "pair"), ("cpu", "garg"),
                                                                                 ("paper", "garg")}
    for r in rows:
        assert {"steps_per_s", "tokens_per_s", "gflops", "fraction_of_peak", "speed_vs_peer"} <= set(r)
        assert r["step_s"]["median"] > 0 and r["step_s"]["q1"] <= r["step_s"]["median"] <= r["step_s"]["q3"]
    if res["meta"]["transformers"]:
        assert any(r["impl"] != "ours" for r in rows)
        assert all(r["speed_vs_peer"] > 0 for r in rows if r["impl"] == "ours" and not r["compiled"]
                   and r["threads"] == res["meta"]["threads"] and r["run"] == "linear-w0.50")
    else:
        assert "skipped" in res["train_step"]["peer"] and "skipped" in md
    variants = {(r["run"], r["variant"]) for r in rows if r["scale"] == "cpu"}
    assert {(run, f"{a} + {g} GELU") for run in ("linear-w0.50", "linear-only")
            for a in ("sdpa", "math attention") for g in ("tanh", "exact")} <= variants
    assert sum("runs" in f and "the steps/s of sdpa + tanh GELU" in f for f in res["train_step"]["findings"]) == 6
    assert sum(f.endswith("- the preset") for f in res["train_step"]["findings"]) == 2
    for key in ("prompt_length", "dims"):
        s = res["scaling"][key]
        assert len(s["points"]) >= 3 and s["exponent"] == s["exponent"]  # fitted, not NaN
    la = res["baselines"]["lasso"]
    assert la["prompts"] == 64 and la["ours_s"]["median"] > 0
    if la["sklearn"]:
        # at a tight tolerance scikit-learn reaches the exact solution ours computes
        assert la["sklearn"]["tight"]["max_abs_pred_diff"] < 1e-6
    assert res["baselines"]["bayes_sparse"]["supports"] == 190
    grid = res["baselines"]["grid_1d"]
    assert [r["predictor"].split()[0] for r in grid] == ["BayesSine", "BayesLineSine", "CombinedFit", "ReluNetGD"]
    assert all(r["prompts"] == 64 and r["time_s"]["median"] > 0 for r in grid)
    rep = res["report"]  # end to end: chapter 01 alone on 16 prompts, built outside reports/
    assert rep["only"] == "01" and rep["params"] == {"n_eval": 16} and rep["exit_status"] == 0
    assert [(c["chapter"], c["status"]) for c in rep["chapters"]] == [("01_model_selection", "passed")]
    assert 0 < rep["chapters"][0]["seconds"] <= rep["wall_s"]
    for heading in ("## fp32 matmul peak", "## Training step", "## Scaling", "## Baselines", "## End to end"):
        assert heading in md
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_bench_rejects_a_file_as_output_folder(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["--quick", "--out", str(f)]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out {f} is a file, not a folder"

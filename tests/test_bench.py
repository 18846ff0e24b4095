"""Benchmark smoke test: ``--quick`` writes both reports, with every section, in seconds; the
busy-machine check (fake ``/proc`` readings, a real CPU-burning child) and the refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import icl.bench as bench
from icl.config import run_names
import icl.bench.run as bench_run
from icl.bench import busy_processes, machine_busy, main, read_procs


@pytest.mark.slow
def test_quick_bench_writes_markdown_and_json(tmp_path, capsys, monkeypatch):
    threads = torch.get_num_threads()
    # the machine may well be busy (this test suite, a training): measure anyway, marked busy
    monkeypatch.setattr(bench_run, "machine_busy", lambda **kw: "pretend: pid 1 at 100% of a core: a test")
    assert main(["--quick", "--out", str(tmp_path), "--allow-busy"]) == 0
    assert torch.get_num_threads() == threads  # the thread sweep restores the setting
    assert "wrote" in capsys.readouterr().out
    md = (tmp_path / "benchmarks.md").read_text()
    res = json.loads((tmp_path / "benchmarks.json").read_text())
    assert set(res) == {"meta", "peak", "study", "contention", "train_step", "train_loop", "scaling",
                        "baselines", "report", "notes"}
    # the training loop (issue 36): both scales, 1 and 2 threads; no compiled rows in --quick
    loop = res["train_loop"]["rows"]
    assert {(r["scale"], r["threads"], r["variant"]) for r in loop} == {
        (s, t, v) for s in ("small", "cpu") for t in (1, 2) for v in ("default AdamW", "fused AdamW")}
    assert all(r["fused_adamw"] == (r["variant"] != "default AdamW") and not r["compiled"] for r in loop)
    assert "## The training loop: default AdamW, fused AdamW, compiled" in md and "vs default AdamW" in md
    assert any("the compiled rows are skipped (--quick" in n for n in res["notes"])
    # time to a trained study: the real loop per scale and family, every run of the scale costed
    assert [s["scale"] for s in res["study"]] == ["cpu", "small"]
    for s in res["study"]:
        assert s["families"] and all(f["steps_per_s"] > 0 and f["bare_step_s"]["median"] > 0 for f in s["families"])
        assert [r["run"] for r in s["runs"]] == run_names(s["scale"])
        assert s["total_hours"] == pytest.approx(sum(r["hours"] for r in s["runs"])) and s["total_hours"] > 0
        assert all(set(f["loops"]) == {"default AdamW", "fused AdamW"} for f in s["families"])
        assert set(s["total_hours_by_loop"]) == {"default AdamW", "fused AdamW"}
    small = {r["run"]: r["steps"] for r in res["study"][1]["runs"]}
    assert small["linear-w0.00"] == 100_000 and small["linear-w0.50"] == 50_000  # a forked run trains after its fork
    assert {(r["threads"], r["shared"]) for r in res["contention"]} == {(1, False), (2, False), (1, True), (2, True)}
    assert "Time to a trained study" in md and "--threads" in md
    bf16 = [r for r in res["train_step"]["rows"] if r["precision"] == "bf16"]  # bf16 autocast rows at both scales
    assert {r["scale"] for r in bf16} == {"cpu", "paper"} and "bf16 autocast against fp32" in md
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
    assert [r["predictor"].split()[0] for r in grid] == ["BayesSine", "BayesMixture", "CombinedFit", "ReluNetGD"]
    assert all(r["prompts"] == 64 and r["time_s"]["median"] > 0 for r in grid)
    rep = res["report"]  # end to end: chapter 01 alone on 16 prompts, built outside reports/
    assert rep["only"] == "01" and rep["params"] == {"n_eval": 16} and rep["exit_status"] == 0
    # chapter 01 at the cpu scale, and once more per scale with trained runs (the small one, once trained)
    assert [c["chapter"] for c in rep["chapters"]][0] == "01_model_selection"
    assert {c["chapter"] for c in rep["chapters"]} <= {"01_model_selection", "01_model_selection-small"}
    assert all(c["status"] == "passed" for c in rep["chapters"])
    assert 0 < rep["chapters"][0]["seconds"] <= rep["wall_s"]
    for heading in ("## fp32 matmul peak", "## Training step", "## Scaling", "## Baselines", "## End to end"):
        assert heading in md
    assert res["meta"]["busy"] == "pretend: pid 1 at 100% of a core: a test"
    assert "**Measured on a busy machine (`--allow-busy`): pretend: pid 1" in md
    timed = list(bench.timed_rows(res))
    assert len(timed) > len(rows) and all(r["busy"] is True for r in timed)
    assert all(set(r["load"]) == {"start", "end"} for r in timed)
    assert md.count(" busy |") >= len(rows) + len(res["peak"])  # the load column of every table row
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_bench_rejects_a_file_as_output_folder(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["--quick", "--out", str(f)]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out {f} is a file, not a folder"


# --------------------------------------------------------------------------- the busy-machine check


def _stat(pid: int, ppid: int, ticks: int, comm: str = "python") -> str:
    """A /proc/<pid>/stat line: utime = ticks, stime = 0 (fields 14 and 15)."""
    return f"{pid} ({comm}) R {ppid} 1 1 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0 100 0 0\n"


def fake_proc(root: Path, load: float, procs: dict[int, tuple[int, int, str, str]]) -> None:
    """Write a /proc-like folder: loadavg, and pid -> (ppid, ticks, comm, cmdline) as stat and cmdline."""
    root.mkdir(exist_ok=True)
    (root / "loadavg").write_text(f"{load} 0.30 0.20 1/80 999\n")
    for pid, (ppid, ticks, comm, cmd) in procs.items():
        (root / str(pid)).mkdir(exist_ok=True)
        (root / str(pid) / "stat").write_text(_stat(pid, ppid, ticks, comm))
        (root / str(pid) / "cmdline").write_bytes(cmd.replace(" ", "\0").encode() + (b"\0" if cmd else b""))


def _check(root: Path, before: dict, after: dict, load: float = 0.1, **kw) -> str | None:
    """machine_busy on a fake /proc that moves from ``before`` to ``after`` during a 1 s window."""
    fake_proc(root, load, before)
    clock = iter([0.0, 1.0])
    return machine_busy(root=root, self_pid=100, seconds=1.0, sleep=lambda s: fake_proc(root, load, after),
                        clock=lambda: next(clock), **kw)


QUIET = {1: (0, 500, "init", "/sbin/init"), 50: (1, 10, "bash", "/bin/bash"), 100: (50, 0, "python",
         "/venv/bin/python -m icl bench")}


def test_machine_busy_quiet_and_self_excluded(tmp_path):
    # the bench (pid 100) and its parent shell (50) burn CPU, nothing else does, load is low: quiet
    after = {**QUIET, 100: (50, 100, "python", "python -m icl bench"), 50: (1, 90, "bash", "/bin/bash"),
             1: (0, 505, "init", "/sbin/init")}  # init: 5 ticks in 1 s = 5% of a core, under 20%
    assert _check(tmp_path, QUIET, after) is None


def test_machine_busy_names_a_cpu_burner_and_a_high_load(tmp_path):
    before = {**QUIET, 200: (1, 1000, "python", "/work/.venv/bin/python -m icl train linear-w0.50 --threads 1"),
              300: (1, 0, "pytest", "/usr/bin/python3 -m pytest -q"), 400: (2, 7, "kworker/0:1", "")}
    after = {**before, 200: (1, 1097, "python", "/work/.venv/bin/python -m icl train linear-w0.50 --threads 1"),
             300: (1, 150, "pytest", "/usr/bin/python3 -m pytest -q"), 400: (2, 37, "kworker/0:1", ""),
             500: (1, 90, "python", "python new")}  # started during the window: not judged
    reason = _check(tmp_path, before, after, load=1.5)
    assert reason is not None and "\n" not in reason
    parts = reason.split("; ")
    assert parts == ["1-minute load average 1.5 > 0.5",
                     "pid 300 at 150% of a core: python3 -m pytest -q",
                     "pid 200 at 97% of a core: python -m icl train linear-w0.50 --threads 1",
                     "pid 400 at 30% of a core: [kworker/0:1]"]
    # only the load: a quiet process table under a high load average, and the threshold is a parameter
    assert _check(tmp_path, QUIET, QUIET, load=1.5) == "1-minute load average 1.5 > 0.5"
    assert _check(tmp_path, QUIET, QUIET, load=1.5, max_load=2.0) is None
    assert "pid 400" not in _check(tmp_path, before, after, share=0.5)


def test_machine_busy_without_proc_checks_nothing_it_cannot_read(tmp_path):
    assert read_procs(tmp_path / "absent") == {}
    assert machine_busy(root=tmp_path / "absent", sleep=lambda s: pytest.fail("no sampling without /proc")) is None
    assert busy_processes({1: (0, 10)}, {1: (0, 5)}, 1.0, set(), hz=100) == []  # a reused pid: not judged


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_machine_busy_names_a_real_cpu_burning_child():
    # other work may share this machine (a training): assert only that the burner is named
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        before, t0 = read_procs(), time.monotonic()
        time.sleep(1.0)
        after, t1 = read_procs(), time.monotonic()
        busy = dict(busy_processes(before, after, t1 - t0, {os.getpid()}))
        assert burner.pid in busy and busy[burner.pid] > 0.2
        reason = machine_busy(max_load=float("inf"), seconds=1.0)
        assert reason is not None and "\n" not in reason
        if f"pid {burner.pid} " not in reason:  # only the three busiest are named: others outran it
            assert reason.count("pid ") >= 3
        else:
            assert f"pid {burner.pid} at " in reason and "-c while True: pass" in reason
    finally:
        burner.kill()
        burner.wait()


def test_bench_refuses_a_busy_machine_in_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "reports"
    monkeypatch.setattr(bench_run, "machine_busy", lambda **kw: "pid 4242 at 99% of a core: python -m icl train x")
    monkeypatch.setattr(bench_run, "run_bench", lambda *a, **kw: pytest.fail("timed a busy machine"))
    assert main(["--quick", "--out", str(out)]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    lines = cap.err.splitlines()
    assert len(lines) == 1 and "busy machine" in lines[0] and "pid 4242" in lines[0] and "--allow-busy" in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert main(["--check-only", "--out", str(out)]) == 2 and len(capsys.readouterr().err.splitlines()) == 1
    assert not out.exists()


def test_bench_allow_busy_passes_the_reason_on_and_check_only_stops(tmp_path, capsys, monkeypatch):
    seen = {}

    def fake_run_bench(out, sizes, **kw):
        seen.update(kw, out=out)
        return {"meta": {"wall_s": 0.0}}

    monkeypatch.setattr(bench_run, "run_bench", fake_run_bench)
    monkeypatch.setattr(bench_run, "machine_busy", lambda **kw: "pid 1 at 50% of a core: x")
    assert main(["--quick", "--out", str(tmp_path), "--allow-busy"]) == 0
    assert seen["busy"] == "pid 1 at 50% of a core: x" and seen["out"] == tmp_path
    seen.clear()
    monkeypatch.setattr(bench_run, "machine_busy", lambda **kw: None)
    assert main(["--check-only", "--out", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("bench: quiet machine")
    assert not seen and not (tmp_path / "r").exists()
    assert main(["--quick", "--out", str(tmp_path)]) == 0 and seen["busy"] is None

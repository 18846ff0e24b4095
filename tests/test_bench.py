"""Benchmark smoke test: ``--quick`` writes both reports, with every section, in seconds; the
busy-machine check (fake ``/proc`` readings, a real CPU-burning child) and the refusal; ``--only``
(cheap fake sections beside the real peak and scaling): the merge keeps the other sections byte
for byte, records each section's measurement, and refuses bad input in one line."""

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
import icl.bench.run as bench_run
import icl.bench.study as study_mod
from icl.bench import busy_processes, machine_busy, main, read_procs
from icl.config import get_run_config, run_names


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
    assert set(res) == {
        "meta",
        "peak",
        "study",
        "contention",
        "train_step",
        "train_loop",
        "scaling",
        "baselines",
        "report",
        "notes",
    }
    # the training loop (issue 36): both scales, 1 and 2 threads; no compiled rows in --quick
    loop = res["train_loop"]["rows"]
    assert {(r["scale"], r["threads"], r["variant"]) for r in loop} == {
        (s, t, v) for s in ("small", "cpu") for t in (1, 2) for v in ("default AdamW", "fused AdamW")
    }
    assert all(r["fused_adamw"] == (r["variant"] != "default AdamW") and not r["compiled"] for r in loop)
    assert "## The training loop: default AdamW, fused AdamW, compiled" in md and "vs default AdamW" in md
    assert any("the compiled rows are skipped (--quick" in n for n in res["notes"])
    # time to a trained study: the real loop per scale and family, every run of the scale costed
    assert [s["scale"] for s in res["study"]] == ["cpu", "small"]
    for s in res["study"]:
        assert s["families"] and all(
            f["steps_per_s"] > 0 and f["bare_step_s"]["median"] > 0 for f in s["families"]
        )
        assert [r["run"] for r in s["runs"]] == run_names(s["scale"])
        assert s["total_hours"] == pytest.approx(sum(r["hours"] for r in s["runs"])) and s["total_hours"] > 0
        assert all(set(f["loops"]) == {"default AdamW", "fused AdamW"} for f in s["families"])
        assert set(s["total_hours_by_loop"]) == {"default AdamW", "fused AdamW"}
    small = {r["run"]: r["steps"] for r in res["study"][1]["runs"]}
    assert (
        small["linear-w0.00"] == 100_000 and small["linear-w0.50"] == 50_000
    )  # a forked run trains after its fork
    assert {(r["threads"], r["shared"]) for r in res["contention"]} == {
        (1, False),
        (2, False),
        (1, True),
        (2, True),
    }
    assert "Time to a trained study" in md and "--threads" in md
    bf16 = [
        r for r in res["train_step"]["rows"] if r["precision"] == "bf16"
    ]  # bf16 autocast rows at both scales
    assert {r["scale"] for r in bf16} == {"cpu", "paper"} and "bf16 autocast against fp32" in md
    assert res["meta"]["quick"] is True
    assert res["peak"] and all(p["peak_gflops"] >= p["gflops"]["median"] > 0 for p in res["peak"])
    rows = res["train_step"]["rows"]
    assert {r["scale"] for r in rows} == {"cpu", "paper"}
    assert {(r["scale"], r["layout"]) for r in rows if r["impl"] == "ours"} >= {
        ("cpu", "pair"),
        ("cpu", "garg"),
        ("paper", "garg"),
    }
    for r in rows:
        assert {"steps_per_s", "tokens_per_s", "gflops", "fraction_of_peak", "speed_vs_peer"} <= set(r)
        assert r["step_s"]["median"] > 0 and r["step_s"]["q1"] <= r["step_s"]["median"] <= r["step_s"]["q3"]
    if res["meta"]["transformers"]:
        assert any(r["impl"] != "ours" for r in rows)
        assert all(
            r["speed_vs_peer"] > 0
            for r in rows
            if r["impl"] == "ours"
            and not r["compiled"]
            and r["threads"] == res["meta"]["threads"]
            and r["run"] == "linear-w0.50"
        )
    else:
        assert "skipped" in res["train_step"]["peer"] and "skipped" in md
    variants = {(r["run"], r["variant"]) for r in rows if r["scale"] == "cpu"}
    assert {
        (run, f"{a} + {g} GELU")
        for run in ("linear-w0.50", "linear-only")
        for a in ("sdpa", "math attention")
        for g in ("tanh", "exact")
    } <= variants
    assert (
        sum("runs" in f and "the steps/s of sdpa + tanh GELU" in f for f in res["train_step"]["findings"])
        == 6
    )
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
    assert [r["predictor"].split()[0] for r in grid] == [
        "BayesSine",
        "BayesMixture",
        "CombinedFit",
        "ReluNetGD",
    ]
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
    return machine_busy(
        root=root,
        self_pid=100,
        seconds=1.0,
        sleep=lambda s: fake_proc(root, load, after),
        clock=lambda: next(clock),
        **kw,
    )


QUIET = {
    1: (0, 500, "init", "/sbin/init"),
    50: (1, 10, "bash", "/bin/bash"),
    100: (50, 0, "python", "/venv/bin/python -m icl bench"),
}


def test_machine_busy_quiet_and_self_excluded(tmp_path):
    # the bench (pid 100) and its parent shell (50) burn CPU, nothing else does, load is low: quiet
    after = {
        **QUIET,
        100: (50, 100, "python", "python -m icl bench"),
        50: (1, 90, "bash", "/bin/bash"),
        1: (0, 505, "init", "/sbin/init"),
    }  # init: 5 ticks in 1 s = 5% of a core, under 20%
    assert _check(tmp_path, QUIET, after) is None


def test_machine_busy_names_a_cpu_burner_and_a_high_load(tmp_path):
    before = {
        **QUIET,
        200: (1, 1000, "python", "/work/.venv/bin/python -m icl train linear-w0.50 --threads 1"),
        300: (1, 0, "pytest", "/usr/bin/python3 -m pytest -q"),
        400: (2, 7, "kworker/0:1", ""),
    }
    after = {
        **before,
        200: (1, 1097, "python", "/work/.venv/bin/python -m icl train linear-w0.50 --threads 1"),
        300: (1, 150, "pytest", "/usr/bin/python3 -m pytest -q"),
        400: (2, 37, "kworker/0:1", ""),
        500: (1, 90, "python", "python new"),
    }  # started during the window: not judged
    reason = _check(tmp_path, before, after, load=1.5)
    assert reason is not None and "\n" not in reason
    parts = reason.split("; ")
    assert parts == [
        "1-minute load average 1.5 > 0.5",
        "pid 300 at 150% of a core: python3 -m pytest -q",
        "pid 200 at 97% of a core: python -m icl train linear-w0.50 --threads 1",
        "pid 400 at 30% of a core: [kworker/0:1]",
    ]
    # only the load: a quiet process table under a high load average, and the threshold is a parameter
    assert _check(tmp_path, QUIET, QUIET, load=1.5) == "1-minute load average 1.5 > 0.5"
    assert _check(tmp_path, QUIET, QUIET, load=1.5, max_load=2.0) is None
    assert "pid 400" not in _check(tmp_path, before, after, share=0.5)


def test_machine_busy_without_proc_checks_nothing_it_cannot_read(tmp_path):
    assert read_procs(tmp_path / "absent") == {}
    assert (
        machine_busy(root=tmp_path / "absent", sleep=lambda s: pytest.fail("no sampling without /proc"))
        is None
    )
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
    monkeypatch.setattr(
        bench_run, "machine_busy", lambda **kw: "pid 4242 at 99% of a core: python -m icl train x"
    )
    monkeypatch.setattr(bench_run, "run_bench", lambda *a, **kw: pytest.fail("timed a busy machine"))
    assert main(["--quick", "--out", str(out)]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    lines = cap.err.splitlines()
    assert (
        len(lines) == 1
        and "busy machine" in lines[0]
        and "pid 4242" in lines[0]
        and "--allow-busy" in lines[0]
    )
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


# --------------------------------------------------------------------------- --only: some sections, merged


def _row(stamp: str, **kw) -> dict:
    """A timed row as the sections write them (enough for the markdown), marked with ``stamp``."""
    s = {"median": 0.01, "q1": 0.009, "q3": 0.011, "iqr": 0.002, "n": 3}
    return {"stamp": stamp, "step_s": s, "steps_per_s": 100.0, "load": {"start": 0.1, "end": 0.2}, **kw}


def fake_sections(monkeypatch, stamp: str) -> None:
    """Every section but the matmul peak and the scaling (both real and fast in --quick) replaced by a
    cheap fake whose rows carry ``stamp`` and whose notes name it."""
    step = dict(
        scale="cpu",
        run="linear-w0.50",
        impl="ours",
        layout="pair",
        threads=1,
        compiled=False,
        batch=8,
        tokens_per_prompt=21,
        tokens_per_s=1e4,
        speed_vs_peer=None,
        gflops=1.0,
        fraction_of_peak=0.1,
    )

    def train(sizes, peer, compile_, peak, threads, thread_counts, notes):
        notes.append(f"torch.compile rows skipped in --quick ({stamp})")
        return {
            "rows": [_row(stamp, variant="preset", precision="fp32", **step)],
            "peer": "measured",
            "findings": [],
        }

    def loop(sizes, peak, notes):
        notes.append(f"train loop: the compiled rows are skipped ({stamp})")
        return {"rows": [_row(stamp, variant="default AdamW", compile_s=None, **step)], "findings": []}

    def study(sizes, threads, log=None):
        fam = _row(
            stamp,
            run="linear-w0.00",
            n_points=21,
            n_dims=10,
            batch=64,
            threads=1,
            loop_vs_bare=0.9,
            loops={"fused AdamW": {"steps_per_s": 10.0}},
            bare_step_s=_row(stamp)["step_s"],
        )
        runs = [{"run": "linear-w0.00", "steps": 100, "hours": 0.1, "hours_by_loop": {"fused AdamW": 0.1}}]
        return [
            {
                "scale": "cpu",
                "families": [fam],
                "runs": runs,
                "total_hours": 0.1,
                "total_hours_by_loop": {"fused AdamW": 0.1},
            }
        ]

    def baselines(sizes, threads, notes):
        notes.append(f"scikit-learn rows skipped: {stamp}")
        la = _row(
            stamp,
            alpha=0.1,
            objective="x",
            n_dims=20,
            nnz=3,
            prompts=64,
            n_points=21,
            fits=1344,
            ours_s=_row(stamp)["step_s"],
            ours_unfinished=0,
            sklearn={},
        )
        bs = _row(
            stamp,
            supports=190,
            n_dims=20,
            nnz=3,
            prompts=64,
            n_points=21,
            prompts_per_s=1e3,
            time_s=_row(stamp)["step_s"],
        )
        return {"lasso": la, "bayes_sparse": bs, "grid_1d": []}

    def report(sizes, notes):
        notes.append(f"end to end: {stamp}")
        return _row(stamp, only="01", params={}, wall_s=1.0, chapters=[], exit_status=0)

    monkeypatch.setattr(bench_run, "bench_train", train)
    monkeypatch.setattr(bench_run, "bench_loop", loop)
    monkeypatch.setattr(bench_run, "bench_study", study)
    monkeypatch.setattr(
        bench_run, "contention_rows", lambda sizes, log=None: [_row(stamp, threads=1, shared=True)]
    )
    monkeypatch.setattr(bench_run, "bench_baselines", baselines)
    monkeypatch.setattr(bench_run, "bench_report", report)


@pytest.fixture
def quick_out(tmp_path, monkeypatch):
    """A folder with a whole --quick run (fake sections, stamped "old") measured on a quiet machine."""
    monkeypatch.setattr(bench_run, "machine_busy", lambda **kw: None)
    fake_sections(monkeypatch, "old")
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    return tmp_path


def _section_text(res: dict, key: str) -> str:
    """A top-level section exactly as ``benchmarks.json`` writes it."""
    return json.dumps({key: res[key]}, indent=2)[2:-2]


def test_only_merges_its_sections_and_keeps_the_others_byte_identical(quick_out, monkeypatch, capsys):
    old_text = (quick_out / "benchmarks.json").read_text()
    old = json.loads(old_text)
    assert set(old["meta"]["sections"]) == set(bench_run.SECTIONS)
    assert all(
        r["full_run"] and r["date"] and r["git_commit"] == old["meta"]["git_commit"]
        for r in old["meta"]["sections"].values()
    )
    assert "Measured since with `--only`" not in (quick_out / "benchmarks.md").read_text()
    fake_sections(monkeypatch, "new")
    monkeypatch.setattr(bench_run, "machine_busy", lambda **kw: "pretend: pid 7 at 90% of a core: x")
    capsys.readouterr()
    assert main(["--quick", "--out", str(quick_out), "--only", " train_loop,study", "--allow-busy"]) == 0
    assert capsys.readouterr().out.startswith("measured peak, study, train_loop and merged them into ")
    text = (quick_out / "benchmarks.json").read_text()
    res = json.loads(text)
    assert list(res) == list(old)
    for key in ("contention", "train_step", "scaling", "baselines", "report"):
        assert _section_text(old, key) in old_text and _section_text(old, key) in text  # byte-identical
    assert {r["stamp"] for r in res["train_loop"]["rows"]} == {"new"}
    assert res["study"][0]["families"][0]["stamp"] == "new"
    assert res["peak"] != old["peak"] and all(p["busy"] for p in res["peak"])
    assert all(r["busy"] is True for s in ("train_loop", "study") for r in bench_run.section_rows(res, s))
    assert not any(
        r["busy"] for s in ("train_step", "scaling", "report") for r in bench_run.section_rows(res, s)
    )
    # meta: the full run's, with the new sections' records
    assert {k: v for k, v in res["meta"].items() if k != "sections"} == {
        k: v for k, v in old["meta"].items() if k != "sections"
    }
    secs = res["meta"]["sections"]
    for name in ("peak", "train_loop", "study"):
        rec = secs[name]
        assert rec["full_run"] is False and rec["busy"] == "pretend: pid 7 at 90% of a core: x"
        assert {"date", "git_commit", "load_start", "load_end", "wall_s", "run"} <= set(rec)
        assert rec["run"] != old["meta"]["sections"][name]["run"]
    assert {k: secs[k] for k in ("train_step", "scaling", "contention", "baselines", "report")} == {
        k: old["meta"]["sections"][k] for k in ("train_step", "scaling", "contention", "baselines", "report")
    }
    # the re-measured section's old note gives way to its new one; the others stay
    assert [n for n in res["notes"] if "(old)" in n or "(new)" in n or n.endswith(("old", "new"))] == [
        "torch.compile rows skipped in --quick (old)",
        "scikit-learn rows skipped: old",
        "end to end: old",
        "train loop: the compiled rows are skipped (new)",
    ]
    md = (quick_out / "benchmarks.md").read_text()
    date = res["meta"]["date"]
    assert f"Measured since with `--only`: peak ({secs['peak']['date']}), study" in md
    for heading, name in (("## The training loop", "train_loop"), ("## Time to a trained study", "study")):
        line = md.split(heading, 1)[1].splitlines()[2]
        assert line.startswith(f"*Measured on {secs[name]['date']} with `--only` (commit ") and "busy" in line
    for heading in ("## Training step", "## Scaling", "## Baselines", "## End to end"):
        line = md.split(heading, 1)[1].splitlines()[2]
        assert line.startswith(f"*Measured in the full run of {date} (commit")
    assert "divides by the peak measured in the same run as these rows" in md


def test_only_into_an_older_file_without_section_records(quick_out, monkeypatch):
    old = json.loads((quick_out / "benchmarks.json").read_text())
    del old["meta"]["sections"], old["train_loop"]  # as written before --only existed (and before the loop)
    old["notes"] = ["train loop, cpu scale: an old failure", "scikit-learn rows skipped: old"]
    (quick_out / "benchmarks.json").write_text(json.dumps(old, indent=2) + "\n")
    fake_sections(monkeypatch, "new")
    assert main(["--quick", "--out", str(quick_out), "--only", "train_loop"]) == 0
    res = json.loads((quick_out / "benchmarks.json").read_text())
    assert set(res["meta"]["sections"]) == {"peak", "train_loop"}
    assert res["train_loop"]["rows"][0]["stamp"] == "new"
    for key in ("study", "contention", "train_step", "scaling", "baselines", "report"):
        assert res[key] == old[key]
    assert res["notes"] == [
        "scikit-learn rows skipped: old",
        "train loop: the compiled rows are skipped (new)",
    ]
    md = (quick_out / "benchmarks.md").read_text()
    assert (
        md.split("## Scaling", 1)[1]
        .splitlines()[2]
        .startswith(f"*Measured in the full run of {old['meta']['date']}")
    )
    assert md.split("## The training loop", 1)[1].splitlines()[2].startswith("*Measured on ")


def _refused(capsys, argv: list[str], *words: str) -> None:
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert cap.out == "" and len(cap.err.splitlines()) == 1 and cap.err.startswith("error: --only")
    assert all(w in cap.err for w in words), cap.err


def test_only_refusals_in_one_line_before_any_timing(quick_out, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_run, "machine_busy", lambda **kw: pytest.fail("checked the machine"))
    monkeypatch.setattr(bench_run, "run_bench", lambda *a, **kw: pytest.fail("timed"))
    files = [quick_out / "benchmarks.json", quick_out / "benchmarks.md"]
    before = [f.read_bytes() for f in files]
    _refused(
        capsys,
        ["--quick", "--out", str(quick_out), "--only", "train_loop,bogus"],
        "'bogus'",
        *bench_run.SECTIONS,
    )
    _refused(capsys, ["--quick", "--out", str(quick_out), "--only", ","], "no section", "train_loop")
    # a full run into a --quick one
    _refused(capsys, ["--out", str(quick_out), "--only", "study"], "--quick run", "a full run")
    _refused(capsys, ["--quick", "--out", str(quick_out), "--only", "report", "--no-report"], "--no-report")
    empty = tmp_path / "elsewhere" / "empty"
    _refused(capsys, ["--quick", "--out", str(empty), "--only", "study"], "there is none", "--quick --out")
    assert not empty.exists()
    full = tmp_path / "elsewhere" / "full"
    full.mkdir(parents=True)
    (full / "benchmarks.json").write_text(json.dumps({"meta": {"quick": False}}))
    _refused(capsys, ["--quick", "--out", str(full), "--only", "study"], "holds a full run", "--quick run")
    (full / "benchmarks.json").write_text("{not json")
    _refused(capsys, ["--quick", "--out", str(full), "--only", "study"], "not a benchmark result")
    assert [f.read_bytes() for f in files] == before
    with pytest.raises(bench.BenchError, match="unknown section 'peek'"):
        bench.run_bench(quick_out, bench.QUICK, only=("peek",))


def test_the_cpu_is_named_from_proc_cpuinfo(tmp_path):
    """Rows are timed on a named CPU: x86's "model name", else arm64's "CPU part", else none."""
    from icl.bench.machine import cpu_model

    (tmp_path / "cpuinfo").write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n")
    assert cpu_model(tmp_path) == "AMD EPYC"
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n")
    assert cpu_model(tmp_path) == "0xd0c"


def _fake_train_seconds(times):
    """A stand-in for the timed training: pops the next wall time, records the steps asked for."""
    asked = []

    def fake(cfg, steps, compile=None):
        asked.append(steps)
        return times.pop(0)

    return fake, asked


def test_loop_rate_retimes_when_the_longer_training_was_not_longer(monkeypatch):
    """Few steps on a busy machine: the 6-step training timed no longer than the 2-step one, so the
    extra steps are doubled (10, then 18) until they show; the rate comes from the counts used."""
    fake, asked = _fake_train_seconds([1.0, 0.9, 1.0, 1.8])
    monkeypatch.setattr(study_mod, "_train_seconds", fake)
    r = study_mod.loop_rate(get_run_config("linear-w0.50", "small"), 2, 6, threads=1, compile="off")
    assert asked == [2, 6, 10, 18]
    assert r["steps"] == [2, 18] and r["seconds"] == [1.0, 1.8]
    assert r["steps_per_s"] == pytest.approx(16 / 0.8)


def test_loop_rate_gives_up_in_one_line_when_noise_never_clears(monkeypatch):
    fake, asked = _fake_train_seconds([1.0] * (2 + study_mod.LOOP_RETRIES))
    monkeypatch.setattr(study_mod, "_train_seconds", fake)
    with pytest.raises(RuntimeError, match=r"no longer than 2 steps .* too noisy to time it"):
        study_mod.loop_rate(get_run_config("linear-w0.50", "small"), 2, 6, threads=1, compile="off")
    assert asked == [2, 6, 10, 18, 34, 66]

"""One benchmark run, end to end, and the ``python -m icl bench`` command.

This module owns the order of a run and its outputs: the quiet-machine check before
anything is timed (:func:`icl.bench.machine.machine_busy`; ``--allow-busy``,
``--check-only``), the matmul peak, the training-step, training-loop, scaling and baseline sections, the
end-to-end report build (:func:`bench_report`), the ``meta`` of the results (date, commit,
machine, versions, load), and the two files written atomically into ``--out``:
``benchmarks.json`` (the results) and ``benchmarks.md`` (:func:`icl.bench.markdown.render_markdown`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from ..checkpoint import atomic_write_text
from ..config import REPORTS
from ..provenance import git_commit, package_version, cpu_bf16_instructions
from .baselines import bench_baselines
from .machine import CPU_SHARE, MAX_LOAD, load_during, machine_busy, read_load, read_procs
from .markdown import fmt_cell, render_markdown
from .peer import PEER_NAME
from .timing import FULL, QUICK, Sizes, matmul_peak
from .training import bench_loop, bench_scaling, bench_train
from .study import bench_study, contention_rows

__all__ = ["BenchError", "check_out", "timed_rows", "bench_report", "run_bench", "main"]


class BenchError(RuntimeError):
    """Bad input to the benchmark (e.g. an output path that is a file)."""


def check_out(out: Path) -> None:
    """Refuse an output folder that is a file (:class:`BenchError`)."""
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} is a file, not a folder")


def timed_rows(res: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every timed row of a result: peaks, training steps, scaling points, baselines, the report."""
    yield from res["peak"]
    for scale in res.get("study") or []:
        yield from scale["families"]
    yield from res.get("contention") or []
    yield from res["train_step"]["rows"]
    yield from (res.get("train_loop") or {}).get("rows", [])
    for key in ("prompt_length", "dims"):
        yield from res["scaling"][key]["points"]
    b = res["baselines"]
    yield from (b["lasso"], b["bayes_sparse"], *(b.get("grid_1d") or []))
    if res.get("report"):
        yield res["report"]


def bench_report(sizes: Sizes, notes: list[str]) -> dict[str, Any] | None:
    """Build the report (every chapter, or ``sizes.report_only``) into a temporary folder
    with the committed checkpoints, as ``make report`` does; each chapter's time."""
    from ..report import build_report

    tmp = Path(tempfile.mkdtemp(prefix="icl-bench-report-"))
    try:
        params_file = None
        if sizes.report_params:
            params_file = tmp / "params.yaml"
            params_file.write_text("all:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in sizes.report_params))
        t = time.perf_counter()
        with load_during() as load:
            status = build_report(tmp / "report", params_file=params_file, only=sizes.report_only)
        wall = time.perf_counter() - t
        info = json.loads((tmp / "report" / "report.json").read_text())
    except Exception as e:  # a broken notebook folder, a missing kernel: report, do not lose the other rows
        notes.append(f"end to end: the report could not be built: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    chapters = [{"chapter": c["name"], "status": c["status"], "seconds": c["seconds"]} for c in info["chapters"]]
    if status:
        notes.append("end to end: a chapter failed (see its row)")
    return {"only": sizes.report_only, "params": dict(sizes.report_params), "wall_s": wall, "chapters": chapters,
            "exit_status": status, "load": load}


def run_bench(out: Path, sizes: Sizes = FULL, peer: bool = True, compile_: bool = True, report: bool = True,
              log: Callable[[str], None] = lambda s: None, busy: str | None = None) -> dict[str, Any]:
    """Run every benchmark and write ``out/benchmarks.{md,json}``; returns the results. ``busy`` is
    :func:`machine_busy`'s reason when the caller measures on a busy machine anyway: the report
    says so in a banner and every timed row gets ``busy: true``."""
    out = Path(out)
    check_out(out)
    t0 = time.time()
    threads = torch.get_num_threads()
    thread_counts = sorted({1, 2, os.cpu_count() or 1})
    notes: list[str] = []
    load_start = read_load()
    log("matmul peak")
    peaks = [matmul_peak(sizes.peak_n, sizes.peak_reps, t) for t in thread_counts]
    peak = {p["threads"]: p["peak_gflops"] for p in peaks}
    log("training step")
    train_res = bench_train(sizes, peer, compile_, peak, threads, thread_counts, notes)
    compiling = sizes if compile_ else replace(sizes, compile=False)  # --no-compile: no compiled loops either
    log("training loop: default AdamW, fused AdamW, compiled")
    loop_res = bench_loop(compiling, peak, notes)
    log("time to a trained study")
    study = bench_study(compiling, threads, log)
    contention = contention_rows(sizes, log)
    log("scaling")
    scaling = bench_scaling(sizes, threads)
    log("baselines")
    baselines = bench_baselines(sizes, threads, notes)
    report_res = None
    if report:
        log("end to end: the report")
        report_res = bench_report(sizes, notes)
    else:
        notes.append("end to end: skipped (--no-report)")
    res = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": sizes.quick, "sizes": asdict(sizes), "git_commit": git_commit(),
            "platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__, "threads": threads,
            "transformers": package_version("transformers"), "sklearn": package_version("sklearn"),
            "load_start": load_start, "bf16_hardware": cpu_bf16_instructions(),
            "load_end": read_load(),
            "busy": busy,
            "wall_s": time.time() - t0,
        },
        "peak": peaks,
        "study": study,
        "contention": contention,
        "train_step": train_res,
        "train_loop": loop_res,
        "scaling": scaling,
        "baselines": baselines,
        "report": report_res,
        "notes": notes,
    }
    for r in timed_rows(res):
        r["busy"] = busy is not None
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "benchmarks.json", json.dumps(res, indent=2) + "\n")
    atomic_write_text(out / "benchmarks.md", render_markdown(res))
    return res


def main(argv: list[str] | None = None) -> int:
    """``python -m icl bench [--quick] [--out DIR] [--no-peer] [--no-compile] [--no-report] [--allow-busy]
    [--max-load L] [--check-only]``."""
    p = argparse.ArgumentParser(
        prog="python -m icl bench",
        description="Benchmark a training step (ours vs Hugging Face GPT2Model when the 'bench' extra is "
                    "installed), its scaling in prompt length and d, and the batched baselines vs scikit-learn. "
                    "Writes benchmarks.md and benchmarks.json (medians, IQRs, ratios; see icl/bench/).")
    p.add_argument("--quick", action="store_true", help="tiny sizes and few repetitions: seconds, not conclusions")
    p.add_argument("--out", metavar="DIR", default=str(REPORTS), help="output folder (default reports/)")
    p.add_argument("--no-peer", action="store_true", help=f"skip the {PEER_NAME} rows")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    p.add_argument("--no-report", action="store_true", help="skip the end-to-end report build")
    p.add_argument("--allow-busy", action="store_true",
                   help="time even on a busy machine, marking the report and every row as measured on one")
    p.add_argument("--max-load", type=float, default=MAX_LOAD, metavar="L",
                   help=f"1-minute load average above which the machine counts as busy (default {MAX_LOAD:g})")
    p.add_argument("--check-only", action="store_true",
                   help="only check whether the machine is quiet enough to measure (exit 0) or busy (exit 2)")
    args = p.parse_args(argv)
    t = time.time()
    out = Path(args.out)
    try:
        check_out(out)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    busy = machine_busy(max_load=args.max_load)
    if busy and not args.allow_busy:
        print(f"bench: busy machine, not timing: {busy}. {out} untouched; rerun when it is quiet, or pass "
              "--allow-busy to time anyway with every row marked busy.", file=sys.stderr)
        return 2
    if args.check_only:
        if busy:
            print(f"bench: busy machine: {busy}. --allow-busy times anyway, every row marked busy.")
        else:
            scanned = "" if read_procs() else " (no /proc: other processes not checked)"
            print(f"bench: quiet machine: 1-minute load average {fmt_cell(read_load(), 'g')} <= {args.max_load:g}, "
                  f"no other process above {CPU_SHARE:.0%} of a core{scanned}.")
        return 0
    try:
        res = run_bench(out, QUICK if args.quick else FULL, peer=not args.no_peer,
                        compile_=not args.no_compile, report=not args.no_report,
                        log=lambda s: print(f"[{time.time() - t:5.1f} s] {s}", file=sys.stderr), busy=busy)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out / 'benchmarks.md'} and {out / 'benchmarks.json'} in {res['meta']['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One benchmark run, end to end, and the ``python -m icl bench`` command.

This module owns the order of a run and its outputs: the quiet-machine check before
anything is timed (:func:`icl.bench.machine.machine_busy`; ``--allow-busy``,
``--check-only``), the matmul peak, the time to a trained study and contention, the training-step,
training-loop, scaling and baseline sections, the end-to-end report build (:func:`bench_report`),
the ``meta`` of the results (date, commit, machine, versions, load, and ``meta.sections``: per
section when, at which commit and under what load it was measured), and the two files written
atomically into ``--out``: ``benchmarks.json`` (the results) and ``benchmarks.md``
(:func:`icl.bench.markdown.render_markdown`).

``--only SECTION[,SECTION...]`` (:data:`SECTIONS`, :func:`parse_only`) measures the matmul peak and
those sections alone and merges them (the peak too) into the earlier run's ``benchmarks.json`` in
``--out`` (:func:`merge_results`): the other sections, and the full run's ``meta``, are kept as
they were, ``meta.sections`` gets the new sections' records and their old notes give way to the
new ones. It refuses, in one line and before the quiet-machine check, an unknown section, a
folder without an earlier result, and a ``--quick`` run merged into a full one or the other way
round (:func:`previous_results`).
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
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import atomic_write_text
from ..config import REPORTS
from ..provenance import cpu_bf16_instructions, git_commit, package_version
from .baselines import bench_baselines
from .machine import CPU_SHARE, MAX_LOAD, cpu_model, load_during, machine_busy, read_load, read_procs
from .markdown import fmt_cell, render_markdown
from .peer import PEER_NAME
from .study import bench_study, contention_rows
from .timing import FULL, QUICK, Sizes, matmul_peak
from .training import bench_loop, bench_scaling, bench_train

__all__ = [
    "BenchError",
    "SECTIONS",
    "check_out",
    "section_rows",
    "timed_rows",
    "parse_only",
    "previous_results",
    "merge_results",
    "bench_report",
    "run_bench",
    "main",
]


class BenchError(RuntimeError):
    """Bad input to the benchmark (e.g. an output path that is a file)."""


def check_out(out: Path) -> None:
    """Refuse an output folder that is a file (:class:`BenchError`)."""
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} is a file, not a folder")


SECTIONS = ("peak", "study", "contention", "train_step", "train_loop", "scaling", "baselines", "report")
"""The measured sections of ``benchmarks.json``, in the file's order (``meta`` and ``notes`` aside)."""

# notes of older files, which do not record the section that wrote each note: the section by its prefix
LEGACY_NOTE_OWNERS = {
    "peer rows": "train_step",
    "torch.compile": "train_step",
    "train loop": "train_loop",
    "scikit-learn": "baselines",
    "end to end": "report",
}


def section_rows(res: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    """The timed rows of one section of a result (none when the section is absent)."""
    sec = res.get(name)
    if not sec:
        return
    if name in ("peak", "contention"):
        yield from sec
    elif name == "study":
        for scale in sec:
            yield from scale["families"]
    elif name in ("train_step", "train_loop"):
        yield from sec.get("rows", [])
    elif name == "scaling":
        for key in ("prompt_length", "dims"):
            yield from sec[key]["points"]
    elif name == "baselines":
        yield from (sec["lasso"], sec["bayes_sparse"], *(sec.get("grid_1d") or []))
    elif name == "report":
        yield sec


def timed_rows(res: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every timed row of a result: peaks, the study, contention, training steps and loops, scaling
    points, baselines, the report."""
    for name in SECTIONS:
        yield from section_rows(res, name)


def parse_only(text: str) -> tuple[str, ...]:
    """The sections named by ``--only A,B`` (commas, blanks ignored), in :data:`SECTIONS` order;
    :class:`BenchError` naming an unknown one and the allowed ones."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    allowed = ", ".join(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        what = f"unknown section {', '.join(map(repr, unknown))}" if unknown else "no section named"
        raise BenchError(f"--only: {what}; allowed: {allowed}")
    return tuple(n for n in SECTIONS if n in names)


def previous_results(out: Path, quick: bool) -> dict[str, Any]:
    """The earlier run's ``out/benchmarks.json`` that ``--only`` merges into; :class:`BenchError`
    when there is none, when it is not a result, or when it is a ``--quick`` run and this one
    is not (or the other way round)."""
    path = Path(out) / "benchmarks.json"
    mode = "--quick" if quick else "full"
    if not path.is_file():
        raise BenchError(
            f"--only merges into an earlier run's {path}, and there is none: run the whole "
            f"bench first (python -m icl bench{' --quick' if quick else ''} --out {out})"
        )
    try:
        res = json.loads(path.read_text())
        old_quick = res["meta"]["quick"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BenchError(
            f"--only: {path} is not a benchmark result ({type(e).__name__}); run the whole bench first"
        ) from None
    if bool(old_quick) != quick:
        old = "--quick" if old_quick else "full"
        raise BenchError(
            f"--only: {path} holds a {old} run; a {mode} run's sections cannot be merged "
            f"into it (rerun with{'' if old_quick else 'out'} --quick, or use another --out)"
        )
    return res


def note_owner(note: str, records: dict[str, dict[str, Any]]) -> str | None:
    """The section that wrote a note: the one whose record lists it, else (older files) by its prefix."""
    for name, rec in records.items():
        if note in rec.get("notes", ()):
            return name
    return next((s for p, s in LEGACY_NOTE_OWNERS.items() if note.startswith(p)), None)


def merge_results(
    old: dict[str, Any], new: dict[str, Any], records: dict[str, dict[str, Any]], notes: list[str]
) -> dict[str, Any]:
    """An earlier result with the sections of ``new`` put in place of its own: the other sections and
    the full run's ``meta`` kept as they were (same objects), ``meta.sections`` updated with
    ``records``, the re-measured sections' old notes replaced by ``notes``."""
    meta = {**old["meta"]}
    before = meta.get("sections") or {}
    meta["sections"] = {s: records.get(s) or before[s] for s in SECTIONS if s in records or s in before}
    kept = [n for n in old.get("notes") or [] if note_owner(n, before) not in new]
    res: dict[str, Any] = {"meta": meta}
    for k in (*SECTIONS, *(k for k in old if k not in ("meta", "notes", *SECTIONS))):
        if k in new or k in old:
            res[k] = new[k] if k in new else old[k]
    res["notes"] = kept + notes
    return res


def bench_report(sizes: Sizes, notes: list[str]) -> dict[str, Any] | None:
    """Build the report (every chapter, or ``sizes.report_only``) into a temporary folder
    with the committed checkpoints, as ``make report`` does; each chapter's time."""
    from ..report import build_report

    tmp = Path(tempfile.mkdtemp(prefix="icl-bench-report-"))
    try:
        params_file = None
        if sizes.report_params:
            params_file = tmp / "params.yaml"
            params_file.write_text(
                "all:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in sizes.report_params)
            )
        t = time.perf_counter()
        with load_during() as load:
            status = build_report(tmp / "report", params_file=params_file, only=sizes.report_only)
        wall = time.perf_counter() - t
        info = json.loads((tmp / "report" / "report.json").read_text())
    except Exception as e:  # a broken notebook folder, a missing kernel: report, do not lose the other rows
        notes.append(
            f"end to end: the report could not be built: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
        )
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    chapters = [
        {"chapter": c["name"], "status": c["status"], "seconds": c["seconds"]} for c in info["chapters"]
    ]
    if status:
        notes.append("end to end: a chapter failed (see its row)")
    return {
        "only": sizes.report_only,
        "params": dict(sizes.report_params),
        "wall_s": wall,
        "chapters": chapters,
        "exit_status": status,
        "load": load,
    }


def _utc(fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    """The time now in UTC, as ``fmt``."""
    return datetime.datetime.now(datetime.UTC).strftime(fmt)


# long: the bench driver: checks, each section timed and recorded, the merge
def run_bench(
    out: Path,
    sizes: Sizes = FULL,
    peer: bool = True,
    compile_: bool = True,
    report: bool = True,
    log: Callable[[str], None] = lambda s: None,
    busy: str | None = None,
    only: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Run every benchmark and write ``out/benchmarks.{md,json}``; returns the results. ``busy`` is
    :func:`machine_busy`'s reason when the caller measures on a busy machine anyway: the report
    says so in a banner and every timed row gets ``busy: true``.

    ``only`` (names of :data:`SECTIONS`): measure the matmul peak and those sections alone and merge
    them into the earlier run's ``out/benchmarks.json`` (:func:`previous_results`,
    :func:`merge_results`): the other sections stay as they were. Every measured section gets its
    record in ``meta.sections``: ``date`` (its start), ``git_commit``, ``busy``, ``load_start`` /
    ``load_end`` around it, ``wall_s``, ``full_run``, ``torch``, ``threads``, ``run`` (this run's
    start) and the ``notes`` it wrote."""
    out = Path(out)
    check_out(out)
    if only is not None:
        only = parse_only(only if isinstance(only, str) else ",".join(only))
        if "report" in only and not report:
            raise BenchError("--only report and --no-report contradict each other")
        old = previous_results(out, sizes.quick)
    measured = SECTIONS if only is None else ("peak", *(s for s in only if s != "peak"))
    t0 = time.time()
    run_id, commit = _utc("%Y-%m-%dT%H:%M:%S.%fZ"), git_commit()
    threads = torch.get_num_threads()
    thread_counts = sorted({1, 2, os.cpu_count() or 1})
    load_start = read_load()
    compiling = sizes if compile_ else replace(sizes, compile=False)  # --no-compile: no compiled loops either
    peak: dict[int, float] = {}

    def report_section(notes: list[str]) -> dict[str, Any] | None:
        if report:
            log("end to end: the report")
            return bench_report(sizes, notes)
        notes.append("end to end: skipped (--no-report)")
        return None

    runners: dict[str, Callable[[list[str]], Any]] = {  # in the order of a run; each appends its notes
        "peak": lambda notes: [matmul_peak(sizes.peak_n, sizes.peak_reps, t) for t in thread_counts],
        "train_step": lambda notes: bench_train(sizes, peer, compile_, peak, threads, thread_counts, notes),
        "train_loop": lambda notes: bench_loop(compiling, peak, notes),
        "study": lambda notes: bench_study(compiling, threads, log),
        "contention": lambda notes: contention_rows(sizes, log),
        "scaling": lambda notes: bench_scaling(sizes, threads),
        "baselines": lambda notes: bench_baselines(sizes, threads, notes),
        "report": report_section,
    }
    labels = {
        "peak": "matmul peak",
        "train_step": "training step",
        "train_loop": "training loop: default AdamW, fused AdamW, compiled",
        "study": "time to a trained study",
        "scaling": "scaling",
        "baselines": "baselines",
    }
    new: dict[str, Any] = {}
    records: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for name, run in runners.items():
        if name not in measured:
            continue
        if name in labels:
            log(labels[name])
        rec = {"date": _utc(), "git_commit": commit, "busy": busy, "load_start": read_load()}
        t, sec_notes = time.time(), []
        new[name] = run(sec_notes)
        rec.update(
            load_end=read_load(),
            wall_s=time.time() - t,
            full_run=only is None,
            torch=torch.__version__,
            threads=threads,
            run=run_id,
            notes=sec_notes,
            cpu_model=cpu_model(),
        )
        records[name] = rec
        notes += sec_notes
        if name == "peak":
            peak.update({p["threads"]: p["peak_gflops"] for p in new[name]})
        for r in section_rows(new, name):
            r["busy"] = busy is not None
    if only is not None:
        res = merge_results(old, new, records, notes)
    else:
        res = {
            "meta": {
                "date": _utc(),
                "quick": sizes.quick,
                "sizes": asdict(sizes),
                "git_commit": commit,
                "platform": platform.platform(),
                "processor": platform.processor(),
                "cpu_model": cpu_model(),
                "cpu_count": os.cpu_count(),
                "python": platform.python_version(),
                "torch": torch.__version__,
                "threads": threads,
                "transformers": package_version("transformers"),
                "sklearn": package_version("sklearn"),
                "load_start": load_start,
                "bf16_hardware": cpu_bf16_instructions(),
                "load_end": read_load(),
                "busy": busy,
                "wall_s": time.time() - t0,
                "sections": records,
            },
            **{name: new[name] for name in SECTIONS},
            "notes": notes,
        }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "benchmarks.json", json.dumps(res, indent=2) + "\n")
    atomic_write_text(out / "benchmarks.md", render_markdown(res))
    return res


DESCRIPTION = (
    "Benchmark a training step (ours vs Hugging Face GPT2Model when the 'bench' extra is "
    "installed), its scaling in prompt length and d, and the batched baselines vs scikit-learn. "
    "Writes benchmarks.md and benchmarks.json (medians, IQRs, ratios; see icl/bench/)."
)


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The bench's options on ``p`` (``python -m icl bench``'s subcommand parser, or :func:`main`'s own)."""
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes and few repetitions: seconds, not conclusions"
    )
    p.add_argument("--out", metavar="DIR", default=str(REPORTS), help="output folder (default reports/)")
    p.add_argument(
        "--only",
        metavar="SECTION[,SECTION...]",
        help="measure only these sections (and the matmul peak, which they need) and merge "
        "them into the earlier run's OUT/benchmarks.json, the others kept as they were; "
        f"any of {', '.join(SECTIONS)}",
    )
    p.add_argument("--no-peer", action="store_true", help=f"skip the {PEER_NAME} rows")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    p.add_argument("--no-report", action="store_true", help="skip the end-to-end report build")
    p.add_argument(
        "--allow-busy",
        action="store_true",
        help="time even on a busy machine, marking the report and every row as measured on one",
    )
    p.add_argument(
        "--max-load",
        type=float,
        default=MAX_LOAD,
        metavar="L",
        help=f"1-minute load average above which the machine counts as busy (default {MAX_LOAD:g})",
    )
    p.add_argument(
        "--check-only",
        action="store_true",
        help="only check whether the machine is quiet enough to measure (exit 0) or busy (exit 2)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m icl bench [--quick] [--out DIR] [--only SECTION[,SECTION...]] [--no-peer] [--no-compile]
    [--no-report] [--allow-busy] [--max-load L] [--check-only]``: the options of :func:`add_arguments`, run by
    :func:`command`."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m icl bench", description=DESCRIPTION))
    return command(parser.parse_args(argv))


def command(args: argparse.Namespace) -> int:
    """One bench run from parsed options (exit status). A bad ``--out`` or ``--only`` is refused (one line,
    exit 2) before the quiet-machine check."""
    t = time.time()
    out = Path(args.out)
    only = None
    try:
        check_out(out)
        if args.only is not None:
            only = parse_only(args.only)
            if "report" in only and args.no_report:
                raise BenchError("--only report and --no-report contradict each other")
            previous_results(out, args.quick)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    busy = machine_busy(max_load=args.max_load)
    if busy and not args.allow_busy:
        print(
            f"bench: busy machine, not timing: {busy}. {out} untouched; rerun when it is quiet, or pass "
            "--allow-busy to time anyway with every row marked busy.",
            file=sys.stderr,
        )
        return 2
    if args.check_only:
        if busy:
            print(f"bench: busy machine: {busy}. --allow-busy times anyway, every row marked busy.")
        else:
            scanned = "" if read_procs() else " (no /proc: other processes not checked)"
            print(
                f"bench: quiet machine: 1-minute load average {fmt_cell(read_load(), 'g')} <= "
                f"{args.max_load:g}, no other process above {CPU_SHARE:.0%} of a core{scanned}."
            )
        return 0
    try:
        res = run_bench(
            out,
            QUICK if args.quick else FULL,
            peer=not args.no_peer,
            compile_=not args.no_compile,
            report=not args.no_report,
            log=lambda s: print(f"[{time.time() - t:5.1f} s] {s}", file=sys.stderr),
            busy=busy,
            only=only,
        )
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    files = f"{out / 'benchmarks.md'} and {out / 'benchmarks.json'}"
    if only is None:
        print(f"wrote {files} in {res['meta']['wall_s']:.0f} s")
    else:
        print(
            f"measured {', '.join(dict.fromkeys(('peak', *only)))} and merged them into {files} "
            f"in {time.time() - t:.0f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

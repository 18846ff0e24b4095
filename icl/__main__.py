"""Command line: python -m icl {train,train-scale,train-many,adopt,runs,report,bench} ...

A thin shell: each command parses its options and calls one library function, whose rules and refusals
are the same when it is called from Python (train: icl.config.train_config and icl.train.train;
train-scale: icl.forks.train_scale; train-many: icl.train_many.train_many; bench: icl.bench.command).
Bad input is one "error:" line and exit status 2. The experiments built on the library (the sizing
sweeps, the C1 search, the probe) are commands of their own: python -m experiments.sizing ... (experiments/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    """Train or resume a run; under ``torchrun`` every rank runs this, only rank 0 prints."""
    from .checkpoint import CheckpointError
    from .config import train_config
    from .run_folder import RunFolder
    from .step import distributed_env
    from .train import DivergenceError, train

    rank, world, _ = distributed_env()
    err = sys.stderr if rank == 0 else None
    try:  # --seed and --set need --out; a mixture run waits for its seed's hold (train_config's rules)
        cfg = train_config(args.run, args.scale, args.out, args.seed, args.set, args.steps)
        folder = RunFolder(args.out) if args.out else RunFolder.of(args.run, args.scale)
        if args.fork_from:
            _fork_from(args, cfg, folder, world)
    except (ValueError, CheckpointError) as e:
        if err:
            print(f"error: {e}", file=err)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        train(
            cfg,
            folder.path,
            device=args.device,
            progress=not args.no_progress,
            stop_after=args.pause_at,
            max_seconds=None if args.max_minutes is None else 60 * args.max_minutes,
            compile=args.compile,
        )
    except (ValueError, DivergenceError, CheckpointError) as e:
        if err:
            print(f"error: {e}", file=err)
        return 2
    done = folder.is_finished()
    if rank == 0:
        ranks = f" ({world} ranks)" if world > 1 else ""
        print(
            f"{'finished' if done else 'paused'} {cfg.name}{ranks}: {folder}"
            f"{'' if done else ' (rerun to resume)'}"
        )
    return 0


def _fork_from(args: argparse.Namespace, cfg, folder, world: int) -> None:
    """``--fork-from RUN|STATE``: fork ``cfg`` into ``folder`` from that state, unless the folder holds the
    run already (it then resumes); the plan is :func:`icl.run_folder.plan_start`'s, the checks
    :func:`icl.forks.fork`'s."""
    from .config import check_run_names
    from .forks import fork
    from .run_folder import Fork, Resume, RunFolder, plan_start

    if world > 1:
        raise ValueError("--fork-from runs in one process; fork first, then resume under torchrun")
    if args.fork_from.endswith(".safetensors"):  # a resumable state file (e.g. a specialist at its hold)
        source = Path(args.fork_from)
    else:
        try:
            check_run_names(args.scale, [args.fork_from])
        except ValueError as e:
            raise ValueError(f"--fork-from: {e}") from None
        source = RunFolder.of(args.fork_from, args.scale).state_path
    plan = plan_start(cfg, folder, [source])
    if isinstance(plan, Resume):
        print(f"{folder} already holds {cfg.name}: resuming it (no new fork)", file=sys.stderr)
        return
    if not isinstance(plan, Fork) and not source.exists():
        raise ValueError(f"--fork-from {args.fork_from}: no resumable state at {source}")
    fork(source, cfg, folder.path)  # a state the plan passed over (past the hold) is refused here, saying why
    print(f"forked {cfg.name} from {args.fork_from} at its current step into {folder}", file=sys.stderr)


def _train_scale(args: argparse.Namespace) -> int:
    """Every run of a scale, one at a time, forking mixture runs where exact (icl.forks.train_scale)."""
    from .checkpoint import CheckpointError
    from .config import check_run_names, run_names
    from .forks import train_scale
    from .train import DivergenceError

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    names = None
    if args.runs is not None:  # checked here too (train_scale checks them) to name the option in the error
        try:
            names = check_run_names(args.scale, [n.strip() for n in args.runs.split(",") if n.strip()])
        except ValueError as e:
            print(f"error: --runs {args.runs!r}: {e}", file=sys.stderr)
            return 2
    try:
        done = train_scale(
            args.scale,
            names,
            progress=not args.no_progress,
            device=args.device,
            max_seconds=None if args.max_minutes is None else 60 * args.max_minutes,
            say=lambda m: print(m, file=sys.stderr),
        )
    except (ValueError, DivergenceError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    todo = [n for n in names or run_names(args.scale) if n not in done]
    rest = f"; still to train (rerun to resume): {', '.join(todo)}" if todo else ""
    print(f"{args.scale}: finished {len(done)} run(s){rest}")
    return 0


def _train_many(args: argparse.Namespace) -> int:
    """Several runs side by side, one process each (icl.train_many)."""
    from .checkpoint import CheckpointError
    from .train_many import train_many

    names = [n.strip() for n in args.runs.split(",") if n.strip()]
    try:
        reports = train_many(
            args.scale,
            names,
            device=args.device,
            minutes=args.minutes,
            threads=args.threads,
            compile=args.compile,
            bundle=Path(args.bundle) if args.bundle else None,
            report_every=args.report_every,
            say=lambda m: print(m, file=sys.stderr, flush=True),
        )
    except (ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if all(r.returncode == 0 or r.stopped for r in reports) else 1


def _adopt(args: argparse.Namespace) -> int:
    """Runs trained elsewhere (a train-many bundle) into data/runs (icl.train_many.adopt)."""
    from .checkpoint import CheckpointError
    from .train_many import adopt

    try:
        _, problems = adopt(Path(args.bundle), say=lambda m: print(m, file=sys.stderr))
    except (ValueError, CheckpointError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if problems else 0


def _progress(state: Path) -> str:
    """' (step S / N)' for a paused run (its resumable state ``state``); '' if the state is unreadable
    (reported when loaded)."""
    from .checkpoint import CheckpointError
    from .run_folder import RunFolder

    try:
        at = RunFolder(Path(state).parent).progress()
    except CheckpointError:
        return ""
    return f" (step {at[0]:,} / {at[1]:,})" if at else ""


def _runs(args: argparse.Namespace) -> int:
    """Every run of every scale (or of ``--scale``), with its folder's status."""
    from .config import RUNS, SCALE_RUNS, check_hold_read, get_run_config
    from .run_folder import RunFolder

    print(f"{'scale':6s} {'run':20s} {'family':10s} {'seed':4s} {'mixture':36s} status")
    for scale in [args.scale] if args.scale else SCALE_RUNS:
        for name in SCALE_RUNS[scale]:
            spec = RUNS[name]
            folder = RunFolder.of(name, scale)
            mix = " + ".join(f"{w:g} {c}" for c, w in zip(spec.classes, spec.weights))
            mix += ", instructed" if spec.instructed else ""
            if folder.is_finished():
                status = "trained"
            elif folder.state_path.exists():
                status = "partial" + _progress(folder.state_path)
            else:
                try:  # a mixture run waiting for its seed's hold says so
                    check_hold_read(name, scale)
                    status = "-"
                except ValueError:
                    status = f"- (waits for seed {spec.seed}'s hold)"
            seed = get_run_config(name, scale).train.seed
            print(f"{scale:6s} {name:20s} {spec.family:10s} {seed:<4d} {mix:36s} {status}")
    return 0


def _readme_table(args: argparse.Namespace) -> int:
    """Print the README's results block rendered from report.json, or write it into README.md."""
    from .config import REPORTS, ROOT
    from .report.readme_table import read_report, readme_block, update_readme

    try:
        report = read_report((Path(args.out) if args.out else REPORTS) / "report.json")
        if args.update_readme:
            changed = update_readme(ROOT / "README.md", report)
            print(f"README.md: results table {'updated' if changed else 'already current'}")
        else:
            print(readme_block(report))
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import ReportError, build_report, refresh_in_place

    if args.readme_table or args.update_readme:
        return _readme_table(args)
    if args.in_place and (args.out or args.show_code):
        print("error: --in-place writes no report; --out and --show-code do not apply", file=sys.stderr)
        return 2
    try:
        if args.in_place:
            return refresh_in_place(args.params, args.only, args.timeout)
        return build_report(
            args.out, args.params, args.only, args.show_code, args.timeout, screenshot=not args.no_screenshot
        )
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be >= 1")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{v} must be > 0")
    return v


# long: the CLI's argparse tree, one block of options per subcommand
def main(argv: list[str] | None = None) -> int:
    import textwrap

    from . import bench
    from .config import RUNS, SCALES
    from .run_files import HEADER_FILE
    from .train import COMPILE_MODES

    p = argparse.ArgumentParser(
        prog="python -m icl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)

    runs = textwrap.fill(
        "Train or resume a named run. Runs: " + ", ".join(RUNS), width=78, break_on_hyphens=False
    )  # run names are never split at a hyphen
    t = sub.add_parser(
        "train",
        help="train (or resume) a named run",
        description=runs,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument(
        "run",
        choices=list(RUNS),
        metavar="RUN",
        help="one of the runs listed above (python -m icl runs: the runs of each scale)",
    )
    t.add_argument("--scale", choices=SCALES, default="cpu")
    t.add_argument("--steps", type=_positive_int, default=None, help="override the number of steps")
    t.add_argument("--out", default=None, help="run folder (default data/runs/SCALE/RUN)")
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--threads", type=_positive_int, default=None)
    t.add_argument("--no-progress", action="store_true")
    t.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        default=[],
        help="override a config value (repeatable): d=8, train.lr=3e-3, model.n_embd=64, "
        "curriculum.dims.start=10, task.nnz=1 ...; needs --out",
    )
    t.add_argument(
        "--max-minutes",
        type=_positive_float,
        default=None,
        help="pause (checkpoint and exit 0) after this much wall time; rerun to resume",
    )
    t.add_argument(
        "--pause-at",
        type=_positive_int,
        default=None,
        metavar="STEP",
        help="pause (checkpoint and exit 0) once this step is reached; rerun to resume",
    )
    t.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        default=None,
        help="this session's torch.compile setting, overriding the run's train.compile (the "
        "presets' 'auto': time eager against compiled steps at the start, keep the faster; "
        "'off': eager; reduce-overhead: CUDA graphs on a GPU); a speed switch, recorded in "
        f"{HEADER_FILE}",
    )
    t.add_argument(
        "--fork-from",
        default=None,
        metavar="RUN|STATE",
        help="start RUN from this run's resumable state (same scale), or from a state file "
        "(*.safetensors), where that is exact: a mixture "
        "run whose weight curriculum holds the other run's weights up to the state's step",
    )
    t.set_defaults(fn=_train)
    ts = sub.add_parser(
        "train-scale",
        help="train (or resume) every run of a scale, one at a time",
        description="Train or resume every run of a scale in order, forking each mixture "
        "run from its specialist at the weight curriculum's hold where that is "
        "exact.",
    )
    ts.add_argument("scale", choices=SCALES)
    ts.add_argument("--runs", default=None, metavar="A,B", help="only these runs (in this order)")
    ts.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ts.add_argument("--threads", type=_positive_int, default=None)
    ts.add_argument("--no-progress", action="store_true")
    ts.add_argument(
        "--max-minutes",
        type=_positive_float,
        default=None,
        help="pause (checkpoint and exit 0) after this much wall time in all; rerun to resume",
    )
    ts.set_defaults(fn=_train_scale)
    tm = sub.add_parser(
        "train-many",
        help="train several runs side by side, one process each (a lent GPU)",
        description="Train several runs of a scale side by side, one process each, for at "
        "most --minutes each; every run pauses with a checkpoint and resumes "
        "exactly. Ends with steps/s per run; --bundle DIR copies the run folders "
        "out (see icl/train_many.py).",
    )
    tm.add_argument("scale", choices=SCALES)
    tm.add_argument("--runs", required=True, metavar="A,B", help="the runs to train side by side")
    tm.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    tm.add_argument(
        "--minutes", type=_positive_float, required=True, help="wall time per run before it pauses"
    )
    tm.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="CPU threads per process (default: the cores shared out)",
    )
    tm.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        default=None,
        help="every run's torch.compile setting for this session (default: each run's train.compile)",
    )
    tm.add_argument(
        "--bundle",
        metavar="DIR",
        default=None,
        help="pack every run into DIR/SCALE.RUN.tar (one file per run) beside a train-many.json "
        "summary; python -m icl adopt DIR puts them in place on another machine",
    )
    tm.add_argument("--report-every", type=_positive_float, default=60.0, metavar="SECONDS")
    tm.set_defaults(fn=_train_many)
    ad = sub.add_parser(
        "adopt",
        help="put the runs of a train-many bundle in place (where further along)",
        description="Copy the runs of a train-many --bundle folder (SCALE.RUN.tar files) "
        "over data/runs, each only if it is a study run and further along than "
        "the local one.",
    )
    ad.add_argument("bundle", metavar="DIR")
    ad.set_defaults(fn=_adopt)
    r = sub.add_parser("runs", help="list the study's runs at every scale and their status")
    r.add_argument("--scale", choices=SCALES, default=None, help="only this scale")
    r.set_defaults(fn=_runs)
    rep = sub.add_parser(
        "report",
        help="run the notebooks and build the HTML report",
        description="Execute notebooks/NN_*.ipynb with papermill and write one HTML page per notebook, "
        "reports/index.html and reports/report.json (see icl/report/). Exit status: 0 all "
        "passed, 1 a notebook failed, 2 bad input.",
    )
    rep.add_argument(
        "--params",
        metavar="FILE.yaml",
        default=None,
        help="YAML parameters: {all: {...}, '01': {...}} (keys: 'all' or a notebook number)",
    )
    rep.add_argument("--only", metavar="NN,NN", default=None, help="only these notebook numbers, e.g. 01,04")
    rep.add_argument("--out", metavar="DIR", default=None, help="report folder (default reports/)")
    rep.add_argument("--show-code", action="store_true", help="show code cells in the HTML pages")
    rep.add_argument(
        "--no-screenshot",
        action="store_true",
        help="do not refresh index.png (taken in headless Chromium when installed)",
    )
    rep.add_argument(
        "--in-place",
        action="store_true",
        help="re-execute the notebooks over themselves (nbval references); no HTML",
    )
    rep.add_argument(
        "--timeout",
        type=_positive_int,
        default=1800,
        metavar="SECONDS",
        help="per-cell execution timeout (default 1800)",
    )
    rep.add_argument(
        "--readme-table",
        action="store_true",
        help="print the README's results table from report.json (runs nothing)",
    )
    rep.add_argument(
        "--update-readme",
        action="store_true",
        help="write that table into README.md between its results markers (runs nothing)",
    )
    rep.set_defaults(fn=_report)
    b = sub.add_parser(
        "bench",
        description=bench.DESCRIPTION,
        help="time training, scaling and baselines; write reports/benchmarks.{md,json} (see icl/bench/)",
    )
    bench.add_arguments(b).set_defaults(fn=bench.command)  # its options are the bench package's
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())

"""Several runs trained side by side on one machine: the prepared command for a lent GPU.

``python -m icl train-many SCALE --runs A,B,... --device cuda --minutes M --bundle DIR``
starts one ``python -m icl train RUN`` process per run, all at once, each with
``--max-minutes M`` (so each pauses with a checkpoint and exits by itself), shows one
progress line (every run's step) every ``report_every`` seconds, and ends with a table of
steps trained and steps/s per run (wall time, start-up included). Every run resumes exactly
where it stood (its own resumable state), so a short window on a lent machine is spent
training and the next window, or this machine, carries on. With ``bundle`` each run folder is packed into
``DIR/SCALE.RUN.tar`` beside a ``train-many.json`` summary (one file per run: a lent
machine returns at most 8 files), and ``python -m icl adopt DIR`` on this machine puts
them in place, only where they are further along than the local runs.

One process per run, not models stacked with ``torch.func``: stacking ran at 0.85x of
sequential runs on this project's CPU (``reports/benchmarks.md``) and has not been measured
on a GPU; separate processes need no new code path and share a GPU well when each model is
small. A mixture run that has not started is forked first (:func:`icl.forks.fork`) from
its specialist's, or a sibling's, state if that is at or before the run's weight-curriculum
hold, which saves those steps exactly; otherwise it trains from scratch (the same result).
Nothing here needs a GPU: with ``device="cpu"`` the same command runs (and is tested) here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .checkpoint import CheckpointError, atomic_write_text
from .config import ROOT, RunConfig, check_run_names, get_run_config, run_names, scale_dir
from .forks import fork, fork_sources
from .run_files import HEADER_FILE, RUN_FILES
from .run_folder import Fork, RunFolder, plan_start
from .step import keep_implementation
from .train import COMPILE_MODES

__all__ = [
    "RunReport",
    "STATE_LIMIT_MIB",
    "MAX_BUNDLED_RUNS",
    "adopt",
    "prepare_forks",
    "summary",
    "train_many",
]

# the most a run's resumable state may weigh to come back from a lent machine with the others
STATE_LIMIT_MIB = 16.0
# a lent machine returns at most 8 files: one tar per run and the summary
MAX_BUNDLED_RUNS = 7
# after its --max-minutes a run has this long to checkpoint and exit before it is stopped (start-up,
# compiling)
GRACE_SECONDS = 300.0


@dataclass(frozen=True)
class RunReport:
    """One run's share of a side-by-side session."""

    run: str
    start_step: int
    end_step: int
    total_steps: int
    seconds: float
    returncode: int
    state_mib: float  # size of its resumable state (a finished run keeps it too); 0 if it has none
    stopped: bool = False  # stopped by a signal passed on to it (or the deadline): checkpointed, not failed

    @property
    def steps_per_second(self) -> float:
        return (self.end_step - self.start_step) / self.seconds if self.seconds > 0 else 0.0

    @property
    def status(self) -> str:
        if self.stopped and self.end_step < self.total_steps:
            return "stopped (checkpointed)"
        if self.returncode != 0:
            return f"failed (exit {self.returncode})"
        return "finished" if self.end_step >= self.total_steps else "paused"


def prepare_forks(scale: str, names: list[str], runs_dir: Path, steps: int | None = None, say=print) -> None:
    """Fork every not-yet-started mixture run of ``names`` where that is exact and saves steps.

    The source is the run's specialist (:func:`icl.forks.fork_source`) or a sibling mixture
    run, taken from ``runs_dir``, whose state is past step 0 and not past the hold
    (:func:`icl.run_folder.plan_start`); a run with neither starts from scratch when launched.
    ``steps`` is the step override the runs will be launched with (the fork must see the same
    config).
    """
    for name in names:
        folder = RunFolder.of(name, root=runs_dir)
        cfg = get_run_config(name, scale)
        if steps is not None:
            cfg = cfg.with_overrides(steps=steps)
        plan = plan_start(cfg, folder, fork_sources(cfg, lambda n: RunFolder.of(n, root=runs_dir).path))
        if not isinstance(plan, Fork):
            continue
        try:
            fork(plan.source, cfg, folder.path)
        except ValueError as e:  # not exact after all (e.g. a step override): from scratch
            say(f"{name}: not forked ({e}); it trains from scratch")
            continue
        say(f"{name}: forked from {RunFolder(plan.source.parent).name} at step {plan.step:,}")


def _command(
    name: str,
    scale: str,
    folder: Path,
    device: str,
    minutes: float,
    threads: int,
    compile: str | None,
    steps: int | None,
) -> list[str]:
    """One run's ``python -m icl train`` command (``compile`` None: the run's own ``train.compile``)."""
    cmd = [
        sys.executable,
        "-m",
        "icl",
        "train",
        name,
        "--scale",
        scale,
        "--out",
        str(folder),
        "--device",
        device,
        "--max-minutes",
        f"{minutes:g}",
        "--threads",
        str(threads),
        "--no-progress",
    ]
    cmd += ["--compile", compile] if compile is not None else []
    return cmd + (["--steps", str(steps)] if steps is not None else [])


def _relay(proc: subprocess.Popen, name: str, say) -> None:
    """Print a child's output lines, each prefixed with its run's name."""
    for line in proc.stdout:
        say(f"[{name}] {line.rstrip()}")


# long: launch, watch and report the side-by-side processes, one sequence
def train_many(
    scale: str,
    names: list[str],
    device: str = "cpu",
    minutes: float = 8.0,
    runs_dir: Path | None = None,
    threads: int | None = None,
    compile: str | None = None,
    steps: int | None = None,
    bundle: Path | None = None,
    report_every: float = 60.0,
    say=print,
) -> list[RunReport]:
    """Train ``names`` of ``scale`` side by side for at most ``minutes`` each; one report per run.

    ``threads`` is each process's CPU thread count (default: the machine's cores shared out,
    at least 1). ``compile`` is every run's torch.compile setting for this session (None: each
    run's own ``train.compile``, the presets' ``auto``).
    ``steps`` overrides every run's step count (tests; the configs then differ
    from the study's, so use a ``runs_dir`` of their own). Returns after every process has
    exited; a run that failed has a non-zero ``returncode`` in its report (its last
    checkpoint is kept, as always).
    """
    names = _checked(scale, names, device, compile, minutes, bundle)
    runs_dir = Path(runs_dir) if runs_dir is not None else scale_dir(scale)
    folders = {n: RunFolder.of(n, root=runs_dir) for n in names}
    threads = threads or max(1, (os.cpu_count() or 1) // len(names))
    prepare_forks(scale, names, runs_dir, steps, say)
    starts = {n: folders[n].step() for n in names}
    totals = {
        n: (
            get_run_config(n, scale).with_overrides(steps=steps) if steps else get_run_config(n, scale)
        ).train.steps
        for n in names
    }
    say(
        f"{scale}: {len(names)} run(s) side by side on {device}, {threads} thread(s) each, up to {minutes:g} "
        f"min, compile {compile or 'as each run says (train.compile)'}"
    )
    t0 = time.time()
    procs, relays = _launch(
        {n: _command(n, scale, folders[n].path, device, minutes, threads, compile, steps) for n in names}, say
    )
    progress = lambda: "  ".join(f"{n} {folders[n].step():,}/{totals[n]:,}" for n in names)  # noqa: E731
    ended, stopped = _watch(procs, t0, t0 + 60 * minutes + GRACE_SECONDS, report_every, progress, say)
    for r in relays:
        r.join(timeout=5)
    reports = [
        RunReport(
            n,
            starts[n],
            folders[n].step(),
            totals[n],
            round(ended[n], 1),
            procs[n].returncode,
            _state_mib(folders[n]),
            stopped=n in stopped,
        )
        for n in names
    ]
    for line in summary(reports):
        say(line)
    if bundle is not None:
        _bundle(Path(bundle), scale, runs_dir, reports, device, compile, threads)
        say(
            f"bundled into {bundle}: one {scale}.RUN.tar per run; on the other machine: "
            "python -m icl adopt DIR"
        )
    return reports


def _checked(
    scale: str, names: list[str], device: str, compile: str | None, minutes: float, bundle: Path | None
) -> list[str]:
    """The run names, once every argument of :func:`train_many` is valid (nothing has started)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"--device cuda: no CUDA device here (torch {torch.__version__}); use --device cpu "
            "or a machine with a GPU"
        )
    names = check_run_names(scale, names)
    if compile is not None and compile not in COMPILE_MODES:
        raise ValueError(f"compile={compile!r} is not one of {', '.join(COMPILE_MODES)}")
    if not minutes > 0:
        raise ValueError(f"minutes={minutes!r} must be a positive number")
    if bundle is not None and len(names) > MAX_BUNDLED_RUNS:
        raise ValueError(
            f"{len(names)} runs with a bundle: at most {MAX_BUNDLED_RUNS} (a lent machine "
            f"returns 8 files: one tar per run and the summary)"
        )
    return names


def _launch(
    commands: dict[str, list[str]], say
) -> tuple[dict[str, subprocess.Popen], list[threading.Thread]]:
    """One process per run (its output relayed, prefixed with its name): (processes, relay threads)."""
    env = {
        **os.environ,
        "TQDM_DISABLE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    procs, relays = {}, []
    for n, cmd in commands.items():
        procs[n] = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        relays.append(threading.Thread(target=_relay, args=(procs[n], n, say), daemon=True))
        relays[-1].start()
    return procs, relays


def _watch(
    procs: dict[str, subprocess.Popen],
    t0: float,
    deadline: float,
    report_every: float,
    progress: Callable[[], str],
    say,
) -> tuple[dict[str, float], set[str]]:
    """Wait for every process: (seconds from ``t0`` to each one's end, those stopped by a signal).

    SIGTERM or Ctrl-C of this process reaches every run, which checkpoints and exits; then the report.
    A run still alive at ``deadline`` (its own --max-minutes and a grace) is stopped the same way, then
    killed a minute later. Every ``report_every`` seconds one line says each run's step (``progress()``).
    """
    ended: dict[str, float] = {}
    stopped: set[str] = set()

    def stop(names_: list[str], sig: int = signal.SIGTERM) -> None:
        for n in names_:
            if procs[n].poll() is None:
                stopped.add(n)
                procs[n].send_signal(sig)

    handler = lambda *_: stop(list(procs))  # noqa: E731
    old_handlers = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            old_handlers[sig] = signal.signal(sig, handler)
        except ValueError:  # not in the main thread
            pass
    last = t0
    try:
        while len(ended) < len(procs):
            time.sleep(0.2)
            now = time.time()
            for n, p in procs.items():
                if n not in ended and p.poll() is not None:
                    ended[n] = now - t0
            late = [n for n in procs if n not in ended]
            if late and now > deadline:
                stop(late, signal.SIGTERM if now < deadline + 60 else signal.SIGKILL)
            if now - last >= report_every and late:
                last = now
                say(f"  {progress()}  ({(now - t0) / 60:.1f} min)")
    finally:
        for sig, old in old_handlers.items():
            signal.signal(sig, old)
    return ended, stopped


def _state_mib(folder: RunFolder) -> float:
    """The size of a run's resumable state in MiB (a finished run keeps it too); 0 if it has none."""
    state = folder.state_path
    return round(state.stat().st_size / 2**20, 2) if state.exists() else 0.0


def summary(reports: list[RunReport]) -> list[str]:
    """The closing table: steps trained and steps/s per run, and the state size check."""
    lines = [
        f"{'run':<22} {'from':>8} {'to':>8} {'of':>8} {'steps/s':>8} {'state MiB':>9}  status"
        "   (steps/s over the wall time, start-up included)"
    ]
    for r in reports:
        flag = f"  (over the {STATE_LIMIT_MIB:g} MiB return limit)" if r.state_mib > STATE_LIMIT_MIB else ""
        lines.append(
            f"{r.run:<22} {r.start_step:>8,} {r.end_step:>8,} {r.total_steps:>8,} "
            f"{r.steps_per_second:>8.1f} {r.state_mib:>9.2f}  {r.status}{flag}"
        )
    return lines


def _bundle(
    bundle: Path,
    scale: str,
    runs_dir: Path,
    reports: list[RunReport],
    device: str,
    compile: str | None,
    threads: int,
) -> None:
    """One ``SCALE.RUN.tar`` per run that holds anything, and ``train-many.json``, the summary.

    One file per run because a lent machine returns few files (at most 8, 16 MiB each); the
    tar's own run header says which run it holds (:func:`adopt` reads it, not the file name).
    Each tar is written under a temporary name and renamed when complete.
    """
    bundle.mkdir(parents=True, exist_ok=True)
    for r in reports:
        folder = RunFolder.of(r.run, root=runs_dir)
        if not folder.holds_run():  # died before its first checkpoint: nothing to bring back
            continue
        tmp = bundle / f".{scale}.{r.run}.tar.tmp"
        with tarfile.open(tmp, "w") as tar:
            for f in RUN_FILES:
                if (folder.path / f).exists():
                    tar.add(folder.path / f, arcname=f)
        os.replace(tmp, bundle / f"{scale}.{r.run}.tar")
    info = {
        "scale": scale,
        "device": device,
        "compile": compile or "train.compile",
        "threads_per_run": threads,
        "runs": [
            {**asdict(r), "steps_per_second": round(r.steps_per_second, 2), "status": r.status}
            for r in reports
        ],
    }
    atomic_write_text(bundle / "train-many.json", json.dumps(info, indent=2))


def _unpack(path: Path, runs_root: Path | None) -> tuple[RunConfig, RunFolder, RunFolder]:
    """Check one bundle tar and extract it beside its run folder: (config, temporary folder, run folder)."""
    from .config import SCALES

    with tarfile.open(path) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        plain = all(n in RUN_FILES and m.isfile() for n, m in zip(names, members))
        if HEADER_FILE not in names or not plain:
            raise ValueError(
                f"{path.name}: not a run bundle (it holds {', '.join(names) or 'nothing'}; "
                f"allowed: {', '.join(RUN_FILES)}, {HEADER_FILE} among them)"
            )
        info = json.loads(tar.extractfile(HEADER_FILE).read())
        cfg = RunConfig.from_dict(info["config"])
        if cfg.scale not in SCALES or cfg.name not in run_names(cfg.scale):
            raise ValueError(f"{path.name}: run {cfg.name!r} at scale {cfg.scale!r} is not a study run")
        # the run's own implementation switches (fused AdamW, compile) may predate the preset's
        if cfg.to_dict() != keep_implementation(cfg, get_run_config(cfg.name, cfg.scale)).to_dict():
            raise ValueError(
                f"{path.name}: {cfg.scale}/{cfg.name} was trained with another config than the "
                f"study's; adopt it by hand into a folder of its own"
            )
        dest = RunFolder.of(cfg.name, cfg.scale, None if runs_root is None else Path(runs_root) / cfg.scale)
        tmp = RunFolder(dest.path.parent / f".adopt-{cfg.name}")
        shutil.rmtree(tmp.path, ignore_errors=True)
        tmp.path.mkdir(parents=True)
        for m in members:  # plain files with plain names only (checked above)
            (tmp.path / m.name).write_bytes(tar.extractfile(m).read())
    return cfg, tmp, dest


def adopt(bundle: Path, runs_root: Path | None = None, say=print) -> tuple[list[str], list[str]]:
    """Put the runs of a :func:`train_many` bundle (its ``*.tar`` files) in place of this machine's.

    Each tar's run header names its run and scale; it is adopted only if that config is
    the study's for the run and the bundle's run is further along than the local one, compared
    under the run's lock (a run that is level or behind is left alone, said in one line): good
    local data is never replaced by older data. A tar that cannot be adopted (not a bundle,
    another config, the run in use) is reported and the others are still adopted. Returns
    (adopted as ``scale/run``, problems, one line each); ``runs_root`` replaces ``data/runs``.
    """
    bundle = Path(bundle)
    tars = sorted(bundle.glob("*.tar"))
    if not tars:
        raise ValueError(f"{bundle} holds no run bundle (*.tar files written by train-many --bundle)")
    adopted, problems = [], []
    for path in tars:
        tmp = None
        try:
            cfg, tmp, dest = _unpack(path, runs_root)
            with dest.lock():
                theirs, mine = tmp.step(), dest.step()
                if theirs <= mine:
                    say(
                        f"{cfg.scale}/{cfg.name}: kept this machine's (step {mine:,}; the bundle's is "
                        f"{theirs:,})"
                    )
                    continue
                for f in sorted(os.listdir(tmp.path), key=RUN_FILES.index):
                    os.replace(tmp.path / f, dest.path / f)
            adopted.append(f"{cfg.scale}/{cfg.name}")
            say(f"{cfg.scale}/{cfg.name}: adopted at step {theirs:,} (was {mine:,})")
        except (ValueError, CheckpointError, OSError, tarfile.TarError) as e:
            problems.append(f"{path.name}: {e}" if not str(e).startswith(path.name) else str(e))
            say(f"not adopted: {problems[-1]}")
        finally:
            if tmp is not None:
                shutil.rmtree(tmp.path, ignore_errors=True)
    return adopted, problems

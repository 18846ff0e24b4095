"""Several runs trained side by side on one machine: the prepared command for a lent GPU.

``python -m icl train-many SCALE --runs A,B,... --device cuda --minutes M --bundle DIR``
starts one ``python -m icl train RUN`` process per run, all at once, each with
``--max-minutes M`` (so each pauses with a checkpoint and exits by itself), shows one
progress line (every run's step) every ``report_every`` seconds, and ends with a table of
steps trained and steps/s per run (wall time, start-up included). Every run resumes exactly where it stood (its own
``state.safetensors``), so a short window on a lent machine is spent training and the
next window, or this machine, carries on. With ``bundle`` each run folder is packed into
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
from dataclasses import asdict, dataclass
from pathlib import Path

from .checkpoint import MANIFEST, CheckpointError, atomic_write_text, holds_run, run_lock, state_progress
from .config import ROOT, RunConfig, check_run_names, get_run_config, run_names, scale_dir
from .forks import fork, fork_source, sibling_source
from .step import keep_implementation
from .train import COMPILE_MODES

__all__ = ["RunReport", "STATE_LIMIT_MIB", "MAX_BUNDLED_RUNS", "adopt", "prepare_forks", "summary", "train_many"]

# the most a run's resumable state may weigh to come back from a lent machine with the others
STATE_LIMIT_MIB = 16.0
# a lent machine returns at most 8 files: one tar per run and the summary
MAX_BUNDLED_RUNS = 7
# after its --max-minutes a run has this long to checkpoint and exit before it is stopped (start-up, compiling)
GRACE_SECONDS = 300.0
# the files of a run folder that carry it to another machine (the lock file stays behind), in the order
# adopt moves them in: the state first (a resumed run reads only it), the finished weights and their
# manifest last, so a cut-off adoption never shows a finished run over an older state
RUN_FILES = ("state.safetensors", "config.json", "loss.csv", "eval.csv", "model.safetensors", MANIFEST)


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


def _step(folder: Path) -> int:
    """The step a run folder stands at (its total if finished, 0 if not started)."""
    from .checkpoint import weights_config

    try:
        if (folder / "state.safetensors").exists():
            return state_progress(folder / "state.safetensors")[0]
        if (folder / "model.safetensors").exists():
            return weights_config(folder / "model.safetensors").train.steps
    except CheckpointError:
        pass
    return 0


def prepare_forks(scale: str, names: list[str], runs_dir: Path, steps: int | None = None, say=print) -> None:
    """Fork every not-yet-started mixture run of ``names`` where that is exact and saves steps.

    The source is the run's specialist (:func:`icl.forks.fork_source`) or a sibling mixture
    run, taken from ``runs_dir``, whose state is past step 0 and not past the hold; a run
    with neither starts from scratch when launched. ``steps`` is the step override the
    runs will be launched with (the fork must see the same config).
    """
    for name in names:
        folder = runs_dir / name
        cfg = get_run_config(name, scale)
        if steps is not None:
            cfg = cfg.with_overrides(steps=steps)
        if holds_run(folder) or fork_source(cfg) is None:
            continue
        hold = cfg.curriculum.mix.hold
        for src in (fork_source(cfg), sibling_source(cfg, lambda n: runs_dir / n)):
            state = runs_dir / src / "state.safetensors" if src else None
            if state is None or not state.exists():
                continue
            at = state_progress(state)[0]
            if 0 < at <= hold:
                try:
                    fork(state, cfg, folder)
                except ValueError as e:  # not exact after all (e.g. a step override): from scratch
                    say(f"{name}: not forked ({e}); it trains from scratch")
                    break
                say(f"{name}: forked from {src} at step {at:,}")
                break


def _command(name: str, scale: str, folder: Path, device: str, minutes: float, threads: int,
             compile: str | None, steps: int | None) -> list[str]:
    """One run's ``python -m icl train`` command (``compile`` None: the run's own ``train.compile``)."""
    cmd = [sys.executable, "-m", "icl", "train", name, "--scale", scale, "--out", str(folder), "--device", device,
           "--max-minutes", f"{minutes:g}", "--threads", str(threads), "--no-progress"]
    cmd += ["--compile", compile] if compile is not None else []
    return cmd + (["--steps", str(steps)] if steps is not None else [])


def _relay(proc: subprocess.Popen, name: str, say) -> None:
    """Print a child's output lines, each prefixed with its run's name."""
    for line in proc.stdout:
        say(f"[{name}] {line.rstrip()}")


def train_many(scale: str, names: list[str], device: str = "cpu", minutes: float = 8.0,
               runs_dir: Path | None = None, threads: int | None = None, compile: str | None = None,
               steps: int | None = None, bundle: Path | None = None, report_every: float = 60.0,
               say=print) -> list[RunReport]:
    """Train ``names`` of ``scale`` side by side for at most ``minutes`` each; one report per run.

    ``threads`` is each process's CPU thread count (default: the machine's cores shared out,
    at least 1). ``compile`` is every run's torch.compile setting for this session (None: each
    run's own ``train.compile``, the presets' ``auto``).
    ``steps`` overrides every run's step count (tests; the configs then differ
    from the study's, so use a ``runs_dir`` of their own). Returns after every process has
    exited; a run that failed has a non-zero ``returncode`` in its report (its last
    checkpoint is kept, as always).
    """
    names = check_run_names(scale, names)
    if compile is not None and compile not in COMPILE_MODES:
        raise ValueError(f"compile={compile!r} is not one of {', '.join(COMPILE_MODES)}")
    if not minutes > 0:
        raise ValueError(f"minutes={minutes!r} must be a positive number")
    if bundle is not None and len(names) > MAX_BUNDLED_RUNS:
        raise ValueError(f"{len(names)} runs with a bundle: at most {MAX_BUNDLED_RUNS} (a lent machine returns "
                         f"8 files: one tar per run and the summary)")
    runs_dir = Path(runs_dir) if runs_dir is not None else scale_dir(scale)
    threads = threads or max(1, (os.cpu_count() or 1) // len(names))
    prepare_forks(scale, names, runs_dir, steps, say)
    starts = {n: _step(runs_dir / n) for n in names}
    totals = {n: (get_run_config(n, scale).with_overrides(steps=steps) if steps else get_run_config(n, scale)
                  ).train.steps for n in names}
    say(f"{scale}: {len(names)} run(s) side by side on {device}, {threads} thread(s) each, up to {minutes:g} min, "
        f"compile {compile or 'as each run says (train.compile)'}")
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    t0 = time.time()
    procs, relays, ended = {}, [], {}
    for n in names:
        procs[n] = subprocess.Popen(_command(n, scale, runs_dir / n, device, minutes, threads, compile, steps),
                                    cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        relays.append(threading.Thread(target=_relay, args=(procs[n], n, say), daemon=True))
        relays[-1].start()
    # SIGTERM or Ctrl-C of this process reaches every run, which checkpoints and exits; then the report.
    # A run still alive GRACE_SECONDS after its own --max-minutes is stopped the same way, then killed.
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
    deadline = t0 + 60 * minutes + GRACE_SECONDS
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
                say("  " + "  ".join(f"{n} {_step(runs_dir / n):,}/{totals[n]:,}" for n in names)
                    + f"  ({(now - t0) / 60:.1f} min)")
    finally:
        for sig, old in old_handlers.items():
            signal.signal(sig, old)
    for r in relays:
        r.join(timeout=5)
    reports = []
    for n in names:
        state = runs_dir / n / "state.safetensors"
        reports.append(RunReport(n, starts[n], _step(runs_dir / n), totals[n], round(ended[n], 1),
                                 procs[n].returncode, round(state.stat().st_size / 2**20, 2) if state.exists() else 0.0,
                                 stopped=n in stopped))
    for line in summary(reports):
        say(line)
    if bundle is not None:
        _bundle(Path(bundle), scale, runs_dir, reports, device, compile, threads)
        say(f"bundled into {bundle}: one {scale}.RUN.tar per run; on the other machine: python -m icl adopt DIR")
    return reports


def summary(reports: list[RunReport]) -> list[str]:
    """The closing table: steps trained and steps/s per run, and the state size check."""
    lines = [f"{'run':<22} {'from':>8} {'to':>8} {'of':>8} {'steps/s':>8} {'state MiB':>9}  status"
             "   (steps/s over the wall time, start-up included)"]
    for r in reports:
        flag = f"  (over the {STATE_LIMIT_MIB:g} MiB return limit)" if r.state_mib > STATE_LIMIT_MIB else ""
        lines.append(f"{r.run:<22} {r.start_step:>8,} {r.end_step:>8,} {r.total_steps:>8,} "
                     f"{r.steps_per_second:>8.1f} {r.state_mib:>9.2f}  {r.status}{flag}")
    return lines


def _bundle(bundle: Path, scale: str, runs_dir: Path, reports: list[RunReport], device: str,
            compile: str | None, threads: int) -> None:
    """One ``SCALE.RUN.tar`` per run that holds anything, and ``train-many.json``, the summary.

    One file per run because a lent machine returns few files (at most 8, 16 MiB each); the
    tar's own ``config.json`` says which run it holds (:func:`adopt` reads it, not the file
    name). Each tar is written under a temporary name and renamed when complete.
    """
    bundle.mkdir(parents=True, exist_ok=True)
    for r in reports:
        folder = runs_dir / r.run
        if not holds_run(folder):  # died before its first checkpoint: nothing to bring back
            continue
        tmp = bundle / f".{scale}.{r.run}.tar.tmp"
        with tarfile.open(tmp, "w") as tar:
            for f in RUN_FILES:
                if (folder / f).exists():
                    tar.add(folder / f, arcname=f)
        os.replace(tmp, bundle / f"{scale}.{r.run}.tar")
    info = {"scale": scale, "device": device, "compile": compile or "train.compile",
            "threads_per_run": threads,
            "runs": [{**asdict(r), "steps_per_second": round(r.steps_per_second, 2), "status": r.status}
                     for r in reports]}
    atomic_write_text(bundle / "train-many.json", json.dumps(info, indent=2))


def _unpack(path: Path, runs_root: Path | None) -> tuple[RunConfig, Path, Path]:
    """Check one bundle tar and extract it beside its run folder: (config, temporary folder, run folder)."""
    from .config import SCALES

    with tarfile.open(path) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        if "config.json" not in names or any(n not in RUN_FILES or not m.isfile() for n, m in zip(names, members)):
            raise ValueError(f"{path.name}: not a run bundle (it holds {', '.join(names) or 'nothing'}; "
                             f"allowed: {', '.join(RUN_FILES)}, config.json among them)")
        info = json.loads(tar.extractfile("config.json").read())
        cfg = RunConfig.from_dict(info["config"])
        if cfg.scale not in SCALES or cfg.name not in run_names(cfg.scale):
            raise ValueError(f"{path.name}: run {cfg.name!r} at scale {cfg.scale!r} is not a study run")
        # the run's own implementation switches (fused AdamW, compile) may predate the preset's
        if cfg.to_dict() != keep_implementation(cfg, get_run_config(cfg.name, cfg.scale)).to_dict():
            raise ValueError(f"{path.name}: {cfg.scale}/{cfg.name} was trained with another config than the "
                             f"study's; adopt it by hand into a folder of its own")
        dest = (Path(runs_root) / cfg.scale if runs_root is not None else scale_dir(cfg.scale)) / cfg.name
        tmp = dest.parent / f".adopt-{cfg.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for m in members:  # plain files with plain names only (checked above)
            (tmp / m.name).write_bytes(tar.extractfile(m).read())
    return cfg, tmp, dest


def adopt(bundle: Path, runs_root: Path | None = None, say=print) -> tuple[list[str], list[str]]:
    """Put the runs of a :func:`train_many` bundle (its ``*.tar`` files) in place of this machine's.

    Each tar's ``config.json`` names its run and scale; it is adopted only if that config is
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
            with run_lock(dest):
                theirs, mine = _step(tmp), _step(dest)
                if theirs <= mine:
                    say(f"{cfg.scale}/{cfg.name}: kept this machine's (step {mine:,}; the bundle's is {theirs:,})")
                    continue
                for f in sorted(os.listdir(tmp), key=RUN_FILES.index):
                    os.replace(tmp / f, dest / f)
            adopted.append(f"{cfg.scale}/{cfg.name}")
            say(f"{cfg.scale}/{cfg.name}: adopted at step {theirs:,} (was {mine:,})")
        except (ValueError, CheckpointError, OSError, tarfile.TarError) as e:
            problems.append(f"{path.name}: {e}" if not str(e).startswith(path.name) else str(e))
            say(f"not adopted: {problems[-1]}")
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    return adopted, problems

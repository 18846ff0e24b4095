"""Several runs trained side by side on one machine: the prepared command for a lent GPU.

``python -m icl train-many SCALE --runs A,B,... --device cuda --minutes M --bundle DIR``
starts one ``python -m icl train RUN`` process per run, all at once, each with
``--max-minutes M`` (so each pauses with a checkpoint and exits by itself), shows one
progress line per run every ``report_every`` seconds, and ends with a table of steps
trained and steps/s per run. Every run resumes exactly where it stood (its own
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
from .config import ROOT, RunConfig, get_run_config, run_names, scale_dir
from .forks import fork, fork_source, sibling_source
from .train import COMPILE_MODES

__all__ = ["RunReport", "STATE_LIMIT_MIB", "adopt", "prepare_forks", "summary", "train_many"]

# the most a run's resumable state may weigh to come back from a lent machine with the others
STATE_LIMIT_MIB = 16.0
# the files of a run folder that carry it to another machine (the lock file stays behind)
RUN_FILES = ("state.safetensors", "model.safetensors", "config.json", "loss.csv", "eval.csv", MANIFEST)


@dataclass(frozen=True)
class RunReport:
    """One run's share of a side-by-side session."""

    run: str
    start_step: int
    end_step: int
    total_steps: int
    seconds: float
    returncode: int
    state_mib: float  # size of its resumable state (0 once finished: the weights are kept instead)

    @property
    def steps_per_second(self) -> float:
        return (self.end_step - self.start_step) / self.seconds if self.seconds > 0 else 0.0

    @property
    def status(self) -> str:
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


def _command(name: str, scale: str, folder: Path, device: str, minutes: float, threads: int, compile: str,
             steps: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "icl", "train", name, "--scale", scale, "--out", str(folder), "--device", device,
           "--max-minutes", f"{minutes:g}", "--threads", str(threads), "--no-progress", "--compile", compile]
    return cmd + (["--steps", str(steps)] if steps is not None else [])


def _relay(proc: subprocess.Popen, name: str, say) -> None:
    """Print a child's output lines, each prefixed with its run's name."""
    for line in proc.stdout:
        say(f"[{name}] {line.rstrip()}")


def train_many(scale: str, names: list[str], device: str = "cpu", minutes: float = 8.0,
               runs_dir: Path | None = None, threads: int | None = None, compile: str = "off",
               steps: int | None = None, bundle: Path | None = None, report_every: float = 60.0,
               say=print) -> list[RunReport]:
    """Train ``names`` of ``scale`` side by side for at most ``minutes`` each; one report per run.

    ``threads`` is each process's CPU thread count (default: the machine's cores shared out,
    at least 1). ``steps`` overrides every run's step count (tests; the configs then differ
    from the study's, so use a ``runs_dir`` of their own). Returns after every process has
    exited; a run that failed has a non-zero ``returncode`` in its report (its last
    checkpoint is kept, as always).
    """
    if not names:
        raise ValueError(f"no runs given; the runs of {scale}: {', '.join(run_names(scale))}")
    bad = [n for n in names if n not in run_names(scale)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a run of the {scale} scale; its runs: {', '.join(run_names(scale))}")
    if len(set(names)) != len(names):
        raise ValueError(f"a run is named twice in {', '.join(names)}: each run has one writer")
    if compile not in COMPILE_MODES:
        raise ValueError(f"compile={compile!r} is not one of {', '.join(COMPILE_MODES)}")
    if not minutes > 0:
        raise ValueError(f"minutes={minutes!r} must be a positive number")
    runs_dir = Path(runs_dir) if runs_dir is not None else scale_dir(scale)
    threads = threads or max(1, (os.cpu_count() or 1) // len(names))
    prepare_forks(scale, names, runs_dir, steps, say)
    starts = {n: _step(runs_dir / n) for n in names}
    totals = {n: (get_run_config(n, scale).with_overrides(steps=steps) if steps else get_run_config(n, scale)
                  ).train.steps for n in names}
    say(f"{scale}: {len(names)} run(s) side by side on {device}, {threads} thread(s) each, up to {minutes:g} min, "
        f"compile {compile}")
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    t0 = time.time()
    procs, relays, ended = {}, [], {}
    for n in names:
        procs[n] = subprocess.Popen(_command(n, scale, runs_dir / n, device, minutes, threads, compile, steps),
                                    cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        relays.append(threading.Thread(target=_relay, args=(procs[n], n, say), daemon=True))
        relays[-1].start()
    # SIGTERM (or Ctrl-C) of this process reaches every run, which checkpoints and exits; then the report
    forward = lambda *_: [p.send_signal(signal.SIGTERM) for p in procs.values() if p.poll() is None]  # noqa: E731
    try:
        old_handler = signal.signal(signal.SIGTERM, forward)
    except ValueError:  # not in the main thread
        old_handler = None
    last = t0
    try:
        while len(ended) < len(procs):
            try:
                time.sleep(0.2)
            except KeyboardInterrupt:
                forward()
            for n, p in procs.items():
                if n not in ended and p.poll() is not None:
                    ended[n] = time.time() - t0
            if time.time() - last >= report_every and len(ended) < len(procs):
                last = time.time()
                say("  " + "  ".join(f"{n} {_step(runs_dir / n):,}/{totals[n]:,}" for n in names)
                    + f"  ({(last - t0) / 60:.1f} min)")
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
    for r in relays:
        r.join(timeout=5)
    reports = []
    for n in names:
        state = runs_dir / n / "state.safetensors"
        reports.append(RunReport(n, starts[n], _step(runs_dir / n), totals[n], round(ended[n], 1),
                                 procs[n].returncode, round(state.stat().st_size / 2**20, 2) if state.exists() else 0.0))
    for line in summary(reports):
        say(line)
    if bundle is not None:
        _bundle(Path(bundle), scale, runs_dir, reports, device, compile, threads)
        say(f"bundled into {bundle}: one {scale}.RUN.tar per run; on the other machine: python -m icl adopt DIR")
    return reports


def summary(reports: list[RunReport]) -> list[str]:
    """The closing table: steps trained and steps/s per run, and the state size check."""
    lines = [f"{'run':<22} {'from':>8} {'to':>8} {'of':>8} {'steps/s':>8} {'state MiB':>9}  status"]
    for r in reports:
        flag = "  (over the 16 MiB return limit)" if r.state_mib > STATE_LIMIT_MIB else ""
        lines.append(f"{r.run:<22} {r.start_step:>8,} {r.end_step:>8,} {r.total_steps:>8,} "
                     f"{r.steps_per_second:>8.1f} {r.state_mib:>9.2f}  {r.status}{flag}")
    return lines


def _bundle(bundle: Path, scale: str, runs_dir: Path, reports: list[RunReport], device: str, compile: str,
            threads: int) -> None:
    """One ``SCALE.RUN.tar`` per run (its carrying files) and ``train-many.json``, the summary.

    One file per run because a lent machine returns few files (at most 8, 16 MiB each); the
    tar's own ``config.json`` says which run it holds (:func:`adopt` reads it, not the name).
    """
    bundle.mkdir(parents=True, exist_ok=True)
    for r in reports:
        with tarfile.open(bundle / f"{scale}.{r.run}.tar", "w") as tar:
            for f in RUN_FILES:
                if (runs_dir / r.run / f).exists():
                    tar.add(runs_dir / r.run / f, arcname=f)
    info = {"scale": scale, "device": device, "compile": compile, "threads_per_run": threads,
            "runs": [{**asdict(r), "steps_per_second": round(r.steps_per_second, 2), "status": r.status}
                     for r in reports]}
    atomic_write_text(bundle / "train-many.json", json.dumps(info, indent=2))


def adopt(bundle: Path, runs_root: Path | None = None, say=print) -> list[str]:
    """Copy the runs of a :func:`train_many` bundle (its ``*.tar`` files) over this machine's run folders.

    Each tar's ``config.json`` names its run and scale; it is adopted only if that config is
    the study's for the run and the bundle's run is further along than the local one (a run
    that is level or behind is left alone, said in one line): good local data is never
    replaced by older data. Files are extracted beside the folder and moved in under the
    run's lock, the resumable state last. ``runs_root`` replaces ``data/runs`` (tests).
    Returns the adopted runs as ``scale/run``.
    """
    from .config import SCALES

    bundle = Path(bundle)
    tars = sorted(bundle.glob("*.tar"))
    if not tars:
        raise ValueError(f"{bundle} holds no run bundle (*.tar files written by train-many --bundle)")
    adopted = []
    for path in tars:
        with tarfile.open(path) as tar:
            names = tar.getnames()
            if "config.json" not in names or any(n not in RUN_FILES for n in names):
                raise ValueError(f"{path.name}: not a run bundle (it holds {', '.join(names)}; "
                                 f"allowed: {', '.join(RUN_FILES)})")
            info = json.loads(tar.extractfile("config.json").read())
            cfg = RunConfig.from_dict(info["config"])
            if cfg.scale not in SCALES or cfg.name not in run_names(cfg.scale):
                raise ValueError(f"{path.name}: run {cfg.name!r} at scale {cfg.scale!r} is not a study run")
            if cfg.to_dict() != get_run_config(cfg.name, cfg.scale).to_dict():
                raise ValueError(f"{path.name}: {cfg.scale}/{cfg.name} was trained with another config than the "
                                 f"study's; adopt it by hand into a folder of its own")
            dest = (Path(runs_root) / cfg.scale if runs_root is not None else scale_dir(cfg.scale)) / cfg.name
            tmp = dest.parent / f".adopt-{cfg.name}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            tar.extractall(tmp, filter="data")
        theirs, mine = _step(tmp), _step(dest)
        if theirs <= mine:
            shutil.rmtree(tmp)
            say(f"{cfg.scale}/{cfg.name}: kept this machine's (step {mine:,}; the bundle's is {theirs:,})")
            continue
        with run_lock(dest):
            order = sorted(os.listdir(tmp), key=lambda f: f == "state.safetensors")  # the state last
            for f in order:  # (a finished local run is never behind, so no stale weights stay beside these)
                os.replace(tmp / f, dest / f)
        tmp.rmdir()
        adopted.append(f"{cfg.scale}/{cfg.name}")
        say(f"{cfg.scale}/{cfg.name}: adopted at step {theirs:,} (was {mine:,})")
    return adopted

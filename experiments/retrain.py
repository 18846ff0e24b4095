"""The retraining of chapters 3-5's cpu runs with the emergence log on (issue 40).

This module owns the retraining folders (``data/sizing/cpu-retrain/<run>/`` by default) and how they
are read. The committed runs of chapters 3-5 (``line-only``, ``sine-only``, ``line-sine-w0.50``;
``linear-only``, ``relu-only``, ``linear-relu-w0.50``) trained 50,000 steps before the emergence log
existed, and the chapter-4 probe (``data/sizing/chapter4-probe/``) found the 1-D ones still learning
then. Each successor is the run's own config (``python -m icl train RUN --scale cpu``) with one change,
its step count: it starts with :data:`START_STEPS`, so that its cosine decay (the last
``train.decay_fraction`` of the steps) lies far ahead and its learning rate holds at the preset's peak
while the log is watched. Once the log is flat (:func:`icl.emergence.is_flat` on the classes the run
trains on: each of their logged errors' mean over the last 10k steps within 0.01 of its mean over the
10k before; the C1 search's rule, fixed for this retraining on 2026-12-05 before any log here spanned
20k steps), the run is given the smallest step count whose decay begins at its current step
(:func:`decay_from`; a state may take a new step count before its decay began and then ends
bit-identical to a run trained with that count from the start: ``docs/training.md``). A finished
successor replaces the committed run in ``data/runs/cpu/`` and its step count is entered as the run's own in
``data/runs/cpu/protocol.json`` (:func:`icl.config.cpu_protocol`), which the run's config then reads.

    python -m experiments.retrain status data/sizing/cpu-retrain  # step, flat?, the command to decay
    python -m experiments.retrain figure data/sizing/cpu-retrain  # -> emergence-<family>.png
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from icl.checkpoint import CheckpointError, atomic_write_text, state_progress
from icl.config import DATA, RunConfig, cpu_protocol
from icl.emergence import FLAT_WINDOW, column, family, is_flat, read_eval_csv
from icl.run_folder import RunFolder

__all__ = ["RETRAIN_DIR", "RUNS", "START_STEPS", "decay_from", "status", "markdown", "figure", "main"]

RETRAIN_DIR = DATA / "sizing" / "cpu-retrain"
RUNS = ("line-only", "sine-only", "line-sine-w0.50", "linear-only", "relu-only", "linear-relu-w0.50")
START_STEPS = 300_000  # the decay (last 20%) begins at 240,000: far past where the logs should flatten


def decay_from(step: int, decay_fraction: float, round_to: int = 1000) -> int:
    """The smallest step count (a multiple of ``round_to``) whose decay, the last ``decay_fraction`` of the
    steps, begins at or after ``step``: the count a state at ``step`` is given once its log is flat. The
    decay begins where :meth:`icl.config.TrainConfig.lr_at` puts it, ``int(steps * (1 - decay_fraction))``
    (truncated, not rounded: icl refuses the new count if its learning rate differs at any step up to
    ``step``, :func:`icl.train._same_run`)."""
    n = max(round_to, math.ceil(step / (1 - decay_fraction) / round_to) * round_to)
    while int(n * (1 - decay_fraction)) < step:  # float error at the boundary (e.g. 11000 * 0.7 < 7700)
        n += round_to
    return n


def _runs(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_dir() and RunFolder(p).header_path.exists())


def status(folder: Path = RETRAIN_DIR) -> list[dict]:
    """Each retraining run of ``folder``: its step and step count, its log's last two window means per
    column, whether the log is flat, and the step count that decays it from the later of its last logged
    step and its state's step (a stopped run's state is past its last logged step: the count must be too)."""
    rows = []
    for path in _runs(folder):
        run = RunFolder(path)
        config: RunConfig = run.header_config()
        row = {"run": path.name, "steps": config.train.steps, "family": str(family(config.task))}
        if not run.eval_path.exists():
            rows.append({**row, "step": 0, "flat": None, "windows": {}})
            continue
        log = read_eval_csv(run.eval_path, config)
        end = int(log.steps[-1]) if len(log) else 0
        last = log.steps > end - FLAT_WINDOW
        before = (log.steps > end - 2 * FLAT_WINDOW) & ~last
        windows = {
            column(*key): (float(e[before].mean()) if before.any() else float("nan"), float(e[last].mean()))
            for key, e in log.errors.items()
        }
        at = end
        if run.state_path.exists():
            try:
                at = max(at, state_progress(run.state_path)[0])
            except CheckpointError:  # a state being written right now: the log's step stands
                pass
        decay_start = int(config.train.steps * (1 - config.train.decay_fraction))  # as TrainConfig.lr_at
        own = config.task.classes  # judged on the classes it trains on
        row.update(step=end, flat=is_flat(log, classes=own), windows=windows, decaying=at >= decay_start)
        floor = cpu_protocol().steps  # never fewer steps than the preset's (a run flat early keeps them)
        row["state_step"], row["decay_steps"] = at, max(floor, decay_from(at, config.train.decay_fraction))
        rows.append(row)
    return rows


def markdown(rows: list[dict], folder: Path = RETRAIN_DIR) -> str:
    """The status as text: one block per run, its columns' window means and, once flat and not yet
    decaying, the command that gives it its final step count."""
    out = [f"# Retraining status ({folder}); flat: every own-class column's 10k-step mean moved by < 0.01\n"]
    for r in rows:
        flat = {True: "yes", False: "no", None: "not yet judged (< 20k steps logged)"}[r["flat"]]
        out.append(
            f"## {r['run']} ({r['family']}): logged to step {r['step']:,} of {r['steps']:,}; flat: {flat}"
        )
        for name, (a, b) in r["windows"].items():
            out.append(f"- {name}: {a:.4f} -> {b:.4f} (mean over the 10k before -> the last 10k)")
        if r["flat"] and not r.get("decaying"):
            out.append(
                f"- decay now: stop it (kill -TERM its pid) and rerun this status (the count below is for a "
                f"state at step {r['state_step']:,}; a later state needs a later count), then "
                f"`python -m icl train {r['run']} --scale cpu --steps {r['decay_steps']} "
                f"--out {folder / r['run']} --threads 1`"
            )
        out.append("")
    return "\n".join(out)


def figure(folder: Path = RETRAIN_DIR) -> list[Path]:
    """One emergence figure per family (``emergence-<family>.png`` in ``folder``): each run's log against
    its references (:func:`icl.plots.plot_emergence_references`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from icl.plots import plot_emergence_references

    groups: dict[str, dict[str, Path]] = {}
    for path in _runs(folder):
        groups.setdefault(str(family(RunFolder(path).header_config().task)), {})[path.name] = path
    written = []
    for fam, sources in groups.items():
        # the mixture first: its header fixes the log read (a 1-D mixture's line weight: its Bayes reference)
        ordered = dict(sorted(sources.items(), key=lambda kv: "-w" not in kv[0]))
        fig, _ = plot_emergence_references(ordered)
        if fig is None:
            continue
        fig.suptitle(f"cpu retraining ({fam}): emergence logs against their references", y=1.04)
        out = Path(folder) / f"emergence-{fam}.png"
        tmp = out.with_suffix(".tmp.png")
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(fig)
        tmp.replace(out)
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.retrain", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("status", "figure"))
    parser.add_argument("folder", nargs="?", type=Path, default=RETRAIN_DIR)
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(
            f"error: folder={str(args.folder)!r} is not a directory; give the retraining folder",
            file=sys.stderr,
        )
        return 2
    try:
        if args.command == "status":
            text = markdown(status(args.folder), args.folder)
            print(text)
            atomic_write_text(args.folder / "status.md", text)
        else:
            for path in figure(args.folder):
                print(f"wrote {path}")
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())

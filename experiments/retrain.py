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
``data/runs/cpu/protocol.json`` (:func:`icl.config.cpu_protocol`), which the run's config then reads
(:func:`promote`: the committed run is kept in ``<folder>/replaced/<run>/``, never overwritten).

    python -m experiments.retrain status data/sizing/cpu-retrain  # step, flat?, the command to decay
    python -m experiments.retrain figure data/sizing/cpu-retrain  # -> emergence-<family>.png
    python -m experiments.retrain promote RUN data/sizing/cpu-retrain  # the finished RUN -> data/runs/cpu/
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from icl.checkpoint import CheckpointError, atomic_write_text, state_progress, verify
from icl.config import DATA, RunConfig, TrainConfig, cpu_protocol, get_run_config, run_names
from icl.emergence import column, family, is_flat, read_eval_csv, window_means
from icl.protocol import PROTOCOL_FILE, load_step_protocol
from icl.run_folder import RunFolder

__all__ = [
    "RETRAIN_DIR",
    "COMMITTED_DIR",
    "RUNS",
    "START_STEPS",
    "decay_from",
    "status",
    "markdown",
    "figure",
    "promote",
    "main",
]

RETRAIN_DIR = DATA / "sizing" / "cpu-retrain"
# the committed runs, and their protocol file (icl.config.cpu_protocol's, whatever runs ICL_DATA names)
COMMITTED_DIR = DATA / "runs" / "cpu"
RUNS = ("line-only", "sine-only", "line-sine-w0.50", "linear-only", "relu-only", "linear-relu-w0.50")
START_STEPS = 300_000  # the decay (last 20%) begins at 240,000: far past where the logs should flatten


def decay_from(step: int, train: TrainConfig, round_to: int = 1000) -> int:
    """The smallest step count (a multiple of ``round_to``) under which ``train``'s cosine decay
    (:attr:`icl.config.TrainConfig.decay_start`) begins at or after ``step``: the count a state at ``step``
    is given once its log is flat (icl refuses a new count if its learning rate differs at any step up to
    ``step``, :func:`icl.train._same_run`)."""
    if train.schedule != "cosine":
        raise ValueError(f"train.schedule={train.schedule!r} has no decay to begin; allowed: 'cosine'")
    n = max(round_to, math.ceil(step / (1 - train.decay_fraction) / round_to) * round_to)
    while replace(train, steps=n).decay_start < step:  # float error at the boundary (11000 * 0.7 < 7700)
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
        windows = {column(*key): means for key, means in window_means(log).items()}  # is_flat's two windows
        at = end
        if run.state_path.exists():
            try:
                at = max(at, state_progress(run.state_path)[0])
            except CheckpointError:  # a state being written right now: the log's step stands
                pass
        own = config.task.classes  # judged on the classes it trains on
        counted = config.train.steps != START_STEPS  # given its final count: its decay is scheduled
        row.update(step=end, flat=is_flat(log, classes=own), windows=windows, counted=counted)
        row["decay_start"] = config.train.decay_start
        floor = cpu_protocol().steps  # never fewer steps than the preset's (a run flat early keeps them)
        row["state_step"], row["decay_steps"] = at, max(floor, decay_from(at, config.train))
        rows.append(row)
    return rows


def markdown(rows: list[dict], folder: Path = RETRAIN_DIR) -> str:
    """The status as text: one block per run, its columns' window means and, once flat while it still
    holds :data:`START_STEPS`, the command that gives it its final step count (a run given one says so)."""
    out = [f"# Retraining status ({folder}); flat: every own-class column's 10k-step mean moved by < 0.01\n"]
    if not rows:
        where = COMMITTED_DIR.relative_to(DATA.parent)
        out.append(f"No run is training here: each retrained run was promoted to {where}/ (or none began).\n")
    for r in rows:
        flat = {True: "yes", False: "no", None: "not yet judged (< 20k steps logged)"}[r["flat"]]
        out.append(
            f"## {r['run']} ({r['family']}): logged to step {r['step']:,} of {r['steps']:,}; flat: {flat}"
        )
        for name, (a, b) in r["windows"].items():
            out.append(f"- {name}: {a:.4f} -> {b:.4f} (mean over the 10k before -> the last 10k)")
        if r.get("counted"):
            out.append(f"- given its count: {r['steps']:,} steps, its decay from step {r['decay_start']:,}")
        elif r["flat"]:
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


def _first_difference(found: RunConfig, wanted: RunConfig) -> tuple[str, Any, Any] | None:
    """The first field (dotted, e.g. ``train.lr``) in which ``found`` differs from ``wanted`` other than
    ``train.steps``, with both values; None where they differ in the step count alone."""

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in d.items():
            out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value})
        return out

    a, b = flat(found.to_dict()), flat(wanted.to_dict())
    missing = object()
    for key in [*b, *(k for k in a if k not in b)]:
        if key != "train.steps" and a.get(key, missing) != b.get(key, missing):
            return key, a.get(key, "(none)"), b.get(key, "(none)")
    return None


def _check_manifest(run: str, successor: RunFolder) -> None:
    """The finished successor's manifest (:meth:`icl.run_folder.RunFolder.write_manifest`) lists its weights,
    not its state (which is dropped: a committed run has none), and each file it lists is there and
    unchanged (:func:`icl.checkpoint.verify`)."""
    if successor.manifest_digest(successor.state_path.name) is not None:
        raise ValueError(
            f"run={run!r}: {successor.manifest_path} lists {successor.state_path.name}, which a committed "
            f"run does not keep; allowed: a manifest written by icl's training (the state is never listed)"
        )
    if successor.manifest_digest(successor.weights_path.name) is None:
        raise ValueError(
            f"run={run!r}: {successor.manifest_path} does not list {successor.weights_path.name}"
        )
    for path in (successor.header_path, successor.loss_path, successor.eval_path, successor.weights_path):
        if successor.manifest_digest(path.name) is not None and not path.exists():
            raise ValueError(f"run={run!r}: {path} is listed in the manifest but missing")
        verify(path)


def _require_finished(run: str, successor: RunFolder) -> None:
    """Refuse a successor that has not finished: still training (its state's step named) or no run."""
    if successor.is_finished() and successor.manifest_path.exists():
        return
    if successor.state_path.exists():
        at, total = successor.progress() or (0, 0)
        raise ValueError(
            f"run={run!r}: {successor} is still training (its state at step {at:,} of {total:,}); allowed: "
            f"a successor that has finished training"
        )
    raise ValueError(
        f"run={run!r}: {successor} holds no finished run (no {successor.weights_path.name} or "
        f"{successor.manifest_path.name}); allowed: a successor that has finished training"
    )


def _check_successor(run: str, successor: RunFolder, preset_steps: int) -> int:
    """The step count of ``run``'s finished successor, checked to be promotable: finished with a manifest
    that holds, the registry's config of ``run`` but for its step count, and at least the preset's count."""
    _require_finished(run, successor)
    config = successor.saved_config()
    differs = _first_difference(config, get_run_config(run, "cpu"))
    if differs is not None:
        field, found, wanted = differs
        raise ValueError(
            f"run={run!r}: the successor's {field}={found!r} is not the registry's {wanted!r}; allowed: "
            f"the run's own config with another train.steps"
        )
    steps = config.train.steps
    if steps < preset_steps:
        raise ValueError(
            f"run={run!r}: the successor's train.steps={steps} is below the preset's; "
            f"allowed: >= {preset_steps}"
        )
    _check_manifest(run, successor)
    return steps


def _write_protocol(path: Path, run: str, steps: int, preset_steps: int, today: str | None) -> None:
    """Enter ``steps`` as ``run``'s own count in the protocol file ``path`` (atomically; the other keys and
    their order kept, written as the committed file is); a count equal to the preset's gets no entry
    (the file's ``steps_rule``)."""
    raw = json.loads(path.read_text())
    if steps == preset_steps:
        raw["runs"].pop(run, None)
    else:
        raw["runs"][run] = {"steps": steps, "read": today or date.today().isoformat()}
    atomic_write_text(path, json.dumps(raw, indent=2, ensure_ascii=False) + "\n")


def _refuse_promotion(run: str, committed: RunFolder, successor: RunFolder, replaced: Path) -> None:
    """The checks that need no lock: a run of the retraining, a finished successor (checked before its lock,
    which makes the folder), a committed run to replace and no earlier replaced one in the way."""
    if run not in RUNS:
        raise ValueError(f"run={run!r} is not a run of the retraining; allowed: {', '.join(RUNS)}")
    _require_finished(run, successor)
    if not committed.is_finished():
        raise ValueError(f"run={run!r}: no committed run at {committed} to replace; allowed: a committed run")
    if replaced.exists():
        raise ValueError(
            f"run={run!r}: {replaced} exists (a run replaced before); it is never overwritten: move it away"
        )


def promote(
    run: str,
    folder: Path = RETRAIN_DIR,
    runs_root: Path = COMMITTED_DIR,
    protocol_path: Path = COMMITTED_DIR / PROTOCOL_FILE,
    replaced_root: Path | None = None,
    today: str | None = None,
) -> Path:
    """Put ``run``'s finished successor (``folder/run``) in place of the committed run (``runs_root/run``),
    which moves to ``replaced_root/run`` (default ``folder/replaced``), and enter its step count as the run's
    own in ``protocol_path`` (read ``today``, default the date now): the committed run's folder (the new one,
    without its resumable state) and the protocol's count of ``run``. Under both folders' locks; the protocol
    is written last, and a failure before it moves every folder back. Returns the promoted run's folder.
    ValueError (one line) for a run it may not promote."""
    folder, runs_root, protocol_path = Path(folder), Path(runs_root), Path(protocol_path)
    replaced = (Path(replaced_root) if replaced_root is not None else folder / "replaced") / run
    committed, successor = RunFolder(runs_root / run), RunFolder(folder / run)
    _refuse_promotion(run, committed, successor, replaced)
    protocol = load_step_protocol(protocol_path, run_names("cpu"))  # a damaged file is refused, not edited
    with committed.lock("committed run"), successor.lock("successor run"):
        steps = _check_successor(run, successor, protocol.steps)  # again: nothing changes it while locked
        successor.state_path.unlink(missing_ok=True)  # a committed run keeps no state (nor its manifest one)
        successor.drop_stale_temps()
        replaced.parent.mkdir(parents=True, exist_ok=True)
        committed.path.rename(replaced)
        try:
            successor.path.rename(committed.path)
        except BaseException:
            replaced.rename(committed.path)
            raise
        try:
            _write_protocol(protocol_path, run, steps, protocol.steps, today)
        except BaseException:
            committed.path.rename(successor.path)
            replaced.rename(committed.path)
            raise
    cpu_protocol.cache_clear()  # the registry's config of ``run`` reads the new count
    return committed.path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.retrain", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, what in (("status", "each run's step and flatness -> status.md"), ("figure", "the figures")):
        commands.add_parser(name, help=what).add_argument("folder", nargs="?", type=Path, default=RETRAIN_DIR)
    promoting = commands.add_parser("promote", help="a finished successor in place of the committed run")
    promoting.add_argument("run", help=f"one of {', '.join(RUNS)}")
    promoting.add_argument("folder", nargs="?", type=Path, default=RETRAIN_DIR)
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
        elif args.command == "figure":
            for path in figure(args.folder):
                print(f"wrote {path}")
        else:
            path = promote(args.run, args.folder)
            steps = RunFolder(path).saved_config().train.steps
            print(
                f"promoted {args.run}: {path} ({steps:,} steps; {path.parent / PROTOCOL_FILE} updated); the "
                f"replaced run is in {args.folder / 'replaced' / args.run}; re-execute chapters 3-5 on it"
            )
    except (CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())

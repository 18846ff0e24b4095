"""The C1 search (issue 35): which training lever leads the w = 0.5 mixture to select.

This module owns the search's tries in ``data/sizing/c1-search/`` (each a run folder trained by
``python -m icl train ... --out``; the prepared GPU call ``data/sizing/c1-search/gpu.sh`` says
what each is) and how they are read: how far each has trained (``steps``); each one's errors on
fresh prompts and its loss on the plain w = 0.5 objective, beside the committed plain mixture,
the sparse-only specialist and least squares, judged against the target fixed in the issue
before any try ran (``score``, :data:`TARGET`); and the cost figure: each try's sparse gap to the
specialist at k = d - 1 and its training loss against the step (``figure``).

    python -m experiments.c1_search steps data/sizing/c1-search
    python -m experiments.c1_search score data/sizing/c1-search     # -> scores.md
    python -m experiments.c1_search figure data/sizing/c1-search    # -> cost.png

The target (issue 35, fixed 2026-12-03, before the tries): at the end of a try, with its log flat
over the last 20k label-free steps, the mixture's sparse error within 0.03 of the sparse
specialist's at both logged k, and its dense error within 0.03 of least squares at both. "Flat"
is read here as (fixed 2026-12-04, before any try reached a label-free phase): every logged error's
mean over the last 10k steps of the log differs from its mean over the 10k steps before by less than
0.01 (:func:`icl.emergence.is_flat`).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import torch

from icl.baselines import LeastSquares
from icl.checkpoint import (
    CheckpointError,
    atomic_write_text,
    load_optimizer_tensors,
    load_state,
    state_progress,
)
from icl.config import TaskConfig
from icl.emergence import is_flat, logged_ks, read_eval_csv
from icl.evaluate import errors, predict, sample_prompts
from icl.provenance import git_commit
from icl.run_files import LOSS_FILE
from icl.run_folder import RunFolder, load_run
from icl.tasks import ClassName
from icl.train import build_model, make_optimizer

SCALE = "small"
SPECIALIST, PLAIN = "linear-w0.00", "linear-w0.50"  # the committed runs each try is read against
TARGET = 0.03  # sparse within this of the specialist's error, dense within this of least squares
N_PROMPTS, N_OBJECTIVE, SEED = 1024, 8192, 35  # fresh prompts per class; prompts of the objective; seed


def read_log(folder: Path, name: str) -> dict[str, np.ndarray]:
    """A run folder's emergence log or loss log (``name``: its file) as columns (``step`` and the others)."""
    with open(Path(folder) / name) as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]} if rows else {}


def tries(folder: Path) -> list[Path]:
    """The try folders under ``folder``: every sub-folder holding a resumable state."""
    return sorted(p for p in Path(folder).iterdir() if RunFolder(p).state_path.exists())


def steps(folder: Path) -> list[str]:
    """One line per try: its name, the step its state reached and its step count."""
    out = []
    for p in tries(folder):
        try:
            at, total = state_progress(RunFolder(p).state_path)
        except CheckpointError as e:  # a state being written right now: say so, never fail the listing
            out.append(f"{p.name} ? ({e})")
            continue
        out.append(f"{p.name} {at}/{total}")
    return out


def warm_start(source: Path, config, out_dir: Path, note: str) -> Path:
    """Start the try ``config`` in ``out_dir`` from another run's resumable state ``source`` (its weights,
    AdamW moments, logs and step), where that is *not* an exact fork (another config before the step: e.g.
    the instructed run, whose labels were given on every step): the try's run header says so (``note``).
    Training then resumes from it like any run. Refuses a folder that already holds a run."""
    st = load_state(source)
    model = build_model(config)
    model.load_state_dict(st["model"])
    opt = make_optimizer(model, config)
    load_optimizer_tensors(opt, st["optim"])
    out_dir = Path(out_dir)
    folder = RunFolder(out_dir)
    with folder.lock():
        if folder.holds_run():
            raise ValueError(f"{out_dir} already holds a run; warm-start into an empty folder")
        origin = {
            "warm_start": str(source),
            "source_run": st["config"].name,
            "start_step": st["step"],
            "git_commit": git_commit(),
            "torch": torch.__version__,
            "note": note,
        }
        folder.write_started(model, opt, st["step"], st["log"], config, st["evals"], [origin])
    return out_dir


def _objective_loss(model: torch.nn.Module, config) -> float:
    """The plain w = 0.5 objective on a fixed batch: mean squared error over every position."""
    fc = TaskConfig(
        classes=("dense", "sparse"), weights=(0.5, 0.5), n_dims=config.task.n_dims, nnz=config.task.nnz
    ).build()
    p = sample_prompts(fc, N_OBJECTIVE, config.model.n_points, seed=SEED + 1)
    return float((predict(model, p) - p.ys.double()).square().mean())


def score(folder: Path) -> list[dict]:
    """Every try of ``folder`` and the committed references, scored on the same fresh prompts: errors at
    the logged k on dense and sparse prompts, the plain objective's loss, and the target's parts."""
    spec_model, spec_cfg = load_run(SPECIALIST, scale=SCALE)
    ks, n = logged_ks(spec_cfg), spec_cfg.model.n_points
    prompts = {
        c: sample_prompts(spec_cfg.task.build_class(c), N_PROMPTS, n, seed=SEED) for c in ("dense", "sparse")
    }

    def errs(predictor) -> dict[str, list[float]]:
        return {
            c: [float(errors(predict(predictor, p), p)[:, k].mean()) for k in ks] for c, p in prompts.items()
        }

    ls, spec = errs(LeastSquares()), errs(spec_model)
    entries = [("least squares", None, None), (f"{SPECIALIST} (specialist)", spec_model, spec_cfg)]
    plain = load_run(PLAIN, scale=SCALE)
    entries.append((f"{PLAIN} (committed, plain)", *plain))
    for p in tries(folder):
        entries.append((p.name, *load_run(p.name, root=folder, allow_partial=True)))
    rows = []
    for name, model, cfg in entries:
        e = ls if model is None else spec if model is spec_model else errs(model)
        row = {"try": name, "ks": list(ks), **e}
        if model is not None:
            row["objective"] = _objective_loss(model, cfg)
            folder_of = RunFolder.of(PLAIN, SCALE) if cfg is plain[1] else RunFolder(Path(folder) / name)
            if cfg.curriculum.mix.start and folder_of.eval_path.exists():
                log = read_eval_csv(folder_of.eval_path, cfg)
                lc = cfg.curriculum.labels
                row["step"] = int(log.steps[-1])
                row["flat"] = is_flat(log, after=lc.drop_by if lc.active else 0)  # label-free steps only
                row["sparse_ok"] = all(a - b <= TARGET for a, b in zip(e["sparse"], spec["sparse"]))
                row["dense_ok"] = all(a - b <= TARGET for a, b in zip(e["dense"], ls["dense"]))
                row["met"] = bool(row["flat"]) and row["sparse_ok"] and row["dense_ok"]
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    """The scores as a markdown table."""
    ks = rows[0]["ks"]
    head = (
        f"| try | step | sparse (k = {' / '.join(map(str, ks))}) | dense | plain objective | flat | "
        f"sparse within {TARGET} of specialist | dense within {TARGET} of LS | target |"
    )
    lines = [head, "|" + "---|" * 9]
    yes = {True: "yes", False: "no", None: "not yet"}
    for r in rows:
        fmt = lambda v: " / ".join(f"{x:.3f}" for x in v)  # noqa: E731
        lines.append(
            f"| {r['try']} | {r.get('step', '')} | {fmt(r['sparse'])} | {fmt(r['dense'])} | "
            f"{r['objective']:.4f} | "
            if "objective" in r
            else f"| {r['try']} | | {fmt(r['sparse'])} | {fmt(r['dense'])} | | "
        )
        if "met" in r:
            verdicts = (yes[r[k]] for k in ("flat", "sparse_ok", "dense_ok", "met"))
            lines[-1] += " | ".join(verdicts) + " |"
        else:
            lines[-1] += " | | | |"
    return "\n".join(lines) + "\n"


def figure(folder: Path, out: Path) -> Path:
    """The cost of C1: each mixture run's sparse error at k = d - 1 minus the specialist's final one, and
    its training loss (100-row rolling mean), against the training step; label phases shaded."""
    import matplotlib.pyplot as plt  # the figure alone needs it (the notebooks extra)

    spec_cfg = load_run(SPECIALIST, scale=SCALE)[1]  # every run read shares its log's plan (d, prompt length)
    key = (ClassName.SPARSE, logged_ks(spec_cfg)[-1])  # the log's sparse column at k = d - 1
    spec = read_eval_csv(RunFolder.of(SPECIALIST, SCALE).eval_path, spec_cfg).errors[key]
    runs = [(f"{PLAIN} (plain, committed)", RunFolder.of(PLAIN, SCALE).path, None)]
    for p in tries(folder):
        cfg = load_run(p.name, root=folder, allow_partial=True)[1]
        if cfg.curriculum.mix.start:
            runs.append((p.name, p, cfg.curriculum.labels if cfg.curriculum.labels.active else None))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, path, lc in runs:
        log, loss = read_eval_csv(RunFolder(path).eval_path, spec_cfg), read_log(path, LOSS_FILE)
        (line,) = ax.plot(log.steps, log.errors[key] - spec[-1], label=name, lw=1.2)
        smooth = np.convolve(loss["loss"], np.ones(100) / 100, mode="valid")
        bx.plot(loss["step"][99:], smooth, color=line.get_color(), lw=1.0)
        if lc is not None:
            for a in (ax, bx):
                a.axvspan(lc.keep_until, lc.drop_by, color=line.get_color(), alpha=0.06)
    start = load_run(PLAIN, scale=SCALE)[1].curriculum.mix.hold - 5_000
    for a in (ax, bx):
        a.set_xlim(left=start)  # from just before the hold: the mixture phase
    ax.set_ylim(-0.05, 0.3)
    ax.axhline(0, color="k", lw=0.8)
    ax.axhline(TARGET, color="k", lw=0.8, ls=":", label=f"target: within {TARGET}")
    ax.set(
        xlabel="training step",
        ylabel=f"sparse error at k = {key[1]} minus the specialist's",
        title="the mixture's selection gap (emergence log)",
    )
    bx.set(
        xlabel="training step",
        ylabel="training loss (rolling mean of 100 log rows)",
        ylim=(0.2, 0.35),
        title="training loss (labels given in the shaded withdrawal and before)",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m experiments.c1_search steps|score|figure FOLDER`` (bad input: one line, exit 2)."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.c1_search",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    for cmd, what in (
        ("steps", "how far each try has trained"),
        ("score", "every try and the references on fresh prompts, judged (scores.md)"),
        ("figure", "each try's sparse gap to the specialist and its loss (cost.png)"),
    ):
        sub.add_parser(cmd, help=what).add_argument("folder")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    folder = Path(args.folder)
    try:
        if args.cmd == "steps":
            print("\n".join(steps(folder)))
        elif args.cmd == "score":
            text = markdown(score(folder))
            atomic_write_text(folder / "scores.md", text)
            print(text)
        else:
            print(figure(folder, folder / "cost.png"))
    except (ValueError, OSError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

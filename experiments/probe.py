"""The probe of issue 40: was a committed run still learning when it stopped?

This module owns the probe's folders (``data/sizing/chapter4-probe/<run>/`` by default; a labelled probe,
never a study run) and how they are read. :func:`start` takes a committed run's finished weights
(in ``data/runs/<scale>/<run>/``, step ``S`` = its step count) and writes a resumable state
that continues them with a *fresh* AdamW (no moments) at a small constant learning rate, no warm-up, with
the faster loop (fused AdamW, ``compile="auto"``), for ``steps`` more steps (:func:`probe_config`: the run's
own config with ``train.steps = S + steps``; its ``notes`` and run header say what it is). The batches
are the run's own data stream from step ``S`` on (steps ``S .. S + steps - 1``, none of which the run saw),
and the state carries the run's committed loss log and one emergence-log row at step ``S`` (the finished
weights on the fixed set, :mod:`icl.emergence`). From there it trains and resumes like any run, under the
config its state holds (:func:`resume`; not ``python -m icl train RUN``, whose config is the registry's).
:func:`score` reads the 1-D probes on fresh sines: each model's error at k = 3 and 10 beside its
Bayes-optimal learner, the change since the committed weights, and C7a's excess (the mixture's cost over the
sine specialist minus the Bayes line/sine learner's own, at k = 3), each with a paired 95% bootstrap
interval; :func:`curves` tabulates the emergence logs and :func:`figure` draws them against their
references.

    python -m experiments.probe start sine-only --scale cpu --steps 20000 --lr 1e-4   # -> PROBE_DIR/sine-only
    python -m experiments.probe train data/sizing/chapter4-probe/sine-only --threads 1  # rerun to resume
    python -m experiments.probe score data/sizing/chapter4-probe  # -> scores.md, emergence.png
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from icl.baselines import BayesSine, bayes_name, restricted
from icl.chapters.convex_combinations import BAYES_SINE, bayes_line_sine_name, combination_baselines
from icl.chapters.verdict import fmt
from icl.checkpoint import CheckpointError, atomic_write_text
from icl.config import DATA, NEW_RUN_LOOP, SCALES, RunConfig
from icl.emergence import column_keys, columns, emergence_set, read_eval_csv
from icl.evaluate import bootstrap_ci, errors, predict, sample_prompts
from icl.provenance import git_commit
from icl.run_folder import RunFolder, load_run
from icl.tasks import Sine1D
from icl.train import make_optimizer, train

__all__ = [
    "PROBE_DIR",
    "PROBE_RUNS",
    "STEPS",
    "LR",
    "probe_config",
    "start",
    "resume",
    "score",
    "markdown",
    "curves",
    "figure",
    "main",
]

PROBE_DIR = DATA / "sizing" / "chapter4-probe"
PROBE_RUNS = ("sine-only", "line-sine-w0.50")  # the runs issue 40 probes; any committed run may be
STEPS, LR = 20_000, 1e-4  # the committed cpu runs ended their cosine decay at 1e-3 x 0.1 = 1e-4
K, KS, N_PROMPTS, SEED = 3, (3, 10), 2048, 40  # the k read, the k shown, fresh prompts, their seed (issue 40)
MIX, SPECIALIST = "line-sine-w0.50", "sine-only"  # C7a's pair on sines


def probe_config(base: RunConfig, steps: int = STEPS, lr: float = LR) -> RunConfig:
    """``base`` (a finished run's config, step count ``S``) continued ``steps`` more steps at a constant
    learning rate ``lr`` without warm-up, its ``notes`` saying so."""
    if not (isinstance(steps, int) and steps >= 1) or not lr > 0:
        raise ValueError(f"steps={steps!r} must be an integer >= 1 and lr={lr!r} > 0")
    s = base.train.steps
    note = (
        f"probe (issue 40), not a study run: {base.name}'s finished weights (step {s:,}) continued "
        f"with a fresh AdamW (no moments) at a constant learning rate {lr:g} (no warm-up) for {steps:,} "
        f"steps on the run's own data stream from step {s:,} on (batches the run never saw); the loss "
        f"log up to step {s:,} is the committed run's"
    )
    # a fresh optimiser, so nothing to keep exact: the faster loop (fused AdamW, compile decided per session)
    train = replace(base.train, steps=s + steps, lr=lr, schedule="constant", warmup_steps=0, **NEW_RUN_LOOP)
    return replace(base, train=train, notes=note)


def _read_loss(folder: Path) -> list[tuple[int, float]]:
    """A run folder's loss log as (step, loss) rows (none if it has no log)."""
    path = RunFolder(folder).loss_path
    if not path.exists():
        return []
    with open(path) as f:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]


def start(
    run: str,
    out: Path | None = None,
    scale: str = "cpu",
    steps: int = STEPS,
    lr: float = LR,
    root: Path | None = None,
) -> Path:
    """Write the probe of ``run``'s finished weights into ``out`` (default ``PROBE_DIR/<run>``): a
    resumable state at the run's last step with those exact weights, a fresh AdamW, the committed loss
    log and one emergence-log row. ``root``: where the run's folder lies (default the committed runs
    of ``scale``). Refuses a folder that already holds a run."""
    model, base = load_run(run, root=root, scale=scale)  # the finished weights, checked against the manifest
    config, at = probe_config(base, steps, lr), base.train.steps
    opt = make_optimizer(model, config)  # fresh: no moments, its first step is step 1 of its own count
    source = RunFolder.of(run, scale, root)
    log, evals = _read_loss(source.path), [(at, emergence_set(config).score(model).tolist())]
    out = Path(out) if out is not None else PROBE_DIR / run
    folder = RunFolder(out)
    with folder.lock():
        if folder.holds_run():
            raise ValueError(
                f"{out} already holds a run; resume it (python -m experiments.probe train "
                f"{out}) or use another --out"
            )
        origin = {
            "probe_of": str(source.path),
            "source_run": base.name,
            "start_step": at,
            "git_commit": git_commit(),
            "torch": torch.__version__,
            "note": config.notes,
        }
        folder.write_started(model, opt, at, log, config, evals, [origin])
    return out


def resume(
    folder: Path,
    device: str = "cpu",
    progress: bool = True,
    max_seconds: float | None = None,
    stop_after: int | None = None,
) -> Path:
    """Train (or resume) the probe in ``folder`` to its step count, under the config its state holds."""
    folder = Path(folder)
    config = RunFolder(folder).saved_config()
    return train(
        config, folder, device=device, progress=progress, max_seconds=max_seconds, stop_after=stop_after
    )


def _probes(folder: Path) -> list[Path]:
    """The probe folders under ``folder``: every sub-folder holding a run."""
    return sorted(p for p in Path(folder).iterdir() if p.is_dir() and RunFolder(p).holds_run())


def _step(folder: Path) -> int:
    """The step a probe folder's latest weights are at."""
    return RunFolder(folder).progress()[0]


def _own_bayes(config: RunConfig) -> str:
    """The curve key of the Bayes-optimal learner of a 1-D run's own prior: its name."""
    return bayes_name(config.task.classes, config.task.weights)


def _ci(per_prompt: np.ndarray) -> tuple[float, float, float]:
    """Mean and paired 95% bootstrap interval over prompts."""
    m, lo, hi = bootstrap_ci(per_prompt, seed=SEED)
    return float(m), float(lo), float(hi)


def score(folder: Path = PROBE_DIR, scale: str = "cpu", n_prompts: int = N_PROMPTS) -> dict:
    """The 1-D probes under ``folder`` and their committed runs on the same fresh sines: errors (P, len(KS))
    per predictor (``errors``), the steps, and each model's Bayes learner (``own``)."""
    probes = [p for p in _probes(folder) if p.name in PROBE_RUNS]
    if not probes:
        raise ValueError(f"no probe of {' or '.join(PROBE_RUNS)} under {folder}")
    models, steps, own = {}, {}, {}
    for p in probes:
        for label, root, partial in (("committed", None, False), ("probe", p.parent, True)):
            model, cfg = load_run(p.name, root=root, allow_partial=partial, scale=scale)
            key = (p.name, label)
            models[key], own[key] = model, _own_bayes(cfg)
            steps[key] = _step(p) if label == "probe" else cfg.train.steps
    band, n = cfg.task.band, cfg.model.n_points
    prompts = sample_prompts(Sine1D(band), n_prompts, n, seed=SEED)
    refs = {name: restricted(f, KS) for name, f in combination_baselines(band).items()}
    refs[BAYES_SINE] = restricted(BayesSine(band), KS)
    refs = {name: refs[name] for name in sorted(set(own.values()) | {BAYES_SINE}) if name in refs}
    errs = {key: errors(predict(f, prompts), prompts)[:, list(KS)] for key, f in {**models, **refs}.items()}
    return {"errors": errs, "steps": steps, "own": own, "n_prompts": n_prompts}


def markdown(s: dict) -> str:
    """The scores of :func:`score` as markdown: a table per model and C7a's excess at k = 3."""
    e, i = s["errors"], KS.index(K)
    ci = lambda x: "{} [{}, {}]".format(*map(fmt, _ci(x)))  # noqa: E731
    lines = [
        f"Sines (in band) at k = {' and '.join(map(str, KS))} on {s['n_prompts']} fresh prompts "
        f"(seed {SEED}), 95% paired bootstrap intervals.",
        "",
        f"| model | step | k = {KS[0]} | k = {KS[1]} | minus its Bayes learner at k = {K} | "
        f"change since the committed weights at k = {K} |",
        "|---|---|---|---|---|---|",
    ]
    for key, err in e.items():
        if not isinstance(key, tuple):
            continue
        run, label = key
        gap = f"{ci(err[:, i] - e[s['own'][key]][:, i])} ({s['own'][key]})"
        change = ci(err[:, i] - e[(run, "committed")][:, i]) if label == "probe" else ""
        lines.append(
            f"| {run} ({label}) | {s['steps'][key]:,} | {ci(err[:, 0])} | {ci(err[:, 1])} | {gap} | "
            f"{change} |"
        )
    for name in (k for k in e if isinstance(k, str)):
        lines.append(f"| {name} | | {ci(e[name][:, 0])} | {ci(e[name][:, 1])} | | |")
    mixture = bayes_line_sine_name(0.5)
    if all((run, "probe") in e for run in (MIX, SPECIALIST)) and mixture in e:
        own = e[mixture][:, i] - e[BAYES_SINE][:, i]
        allowance = own if own.mean() > 0 else np.zeros_like(own)  # the learner's own cost, floored at 0
        excess = {
            label: e[(MIX, label)][:, i] - e[(SPECIALIST, label)][:, i] - allowance
            for label in ("committed", "probe")
        }
        at = {
            label: f"{s['steps'][(MIX, label)]:,} / {s['steps'][(SPECIALIST, label)]:,}"
            for label in ("committed", "probe")
        }
        head = (
            f"C7a's excess on sines at k = {K}: ({MIX} - {SPECIALIST}) - max(0, {mixture} - "
            f"{BAYES_SINE}) (the allowance {fmt(float(own.mean()))}); the criterion allows 0.05."
        )
        lines += [
            "",
            head,
            "",
            *(f"- {label} (steps {at[label]}): {ci(excess[label])}" for label in excess),
            f"- change: {ci(excess['probe'] - excess['committed'])}",
        ]
    return "\n".join(lines) + "\n"


def curves(folder: Path = PROBE_DIR, every: int = 2000) -> str:
    """Every probe's emergence log under ``folder`` as a markdown table, one row per ``every`` steps
    (and its last), with the mean training loss over the ``every`` steps before each row."""
    out = []
    for p in _probes(folder):
        run = RunFolder(p)
        if not run.eval_path.exists():
            continue
        config = run.header_config()  # a damaged header: one line naming it
        cols, keys, log = columns(config), column_keys(config), read_eval_csv(run.eval_path, config)
        loss = np.array(_read_loss(p)).reshape(-1, 2)
        keep = [t for t, step in enumerate(log.steps) if step % every == 0 or t == len(log) - 1]
        out += [
            f"**{p.name}** (emergence log; loss: mean over the {every:,} steps before the row)",
            "",
            "| step | " + " | ".join(cols) + " | loss |",
            "|---" * (len(cols) + 2) + "|",
        ]
        for t in keep:
            s = int(log.steps[t])
            window = loss[(loss[:, 0] > s - every) & (loss[:, 0] <= s), 1] if len(loss) else np.array([])
            mean = f"{window.mean():.4f}" if window.size else ""
            out.append(
                f"| {s:,} | "
                + " | ".join(f"{float(log.errors[key][t]):.4f}" for key in keys)
                + f" | {mean} |"
            )
        out.append("")
    return "\n".join(out)


def figure(folder: Path = PROBE_DIR) -> Path | None:
    """The probes' emergence logs against their references (:func:`icl.plots.plot_emergence_references`),
    written to ``folder/emergence.png``; None if no probe has a log."""
    import matplotlib.pyplot as plt

    from icl.plots import plot_emergence_references

    fig, _ = plot_emergence_references({p.name: p for p in _probes(folder)})
    if fig is None:
        return None
    path = Path(folder) / "emergence.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m experiments.probe",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start", help="write the probe of a committed run's finished weights (resumable)")
    st.add_argument("run")
    st.add_argument("--scale", choices=SCALES, default="cpu")
    st.add_argument("--steps", type=int, default=STEPS, help=f"steps past the run's last (default {STEPS:,})")
    st.add_argument("--lr", type=float, default=LR, help=f"the constant learning rate (default {LR:g})")
    st.add_argument("--out", default=None, help="the probe's folder (default data/sizing/chapter4-probe/RUN)")
    tr = sub.add_parser("train", help="train or resume a probe to its step count")
    tr.add_argument("folder")
    tr.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    tr.add_argument("--threads", type=int, default=None)
    tr.add_argument("--max-minutes", type=float, default=None, help="pause (checkpoint, exit 0) after this")
    tr.add_argument("--no-progress", action="store_true")
    sc = sub.add_parser("score", help="the probes on fresh sines, their logs and figure (scores.md, .png)")
    sc.add_argument("folder", nargs="?", default=str(PROBE_DIR))
    sc.add_argument("--scale", choices=SCALES, default="cpu")
    sc.add_argument("--every", type=int, default=2000, help="a log row every this many steps")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.cmd == "start":
            out = start(args.run, args.out, args.scale, args.steps, args.lr)
            print(f"probe of {args.run} written to {out}")
        elif args.cmd == "train":
            if args.threads:
                torch.set_num_threads(args.threads)
            folder = Path(args.folder)
            resume(
                folder,
                args.device,
                not args.no_progress,
                None if args.max_minutes is None else 60 * args.max_minutes,
            )
            done = RunFolder(folder).is_finished()
            print(f"{'finished' if done else 'paused'}: {folder}{'' if done else ' (rerun to resume)'}")
        else:
            folder = Path(args.folder)
            text = markdown(score(folder, args.scale)) + "\n" + curves(folder, args.every)
            atomic_write_text(folder / "scores.md", text)
            print(text)
            print(figure(folder) or "no emergence log to draw")
    except (ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

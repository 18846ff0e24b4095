"""Sizing the ``cpu`` scale: train variants of a run side by side and score them.

This module owns the evidence behind the ``cpu`` preset (``docs/sizing.md``, "The cpu
preset") and the d = 10 search. A *variant* is a named set of ``--set`` overrides of a study run (by
default ``linear-w0.00``, the sparse-only run, whose in-context *selection* is the hard part to
learn). ``launch`` trains variants in parallel subprocesses for a fixed wall time (each
pauses with a resumable checkpoint); ``score`` evaluates whatever each one reached on
fresh sparse and dense prompts against least squares, Lasso and the Bayes-optimal
sparse predictor, and writes ``sizing.json``; ``curves`` tabulates each variant's emergence log
(its learning curve) against least squares and the Lasso, with the selection fraction, into
``curves.md``. A warm-start variant (:data:`WARM_STARTS`) starts from another scale's trained
run, widened to the variant's d and prompt length (:func:`widen_state`, :func:`warm_start`).

    python -m experiments.sizing launch --variants base,lr3e-3 --minutes 8 --out data/sizing/gpu-2026-11-29
    python -m experiments.sizing score data/sizing/gpu-2026-11-29
    python -m experiments.sizing curves data/sizing/d10-search
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from icl.baselines import Lasso, LeastSquares, bayes_predictor, keyed
from icl.checkpoint import CheckpointError, atomic_write_text, load_state, save_state
from icl.config import ROOT, RunConfig, TaskConfig, get_run_config
from icl.emergence import column_keys, logged_ks, read_eval_csv, reference_errors
from icl.evaluate import choose_lasso_alpha, errors, predict, sample_prompts
from icl.model import ModelConfig
from icl.provenance import git_commit
from icl.run_folder import RunFolder, load_run
from icl.tasks import ClassName, DenseLinear, SparseLinear
from icl.train import build_model, make_optimizer

# name -> --set overrides of the run's cpu preset. The sweep of 2026-11-29 was run against
# the first preset (width 128, 4 layers), spelled out here so the names keep their meaning
# whatever the preset is now; with a constant learning rate and a step budget far beyond
# the wall time (LONG), so the curve shows when selection arrives.
_W128_L4 = {"model.n_embd": "128", "model.n_layer": "4", "model.n_head": "4"}
VARIANTS: dict[str, dict[str, str]] = {
    "base": {**_W128_L4},
    "lr3e-3": {**_W128_L4, "train.lr": "3e-3", "train.warmup_steps": "1000"},
    "batch256": {**_W128_L4, "train.batch_size": "256"},
    "nocurr": {**_W128_L4, "curriculum.dims.start": "10", "curriculum.points.start": "21"},
    "d8": {**_W128_L4, "d": "8"},
    "w64": {**_W128_L4, "model.n_embd": "64"},
    "w256": {**_W128_L4, "model.n_embd": "256", "model.n_head": "8"},
    "l8": {**_W128_L4, "model.n_layer": "8"},
    "d5nnz1": {**_W128_L4, "d": "5", "task.nnz": "1"},
    "w64-lr3e-3": {**_W128_L4, "model.n_embd": "64", "train.lr": "3e-3", "train.warmup_steps": "1000"},
    "w64-l8": {**_W128_L4, "model.n_embd": "64", "model.n_layer": "8"},
}
# the d = 10 search (the scales issue, item 5), against the current cpu preset (8 layers, width 64): does the
# sparse-only model select at d = 10 if the active dimensions (and prompt length) stay at d = 5 / 11 points
# until selection has arrived there (about 50-65k steps at small scale), or with the paper's 12 layers, or a
# larger learning rate after a longer warm-up? Each try's emergence log is its learning curve.
VARIANTS.update(
    {
        "d10-base": {},
        "d10-hold60k": {"curriculum.dims.hold": "60000", "curriculum.points.hold": "60000"},
        "d10-l12": {"model.n_layer": "12"},
        "d10-lr3e-3": {"train.lr": "3e-3", "train.warmup_steps": "2000"},
    }
)
# warm starts (the d = 10 search, after the tries above): the variant's model starts from a trained run of
# another scale, widened (widen_state, below) so that on the curriculum's zero-padded d = 5 prompts it is
# that run; then the cpu preset's own curricula grow d and prompt length from there. A Garg-style curriculum
# whose first phase is the small scale's selecting sparse-only run (d = 5, nnz = 1, 11 points, 100k steps).
WARM_STARTS: dict[str, tuple[str, str]] = {"d10-warm-small": ("small", "linear-w0.00")}
# (the note names the module as it was when d10-warm-small was started: its saved config says so, and a
# resumed run must keep its config)
VARIANTS.update(
    {
        n: {"notes": f"warm start: the {scale} run {run}, widened (icl.sizing.WARM_STARTS)"}
        for n, (scale, run) in WARM_STARTS.items()
    }
)
LONG = {"train.schedule": "constant", "train.steps": "1000000"}


def variant_config(name: str, run: str = "linear-w0.00") -> RunConfig:
    """The config of the variant ``name`` of the study run ``run`` (its cpu preset, overridden)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; allowed: {', '.join(VARIANTS)}")
    return get_run_config(run).override({**LONG, **VARIANTS[name]})


def widen_state(
    state: dict[str, Tensor], src: ModelConfig, dst: ModelConfig, fresh: dict[str, Tensor]
) -> dict[str, Tensor]:
    """Carry a trained model's weights into a model of larger d and/or longer prompts.

    ``state`` is the state dict of a model built for ``src``; ``dst`` may differ from it in
    ``n_dims`` and ``n_points`` only (each at least as large). ``fresh`` is a state dict of
    a model built for ``dst`` (its own initialisation). The result is ``fresh`` with every
    shared parameter replaced by ``state``'s, except: the read-in keeps ``src``'s columns at
    the matching coordinates of ``dst``'s token and zero in the new ones, and the positions
    beyond ``src``'s keep their fresh values. So on inputs whose extra coordinates are zero
    (a dimension curriculum's zero padding) and prompts of at most ``src.n_points`` points
    the widened model computes what the source did (tested): a warm start for a curriculum
    over d and prompt length that begins where the source was trained (the d = 10 search).
    """
    same = {"n_embd", "n_layer", "n_head", "layout", "attention", "activation", "n_classes"}
    differ = sorted(f for f in same if getattr(src, f) != getattr(dst, f))
    if differ or dst.n_dims < src.n_dims or dst.n_points < src.n_points:
        raise ValueError(
            f"cannot widen a model of {src} into {dst}: only n_dims and n_points may grow"
            + (f" ({', '.join(differ)} differ)" if differ else "")
        )
    d, D = src.n_dims, dst.n_dims
    # where each column of the source's token sits in the destination's (icl.model.TransformerModel.tokens)
    cols = {
        "garg": list(range(d)),
        "compact": [*range(d), D],  # [x, y_prev]
        "pair": [*range(d), D, *range(D + 1, D + 1 + d)],
    }[src.layout]  # [x_prev, y_prev, x]
    out = {k: v.clone() for k, v in fresh.items()}
    for k, v in state.items():
        if k not in out:
            raise ValueError(f"parameter {k!r} of the source is not in the destination model")
        if k == "read_in.weight":  # (C, d_in)
            out[k] = torch.zeros_like(out[k])
            out[k][:, cols] = v
        elif k == "wpe.weight":  # (T, C)
            out[k][: v.shape[0]] = v
        elif v.shape != out[k].shape:
            raise ValueError(
                f"parameter {k!r} has shape {tuple(v.shape)}, the destination's {tuple(out[k].shape)}"
            )
        else:
            out[k] = v.clone()
    return out


def warm_start(name: str, out_dir: Path, run: str = "linear-w0.00") -> Path:
    """Write the step-0 state of the warm-start variant ``name`` into ``out_dir``: its model
    initialised from the :data:`WARM_STARTS` source's finished weights, widened to the
    variant's d and prompt length, with a fresh AdamW (the variant's warm-up applies). Training
    then resumes from it like any run. Refuses a folder that already holds a run."""
    if name not in WARM_STARTS:
        raise ValueError(f"{name!r} is not a warm-start variant; allowed: {', '.join(WARM_STARTS)}")
    config = variant_config(name, run)
    scale, source = WARM_STARTS[name]
    src_model, src_cfg = load_run(source, scale=scale)
    model = build_model(config)
    widened = widen_state(src_model.state_dict(), src_cfg.model, config.model, model.state_dict())
    model.load_state_dict(widened)
    opt = make_optimizer(model, config)
    folder = RunFolder(out_dir)
    with folder.lock():
        if folder.holds_run():
            raise ValueError(f"{out_dir} already holds a run; warm-start into an empty folder")
        origin = {
            "device": "cpu",
            "start_step": 0,
            "warm_start": f"data/runs/{scale}/{source}",
            "source_config": src_cfg.to_dict(),
            "git_commit": git_commit(),
            "torch": torch.__version__,
            "note": f"step 0 is {scale}/{source}'s finished model widened from "
            f"d={src_cfg.model.n_dims}, {src_cfg.model.n_points} points to "
            f"d={config.model.n_dims}, {config.model.n_points} points; a fresh optimiser",
        }
        folder.write_header(config, [origin])
        save_state(folder.state_path, model, opt, 0, [], config)
    return out_dir


def launch(
    names: list[str],
    out: Path,
    minutes: float,
    device: str = "cpu",
    run: str = "linear-w0.00",
    threads: int = 1,
) -> None:
    """Train the variants in parallel, each for ``minutes`` of wall time (a warm-start variant
    from its :func:`warm_start` state, written first when its folder holds no run yet)."""
    for n in names:
        variant_config(n, run)  # validate all before starting any
    out.mkdir(parents=True, exist_ok=True)
    for n in names:
        if n in WARM_STARTS and not RunFolder(out / n).holds_run():
            warm_start(n, out / n, run)
    procs = []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TQDM_DISABLE": "1"}
    for n in names:
        sets = [a for k, v in {**LONG, **VARIANTS[n]}.items() for a in ("--set", f"{k}={v}")]
        cmd = [
            sys.executable,
            "-m",
            "icl",
            "train",
            run,
            *sets,
            "--out",
            str(out / n),
            "--device",
            device,
            "--max-minutes",
            str(minutes),
            "--threads",
            str(threads),
            "--no-progress",
        ]
        (out / n).mkdir(parents=True, exist_ok=True)
        log = open(out / n / "log.txt", "a")  # a relaunch resumes the training and keeps the earlier log
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    t0 = time.time()
    for n, p in zip(names, procs):
        p.wait()
        print(f"{n}: exit {p.returncode} after {time.time() - t0:.0f} s", flush=True)


def score(
    folder: Path,
    n_prompts: int = 1280,
    ks: tuple[int, ...] = (3, 5, 8, 10),
    seed: int = 1,
    at_start: bool = False,
) -> dict:
    """Score every variant under ``folder``; writes and returns ``folder/sizing.json``.

    ``at_start``: score on the curriculum's starting geometry instead (its first active dimensions and
    prompt length, zero-padded to the model's d as in training), the task a held curriculum
    (``d10-hold60k``) trains on until its hold ends; writes ``folder/sizing-start.json``."""
    results = {}
    for sub in sorted(p for p in folder.iterdir() if RunFolder(p).state_path.exists()):
        model, cfg = load_run(sub.name, root=folder, allow_partial=True)
        st = load_state(RunFolder(sub).state_path)  # the step reached and the loss log, beside the model
        d, nnz, n = cfg.task.n_dims, cfg.task.nnz, cfg.model.n_points
        if at_start:  # the baselines see the active dimensions alone, the model them zero-padded to its d
            d, n = cfg.curriculum.dims.start, cfg.curriculum.points.start
        row_ks = tuple(range(2, d + 1)) if at_start else ks  # at the start's d: every k selection can pay at
        shown = (d + 1) // 2 if at_start else 5
        full_d = cfg.task.n_dims
        model.eval()

        def as_trained(xs, ys, model=model, full_d=full_d):
            return model(torch.nn.functional.pad(xs, (0, full_d - xs.shape[-1])), ys)

        row: dict = {
            "step": st["step"],
            "config": cfg.to_dict(),
            "d": d,
            "n_points": n,
            "loss": {int(s): round(v, 4) for s, v in st["log"][:: max(1, len(st["log"]) // 40)]},
        }
        row["sessions"] = RunFolder(sub).header().get("sessions", [])  # a damaged header: one line naming it
        for cls, fc in (
            (ClassName.SPARSE, SparseLinear(d, nnz, True)),
            (ClassName.DENSE, DenseLinear(d, True)),
        ):
            prompts = sample_prompts(fc, n_prompts, n, seed=seed)
            preds = {"model": as_trained, **keyed(LeastSquares())}  # the baselines by their names
            if cls == ClassName.SPARSE:
                lasso = Lasso(choose_lasso_alpha(fc, n, (1e-3, 3e-3, 1e-2, 3e-2, 0.1), seed))
                preds.update(keyed(lasso, bayes_predictor(TaskConfig((ClassName.SPARSE,), (1.0,), d, nnz))))
            with torch.no_grad():
                errs = {k: errors(predict(p, prompts), prompts).mean(0) for k, p in preds.items()}
            row[cls.value] = {
                name: {int(k): round(float(e[k]), 4) for k in row_ks if k < n} for name, e in errs.items()
            }
            row[cls.value + "_mean_1_20"] = {
                name: round(float(np.mean(e[1:])), 4) for name, e in errs.items()
            }
        results[sub.name] = row
        s = row["sparse"]
        print(
            f"{sub.name:12s} step {row['step']:7d}  d={d}: sparse k={shown} model {s['model'].get(shown)} "
            f"LS {s['least squares'].get(shown)} Lasso {s['Lasso'].get(shown)}  dense k={shown} model "
            f"{row['dense']['model'].get(shown)}",
            flush=True,
        )
    name = "sizing-start.json" if at_start else "sizing.json"
    tmp = folder / (name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, folder / name)
    return results


def curves(folder: Path, every: int = 5000) -> str:
    """Every try's emergence log under ``folder`` as a markdown table, one row per ``every`` steps
    (and its last): the sparse errors at the log's two k, least squares and the Lasso on the same
    prompts, and the selection fraction ``(LS - model) / (LS - Lasso)`` at each k (0: least
    squares, 1: the Lasso; chapter 1's measure). Writes ``folder/curves.md`` and returns it."""
    lines = []
    for sub in sorted(p for p in folder.iterdir() if RunFolder(p).eval_path.exists()):
        cfg = RunFolder(sub).header_config()
        keys, ks = column_keys(cfg), logged_ks(cfg)
        sparse = [keys.index((ClassName.SPARSE, k)) for k in ks]
        refs = reference_errors(cfg)  # by the predictors' names
        ls, lasso = refs[LeastSquares.name], refs[Lasso.name]
        at = " / ".join(str(k) for k in ks)
        lines += [
            f"**{sub.name}** (least squares {' / '.join(f'{ls[i]:.3f}' for i in sparse)}, Lasso "
            f"{' / '.join(f'{lasso[i]:.3f}' for i in sparse)} at k = {at})",
            "",
            f"| step | sparse k = {at} | selection fraction |",
            "|---|---|---|",
        ]
        log = read_eval_csv(RunFolder(sub).eval_path, cfg)
        rows = [(int(step), [float(log.errors[key][t]) for key in keys]) for t, step in enumerate(log.steps)]
        keep = [r for r in rows if r[0] % every == 0]
        if rows and (not keep or keep[-1][0] != rows[-1][0]):
            keep.append(rows[-1])
        for step, errs in keep:
            frac = [(ls[i] - errs[i]) / (ls[i] - lasso[i]) for i in sparse]
            lines.append(
                f"| {step:,} | {' / '.join(f'{errs[i]:.3f}' for i in sparse)} | "
                f"{' / '.join(f'{x:.2f}' for x in frac)} |"
            )
        lines.append("")
    text = "\n".join(lines)
    atomic_write_text(folder / "curves.md", text)
    return text


def pack(folder: Path, out: Path, max_states: int = 5, max_mb: float = 50.0) -> None:
    """Bundle the evidence of ``folder`` into ``out``: ``sizing.tgz`` (logs, loss curves,
    configs, sizing.json) plus the states of the variants that select best on sparse
    prompts (lowest model/least-squares error ratio at k=5), within the size limits."""
    out.mkdir(parents=True, exist_ok=True)
    results = json.loads((folder / "sizing.json").read_text())
    with tarfile.open(out / "sizing.tgz", "w:gz") as tar:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and p.suffix in (".csv", ".json", ".txt"):
                tar.add(p, arcname=str(p.relative_to(folder)))

    def ratio(name: str) -> float:
        s = results[name]["sparse"]
        m, ls = s["model"].get("5"), s["least squares"].get("5")  # JSON keys are strings
        return m / max(ls, 1e-9) if m is not None and ls else 9.0

    budget = max_mb * 2**20
    for name in sorted(results, key=ratio)[:max_states]:
        src = RunFolder(folder / name).state_path
        if src.stat().st_size <= min(budget, 16 * 2**20):
            budget -= src.stat().st_size
            (out / f"state_{name}.safetensors").write_bytes(src.read_bytes())


def main(argv: list[str] | None = None) -> int:
    """``python -m experiments.sizing launch|score|curves|pack ...`` (bad input: one line, exit 2)."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.sizing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    la = sub.add_parser("launch", help="train variants side by side for a fixed wall time (resumable)")
    la.add_argument("--variants", required=True, help="comma-separated; allowed: " + ", ".join(VARIANTS))
    la.add_argument("--minutes", type=float, required=True)
    la.add_argument("--out", required=True)
    la.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    la.add_argument("--run", default="linear-w0.00")
    la.add_argument("--threads", type=int, default=1)
    sc = sub.add_parser("score", help="every variant on fresh sparse and dense prompts (sizing.json)")
    sc.add_argument("folder")
    sc.add_argument("--n-prompts", type=int, default=1280)
    sc.add_argument(
        "--at-start",
        action="store_true",
        help="score on the curriculum's starting d and prompt length (a held curriculum's task)",
    )
    cu = sub.add_parser("curves", help="each try's emergence log against least squares and the Lasso")
    cu.add_argument("folder")
    cu.add_argument("--every", type=int, default=5000)
    pk = sub.add_parser("pack", help="bundle the logs, configs and the best variants' states")
    pk.add_argument("folder")
    pk.add_argument("out")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if a.cmd == "launch":
            names = [v for v in a.variants.split(",") if v]
            launch(names, Path(a.out), a.minutes, a.device, a.run, a.threads)
        elif a.cmd == "score":
            score(Path(a.folder), a.n_prompts, at_start=a.at_start)
        elif a.cmd == "curves":
            print(curves(Path(a.folder), a.every))
        else:
            pack(Path(a.folder), Path(a.out))
    except (ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

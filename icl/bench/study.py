"""Time to a trained study: the real training loop's speed per scale, and what it implies.

This module owns the ``study`` section of ``benchmarks.json``, the bench's headline table.
For each scale of :data:`STUDY_SCALES` and each prompt family of its runs (one model and
prompt shape per family), :func:`loop_rate` times :func:`icl.train.train` itself (data
sampling, AdamW, checkpoints every ``checkpoint_every`` steps, the emergence log, the
loss log) on full-size prompts from the first step (the curriculum's end, so an upper
bound of a step's cost), as the difference of two trainings from scratch of ``n1`` and
``n2`` steps, so start-up and the final save cancel. Each run's wall time is the steps it
trains itself (a forked run only trains after its fork: :func:`icl.forks.fork_source`)
over its family's rate; their sum is the time to train the scale's study. Each family's loop
is timed in every implementation of :data:`icl.bench.training.LOOP_VARIANTS` (PyTorch's default
AdamW, fused AdamW, fused AdamW compiled; the compiled one only where ``sizes.compile``), and
each run's hours are given for each; the headline rate is the faster fused loop, the one a new
run's ``train.compile = "auto"`` keeps. The loop's overhead is its steps/s against a bare step
(forward, MSE, backward, AdamW of the run's implementation) of the same model and batch.

Contention (:func:`contention_rows`): the ``small`` scale's loop at 1 and at 2 threads,
alone and beside a second CPU-heavy process (a one-core busy loop in a subprocess, as a
test or a notebook would be); the best shared setting is what a training beside other
work should use (:data:`icl.bench.timing` has the thread context).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..config import SCALE_RUNS, RunConfig, get_run_config
from ..forks import fork_source
from ..model import TransformerModel
from ..train import sample_batch, train
from .machine import load_during
from .timing import Sizes, measure, num_threads, summarize

__all__ = ["STUDY_SCALES", "full_size", "loop_rate", "run_steps", "bench_study", "contention_rows"]

STUDY_SCALES = ("cpu", "small")


def full_size(cfg: RunConfig) -> RunConfig:
    """``cfg`` with its curriculum at its end from step 0: full d and prompt length throughout."""
    c = cfg.curriculum
    return replace(
        cfg,
        curriculum=replace(
            c, dims=replace(c.dims, start=c.dims.end), points=replace(c.points, start=c.points.end)
        ),
    )


def _train_seconds(cfg: RunConfig, steps: int, compile: str | None = None) -> float:
    out = Path(tempfile.mkdtemp(prefix="icl-bench-loop-"))
    if compile not in (None, "off"):
        import torch._dynamo

        torch._dynamo.reset()  # every training compiles from scratch, so the compilation cancels
    try:
        t = time.perf_counter()
        train(cfg, out / cfg.name, steps=steps, progress=False, compile=compile)
        return time.perf_counter() - t
    finally:
        shutil.rmtree(out, ignore_errors=True)


LOOP_RETRIES = 4  # doublings of a loop measurement's extra steps before the rate is given up


def loop_rate(
    cfg: RunConfig, n1: int, n2: int, threads: int, fused: bool | None = None, compile: str | None = None
) -> dict[str, Any]:
    """The training loop's steps/s on ``cfg`` (full-size prompts), from two trainings of ``n1``
    and ``n2`` steps (start-up and compilation cancel), with the load during the measurement.
    ``fused`` (fused AdamW) and ``compile`` (this session's setting) default to the config's. A
    compiled loop is first trained once untimed, so both timed trainings find PyTorch's on-disk
    compile cache equally warm (each still compiles: dynamo is reset before each).

    When the longer training did not take longer (its extra steps drowned in start-up noise, as
    ``--quick``'s few steps can on a busy machine), the extra steps are doubled and it is timed
    again, up to :data:`LOOP_RETRIES` times; ``steps`` records the counts the rate came from."""
    cfg = full_size(cfg)
    if fused is not None:
        cfg = cfg.with_overrides(fused_adamw=fused)
    with load_during() as load, num_threads(threads):
        if compile not in (None, "off"):
            _train_seconds(cfg, n1, compile)
        t1, t2 = _train_seconds(cfg, n1, compile), _train_seconds(cfg, n2, compile)
        for _ in range(LOOP_RETRIES):
            if t2 > t1:
                break
            n2 = n1 + 2 * (n2 - n1)
            t2 = _train_seconds(cfg, n2, compile)
    if t2 <= t1:
        raise RuntimeError(
            f"loop rate of {cfg.name}: {n2} steps took {t2:.3f} s, no longer than {n1} steps "
            f"({t1:.3f} s), after {LOOP_RETRIES} doublings; the machine is too noisy to time it"
        )
    return {
        "threads": threads,
        "steps": [n1, n2],
        "seconds": [t1, t2],
        "steps_per_s": (n2 - n1) / (t2 - t1),
        "load": load,
    }


def loop_rates(cfg: RunConfig, sizes: Sizes, threads: int) -> dict[str, dict[str, Any]]:
    """:func:`loop_rate` in every implementation of :data:`~icl.bench.training.LOOP_VARIANTS`."""
    from .training import LOOP_VARIANTS

    n1, n2 = sizes.loop_steps
    return {
        name: loop_rate(cfg, n1, n2, threads, fused, "default" if compiled else "off")
        for name, (fused, compiled) in LOOP_VARIANTS.items()
        if sizes.compile or not compiled
    }


def bare_step_s(cfg: RunConfig, reps: int, sizes: Sizes, threads: int) -> dict[str, float]:
    """A bare training step of ``cfg``'s model on a full-size batch: forward, MSE, backward, AdamW."""
    from .training import make_step

    xs, ys = sample_batch(full_size(cfg), 0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = TransformerModel(cfg.model)
    with num_threads(threads):
        step = make_step(
            model,
            list(model.parameters()),
            xs,
            ys,
            cfg.train.lr,
            fused=cfg.train.fused_adamw,
            clip=cfg.train.grad_clip,
        )
        return summarize(measure(step, reps, sizes.warmup, sizes.budget_s))


def run_steps(name: str, scale: str) -> int:
    """The steps a run of the study trains itself: all of them, or those after its fork."""
    cfg = get_run_config(name, scale)
    return cfg.train.steps - (cfg.curriculum.mix.hold if fork_source(cfg) is not None else 0)


def bench_study(sizes: Sizes, threads: int, log=lambda s: None) -> list[dict[str, Any]]:
    """Per scale: each family's loop rate in every implementation and its bare step, each run's steps and
    implied wall time (``hours`` at the faster fused loop; ``hours_by_loop`` at each implementation)."""
    rows = []
    for scale in STUDY_SCALES:
        families: dict[tuple[int, int, int], dict[str, Any]] = {}
        runs = []
        for name in SCALE_RUNS[scale]:
            cfg = get_run_config(name, scale)
            fam = cfg.model.n_points, cfg.task.n_dims, cfg.train.batch_size
            if fam not in families:
                log(f"study: {scale} {name} (loops of {sizes.loop_steps[1]} steps)")
                families[fam] = _family(cfg, sizes, threads)
            f, steps = families[fam], run_steps(name, scale)
            by_loop = {k: steps / r["steps_per_s"] / 3600 for k, r in f["loops"].items()}
            runs.append(
                {
                    "run": name,
                    "steps": steps,
                    "family": f["run"],
                    "hours": steps / f["steps_per_s"] / 3600,
                    "hours_by_loop": by_loop,
                }
            )
        by_loop = {k: sum(r["hours_by_loop"][k] for r in runs) for k in runs[0]["hours_by_loop"]}
        rows.append(
            {
                "scale": scale,
                "families": list(families.values()),
                "runs": runs,
                "total_hours": sum(r["hours"] for r in runs),
                "total_hours_by_loop": by_loop,
            }
        )
    return rows


def _family(cfg: RunConfig, sizes: Sizes, threads: int) -> dict[str, Any]:
    """One family's row: the loop in every implementation, the faster fused one as the headline, the
    bare step (eager, fused AdamW as the presets) and the eager fused loop's speed against it."""
    loops = loop_rates(cfg, sizes, threads)
    best = max((k for k in loops if k.startswith("fused")), key=lambda k: loops[k]["steps_per_s"])
    bare = bare_step_s(cfg, sizes.cpu_reps, sizes, threads)
    return {
        "run": cfg.name,
        "n_points": cfg.model.n_points,
        "n_dims": cfg.task.n_dims,
        "batch": cfg.train.batch_size,
        **loops[best],
        "loop": best,
        "loops": loops,
        "bare_step_s": bare,
        "loop_vs_bare": loops["fused AdamW"]["steps_per_s"] * bare["median"],
    }


@contextmanager
def cpu_burner() -> Iterator[None]:
    """A second CPU-heavy process (a one-core busy loop) for the duration of the block."""
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        p.kill()
        p.wait()


def contention_rows(sizes: Sizes, log=lambda s: None) -> list[dict[str, Any]]:
    """The small scale's linear loop (fused AdamW, eager) at 1 and 2 threads, alone and beside a busy
    process."""
    cfg = get_run_config("linear-w0.50", "small")
    n1, n2 = sizes.loop_steps
    rows = []
    for shared in (False, True):
        for threads in (1, 2):
            log(f"contention: {threads} thread(s), {'beside a busy process' if shared else 'alone'}")
            with cpu_burner() if shared else nullcontext():
                rate = loop_rate(cfg, n1, n2, threads, compile="off")
            rows.append({"scale": "small", "run": cfg.name, "shared": shared, **rate})
    return rows

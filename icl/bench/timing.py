"""The timing harness: what one benchmark run measures, and how a measurement is taken.

This module owns the sizes and repetition counts of a run (:class:`Sizes`: :data:`FULL`,
and :data:`QUICK` for ``--quick``), repeated wall-time measurement (:func:`measure`) and
its summary (median, quartiles, IQR: :func:`summarize`), the thread setting of a block
(:func:`num_threads`) and the fp32 matmul peak every GFLOP/s figure is compared against
(:func:`matmul_peak`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .machine import load_during

__all__ = ["Sizes", "FULL", "QUICK", "summarize", "measure", "num_threads", "matmul_peak"]


@dataclass(frozen=True)
class Sizes:
    """Every size and repetition count of one benchmark run."""

    quick: bool
    cpu_batch: int  # training-step batch at the cpu scale (the preset's is 64)
    paper_batch: int
    cpu_reps: int
    paper_reps: int
    warmup: int
    budget_s: float  # stop repeating a measurement after this long (at least 3 samples)
    peak_n: int  # matmul size for the fp32 peak
    peak_reps: int
    scale_points: tuple[int, ...]
    scale_dims: tuple[int, ...]
    scale_reps: int
    lasso_prompts: int
    lasso_points: int
    bayes_prompts: int
    baseline_reps: int
    compile: bool
    grid_prompts: int  # 1-D grid posteriors, combined fit, ReLU-network fit
    report_only: str | None  # end-to-end: chapters to build (None: all)
    report_params: tuple[tuple[str, Any], ...]  # end-to-end: parameters of every chapter
    loop_steps: tuple[int, int] = (100, 600)  # time to a study: two trainings of n1 and n2 steps, differenced


FULL = Sizes(
    quick=False,
    cpu_batch=64,
    paper_batch=64,
    cpu_reps=20,
    paper_reps=5,
    warmup=2,
    budget_s=60.0,
    peak_n=2048,
    peak_reps=7,
    scale_points=(11, 21, 41, 81, 161),
    scale_dims=(5, 10, 20, 40),
    scale_reps=7,
    lasso_prompts=1280,
    lasso_points=21,
    bayes_prompts=1280,
    baseline_reps=3,
    compile=True,
    grid_prompts=1280,
    report_only=None,
    report_params=(),
)
QUICK = Sizes(
    quick=True,
    cpu_batch=8,
    paper_batch=2,
    cpu_reps=3,
    paper_reps=2,
    warmup=1,
    budget_s=1.0,
    peak_n=384,
    peak_reps=7,
    scale_points=(11, 21, 41),
    scale_dims=(5, 10, 20),
    scale_reps=3,
    lasso_prompts=64,
    lasso_points=21,
    bayes_prompts=64,
    baseline_reps=1,
    compile=False,
    grid_prompts=64,
    report_only="01",
    report_params=(("n_eval", 16),),
    loop_steps=(2, 6),
)


def summarize(samples: list[float]) -> dict[str, float]:
    """Median, quartiles, IQR and count of a list of samples."""
    a = np.asarray(samples, dtype=float)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1), "n": int(a.size)}


def measure(fn: Callable[[], Any], reps: int, warmup: int = 1, budget_s: float = math.inf) -> list[float]:
    """Wall times (s) of ``reps`` calls of ``fn`` after ``warmup`` untimed ones; stops early
    once ``budget_s`` has passed and at least 3 samples are in."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < reps:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if len(times) >= 3 and time.perf_counter() - start > budget_s:
            break
    return times


@contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, then restore."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def matmul_peak(n: int, reps: int, threads: int) -> dict[str, Any]:
    """Measured fp32 matmul throughput (GFLOP/s) of an ``n x n`` product. The machine's peak
    here is the best sample (other load only slows a sample down); the median and IQR are kept."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    with load_during() as load, num_threads(threads):
        times = measure(lambda: torch.matmul(a, b), reps, warmup=1)
    rates = [2 * n**3 / t / 1e9 for t in times]
    return {"threads": threads, "n": n, "peak_gflops": max(rates), "gflops": summarize(rates), "load": load}

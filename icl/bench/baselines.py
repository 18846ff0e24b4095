"""The baseline rows: the reference predictors the chapters lean on, timed at the notebooks' sizes.

This module owns the ``baselines`` section of ``benchmarks.json``: the batched
:class:`~icl.baselines.Lasso` against scikit-learn's ``Lasso`` refitted per prompt and per
prefix (Garg et al.'s loop; same objective and alpha, at Garg et al.'s tolerance and at a
tight one, with the largest prediction difference), the exact :class:`~icl.baselines.BayesSparse`
posterior at the paper's size, and the non-linear chapters' predictors (the 1-D grid
posteriors, the combined-class fit, the ReLU-network fit: :func:`bench_grid_1d`).
Without scikit-learn its rows are skipped and a note says so.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np

from ..baselines import BayesLine, BayesMixture, BayesSine, BayesSparse, CombinedFit, Lasso, ReluNetGD
from ..config import EVAL, TaskConfig, stream_generator
from ..tasks import ConvexCombination, Line1D, ReluNet, Sine1D, sample_xs
from .machine import load_during, read_load
from .timing import Sizes, measure, num_threads, summarize

__all__ = ["LASSO_ALPHA", "SKLEARN_SETTINGS", "sklearn_lasso_loop", "bench_baselines", "bench_grid_1d"]

LASSO_ALPHA = 0.01  # the notebooks' Lasso penalty (02_sparsity_sweep)
# scikit-learn settings: Garg et al.'s LassoModel (max_iter 100,000, default tol), and a
# tight tolerance under which coordinate descent reaches the exact solution ours computes
SKLEARN_SETTINGS = {
    "garg": {"tol": 1e-4, "max_iter": 100_000},
    "tight": {"tol": 1e-12, "max_iter": 1_000_000},
}


def sklearn_lasso_loop(
    xs: np.ndarray, ys: np.ndarray, alpha: float, tol: float, max_iter: int
) -> tuple[np.ndarray, list[float], int]:
    """The peer approach (Garg et al.'s ``LassoModel``): refit scikit-learn's Lasso for every
    prompt and every prefix. Returns predictions, seconds per prompt, and unconverged fits."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso as SkLasso

    B, n, _ = xs.shape
    preds = np.zeros((B, n))
    per_prompt, unconverged = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for b in range(B):
            t = time.perf_counter()
            for i in range(1, n):  # prefix 0 sees nothing: prediction 0, as in ours
                m = SkLasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=max_iter)
                m.fit(xs[b, :i], ys[b, :i])
                preds[b, i] = m.predict(xs[b, i : i + 1])[0]
                unconverged += int(m.n_iter_ >= max_iter)
            per_prompt.append(time.perf_counter() - t)
    return preds, per_prompt, unconverged


# long: one table of timed cases, each a row of fixed shape
def bench_baselines(sizes: Sizes, threads: int, notes: list[str]) -> dict[str, Any]:
    """Batched Lasso vs the per-prompt scikit-learn loop; BayesSparse at the paper's size."""
    out: dict[str, Any] = {}
    d, n, P = 10, sizes.lasso_points, sizes.lasso_prompts
    fc = TaskConfig(classes=("sparse",), weights=(1.0,), n_dims=d, nnz=2).build()
    g = stream_generator(0, 0, EVAL)
    xs = sample_xs(P, n, d, g)
    ys = fc.sample(P, g).evaluate(xs)
    lasso = Lasso(LASSO_ALPHA)
    lasso_load = {"start": read_load(), "end": None}  # over the whole row: ours and scikit-learn's loops
    with num_threads(threads):
        ours_t = measure(lambda: lasso(xs.double(), ys.double()), sizes.baseline_reps, warmup=1)
        ours = lasso(xs.double(), ys.double()).numpy()
    lasso_row: dict[str, Any] = {
        "n_dims": d,
        "nnz": 2,
        "n_points": n,
        "prompts": P,
        "fits": P * (n - 1),
        "alpha": LASSO_ALPHA,
        "objective": "1/(2k) |y - Xw|^2 + alpha |w|_1 on the k points of a prefix, no intercept (both)",
        "ours_s": summarize(ours_t),
        "ours_unfinished": lasso.n_unfinished_,
    }
    try:
        import sklearn
    except ImportError as e:
        notes.append(f"scikit-learn rows skipped: {e}")
        lasso_row["sklearn"] = None
    else:
        lasso_row["sklearn"] = {}
        for name, setting in SKLEARN_SETTINGS.items():
            with num_threads(threads):
                t = time.perf_counter()
                preds, per_prompt, unconverged = sklearn_lasso_loop(
                    xs.double().numpy(), ys.double().numpy(), LASSO_ALPHA, **setting
                )
                total = time.perf_counter() - t
            diff = np.abs(preds - ours)
            lasso_row["sklearn"][name] = {
                "version": sklearn.__version__,
                **setting,
                "total_s": total,
                "per_prompt_s": summarize(per_prompt),
                "unconverged_fits": unconverged,
                "speedup_ours": total / lasso_row["ours_s"]["median"],
                "max_abs_pred_diff": float(diff.max()),
                "max_abs_pred_diff_from_k": {
                    str(k): float(diff[:, k:].max()) for k in (1, d, 2 * d) if k < n
                },
            }
    lasso_load["end"] = read_load()
    lasso_row["load"] = lasso_load
    out["lasso"] = lasso_row
    d, nnz, n, P = 20, 2, 41, sizes.bayes_prompts
    fc = TaskConfig(classes=("sparse",), weights=(1.0,), n_dims=d, nnz=nnz).build()
    xs = sample_xs(P, n, d, g)
    ys = fc.sample(P, g).evaluate(xs)
    bayes = BayesSparse(d, nnz)
    with load_during() as load, num_threads(threads):
        times = measure(lambda: bayes(xs, ys), sizes.baseline_reps, warmup=0 if sizes.quick else 1)
    s = summarize(times)
    out["bayes_sparse"] = {
        "n_dims": d,
        "nnz": nnz,
        "supports": math.comb(d, nnz),
        "n_points": n,
        "prompts": P,
        "time_s": s,
        "prompts_per_s": P / s["median"],
        "load": load,
    }
    out["grid_1d"] = bench_grid_1d(sizes, threads)
    return out


def bench_grid_1d(sizes: Sizes, threads: int) -> list[dict[str, Any]]:
    """The non-linear chapters' reference predictors at the notebooks' sizes: every prefix
    of 41-point 1-D prompts (chapter 4's a = 0.5 combinations), and chapter 3's ReLU-network
    fit at its seven prefix lengths on d = 10 ReLU-network prompts."""
    P, n = sizes.grid_prompts, 41
    g = stream_generator(1, 0, EVAL)
    xs = sample_xs(P, n, 1, g)
    ys = ConvexCombination(Line1D(), Sine1D((1.0, 3.0)), 0.5).sample(P, g).evaluate(xs)
    xr = sample_xs(P, n, 10, g)
    yr = ReluNet(10, normalize=True).sample(P, g).evaluate(xr)
    cases = [
        ("BayesSine (128 omega x 256 phase grid)", "every prefix", BayesSine(), xs, ys),
        (
            "BayesMixture line/sine w = 0.5 (line posterior + the sine grid)",
            "every prefix",
            BayesMixture([BayesLine(noise_var=1e-3), BayesSine()], [0.5, 0.5]),
            xs,
            ys,
        ),
        ("CombinedFit (128-point omega grid + 4 refinements)", "every prefix", CombinedFit(), xs, ys),
        (
            "ReluNetGD (h = 100, 100 Adam steps per fit), d = 10",
            "k in 1, 2, 5, 10, 20, 30, 40",
            ReluNetGD(ks=[1, 2, 5, 10, 20, 30, 40]),
            xr,
            yr,
        ),
    ]
    rows = []
    for name, prefixes, f, x, y in cases:
        with load_during() as load, num_threads(threads):
            t = summarize(measure(lambda f=f, x=x, y=y: f(x, y), sizes.baseline_reps, warmup=0))
        rows.append(
            {
                "predictor": name,
                "prefixes": prefixes,
                "prompts": P,
                "n_points": n,
                "time_s": t,
                "prompts_per_s": P / t["median"],
                "load": load,
            }
        )
    return rows

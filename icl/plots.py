"""Figures of the study: error-vs-k curves with bootstrap bands, panels, learning curves.

This module owns how results look. Every function draws on a matplotlib ``Axes``
(created if not given) and returns it, so notebooks compose figures in one line.
Colours are fixed per predictor so a reader can follow one model across chapters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .config import scale_dir
from .evaluate import Curve

__all__ = ["color_of", "plot_curves", "plot_learning_curves", "plot_at_k", "plot_sweep", "plot_distance"]

_BASELINE_COLORS = {
    "least squares": "#555555", "Lasso": "#8c564b", "Bayes dense": "#17becf", "Bayes sparse": "#bcbd22",
    "3-NN": "#7f7f7f", "averaging": "#c7c7c7", "zero": "#000000",
}
_RUN_COLORS = {
    "linear-w0.00": "#d62728", "linear-w0.25": "#ff7f0e", "linear-w0.50": "#2ca02c", "linear-w0.75": "#9467bd",
    "linear-w1.00": "#1f77b4",
}


def color_of(name: str) -> str:
    if name in _RUN_COLORS:
        return _RUN_COLORS[name]
    if name.startswith("Bayes mixture"):
        return "#e377c2"
    return _BASELINE_COLORS.get(name, f"C{abs(hash(name)) % 10}")


def _is_baseline(name: str) -> bool:
    return name not in _RUN_COLORS and "-" not in name.split()[0]


def plot_curves(curves: Mapping[str, Curve], ax=None, title: str = "", names: Sequence[str] | None = None,
                ylim: tuple[float, float] | None = (0, 1.25)):
    """Normalised error against k, one line per predictor, bootstrap band shaded."""
    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for name in names or list(curves):
        if name not in curves:
            continue
        c = curves[name]
        style = "--" if _is_baseline(name) else "-"
        ax.plot(c.ks, c.mean, style, color=color_of(name), label=name, lw=1.6 if style == "-" else 1.2)
        ax.fill_between(c.ks, c.lo, c.hi, color=color_of(name), alpha=0.15, lw=0)
    ax.set_xlabel("in-context examples k")
    ax.set_ylabel("normalised squared error")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax


def run_file(name: str, filename: str, root: Path | None = None, scale: str = "cpu") -> Path:
    """A run's file as the chapters read runs: ``root/<name>/`` when that folder exists, else the
    committed run of ``scale`` (so a figure shows the same runs its chapter evaluates)."""
    if root is not None and (Path(root) / name).exists():
        return Path(root) / name / filename
    return scale_dir(scale) / name / filename


def plot_learning_curves(names: Sequence[str], ax=None, root: Path | None = None, smooth: int = 20,
                         scale: str = "cpu"):
    """Training loss (moving average over ``smooth`` logged points) of each run's loss.csv."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for name in names:
        path = run_file(name, "loss.csv", root, scale)
        if not path.exists():
            continue
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        steps, loss = data[:, 0], data[:, 1]
        if len(loss) >= smooth:
            loss = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
            steps = steps[smooth - 1 :]
        ax.plot(steps, loss, color=color_of(name), label=name)
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (MSE, unit-variance targets)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    return ax


def plot_emergence(names: Sequence[str], scale: str = "cpu", root: Path | None = None, axes=None):
    """The emergence figure: each run's logged error (``eval.csv``) against training step, one
    panel per (class, k) column, with least squares and the Lasso on the same fixed prompts as
    horizontal references. Returns (figure, names of the runs that have no log: trained before
    the log existed, or not trained)."""
    import csv

    from .config import get_run_config
    from .emergence import columns, reference_errors

    logged = {n: run_file(n, "eval.csv", root, scale) for n in names}
    have = [n for n, p in logged.items() if p.exists()]
    no_log = [n for n in names if n not in have]
    if not have:
        return None, no_log
    cfg = get_run_config(have[0], scale)
    cols = columns(cfg)
    if axes is None:
        fig, axes = plt.subplots(1, len(cols), figsize=(3.3 * len(cols), 3.2), sharey=True, squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    refs = reference_errors(cfg)
    for name in have:
        rows = list(csv.DictReader(open(logged[name])))
        steps = np.array([int(r["step"]) for r in rows])
        for ax, col in zip(axes, cols):
            ax.plot(steps, [float(r[col]) for r in rows], color=color_of(name), label=name, lw=1.2)
    for ax, j, col in zip(axes, range(len(cols)), cols):
        for ref, style in (("least squares", "--"), ("Lasso", ":")):
            if ref in refs:
                ax.axhline(refs[ref][j], color="0.3", ls=style, lw=1, label=ref)
        cls, k = col.rsplit("_k", 1)
        ax.set_title(f"{cls} prompts, k = {k}")
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("normalised squared error")
    axes[-1].legend(fontsize=7, loc="upper right")
    return fig, no_log


def plot_at_k(curves: Mapping[str, Curve], runs: Sequence[str], weights: Sequence[float], ks: Sequence[int],
              ax=None, title: str = ""):
    """F1 panel: error at fixed k against the pretraining dense weight w."""
    ax = ax or plt.subplots(figsize=(4.5, 3.5))[1]
    for j, k in enumerate(ks):
        pts = [(w, curves[r].mean[k], curves[r].lo[k], curves[r].hi[k]) for r, w in zip(runs, weights) if r in curves]
        if not pts:
            continue
        w, m, lo, hi = map(np.array, zip(*pts))
        ax.errorbar(w, m, yerr=[m - lo, hi - m], marker="o", capsize=3, label=f"k={k}", color=f"C{j}")
    ax.set_xlabel("pretraining weight of dense prompts w")
    ax.set_ylabel("normalised squared error")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax


def plot_sweep(sw, k_index: int, names: Sequence[str], ax=None, title: str = ""):
    """F3a: error at one k against nnz."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    for name in names:
        if name not in sw.error:
            continue
        style = "--" if _is_baseline(name) else "-"
        ax.plot(sw.nnz, sw.error[name][:, k_index], style, marker="o", ms=3, color=color_of(name), label=name)
        ax.fill_between(sw.nnz, sw.lo[name][:, k_index], sw.hi[name][:, k_index], color=color_of(name), alpha=0.15)
    ax.set_xlabel("non-zero coefficients nnz")
    ax.set_ylabel("normalised squared error")
    ax.set_title(title or f"k = {sw.ks[k_index]}")
    ax.grid(alpha=0.3)
    return ax


def plot_distance(sw, k_index: int, ax=None, title: str = ""):
    """F3b: mean squared distance between the mixture model's predictions and each single-class model's."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    for label, dist in sw.distance.items():
        ax.plot(sw.nnz, dist[:, k_index], marker="o", ms=3, label=label, color=color_of(label[3:]))
    ax.set_xlabel("non-zero coefficients nnz")
    ax.set_ylabel("mean squared prediction distance")
    ax.set_title(title or f"k = {sw.ks[k_index]}")
    ax.grid(alpha=0.3)
    return ax


# --------------------------------------------------------------------------- chapters 3-5

__all__ += ["plot_error_curves", "plot_vs", "plot_example"]

_RUN_COLORS.update({
    "linear-only": "#1f77b4", "relu-only": "#d62728", "linear-relu-w0.50": "#2ca02c",
    "line-only": "#1f77b4", "sine-only": "#d62728", "line-sine-w0.50": "#2ca02c",
})
_BASELINE_COLORS.update({
    "ReLU net (GD)": "#ff7f0e", "Bayes line": "#17becf", "Bayes sine": "#bcbd22", "combined fit": "#7b4173",
    "Bayes line/sine w=0.5": "#e377c2", "Bayes sine, known omega": "#8c6d31",
})


def _style(name: str) -> dict:
    base = _is_baseline(name) or name in _BASELINE_COLORS
    return dict(color=color_of(name), ls="--" if base else "-", lw=1.2 if base else 1.8)


def plot_error_curves(curves: Mapping[str, Curve], ax=None, title: str = "", names: Sequence[str] | None = None,
                      ylim: tuple[float, float] | None = (0, 1.25), logy: bool = False, floor: float = 1e-4):
    """Like :func:`plot_curves`, for curves known at some k only (NaN elsewhere: drawn
    as markers joined over the known k) and optionally on a log scale (errors below
    ``floor`` drawn at ``floor``)."""
    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for name in names or list(curves):
        if name not in curves:
            continue
        c, st = curves[name], _style(name)
        ok = np.isfinite(c.mean)
        sparse = not ok[1:].all()
        clip = (lambda a: np.maximum(a, floor)) if logy else (lambda a: a)  # noqa: E731
        ax.plot(c.ks[ok], clip(c.mean[ok]), marker="o" if sparse else None, ms=3, label=name, **st)
        ax.fill_between(c.ks[ok], clip(c.lo[ok]), clip(c.hi[ok]), color=st["color"], alpha=0.15, lw=0)
    ax.set_xlabel("in-context examples k")
    ax.set_ylabel("normalised squared error" + (f" (floor {floor:g})" if logy else ""))
    if logy:
        ax.set_yscale("log")
        if ylim and ylim[0] > 0:
            ax.set_ylim(*ylim)
    elif ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax


def plot_vs(sweep, names: Sequence[str] | None = None, ax=None, title: str = "", logx: bool = False,
            logy: bool = False, band: tuple[float, float] | None = None, ref: float | None = None,
            ylim: tuple[float, float] | None = None, floor: float = 1e-4):
    """Error at one k against a parameter of the prompts (a :class:`icl.chapters.Sweep`).

    ``band`` shades the pretraining range of that parameter, ``ref`` marks its
    pretraining value; with ``logy`` errors below ``floor`` are drawn at ``floor``."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    if band is not None:
        ax.axvspan(*band, color="#999999", alpha=0.18, lw=0, label="pretraining range")
    if ref is not None:
        ax.axvline(ref, color="#999999", ls=":", lw=1.5, label="pretraining value")
    clip = (lambda a: np.maximum(a, floor)) if logy else (lambda a: a)  # noqa: E731
    for name in names or list(sweep.error):
        if name not in sweep.error:
            continue
        st = _style(name)
        ax.plot(sweep.values, clip(sweep.error[name]), marker="o", ms=3, label=name, **st)
        ax.fill_between(sweep.values, clip(sweep.lo[name]), clip(sweep.hi[name]), color=st["color"], alpha=0.15,
                        lw=0)
    ax.set_xlabel(sweep.label)
    ax.set_ylabel(f"normalised squared error at k = {sweep.k}" + (f" (floor {floor:g})" if logy else ""))
    if logx:
        ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax


def plot_example(ex, names: Sequence[str] | None = None, ax=None, ylim: tuple[float, float] | None = (-4, 4)):
    """One prompt (an :class:`icl.chapters.Example`): the true function, the in-context
    points and each predictor's curve given those points."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    ax.plot(ex.x_grid, ex.y_true, color="black", lw=2.2, alpha=0.35, label="true function")
    for name in names or list(ex.preds):
        if name in ex.preds:
            ax.plot(ex.x_grid, ex.preds[name], label=name, **_style(name))
    ax.scatter(ex.x_ctx, ex.y_ctx, s=14, color="black", zorder=5, label=f"{len(ex.x_ctx)} in-context points")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(ex.title)
    ax.grid(alpha=0.3)
    return ax

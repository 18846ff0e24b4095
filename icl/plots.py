"""Figures of the study: error curves and sweeps with bootstrap bands, examples, training logs.

This module owns how results look. The seaborn theme is set once, here; every function
draws on a matplotlib ``Axes`` (created if not given) and returns it, so notebooks compose
figures in one line. Lines are seaborn line plots; the bands around them are the chapters'
95% bootstrap intervals (``lo``/``hi``), shaded with ``fill_between``.

Colours follow a predictor across chapters and never depend on ``PYTHONHASHSEED``: a run
is coloured from its registry entry (:data:`icl.config.RUNS`: a dense/sparse run by its
dense weight, one colour per weight, so w = 0.05 and w = 0.00 differ; an instructed run in
its own colour; a single-class run by its class, a mixture of other classes in one colour),
a reference predictor from a fixed map keyed by the chapters' curve-key constants (each its
own colour; a mixture's Bayes learner in its run's colour, dashed), and any other name by
its order of first appearance. Runs are drawn solid (a second training seed of a run in its
first seed's colour, densely dashed: :data:`SECOND_SEED`), everything else dashed (``name in
RUNS``).

Readability: k and other integer axes tick at integers; an error axis whose curves leave
the requested limits is raised so no curve is clipped (:func:`plot_curves`);
:func:`legend_outside` puts one legend for a whole figure outside its panels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.colors import to_hex
from matplotlib.ticker import MaxNLocator

from .baselines import bayes_name
from .chapters.convex_combinations import BAYES_LINE, BAYES_SINE, COMBINED_FIT
from .chapters.extreme_functions import BAYES_SINE_KNOWN
from .chapters.model_selection import BAYES_DENSE, BAYES_SPARSE, LASSO, LEAST_SQUARES
from .chapters.nonlinear_mixtures import RELU_GD, THREE_NN
from .chapters.rare_and_conditional import COND_CORRECT, COND_NONE, COND_WRONG
from .config import RUNS
from .evaluate import Curve
from .run_folder import RunFolder
from .tasks import ClassName, Family

__all__ = [
    "PALETTE",
    "SECOND_SEED",
    "color_of",
    "run_linestyle",
    "style_of",
    "plot_curves",
    "plot_learning_curves",
    "plot_emergence",
    "plot_at_k",
    "plot_sweep",
    "plot_distance",
    "plot_example",
    "plot_emergence_references",
    "legend_outside",
    "integer_ticks",
]

sns.set_theme(style="whitegrid", context="notebook", font_scale=0.85, rc={"grid.alpha": 0.5})
PALETTE = [to_hex(c) for c in sns.color_palette("tab10")]  # the shared palette
_BLUE, _ORANGE, _GREEN, _RED, _PURPLE, _BROWN, _PINK, _GREY, _OLIVE, _CYAN = PALETTE

# runs: a dense/sparse run by its dense weight w, one colour per weight of the registry (sparse-only
# red ... dense-only blue; chapter 6's rare-class runs, w = 0.05 and 0.95, mustard and cyan so they
# never pass for the specialists), any other weight on the blend; an instructed run its own colour;
# a single-class run of another family by its class, a mixture of other classes green
_BY_DENSE_WEIGHT = sns.blend_palette([_RED, _ORANGE, _GREEN, _PURPLE, _BLUE], as_cmap=True)
_DENSE_WEIGHT_COLORS = {
    0.0: _RED,
    0.05: "#e6ab02",
    0.25: _ORANGE,
    0.5: _GREEN,
    0.75: _PURPLE,
    0.95: _CYAN,
    1.0: _BLUE,
}
_INSTRUCTED = "#01665e"
_BY_CLASS = {ClassName.DENSE: _BLUE, ClassName.LINE: _BLUE, ClassName.RELU: _RED, ClassName.SINE: _RED}
_MIXTURE = _GREEN


def _run_color(run) -> str:
    """The colour of a registry entry (:class:`icl.config.RunSpec`), from its fields."""
    if run.family == Family.LINEAR:
        if run.instructed:
            return _INSTRUCTED
        w = round(run.weight_of(ClassName.DENSE), 4)
        return _DENSE_WEIGHT_COLORS.get(w) or to_hex(_BY_DENSE_WEIGHT(w))
    return _MIXTURE if run.is_mixture else _BY_CLASS.get(run.classes[0], _GREY)


# reference predictors, by the chapters' curve keys: each its own colour (least squares dark grey, 3-NN
# olive dotted, the Bayes learners of one class dark navy / dark red); the Bayes learner of each
# registry mixture (of a family with a Bayes-optimal learner) in its run's colour, by the learner's name
# (dashed, so it is told from the run's solid line)
_BASELINES = {
    LEAST_SQUARES: "#555555",
    LASSO: _BROWN,
    BAYES_DENSE: "#08306b",
    BAYES_SPARSE: "#7f0000",
    THREE_NN: _OLIVE,
    RELU_GD: _ORANGE,
    BAYES_LINE: "#6baed6",
    BAYES_SINE: _PINK,
    COMBINED_FIT: "#7b4173",
    BAYES_SINE_KNOWN: "#8c6d31",
    **{
        bayes_name(r.classes, r.weights): _run_color(r)
        for r in RUNS.values()
        if r.family in (Family.LINEAR, Family.ONE_D) and r.is_mixture and not r.instructed and r.base is None
    },
}
# chapter 6's conditional model under each instruction: one colour each, a line style per instruction
_VARIANTS = {
    COND_CORRECT: dict(color="#1b7837", linestyle="-"),
    COND_WRONG: dict(color="#b2182b", linestyle=":"),
    COND_NONE: dict(color="#762a83", linestyle="-."),
}
# references told apart by their dashes too (grey, brown and olive look alike small)
_BASELINE_DASHES = {LEAST_SQUARES: "--", LASSO: "-.", THREE_NN: ":"}
_OTHERS: dict[str, str] = {}  # any other name: the next palette colour, in order of first appearance


def color_of(name: str) -> str:
    """The colour of a run or predictor, the same in every figure (see the module docstring)."""
    if name in RUNS:
        return _run_color(RUNS[name])
    if name in _BASELINES:
        return _BASELINES[name]
    if name in _VARIANTS:
        return _VARIANTS[name]["color"]
    return _OTHERS.setdefault(name, PALETTE[len(_OTHERS) % len(PALETTE)])


SECOND_SEED = (0, (4, 1.5))  # the line style of a second-seed run (a registry entry with a ``base``)


def run_linestyle(name: str):
    """Solid for a run, :data:`SECOND_SEED` for a second-seed run; None for anything else."""
    if name not in RUNS:
        return None
    return SECOND_SEED if RUNS[name].base is not None else "-"


def style_of(name: str) -> dict:
    """Line keywords of a run (solid), of the conditional model under an instruction (its own
    colour and style) or of any other predictor (dashed, thinner, drawn over the runs so a
    reference that meets a run's curve, least squares under the dense-only model, stays visible)."""
    if name in _VARIANTS:
        return dict(**_VARIANTS[name], linewidth=1.8)
    run = name in RUNS
    return dict(
        color=color_of(name),
        linestyle=run_linestyle(name) or _BASELINE_DASHES.get(name, "--"),
        linewidth=1.8 if run else 1.4,
        zorder=2 if run else 2.5,
    )  # a dashed reference over a run it meets


def _axes(ax, size: tuple[float, float]):
    return ax if ax is not None else plt.subplots(figsize=size)[1]


def _line(ax, x, y, lo=None, hi=None, label: str = "", marker: str | None = None, **style):
    """One seaborn line, its bootstrap band shaded when given."""
    sns.lineplot(
        x=np.asarray(x),
        y=np.asarray(y),
        ax=ax,
        label=label,
        marker=marker,
        markersize=3,
        markeredgewidth=0,
        estimator=None,
        sort=False,
        legend=False,
        **style,
    )  # legends: the caller's
    if lo is not None:
        ax.fill_between(x, lo, hi, color=style.get("color"), alpha=0.15, lw=0)


def _clip(logy: bool, floor: float):
    return (lambda a: np.maximum(a, floor)) if logy else (lambda a: a)


def _present(names: Sequence[str] | None, have: Mapping) -> list[str]:
    return [n for n in (names or list(have)) if n in have]


def integer_ticks(ax, axis: str = "x") -> None:
    """Ticks at integers only on ``axis`` ("x" or "y") of ``ax`` (k, nnz: never 1.5 or 2.5)."""
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))


def _integral(values) -> bool:
    v = np.asarray(values, dtype=float)
    return v.size > 0 and bool(np.all(np.isfinite(v))) and bool(np.all(v == np.round(v)))


def _top(arrays) -> float | None:
    """The highest finite value of ``arrays`` (None if none)."""
    tops = [float(np.nanmax(a)) for a in map(np.asarray, arrays) if a.size and np.isfinite(a).any()]
    return max(tops) if tops else None


def _error_axis(
    ax, ylabel: str, title: str, ylim, logy: bool, floor: float, top: float | None = None
) -> None:
    """Label, scale and limits of an error axis. ``ylim`` is raised where it would clip a curve
    (``top``: the highest value drawn) and never lowered below a limit already set on this axis
    (by a panel sharing it): no curve a verdict reads leaves the plot."""
    ax.set_ylabel(ylabel + (f" (floor {floor:g})" if logy else ""))
    if logy:
        ax.set_yscale("log")
    if ylim and (not logy or ylim[0] > 0):
        lo, hi = ylim
        if top is not None and top > hi:
            hi = top * (1.5 if logy else 1.06)
        if not ax.get_autoscaley_on():  # a limit set before, e.g. raised by a panel sharing this axis
            hi = max(hi, ax.get_ylim()[1])
        ax.set_ylim(lo, hi)
    ax.set_title(title)


def legend_outside(fig_or_axes, fontsize: float = 9, ncol: int | None = None, where: str = "below"):
    """One legend for a whole figure, outside its panels: the entries of every panel once each
    (first appearance first), below the panels and their axis labels (``where="below"``, in up to
    four columns) or to their right (``"right"``). Legends already drawn inside the panels are
    removed. Returns it."""
    axes = (
        list(fig_or_axes.axes)
        if hasattr(fig_or_axes, "axes") and not hasattr(fig_or_axes, "plot")
        else list(np.ravel(fig_or_axes))
    )
    fig = axes[0].figure
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label and not label.startswith("_"):
                entries.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    # the panels' extent with their labels, in figure coordinates: the legend starts past it
    renderer = fig.canvas.get_renderer()
    boxes = [ax.get_tightbbox(renderer).transformed(fig.transFigure.inverted()) for ax in axes]
    if where == "right":
        return fig.legend(
            list(entries.values()),
            list(entries),
            loc="upper left",
            bbox_to_anchor=(max([1.0] + [b.x1 for b in boxes]), 0.95),
            fontsize=fontsize,
            frameon=False,
            ncol=ncol or 1,
        )
    ncol = ncol or min(4, max(1, len(entries)))
    return fig.legend(
        list(entries.values()),
        list(entries),
        loc="upper center",
        bbox_to_anchor=(0.5, min([0.0] + [b.y0 for b in boxes])),
        fontsize=fontsize,
        frameon=False,
        ncol=ncol,
    )


def plot_curves(
    curves: Mapping[str, Curve],
    ax=None,
    title: str = "",
    names: Sequence[str] | None = None,
    ylim: tuple[float, float] | None = (0, 1.25),
    logy: bool = False,
    floor: float = 1e-4,
    colors: Mapping[str, str] | None = None,
):
    """Normalised error against k, one line per predictor (``names``, default all), bootstrap
    band shaded. A curve known at some k only (NaN elsewhere, e.g. a baseline computed at a
    few k) is drawn as markers joined over the known k; with ``logy`` errors below ``floor``
    are drawn at ``floor`` (and ``ylim`` applies only when its lower end is positive). ``colors``
    overrides the colour of some names (e.g. each run's own Bayes learner in its run's colour).
    A curve above ``ylim`` raises the limit (see :func:`_error_axis`); k ticks at integers."""
    ax = _axes(ax, (6, 4))
    clip = _clip(logy, floor)
    drawn = []
    for name in _present(names, curves):
        c = curves[name]
        ok = np.isfinite(c.mean)
        marker = None if ok[1:].all() else "o"
        style = {**style_of(name), **({"color": colors[name]} if colors and name in colors else {})}
        _line(ax, c.ks[ok], clip(c.mean[ok]), clip(c.lo[ok]), clip(c.hi[ok]), name, marker, **style)
        drawn.append(clip(c.mean[ok]))
    ax.set_xlabel("in-context examples k")
    integer_ticks(ax)
    _error_axis(ax, "normalised squared error", title, ylim, logy, floor, _top(drawn))
    return ax


def plot_learning_curves(sources: Mapping[str, Path], ax=None, smooth: int = 20):
    """Training loss (moving average over ``smooth`` logged points) of each run's loss log,
    read from the folder its chapter loaded it from (``sources``: run name -> folder, as in
    :attr:`icl.chapters.notebook.OpenChapter.sources`), so the panel shows exactly the runs
    the chapter evaluates."""
    ax = _axes(ax, (6, 3.5))
    for name, folder in sources.items():
        path = RunFolder(folder).loss_path
        if not path.exists():
            continue
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        steps, loss = data[:, 0], data[:, 1]
        if len(loss) >= smooth:
            loss = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
            steps = steps[smooth - 1 :]
        _line(ax, steps, loss, label=name, color=color_of(name), linewidth=1.4)
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (MSE, unit-variance targets)")
    ax.set_yscale("log")
    return ax


def plot_emergence(sources: Mapping[str, Path], scale: str = "cpu", axes=None):
    """The emergence figure: each run's logged error (the emergence log in its folder of
    ``sources``) against training step, one panel per (class, k) column, with least squares
    and the Lasso on the same fixed prompts as horizontal references. Returns (figure or
    None, the runs of ``sources`` that have no log: trained before the log existed)."""
    from .config import get_run_config
    from .emergence import column_keys, read_eval_csv, reference_errors

    have = [n for n, folder in sources.items() if RunFolder(folder).eval_path.exists()]
    no_log = [n for n in sources if n not in have]
    if not have:
        return None, no_log
    cfg = get_run_config(have[0], scale)
    keys = column_keys(cfg)  # the log's (class, k) columns, one panel each
    if axes is None:
        fig, axes = plt.subplots(1, len(keys), figsize=(3.3 * len(keys), 3.2), sharey=True, squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    refs = reference_errors(cfg)
    for name in have:
        log = read_eval_csv(RunFolder(sources[name]).eval_path, cfg)
        for ax, key in zip(axes, keys):
            _line(
                ax,
                log.steps,
                log.errors[key],
                label=name,
                color=color_of(name),
                linewidth=1.2,
                linestyle=run_linestyle(name),
            )
    for j, (ax, (cls, k)) in enumerate(zip(axes, keys)):
        for ref, style in ((LEAST_SQUARES, "--"), (LASSO, ":")):
            if ref in refs:
                ax.axhline(refs[ref][j], color="0.3", ls=style, lw=1, label=ref)
        ax.set_title(f"{cls} prompts, k = {k}")
        ax.set_xlabel("training step")
    axes[0].set_ylabel("normalised squared error")
    legend_outside(list(axes))
    return fig, no_log


def plot_at_k(
    curves: Mapping[str, Curve],
    runs: Sequence[str],
    weights: Sequence[float],
    ks: Sequence[int],
    ax=None,
    title: str = "",
):
    """F1 panel: error at fixed k against the pretraining dense weight w of each run."""
    ax = _axes(ax, (4.5, 3.5))
    for j, k in enumerate(ks):
        pts = [
            (w, curves[r].mean[k], curves[r].lo[k], curves[r].hi[k])
            for r, w in zip(runs, weights)
            if r in curves
        ]
        if not pts:
            continue
        w, m, lo, hi = map(np.array, zip(*pts))
        ax.errorbar(
            w,
            m,
            yerr=[m - lo, hi - m],
            marker="o",
            capsize=3,
            label=f"k={k}",
            color=PALETTE[j % len(PALETTE)],
        )
    ax.set_xlabel("pretraining weight of dense prompts w")
    ax.set_ylabel("normalised squared error")
    ax.set_title(title)
    return ax


def plot_sweep(
    sw,
    k: int | None = None,
    names: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
    xlabel: str | None = None,
    logx: bool = False,
    logy: bool = False,
    band: tuple[float, float] | None = None,
    ref: float | None = None,
    ylim: tuple[float, float] | None = None,
    floor: float = 1e-4,
):
    """Error at one k (default: the sweep's only k) against the swept parameter of a
    :class:`~icl.chapters.sweeps.Sweep`, one line per predictor, bootstrap band shaded.

    ``band`` shades the pretraining range of the parameter, ``ref`` marks its pretraining
    value; with ``logy`` errors below ``floor`` are drawn at ``floor``. The title defaults to
    ``k = <k>``, the x label to the sweep's label; every panel has its own y label, with its k;
    an integer parameter (nnz) ticks at integers; a curve above ``ylim`` raises it."""
    ax = _axes(ax, (5, 3.5))
    at = sw.at_k(k)
    if band is not None:
        ax.axvspan(*band, color="#999999", alpha=0.18, lw=0, label="pretraining range")
    if ref is not None:
        ax.axvline(ref, color="#999999", ls=":", lw=1.5, label="pretraining value")
    clip = _clip(logy, floor)
    drawn = []
    for name in _present(names, at.error):
        _line(
            ax,
            at.values,
            clip(at.error[name]),
            clip(at.lo[name]),
            clip(at.hi[name]),
            name,
            "o",
            **style_of(name),
        )
        drawn.append(clip(at.error[name]))
    ax.set_xlabel(xlabel or at.label)
    if logx:
        ax.set_xscale("log", base=2)
    elif _integral(at.values):
        integer_ticks(ax)
    _error_axis(
        ax,
        f"normalised squared error at k = {at.k}",
        f"k = {at.k}" if title is None else title,
        ylim,
        logy,
        floor,
        _top(drawn),
    )
    ax.yaxis.label.set_visible(True)  # its own label even where a shared axis hides the inner ones
    return ax


def plot_distance(sw, k: int | None = None, ax=None, title: str | None = None, xlabel: str | None = None):
    """F3b: the mean squared distance between the predictions of the sweep's
    ``distance_from`` predictor and each other one's, at one k, against the swept parameter,
    with its 95% bootstrap band over prompts where the sweep recorded one."""
    ax = _axes(ax, (5, 3.5))
    k = sw.k if k is None else k
    j = sw.column(k)
    for other, dist in sw.distance.items():
        band = (
            (sw.distance_lo[other][:, j], sw.distance_hi[other][:, j])
            if other in sw.distance_lo
            else (None, None)
        )
        _line(
            ax,
            sw.values,
            dist[:, j],
            *band,
            label=f"to {other}",
            marker="o",
            color=color_of(other),
            linewidth=1.6,
        )
    ax.set_xlabel(xlabel or sw.label)
    if _integral(sw.values):
        integer_ticks(ax)
    ax.set_ylabel(f"mean squared prediction distance at k = {k}")
    ax.set_title(f"k = {k}" if title is None else title)
    return ax


def plot_example(ex, names: Sequence[str] | None = None, ax=None, ylim: tuple[float, float] | None = (-4, 4)):
    """One prompt (an :class:`icl.chapters.prompts.Example`): the true function, the
    in-context points and each predictor's curve given those points."""
    ax = _axes(ax, (5, 3.5))
    _line(ax, ex.x_grid, ex.y_true, label="true function", color="black", linewidth=2.2, alpha=0.35)
    for name in _present(names, ex.preds):
        _line(ax, ex.x_grid, ex.preds[name], label=name, **style_of(name))
    ax.scatter(ex.x_ctx, ex.y_ctx, s=14, color="black", zorder=5, label=f"{len(ex.x_ctx)} in-context points")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(ex.title)
    return ax


# long: one figure: a panel per log column, each run and its references
def plot_emergence_references(
    sources: Mapping[str, Path],
    references: Sequence[str] | None = None,
    refs: Mapping[str, Sequence[float]] | None = None,
    axes=None,
    logy: bool = True,
    floor: float = 1e-4,
    ylim: tuple[float, float] | None = None,
):
    """The emergence figure of any family (chapters 3-5; chapters 1-2 use :func:`plot_emergence`):
    each run's logged error (the emergence log in its folder of ``sources``: name -> folder) against the
    training step, one panel per column of the log (:func:`icl.emergence.columns`: class and k), and
    each reference predictor on the same fixed prompts (:func:`icl.emergence.reference_errors`, or
    ``refs`` already computed; ``references``: the names to draw, default all) as a horizontal line
    in its colour. The log's config is read from the first logged run's header (a run of
    the registry or a probe's folder alike); the runs must share one log (one family, d and prompt
    length): a run whose log lacks a column is left out of that panel. With ``logy`` (the default:
    the errors fall over decades) values below ``floor`` are drawn at ``floor``. Returns (figure or
    None, the runs of ``sources`` that have no log: trained before it existed)."""
    from .emergence import column_keys, read_eval_csv, reference_errors

    have = [n for n, folder in sources.items() if RunFolder(folder).eval_path.exists()]
    no_log = [n for n in sources if n not in have]
    if not have:
        return None, no_log
    config = RunFolder(sources[have[0]]).header_config()  # a damaged header: one line naming it
    keys = column_keys(config)  # the log's (class, k) columns, one panel each
    if refs is None:
        refs = reference_errors(config)
    names = [n for n in (references or list(refs)) if n in refs]
    if axes is None:
        fig, axes = plt.subplots(1, len(keys), figsize=(3.3 * len(keys), 3.2), sharey=True, squeeze=False)
        axes = axes[0]
    fig, clip = axes[0].figure, _clip(logy, floor)
    for name in have:
        log = read_eval_csv(RunFolder(sources[name]).eval_path, config)
        for ax, key in zip(axes, keys):
            if len(log) and key in log.errors:
                marker = "o" if len(log) == 1 else None  # one row draws no line: a marker
                _line(
                    ax,
                    log.steps,
                    clip(log.errors[key]),
                    label=name,
                    marker=marker,
                    color=color_of(name),
                    linewidth=1.2,
                    linestyle=run_linestyle(name) or "-",
                )
    for j, (ax, (cls, k)) in enumerate(zip(axes, keys)):
        for ref in names:
            value = float(refs[ref][j])
            if np.isfinite(value):
                style = style_of(ref)
                ax.axhline(clip(value), color=style["color"], ls=style["linestyle"], lw=1, label=ref)
        ax.set_title(f"{cls} prompts, k = {k}")
        ax.set_xlabel("training step")
        if logy:
            ax.set_yscale("log")
        if ylim:
            ax.set_ylim(*ylim)
    axes[0].set_ylabel("normalised squared error" + (f" (floor {floor:g})" if logy else ""))
    legend_outside(list(axes))
    return fig, no_log

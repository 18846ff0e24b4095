"""Figures: the loss panel shows every run a chapter evaluates, colours are stable and distinct, curves and
sweeps draw, integer axes tick at integers, no curve is clipped, legends sit outside the panels."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from icl import plots  # noqa: E402
from icl.chapters.notebook import open_chapter  # noqa: E402
from icl.chapters.sweeps import Sweep  # noqa: E402
from icl.config import RUNS, SCALE_RUNS, scale_dir  # noqa: E402
from icl.evaluate import Curve  # noqa: E402


def labels(ax) -> set[str]:
    return {line.get_label() for line in ax.get_lines()}


def test_a_runs_dir_holding_one_run_still_draws_the_loss_of_every_run_the_chapter_evaluates(tmp_path):
    """The bug of the doubled run locator: with a ``runs_dir`` holding only some runs the chapter
    loads the others from data/runs, and the loss panel must show those too."""
    shutil.copytree(scale_dir("cpu") / "linear-only", tmp_path / "linear-only")
    ch = open_chapter(["linear-only", "relu-only"], seed=0, n_eval=16, runs_dir=str(tmp_path))
    assert set(ch.models) == {"linear-only", "relu-only"}
    assert ch.sources == {
        "linear-only": tmp_path / "linear-only",
        "relu-only": scale_dir("cpu") / "relu-only",
    }
    ax = plots.plot_learning_curves(ch.sources)
    assert labels(ax) == set(ch.models)
    plt.close("all")


@pytest.mark.slow
def test_colours_come_from_the_registry_and_do_not_depend_on_the_hash_seed():
    code = (
        "from icl import plots; print([plots.color_of(n) for n in ('linear-w0.25', 'relu-only', "
        "'line-sine-w0.50', 'Bayes mixture w=0.5', 'least squares', 'something', 'else')])"
    )
    out = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(out) == 1, out
    assert plots.color_of("linear-w0.50-seed1") == plots.color_of("linear-w0.50")  # a second seed: its base's
    assert plots.color_of("linear-w0.00") != plots.color_of("linear-w1.00")
    assert plots.style_of("linear-only")["linestyle"] == "-" and plots.style_of("3-NN")["linestyle"] not in (
        "-",
        None,
    )


def test_curves_known_at_some_k_and_sweeps_draw_on_log_axes():
    m = np.linspace(1, 0.01, 6)
    few = np.full(6, np.nan)
    few[[1, 3]] = [0.5, 0.0]  # known at two k, one of them exactly 0 (drawn at the floor)
    curves = {
        "linear-only": Curve("a", m, m - 0.01, m + 0.01, np.tile(m, (3, 1))),
        "ReLU net (GD)": Curve("b", few, few, few, np.tile(few, (3, 1))),
    }
    ax = plots.plot_curves(curves, logy=True, ylim=(1e-5, 2))
    assert labels(ax) == set(curves) and ax.get_yscale() == "log"
    x, y = ax.get_lines()[1].get_data()
    assert list(x) == [1, 3] and y[1] == 1e-4
    err = {"linear-only": np.array([[0.1, 0.2], [0.3, 0.4]])}
    sw = Sweep(
        "nnz",
        np.array([1, 2]),
        [5, 10],
        err,
        err,
        err,
        distance_from="linear-w0.50",
        distance={"linear-w0.00": np.array([[0.0, 0.1], [0.2, 0.3]])},
    )
    ax = plots.plot_sweep(sw, 10, xlabel="non-zero coefficients nnz")
    assert list(ax.get_lines()[0].get_data()[1]) == [0.2, 0.4] and ax.get_title() == "k = 10"
    ax = plots.plot_distance(sw, 5)
    assert labels(ax) == {"to linear-w0.00"}
    plt.close("all")


def test_a_second_seed_is_drawn_in_its_first_seeds_colour_and_dashed():
    """In the emergence figure (and every curve) seed 1 of a run shares seed 0's colour, so the line style
    tells the two apart; references keep their own dashes."""
    folder = scale_dir("small")
    fig, _ = plots.plot_emergence(
        {n: folder / n for n in ("linear-w0.00", "linear-w0.00-seed1")}, scale="small"
    )
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    first, second = lines["linear-w0.00"], lines["linear-w0.00-seed1"]
    assert first.get_color() == second.get_color()
    assert first.get_linestyle() == "-" and second.get_linestyle() != "-"
    assert plots.style_of("linear-w0.50-seed1")["linestyle"] == plots.SECOND_SEED
    assert plots.style_of("least squares")["linestyle"] not in ("-", plots.SECOND_SEED)
    plt.close(fig)


def test_every_run_of_a_figure_and_every_baseline_has_its_own_colour():
    """A figure shows the runs of one family at one scale: each its own colour (w0.05 is not w0.00's red,
    w0.95 not w1.00's blue, the instructed run not its uninstructed twin's); a second seed shares its
    base's colour but not its line style. Every reference predictor has its own colour."""
    from icl.chapters.convex_combinations import BAYES_LINE, BAYES_SINE, COMBINED_FIT
    from icl.chapters.extreme_functions import BAYES_SINE_KNOWN
    from icl.chapters.model_selection import BAYES_DENSE, BAYES_SPARSE, LASSO, LEAST_SQUARES
    from icl.chapters.nonlinear_mixtures import RELU_GD, THREE_NN

    assert plots.color_of("linear-w0.05") != plots.color_of("linear-w0.00")
    assert plots.color_of("linear-w0.95") != plots.color_of("linear-w1.00")
    for scale, runs in SCALE_RUNS.items():
        for family in {RUNS[r].family for r in runs}:
            shown = [r for r in runs if RUNS[r].family == family]
            looks = {(plots.color_of(r), str(plots.style_of(r)["linestyle"])) for r in shown}
            assert len(looks) == len(shown), (scale, family, shown)
            firsts = [r for r in shown if RUNS[r].base is None]
            assert len({plots.color_of(r) for r in firsts}) == len(firsts), (scale, family, firsts)
    baselines = [
        LEAST_SQUARES,
        LASSO,
        BAYES_DENSE,
        BAYES_SPARSE,
        THREE_NN,
        RELU_GD,
        BAYES_LINE,
        BAYES_SINE,
        COMBINED_FIT,
        BAYES_SINE_KNOWN,
    ]
    assert len({plots.color_of(b) for b in baselines}) == len(baselines)
    ls, nn = plots.style_of(LEAST_SQUARES), plots.style_of(THREE_NN)
    assert ls["color"] != nn["color"] and ls["linestyle"] != nn["linestyle"]


def curve(values) -> Curve:
    m = np.asarray(values, dtype=float)
    return Curve("x", m, m - 0.01, m + 0.01, np.tile(m, (3, 1)))


def test_k_and_nnz_tick_at_integers_and_each_sweep_panel_has_its_own_y_label():
    ax = plots.plot_curves({"linear-w0.00": curve(np.linspace(1, 0.1, 4))})
    fig = ax.figure
    fig.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())
    err = {"linear-w0.00": np.array([[0.1, 0.2], [0.3, 0.4]])}
    sw = Sweep(
        "nnz",
        np.array([1, 2]),
        [2, 5],
        err,
        err,
        err,
        distance_from="linear-w0.50",
        distance={"linear-w0.00": np.array([[0.0, 0.1], [0.2, 0.3]])},
    )
    fig, axes = plt.subplots(1, 2, sharey=True)
    for a, k in zip(axes, sw.ks):
        plots.plot_sweep(sw, k, ax=a, xlabel="non-zero coefficients nnz")
    fig.canvas.draw()
    for a, k in zip(axes, sw.ks):
        assert a.get_ylabel().endswith(f"at k = {k}") and a.yaxis.label.get_visible()
        assert all(float(t).is_integer() for t in a.get_xticks()), a.get_xticks()
    ax = plots.plot_distance(sw, 5)
    ax.figure.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())
    plt.close("all")


def test_a_curve_above_the_old_limit_stays_in_the_plot_on_both_shared_panels():
    """The headline figure: the sparse-only model on dense prompts passes 1.25 at some k; the limit is raised,
    and the panel drawn after it (sharing the y axis, its own curves lower) does not lower it again."""
    fig, axes = plt.subplots(1, 2, sharey=True)
    plots.plot_curves({"linear-w0.00": curve([1.0, 0.5, 0.2, 0.1])}, axes[0])
    plots.plot_curves(
        {"linear-w0.00": curve([1.0, 1.9, 1.4, 1.2]), "least squares": curve([1, 0.8, 0.6, 0.5])}, axes[1]
    )
    assert axes[1].get_ylim()[1] >= 1.9 and axes[0].get_ylim()[1] >= 1.9
    fig, axes = plt.subplots(1, 2, sharey=True)
    plots.plot_curves({"linear-w0.00": curve([1.0, 1.9, 1.4, 1.2])}, axes[0])
    plots.plot_curves({"linear-w0.00": curve([1.0, 0.5, 0.2, 0.1])}, axes[1])
    assert axes[1].get_ylim()[1] >= 1.9
    ax = plots.plot_curves({"linear-w0.00": curve([1.0, 0.5, 0.2, 0.1])})
    assert ax.get_ylim() == (0, 1.25)  # within the limit: unchanged
    ax = plots.plot_curves({"linear-w0.00": curve([1.0, 30, 0.2, 0.1])}, logy=True, ylim=(5e-5, 20))
    assert ax.get_yscale() == "log" and ax.get_ylim()[1] >= 30
    plt.close("all")


def test_one_legend_outside_the_panels_with_each_entry_once():
    fig, axes = plt.subplots(1, 2)
    for a in axes:
        plots.plot_curves({"linear-w0.00": curve([1, 0.5]), "least squares": curve([1, 0.7])}, a)
        a.legend(fontsize=7)
    legend = plots.legend_outside(fig)
    assert all(a.get_legend() is None for a in axes)
    assert [t.get_text() for t in legend.get_texts()] == ["linear-w0.00", "least squares"]
    fig.canvas.draw()
    box, panels = legend.get_window_extent(), axes[0].get_window_extent()
    assert box.y1 <= panels.y0  # below the panels, not over the data
    assert legend.get_texts()[0].get_fontsize() >= 8
    plt.close("all")

"""Figures: the loss panel shows every run a chapter evaluates, colours are stable, curves and sweeps draw."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from icl import plots  # noqa: E402
from icl.chapters.notebook import open_chapter  # noqa: E402
from icl.chapters.sweeps import Sweep  # noqa: E402
from icl.config import scale_dir  # noqa: E402
from icl.evaluate import Curve  # noqa: E402


def labels(ax) -> set[str]:
    return {line.get_label() for line in ax.get_lines()}


def test_a_runs_dir_holding_one_run_still_draws_the_loss_of_every_run_the_chapter_evaluates(tmp_path):
    """The bug of the doubled run locator: with a ``runs_dir`` holding only some runs the chapter
    loads the others from data/runs, and the loss panel must show those too."""
    shutil.copytree(scale_dir("cpu") / "linear-only", tmp_path / "linear-only")
    ch = open_chapter(["linear-only", "relu-only"], seed=0, n_eval=16, runs_dir=str(tmp_path))
    assert set(ch.models) == {"linear-only", "relu-only"}
    assert ch.sources == {"linear-only": tmp_path / "linear-only", "relu-only": scale_dir("cpu") / "relu-only"}
    ax = plots.plot_learning_curves(ch.sources)
    assert labels(ax) == set(ch.models)
    plt.close("all")


def test_colours_come_from_the_registry_and_do_not_depend_on_the_hash_seed():
    code = ("from icl import plots; print([plots.color_of(n) for n in ('linear-w0.25', 'relu-only', "
            "'line-sine-w0.50', 'Bayes mixture w=0.5', 'least squares', 'something', 'else')])")
    out = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(out) == 1, out
    assert plots.color_of("linear-w0.50-seed1") == plots.color_of("linear-w0.50")  # a second seed: its base's
    assert plots.color_of("linear-w0.00") != plots.color_of("linear-w1.00")
    assert plots.style_of("linear-only")["linestyle"] == "-" and plots.style_of("3-NN")["linestyle"] == "--"


def test_curves_known_at_some_k_and_sweeps_draw_on_log_axes():
    m = np.linspace(1, 0.01, 6)
    few = np.full(6, np.nan)
    few[[1, 3]] = [0.5, 0.0]  # known at two k, one of them exactly 0 (drawn at the floor)
    curves = {"linear-only": Curve("a", m, m - 0.01, m + 0.01, np.tile(m, (3, 1))),
              "ReLU net (GD)": Curve("b", few, few, few, np.tile(few, (3, 1)))}
    ax = plots.plot_curves(curves, logy=True, ylim=(1e-5, 2))
    assert labels(ax) == set(curves) and ax.get_yscale() == "log"
    x, y = ax.get_lines()[1].get_data()
    assert list(x) == [1, 3] and y[1] == 1e-4
    err = {"linear-only": np.array([[0.1, 0.2], [0.3, 0.4]])}
    sw = Sweep("nnz", np.array([1, 2]), [5, 10], err, err, err, distance_from="linear-w0.50",
               distance={"linear-w0.00": np.array([[0.0, 0.1], [0.2, 0.3]])})
    ax = plots.plot_sweep(sw, 10, xlabel="non-zero coefficients nnz")
    assert list(ax.get_lines()[0].get_data()[1]) == [0.2, 0.4] and ax.get_title() == "k = 10"
    ax = plots.plot_distance(sw, 5)
    assert labels(ax) == {"to linear-w0.00"}
    plt.close("all")


def test_a_second_seed_is_drawn_in_its_first_seeds_colour_and_dashed():
    """In the emergence figure (and every curve) seed 1 of a run shares seed 0's colour, so the line style
    tells the two apart; references keep their own dashes."""
    folder = scale_dir("small")
    fig, _ = plots.plot_emergence({n: folder / n for n in ("linear-w0.00", "linear-w0.00-seed1")}, scale="small")
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    first, second = lines["linear-w0.00"], lines["linear-w0.00-seed1"]
    assert first.get_color() == second.get_color()
    assert first.get_linestyle() == "-" and second.get_linestyle() != "-"
    assert plots.style_of("linear-w0.50-seed1")["linestyle"] == plots.SECOND_SEED
    assert plots.style_of("least squares")["linestyle"] not in ("-", plots.SECOND_SEED)
    plt.close(fig)

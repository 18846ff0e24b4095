"""What chapters 3-5 share about their prompts.

* the checks that a loaded run was trained on prompts a chapter may judge it on
  (:func:`check_lengths`, :func:`check_band`, :func:`check_task`; a notebook passes the
  last to :func:`~icl.chapters.notebook.open_chapter` as ``check_config``);
* one 1-D prompt drawn as curves, every predictor's ``x -> f_hat(x | prompt)``
  (:class:`Example`, :func:`example_curves`; chapters 4-5);
* the table of each predictor's error at a few k on each prompt class (:func:`curve_table`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..baselines import restricted
from ..config import EVAL, stream_generator
from ..evaluate import Curve, Predictor, Prompts, draw_prompts, predict
from ..tasks import ClassName, FunctionClass

__all__ = ["check_lengths", "check_band", "check_task", "Example", "example_curves", "curve_table"]


def check_lengths(models: Mapping[str, torch.nn.Module], n_points: int) -> None:
    """Every model must accept prompts of ``n_points`` examples."""
    for name, m in models.items():
        cap = getattr(getattr(m, "cfg", None), "n_points", None)
        if cap is not None and cap < n_points:
            raise ValueError(
                f"run {name!r} was trained on prompts of {cap} points; this chapter needs {n_points}"
            )


def check_band(configs: Mapping, band: Sequence[float]) -> tuple[float, float]:
    """The sinusoid band of the chapter must be the one the loaded 1-D runs were trained on."""
    band = (float(band[0]), float(band[1]))
    for name, cfg in configs.items():
        if ClassName.SINE in cfg.task.classes and tuple(cfg.task.band) != band:
            raise ValueError(
                f"band={list(band)} differs from run {name!r}'s pretraining band {list(cfg.task.band)}"
            )
    return band


def check_task(configs: Mapping, hidden: int = 100) -> None:
    """The chapters' prompts are drawn from unit-variance classes and ReLU networks of width
    ``hidden``: refuse a run trained otherwise (e.g. with ``--set task.hidden=20``) rather
    than judge it on prompts of another class."""
    for name, cfg in configs.items():
        if not cfg.task.normalize:
            raise ValueError(
                f"run {name!r} was trained with task.normalize=False; the chapters need "
                f"task.normalize=True (unit-variance classes)"
            )
        if ClassName.RELU in cfg.task.classes and cfg.task.hidden != hidden:
            raise ValueError(
                f"run {name!r} was trained on ReLU networks of width task.hidden={cfg.task.hidden}; "
                f"this chapter's prompts use width {hidden}"
            )


@dataclass
class Example:
    """One prompt drawn as a curve: the true function on a grid of x, the in-context
    points, and each predictor's prediction at every grid x given those points."""

    title: str
    x_ctx: np.ndarray  # (k,)
    y_ctx: np.ndarray
    x_grid: np.ndarray  # (G,)
    y_true: np.ndarray
    preds: dict[str, np.ndarray]  # name -> (G,)


def example_curves(
    predictors: Mapping[str, Predictor],
    fc: FunctionClass,
    k: int,
    seed: int,
    title: str = "",
    x_range: tuple[float, float] = (-3.0, 3.0),
    n_grid: int = 121,
) -> Example:
    """One 1-D prompt of ``k`` examples, and every predictor's curve ``x -> f_hat(x | prompt)``."""
    if fc.n_dims != 1:
        raise ValueError("example curves are drawn for 1-D classes only")
    prompt = draw_prompts(fc, 1, k, stream_generator(seed, 0, EVAL))  # as sample_prompts(fc, 1, k, seed)
    xs, ys = prompt.xs, prompt.ys
    xg = torch.linspace(*x_range, n_grid)
    y_true = prompt.task.evaluate(xg.reshape(1, n_grid, 1))[0]
    # one prompt per grid point: the k examples, then the grid x as the query
    X = torch.cat([xs.expand(n_grid, k, 1), xg.reshape(n_grid, 1, 1)], 1)
    Y = torch.cat([ys.expand(n_grid, k), torch.zeros(n_grid, 1)], 1)
    batch = Prompts(X, Y, torch.ones(n_grid), torch.zeros(n_grid, dtype=torch.long))
    preds = {name: predict(restricted(f, [k]), batch)[:, k].numpy() for name, f in predictors.items()}
    return Example(title, xs[0, :, 0].numpy(), ys[0].numpy(), xg.numpy(), y_true.numpy(), preds)


def curve_table(groups: Mapping[str, Mapping[str, Curve]], ks: Sequence[int]):
    """One row per prompt class and predictor: its mean error at each of ``ks`` (3 decimals)."""
    import pandas as pd

    rows = []
    for task, curves in groups.items():
        for name, c in curves.items():
            rows.append(
                {
                    "prompts": task,
                    "predictor": name,
                    **{f"k={k}": round(float(c.mean[k]), 3) for k in ks if k < len(c.mean)},
                }
            )
    return pd.DataFrame(rows)

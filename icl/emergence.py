"""The emergence log: a run's in-context errors at fixed k, measured while it trains.

This module owns how a training run watches its learning arrive. Every ``eval_every`` steps
(and at step 0) the run scores itself on a small *fixed* evaluation set, one per class its
family reads, drawn once from the ``EMERGENCE`` stream (disjoint from training and from the
chapters' evaluation prompts), at fixed k written through d (:func:`emergence_ks`). The family
is read off the run's classes (:func:`family`):

- ``linear`` (chapters 1-2, dense/sparse runs): dense and sparse prompts at k = ceil(d/2) and
  d - 1, the ends of :func:`selection_range`, where selecting a sparse solution pays and least
  squares cannot yet fit (chapter 1 reads its selection fraction there);
- ``nonlinear`` (chapter 3: a ReLU class, or dense linear alone): dense linear and ReLU-network
  prompts at k = ceil(d/2) and d + 2 (from d + 2 on the classes are identifiable, C6);
- ``1d`` (chapters 4-5: lines and sines): lines and sines at k = 3 and 10, and convex
  combinations ``a line + (1 - a) sine`` at a = 0.5 (:data:`COMBINATION`, drawn by
  :class:`~icl.tasks.ConvexCombination`) at k = 20.

Every run of a family is scored on the same prompts (paired across runs and seeds). The rows
go to the run folder's emergence log beside its loss log (:func:`write_eval_csv`, one column per (class, k):
:func:`column`; read back by :func:`read_eval_csv`, keyed by (class, k)) and into the resumable
state, so a resumed run keeps its log. :func:`reference_errors` scores reference predictors on the
same prompts, keyed by their own names (the chapters' curve keys), the horizontal
lines an emergence figure is read against (:func:`icl.plots.plot_emergence_references`): least
squares everywhere; the Lasso (linear); the Bayes dense learner and the ReLU-network fit
(nonlinear); the Bayes line, sine and line/sine learners and the combined-class fit (1d). They
are computed once per figure, never while training (a few seconds at the cpu scale).

Cost: one forward pass over 256 prompts per class per 1,000 steps (two classes, three for a
1-D run): 0.19 s for two at the small scale, about 1% of training; under 1 s for a 1-D run's
three at the cpu scale, under 0.5% of its 1,000 steps (0.24 s each on one busy thread).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .checkpoint import atomic_write_text
from .config import EMERGENCE, RunConfig, TaskConfig, stream_generator
from .evaluate import Prompts, draw_prompts, errors, predict
from .model import Instructed, TransformerModel
from .tasks import ClassName, ConvexCombination, Family, FunctionClass

__all__ = [
    "N_PROMPTS",
    "FAMILY_CLASSES",
    "COMBINATION",
    "COMBINATION_A",
    "COMBINATION_K",
    "family",
    "selection_range",
    "emergence_ks",
    "logged_ks",
    "log_plan",
    "EmergenceSet",
    "emergence_set",
    "column",
    "column_keys",
    "columns",
    "reference_errors",
    "write_eval_csv",
    "EvalLog",
    "read_eval_csv",
    "FLAT_WINDOW",
    "FLAT_TOL",
    "window_means",
    "is_flat",
]

FLAT_WINDOW, FLAT_TOL = 10_000, 0.01  # "flat": the last two windows' mean errors differ by less than FLAT_TOL
N_PROMPTS = 256  # per class; small and fixed, so the log is cheap and its curves are paired across steps
# the classes each family's log reads (every run of the family reads all of them: its runs are compared)
FAMILY_CLASSES = {
    Family.LINEAR: (ClassName.DENSE, ClassName.SPARSE),
    Family.NONLINEAR: (ClassName.DENSE, ClassName.RELU),
    Family.ONE_D: (ClassName.LINE, ClassName.SINE),
}
# a 1-D run's log also reads convex combinations a * line + (1 - a) * sine (chapter 4) at one k
COMBINATION, COMBINATION_A, COMBINATION_K = ClassName.COMBINATION, 0.5, 20


def family(task: TaskConfig) -> Family:
    """The family a run's log reads, from its classes: ``1d`` (a line or sine class), ``nonlinear``
    (a ReLU class, or dense linear alone: chapter 3's linear-only run; the linear runs of chapters 1-2
    always name both dense and sparse) or ``linear`` (dense/sparse)."""
    classes = set(task.classes)
    if classes & {ClassName.LINE, ClassName.SINE}:
        return Family.ONE_D
    if ClassName.RELU in classes or tuple(task.classes) == (ClassName.DENSE,):
        return Family.NONLINEAR
    return Family.LINEAR


def selection_range(d: int) -> np.ndarray:
    """The k at which selection is read: ceil(d/2) .. d-1, where a sparse function is already
    determined (k > nnz) and least squares is not yet exact (k < d). Chapter 1's selection
    fraction is read over it; the linear log reads its two ends (:func:`emergence_ks`)."""
    return np.arange(math.ceil(d / 2), d)


def emergence_ks(d: int, family: str = Family.LINEAR) -> tuple[int, int]:
    """The two k a family's log reads on its classes. ``linear``: the ends of :func:`selection_range`,
    ceil(d/2) and d - 1 (k = 2 and 5 at d = 1, as before the other families had logs; at least 2 at
    d = 2); ``nonlinear``: ceil(d/2) and d + 2; ``1d``: 3 and 10."""
    if family == Family.LINEAR:
        ks = selection_range(d)
        return (2, 5) if d == 1 else (int(ks[0]), max(2, int(ks[-1])))
    if family == Family.NONLINEAR:
        return max(1, math.ceil(d / 2)), d + 2
    if family == Family.ONE_D:
        return 3, 10
    raise ValueError(f"family={family!r} is not allowed; choose one of {', '.join(FAMILY_CLASSES)}")


def logged_ks(config: RunConfig) -> tuple[int, ...]:
    """:func:`emergence_ks` of the run's family and d, clipped to its prompt length (distinct values):
    the k read on the family's classes (:data:`FAMILY_CLASSES`)."""
    return _clip(emergence_ks(config.task.n_dims, family(config.task)), config.model.n_points)


def _clip(ks: tuple[int, ...], n_points: int) -> tuple[int, ...]:
    return tuple(dict.fromkeys(min(k, n_points - 1) for k in ks))


def log_plan(config: RunConfig) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """(class, the k read on it) of every prompt set of the log, in column order: the family's
    classes at :func:`logged_ks`, then for a 1-D run the combinations at :data:`COMBINATION_K`."""
    plan = [(c, logged_ks(config)) for c in FAMILY_CLASSES[family(config.task)]]
    if family(config.task) == Family.ONE_D:
        plan.append((COMBINATION, _clip((COMBINATION_K,), config.model.n_points)))
    return tuple(plan)


def _function_class(task: TaskConfig, name: str) -> FunctionClass:
    """The class behind one prompt set of the log (the combinations: chapter 4's sampler)."""
    if name == COMBINATION:
        line, sine = task.build_class(ClassName.LINE), task.build_class(ClassName.SINE)
        return ConvexCombination(line, sine, COMBINATION_A)
    return task.build_class(name)


@dataclass
class EmergenceSet:
    """The fixed prompts of one run's log: one :class:`~icl.evaluate.Prompts` per class, with the k
    read on each (``ks``, in column order)."""

    prompts: dict[str, Prompts]
    ks: dict[str, tuple[int, ...]]
    instructions: dict[str, int] = field(default_factory=dict)  # a conditional run's label of each class

    def score(self, predictor) -> np.ndarray:
        """Mean normalised error of ``predictor`` at each column: (len(columns),). A model on
        another device (CUDA) gets the prompts there; the errors are computed on the CPU. A
        conditional run's model (``n_classes > 0``) is given each class's correct instruction."""
        device = next(predictor.parameters()).device if isinstance(predictor, torch.nn.Module) else None
        out = []
        for name, p in self.prompts.items():
            instructed = name in self.instructions and isinstance(predictor, TransformerModel)
            out += self._score(
                Instructed(predictor, self.instructions[name]) if instructed else predictor,
                p,
                self.ks[name],
                device,
            )
        return np.array(out)

    @staticmethod
    def _score(predictor, p: Prompts, ks: tuple[int, ...], device) -> list[float]:
        """The mean errors of one class's prompts at ``ks``."""
        if device is not None and device.type != "cpu":
            with torch.no_grad():
                predictor.eval()
                pred = predictor(p.xs.to(device), p.ys.to(device)).float().cpu()
        else:
            pred = predict(predictor, p)
        err = errors(pred, p)  # (P, n)
        return [float(err[:, k].mean()) for k in ks]


def emergence_set(config: RunConfig) -> EmergenceSet:
    """The run's fixed evaluation set: a function of its family, d and prompt length only (and the
    task's class settings: nnz, ReLU width, sine band), so runs of every seed and every run of a
    family are scored on the same prompts (paired). Prompt set i of :func:`log_plan` is drawn from
    ``stream_generator(0, i, EMERGENCE)``."""
    d, n = config.task.n_dims, config.model.n_points
    prompts, ks = {}, {}
    for i, (name, at) in enumerate(log_plan(config)):
        g = stream_generator(0, i, EMERGENCE)
        prompts[name] = draw_prompts(_function_class(config.task, name), N_PROMPTS, n, g, n_dims=d)
        ks[name] = at
    # a conditional run is scored under its correct instructions; a label curriculum's run without labels
    # (its labels are withdrawn by the end: the log follows the plain model it becomes)
    conditional = config.model.n_classes and not config.curriculum.labels.active
    instructions = (
        {name: config.task.classes.index(name) for name in prompts if name in config.task.classes}
        if conditional
        else {}
    )
    return EmergenceSet(prompts, ks, instructions)


def column(cls: str, k: int) -> str:
    """The emergence log's column of class ``cls`` at ``k``, e.g. ``sparse_k5``: the one place the name is
    made; readers find a column from its (class, k), never the other way (:func:`read_eval_csv`)."""
    return f"{ClassName(cls).value}_k{k}"


def column_keys(config: RunConfig) -> list[tuple[ClassName, int]]:
    """The (class, k) of each column of a run's emergence log after ``step``, in order: every prompt
    set of :func:`log_plan` at each of its k (a linear run: dense and sparse at :func:`logged_ks`)."""
    return [(c, k) for c, ks in log_plan(config) for k in ks]


def columns(config: RunConfig) -> list[str]:
    """The column names of a run's emergence log after ``step``, of :func:`column_keys`."""
    return [column(c, k) for c, k in column_keys(config)]


def reference_errors(config: RunConfig) -> dict[str, np.ndarray]:
    """Reference predictors on the run's emergence set, per column (of :func:`column_keys`), keyed by
    their own names (:func:`icl.baselines.keyed`: the chapters' curve keys): least squares; for a
    linear run the Lasso (its penalty chosen on held-out sparse prompts as in chapter 1,
    :func:`icl.evaluate.choose_lasso_alpha`); for a nonlinear run the Bayes dense
    learner and the ReLU-network fit (chapter 3's :class:`~icl.baselines.ReluNetGD`: 100 Adam steps
    per prefix, computed at the logged k only: about 0.5 s per class at d = 10); for a 1-D run the
    Bayes line, sine and line/sine learners (the last with the run's line weight, 0.5 for a
    single-class run: chapter 4's mixture) and the combined-class fit (chapter 4's references)."""
    from .baselines import BayesDense, BayesSine, Lasso, LeastSquares, ReluNetGD, keyed, restricted
    from .evaluate import choose_lasso_alpha

    es = emergence_set(config)
    refs = keyed(LeastSquares())
    fam, task = family(config.task), config.task
    if fam == Family.LINEAR and ClassName.SPARSE in es.prompts:
        sparse = task.build_class(ClassName.SPARSE)
        alpha = choose_lasso_alpha(sparse, config.model.n_points, (1e-3, 1e-2, 1e-1), seed=0)
        refs.update(keyed(Lasso(alpha)))
    elif fam == Family.NONLINEAR:
        from .chapters.nonlinear_mixtures import nonlinear_baselines

        base = nonlinear_baselines(task.n_dims, task.hidden)  # chapter 3's (unit-variance classes)
        refs.update({name: base[name] for name in (BayesDense.name, ReluNetGD.name)})
    elif fam == Family.ONE_D:
        from .chapters.convex_combinations import combination_baselines

        w_line = (
            task.weights[task.classes.index(ClassName.LINE)]
            if set(task.classes) == {ClassName.LINE, ClassName.SINE}
            else 0.5
        )
        refs.update(combination_baselines(task.band, w_line))
        refs.update(keyed(BayesSine(task.band)))
    at = sorted({k for ks in es.ks.values() for k in ks})
    return {name: es.score(restricted(f, at)) for name, f in refs.items()}


def write_eval_csv(path: Path, config: RunConfig, evals: list[tuple[int, list[float]]]) -> None:
    """The emergence log: ``step`` then one column per (class, k) of :func:`icl.emergence.columns`."""
    head = ",".join(["step", *columns(config)])
    atomic_write_text(
        path, head + "\n" + "".join(f"{s}," + ",".join(f"{e:.6g}" for e in row) + "\n" for s, row in evals)
    )


@dataclass(frozen=True)
class EvalLog:
    """An emergence log read back: the logged steps, and the errors of each (class, k) column."""

    steps: np.ndarray  # (T,) int
    errors: dict[tuple[ClassName, int], np.ndarray]  # (class, k) -> (T,), in column order

    def __len__(self) -> int:
        return len(self.steps)


def read_eval_csv(path: Path, config: RunConfig) -> EvalLog:
    """The emergence log at ``path`` (:func:`write_eval_csv`) read under ``config``'s plan: the errors
    of every (class, k) of :func:`column_keys` whose column (:func:`column`) the file has; a column
    the file lacks (a log of another plan) is left out."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        have = set(reader.fieldnames or ())
    steps = np.array([int(r["step"]) for r in rows], dtype=np.int64)
    return EvalLog(
        steps,
        {
            key: np.array([float(r[column(*key)]) for r in rows], dtype=np.float64)
            for key in column_keys(config)
            if column(*key) in have
        },
    )


def window_means(log: EvalLog, window: int = FLAT_WINDOW) -> dict[tuple[ClassName, int], tuple[float, float]]:
    """Each column's mean error over the ``window`` logged steps before the last ``window`` and over the last
    ``window`` (the two windows :func:`is_flat` compares; NaN for a window without rows)."""
    end = int(log.steps[-1]) if len(log) else 0
    last = log.steps > end - window
    before = (log.steps > end - 2 * window) & ~last
    mean = lambda e, rows: float(e[rows].mean()) if rows.any() else float("nan")  # noqa: E731
    return {key: (mean(e, before), mean(e, last)) for key, e in log.errors.items()}


def is_flat(
    log: EvalLog,
    after: int = 0,
    classes: Iterable[str] | None = None,
    window: int = FLAT_WINDOW,
    tol: float = FLAT_TOL,
) -> bool | None:
    """Whether a run has stopped learning by its emergence log: every column's mean error over the last
    ``window`` logged steps differs from its mean over the ``window`` steps before by less than ``tol``
    (the rule fixed for the C1 search on 2026-12-04 and read the same way for chapters 3-5's retraining,
    issue 40). ``classes``: judge only the columns of these classes (a run's own: its errors on a class it
    never trains on are not what training moves; default every column). None while the log spans less than
    ``2 x window`` steps after step ``after`` (a phase that must not count, e.g. while labels are given);
    a ValueError when no column is judged (no class of ``classes`` in the log: never vacuously flat)."""
    if not len(log):
        return None
    end = int(log.steps[-1])
    if end - 2 * window < after:
        return None
    own = None if classes is None else set(classes)  # once: ``classes`` may be a one-pass iterator
    means = window_means(log, window)
    judged = [m for (c, _), m in means.items() if own is None or c in own]
    if not judged:  # nothing judged is not "flat" (e.g. classes the log does not read)
        have = sorted({str(c) for c, _ in log.errors})
        raise ValueError(f"classes={sorted(own or ())!r} name no column of the log (its classes: {have})")
    return all(abs(last - before) < tol for before, last in judged)

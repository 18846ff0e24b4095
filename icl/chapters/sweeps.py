"""Sweeps: the error of every predictor against one parameter of the prompt distribution.

A :class:`Sweep` holds, for each swept value of one parameter (nnz in chapter 2, the
mixing weight a in chapter 4, a frequency or a scale in chapter 5) and each k it is read
at, every predictor's mean error with its 95% bootstrap interval over prompts, as
``(V, K)`` arrays, and the per-prompt errors the paired comparisons of a verdict read.
:meth:`Sweep.at_k` is the view at one k (``(V,)`` arrays), which plots, tables and the
verdicts of chapters 4-5 read. :func:`sweep` measures one: every predictor on the same
prompts of each value (paired), the baselines that can computed at the read k only; it can
also record the mean squared distance between one predictor's predictions and others'
(chapter 2), per prompt too, with its 95% bootstrap interval. :meth:`Sweep.from_curves` reads one off
full error curves per value (chapter 4, which draws them with :func:`~icl.evaluate.evaluate`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..baselines import restricted
from ..evaluate import Curve, Predictor, Prompts, bootstrap_ci, errors, predict

__all__ = ["Sweep", "SweepAtK", "sweep"]


@dataclass(frozen=True)
class SweepAtK:
    """One k of a :class:`Sweep`: each predictor's error against the swept values."""

    label: str
    values: np.ndarray  # (V,)
    k: int
    error: dict[str, np.ndarray]  # predictor -> (V,) mean error
    lo: dict[str, np.ndarray]  # (V,) 95% bootstrap interval
    hi: dict[str, np.ndarray]
    per_prompt: dict[str, np.ndarray]  # predictor -> (V, P) errors of each prompt

    def table(self, names: Sequence[str] | None = None):
        """Rows: the swept values; columns: the predictors' mean errors (3 decimals)."""
        import pandas as pd

        names = [n for n in (names or self.error) if n in self.error]
        return pd.DataFrame(
            {n: np.round(self.error[n], 3) for n in names},
            index=pd.Index(np.round(self.values, 4), name=self.label),
        )


@dataclass
class Sweep:
    """Error against one parameter of the prompt distribution, read at one or a few k."""

    label: str  # the parameter's name, for axes and tables
    values: np.ndarray  # (V,) the swept values
    ks: list[int]  # (K,) the k the sweep is read at
    error: dict[str, np.ndarray]  # predictor -> (V, K) mean error
    lo: dict[str, np.ndarray]  # (V, K) 95% bootstrap interval over prompts
    hi: dict[str, np.ndarray]
    per_prompt: dict[str, np.ndarray] = field(default_factory=dict)  # predictor -> (V, P, K)
    distance_from: str | None = None  # the predictor whose prediction distances are recorded
    distance: dict[str, np.ndarray] = field(default_factory=dict)  # other -> (V, K) mean squared distance
    distance_per_prompt: dict[str, np.ndarray] = field(default_factory=dict)  # other -> (V, P, K)
    distance_lo: dict[str, np.ndarray] = field(default_factory=dict)  # (V, K) 95% bootstrap interval
    distance_hi: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def k(self) -> int:
        """The k of a sweep read at one k."""
        if len(self.ks) != 1:
            raise ValueError(f"the sweep is read at ks={self.ks}; name one")
        return self.ks[0]

    def column(self, k: int) -> int:
        """The index of ``k`` in :attr:`ks`."""
        if k not in self.ks:
            raise KeyError(f"the sweep is not read at k={k} (ks {self.ks})")
        return self.ks.index(k)

    def index(self, value: float) -> int | None:
        """The index of a swept value, or None when it is not swept."""
        hit = np.flatnonzero(self.values == value)
        return int(hit[0]) if hit.size else None

    def at_k(self, k: int | None = None) -> SweepAtK:
        """The view at ``k`` (default: the only k)."""
        k = self.k if k is None else int(k)
        j = self.column(k)
        col = lambda dct: {n: a[..., j] for n, a in dct.items()}  # noqa: E731
        return SweepAtK(
            self.label, self.values, k, col(self.error), col(self.lo), col(self.hi), col(self.per_prompt)
        )

    def table(self, names: Sequence[str] | None = None):
        """Rows: the swept values; columns: each predictor's mean error at each k (3 decimals),
        named by the predictor alone for a sweep read at one k, else ``"<name> k=<k>"``."""
        if len(self.ks) == 1:
            return self.at_k().table(names)
        import pandas as pd

        names = [n for n in (names or self.error) if n in self.error]
        return pd.DataFrame(
            {f"{n} k={k}": self.error[n][:, j].round(3) for n in names for j, k in enumerate(self.ks)},
            index=pd.Index(np.round(self.values, 4), name=self.label),
        )

    @classmethod
    def from_curves(
        cls, label: str, values: Sequence[float], ks: Sequence[int], curves: Sequence[Mapping[str, Curve]]
    ) -> Sweep:
        """A sweep read at ``ks`` off full error curves, one mapping of curves per value (the
        predictors of the first)."""
        ks = [int(k) for k in ks]
        names = list(curves[0])
        get = lambda attr: {n: np.stack([getattr(c[n], attr)[ks] for c in curves]) for n in names}  # noqa: E731
        per = {n: np.stack([c[n].per_prompt[:, ks] for c in curves]) for n in names}
        return cls(label, np.asarray(values), ks, get("mean"), get("lo"), get("hi"), per)


def sweep(
    predictors: Mapping[str, Predictor],
    label: str,
    values: Sequence[float],
    prompts_of: Callable[[float], Prompts],
    ks: Sequence[int],
    seed: int,
    n_boot: int,
    per_value: Callable[[float], Mapping[str, Predictor]] | None = None,
    distances: tuple[str, Sequence[str]] | None = None,
) -> Sweep:
    """Every predictor (and those ``per_value`` adds for one value, e.g. a learner that knows
    it) scored at ``ks`` on the prompts ``prompts_of(value)`` of each value, shared by all of
    them; the baselines that can are computed at ``ks`` only. ``distances=(a, others)`` also
    records the mean squared distance of ``a``'s predictions to each of ``others`` present."""
    ks = [int(k) for k in ks]
    values = np.asarray(values)
    predictors = {n: restricted(f, ks) for n, f in predictors.items()}
    src, others = distances if distances is not None else (None, ())
    others = [o for o in others if src in predictors and o in predictors]
    err: dict[str, list] = {}
    lo: dict[str, list] = {}
    hi: dict[str, list] = {}
    per: dict[str, list] = {}
    dist: dict[str, list] = {o: [] for o in others}
    dist_per: dict[str, list] = {o: [] for o in others}
    dist_lo: dict[str, list] = {o: [] for o in others}
    dist_hi: dict[str, list] = {o: [] for o in others}
    for v in values:
        p = prompts_of(v.item())
        extra = {n: restricted(f, ks) for n, f in (per_value(v.item()) if per_value else {}).items()}
        preds = {n: predict(f, p) for n, f in {**predictors, **extra}.items()}
        for name, pr in preds.items():
            e = errors(pr, p)[:, ks]
            m, low, high = bootstrap_ci(e, n_boot=n_boot, seed=seed)
            for dct, x in ((err, m), (lo, low), (hi, high), (per, e)):
                dct.setdefault(name, []).append(x)
        for o in others:
            per_prompt = (preds[src] - preds[o]).square()[:, ks].double().numpy()  # (P, K)
            m, low, high = bootstrap_ci(per_prompt, n_boot=n_boot, seed=seed)
            for dct, x in ((dist, m), (dist_lo, low), (dist_hi, high), (dist_per, per_prompt)):
                dct[o].append(x)
    stack = lambda dct: {n: np.stack(rows) for n, rows in dct.items()}  # noqa: E731
    return Sweep(
        label,
        values,
        ks,
        stack(err),
        stack(lo),
        stack(hi),
        stack(per),
        src if others else None,
        stack(dist),
        stack(dist_per),
        stack(dist_lo),
        stack(dist_hi),
    )

"""Second stages: a chapter's prompts drawn again, fresh, for a part left inconclusive.

A part judged on a 95% interval that straddles its threshold asks for about N prompts; the
verdict decides it on a second, independent evaluation of that size
(:func:`~icl.chapters.verdict.two_stage`, the rule and its cap in :mod:`icl.chapters.verdict`).
This module owns what a chapter keeps so that its verdicts can draw one: a :class:`Redraw`,
the chapter's predictors and, per prompt set, how that set's prompts are drawn from the
chapter's evaluation seed, exactly as the chapter drew its own (a :class:`PromptSet`: one
class's prompts, scored as full curves; a :class:`SweepSet`: the prompts of each swept value,
scored at a few k). A verdict asks it for the few predictors and values a part reads
(:meth:`Redraw.curves`, :meth:`Redraw.sweep`), scored batched as the chapter scores them; with
the first stage's seed it would draw the chapter's own prompts, with
:func:`~icl.chapters.verdict.stage2_seed` fresh ones. A chapter whose curves are swapped by
hand (e.g. ``dataclasses.replace`` in a test) stands for predictors it cannot score again: set
its ``redraw`` to None, and its parts are judged in one stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..evaluate import Curve, Predictor, Prompts, evaluate
from .sweeps import Sweep, sweep

__all__ = ["PromptSet", "SweepSet", "Redraw"]


@dataclass(frozen=True)
class PromptSet:
    """One class's prompts: ``prompts(n, seed)`` draws ``n`` of them as the chapter does from its
    evaluation ``seed``; ``predictors`` are the chapter's predictors on them, by curve key."""

    prompts: Callable[[int, int], Prompts]
    predictors: Mapping[str, Predictor]


@dataclass(frozen=True)
class SweepSet:
    """A sweep's prompts: ``prompts(value, n, seed)`` draws ``n`` prompts of one swept value as the
    chapter does from its evaluation ``seed``; the sweep is read at ``ks``, ``per_value`` adds the
    predictors of one value (e.g. a learner that knows it), as in :func:`~icl.chapters.sweeps.sweep`."""

    label: str
    prompts: Callable[[float, int, int], Prompts]
    predictors: Mapping[str, Predictor]
    ks: Sequence[int]
    per_value: Callable[[float], Mapping[str, Predictor]] | None = None


@dataclass(frozen=True)
class Redraw:
    """A chapter's prompt sets by name, and the bootstrap size its curves use."""

    sets: Mapping[str, PromptSet | SweepSet] = field(default_factory=dict)
    n_boot: int = 1000

    def curves(self, key: str, names: Sequence[str], n: int, seed: int) -> dict[str, Curve]:
        """The predictors ``names`` of prompt set ``key`` scored on its ``n`` prompts drawn from
        evaluation seed ``seed`` (all on the same prompts: paired)."""
        s = self.sets[key]
        if not isinstance(s, PromptSet):
            raise TypeError(f"prompt set {key!r} is a sweep; use Redraw.sweep")
        preds = {m: s.predictors[m] for m in dict.fromkeys(names)}
        return evaluate(preds, None, prompts=s.prompts(n, seed), n_boot=self.n_boot, seed=seed)

    def sweep(
        self,
        key: str,
        names: Sequence[str],
        values: Sequence[float],
        n: int,
        seed: int,
        ks: Sequence[int] | None = None,
        distances: tuple[str, Sequence[str]] | None = None,
    ) -> Sweep:
        """The predictors ``names`` of sweep ``key`` (with its per-value ones) scored at ``ks``
        (default: the sweep's) on ``n`` prompts of each of ``values`` drawn from evaluation seed
        ``seed``; ``distances`` as in :func:`~icl.chapters.sweeps.sweep`."""
        s = self.sets[key]
        if not isinstance(s, SweepSet):
            raise TypeError(f"prompt set {key!r} is not a sweep; use Redraw.curves")
        preds = {m: s.predictors[m] for m in dict.fromkeys(names) if m in s.predictors}
        return sweep(
            preds,
            s.label,
            np.asarray(values),
            lambda v: s.prompts(v, n, seed),
            list(ks if ks is not None else s.ks),
            seed,
            self.n_boot,
            per_value=s.per_value,
            distances=distances,
        )

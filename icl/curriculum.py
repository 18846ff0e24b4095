"""Curricula: what changes over a run's training, as a pure function of the step.

This module owns the schedules a run's data follows: Garg et al.'s curriculum over the
active input dimensions and the prompt length (:class:`Schedule`, optionally held at its
start for a number of steps), and the mixing-weight curriculum of the ``small`` scale's
mixture runs (:class:`WeightRamp`); :class:`CurriculumConfig` holds one of each for a run
(:class:`icl.config.RunConfig`). Being functions of the step alone, they keep a resumed
run's data the same as an uninterrupted one's.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Schedule", "WeightRamp", "CurriculumConfig"]


@dataclass(frozen=True)
class Schedule:
    """Garg et al.'s curriculum, ``min(end, start + inc * (step // interval))``, counted from step
    ``hold`` (``start`` until then; 0 for every study run: the d = 10 search's lever, README)."""

    start: int
    end: int
    inc: int = 1
    interval: int = 1
    hold: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.hold, int) or self.hold < 0:
            raise ValueError(f"curriculum hold={self.hold!r} must be a whole number of steps >= 0")

    def at(self, step: int) -> int:
        if self.inc == 0:
            return self.end
        return min(self.end, self.start + self.inc * (max(0, step - self.hold) // self.interval))


@dataclass(frozen=True)
class WeightRamp:
    """A curriculum over the mixing weights: ``start`` until step ``hold``, then a linear
    ramp to the run's own weights over ``ramp`` steps. ``start=()`` (the default) means no
    curriculum: the run's weights from the first step.

    The study uses it for the mixture runs of the ``small`` scale only (the specialists
    train on their own class alone): the dense share starts at 0 (``start=(0.0, 1.0)``,
    exactly the sparse-only run's weights, so up to ``hold`` a mixture run sees the same
    batches as ``linear-w0.00`` of its seed) and reaches the run's w once the sparse-only
    run's emergence log shows selection (README, "the small scale").
    """

    start: tuple[float, ...] = ()
    hold: int = 0
    ramp: int = 0

    def at(self, step: int, weights: tuple[float, ...]) -> tuple[float, ...]:
        if not self.start or step <= self.hold:
            return weights if not self.start else self.start
        t = 1.0 if self.ramp <= 0 else min(1.0, (step - self.hold) / self.ramp)
        if t >= 1.0:
            return weights
        return tuple(a + t * (b - a) for a, b in zip(self.start, weights))

    def __post_init__(self) -> None:
        if self.start and (abs(sum(self.start) - 1) > 1e-9 or min(self.start) < 0):
            raise ValueError(f"curriculum.mix.start={self.start} must be mixture weights (>= 0, summing to 1)")
        if self.hold < 0 or self.ramp < 0:
            raise ValueError(f"curriculum.mix hold={self.hold}, ramp={self.ramp} must be >= 0")


@dataclass(frozen=True)
class CurriculumConfig:
    dims: Schedule
    points: Schedule
    mix: WeightRamp = WeightRamp()

    def at(self, step: int) -> tuple[int, int]:
        """(active dimensions, prompt length) at ``step``."""
        return self.dims.at(step), self.points.at(step)

"""Curricula: what changes over a run's training, as a pure function of the step.

This module owns the schedules a run's data follows: Garg et al.'s curriculum over the
active input dimensions and the prompt length (:class:`Schedule`, optionally held at its
start for a number of steps), the mixing-weight curriculum of the ``small`` scale's
mixture runs (:class:`WeightRamp`) and the label curriculum (:class:`LabelCurriculum`: class labels
given early in training, then withdrawn); :class:`CurriculumConfig` holds one of each for a run
(:class:`icl.config.RunConfig`). Being functions of the step alone, they keep a resumed
run's data the same as an uninterrupted one's.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Schedule", "WeightRamp", "LabelCurriculum", "CurriculumConfig"]


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
            raise ValueError(
                f"curriculum.mix.start={self.start} must be mixture weights (>= 0, summing to 1)"
            )
        if self.hold < 0 or self.ramp < 0:
            raise ValueError(f"curriculum.mix hold={self.hold}, ramp={self.ramp} must be >= 0")


@dataclass(frozen=True)
class LabelCurriculum:
    """Class labels given in training, then withdrawn (the C1 issue's lever; a departure from the
    paper's protocol, which never shows the model a label).

    Each prompt of step ``s`` keeps its class label (the task-family instruction of a conditional
    model, ``model.n_classes > 0``) with probability :meth:`keep`: 1 until ``keep_until``, falling
    linearly to 0 at ``drop_by``, 0 from there on; and only on steps whose task mixes classes (a
    label that names the one class a step draws from says nothing). After ``drop_by`` the class
    embedding is never used again, so a finished run is a plain unconditional model and is saved
    and loaded as one (:meth:`icl.config.RunConfig.final_model`). ``drop_by = 0`` (the default):
    no label curriculum (a conditional run then keeps its labels on every prompt, chapter 6's).
    """

    keep_until: int = 0
    drop_by: int = 0

    def __post_init__(self) -> None:
        for name in ("keep_until", "drop_by"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"curriculum.labels.{name}={v!r} must be a whole number of steps >= 0")
        if self.drop_by and self.keep_until > self.drop_by:
            raise ValueError(
                f"curriculum.labels.keep_until={self.keep_until} must be <= drop_by={self.drop_by}"
            )

    @property
    def active(self) -> bool:
        return self.drop_by > 0

    def keep(self, step: int) -> float:
        """The probability that a prompt of ``step`` keeps its label."""
        if step < self.keep_until:
            return 1.0
        if step >= self.drop_by:
            return 0.0
        return (self.drop_by - step) / (self.drop_by - self.keep_until)


@dataclass(frozen=True)
class CurriculumConfig:
    dims: Schedule
    points: Schedule
    mix: WeightRamp = WeightRamp()
    labels: LabelCurriculum = LabelCurriculum()

    def at(self, step: int) -> tuple[int, int]:
        """(active dimensions, prompt length) at ``step``."""
        return self.dims.at(step), self.points.at(step)

"""Typed configuration: scales, the study's named runs, paths and random streams.

This module owns every default of the study. A run is a :class:`RunConfig` (model,
task, curriculum, training) built from a named *scale* preset (``small``, ``cpu`` or
``paper``; :data:`SCALE_RUNS` says which runs each scale holds) and a named *run* of the
registry (``linear-w0.50``, ``sine-only``, ``linear-w0.00-seed1``, ...). The full config
is saved as JSON next to each checkpoint and rebuilt from it exactly; the runs of a scale
live in their own folder, ``data/runs/<scale>/<run>/`` (:func:`scale_dir`).

Random streams are a pure function of ``(seed, step, purpose)`` (see
:func:`stream_generator`), so a resumed run sees the same data, and evaluation
prompts never coincide with training prompts.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .curriculum import CurriculumConfig, LabelCurriculum, Schedule, WeightRamp
from .model import ModelConfig
from .overrides import apply_overrides, parse_assignments
from .protocol import PROTOCOL_FILE, RunProtocol, StepProtocol, load_protocol, load_step_protocol
from .tasks import (
    PRETRAINING_CLASSES,
    DenseLinear,
    FunctionClass,
    Line1D,
    Mixture,
    ReluNet,
    Sine1D,
    SparseLinear,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"  # the repository's data: committed runs, sizing sweeps (found beside the package)
REPORTS = ROOT / "reports"
DATA_ENV = "ICL_DATA"  # a folder laid out as data/ (runs/<scale>/<run>/), e.g. for an installed package

SCALES = ("cpu", "small", "paper")
CLASS_NAMES = tuple(c.value for c in PRETRAINING_CLASSES)  # plain text: error messages print the tuple

# stream purposes: disjoint seed spaces for training data, evaluation prompts, bootstrap,
# initialisation, the emergence log's fixed evaluation set and a label curriculum's kept labels
TRAIN, EVAL, BOOTSTRAP, INIT, EMERGENCE, LABELS = 0, 1, 2, 3, 4, 5

# train.compile: "off" (eager), "auto" (timed at the start of every session, the faster kept: icl.step),
# or a torch.compile mode (reduce-overhead: CUDA graphs on a GPU)
COMPILE_SETTINGS = ("off", "auto", "default", "reduce-overhead", "max-autotune")


def check_scale(scale: str) -> str:
    """``scale`` if it is a scale of the study; else ValueError naming the allowed ones."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {', '.join(SCALES)}")
    return scale


def scale_dir(scale: str = "cpu") -> Path:
    """The runs of one scale: ``$ICL_DATA/runs/<scale>`` if ICL_DATA is set, else ``data/runs/<scale>``."""
    check_scale(scale)
    chosen = os.environ.get(DATA_ENV)  # once set, never silently replaced (a typo would load other runs)
    runs = Path(chosen).expanduser() / "runs" if chosen else DATA / "runs"
    if not runs.is_dir():
        source = f"from {DATA_ENV}={chosen}" if chosen else f"{DATA_ENV} is not set"
        raise ValueError(f"no runs folder at {runs} ({source}); {DATA_ENV} names a folder with runs/<scale>/")
    return runs / scale


def stream_generator(seed: int, step: int, purpose: int = TRAIN) -> torch.Generator:
    """A fresh generator whose state depends only on (seed, step, purpose)."""
    state = np.random.SeedSequence([int(seed), int(step), int(purpose), 0x1C1]).generate_state(2, np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


# --------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class TaskConfig:
    """A (mixture of) function class(es) on R^n_dims."""

    classes: tuple[str, ...] = ("dense", "sparse")
    weights: tuple[float, ...] = (0.5, 0.5)
    n_dims: int = 10
    nnz: int = 2
    hidden: int = 100  # ReLU network width
    band: tuple[float, float] = (1.0, 3.0)  # sinusoid frequency band
    normalize: bool = True  # rescale every class to unit variance

    def __post_init__(self) -> None:
        bad = [c for c in self.classes if c not in CLASS_NAMES]
        if bad:
            raise ValueError(f"unknown function class {bad[0]!r}; allowed: {CLASS_NAMES}")
        if len(self.weights) != len(self.classes):
            raise ValueError(f"weights {self.weights} must have one entry per class {self.classes}")
        self.build()  # validates nnz, weights, band

    def build_class(self, name: str) -> FunctionClass:
        if name == "dense":
            return DenseLinear(self.n_dims, self.normalize)
        if name == "sparse":
            return SparseLinear(self.n_dims, self.nnz, self.normalize)
        if name == "relu":
            return ReluNet(self.n_dims, self.hidden, self.normalize)
        if name == "line":
            return Line1D()
        return Sine1D(self.band)

    def build(self) -> FunctionClass:
        classes = [self.build_class(c) for c in self.classes]
        if len(classes) == 1 and self.weights[0] == 1.0:
            return classes[0]
        return Mixture(classes, self.weights)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 30_000
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 500
    schedule: str = "constant"  # "constant" | "cosine" (decay over the last decay_fraction)
    decay_fraction: float = 0.2
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 50
    eval_every: int = 1000  # the emergence log (icl.emergence): errors at two fixed k on a fixed set
    # "off" | "bf16" | "auto" (bf16 on CUDA or a CPU with bf16 instructions); the loss in fp32
    autocast: str = "off"
    # how a run is trained, not what: a resumed run keeps its own (icl.step). The defaults are the behaviour
    # before these fields existed, so a config saved without them loads as it trained; the presets set them.
    fused_adamw: bool = False  # torch.optim.AdamW(fused=True): one kernel for every parameter
    compile: str = "off"  # one of COMPILE_SETTINGS: the sessions' default (the CLI's --compile overrides it)

    @property
    def decay_start(self) -> int:
        """The first step of the cosine decay (the last ``decay_fraction`` of the steps, truncated);
        ``steps`` for a constant schedule, where no step decays."""
        return int(self.steps * (1 - self.decay_fraction)) if self.schedule == "cosine" else self.steps

    def lr_at(self, step: int) -> float:
        """Learning rate at ``step``: linear warm-up, then constant, optional cosine tail."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.schedule == "cosine" and step >= (start := self.decay_start):
            t = (step - start) / max(1, self.steps - start)
            return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))
        return self.lr

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule={self.schedule!r} is not allowed; choose 'constant' or 'cosine'")
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "eval_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} must be an integer >= 1")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr!r} must be > 0")
        if self.autocast not in ("off", "bf16", "auto"):
            raise ValueError(f"autocast={self.autocast!r} is not allowed; choose 'off', 'bf16' or 'auto'")
        if not isinstance(self.fused_adamw, bool):
            raise ValueError(f"fused_adamw={self.fused_adamw!r} must be true or false")
        if self.compile not in COMPILE_SETTINGS:
            raise ValueError(f"compile={self.compile!r} is not one of {', '.join(COMPILE_SETTINGS)}")


@dataclass(frozen=True)
class RunConfig:
    name: str
    scale: str
    model: ModelConfig
    task: TaskConfig
    curriculum: CurriculumConfig
    train: TrainConfig
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def task_at(self, step: int) -> TaskConfig:
        """The task of ``step``: the run's own, or its mixing-weight curriculum's weights then."""
        weights = self.curriculum.mix.at(step, self.task.weights)
        return self.task if weights == self.task.weights else replace(self.task, weights=weights)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> RunConfig:
        t = dict(d["task"])
        t["classes"], t["weights"], t["band"] = tuple(t["classes"]), tuple(t["weights"]), tuple(t["band"])
        c = d["curriculum"]
        mix = dict(c.get("mix", {}))  # runs trained before the weight curriculum existed have none
        if "start" in mix:
            mix["start"] = tuple(float(w) for w in mix["start"])
        return RunConfig(
            name=d["name"],
            scale=d["scale"],
            model=ModelConfig(**d["model"]),
            task=TaskConfig(**t),
            curriculum=CurriculumConfig(
                Schedule(**c["dims"]),
                Schedule(**c["points"]),
                WeightRamp(**mix),
                LabelCurriculum(**c.get("labels", {})),
            ),
            train=TrainConfig(**d["train"]),
            notes=d.get("notes", ""),
        )

    def final_model(self) -> ModelConfig:
        """The model a finished run is: its own, less the class embedding when its label curriculum
        withdrew the labels (never used after ``curriculum.labels.drop_by``: a plain model)."""
        return replace(self.model, n_classes=0) if self.curriculum.labels.active else self.model

    def gives_labels(self, step: int) -> bool:
        """Whether step ``step``'s prompts may carry their class labels: every step of a conditional
        run without a label curriculum; with one, the steps whose task mixes classes while its keep
        probability is positive."""
        if not self.model.n_classes:
            return False
        lc = self.curriculum.labels
        if not lc.active:
            return True
        return lc.keep(step) > 0 and sum(w > 0 for w in self.task_at(step).weights) > 1

    def with_overrides(self, **train_overrides: Any) -> RunConfig:
        return replace(self, train=replace(self.train, **train_overrides))

    def override(self, assignments: Mapping[str, str]) -> RunConfig:
        """A copy with dotted-key overrides given as text, e.g. ``{"train.lr": "3e-3", "d": "8"}`` (the
        CLI's ``--set``; ``d`` sets the input dimension everywhere): :func:`icl.overrides.apply_overrides`."""
        return RunConfig.from_dict(apply_overrides(self.to_dict(), assignments))

    def __post_init__(self) -> None:
        check_scale(self.scale)
        if self.curriculum.mix.start and len(self.curriculum.mix.start) != len(self.task.weights):
            raise ValueError(
                f"curriculum.mix.start={self.curriculum.mix.start} needs one weight per class "
                f"{self.task.classes}"
            )
        lc = self.curriculum.labels
        if lc.active and self.model.n_classes != len(self.task.classes):
            raise ValueError(
                f"curriculum.labels needs a class embedding over the run's classes: model.n_classes="
                f"{self.model.n_classes}, allowed {len(self.task.classes)} (one per class of "
                f"{self.task.classes})"
            )
        if lc.active and lc.drop_by > self.train.steps:
            raise ValueError(
                f"curriculum.labels.drop_by={lc.drop_by} must be <= train.steps={self.train.steps}: "
                f"a finished run has withdrawn its labels"
            )
        if self.model.n_dims != self.task.n_dims:
            raise ValueError(f"model.n_dims={self.model.n_dims} must equal task.n_dims={self.task.n_dims}")
        if self.curriculum.dims.end > self.task.n_dims:
            raise ValueError(
                f"curriculum.dims.end={self.curriculum.dims.end} must be <= n_dims={self.task.n_dims}"
            )
        if self.curriculum.points.end > self.model.n_points:
            raise ValueError(
                f"curriculum.points.end={self.curriculum.points.end} must be <= "
                f"model.n_points={self.model.n_points}"
            )


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class RunSpec:
    """One run of the registry, whatever its scale: the classes it is pretrained on with their
    weights, its ``family`` (which picks the input dimension and prompt length of a scale:
    ``linear``, ``nonlinear`` or ``1d``) and its training seed; a second seed names the run it
    repeats (``base``). ``instructed`` marks a conditional run (task-family instructions: its
    model has a class embedding and every training prompt carries its class's label), and
    ``scales`` restricts a run to some scales (chapter 6's runs: ``small`` only). Notebooks,
    plots and tables read these fields, never the run's name."""

    classes: tuple[str, ...]
    weights: tuple[float, ...]
    family: str
    seed: int = 0
    base: str | None = None
    instructed: bool = False  # every prompt carries its class's label (model.n_classes = len(classes))
    scales: tuple[str, ...] | None = None  # the scales that hold it; None: by its family (SCALE_RUNS)

    def weight_of(self, cls: str) -> float:
        """The pretraining weight of class ``cls`` (0 for a class the run never sees)."""
        return dict(zip(self.classes, self.weights)).get(cls, 0.0)

    @property
    def is_mixture(self) -> bool:
        """Pretrained on more than one class, each with a positive weight."""
        return sum(w > 0 for w in self.weights) > 1


_LINEAR_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
# chapter 6 (rare families): one class seen in 5% of the prompts, at small scale only
_RARE_WEIGHTS = (0.05, 0.95)
RUNS: dict[str, RunSpec] = {
    **{f"linear-w{w:.2f}": RunSpec(("dense", "sparse"), (w, 1 - w), "linear") for w in _LINEAR_WEIGHTS},
    **{
        f"linear-w{w:.2f}": RunSpec(("dense", "sparse"), (w, round(1 - w, 2)), "linear", scales=("small",))
        for w in _RARE_WEIGHTS
    },
    # chapter 6 (task-family instructions): the w = 0.5 mixture whose prompts carry their class
    "linear-w0.50-cond": RunSpec(
        ("dense", "sparse"), (0.5, 0.5), "linear", instructed=True, scales=("small",)
    ),
    "linear-only": RunSpec(("dense",), (1.0,), "nonlinear"),
    "relu-only": RunSpec(("relu",), (1.0,), "nonlinear"),
    "linear-relu-w0.50": RunSpec(("dense", "relu"), (0.5, 0.5), "nonlinear"),
    "line-only": RunSpec(("line",), (1.0,), "1d"),
    "sine-only": RunSpec(("sine",), (1.0,), "1d"),
    "line-sine-w0.50": RunSpec(("line", "sine"), (0.5, 0.5), "1d"),
}
# second seeds: a run of the registry trained again from training seed 1 (its own name, its own folder)
RUNS.update(
    {
        f"{base}-seed1": replace(RUNS[base], seed=1, base=base)
        for base in ("linear-w0.00", "linear-w0.50", "linear-w1.00")
    }
)


_held_by = lambda scale, run, default: default if run.scales is None else scale in run.scales  # noqa: E731
# which runs each scale holds: cpu and paper the eleven of chapters 1-5; small the linear runs of
# chapters 1-2, their second seeds and chapter 6's three (where selection is learned on this machine)
SCALE_RUNS: dict[str, tuple[str, ...]] = {
    "cpu": tuple(n for n, r in RUNS.items() if _held_by("cpu", r, r.base is None)),
    "paper": tuple(n for n, r in RUNS.items() if _held_by("paper", r, r.base is None)),
    "small": tuple(n for n, r in RUNS.items() if _held_by("small", r, r.family == "linear")),
}


@cache
def small_protocol() -> RunProtocol:
    """The small scale's step counts and each training seed's hold, read off its runs: data, in the
    repository's ``data/runs/small/protocol.json`` (the study's protocol, whatever runs ICL_DATA names),
    read once and validated (:mod:`icl.protocol`)."""
    return load_protocol(DATA / "runs" / "small" / PROTOCOL_FILE)


@cache
def cpu_protocol() -> StepProtocol:
    """The cpu scale's step counts: the preset's, and each run's own where one was read off its emergence
    log: data, in the repository's ``data/runs/cpu/protocol.json`` (the study's protocol, whatever runs
    ICL_DATA names), read once and validated (:mod:`icl.protocol`)."""
    return load_step_protocol(DATA / "runs" / "cpu" / PROTOCOL_FILE, SCALE_RUNS["cpu"])


def check_hold_read(name: str, scale: str) -> None:
    """Refuse to train (or fork) a small-scale mixture run whose seed's hold is not read yet."""
    spec = RUNS[name]
    if scale == "small" and spec.is_mixture and small_protocol().hold(spec.seed) is None:
        sparse_only = next(
            (
                n
                for n in SCALE_RUNS["small"]
                if RUNS[n].seed == spec.seed and RUNS[n].weight_of("sparse") == 1
            ),
            f"the sparse-only run of seed {spec.seed}",
        )
        raise ValueError(
            f"{name} waits for the hold of training seed {spec.seed}, not read yet: train "
            f"{sparse_only} until its emergence log selects (data/runs/small/{PROTOCOL_FILE})"
        )


# the training loop of every new run (issue 36): fused AdamW, and torch.compile where it pays on the machine
NEW_RUN_LOOP: dict[str, Any] = dict(fused_adamw=True, compile="auto")


# long: the three scales' presets side by side (data, one keyword a line)
def _scale_preset(scale: str, family: str) -> tuple[ModelConfig, int, CurriculumConfig, TrainConfig]:
    """Model, n_dims, curriculum and training defaults of a scale for a run family."""
    if scale == "small":
        d, n = 5, 11  # nnz = 1, 11 = 2d + 1 points; no curriculum: the measured setting that selects
        model = ModelConfig(
            n_dims=d, n_points=n, n_embd=64, n_layer=8, n_head=4, layout="pair", attention="math"
        )
        fixed = CurriculumConfig(Schedule(d, d, 0, 1), Schedule(n, n, 0, 1))
        train = TrainConfig(
            steps=small_protocol().steps,
            batch_size=64,
            lr=1e-3,
            warmup_steps=500,
            schedule="cosine",
            decay_fraction=0.1,
            checkpoint_every=500,
            log_every=50,
            eval_every=1000,
            **NEW_RUN_LOOP,
        )
        return model, d, fixed, train
    if scale == "paper":
        d = 1 if family == "1d" else 20
        n = 41 if family != "nonlinear" else 101
        model = ModelConfig(n_dims=d, n_points=n, n_embd=256, n_layer=12, n_head=8, layout="garg")
        dims = Schedule(5, 20, 1, 2000) if d > 1 else Schedule(1, 1, 0, 1)
        pts_start = 11 if family != "nonlinear" else 26
        points = Schedule(pts_start, n, 2 if family != "nonlinear" else 5, 2000)
        # "auto": bf16 where it pays (AMX; emulated without bf16 instructions it is slower: docs/training.md)
        train = TrainConfig(
            steps=500_000,
            batch_size=64,
            lr=1e-4,
            warmup_steps=0,
            grad_clip=1e9,
            checkpoint_every=1000,
            log_every=100,
            autocast="auto",
            **NEW_RUN_LOOP,
        )
        return model, d, CurriculumConfig(dims, points), train
    # cpu scale (sized by measurement; see README "Sizing the cpu scale")
    d = 1 if family == "1d" else 10
    n = 21 if family == "linear" else 41
    # 8 layers of width 64 (depth moved the sparse-only model towards selection: docs/sizing.md); "math"
    # attention and GPT-2's tanh GELU by measurement (docs/training.md, "Speed and time to a trained study")
    model = ModelConfig(n_dims=d, n_points=n, n_embd=64, n_layer=8, n_head=4, layout="pair", attention="math")
    dims = Schedule(5, 10, 1, 2000) if d > 1 else Schedule(1, 1, 0, 1)
    points = Schedule(min(11, n), n, 2 if n <= 21 else 4, 2000)
    train = TrainConfig(
        steps=cpu_protocol().steps,  # a run whose own count was read has it instead (get_run_config)
        batch_size=64,
        lr=1e-3,
        warmup_steps=500,
        schedule="cosine",
        decay_fraction=0.2,
        checkpoint_every=500,
        log_every=50,
        **NEW_RUN_LOOP,
    )
    return model, d, CurriculumConfig(dims, points), train


def run_names(scale: str | None = None) -> list[str]:
    """The study's run names: every one, or those of one scale."""
    return list(RUNS) if scale is None else list(SCALE_RUNS[check_scale(scale)])


def check_run_names(scale: str, names: Sequence[str]) -> list[str]:
    """Validate a list of runs to train at one scale (``--runs`` of train-scale and train-many):
    at least one, each a run of ``scale``, none twice (a run has one writer)."""
    allowed = run_names(scale)
    if not names:
        raise ValueError(f"no runs given; the runs of {scale}: {', '.join(allowed)}")
    bad = [n for n in names if n not in allowed]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a run of the {scale} scale; its runs: {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ValueError(f"a run is named twice in {', '.join(names)}: each run has one writer")
    for n in names:
        check_hold_read(n, scale)
    return list(names)


def seed_runs(scale: str | None = None) -> list[str]:
    """The second-seed runs (those with a ``base``): every one, or those of one scale."""
    return [n for n in run_names(scale) if RUNS[n].base is not None]


def registry_run(family: str, weights: Mapping[str, float], seed: int = 0) -> str:
    """The name of the registry's run of ``family`` pretrained with these class ``weights`` (a class
    not named has weight 0) from training ``seed``, without instructions: how a chapter names the
    runs its claims judge by what they are, not by a spelled-out name."""
    want = {c: w for c, w in weights.items() if w}
    found = [
        n
        for n, r in RUNS.items()
        if r.family == family
        and r.seed == seed
        and not r.instructed
        and {c: w for c, w in zip(r.classes, r.weights) if w} == want
    ]
    if len(found) != 1:
        raise ValueError(f"{len(found)} runs of family {family!r}, seed {seed} have the weights {weights}")
    return found[0]


def get_run_config(name: str, scale: str = "cpu") -> RunConfig:
    """The full config of a named run of the study at a scale."""
    check_scale(scale)
    if name not in RUNS:
        raise ValueError(f"unknown run name {name!r}; allowed: {', '.join(RUNS)}")
    if name not in SCALE_RUNS[scale]:
        raise ValueError(
            f"run {name!r} is not a run of the {scale} scale; its runs: {', '.join(SCALE_RUNS[scale])}"
        )
    spec = RUNS[name]
    model, d, curriculum, train = _scale_preset(scale, spec.family)
    if spec.instructed:  # task-family instructions: a class embedding over the run's classes
        model = replace(model, n_classes=len(spec.classes))
    train = replace(train, seed=spec.seed)
    nnz = 1 if scale == "small" else 2
    # a mixture run: the weight curriculum (WeightRamp); the conditional one too, trained from scratch
    # (icl.forks)
    protocol = small_protocol() if scale == "small" else None  # the facts read off the small scale's runs
    if protocol is not None and spec.is_mixture:  # a hold not read: the cap (the run waits: check_hold_read)
        hold = protocol.hold(spec.seed) or protocol.selection_cap
        curriculum = replace(curriculum, mix=WeightRamp((0.0, 1.0), hold, protocol.mix_ramp))
        train = replace(train, steps=hold + protocol.mix_after)
    elif protocol is not None and spec.weight_of("sparse") == 1.0:  # sparse-only: past its seed's hold
        hold = protocol.hold(spec.seed)
        steps = protocol.selection_cap if hold is None else max(protocol.steps, hold + protocol.sparse_after)
        train = replace(train, steps=steps)
    elif scale == "cpu":  # the preset's step count, or the run's own read off its emergence log
        train = replace(train, steps=cpu_protocol().steps_of(name))
    task = TaskConfig(classes=spec.classes, weights=spec.weights, n_dims=d, nnz=nnz, normalize=True)
    return RunConfig(name=name, scale=scale, model=model, task=task, curriculum=curriculum, train=train)


def train_config(
    name: str,
    scale: str = "cpu",
    out: str | Path | None = None,
    seed: int | None = None,
    sets: Sequence[str] = (),
    steps: int | None = None,
) -> RunConfig:
    """``python -m icl train``'s config: the run ``name`` of ``scale`` with another training ``seed``,
    ``KEY=VALUE`` overrides (``sets``, as ``--set`` takes them) and a step count. The study's own folder
    (``out`` None) holds the study's run alone; a small-scale mixture run waits for its hold there."""
    cfg = get_run_config(name, scale)
    if seed is not None:
        if not out:
            raise ValueError(
                f"--seed {seed} trains another run than the study's {name}; give --out DIR (the "
                f"study's second seeds are runs of their own, e.g. linear-w0.00-seed1)"
            )
        cfg = cfg.with_overrides(seed=seed)
    if sets:
        cfg = cfg.override(parse_assignments(sets))
        if not out:
            raise ValueError(
                f"--set changes the study's config; give --out DIR so data/runs/{scale}/{name} "
                "keeps the study's run"
            )
    if steps is not None:
        cfg = cfg.with_overrides(steps=steps)
    if not out:
        check_hold_read(name, scale)
    return cfg


__all__ = [
    "ROOT",
    "DATA",
    "DATA_ENV",
    "REPORTS",
    "SCALES",
    "RunSpec",
    "RUNS",
    "SCALE_RUNS",
    "TaskConfig",
    "Schedule",
    "WeightRamp",
    "LabelCurriculum",
    "CurriculumConfig",
    "TrainConfig",
    "RunConfig",
    "get_run_config",
    "train_config",
    "run_names",
    "check_run_names",
    "seed_runs",
    "registry_run",
    "check_scale",
    "scale_dir",
    "stream_generator",
    "small_protocol",
    "cpu_protocol",
    "check_hold_read",
    "TRAIN",
    "EVAL",
    "BOOTSTRAP",
    "INIT",
    "EMERGENCE",
    "LABELS",
    "COMPILE_SETTINGS",
    "NEW_RUN_LOOP",
]

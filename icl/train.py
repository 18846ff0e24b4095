"""Training loop: curriculum, AdamW, checkpoints, exact resume.

This module owns how a run is trained. ``train(config, out_dir)`` draws, at every step, a fresh batch from
the run's function class with a generator seeded by ``(seed, step)``, so the data stream does not depend on
where a run was resumed. The loss is the mean squared error over all prompt positions (Garg et al.). Every
``checkpoint_every`` steps the full state (weights, AdamW moments, logs, step) is written atomically to the
run folder's resumable state (:mod:`icl.run_folder`); rerunning the same command resumes from it and ends
bit-identical to an uninterrupted run on the same machine. A state takes a new step count (and nothing else
new) while neither count's schedule has begun its decay: the same steps, learning rates and batches as the
new config trained from scratch.

Every ``eval_every`` steps (and at step 0) the run scores itself on its fixed emergence set
(:mod:`icl.emergence`) and appends a row to its emergence log: the errors at two fixed k on dense and sparse
prompts, so a reader sees when selection arrives. The log is part of the resumable state. A mixture run with
a mixing-weight curriculum (:class:`~icl.config.WeightRamp`) draws step ``s``'s batch with the weights of
step ``s``; while they equal another run's weights the two runs see the same batches, and
:func:`icl.forks.fork` starts such a run from the other's state at that step (bit-identical to training it
from scratch, tested). A conditional run (``model.n_classes > 0``, task-family instructions) gives the model
each prompt's class label; every other run never sees labels.

A session reads as nanoGPT's loop: :func:`train` sets up (:func:`setup`: where the run starts, the model and
optimiser, precision, torch.compile; then the SIGTERM handler and the session record), loops over
:func:`train_step` until :func:`should_stop` gives a :class:`StopReason` or the steps are done, then
:func:`finish` writes the final files (a stop leaves a checkpoint: :func:`stopped`). SIGTERM and Ctrl-C save
a checkpoint at the current step before exiting. A non-finite loss stops the run with an error naming the
step and leaves the last good checkpoint untouched.

Scale-out: under ``torchrun --nproc_per_node=N`` (``WORLD_SIZE > 1`` in the environment) the same call
trains with DistributedDataParallel (gloo on CPU, nccl on CUDA). Rank r draws its contiguous slice of the
global batch (:func:`sample_batch`), its loss is the mean over that slice, and DDP's gradient average
therefore equals the single-process gradient of the global batch; clipping and AdamW then see that average
on every rank. Every rank resumes from the same state; only rank 0 writes files. With
``train.autocast="bf16"`` the forward pass runs under bfloat16 autocast on CPU or CUDA (the loss is taken
in fp32); ``"auto"`` (the ``paper`` preset's) does so on CUDA and on CPUs with bf16 instructions only; the
session record names the precision used.

How a run is trained, apart from what, is :mod:`icl.step`'s: a run resumes with its own attention kernel,
AdamW implementation and ``train.compile`` (``--compile`` overrides it for a session; ``"auto"`` times eager
against compiled steps at the start of the session and keeps the faster). The state is the uncompiled
model's, so a run may resume with or without compilation (the numbers then agree to float rounding, not bit
for bit); the session record names the mode and what ``auto`` measured.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from . import emergence
from .checkpoint import load_optimizer_tensors, load_state, save_state, save_weights, weights_config
from .config import COMPILE_SETTINGS, INIT, LABELS, TRAIN, RunConfig, stream_generator
from .model import TransformerModel
from .provenance import cpu_bf16_instructions
from .run_folder import Fresh, RunFolder, plan_start
from .step import (
    Batch,
    agreed_mode,
    any_rank,
    check_world,
    distributed_env,
    init_distributed,
    keep_implementation,
    make_optimizer,
    on_sigterm,
    session_compile,
    session_records,
    step_loss,
    step_update,
    time_compile,
)
from .tasks import sample_xs


class DivergenceError(RuntimeError):
    """The training loss became NaN or infinite."""


class StopReason(Enum):
    """Why a session stops before the run's last step (:func:`should_stop`)."""

    NONE = "none"  # train on
    SIGNAL = "signal"  # SIGTERM, here or on another rank: checkpoint, exit with a message
    PAUSE_STEP = "pause step"  # the step ``stop_after`` is reached: checkpoint, return
    TIME_LIMIT = "time limit"  # ``max_seconds`` of this session spent: checkpoint, return
    INTERRUPT = "interrupt"  # Ctrl-C (KeyboardInterrupt) in this process: checkpoint, exit


COMPILE_MODES = COMPILE_SETTINGS  # "off", "auto", or a torch.compile mode (train.compile, --compile)


def sample_batch(
    config: RunConfig, step: int, fc=None, rank: int = 0, world: int = 1, with_labels: bool = False
):
    """The training batch of ``step``: (xs, ys), a pure function of (seed, step).

    With ``world > 1`` the global batch is split into contiguous slices and rank
    ``rank`` gets its own, so data-parallel training sees the same global batch.
    ``with_labels`` also returns each prompt's class index in ``config.task.classes``
    (the mixture's labels, drawn anyway: the same random numbers either way), the
    instructions a conditional run (``model.n_classes > 0``) trains with.
    """
    task = config.task_at(step)  # the run's task, or its mixing-weight curriculum's at this step
    if task is not config.task:
        fc = task.build()
    fc = fc if fc is not None else config.task.build()
    d_active, n_points = config.curriculum.at(step)
    g = stream_generator(config.train.seed, step, TRAIN)
    B = config.train.batch_size
    xs = sample_xs(B, n_points, config.model.n_dims, g, d_active)
    task = fc.sample(B, g, d_active)
    ys, labels = task.evaluate(xs), task.labels
    if world > 1:
        per = B // world
        xs, ys, labels = (t[rank * per : (rank + 1) * per] for t in (xs, ys, labels))
    return (xs, ys, labels) if with_labels else (xs, ys)


def instructions(config: RunConfig, step: int, labels: torch.Tensor, rank: int = 0, world: int = 1):
    """The class instructions of step ``step``'s batch: ``(labels, given)`` for the model's forward,
    ``(None, None)`` on a step without labels (:meth:`~icl.config.RunConfig.gives_labels`), ``given``
    None when every prompt keeps its label; under a label curriculum's withdrawal, ``given`` marks
    the prompts that keep theirs, drawn from the run's own ``LABELS`` stream for the global batch
    (so it is a pure function of (seed, step), whatever the world size)."""
    if not config.gives_labels(step):
        return None, None
    p = config.curriculum.labels.keep(step) if config.curriculum.labels.active else 1.0
    if p >= 1.0:
        return labels, None
    B = config.train.batch_size
    given = torch.rand(B, generator=stream_generator(config.train.seed, step, LABELS)) < p
    if world > 1:
        per = B // world
        given = given[rank * per : (rank + 1) * per]
    return labels, given


def build_model(config: RunConfig) -> TransformerModel:
    """The run's model, initialised from its seed (independent of global RNG state)."""
    g = stream_generator(config.train.seed, 0, INIT)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
        return TransformerModel(config.model)


def step_batch(config: RunConfig, step: int, fc, rank: int, world: int, device: str) -> Batch:
    """Step ``step``'s ``(xs, ys, labels, given)`` on ``device``: a conditional run's instructions
    (:func:`instructions`; ``labels`` None on a step without them), ``(None, None)`` for every other run."""
    labels = given = None
    if config.model.n_classes > 0:  # each prompt's class as its instruction, where given
        xs, ys, labels = sample_batch(config, step, fc, rank, world, with_labels=True)
        labels, given = instructions(config, step, labels, rank, world)
    else:
        xs, ys = sample_batch(config, step, fc, rank, world)
    return (
        xs.to(device),
        ys.to(device),
        None if labels is None else labels.to(device),
        None if given is None else given.to(device),
    )


@dataclass
class Session:
    """One session of a run, as set up by :func:`setup`: what :func:`train_step`, :func:`should_stop` and
    :func:`finish` work on. ``net`` is ``model`` as the step runs it (under DDP, torch.compile); the
    emergence log and the saved state read ``model``. ``log`` and ``evals`` are the run's loss and
    emergence logs, carried in its state; ``signalled`` is set by SIGTERM."""

    config: RunConfig
    folder: RunFolder
    model: TransformerModel
    opt: torch.optim.Optimizer
    net: torch.nn.Module
    fc: Any  # the run's function class, built once (sample_batch)
    eset: emergence.EmergenceSet | None  # the emergence log's fixed prompts (rank 0 only)
    device: str
    rank: int
    world: int
    bf16: bool
    start: int
    t0: float  # the session's wall-clock start (max_seconds counts the timing of "auto" too)
    mode: str  # this session's torch.compile mode ("off": eager)
    timing: dict[str, Any] | None  # what "auto" measured, for the session record
    steps_from: int | None  # the step count the resumed state was saved under, where it changed
    log: list[tuple[int, float]]
    evals: list[tuple[int, list[float]]]
    signalled: bool = False

    @property
    def lead(self) -> bool:
        """Whether this is the rank that writes files."""
        return self.rank == 0

    def record(self) -> None:
        """The run's header with this session's record appended (rank 0 only)."""
        if self.lead:
            mine = (self.start, self.device, self.world, self.bf16, self.mode, self.timing, self.steps_from)
            self.folder.write_header(self.config, session_records(self.folder.sessions(), *mine))

    def log_emergence(self, step: int) -> None:
        """A row of the emergence log (rank 0 only; it reads the model, never the data stream)."""
        if self.lead and (not self.evals or self.evals[-1][0] < step):
            self.evals.append((step, self.eset.score(self.model).tolist()))
            self.model.train()

    def checkpoint(self, step: int) -> None:
        """The resumable state at ``step`` and both logs (rank 0 only)."""
        if self.lead:
            save_state(self.folder.state_path, self.model, self.opt, step, self.log, self.config, self.evals)
            self.folder.write_logs(self.config, self.log, self.evals)


def train(
    config: RunConfig,
    out_dir: Path,
    steps: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
    max_seconds: float | None = None,
    compile: str | None = None,
) -> Path:
    """Train (or resume) ``config`` into ``out_dir``; returns the folder.

    ``steps`` overrides the configured number of steps (it is saved in the config).
    ``stop_after`` stops (with a checkpoint) once that step is reached, as if the run
    had been interrupted there; used by the resume tests. ``max_seconds`` pauses the run
    (checkpoint, return normally) after that much wall time in this session. ``compile``
    is one of :data:`COMPILE_MODES`: this session's setting, overriding the run's own
    ``train.compile`` (None: the run's; a speed switch, never part of what is trained).

    Under ``torchrun`` (or with a process group already initialised) this trains with
    DDP over all ranks; see the module docstring.
    """
    folder = RunFolder(out_dir)
    if compile is not None and compile not in COMPILE_MODES:
        raise ValueError(f"compile={compile!r} is not one of {', '.join(COMPILE_MODES)}")
    if steps is not None:
        config = config.with_overrides(steps=steps)
    grouped = dist.is_available() and dist.is_initialized()
    check_world(config.train.batch_size, dist.get_world_size() if grouped else distributed_env()[1])
    rank, world, device, created = init_distributed(device)
    try:
        with folder.lock() if rank == 0 else nullcontext():  # one writer per run folder
            s = setup(config, folder, device, rank, world, compile, stop_after)
            if s is None:
                return folder.path  # finished, or already at the pause step: nothing to train
            # SIGTERM behaves like Ctrl-C: the step in hand finishes, then a checkpoint and exit
            with on_sigterm(lambda: setattr(s, "signalled", True)):
                s.record()  # after the handler: from here on a signal leaves a checkpoint
                reason, step = loop(s, progress, stop_after, max_seconds)
                if reason is not StopReason.NONE:
                    return stopped(s, step, reason, stop_after)
            return finish(s)
    finally:
        if created:
            dist.destroy_process_group()


def _same_run(saved: RunConfig, config: RunConfig, path: Path, step: int | None = None) -> RunConfig:
    """The config to continue with, if ``path`` (a state or finished weights) belongs to this run.

    A run keeps its own implementation switches (:func:`keep_implementation`). A new step
    count is accepted for a resumable state at ``step`` when it is the only difference and
    the learning rates of both step counts agree at every step up to there (neither has begun
    its decay): continuing is then exactly training the new config from scratch (a run whose
    curve asks for more steps before its decay, issue on scales). Any other difference is
    refused: the folder holds another run.
    """
    config = keep_implementation(saved, config)
    if saved.to_dict() == config.to_dict():
        return config
    retargeted = replace(saved, train=replace(saved.train, steps=config.train.steps))
    if (
        step is not None
        and retargeted.to_dict() == config.to_dict()
        and all(saved.train.lr_at(s) == config.train.lr_at(s) for s in range(step + 1))
    ):
        return config
    why = ""
    if step is not None and retargeted.to_dict() == config.to_dict():
        why = (
            f" (a new step count is accepted only before either schedule's decay begins; "
            f"the state is at step {step:,})"
        )
    raise ValueError(
        f"{path} was written by a different config{why}; use another --out or delete the folder. "
        f"saved config name={saved.name!r} steps={saved.train.steps}, requested name={config.name!r} "
        f"steps={config.train.steps}"
    )


def resume_point(config: RunConfig, folder: RunFolder) -> tuple[RunConfig, dict | None, int | None] | None:
    """Where a session of ``config`` in ``folder`` starts: (the config to train, the resumable state or
    None for a fresh run, the step count the state was saved under where it changed: :func:`_same_run`),
    or None for a finished run whose resumable state was not kept (the committed runs keep only their
    weights): nothing to train, and its weights are never overwritten by a fresh start. Refuses a folder
    holding another run."""
    if isinstance(plan_start(config, folder, ()), Fresh):
        return config, None, None
    if not folder.state_path.exists():
        _same_run(weights_config(folder.weights_path), config, folder.weights_path)
        return None
    st = load_state(folder.state_path)
    resumed = _same_run(st["config"], config, folder.state_path, st["step"])
    saved_steps = st["config"].train.steps
    return resumed, st, saved_steps if saved_steps != resumed.train.steps else None


# long: a session's setup in order (resume, model, precision, compile, DDP); Session has 18 fields
def setup(
    config: RunConfig,
    folder: RunFolder,
    device: str,
    rank: int,
    world: int,
    compile: str | None,
    stop_after: int | None,
) -> Session | None:
    """The session: where the run starts (:func:`resume_point`), its model and optimiser (resumed or
    initialised), precision and torch.compile mode; None when there is nothing to train."""
    folder.path.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        folder.drop_stale_temps()  # temp files of a checkpoint write that a kill cut off
    begun = resume_point(config, folder)
    if begun is None:
        return None
    config, st, steps_from = begun
    start = st["step"] if st is not None else 0
    if folder.is_finished() and start >= config.train.steps:
        return None
    if stop_after is not None and start >= stop_after:
        return None  # already at (or past) the pause step: rerunning a paused command trains nothing
    tc = config.train  # the run's own implementation switches included (keep_implementation)
    model = build_model(config).to(device)
    opt = make_optimizer(model, config)
    log, evals = [], []
    if st is not None:
        model.load_state_dict(st["model"])
        load_optimizer_tensors(opt, st["optim"])
        log, evals = st["log"], st["evals"]
    t0 = time.time()  # the session's wall time (max_seconds) counts the timing of "auto" too
    # the run's setting; "auto": bf16 on CUDA, and on a CPU only with bf16 instructions (emulated, it is
    # 10-30x slower than fp32: reports/benchmarks.md). The session record says which precision ran.
    use_bf16 = tc.autocast == "bf16" or (
        tc.autocast == "auto" and (torch.device(device).type == "cuda" or bool(cpu_bf16_instructions()))
    )
    fc = config.task.build()
    # this session's torch.compile mode: the CLI's, else the run's; "auto" times both on this session's shapes
    left = min(tc.steps, stop_after or tc.steps) - start
    mode, timing = session_compile(
        compile or tc.compile,
        left,
        lambda: time_compile(
            model, config, step_batch(config, start, fc, rank, world, device), use_bf16, device
        ),
    )
    mode = agreed_mode(mode, world, device) if timing is not None else mode
    net: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        dev = torch.device(device)
        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    if mode != "off":  # the training step only; the emergence log and the saved state use `model`
        net = torch.compile(net, mode=mode)  # dynamic shapes after the first change (the curricula's lengths)
    eset = emergence.emergence_set(config) if rank == 0 else None
    return Session(
        config,
        folder,
        model,
        opt,
        net,
        fc,
        eset,
        device,
        rank,
        world,
        use_bf16,
        start,
        t0,
        mode,
        timing,
        steps_from,
        log,
        evals,
    )


def train_step(s: Session, step: int) -> float:
    """One optimisation step on step ``step``'s batch; returns the global-batch loss (every rank's)."""
    batch = step_batch(s.config, step, s.fc, s.rank, s.world, s.device)
    for group in s.opt.param_groups:
        group["lr"] = s.config.train.lr_at(step)
    loss = step_loss(s.net, batch, s.bf16, s.device)
    seen = loss.detach()  # the global-batch loss: logged and checked for divergence on every rank
    if s.world > 1:
        seen = seen.clone()
        dist.all_reduce(seen)
        seen /= s.world
    if not torch.isfinite(seen):
        raise DivergenceError(
            f"run {s.config.name!r}: loss is {seen.item()} at step {step}; stopped. The last good "
            f"checkpoint ({s.folder.state_path}, step {s.start if not s.log else s.log[-1][0]}) was kept."
        )
    step_update(loss, s.model, s.opt, s.config.train.grad_clip)  # DDP: gradients averaged over the ranks
    return seen.item()


def should_stop(s: Session, step: int, stop_after: int | None, max_seconds: float | None) -> StopReason:
    """Whether the session stops after ``step``, and why (a signal first, then the pause step, then the
    clock, which never stops the run's last step). Under DDP a reason on any rank holds on every rank, so
    all stop at the same step."""
    flags = [
        s.signalled,
        stop_after is not None and step >= stop_after,
        max_seconds is not None and time.time() - s.t0 >= max_seconds and step < s.config.train.steps,
    ]
    if s.world > 1:
        flags = any_rank(flags, s.device)
        s.signalled = s.signalled or flags[0]
    signalled, paused, timed_out = flags
    return (
        StopReason.SIGNAL
        if signalled
        else StopReason.PAUSE_STEP
        if paused
        else StopReason.TIME_LIMIT
        if timed_out
        else StopReason.NONE
    )


def loop(
    s: Session, progress: bool, stop_after: int | None, max_seconds: float | None
) -> tuple[StopReason, int]:
    """Train from ``s.start`` until the run's last step or a :class:`StopReason`; returns it with the step
    reached. Logs the loss every ``log_every`` steps, the emergence log every ``eval_every`` (and at step 0),
    and checkpoints every ``checkpoint_every`` (and at the last step)."""
    tc = s.config.train
    s.model.train()
    bar = tqdm(
        total=tc.steps,
        initial=s.start,
        disable=not progress or not s.lead,
        desc=s.config.name,
        dynamic_ncols=True,
    )
    step, running = s.start, None
    if s.start == 0:
        s.log_emergence(0)
    try:
        while step < tc.steps:
            lv = train_step(s, step)
            step += 1
            running = lv if running is None else 0.98 * running + 0.02 * lv
            if step % tc.log_every == 0 or step == tc.steps:
                s.log.append((step, lv))
                bar.set_postfix(loss=f"{running:.4f}")
            bar.update(1)
            if step % tc.eval_every == 0 or step == tc.steps:
                s.log_emergence(step)
            if step % tc.checkpoint_every == 0 or step == tc.steps:
                s.checkpoint(step)
            reason = should_stop(s, step, stop_after, max_seconds)
            if reason is not StopReason.NONE:
                return reason, step
    except KeyboardInterrupt:
        return StopReason.INTERRUPT, step
    finally:
        bar.close()
    return StopReason.NONE, step


def stopped(s: Session, step: int, reason: StopReason, stop_after: int | None) -> Path:
    """A stopped session: a checkpoint at ``step`` (unless one was just written), then the folder for a
    pause (the pause step, the clock; Ctrl-C under a pause step too), SystemExit for a signal or Ctrl-C."""
    if step % s.config.train.checkpoint_every != 0:
        s.checkpoint(step)
    if s.world > 1 and reason is not StopReason.INTERRUPT:
        dist.barrier()  # every rank stopped at this step: wait for rank 0's checkpoint
    if (stop_after is not None or reason is StopReason.TIME_LIMIT) and not s.signalled:
        return s.folder.path
    raise SystemExit(
        f"interrupted at step {step}; checkpoint saved to {s.folder.state_path}; rerun to resume"
    )


def finish(s: Session) -> Path:
    """The finished run's files (rank 0): the final weights, both logs, the header's final update, the
    manifest; every rank returns once they are written."""
    if s.lead:
        save_weights(s.folder.weights_path, s.model, s.config)  # a label curriculum's run: no class embedding
        s.folder.write_logs(s.config, s.log, s.evals)
        s.folder.mark_finished(
            s.config.train.steps, round(time.time() - s.t0, 1), s.log[-1][1] if s.log else None
        )
        s.folder.write_manifest()
    if s.world > 1:
        dist.barrier()  # no rank returns before rank 0 has written the finished run
    return s.folder.path

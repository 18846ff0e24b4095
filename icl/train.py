"""Training loop: curriculum, AdamW, checkpoints, exact resume.

This module owns how a run is trained. ``train(config, out_dir)`` draws, at every
step, a fresh batch from the run's function class with a generator seeded by
``(seed, step)``, so the data stream does not depend on where a run was resumed.
The loss is the mean squared error over all prompt positions (Garg et al.). Every
``checkpoint_every`` steps the full state (weights, AdamW moments, loss log, step) is
written atomically to ``state.safetensors``; rerunning the same command resumes from
it and ends bit-identical to an uninterrupted run on the same machine. A state takes a new
step count (and nothing else new) while neither count's schedule has begun its decay: the
same steps, learning rates and batches as the new config trained from scratch.

Every ``eval_every`` steps (and at step 0) the run scores itself on its fixed emergence
set (:mod:`icl.emergence`) and appends a row to ``eval.csv``: the errors at two fixed k
on dense and sparse prompts, so a reader sees when selection arrives. The log is part of
the resumable state. A mixture run with a mixing-weight curriculum
(:class:`~icl.config.WeightRamp`) draws step ``s``'s batch with the weights of step ``s``;
while they equal another run's weights the two runs see the same batches, and
:func:`icl.forks.fork` starts such a run from the other's state at that step (bit-identical
to training it from scratch, tested). A conditional run (``model.n_classes > 0``, task-family
instructions) gives the model each prompt's class label; every other run never sees labels.

SIGTERM and Ctrl-C save a checkpoint at the current step before exiting. A non-finite
loss stops the run with an error naming the step and leaves the last good checkpoint
untouched.

Scale-out: under ``torchrun --nproc_per_node=N`` (``WORLD_SIZE > 1`` in the
environment) the same call trains with DistributedDataParallel (gloo on CPU, nccl on
CUDA). Rank r draws its contiguous slice of the global batch (:func:`sample_batch`),
its loss is the mean over that slice, and DDP's gradient average therefore equals the
single-process gradient of the global batch; clipping and AdamW then see that average
on every rank. Every rank resumes from the same ``state.safetensors``; only rank 0
writes files. With ``train.autocast="bf16"`` the forward pass runs under bfloat16 autocast
on CPU or CUDA (the loss is taken in fp32); ``"auto"`` (the ``paper`` preset's) does so on
CUDA and on CPUs with bf16 instructions only; the session record names the precision used.

How a run is trained, apart from what (:mod:`icl.step`): a run resumes with its own attention kernel,
AdamW implementation (``train.fused_adamw``: fused for new runs) and ``train.compile``, the sessions'
torch.compile setting (``--compile`` overrides it for a session): ``"default"`` (or
``"reduce-overhead"``: CUDA graphs on a GPU) runs the training forward and backward through
``torch.compile``; ``"auto"`` (the presets') times eager against compiled steps at the start of the
session and keeps the faster for the whole session. The weights, the optimiser and the state are the
uncompiled model's, so a run may resume with or without compilation (the numbers then agree to float
rounding, not bit for bit); the session record names the mode and what ``auto`` measured.
"""

from __future__ import annotations

import json
import os
import signal
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from .checkpoint import (
    atomic_write_text,
    load_optimizer_tensors,
    load_state,
    run_lock,
    save_state,
    save_weights,
    weights_config,
    write_manifest,
)
from . import emergence
from .config import COMPILE_SETTINGS, INIT, LABELS, TRAIN, RunConfig, stream_generator
from .model import TransformerModel
from .provenance import cpu_bf16_instructions, git_commit, versions
from .step import (Batch, agreed_mode, keep_implementation, make_optimizer, session_compile, session_records,
                   step_loss, step_update, time_compile)
from .tasks import sample_xs


class DivergenceError(RuntimeError):
    """The training loss became NaN or infinite."""


class _Stop(Exception):
    pass


COMPILE_MODES = COMPILE_SETTINGS  # "off", "auto", or a torch.compile mode (train.compile, --compile)


def sample_batch(config: RunConfig, step: int, fc=None, rank: int = 0, world: int = 1, with_labels: bool = False):
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


def distributed_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as set by ``torchrun``; (0, 1, 0) in a plain process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world, int(os.environ.get("LOCAL_RANK", str(rank)))


def check_world(batch_size: int, world: int) -> None:
    """The global batch must split evenly over the ranks."""
    if world > 1 and batch_size % world:
        raise ValueError(f"batch_size={batch_size} is not divisible by the world size {world} (torchrun "
                         f"--nproc_per_node); choose a batch size that is a multiple of {world}")


def _init_distributed(device: str) -> tuple[int, int, str, bool]:
    """Join torchrun's process group if the environment asks for one.

    Returns (rank, world, device, created): ``device`` is made rank-local on CUDA
    (``cuda`` -> ``cuda:LOCAL_RANK``); ``created`` says this call initialised the group
    (and :func:`train` must destroy it).
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        created = False
    else:
        rank, world, _ = distributed_env()
        if world <= 1:
            return 0, 1, device, False
        cuda = str(device).startswith("cuda")
        if cuda:
            torch.cuda.set_device(int(str(device).partition(":")[2] or distributed_env()[2]))
        dist.init_process_group("nccl" if cuda else "gloo")
        created = True
    if world > 1 and str(device) == "cuda":
        device = f"cuda:{distributed_env()[2]}"
    return rank, world, device, created


def _any_rank(flags: list[bool], device: str) -> list[bool]:
    """Element-wise OR of ``flags`` over all ranks (so every rank stops at the same step)."""
    t = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def build_model(config: RunConfig) -> TransformerModel:
    """The run's model, initialised from its seed (independent of global RNG state)."""
    g = stream_generator(config.train.seed, 0, INIT)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
        return TransformerModel(config.model)


def write_loss_csv(path: Path, log: list[tuple[int, float]]) -> None:
    atomic_write_text(path, "step,loss\n" + "".join(f"{s},{l:.6g}\n" for s, l in log))


def write_eval_csv(path: Path, config: RunConfig, evals: list[tuple[int, list[float]]]) -> None:
    """The emergence log: ``step`` then one column per (class, k) of :func:`icl.emergence.columns`."""
    head = ",".join(["step", *emergence.columns(config)])
    atomic_write_text(path, head + "\n" + "".join(f"{s}," + ",".join(f"{e:.6g}" for e in row) + "\n"
                                                  for s, row in evals))


def write_started_run(out_dir: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int,
                      log: list[tuple[int, float]], config: RunConfig, evals: list[tuple[int, list[float]]],
                      sessions: list[dict]) -> None:
    """A run folder started from another run's weights (a fork, a warm start, a probe), written by the
    caller under the folder's lock: ``config.json`` (with ``sessions``, its origin) first, the logs, the
    resumable state at ``step`` last, so a folder cut off before its state exists has not started."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "config.json", json.dumps(
        {"config": config.to_dict(), "versions": versions(), "git_commit": git_commit(), "status": "training",
         "sessions": sessions}, indent=2))
    write_loss_csv(out_dir / "loss.csv", log)
    if evals:
        write_eval_csv(out_dir / "eval.csv", config, evals)
    save_state(out_dir / "state.safetensors", model, opt, step, log, config, evals)


def step_batch(config: RunConfig, step: int, fc, rank: int, world: int, device: str) -> Batch:
    """Step ``step``'s ``(xs, ys, labels, given)`` on ``device``: a conditional run's instructions
    (:func:`instructions`; ``labels`` None on a step without them), ``(None, None)`` for every other run."""
    labels = given = None
    if config.model.n_classes > 0:  # each prompt's class as its instruction, where given
        xs, ys, labels = sample_batch(config, step, fc, rank, world, with_labels=True)
        labels, given = instructions(config, step, labels, rank, world)
    else:
        xs, ys = sample_batch(config, step, fc, rank, world)
    return (xs.to(device), ys.to(device), None if labels is None else labels.to(device),
            None if given is None else given.to(device))


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
    out_dir = Path(out_dir)
    if compile is not None and compile not in COMPILE_MODES:
        raise ValueError(f"compile={compile!r} is not one of {', '.join(COMPILE_MODES)}")
    if steps is not None:
        config = config.with_overrides(steps=steps)
    tc = config.train
    check_world(tc.batch_size, dist.get_world_size() if dist.is_available() and dist.is_initialized()
                else distributed_env()[1])
    rank, world, device, created = _init_distributed(device)
    try:
        with run_lock(out_dir) if rank == 0 else nullcontext():  # one writer per run folder
            return _train(config, out_dir, device, progress, stop_after, max_seconds, rank, world, compile)
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
    if (step is not None and retargeted.to_dict() == config.to_dict()
            and all(saved.train.lr_at(s) == config.train.lr_at(s) for s in range(step + 1))):
        return config
    why = ""
    if step is not None and retargeted.to_dict() == config.to_dict():
        why = (f" (a new step count is accepted only before either schedule's decay begins; "
               f"the state is at step {step:,})")
    raise ValueError(
        f"{path} was written by a different config{why}; use another --out or delete the folder. "
        f"saved config name={saved.name!r} steps={saved.train.steps}, requested name={config.name!r} "
        f"steps={config.train.steps}"
    )


def _train(config: RunConfig, out_dir: Path, device: str, progress: bool, stop_after: int | None,
           max_seconds: float | None, rank: int, world: int, compile: str | None = None) -> Path:
    """The loop behind :func:`train`; ``world > 1`` means an initialised process group."""
    lead = rank == 0  # the rank that writes files
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / "state.safetensors"
    if lead:  # temp files of a checkpoint write that a kill cut off: never read, safe to drop
        for stale in out_dir.glob(".*.safetensors.*.tmp"):
            stale.unlink(missing_ok=True)

    final_path = out_dir / "model.safetensors"
    if not state_path.exists() and final_path.exists():
        # a finished run whose resumable state was not kept (the committed runs keep only their
        # weights): nothing to train, and its weights are never overwritten by a fresh start
        _same_run(weights_config(final_path), config, final_path)
        return out_dir
    st = load_state(state_path) if state_path.exists() else None
    retargeted_from = None  # the step count the state was saved under, when it changed (_same_run)
    if st is not None:
        config = _same_run(st["config"], config, state_path, st["step"])
        if st["config"].train.steps != config.train.steps:
            retargeted_from = st["config"].train.steps
    tc = config.train  # the run's own implementation switches included (keep_implementation)
    model = build_model(config).to(device)
    opt = make_optimizer(model, config)
    start, log, evals = 0, [], []
    if st is not None:
        model.load_state_dict(st["model"])
        load_optimizer_tensors(opt, st["optim"])
        start, log, evals = st["step"], st["log"], st["evals"]
    if final_path.exists() and start >= tc.steps:
        return out_dir
    if stop_after is not None and start >= stop_after:
        return out_dir  # already at (or past) the pause step: rerunning a paused command trains nothing
    t0 = time.time()  # the session's wall time (max_seconds) counts the timing of "auto" too
    # the run's setting; "auto": bf16 on CUDA, and on a CPU only with bf16 instructions (emulated, it is
    # 10-30x slower than fp32: reports/benchmarks.md). The session record says which precision ran.
    use_bf16 = tc.autocast == "bf16" or (tc.autocast == "auto" and (torch.device(device).type == "cuda"
                                                                     or bool(cpu_bf16_instructions())))
    fc = config.task.build()
    # this session's torch.compile mode: the CLI's, else the run's; "auto" times both on this session's shapes
    left = min(tc.steps, stop_after or tc.steps) - start
    mode, timing = session_compile(compile or tc.compile, left, lambda: time_compile(
        model, config, step_batch(config, start, fc, rank, world, device), use_bf16, device))
    mode = agreed_mode(mode, world, device) if timing is not None else mode
    net: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        dev = torch.device(device)
        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    if mode != "off":  # the training step only; the emergence log and the saved state use `model`
        net = torch.compile(net, mode=mode)  # dynamic shapes after the first change (the curricula's lengths)

    # SIGTERM behaves like Ctrl-C: finish the current step, checkpoint, exit
    stop_requested = []
    old_handler = None
    try:
        old_handler = signal.signal(signal.SIGTERM, lambda *_: stop_requested.append(1))
    except ValueError:  # not in the main thread
        pass

    sessions = session_records(out_dir, start, device, world, use_bf16, mode, timing, retargeted_from)
    if lead:
        atomic_write_text(out_dir / "config.json", json.dumps(
            {"config": config.to_dict(), "versions": versions(), "git_commit": git_commit(), "status": "training",
             "sessions": sessions}, indent=2))
    eset = emergence.emergence_set(config) if lead else None

    def log_emergence(step: int) -> None:
        """A row of the emergence log (rank 0 only; it reads the model, never the data stream)."""
        if lead and (not evals or evals[-1][0] < step):
            evals.append((step, eset.score(model).tolist()))
            model.train()

    def checkpoint(step: int) -> None:
        if lead:
            save_state(state_path, model, opt, step, log, config, evals)
            write_loss_csv(out_dir / "loss.csv", log)
            write_eval_csv(out_dir / "eval.csv", config, evals)

    model.train()
    bar = tqdm(total=tc.steps, initial=start, disable=not progress or not lead, desc=config.name,
               dynamic_ncols=True)
    step = start
    if start == 0:
        log_emergence(0)
    running = None
    paused: list[int] = []
    try:
        while step < tc.steps:
            batch = step_batch(config, step, fc, rank, world, device)
            for group in opt.param_groups:
                group["lr"] = tc.lr_at(step)
            loss = step_loss(net, batch, use_bf16, device)
            seen = loss.detach()  # the global-batch loss: logged and checked for divergence on every rank
            if world > 1:
                seen = seen.clone()
                dist.all_reduce(seen)
                seen /= world
            if not torch.isfinite(seen):
                raise DivergenceError(
                    f"run {config.name!r}: loss is {seen.item()} at step {step}; stopped. The last good "
                    f"checkpoint ({state_path}, step {start if not log else log[-1][0]}) was kept."
                )
            step_update(loss, model, opt, tc.grad_clip)  # under DDP the gradients are averaged over the ranks
            step += 1
            lv = seen.item()
            running = lv if running is None else 0.98 * running + 0.02 * lv
            if step % tc.log_every == 0 or step == tc.steps:
                log.append((step, lv))
                bar.set_postfix(loss=f"{running:.4f}")
            bar.update(1)
            if step % tc.eval_every == 0 or step == tc.steps:
                log_emergence(step)
            if step % tc.checkpoint_every == 0 or step == tc.steps:
                checkpoint(step)
            stop = [bool(stop_requested), stop_after is not None and step >= stop_after,
                    max_seconds is not None and time.time() - t0 >= max_seconds and step < tc.steps]
            if world > 1:  # a signal or the clock on any rank stops all of them at this step
                stop = _any_rank(stop, device)
                if stop[0] and not stop_requested:
                    stop_requested.append(1)
            if stop[0] or stop[1]:
                raise _Stop
            if stop[2]:
                paused.append(step)
                raise _Stop
    except (KeyboardInterrupt, _Stop) as e:
        if step % tc.checkpoint_every != 0:
            checkpoint(step)
        if world > 1 and isinstance(e, _Stop):
            dist.barrier()  # every rank stopped at this step: wait for rank 0's checkpoint
        bar.close()
        if (stop_after is not None or paused) and not stop_requested:
            return out_dir
        raise SystemExit(f"interrupted at step {step}; checkpoint saved to {state_path}; rerun to resume")
    finally:
        bar.close()
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)

    if lead:
        save_weights(final_path, model, config)  # a label curriculum's run: without its class embedding
        write_loss_csv(out_dir / "loss.csv", log)
        write_eval_csv(out_dir / "eval.csv", config, evals)
        info = json.loads((out_dir / "config.json").read_text())
        info.update(status="finished", steps=tc.steps, wall_seconds_last_session=round(time.time() - t0, 1),
                    final_loss=log[-1][1] if log else None)
        atomic_write_text(out_dir / "config.json", json.dumps(info, indent=2))
        write_manifest(out_dir)
    if world > 1:
        dist.barrier()  # no rank returns before rank 0 has written the finished run
    return out_dir

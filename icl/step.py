"""The training step and how a session runs it: the optimiser, the loss, the update, torch.compile, DDP.

This module owns the parts of a training step that do not depend on the data stream (:mod:`icl.train`
draws the batches and runs the loop) and the implementation switches of a run, how it is trained
rather than what (:func:`keep_implementation`): the attention kernel, ``train.fused_adamw``
(:func:`make_optimizer`: ``torch.optim.AdamW(fused=True)``, one kernel for every parameter) and
``train.compile``, each session's torch.compile setting. A config saved before a switch existed loads
with the old behaviour (:class:`~icl.config.TrainConfig`'s defaults), and a resumed run keeps its own
switches, so its resume stays bit-identical and a preset that changes a default orphans no run.

``train.compile = "auto"`` (the presets') decides per session (:func:`session_compile`): with at
least :data:`AUTO_MIN_STEPS` steps left to train, :func:`time_compile` times eager against compiled
steps (after the compilation) on the session's first batch, thread count and device, on a throwaway
copy of the model and optimiser, and the faster is kept for the whole session; under DDP rank 0's
choice holds on every rank (:func:`agreed_mode`). The timed steps are the loop's own
(:func:`step_loss`, :func:`step_update`); the session record (the run folder's ``sessions``:
:func:`session_records`) says what was measured and chosen. Compiled and eager steps agree to float
rounding, not bit for bit. Under ``torchrun`` a session joins the process group (:func:`init_distributed`)
and every rank stops at the same step (:func:`any_rank`).
"""

from __future__ import annotations

import copy
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import Any

import torch
import torch.distributed as dist

from .config import RunConfig
from .provenance import git_commit

__all__ = [
    "AUTO_MIN_STEPS",
    "AUTO_PROBE_STEPS",
    "AUTO_PROBE_ROUNDS",
    "Batch",
    "keep_implementation",
    "make_optimizer",
    "step_loss",
    "step_update",
    "time_compile",
    "session_compile",
    "agreed_mode",
    "session_records",
    "distributed_env",
    "check_world",
    "init_distributed",
    "any_rank",
    "on_sigterm",
]

AUTO_PROBE_STEPS = 24  # "auto": eager and compiled steps timed each, in AUTO_PROBE_ROUNDS interleaved blocks
AUTO_PROBE_ROUNDS = 4
AUTO_MIN_STEPS = 5_000  # "auto" with fewer steps left in a session: eager (compiling would not pay)

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]  # xs, ys, labels, given


def keep_implementation(saved: RunConfig, config: RunConfig) -> RunConfig:
    """``config`` with the saved run's implementation switches: how it is trained, not what. The
    attention kernel (the same function), the AdamW implementation (``train.fused_adamw``: a run resumes
    with the one it started with, so its resume stays bit-identical) and the sessions' default
    ``train.compile``. A config saved before a switch existed loads with the old behaviour
    (:class:`~icl.config.TrainConfig`'s defaults), so a preset that changes a default orphans no run."""
    train = replace(config.train, fused_adamw=saved.train.fused_adamw, compile=saved.train.compile)
    return replace(config, model=replace(config.model, attention=saved.model.attention), train=train)


def make_optimizer(model: torch.nn.Module, config: RunConfig) -> torch.optim.AdamW:
    """The run's AdamW: ``fused=True`` (one kernel for all parameters) when ``train.fused_adamw``, else
    PyTorch's default implementation, exactly as runs were built before the switch existed."""
    fused = dict(fused=True) if config.train.fused_adamw else {}
    return torch.optim.AdamW(
        model.parameters(),
        lr=config.train.lr,
        weight_decay=config.train.weight_decay,
        betas=(0.9, 0.999),
        **fused,
    )


def step_loss(net: torch.nn.Module, batch: Batch, bf16: bool, device: str) -> torch.Tensor:
    """The forward pass and the loss: the mean squared error over all prompt positions (fp32 under bf16)."""
    xs, ys, labels, given = batch
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if bf16 else nullcontext():
        pred = net(xs, ys) if labels is None else net(xs, ys, labels, given)  # (B, n)
    return (pred.float() - ys).square().mean() if bf16 else (pred - ys).square().mean()


def step_update(
    loss: torch.Tensor, model: torch.nn.Module, opt: torch.optim.Optimizer, grad_clip: float
) -> None:
    """Backward (averaged over the ranks under DDP), gradient clipping, the AdamW step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()


def time_compile(
    model: torch.nn.Module,
    config: RunConfig,
    batch: Batch,
    bf16: bool,
    device: str,
    steps: int | None = None,
    rounds: int | None = None,
) -> dict[str, Any]:
    """Eager against compiled (``torch.compile``, default mode) training steps on ``batch``, after the
    compilation, in interleaved blocks (the machine's other load falls on both): ms per step of each,
    the seconds of compilation, and the faster (``chose``: ``"default"`` or ``"off"``). ``steps`` of each
    in ``rounds`` blocks (default :data:`AUTO_PROBE_STEPS`, :data:`AUTO_PROBE_ROUNDS`).

    The steps train a throwaway copy of ``model`` with an optimiser of its own: the run's weights,
    optimiser and data stream are untouched (tested: a run's result does not depend on the timing)."""
    steps, rounds = steps or AUTO_PROBE_STEPS, rounds or AUTO_PROBE_ROUNDS
    twin = copy.deepcopy(model)
    opt = make_optimizer(twin, config)
    compiled = torch.compile(twin, mode="default")

    def seconds(net: Callable, n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            step_update(step_loss(net, batch, bf16, device), twin, opt, config.train.grad_clip)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t

    compile_s = seconds(compiled, 1)  # compiles the forward and the backward
    seconds(compiled, 1), seconds(twin, 1)  # warm
    block = max(1, steps // rounds)
    eager = compiled_s = 0.0
    for _ in range(rounds):
        eager += seconds(twin, block)
        compiled_s += seconds(compiled, block)
    eager_ms, compiled_ms = (1e3 * t / (block * rounds) for t in (eager, compiled_s))
    return {
        "eager_ms": round(eager_ms, 3),
        "compiled_ms": round(compiled_ms, 3),
        "compile_s": round(compile_s, 1),
        "steps": block * rounds,
        "threads": torch.get_num_threads(),
        "shape": [list(t.shape) for t in batch[:2]],  # xs (B, n, d), ys (B, n)
        "chose": "default" if compiled_ms < eager_ms else "off",
    }


def session_compile(setting: str, left: int, probe: Callable[[], dict[str, Any]]) -> tuple[str, dict | None]:
    """This session's torch.compile mode and, for ``"auto"``, what decided it: ``probe()``'s timing
    (:func:`time_compile`), or eager without timing when fewer than :data:`AUTO_MIN_STEPS` steps are
    left to train in the session (compilation would not pay for itself)."""
    if setting != "auto":
        return setting, None
    if left < AUTO_MIN_STEPS:
        return "off", {
            "chose": "off",
            "why": f"{left:,} steps to train in this session, fewer than "
            f"{AUTO_MIN_STEPS:,}: compilation would not pay",
        }
    timing = probe()
    return timing["chose"], timing


def agreed_mode(mode: str, world: int, device: str) -> str:
    """Rank 0's choice of ``auto`` on every rank (each timed its own copy; they must train alike)."""
    if world <= 1:
        return mode
    flag = torch.tensor([float(mode != "off")], device=device)
    dist.broadcast(flag, 0)
    return "default" if flag.item() else "off"


def session_records(
    before: list[dict[str, Any]],
    start: int,
    device: str,
    world: int,
    bf16: bool,
    mode: str,
    timing: dict[str, Any] | None,
    retargeted_from: int | None,
) -> list[dict[str, Any]]:
    """The run's session records, ``before`` (those its folder holds), with this session's appended
    (provenance: every (re)start says its device, first step, commit, threads, precision, torch.compile
    mode and, for ``auto``, what decided it). A session from step 0 starts the records afresh."""
    sessions = list(before) if start > 0 else []
    dev_name = torch.cuda.get_device_name(device) if str(device).startswith("cuda") else "cpu"
    session = {
        "device": dev_name,
        "start_step": start,
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if world > 1:
        session["world_size"] = world
    if bf16:
        session["autocast"] = "bf16"
    if mode != "off":
        session["compile"] = mode
    if timing is not None:
        session["compile_auto"] = timing  # train.compile="auto": what was measured and chosen
    if retargeted_from is not None:
        session["steps_from"] = retargeted_from  # the run's step count changed here (before any decay)
    return sessions + [session]


def distributed_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as set by ``torchrun``; (0, 1, 0) in a plain process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world, int(os.environ.get("LOCAL_RANK", str(rank)))


def check_world(batch_size: int, world: int) -> None:
    """The global batch must split evenly over the ranks."""
    if world > 1 and batch_size % world:
        raise ValueError(
            f"batch_size={batch_size} is not divisible by the world size {world} (torchrun "
            f"--nproc_per_node); choose a batch size that is a multiple of {world}"
        )


def init_distributed(device: str) -> tuple[int, int, str, bool]:
    """Join torchrun's process group if the environment asks for one.

    Returns (rank, world, device, created): ``device`` is made rank-local on CUDA
    (``cuda`` -> ``cuda:LOCAL_RANK``); ``created`` says this call initialised the group
    (and the caller must destroy it).
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


def any_rank(flags: list[bool], device: str) -> list[bool]:
    """Element-wise OR of ``flags`` over all ranks (so every rank stops at the same step)."""
    t = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


@contextmanager
def on_sigterm(handler: Callable[[], None]) -> Iterator[None]:
    """``handler()`` on SIGTERM for the block, the old handler back after it (in the main thread only:
    elsewhere Python cannot set one, and SIGTERM keeps its handler)."""
    old_handler = None
    try:
        old_handler = signal.signal(signal.SIGTERM, lambda *_: handler())
    except ValueError:  # not in the main thread
        pass
    try:
        yield
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)

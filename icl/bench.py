"""Benchmarks: training-step throughput, its scaling, and the batched baselines.

This module owns ``python -m icl bench`` and its two outputs, ``benchmarks.md`` and
``benchmarks.json`` in ``--out`` (default ``reports/``), each written atomically. All
numbers of one report are measured in the same run on the same machine and given as
medians with their interquartile range (IQR) and as ratios, which carry over between
machines better than absolute times:

* **train step** (forward + MSE + backward + AdamW) of ``linear-w0.50`` at the ``cpu``
  and ``paper`` scales: our model in its preset layout and in the ``garg`` layout,
  against a peer, Hugging Face ``transformers`` ``GPT2Model`` wrapped as Garg et al.
  did (linear read-in of the interleaved tokens, ``inputs_embeds``, linear read-out at
  the x tokens) with the same width, depth, heads, prompt length and batch. Steps/s,
  tokens/s, ours/peer speed, and achieved matmul GFLOP/s (``6 * matmul params *
  tokens + 12 * layers * batch * tokens^2 * width`` per step) as a fraction of the
  fp32 matmul peak measured here (a large ``torch.matmul``). Thread counts and
  ``torch.compile`` are tried at the ``cpu`` scale, and so are the model's implementation
  switches (math attention, exact GELU) on a 21-point and a 41-point run. Without ``transformers`` (the
  ``bench`` extra) the peer rows are skipped and the report says so.
* **scaling**: our step time against prompt length and against d, with the fitted
  log-log growth exponent.
* **baselines**: the batched :class:`~icl.baselines.Lasso` against scikit-learn's
  ``Lasso`` refitted per prompt and per prefix (Garg et al.'s loop), same objective
  and alpha; the time of :class:`~icl.baselines.BayesSparse` at the paper's size; the
  1-D grid posteriors (:class:`~icl.baselines.BayesSine`, the line/sine mixture) and the
  combined-class fit on chapter 4's prompts, and the ReLU-network fit of chapter 3.
* **end to end**: the report (``make report``'s ``python -m icl report``) built chapter
  by chapter into a temporary folder, with each chapter's time and status
  (``reports/`` is not touched). ``--no-report`` skips it.

**Quiet machine first.** Before timing, :func:`machine_busy` reads the 1-minute load average and
samples every process's CPU time over half a second (``/proc``, Linux; elsewhere only the load
average is checked). The machine is busy when the load is above ``--max-load`` (default 0.5) or
another process (not the bench or its parent shell) uses more than 20% of a core: another
``icl`` training, pytest, a notebook kernel. Then the bench prints one line naming it and exits 2
with ``--out`` untouched, unless ``--allow-busy``: that times anyway, with a banner in the report
and ``busy: true`` on every row. ``--check-only`` stops after the check (exit 0 quiet, 2 busy).
Every timed row records ``load``, the 1-minute load average at the start and end of its own
measurement (the markdown's ``load`` column; the bench's own threads count too).

``--quick`` shrinks every size and repetition (and skips ``torch.compile``) so the
whole run takes seconds (its end-to-end row runs chapter 01 alone on 16 prompts);
the smoke test uses it. Timings are on the CPU.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from .baselines import BayesLineSine, BayesSine, BayesSparse, CombinedFit, Lasso, ReluNetGD
from .checkpoint import atomic_write_text, git_commit
from .config import EVAL, REPORTS, TaskConfig, get_run_config, stream_generator
from .model import ModelConfig, TransformerModel
from .tasks import ConvexCombination, Line1D, ReluNet, Sine1D, sample_xs
from .train import sample_batch

__all__ = ["BenchError", "Sizes", "FULL", "QUICK", "GPT2Peer", "machine_busy", "busy_processes", "read_procs", "read_load",
           "timed_rows", "run_bench", "main"]

LASSO_ALPHA = 0.01  # the notebooks' Lasso penalty (02_sparsity_sweep)
PEER_NAME = "transformers GPT2Model"


class BenchError(RuntimeError):
    """Bad input to the benchmark (e.g. an output path that is a file)."""


@dataclass(frozen=True)
class Sizes:
    """Every size and repetition count of one benchmark run."""

    quick: bool
    cpu_batch: int  # training-step batch at the cpu scale (the preset's is 64)
    paper_batch: int
    cpu_reps: int
    paper_reps: int
    warmup: int
    budget_s: float  # stop repeating a measurement after this long (at least 3 samples)
    peak_n: int  # matmul size for the fp32 peak
    peak_reps: int
    scale_points: tuple[int, ...]
    scale_dims: tuple[int, ...]
    scale_reps: int
    lasso_prompts: int
    lasso_points: int
    bayes_prompts: int
    baseline_reps: int
    compile: bool
    grid_prompts: int  # 1-D grid posteriors, combined fit, ReLU-network fit
    report_only: str | None  # end-to-end: chapters to build (None: all)
    report_params: tuple[tuple[str, Any], ...]  # end-to-end: parameters of every chapter


FULL = Sizes(quick=False, cpu_batch=64, paper_batch=64, cpu_reps=20, paper_reps=5, warmup=2, budget_s=60.0,
             peak_n=2048, peak_reps=7, scale_points=(11, 21, 41, 81, 161), scale_dims=(5, 10, 20, 40),
             scale_reps=7, lasso_prompts=1280, lasso_points=21, bayes_prompts=1280, baseline_reps=3, compile=True,
             grid_prompts=1280, report_only=None, report_params=())
QUICK = Sizes(quick=True, cpu_batch=8, paper_batch=2, cpu_reps=3, paper_reps=2, warmup=1, budget_s=1.0,
              peak_n=384, peak_reps=7, scale_points=(11, 21, 41), scale_dims=(5, 10, 20), scale_reps=3,
              lasso_prompts=64, lasso_points=21, bayes_prompts=64, baseline_reps=1, compile=False,
              grid_prompts=64, report_only="01", report_params=(("n_eval", 16),))


# --------------------------------------------------------------------------- timing


def summarize(samples: list[float]) -> dict[str, float]:
    """Median, quartiles, IQR and count of a list of samples."""
    a = np.asarray(samples, dtype=float)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1), "n": int(a.size)}


def measure(fn: Callable[[], Any], reps: int, warmup: int = 1, budget_s: float = math.inf) -> list[float]:
    """Wall times (s) of ``reps`` calls of ``fn`` after ``warmup`` untimed ones; stops early
    once ``budget_s`` has passed and at least 3 samples are in."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < reps:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if len(times) >= 3 and time.perf_counter() - start > budget_s:
            break
    return times


@contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, then restore."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def matmul_peak(n: int, reps: int, threads: int) -> dict[str, Any]:
    """Measured fp32 matmul throughput (GFLOP/s) of an ``n x n`` product. The machine's peak
    here is the best sample (other load only slows a sample down); the median and IQR are kept."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    with load_during() as load, num_threads(threads):
        times = measure(lambda: torch.matmul(a, b), reps, warmup=1)
    rates = [2 * n**3 / t / 1e9 for t in times]
    return {"threads": threads, "n": n, "peak_gflops": max(rates), "gflops": summarize(rates), "load": load}


# --------------------------------------------------------------------------- machine check


PROC = Path("/proc")
MAX_LOAD = 0.5  # a 1-minute load average above this before timing: something else has been running
CPU_SHARE = 0.2  # another process using more than this fraction of one core during the check
CHECK_S = 0.5  # the check's sampling window (seconds)


def read_load(root: Path = PROC) -> float | None:
    """The 1-minute load average: ``root/loadavg`` (Linux), else ``os.getloadavg`` where the OS has
    one, else None."""
    try:
        return round(float((root / "loadavg").read_text().split()[0]), 2)
    except (OSError, ValueError, IndexError):
        pass
    if root == PROC and hasattr(os, "getloadavg"):
        try:
            return round(os.getloadavg()[0], 2)
        except OSError:
            return None
    return None


def read_procs(root: Path = PROC) -> dict[int, tuple[int, int]]:
    """Every process in ``root`` (a ``/proc``-like folder): pid -> (parent pid, CPU time in clock
    ticks, user + system, all threads). Empty where there is no such folder (not Linux)."""
    out: dict[int, tuple[int, int]] = {}
    try:
        entries = list(root.iterdir())
    except OSError:
        return out
    for e in entries:
        if not e.name.isdigit():
            continue
        try:
            stat = (e / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
            out[int(e.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid; utime + stime
        except (OSError, ValueError, IndexError):  # the process ended meanwhile, or an unreadable entry
            continue
    return out


def process_command(pid: int, root: Path = PROC, width: int = 70) -> str:
    """A process's command line, shortened (``python -m icl train ...``), or ``[name]`` for a
    kernel thread."""
    try:
        argv = [a for a in (root / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        argv = []
    if argv:
        cmd = " ".join([os.path.basename(argv[0])] + argv[1:])
    else:
        try:
            stat = (root / str(pid) / "stat").read_text()
            cmd = f"[{stat[stat.index('(') + 1:stat.rindex(')')]}]"
        except (OSError, ValueError):
            cmd = "?"
    return cmd if len(cmd) <= width else cmd[: width - 3] + "..."


def busy_processes(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], seconds: float,
                   exclude: set[int], share: float = CPU_SHARE,
                   hz: int | None = None) -> list[tuple[int, float]]:
    """(pid, fraction of one core) of every process outside ``exclude`` that used more than ``share``
    of a core between two :func:`read_procs` readings ``seconds`` apart, busiest first."""
    hz = hz or (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
    busy = []
    for pid, (_, ticks) in after.items():
        if pid in exclude or pid not in before or ticks < before[pid][1]:  # excluded, new, or a reused pid
            continue
        used = (ticks - before[pid][1]) / hz / max(seconds, 1e-9)
        if used > share:
            busy.append((pid, used))
    return sorted(busy, key=lambda pu: -pu[1])


def _self_and_ancestors(pid: int, procs: dict[int, tuple[int, int]]) -> set[int]:
    """``pid`` and its parent, grandparent, ... (the shell or ``make`` that started the bench)."""
    out = {pid}
    while pid in procs and procs[pid][0] not in out and procs[pid][0] > 0:
        pid = procs[pid][0]
        out.add(pid)
    return out


def machine_busy(max_load: float = MAX_LOAD, share: float = CPU_SHARE, seconds: float = CHECK_S,
                 root: Path = PROC, self_pid: int | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> str | None:
    """Why the machine cannot be measured now, in one line, or None if it looks quiet.

    Busy means a 1-minute load average above ``max_load`` (something ran in the last minute),
    or any process other than this one and its ancestors using more than ``share`` of a core
    during a ``seconds`` window (its pid, share and command are named: another ``icl`` training,
    pytest, a notebook kernel). ``root`` is the ``/proc`` to read (tests pass a fake one); where
    there is none only the load average is checked, and without one of those either nothing is.
    """
    self_pid = os.getpid() if self_pid is None else self_pid
    reasons = []
    load = read_load(root)
    if load is not None and load > max_load:
        reasons.append(f"1-minute load average {load:g} > {max_load:g}")
    t0, before = clock(), read_procs(root)
    if before:
        sleep(seconds)
        t1, after = clock(), read_procs(root)
        busy = busy_processes(before, after, t1 - t0, _self_and_ancestors(self_pid, after), share)
        reasons += [f"pid {pid} at {used:.0%} of a core: {process_command(pid, root)}" for pid, used in busy[:3]]
        if len(busy) > 3:
            reasons.append(f"{len(busy) - 3} more process(es) above {share:.0%} of a core")
    return "; ".join(reasons) or None


@contextmanager
def load_during() -> Iterator[dict[str, float | None]]:
    """``{"start", "end"}``: the 1-minute load average as the block starts and as it ends (it counts
    the bench's own threads too)."""
    load: dict[str, float | None] = {"start": _load(), "end": None}
    try:
        yield load
    finally:
        load["end"] = _load()


# --------------------------------------------------------------------------- models


def garg_tokens(xs: Tensor, ys: Tensor) -> Tensor:
    """Garg et al.'s interleaved prompt ``x_1, [y_1, 0, ..., 0], x_2, ...``: (B, 2n, d)."""
    B, n, d = xs.shape
    ys_wide = torch.cat([ys[..., None], xs.new_zeros(B, n, d - 1)], dim=2)
    return torch.stack([xs, ys_wide], dim=2).reshape(B, 2 * n, d)


class GPT2Peer(nn.Module):
    """The peer: Garg et al.'s in-context model on Hugging Face's ``GPT2Model``.

    Linear read-in of the interleaved d-wide tokens, ``GPT2Model(inputs_embeds=...)``
    (learned positions, pre-LayerNorm blocks with tanh-GELU MLPs, final LayerNorm, no
    dropout, SDPA attention), linear read-out, predictions at the x tokens. Width,
    depth, heads and prompt length come from ``cfg``; the unused token table has one
    row (it gets no gradient either way).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        from transformers import GPT2Config, GPT2Model

        conf = GPT2Config(n_positions=2 * cfg.n_points, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
                          n_head=cfg.n_head, vocab_size=1, bos_token_id=0, eos_token_id=0, resid_pdrop=0.0,
                          embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False)
        conf._attn_implementation = "sdpa"
        self.read_in = nn.Linear(cfg.n_dims, cfg.n_embd)
        self.backbone = GPT2Model(conf)
        self.read_out = nn.Linear(cfg.n_embd, 1)

    def forward(self, xs: Tensor, ys: Tensor) -> Tensor:
        h = self.backbone(inputs_embeds=self.read_in(garg_tokens(xs, ys))).last_hidden_state
        return self.read_out(h)[:, ::2, 0]


def matmul_params(model: nn.Module) -> int:
    """Weights that enter matrix products: ``nn.Linear`` and GPT-2's ``Conv1D``."""
    return sum(m.weight.numel() for m in model.modules()
               if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D")


def step_flops(model: nn.Module, cfg: ModelConfig, batch: int, tokens: int) -> float:
    """Matmul FLOPs of one training step: 6 N T for the weights (forward 2, backward 4)
    plus 12 L B T^2 C for attention scores and their values (causal mask not discounted)."""
    return 6.0 * matmul_params(model) * batch * tokens + 12.0 * cfg.n_layer * batch * tokens**2 * cfg.n_embd


def make_step(forward: Callable[[Tensor, Tensor], Tensor], params: list[nn.Parameter], xs: Tensor, ys: Tensor,
              lr: float) -> Callable[[], None]:
    """One training step (forward, MSE over all positions, backward, AdamW) as a closure."""
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = (forward(xs, ys) - ys).square().mean()
        loss.backward()
        opt.step()

    return step


# --------------------------------------------------------------------------- train step


def _peer_available() -> str | None:
    """None if ``transformers`` imports, else why not."""
    try:
        import transformers  # noqa: F401
    except Exception as e:  # ImportError, or a broken install
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return None


def _train_row(scale: str, impl: str, mcfg: ModelConfig, batch: int, reps: int, sizes: Sizes, threads: int,
               peak: dict[int, float], compiled: bool = False, run: str = "linear-w0.50",
               variant: str = "preset") -> dict[str, Any]:
    """Time one training-step configuration and derive its throughput figures."""
    cfg = get_run_config(run, scale)
    cfg = replace(cfg, model=mcfg).with_overrides(batch_size=batch)
    xs, ys = sample_batch(cfg, 10**7)  # the end of the curriculum: full d and prompt length
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model: nn.Module = GPT2Peer(mcfg) if impl == "peer" else TransformerModel(mcfg)
    model.train()
    forward: Callable[[Tensor, Tensor], Tensor] = model
    compile_s = None
    with load_during() as load, num_threads(threads):
        if compiled:
            forward = torch.compile(model)
            t = time.perf_counter()
            make_step(forward, list(model.parameters()), xs, ys, cfg.train.lr)()  # compiles forward and backward
            compile_s = time.perf_counter() - t
        step = make_step(forward, list(model.parameters()), xs, ys, cfg.train.lr)
        times = measure(step, reps, sizes.warmup, sizes.budget_s)
    s = summarize(times)
    tokens = 2 * mcfg.n_points if (impl == "peer" or mcfg.layout == "garg") else mcfg.n_points
    flops = step_flops(model, mcfg, batch, tokens)
    gflops = flops / s["median"] / 1e9
    return {
        "scale": scale, "run": run, "variant": variant, "impl": PEER_NAME if impl == "peer" else "ours",
        "layout": mcfg.layout if impl != "peer" else "garg", "threads": threads, "compiled": compiled,
        "batch": batch, "n_points": mcfg.n_points,
        "n_dims": mcfg.n_dims, "width": mcfg.n_embd, "layers": mcfg.n_layer, "heads": mcfg.n_head,
        "tokens_per_prompt": tokens, "params": sum(p.numel() for p in model.parameters()),
        "matmul_params": matmul_params(model), "flops_per_step": flops, "step_s": s,
        "steps_per_s": 1 / s["median"], "tokens_per_s": batch * tokens / s["median"],
        "examples_per_s": batch * mcfg.n_points / s["median"], "gflops": gflops,
        "fraction_of_peak": gflops / peak[threads] if threads in peak else None,
        "compile_s": compile_s, "load": load,
    }


def bench_train(sizes: Sizes, peer: bool, compile_: bool, peak: dict[int, float], threads: int,
                thread_counts: list[int], notes: list[str]) -> dict[str, Any]:
    """Training-step rows at both scales, the thread and compile variants, and findings."""
    peer_missing = _peer_available() if peer else "disabled with --no-peer"
    if peer_missing:
        notes.append(f"peer rows ({PEER_NAME}) skipped: {peer_missing}. Install the extra: "
                     "pip install -e '.[bench]'")
    rows: list[dict[str, Any]] = []
    for scale in ("cpu", "paper"):
        mcfg = get_run_config("linear-w0.50", scale).model
        batch, reps = (sizes.cpu_batch, sizes.cpu_reps) if scale == "cpu" else (sizes.paper_batch, sizes.paper_reps)
        rows.append(_train_row(scale, "ours", mcfg, batch, reps, sizes, threads, peak))
        if mcfg.layout != "garg":
            rows.append(_train_row(scale, "ours", replace(mcfg, layout="garg"), batch, reps, sizes, threads, peak))
        if not peer_missing:
            rows.append(_train_row(scale, "peer", replace(mcfg, layout="garg"), batch, reps, sizes, threads, peak))
        if scale == "cpu":
            for t in thread_counts:
                if t != threads:
                    rows.append(_train_row(scale, "ours", mcfg, batch, reps, sizes, t, peak))
            if compile_ and sizes.compile:
                try:
                    rows.append(_train_row(scale, "ours", mcfg, batch, reps, sizes, threads, peak, compiled=True))
                except Exception as e:  # a missing compiler, an unsupported op: report, do not fail the bench
                    notes.append(f"torch.compile failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            elif not compile_:
                notes.append("torch.compile rows skipped (--no-compile)")
            else:
                notes.append("torch.compile rows skipped in --quick (compilation alone takes tens of seconds)")
            rows += _variant_rows(sizes, threads, peak)
    # ours / peer speed, same scale, threads and compile setting
    for r in rows:
        r["speed_vs_peer"] = None
        if r["impl"] == "ours":
            p = [q for q in rows if q["impl"] == PEER_NAME and q["scale"] == r["scale"] and q["threads"] == r["threads"]
                 and q["run"] == r["run"]
                 and not q["compiled"]]
            if p:
                r["speed_vs_peer"] = r["steps_per_s"] / p[0]["steps_per_s"]
    return {"rows": rows, "peer": "skipped: " + peer_missing if peer_missing else "measured",
            "findings": _train_findings(rows, threads)}


VARIANTS = {  # the model's implementation switches (icl/model.py), each setting timed at the cpu scale
    "sdpa + tanh GELU": dict(attention="sdpa", activation="gelu_tanh"),  # GPT-2's, the reference setting
    "math attention + tanh GELU": dict(attention="math", activation="gelu_tanh"),
    "sdpa + exact GELU": dict(attention="sdpa", activation="gelu"),
    "math attention + exact GELU": dict(attention="math", activation="gelu"),
}
VARIANT_REF = "sdpa + tanh GELU"
VARIANT_RUNS = ("linear-w0.50", "linear-only")  # 21 and 41 points: chapters 1-2 and 3-5


def _variant_rows(sizes: Sizes, threads: int, peak: dict[int, float]) -> list[dict[str, Any]]:
    """Every attention/activation setting, for a 21-point and a 41-point run."""
    rows = []
    for run in VARIANT_RUNS:
        mcfg = get_run_config(run).model
        for name, change in VARIANTS.items():
            rows.append(_train_row("cpu", "ours", replace(mcfg, **change), sizes.cpu_batch, sizes.cpu_reps, sizes,
                                   threads, peak, run=run, variant=name))
    return rows


def _find(rows: list[dict[str, Any]], **kw: Any) -> dict[str, Any] | None:
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def _train_findings(rows: list[dict[str, Any]], threads: int) -> list[str]:
    """Plain-language comparisons computed from the rows (ratios of median step rates)."""
    out = []
    base = dict(compiled=False, threads=threads, run="linear-w0.50", variant="preset")
    for scale in ("cpu", "paper"):
        mine = _find(rows, scale=scale, impl="ours", layout="garg", **base)
        peer = _find(rows, scale=scale, impl=PEER_NAME, **base)
        if mine and peer:
            out.append(f"{scale} scale, same garg layout: ours runs {mine['steps_per_s'] / peer['steps_per_s']:.2f}x "
                       f"the peer's steps/s ({mine['fraction_of_peak']:.0%} vs {peer['fraction_of_peak']:.0%} of "
                       "the matmul peak)")
        preset = get_run_config("linear-w0.50", scale).model.layout
        if preset != "garg":
            p, g = _find(rows, scale=scale, impl="ours", layout=preset, **base), mine
            if p and g:
                out.append(f"{scale} scale: the preset '{preset}' layout ({p['tokens_per_prompt']} tokens) runs "
                           f"{p['steps_per_s'] / g['steps_per_s']:.2f}x the steps/s of the garg layout "
                           f"({g['tokens_per_prompt']} tokens)")
            if p and peer:
                out.append(f"{scale} scale, each in its own layout: ours runs "
                           f"{p['steps_per_s'] / peer['steps_per_s']:.2f}x the peer's steps/s")
    by_threads = sorted((r for r in rows if r["scale"] == "cpu" and r["impl"] == "ours" and not r["compiled"]
                         and r["layout"] == get_run_config("linear-w0.50").model.layout
                         and r["run"] == "linear-w0.50" and r["variant"] == "preset"),
                        key=lambda r: r["threads"])
    if len(by_threads) > 1:
        one = by_threads[0]
        for r in by_threads[1:]:
            gain = r["steps_per_s"] / one["steps_per_s"]
            out.append(f"cpu scale: {r['threads']} threads run {gain:.2f}x the steps/s of {one['threads']} "
                       f"thread{'s' if one['threads'] > 1 else ''} ({'helps' if gain > 1.1 else 'does not help'})")
    comp = _find(rows, scale="cpu", impl="ours", compiled=True)
    eager = comp and _find(rows, scale="cpu", impl="ours", layout=comp["layout"], compiled=False,
                           threads=comp["threads"], run=comp["run"], variant="preset")
    if comp and eager:
        gain = comp["steps_per_s"] / eager["steps_per_s"]
        saved = eager["step_s"]["median"] - comp["step_s"]["median"]
        verdict = (f"helps; compilation pays for itself after {comp['compile_s'] / saved:,.0f} steps" if gain > 1.1
                   else "does not help")
        out.append(f"cpu scale: torch.compile runs {gain:.2f}x the eager steps/s after {comp['compile_s']:.0f} s "
                   f"of compilation ({verdict})")
    for run in VARIANT_RUNS:
        ref = _find(rows, scale="cpu", impl="ours", compiled=False, threads=threads, run=run, variant=VARIANT_REF)
        m = get_run_config(run).model
        for name in VARIANTS:
            r = _find(rows, scale="cpu", impl="ours", compiled=False, threads=threads, run=run, variant=name)
            if ref and r and name != VARIANT_REF:
                gain = r["steps_per_s"] / ref["steps_per_s"]
                is_preset = all(getattr(m, k) == v for k, v in VARIANTS[name].items())
                out.append(f"cpu scale, {run} ({r['tokens_per_prompt']} tokens): {name} runs {gain:.2f}x the "
                           f"steps/s of {VARIANT_REF} ({'helps' if gain > 1.1 else 'does not help'})"
                           + (" - the preset" if is_preset else ""))
    return out


# --------------------------------------------------------------------------- scaling


def _scaling_series(sizes: Sizes, threads: int, vary: str, values: tuple[int, ...]) -> dict[str, Any]:
    """Our step time (cpu preset model) as prompt length or d grows; log-log slope."""
    base = get_run_config("linear-w0.50").model
    points = []
    for v in values:
        mcfg = replace(base, n_points=v) if vary == "n_points" else replace(base, n_dims=v)
        g = torch.Generator().manual_seed(v)
        xs = torch.randn(sizes.cpu_batch, mcfg.n_points, mcfg.n_dims, generator=g)
        ys = torch.randn(sizes.cpu_batch, mcfg.n_points, generator=g)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = TransformerModel(mcfg)
        with load_during() as load, num_threads(threads):
            step = make_step(model, list(model.parameters()), xs, ys, 1e-3)
            s = summarize(measure(step, sizes.scale_reps, sizes.warmup, sizes.budget_s))
        points.append({vary: v, "step_s": s, "steps_per_s": 1 / s["median"], "load": load})
    x = np.log([p[vary] for p in points])
    y = np.log([p["step_s"]["median"] for p in points])
    slope = float(np.polyfit(x, y, 1)[0]) if len(points) > 1 else float("nan")
    return {"vary": vary, "fixed": {"n_dims": base.n_dims} if vary == "n_points" else {"n_points": base.n_points},
            "layout": base.layout, "batch": sizes.cpu_batch, "points": points, "exponent": slope}


def bench_scaling(sizes: Sizes, threads: int) -> dict[str, Any]:
    return {"prompt_length": _scaling_series(sizes, threads, "n_points", sizes.scale_points),
            "dims": _scaling_series(sizes, threads, "n_dims", sizes.scale_dims)}


# --------------------------------------------------------------------------- baselines


# scikit-learn settings: Garg et al.'s LassoModel (max_iter 100,000, default tol), and a
# tight tolerance under which coordinate descent reaches the exact solution ours computes
SKLEARN_SETTINGS = {"garg": {"tol": 1e-4, "max_iter": 100_000}, "tight": {"tol": 1e-12, "max_iter": 1_000_000}}


def _sklearn_lasso_loop(xs: np.ndarray, ys: np.ndarray, alpha: float, tol: float,
                        max_iter: int) -> tuple[np.ndarray, list[float], int]:
    """The peer approach (Garg et al.'s ``LassoModel``): refit scikit-learn's Lasso for every
    prompt and every prefix. Returns predictions, seconds per prompt, and unconverged fits."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso as SkLasso

    B, n, _ = xs.shape
    preds = np.zeros((B, n))
    per_prompt, unconverged = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for b in range(B):
            t = time.perf_counter()
            for i in range(1, n):  # prefix 0 sees nothing: prediction 0, as in ours
                m = SkLasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=max_iter)
                m.fit(xs[b, :i], ys[b, :i])
                preds[b, i] = m.predict(xs[b, i : i + 1])[0]
                unconverged += int(m.n_iter_ >= max_iter)
            per_prompt.append(time.perf_counter() - t)
    return preds, per_prompt, unconverged


def bench_baselines(sizes: Sizes, threads: int, notes: list[str]) -> dict[str, Any]:
    """Batched Lasso vs the per-prompt scikit-learn loop; BayesSparse at the paper's size."""
    out: dict[str, Any] = {}
    d, n, P = 10, sizes.lasso_points, sizes.lasso_prompts
    fc = TaskConfig(classes=("sparse",), weights=(1.0,), n_dims=d, nnz=2).build()
    g = stream_generator(0, 0, EVAL)
    xs = sample_xs(P, n, d, g)
    ys = fc.sample(P, g).evaluate(xs)
    lasso = Lasso(LASSO_ALPHA)
    lasso_load = {"start": _load(), "end": None}  # over the whole row: ours and scikit-learn's loops
    with num_threads(threads):
        ours_t = measure(lambda: lasso(xs.double(), ys.double()), sizes.baseline_reps, warmup=1)
        ours = lasso(xs.double(), ys.double()).numpy()
    lasso_row: dict[str, Any] = {
        "n_dims": d, "nnz": 2, "n_points": n, "prompts": P, "fits": P * (n - 1), "alpha": LASSO_ALPHA,
        "objective": "1/(2k) |y - Xw|^2 + alpha |w|_1 on the k points of a prefix, no intercept (both)",
        "ours_s": summarize(ours_t), "ours_unfinished": lasso.n_unfinished_,
    }
    try:
        import sklearn
    except ImportError as e:
        notes.append(f"scikit-learn rows skipped: {e}")
        lasso_row["sklearn"] = None
    else:
        lasso_row["sklearn"] = {}
        for name, setting in SKLEARN_SETTINGS.items():
            with num_threads(threads):
                t = time.perf_counter()
                preds, per_prompt, unconverged = _sklearn_lasso_loop(xs.double().numpy(), ys.double().numpy(),
                                                                     LASSO_ALPHA, **setting)
                total = time.perf_counter() - t
            diff = np.abs(preds - ours)
            lasso_row["sklearn"][name] = {
                "version": sklearn.__version__, **setting, "total_s": total, "per_prompt_s": summarize(per_prompt),
                "unconverged_fits": unconverged, "speedup_ours": total / lasso_row["ours_s"]["median"],
                "max_abs_pred_diff": float(diff.max()),
                "max_abs_pred_diff_from_k": {str(k): float(diff[:, k:].max()) for k in (1, d, 2 * d) if k < n},
            }
    lasso_load["end"] = _load()
    lasso_row["load"] = lasso_load
    out["lasso"] = lasso_row
    d, nnz, n, P = 20, 2, 41, sizes.bayes_prompts
    fc = TaskConfig(classes=("sparse",), weights=(1.0,), n_dims=d, nnz=nnz).build()
    xs = sample_xs(P, n, d, g)
    ys = fc.sample(P, g).evaluate(xs)
    bayes = BayesSparse(d, nnz)
    with load_during() as load, num_threads(threads):
        times = measure(lambda: bayes(xs, ys), sizes.baseline_reps, warmup=0 if sizes.quick else 1)
    s = summarize(times)
    out["bayes_sparse"] = {"n_dims": d, "nnz": nnz, "supports": math.comb(d, nnz), "n_points": n, "prompts": P,
                           "time_s": s, "prompts_per_s": P / s["median"], "load": load}
    out["grid_1d"] = bench_grid_1d(sizes, threads)
    return out


def bench_grid_1d(sizes: Sizes, threads: int) -> list[dict[str, Any]]:
    """The non-linear chapters' reference predictors at the notebooks' sizes: every prefix
    of 41-point 1-D prompts (chapter 4's a = 0.5 combinations), and chapter 3's ReLU-network
    fit at its seven prefix lengths on d = 10 ReLU-network prompts."""
    P, n = sizes.grid_prompts, 41
    g = stream_generator(1, 0, EVAL)
    xs = sample_xs(P, n, 1, g)
    ys = ConvexCombination(Line1D(), Sine1D((1.0, 3.0)), 0.5).sample(P, g).evaluate(xs)
    xr = sample_xs(P, n, 10, g)
    yr = ReluNet(10, normalize=True).sample(P, g).evaluate(xr)
    cases = [
        ("BayesSine (128 omega x 256 phase grid)", "every prefix", BayesSine(), xs, ys),
        ("BayesLineSine w = 0.5 (line posterior + the sine grid)", "every prefix", BayesLineSine(0.5), xs, ys),
        ("CombinedFit (128-point omega grid + 4 refinements)", "every prefix", CombinedFit(), xs, ys),
        ("ReluNetGD (h = 100, 100 Adam steps per fit), d = 10", "k in 1, 2, 5, 10, 20, 30, 40",
         ReluNetGD(ks=[1, 2, 5, 10, 20, 30, 40]), xr, yr),
    ]
    rows = []
    for name, prefixes, f, x, y in cases:
        with load_during() as load, num_threads(threads):
            t = summarize(measure(lambda: f(x, y), sizes.baseline_reps, warmup=0))
        rows.append({"predictor": name, "prefixes": prefixes, "prompts": P, "n_points": n, "time_s": t,
                     "prompts_per_s": P / t["median"], "load": load})
    return rows


def bench_report(sizes: Sizes, notes: list[str]) -> dict[str, Any] | None:
    """Build the report (every chapter, or ``sizes.report_only``) into a temporary folder
    with the committed checkpoints, as ``make report`` does; each chapter's time."""
    from .report import build_report

    tmp = Path(tempfile.mkdtemp(prefix="icl-bench-report-"))
    try:
        params_file = None
        if sizes.report_params:
            params_file = tmp / "params.yaml"
            params_file.write_text("all:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in sizes.report_params))
        t = time.perf_counter()
        with load_during() as load:
            status = build_report(tmp / "report", params_file=params_file, only=sizes.report_only)
        wall = time.perf_counter() - t
        info = json.loads((tmp / "report" / "report.json").read_text())
    except Exception as e:  # a broken notebook folder, a missing kernel: report, do not lose the other rows
        notes.append(f"end to end: the report could not be built: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    chapters = [{"chapter": c["name"], "status": c["status"], "seconds": c["seconds"]} for c in info["chapters"]]
    if status:
        notes.append("end to end: a chapter failed (see its row)")
    return {"only": sizes.report_only, "params": dict(sizes.report_params), "wall_s": wall, "chapters": chapters,
            "exit_status": status, "load": load}


# --------------------------------------------------------------------------- report


def _ms(s: dict[str, float]) -> str:
    """Median in ms with the IQR (or the sample count when too few for one)."""
    return f"{1e3 * s['median']:.1f} ({1e3 * s['iqr']:.1f})" if s["n"] >= 3 else f"{1e3 * s['median']:.1f} (n={s['n']})"


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def _load_cell(r: dict[str, Any]) -> str:
    """A row's 1-minute load average at the start / end of its own measurement, and ``busy``
    when the bench ran on a busy machine (``--allow-busy``)."""
    load = r.get("load") or {}
    cell = " / ".join("?" if load.get(k) is None else f"{load[k]:.2f}" for k in ("start", "end"))
    return cell + (" busy" if r.get("busy") else "")


def timed_rows(res: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every timed row of a result: peaks, training steps, scaling points, baselines, the report."""
    yield from res["peak"]
    yield from res["train_step"]["rows"]
    for key in ("prompt_length", "dims"):
        yield from res["scaling"][key]["points"]
    b = res["baselines"]
    yield from (b["lasso"], b["bayes_sparse"], *(b.get("grid_1d") or []))
    if res.get("report"):
        yield res["report"]


def render_markdown(res: dict[str, Any]) -> str:
    """The human-readable report of one benchmark run."""
    m = res["meta"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python -m icl bench{' --quick' if m['quick'] else ''}` on {m['date']} (commit "
        f"`{m['git_commit'][:12]}`), {m['wall_s']:.0f} s. Machine: {m['platform']}, {m['cpu_count']} CPUs, "
        f"torch {m['torch']} ({m['threads']} threads by default), transformers {m['transformers'] or 'absent'}, "
        f"scikit-learn {m['sklearn'] or 'absent'}. 1-minute load average at start / end: {m['load_start']} / "
        f"{m['load_end']} (other work on the machine slows the absolute numbers; ratios less). Each row's "
        "'load' is the 1-minute load average at the start / end of its own measurement (the bench's own threads "
        "count too).",
        "",
        *(["**Measured on a busy machine (`--allow-busy`): " + m["busy"] + ". Every row is marked `busy`; "
           "its absolute numbers are slowed by the other work.**", ""] if m.get("busy") else []),
        "Times are medians with the interquartile range in parentheses, all measured in this run; "
        "compare ratios rather than absolute times across machines."
        + (" **--quick: tiny sizes, few repetitions; not for conclusions.**" if m["quick"] else ""),
        "",
        "## fp32 matmul peak (measured here)",
        "",
        "| threads | n x n | peak (best) GFLOP/s | median (IQR) GFLOP/s | load |",
        "| ---: | ---: | ---: | ---: | --- |",
    ]
    for p in res["peak"]:
        lines.append(f"| {p['threads']} | {p['n']} | {p['peak_gflops']:.1f} | {p['gflops']['median']:.1f} "
                     f"({p['gflops']['iqr']:.1f}) | {_load_cell(p)} |")
    tr = res["train_step"]
    lines += [
        "",
        "## Training step (forward + MSE + backward + AdamW), `linear-w0.50`",
        "",
        f"Peer: {PEER_NAME} with Garg et al.'s read-in/read-out, {tr['peer']}. Tokens per prompt: 2n in the garg "
        "layout, n in ours. GFLOP/s counts matmul FLOPs (6 x matmul params x tokens + attention); 'of peak' "
        "divides by the peak above at the same thread count (above 100% means the peak sample was disturbed).",
        "",
        "| scale | run | variant | impl | layout | threads | compile | batch x tokens | ms/step | steps/s | "
        "tokens/s | ours/peer | GFLOP/s | of peak | load |",
        "| --- | --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in tr["rows"]:
        lines.append(
            f"| {r['scale']} | {r['run']} | {r['variant']} | {r['impl']} | {r['layout']} | {r['threads']} | "
            f"{'on' if r['compiled'] else 'off'} | "
            f"{r['batch']} x {r['tokens_per_prompt']} | {_ms(r['step_s'])} | {r['steps_per_s']:.2f} | "
            f"{r['tokens_per_s']:,.0f} | {_fmt(r['speed_vs_peer'])} | {r['gflops']:.1f} | "
            f"{_fmt(r['fraction_of_peak'], '.0%')} | {_load_cell(r)} |")
    if tr["findings"]:
        lines += ["", "What helps:", ""] + [f"- {f}" for f in tr["findings"]]
    sc = res["scaling"]
    lines += ["", "## Scaling of our step time (cpu preset model)", ""]
    for key, label in (("prompt_length", "prompt length n"), ("dims", "d")):
        s = sc[key]
        lines += [f"{label} (fixed {', '.join(f'{k}={v}' for k, v in s['fixed'].items())}, batch {s['batch']}, "
                  f"{s['layout']} layout): fitted growth exponent **{s['exponent']:.2f}** (step time ~ "
                  f"{label.split()[-1]}^{s['exponent']:.2f})", "",
                  f"| {label.split()[-1]} | ms/step | steps/s | load |", "| ---: | ---: | ---: | --- |"]
        lines += [f"| {p[s['vary']]} | {_ms(p['step_s'])} | {p['steps_per_s']:.2f} | {_load_cell(p)} |"
                  for p in s["points"]]
        lines.append("")
    b = res["baselines"]
    la = b["lasso"]
    lines += [
        "## Baselines",
        "",
        f"Lasso, alpha = {la['alpha']:g}, objective {la['objective']}; d = {la['n_dims']}, nnz = {la['nnz']}, "
        f"{la['prompts']:,} prompts x {la['n_points']} points ({la['fits']:,} prefix fits); load "
        f"{_load_cell(la)}.",
        "",
        "| implementation | total time | per prompt | |",
        "| --- | ---: | ---: | --- |",
        f"| ours (batched homotopy, all prompts and prefixes at once) | {_ms(la['ours_s'])} ms | "
        f"{1e3 * la['ours_s']['median'] / la['prompts']:.3f} ms | {la['ours_unfinished']} unfinished paths |",
    ]
    sks = la["sklearn"]
    if sks:
        for name, sk in sks.items():
            lines.append(
                f"| scikit-learn {sk['version']} Lasso per prompt and prefix, tol {sk['tol']:g}"
                f"{' (Garg et al.)' if name == 'garg' else ''} | {1e3 * sk['total_s']:.0f} ms | "
                f"{_ms(sk['per_prompt_s'])} ms | {sk['unconverged_fits']} unconverged fits |")
        lines += ["", "| scikit-learn setting | ours is faster by | largest prediction difference: all prefixes | "
                      + " | ".join(f"k >= {k}" for k in list(sks.values())[0]["max_abs_pred_diff_from_k"]
                                   if k != "1") + " |",
                  "| --- | ---: | ---: |" + " ---: |" * (len(list(sks.values())[0]["max_abs_pred_diff_from_k"]) - 1)]
        for name, sk in sks.items():
            lines.append(f"| tol {sk['tol']:g} | {sk['speedup_ours']:.0f}x | {sk['max_abs_pred_diff']:.1e} | "
                         + " | ".join(f"{v:.1e}" for k, v in sk["max_abs_pred_diff_from_k"].items() if k != "1")
                         + " |")
        lines += ["", "Ours follows the Lasso path exactly; at scikit-learn's default tolerance coordinate descent "
                      "stops early on short prefixes (fewer points than dimensions), hence the larger differences "
                      "there; at a tight tolerance the two agree."]
    else:
        lines += ["", "scikit-learn is not installed: no peer row."]
    bs = b["bayes_sparse"]
    lines += [
        "",
        f"BayesSparse (exact posterior over all {bs['supports']} supports), d = {bs['n_dims']}, nnz = {bs['nnz']}, "
        f"{bs['prompts']:,} prompts x {bs['n_points']} points: {_ms(bs['time_s'])} ms "
        f"({bs['prompts_per_s']:,.0f} prompts/s); load {_load_cell(bs)}.",
    ]
    grid = b.get("grid_1d") or []
    if grid:
        lines += ["", f"Non-linear chapters' reference predictors, {grid[0]['prompts']:,} prompts x "
                      f"{grid[0]['n_points']} points:", "",
                  "| predictor | prefixes | time (ms) | prompts/s | load |", "| --- | --- | ---: | ---: | --- |"]
        lines += [f"| {r['predictor']} | {r['prefixes']} | {_ms(r['time_s'])} | {r['prompts_per_s']:,.0f} | "
                  f"{_load_cell(r)} |" for r in grid]
    rep = res.get("report")
    if rep:
        what = "every chapter" if rep["only"] is None else f"chapter(s) {rep['only']}"
        params = ", ".join(f"{k}={v}" for k, v in rep["params"].items()) or "the notebooks' defaults"
        lines += ["", "## End to end: the report", "",
                  f"`python -m icl report` ({what}, {params}) into a temporary folder with the committed "
                  f"checkpoints: {rep['wall_s']:.0f} s in all (papermill kernel start-up and HTML export "
                  f"included); load {_load_cell(rep)}.", "", "| chapter | status | seconds |", "| --- | --- | ---: |"]
        lines += [f"| {c['chapter']} | {c['status']} | {c['seconds']:.1f} |" for c in rep["chapters"]]
    if res["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in res["notes"]]
    return "\n".join(lines) + "\n"


def _load() -> float | None:
    """The 1-minute load average (other work on the machine), where the OS reports one."""
    return read_load()


def _version(mod: str) -> str | None:
    try:
        return __import__(mod).__version__
    except Exception:
        return None


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} is a file, not a folder")


def run_bench(out: Path, sizes: Sizes = FULL, peer: bool = True, compile_: bool = True, report: bool = True,
              log: Callable[[str], None] = lambda s: None, busy: str | None = None) -> dict[str, Any]:
    """Run every benchmark and write ``out/benchmarks.{md,json}``; returns the results. ``busy`` is
    :func:`machine_busy`'s reason when the caller measures on a busy machine anyway: the report
    says so in a banner and every timed row gets ``busy: true``."""
    out = Path(out)
    _check_out(out)
    t0 = time.time()
    threads = torch.get_num_threads()
    thread_counts = sorted({1, 2, os.cpu_count() or 1})
    notes: list[str] = []
    load_start = _load()
    log("matmul peak")
    peaks = [matmul_peak(sizes.peak_n, sizes.peak_reps, t) for t in thread_counts]
    peak = {p["threads"]: p["peak_gflops"] for p in peaks}
    log("training step")
    train_res = bench_train(sizes, peer, compile_, peak, threads, thread_counts, notes)
    log("scaling")
    scaling = bench_scaling(sizes, threads)
    log("baselines")
    baselines = bench_baselines(sizes, threads, notes)
    report_res = None
    if report:
        log("end to end: the report")
        report_res = bench_report(sizes, notes)
    else:
        notes.append("end to end: skipped (--no-report)")
    res = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": sizes.quick, "sizes": asdict(sizes), "git_commit": git_commit(),
            "platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__, "threads": threads,
            "transformers": _version("transformers"), "sklearn": _version("sklearn"),
            "load_start": load_start,
            "load_end": _load(),
            "busy": busy,
            "wall_s": time.time() - t0,
        },
        "peak": peaks,
        "train_step": train_res,
        "scaling": scaling,
        "baselines": baselines,
        "report": report_res,
        "notes": notes,
    }
    for r in timed_rows(res):
        r["busy"] = busy is not None
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "benchmarks.json", json.dumps(res, indent=2) + "\n")
    atomic_write_text(out / "benchmarks.md", render_markdown(res))
    return res


def main(argv: list[str] | None = None) -> int:
    """``python -m icl bench [--quick] [--out DIR] [--no-peer] [--no-compile] [--no-report] [--allow-busy]
    [--max-load L] [--check-only]``."""
    p = argparse.ArgumentParser(
        prog="python -m icl bench",
        description="Benchmark a training step (ours vs Hugging Face GPT2Model when the 'bench' extra is "
                    "installed), its scaling in prompt length and d, and the batched baselines vs scikit-learn. "
                    "Writes benchmarks.md and benchmarks.json (medians, IQRs, ratios; see icl/bench.py).")
    p.add_argument("--quick", action="store_true", help="tiny sizes and few repetitions: seconds, not conclusions")
    p.add_argument("--out", metavar="DIR", default=str(REPORTS), help="output folder (default reports/)")
    p.add_argument("--no-peer", action="store_true", help=f"skip the {PEER_NAME} rows")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    p.add_argument("--no-report", action="store_true", help="skip the end-to-end report build")
    p.add_argument("--allow-busy", action="store_true",
                   help="time even on a busy machine, marking the report and every row as measured on one")
    p.add_argument("--max-load", type=float, default=MAX_LOAD, metavar="L",
                   help=f"1-minute load average above which the machine counts as busy (default {MAX_LOAD:g})")
    p.add_argument("--check-only", action="store_true",
                   help="only check whether the machine is quiet enough to measure (exit 0) or busy (exit 2)")
    args = p.parse_args(argv)
    t = time.time()
    out = Path(args.out)
    try:
        _check_out(out)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    busy = machine_busy(max_load=args.max_load)
    if busy and not args.allow_busy:
        print(f"bench: busy machine, not timing: {busy}. {out} untouched; rerun when it is quiet, or pass "
              "--allow-busy to time anyway with every row marked busy.", file=sys.stderr)
        return 2
    if args.check_only:
        if busy:
            print(f"bench: busy machine: {busy}. --allow-busy times anyway, every row marked busy.")
        else:
            scanned = "" if read_procs() else " (no /proc: other processes not checked)"
            print(f"bench: quiet machine: 1-minute load average {_fmt(read_load(), 'g')} <= {args.max_load:g}, "
                  f"no other process above {CPU_SHARE:.0%} of a core{scanned}.")
        return 0
    try:
        res = run_bench(out, QUICK if args.quick else FULL, peer=not args.no_peer,
                        compile_=not args.no_compile, report=not args.no_report,
                        log=lambda s: print(f"[{time.time() - t:5.1f} s] {s}", file=sys.stderr), busy=busy)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out / 'benchmarks.md'} and {out / 'benchmarks.json'} in {res['meta']['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

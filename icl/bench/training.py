"""The training-step rows: our model against the peer, its variants, and its scaling.

This module owns the ``train_step`` and ``scaling`` sections of ``benchmarks.json``: one
timed training step (forward, MSE over all positions, backward, AdamW) of ``linear-w0.50``
at the ``cpu`` and ``paper`` scales, ours in its preset layout and in the ``garg`` layout
against :class:`~icl.bench.peer.GPT2Peer` (same width, depth, heads, prompt length, batch),
every thread count, ``torch.compile`` and the model's implementation switches
(:data:`VARIANTS`) at the ``cpu`` scale; the findings those rows support, in words
(:func:`train_findings`); and our step time against prompt length and d with its fitted
log-log exponent (:func:`bench_scaling`). Matmul FLOPs per step come from
:func:`icl.model.step_flops`.

It also owns the ``train_loop`` section (:func:`bench_loop`): the training step as the runs
train it (:data:`LOOP_VARIANTS`: PyTorch's default AdamW, fused AdamW, fused AdamW with the
forward and backward through ``torch.compile``) at the ``small`` and ``cpu`` scales, at one and two
threads, with each compiled row's compilation time beside it; ratios against the default AdamW of
the same scale and threads (:func:`loop_findings`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..config import get_run_config
from ..model import ModelConfig, TransformerModel, matmul_params, step_flops
from ..train import sample_batch
from .machine import load_during
from .peer import PEER_NAME, GPT2Peer, peer_unavailable
from .timing import Sizes, measure, num_threads, summarize

__all__ = [
    "VARIANTS",
    "VARIANT_REF",
    "VARIANT_RUNS",
    "LOOP_VARIANTS",
    "LOOP_SCALES",
    "make_step",
    "train_row",
    "bench_train",
    "train_findings",
    "bench_loop",
    "loop_findings",
    "bench_scaling",
]

VARIANTS = {  # the model's implementation switches (icl/model.py), each setting timed at the cpu scale
    "sdpa + tanh GELU": dict(attention="sdpa", activation="gelu_tanh"),  # GPT-2's, the reference setting
    "math attention + tanh GELU": dict(attention="math", activation="gelu_tanh"),
    "sdpa + exact GELU": dict(attention="sdpa", activation="gelu"),
    "math attention + exact GELU": dict(attention="math", activation="gelu"),
}
VARIANT_REF = "sdpa + tanh GELU"
VARIANT_RUNS = ("linear-w0.50", "linear-only")  # 21 and 41 points: chapters 1-2 and 3-5
# the training loop's implementations (issue 36): (fused AdamW, torch.compile), the first the reference
LOOP_VARIANTS = {
    "default AdamW": (False, False),
    "fused AdamW": (True, False),
    "fused AdamW + compiled": (True, True),
}
LOOP_SCALES = ("small", "cpu")


def make_step(
    forward: Callable[[Tensor, Tensor], Tensor],
    params: list[nn.Parameter],
    xs: Tensor,
    ys: Tensor,
    lr: float,
    bf16: bool = False,
    fused: bool = False,
    clip: float | None = None,
) -> Callable[[], None]:
    """One training step (forward, MSE over all positions, backward, AdamW) as a closure; with
    ``bf16`` the forward under CPU bfloat16 autocast and the loss in fp32, as training does; with
    ``fused`` the fused AdamW (``train.fused_adamw``); with ``clip`` the gradient clipping to that norm
    before the AdamW step (the training loop's step, :func:`icl.train.step_update`)."""
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), **(dict(fused=True) if fused else {}))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            pred = forward(xs, ys)
        loss = (pred.float() - ys).square().mean()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()

    return step


# long: one timed configuration and every figure derived from it
def train_row(
    scale: str,
    impl: str,
    mcfg: ModelConfig,
    batch: int,
    reps: int,
    sizes: Sizes,
    threads: int,
    peak: dict[int, float],
    compiled: bool = False,
    run: str = "linear-w0.50",
    variant: str = "preset",
    bf16: bool = False,
    fused: bool = False,
    clip: bool = False,
) -> dict[str, Any]:
    """Time one training-step configuration and derive its throughput figures (``fused``: fused AdamW;
    ``clip``: with the run's gradient clipping, the training loop's step)."""
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
            make_step(
                forward, list(model.parameters()), xs, ys, cfg.train.lr
            )()  # compiles forward and backward
            compile_s = time.perf_counter() - t
        step = make_step(
            forward,
            list(model.parameters()),
            xs,
            ys,
            cfg.train.lr,
            bf16,
            fused,
            cfg.train.grad_clip if clip else None,
        )
        times = measure(step, reps, sizes.warmup, sizes.budget_s)
    s = summarize(times)
    tokens = (
        replace(mcfg, layout="garg").n_tokens if impl == "peer" else mcfg.n_tokens
    )  # the peer reads garg tokens
    flops = step_flops(model, mcfg, batch, tokens)
    gflops = flops / s["median"] / 1e9
    return {
        "scale": scale,
        "run": run,
        "variant": variant,
        "impl": PEER_NAME if impl == "peer" else "ours",
        "layout": mcfg.layout if impl != "peer" else "garg",
        "threads": threads,
        "compiled": compiled,
        "batch": batch,
        "n_points": mcfg.n_points,
        "n_dims": mcfg.n_dims,
        "width": mcfg.n_embd,
        "layers": mcfg.n_layer,
        "heads": mcfg.n_head,
        "tokens_per_prompt": tokens,
        "params": sum(p.numel() for p in model.parameters()),
        "matmul_params": matmul_params(model),
        "flops_per_step": flops,
        "step_s": s,
        "steps_per_s": 1 / s["median"],
        "tokens_per_s": batch * tokens / s["median"],
        "examples_per_s": batch * mcfg.n_points / s["median"],
        "gflops": gflops,
        "fraction_of_peak": gflops / peak[threads] if threads in peak else None,
        "compile_s": compile_s,
        "precision": "bf16" if bf16 else "fp32",
        "fused_adamw": fused,
        "load": load,
    }


# long: the list of training-step variants measured, one call each
def bench_train(
    sizes: Sizes,
    peer: bool,
    compile_: bool,
    peak: dict[int, float],
    threads: int,
    thread_counts: list[int],
    notes: list[str],
) -> dict[str, Any]:
    """Training-step rows at both scales, the thread and compile variants, and findings."""
    peer_missing = peer_unavailable() if peer else "disabled with --no-peer"
    if peer_missing:
        notes.append(
            f"peer rows ({PEER_NAME}) skipped: {peer_missing}. Install the extra: pip install -e '.[bench]'"
        )
    rows: list[dict[str, Any]] = []
    for scale in ("cpu", "paper"):
        mcfg = get_run_config("linear-w0.50", scale).model
        batch, reps = (
            (sizes.cpu_batch, sizes.cpu_reps) if scale == "cpu" else (sizes.paper_batch, sizes.paper_reps)
        )
        rows.append(train_row(scale, "ours", mcfg, batch, reps, sizes, threads, peak))
        rows.append(
            train_row(
                scale, "ours", mcfg, batch, reps, sizes, threads, peak, variant="bf16 autocast", bf16=True
            )
        )
        if mcfg.layout != "garg":
            rows.append(
                train_row(scale, "ours", replace(mcfg, layout="garg"), batch, reps, sizes, threads, peak)
            )
        if not peer_missing:
            rows.append(
                train_row(scale, "peer", replace(mcfg, layout="garg"), batch, reps, sizes, threads, peak)
            )
        if scale == "cpu":
            for t in thread_counts:
                if t != threads:
                    rows.append(train_row(scale, "ours", mcfg, batch, reps, sizes, t, peak))
            if compile_ and sizes.compile:
                try:
                    rows.append(
                        train_row(scale, "ours", mcfg, batch, reps, sizes, threads, peak, compiled=True)
                    )
                except Exception as e:  # a missing compiler, an unsupported op: report, do not fail the bench
                    notes.append(f"torch.compile failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            elif not compile_:
                notes.append("torch.compile rows skipped (--no-compile)")
            else:
                notes.append(
                    "torch.compile rows skipped in --quick (compilation alone takes tens of seconds)"
                )
            rows += variant_rows(sizes, threads, peak)
    # ours / peer speed, same scale, threads and compile setting
    for r in rows:
        r["speed_vs_peer"] = None
        if r["impl"] == "ours":
            p = [
                q
                for q in rows
                if q["impl"] == PEER_NAME
                and q["scale"] == r["scale"]
                and q["threads"] == r["threads"]
                and q["run"] == r["run"]
                and not q["compiled"]
            ]
            if p:
                r["speed_vs_peer"] = r["steps_per_s"] / p[0]["steps_per_s"]
    return {
        "rows": rows,
        "peer": "skipped: " + peer_missing if peer_missing else "measured",
        "findings": train_findings(rows, threads),
    }


def bench_loop(sizes: Sizes, peak: dict[int, float], notes: list[str]) -> dict[str, Any]:
    """The ``train_loop`` section: every :data:`LOOP_VARIANTS` at each of :data:`LOOP_SCALES`, one and
    two threads, ``linear-w0.50`` at its preset model and batch (full-size prompts); the compiled rows
    only where ``sizes.compile`` (not in ``--quick``), each compiled from scratch with PyTorch's compile
    caches off: its compile time is a first session's on a machine (later sessions find the on-disk
    cache warm and compile faster; ``auto`` records its own)."""
    rows = []
    for scale in LOOP_SCALES:
        mcfg = get_run_config("linear-w0.50", scale).model
        for threads in (1, 2):
            for name, (fused, compiled) in LOOP_VARIANTS.items():
                if compiled and not sizes.compile:
                    continue
                try:
                    with _cold_compile() if compiled else nullcontext():
                        rows.append(
                            train_row(
                                scale,
                                "ours",
                                mcfg,
                                sizes.cpu_batch,
                                sizes.cpu_reps,
                                sizes,
                                threads,
                                peak,
                                compiled=compiled,
                                variant=name,
                                fused=fused,
                                clip=True,
                            )
                        )
                except Exception as e:  # a missing compiler: report, do not fail the bench
                    notes.append(
                        f"train loop, {scale} scale, {name}: {type(e).__name__}: "
                        f"{str(e).splitlines()[0][:200]}"
                    )
    if not sizes.compile:
        notes.append("train loop: the compiled rows are skipped (--quick or --no-compile)")
    return {"rows": rows, "findings": loop_findings(rows)}


@contextmanager
def _cold_compile() -> Iterator[None]:
    """``torch.compile`` from scratch in the block: dynamo's in-memory caches reset, the on-disk ones off."""
    import torch._dynamo
    import torch._inductor.config

    torch._dynamo.reset()
    try:
        with torch._inductor.config.patch(force_disable_caches=True), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="dynamo_pgo force disabled")  # said once per row
            yield
    finally:
        torch._dynamo.reset()


def loop_findings(rows: list[dict[str, Any]]) -> list[str]:
    """Each loop variant's steps/s against the default AdamW's, same scale and threads, and when a
    compiled loop has paid for its compilation."""
    out = []
    ref_name = next(iter(LOOP_VARIANTS))
    for r in rows:
        ref = find_row(rows, scale=r["scale"], threads=r["threads"], variant=ref_name)
        if ref is None or r is ref:
            continue
        gain = r["steps_per_s"] / ref["steps_per_s"]
        line = (
            f"{r['scale']} scale, {r['threads']} thread{'s' if r['threads'] > 1 else ''}: {r['variant']} "
            f"runs {gain:.2f}x the steps/s of {ref_name}"
        )
        base = find_row(rows, scale=r["scale"], threads=r["threads"], variant="fused AdamW")
        if r["compile_s"] is not None and base is not None:
            saved = base["step_s"]["median"] - r["step_s"]["median"]
            c = r["compile_s"]
            line += (
                f" ({c:.0f} s of compilation, paid back after {c / saved:,.0f} steps against fused AdamW)"
                if saved > 0
                else f" ({c:.0f} s of compilation, slower than fused AdamW)"
            )
        out.append(line)
    return out


def variant_rows(sizes: Sizes, threads: int, peak: dict[int, float]) -> list[dict[str, Any]]:
    """Every attention/activation setting, for a 21-point and a 41-point run."""
    rows = []
    for run in VARIANT_RUNS:
        mcfg = get_run_config(run).model
        for name, change in VARIANTS.items():
            rows.append(
                train_row(
                    "cpu",
                    "ours",
                    replace(mcfg, **change),
                    sizes.cpu_batch,
                    sizes.cpu_reps,
                    sizes,
                    threads,
                    peak,
                    run=run,
                    variant=name,
                )
            )
    return rows


def find_row(rows: list[dict[str, Any]], **kw: Any) -> dict[str, Any] | None:
    """The first row whose fields equal ``kw``, or None."""
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


# long: one sentence per finding, each a ratio of two rows
def train_findings(rows: list[dict[str, Any]], threads: int) -> list[str]:
    """Plain-language comparisons computed from the rows (ratios of median step rates)."""
    out = []
    base = dict(compiled=False, threads=threads, run="linear-w0.50", variant="preset")
    for scale in ("cpu", "paper"):
        mine = find_row(rows, scale=scale, impl="ours", layout="garg", **base)
        peer = find_row(rows, scale=scale, impl=PEER_NAME, **base)
        if mine and peer:
            out.append(
                f"{scale} scale, same garg layout: ours runs "
                f"{mine['steps_per_s'] / peer['steps_per_s']:.2f}x the peer's steps/s "
                f"({mine['fraction_of_peak']:.0%} vs {peer['fraction_of_peak']:.0%} of the matmul peak)"
            )
        preset = get_run_config("linear-w0.50", scale).model.layout
        if preset != "garg":
            p, g = find_row(rows, scale=scale, impl="ours", layout=preset, **base), mine
            if p and g:
                out.append(
                    f"{scale} scale: the preset '{preset}' layout ({p['tokens_per_prompt']} tokens) runs "
                    f"{p['steps_per_s'] / g['steps_per_s']:.2f}x the steps/s of the garg layout "
                    f"({g['tokens_per_prompt']} tokens)"
                )
            if p and peer:
                out.append(
                    f"{scale} scale, each in its own layout: ours runs "
                    f"{p['steps_per_s'] / peer['steps_per_s']:.2f}x the peer's steps/s"
                )
    by_threads = sorted(
        (
            r
            for r in rows
            if r["scale"] == "cpu"
            and r["impl"] == "ours"
            and not r["compiled"]
            and r["layout"] == get_run_config("linear-w0.50").model.layout
            and r["run"] == "linear-w0.50"
            and r["variant"] == "preset"
        ),
        key=lambda r: r["threads"],
    )
    if len(by_threads) > 1:
        one = by_threads[0]
        for r in by_threads[1:]:
            gain = r["steps_per_s"] / one["steps_per_s"]
            out.append(
                f"cpu scale: {r['threads']} threads run {gain:.2f}x the steps/s of {one['threads']} "
                f"thread{'s' if one['threads'] > 1 else ''} ({'helps' if gain > 1.1 else 'does not help'})"
            )
    comp = find_row(rows, scale="cpu", impl="ours", compiled=True)
    eager = comp and find_row(
        rows,
        scale="cpu",
        impl="ours",
        layout=comp["layout"],
        compiled=False,
        threads=comp["threads"],
        run=comp["run"],
        variant="preset",
    )
    if comp and eager:
        gain = comp["steps_per_s"] / eager["steps_per_s"]
        saved = eager["step_s"]["median"] - comp["step_s"]["median"]
        verdict = (
            f"helps; compilation pays for itself after {comp['compile_s'] / saved:,.0f} steps"
            if gain > 1.1
            else "does not help"
        )
        out.append(
            f"cpu scale: torch.compile runs {gain:.2f}x the eager steps/s after {comp['compile_s']:.0f} s "
            f"of compilation ({verdict})"
        )
    for run in VARIANT_RUNS:
        ref = find_row(
            rows, scale="cpu", impl="ours", compiled=False, threads=threads, run=run, variant=VARIANT_REF
        )
        m = get_run_config(run).model
        for name in VARIANTS:
            r = find_row(
                rows, scale="cpu", impl="ours", compiled=False, threads=threads, run=run, variant=name
            )
            if ref and r and name != VARIANT_REF:
                gain = r["steps_per_s"] / ref["steps_per_s"]
                is_preset = all(getattr(m, k) == v for k, v in VARIANTS[name].items())
                out.append(
                    f"cpu scale, {run} ({r['tokens_per_prompt']} tokens): {name} runs {gain:.2f}x the "
                    f"steps/s of {VARIANT_REF} ({'helps' if gain > 1.1 else 'does not help'})"
                    + (" - the preset" if is_preset else "")
                )
    return out


def scaling_series(sizes: Sizes, threads: int, vary: str, values: tuple[int, ...]) -> dict[str, Any]:
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
    return {
        "vary": vary,
        "fixed": {"n_dims": base.n_dims} if vary == "n_points" else {"n_points": base.n_points},
        "layout": base.layout,
        "batch": sizes.cpu_batch,
        "points": points,
        "exponent": slope,
    }


def bench_scaling(sizes: Sizes, threads: int) -> dict[str, Any]:
    """The ``scaling`` section: our step time against prompt length and against d."""
    return {
        "prompt_length": scaling_series(sizes, threads, "n_points", sizes.scale_points),
        "dims": scaling_series(sizes, threads, "n_dims", sizes.scale_dims),
    }

"""The markdown report, ``benchmarks.md``, rendered from the results (``benchmarks.json``).

This module owns the human-readable side of a benchmark run: :func:`render_markdown` turns
the results dictionary (as :func:`icl.bench.run.run_bench` writes it to ``benchmarks.json``)
into the tables of ``benchmarks.md``: the time to a trained study, the training loop's
implementations (:func:`loop_section`), the matmul peak, the training-step rows and their
findings, the scaling series, the baselines, the end-to-end report build and the notes.
Each timed row's ``load`` column is :func:`load_cell`. When some sections were measured later
with ``--only`` (``meta.sections``), the header names them and every section says under its
heading when it was measured (:func:`measured_line`; a section without a record: in the full
run of ``meta.date``).
"""

from __future__ import annotations

from typing import Any

from .peer import PEER_NAME

__all__ = ["ms_cell", "fmt_cell", "load_cell", "merged", "measured_line", "render_markdown", "loop_section"]


def ms_cell(s: dict[str, float]) -> str:
    """Median in ms with the IQR (or the sample count when too few for one)."""
    return (
        f"{1e3 * s['median']:.1f} ({1e3 * s['iqr']:.1f})"
        if s["n"] >= 3
        else f"{1e3 * s['median']:.1f} (n={s['n']})"
    )


def fmt_cell(x: float | None, spec: str = ".2f") -> str:
    """``x`` formatted with ``spec``, or ``-`` when there is none."""
    return "-" if x is None else format(x, spec)


def load_cell(r: dict[str, Any]) -> str:
    """A row's 1-minute load average at the start / end of its own measurement, and ``busy``
    when the bench ran on a busy machine (``--allow-busy``)."""
    load = r.get("load") or {}
    cell = " / ".join("?" if load.get(k) is None else f"{load[k]:.2f}" for k in ("start", "end"))
    return cell + (" busy" if r.get("busy") else "")


def merged(res: dict[str, Any]) -> list[str]:
    """The sections measured by a later ``--only`` run than the full run of ``meta.date``."""
    return [k for k, rec in (res["meta"].get("sections") or {}).items() if not rec.get("full_run", True)]


def same_run(res: dict[str, Any], a: str, b: str) -> bool:
    """Whether sections ``a`` and ``b`` were measured in the same run."""
    recs = res["meta"].get("sections") or {}
    return (recs.get(a) or {}).get("run") == (recs.get(b) or {}).get("run")


def measured_line(res: dict[str, Any], name: str) -> list[str]:
    """Under a section's heading, when it was measured: nothing when the whole file is one full run;
    else in the full run of ``meta.date``, or the date, commit, load and busy reason of its
    ``--only`` run (and its torch version and default threads where they differ from the full run's)."""
    m = res["meta"]
    if not merged(res):
        return []
    rec = (m.get("sections") or {}).get(name)
    if rec is None or rec.get("full_run", True):
        return [f"*Measured in the full run of {m['date']} (commit `{m['git_commit'][:12]}`).*", ""]
    load = " / ".join(fmt_cell(rec.get(k)) for k in ("load_start", "load_end"))
    torch_ = "".join(f"; {k} {rec[k]}" for k in ("torch", "threads") if rec.get(k) not in (None, m.get(k)))
    torch_ += f"; CPU {rec['cpu_model']}" if rec.get("cpu_model") else ""
    busy = f"; **on a busy machine (`--allow-busy`): {rec['busy']}**" if rec.get("busy") else ""
    return [
        f"*Measured on {rec['date']} with `--only` (commit `{rec['git_commit'][:12]}`; 1-minute load "
        f"average at start / end {load}{torch_}){busy}.*",
        "",
    ]


# long: benchmarks.md top to bottom, one block per section, in reading order
def render_markdown(res: dict[str, Any]) -> str:
    """The human-readable report of one benchmark run."""
    m = res["meta"]
    later = merged(res)
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python -m icl bench{' --quick' if m['quick'] else ''}` on {m['date']} (commit "
        f"`{m['git_commit'][:12]}`), {m['wall_s']:.0f} s. Machine: {m['platform']}, {m['cpu_count']} "
        f"CPUs{' (' + m['cpu_model'] + ')' if m.get('cpu_model') else ''}, torch {m['torch']} "
        f"({m['threads']} threads by default), transformers {m['transformers'] or 'absent'}, scikit-learn "
        f"{m['sklearn'] or 'absent'}. 1-minute load average at start / end: {m['load_start']} / "
        f"{m['load_end']} (other work on the machine slows the absolute numbers; ratios less). Each row's "
        "'load' is the 1-minute load average at the start / end of its own measurement (the bench's own "
        "threads count too).",
        "",
        *(
            [
                "Measured since with `--only`: "
                + ", ".join(f"{k} ({m['sections'][k]['date']})" for k in later)
                + "; each section says under its heading when it was measured.",
                "",
            ]
            if later
            else []
        ),
        *(
            [
                f"**The full run of {m['date']} was measured on a busy machine (`--allow-busy`): "
                + m["busy"]
                + ". Its rows are marked `busy`; their absolute numbers are slowed by the other work.**",
                "",
            ]
            if m.get("busy") and later
            else []
        ),
        *(
            [
                "**Measured on a busy machine (`--allow-busy`): "
                + m["busy"]
                + ". Every row is marked `busy`; "
                "its absolute numbers are slowed by the other work.**",
                "",
            ]
            if m.get("busy") and not later
            else []
        ),
        "Times are medians with the interquartile range in parentheses, "
        + (
            "each measured in the run named under its section's heading; "
            if later
            else "all measured in this run; "
        )
        + "compare ratios rather than absolute times across machines."
        + (" **--quick: tiny sizes, few repetitions; not for conclusions.**" if m["quick"] else ""),
        "",
        *study_section(res),
        *loop_section(res),
        *bf16_section(res),
        "## fp32 matmul peak (measured here)",
        "",
        *measured_line(res, "peak"),
        "| threads | n x n | peak (best) GFLOP/s | median (IQR) GFLOP/s | load |",
        "| ---: | ---: | ---: | ---: | --- |",
    ]
    for p in res["peak"]:
        lines.append(
            f"| {p['threads']} | {p['n']} | {p['peak_gflops']:.1f} | {p['gflops']['median']:.1f} "
            f"({p['gflops']['iqr']:.1f}) | {load_cell(p)} |"
        )
    tr = res["train_step"]
    lines += [
        "",
        "## Training step (forward + MSE + backward + AdamW), `linear-w0.50`",
        "",
        *measured_line(res, "train_step"),
        f"Peer: {PEER_NAME} with Garg et al.'s read-in/read-out, {tr['peer']}. Tokens per prompt: 2n in the "
        "garg layout, n in ours. GFLOP/s counts matmul FLOPs (6 x matmul params x tokens + attention); 'of "
        "peak' divides by the peak "
        + (
            "above"
            if same_run(res, "train_step", "peak")
            else "measured in the same run as these rows (not the one above)"
        )
        + " at the same thread count (above 100% means the peak sample was disturbed).",
        "",
        "| scale | run | variant | impl | layout | threads | compile | batch x tokens | ms/step | steps/s | "
        "tokens/s | ours/peer | GFLOP/s | of peak | load |",
        "| --- | --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in tr["rows"]:
        lines.append(
            f"| {r['scale']} | {r['run']} | {r['variant']} | {r['impl']} | {r['layout']} | {r['threads']} | "
            f"{'on' if r['compiled'] else 'off'} | "
            f"{r['batch']} x {r['tokens_per_prompt']} | {ms_cell(r['step_s'])} | {r['steps_per_s']:.2f} | "
            f"{r['tokens_per_s']:,.0f} | {fmt_cell(r['speed_vs_peer'])} | {r['gflops']:.1f} | "
            f"{fmt_cell(r['fraction_of_peak'], '.0%')} | {load_cell(r)} |"
        )
    if tr["findings"]:
        lines += ["", "What helps:", ""] + [f"- {f}" for f in tr["findings"]]
    sc = res["scaling"]
    lines += ["", "## Scaling of our step time (cpu preset model)", "", *measured_line(res, "scaling")]
    for key, label in (("prompt_length", "prompt length n"), ("dims", "d")):
        s = sc[key]
        lines += [
            f"{label} (fixed {', '.join(f'{k}={v}' for k, v in s['fixed'].items())}, batch {s['batch']}, "
            f"{s['layout']} layout): fitted growth exponent **{s['exponent']:.2f}** (step time ~ "
            f"{label.split()[-1]}^{s['exponent']:.2f})",
            "",
            f"| {label.split()[-1]} | ms/step | steps/s | load |",
            "| ---: | ---: | ---: | --- |",
        ]
        lines += [
            f"| {p[s['vary']]} | {ms_cell(p['step_s'])} | {p['steps_per_s']:.2f} | {load_cell(p)} |"
            for p in s["points"]
        ]
        lines.append("")
    b = res["baselines"]
    la = b["lasso"]
    lines += [
        "## Baselines",
        "",
        *measured_line(res, "baselines"),
        f"Lasso, alpha = {la['alpha']:g}, objective {la['objective']}; d = {la['n_dims']}, nnz = "
        f"{la['nnz']}, {la['prompts']:,} prompts x {la['n_points']} points ({la['fits']:,} prefix fits); "
        f"load {load_cell(la)}.",
        "",
        "| implementation | total time | per prompt | |",
        "| --- | ---: | ---: | --- |",
        f"| ours (batched homotopy, all prompts and prefixes at once) | {ms_cell(la['ours_s'])} ms | "
        f"{1e3 * la['ours_s']['median'] / la['prompts']:.3f} ms | {la['ours_unfinished']} unfinished paths |",
    ]
    sks = la["sklearn"]
    if sks:
        for name, sk in sks.items():
            lines.append(
                f"| scikit-learn {sk['version']} Lasso per prompt and prefix, tol {sk['tol']:g}"
                f"{' (Garg et al.)' if name == 'garg' else ''} | {1e3 * sk['total_s']:.0f} ms | "
                f"{ms_cell(sk['per_prompt_s'])} ms | {sk['unconverged_fits']} unconverged fits |"
            )
        lines += [
            "",
            "| scikit-learn setting | ours is faster by | largest prediction difference: all prefixes | "
            + " | ".join(f"k >= {k}" for k in list(sks.values())[0]["max_abs_pred_diff_from_k"] if k != "1")
            + " |",
            "| --- | ---: | ---: |"
            + " ---: |" * (len(list(sks.values())[0]["max_abs_pred_diff_from_k"]) - 1),
        ]
        for sk in sks.values():
            lines.append(
                f"| tol {sk['tol']:g} | {sk['speedup_ours']:.0f}x | {sk['max_abs_pred_diff']:.1e} | "
                + " | ".join(f"{v:.1e}" for k, v in sk["max_abs_pred_diff_from_k"].items() if k != "1")
                + " |"
            )
        lines += [
            "",
            "Ours follows the Lasso path exactly; at scikit-learn's default tolerance coordinate descent "
            "stops early on short prefixes (fewer points than dimensions), hence the larger differences "
            "there; at a tight tolerance the two agree.",
        ]
    else:
        lines += ["", "scikit-learn is not installed: no peer row."]
    bs = b["bayes_sparse"]
    lines += [
        "",
        f"BayesSparse (exact posterior over all {bs['supports']} supports), d = {bs['n_dims']}, nnz = "
        f"{bs['nnz']}, {bs['prompts']:,} prompts x {bs['n_points']} points: {ms_cell(bs['time_s'])} ms "
        f"({bs['prompts_per_s']:,.0f} prompts/s); load {load_cell(bs)}.",
    ]
    grid = b.get("grid_1d") or []
    if grid:
        lines += [
            "",
            f"Non-linear chapters' reference predictors, {grid[0]['prompts']:,} prompts x "
            f"{grid[0]['n_points']} points:",
            "",
            "| predictor | prefixes | time (ms) | prompts/s | load |",
            "| --- | --- | ---: | ---: | --- |",
        ]
        lines += [
            f"| {r['predictor']} | {r['prefixes']} | {ms_cell(r['time_s'])} | {r['prompts_per_s']:,.0f} | "
            f"{load_cell(r)} |"
            for r in grid
        ]
    rep = res.get("report")
    if rep:
        what = "every chapter" if rep["only"] is None else f"chapter(s) {rep['only']}"
        params = ", ".join(f"{k}={v}" for k, v in rep["params"].items()) or "the notebooks' defaults"
        lines += [
            "",
            "## End to end: the report",
            "",
            *measured_line(res, "report"),
            f"`python -m icl report` ({what}, {params}) into a temporary folder with the committed "
            f"checkpoints: {rep['wall_s']:.0f} s in all (papermill kernel start-up and HTML export "
            f"included); load {load_cell(rep)}.",
            "",
            "| chapter | status | seconds |",
            "| --- | --- | ---: |",
        ]
        lines += [f"| {c['chapter']} | {c['status']} | {c['seconds']:.1f} |" for c in rep["chapters"]]
    if res["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in res["notes"]]
    return "\n".join(lines) + "\n"


# long: one report section, its table and prose in reading order
def study_section(res: dict[str, Any]) -> list[str]:
    """The headline: time to a trained study per scale, the loop against a bare step, contention."""
    if not res.get("study"):
        return []
    lines = [
        "## Time to a trained study (the real training loop, this machine)",
        "",
        *measured_line(res, "study"),
        "The training loop itself (`icl.train.train`: data, AdamW, checkpoints, logs) on full-size prompts "
        "from the first step, timed as the difference of two trainings from scratch (start-up cancels); "
        "each run's wall time is the steps it trains itself (a forked run: those after its fork) at its "
        "family's rate. Loop / bare: the loop's steps/s over a bare step's (forward, MSE, backward, AdamW) "
        "of the same model.",
        "",
        "Each family's loop in every implementation (steps/s): PyTorch's default AdamW (the "
        "runs trained before issue 36), fused AdamW, and fused AdamW compiled; the wall times are at "
        'the faster fused loop (the one a new run\'s `train.compile="auto"` keeps), then at each '
        "implementation. Loop / bare: the eager fused loop.",
        "",
    ]
    names = list(res["study"][0]["families"][0].get("loops", {}))
    lines += [
        "| scale | family (run timed) | points | d | batch | threads | "
        + "".join(f"{n} | " for n in names)
        + "bare step | loop / bare | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | " + "---: | " * len(names) + "---: | ---: | --- |",
    ]
    for sc in res["study"]:
        for f in sc["families"]:
            rates = "".join(
                f"{f['loops'][n]['steps_per_s']:.1f} | " if n in f.get("loops", {}) else "- | " for n in names
            )
            lines.append(
                f"| {sc['scale']} | {f['run']} | {f['n_points']} | {f['n_dims']} | {f['batch']} | "
                f"{f['threads']} | {rates}{ms_cell(f['bare_step_s'])} | "
                f"{f['loop_vs_bare']:.2f} | {load_cell(f)} |"
            )
    lines += [
        "",
        "| scale | run | steps it trains | wall time (h) | " + "".join(f"{n} (h) | " for n in names).rstrip(),
        ("| --- | --- | ---: | ---: | " + "---: | " * len(names)).rstrip(),
    ]
    for sc in res["study"]:
        for r in sc["runs"]:
            by = "".join(f"{r.get('hours_by_loop', {}).get(n, float('nan')):.2f} | " for n in names)
            lines.append(f"| {sc['scale']} | {r['run']} | {r['steps']:,} | {r['hours']:.2f} | {by}".rstrip())
        by = "".join(f"**{sc.get('total_hours_by_loop', {}).get(n, float('nan')):.1f}** | " for n in names)
        lines.append(
            f"| **{sc['scale']}** | **the study** | {sum(r['steps'] for r in sc['runs']):,} | "
            f"**{sc['total_hours']:.1f}** | {by}".rstrip()
        )
    if res.get("contention"):
        lines += [
            "",
            *measured_line(res, "contention"),
            "Beside other work (the small scale's loop; 'shared': a second process busy on one core):",
            "",
            "| threads | shared | loop steps/s | load |",
            "| ---: | --- | ---: | --- |",
        ]
        for r in res["contention"]:
            lines.append(
                f"| {r['threads']} | {'yes' if r['shared'] else 'no'} | {r['steps_per_s']:.1f} | "
                f"{load_cell(r)} |"
            )
        shared = [r for r in res["contention"] if r["shared"]]
        if shared:
            best = max(shared, key=lambda r: r["steps_per_s"])
            lines += [
                "",
                f"Beside other work the faster setting here is **{best['threads']} thread(s)** "
                f"({best['steps_per_s']:.1f} steps/s); train with `--threads {best['threads']}` when the "
                "machine is shared.",
            ]
    return lines + [""]


def loop_section(res: dict[str, Any]) -> list[str]:
    """The training loop's implementations at the small and cpu scales, one and two threads: ms/step,
    the ratio to PyTorch's default AdamW at the same scale and threads, and the compilation time."""
    loop = res.get("train_loop") or {}
    rows = loop.get("rows") or []
    if not rows:
        return []
    lines = [
        "## The training loop: default AdamW, fused AdamW, compiled (`linear-w0.50`)",
        "",
        *measured_line(res, "train_loop"),
        "The step as the runs train it (forward, MSE, backward, gradient clipping, AdamW) on "
        "full-size prompts of the preset model and batch. Compiled: `torch.compile` (default mode) of "
        "the forward and backward with fused AdamW, compiled from scratch for its row with PyTorch's "
        "compile caches off (compile time beside: a first session's; later ones find the cache warm). "
        'New runs train with fused AdamW and `train.compile="auto"`: each session times eager against '
        "compiled steps on its own shapes and threads and keeps the faster (`icl/train.py`).",
        "",
        "| scale | threads | loop | batch x tokens | ms/step | steps/s | vs default AdamW | compile (s) "
        "| load |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    ref_name = rows[0]["variant"]
    for r in rows:
        ref = next(
            (
                q
                for q in rows
                if q["scale"] == r["scale"] and q["threads"] == r["threads"] and q["variant"] == ref_name
            ),
            None,
        )
        ratio = f"{r['steps_per_s'] / ref['steps_per_s']:.2f}x" if ref else "-"
        lines.append(
            f"| {r['scale']} | {r['threads']} | {r['variant']} | {r['batch']} x "
            f"{r['tokens_per_prompt']} | {ms_cell(r['step_s'])} | {r['steps_per_s']:.2f} | "
            f"{ratio} | {fmt_cell(r['compile_s'], '.0f')} | {load_cell(r)} |"
        )
    if loop.get("findings"):
        lines += ["", *[f"- {f}" for f in loop["findings"]]]
    return lines + [""]


def bf16_section(res: dict[str, Any]) -> list[str]:
    """bf16 autocast against fp32: our preset training step at each scale, same threads and batch."""
    rows = res["train_step"]["rows"]
    pairs = [
        (
            r,
            next(
                (
                    q
                    for q in rows
                    if q["scale"] == r["scale"]
                    and q["variant"] == "preset"
                    and q["impl"] == "ours"
                    and q["layout"] == r["layout"]
                    and q["threads"] == r["threads"]
                    and not q["compiled"]
                ),
                None,
            ),
        )
        for r in rows
        if r.get("precision") == "bf16"
    ]
    if not pairs:
        return []
    flags = res["meta"].get("bf16_hardware") or "none found"
    lines = [
        "## bf16 autocast against fp32 (training step, ours, preset layout)",
        "",
        *measured_line(res, "train_step"),
        f'CPU bf16 support seen in /proc/cpuinfo: {flags}. `train.autocast="auto"` (the `paper` preset\'s) '
        "uses bf16 on CUDA and on CPUs with bf16 instructions only; the `cpu` and `small` presets stay "
        "fp32.",
        "",
        "| scale | width x layers | threads | fp32 ms/step | bf16 ms/step | bf16 speed-up | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for bf, fp in pairs:
        if fp is None:
            continue
        lines.append(
            f"| {bf['scale']} | {bf['width']} x {bf['layers']} | {bf['threads']} | {ms_cell(fp['step_s'])} | "
            f"{ms_cell(bf['step_s'])} | {fp['step_s']['median'] / bf['step_s']['median']:.2f}x | "
            f"{load_cell(bf)} |"
        )
    return lines + [""]

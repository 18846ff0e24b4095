"""Benchmarks: training-step throughput, its scaling, and the batched baselines.

This package owns ``python -m icl bench`` (its options: :func:`add_arguments`; a run: :func:`command`)
and its two outputs, ``benchmarks.md`` and ``benchmarks.json`` in ``--out`` (default ``reports/``),
each written atomically. All numbers of one report are measured in the same run on the same
machine and given as medians with their interquartile range (IQR) and as ratios, which carry
over between machines better than absolute times:

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
* **train loop** (issue 36): the step as the runs train it, in each implementation (PyTorch's
  default AdamW, fused AdamW, fused AdamW with ``torch.compile``) at the ``small`` and ``cpu``
  scales, one and two threads, the compilation time beside; the **time to a trained study**
  (:mod:`~icl.bench.study`) times the real loop in the same implementations.
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

**Some sections again.** ``--only SECTION[,SECTION...]`` (``peak``, ``study``, ``contention``,
``train_step``, ``train_loop``, ``scaling``, ``baselines``, ``report``) measures the matmul peak
and those sections alone and merges them into the earlier run's ``benchmarks.json`` in ``--out``
(the peak is replaced too); the other sections keep their earlier results byte for byte.
``meta.sections`` records per section when, at which commit and under what load (and whether
busy) it was measured, and ``benchmarks.md`` says so under each section's heading once the file
mixes runs (a section of an older file without a record: "measured in the full run of"
``meta.date``). Refused in one line, before the quiet-machine check: an unknown section, no
earlier ``benchmarks.json``, a ``--quick`` run into a full one or the other way round.

``--quick`` shrinks every size and repetition (and skips ``torch.compile``) so the
whole run takes seconds (its end-to-end row runs chapter 01 alone on 16 prompts);
the smoke test uses it. Timings are on the CPU.

Modules: :mod:`~icl.bench.timing` (sizes, repeated measurement, the matmul peak),
:mod:`~icl.bench.machine` (the quiet-machine check, the load average), :mod:`~icl.bench.peer`
(the Hugging Face peer), :mod:`~icl.bench.training` (training-step and scaling rows),
:mod:`~icl.bench.baselines` (baseline rows), :mod:`~icl.bench.markdown` (``benchmarks.md``
from the results) and :mod:`~icl.bench.run` (one run in order, the files, the command line).
"""

from __future__ import annotations

from .machine import busy_processes, machine_busy, read_load, read_procs
from .peer import GPT2Peer
from .run import DESCRIPTION, BenchError, add_arguments, command, main, run_bench, timed_rows
from .timing import FULL, QUICK, Sizes

__all__ = [
    "BenchError",
    "Sizes",
    "FULL",
    "QUICK",
    "GPT2Peer",
    "machine_busy",
    "busy_processes",
    "read_procs",
    "read_load",
    "timed_rows",
    "run_bench",
    "DESCRIPTION",
    "add_arguments",
    "command",
    "main",
]

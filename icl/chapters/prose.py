"""Chapter prose that knows its scale: the sentences of a page that name the setup or read a verdict.

Chapters 1-2 run at several scales (``cpu`` and ``small``; chapter 6 reads the ``small`` runs), so a
static markdown cell that states d, nnz, the prompt length, a step count or a verdict's outcome is
written for one scale and wrong at another (issue 39, item 4). Those sentences are built here, from the
runs' :class:`~icl.config.RunConfig` (the loaded runs', else the registry's for the scale:
:func:`configs_of`) and from the computed :class:`~icl.chapters.verdict.Verdict` objects; a notebook
shows them with :func:`md`. This module owns:

* the setup: :class:`Setup` and :func:`setup_of` (the numbers), :func:`geometry` (d, nnz, prompt
  length), :func:`model_sentence`, :func:`training_sentence` (steps, hold and ramp of each run, the
  dimension and length curriculum), :func:`emergence_sentence` (the emergence log), and the protocol
  paragraphs of chapters 1, 2 and 6 (:func:`linear_protocol`, :func:`sweep_protocol` with
  :func:`c5_ranges`, :func:`rare_protocol`);
* the verdicts: :func:`verdict_sentence` (one claim's outcome and why), :func:`seeds_sentence` (the
  second training seed beside the first), :func:`linear_reading` (what chapters 1-2's verdicts say at
  this scale, pointing to the other scales: :func:`other_scales`) and :func:`outcomes_paragraph`.

Conventions the tests rely on (``tests/test_prose.py``): ``d = N`` and ``nnz = N`` name the setup
(the input dimension, the pretraining sparsity), never a swept value (a sweep's values are written
``nnz 1–2`` or tabulated); a link is relative to ``notebooks/`` and resolves from ``reports/`` too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..config import RUNS, SCALES, RunConfig, get_run_config, seed_runs
from ..emergence import N_PROMPTS, logged_ks
from ..run_folder import RunFolder
from ..tasks import ClassName
from .verdict import Outcome, Verdict

__all__ = [
    "SCALES_DOC",
    "Setup",
    "md",
    "configs_of",
    "setup_of",
    "geometry",
    "model_sentence",
    "training_sentence",
    "emergence_sentence",
    "linear_protocol",
    "sweep_protocol",
    "rare_protocol",
    "c5_ranges",
    "verdict_sentence",
    "seeds_sentence",
    "other_scales",
    "linear_reading",
    "outcomes_paragraph",
]

# where each scale is described (relative to notebooks/ and reports/ alike)
SCALES_DOC = {
    "cpu": "../docs/scales.md#cpu-every-chapter-but-no-sparse-selection-at-d--10",
    "small": "../docs/scales.md#the-small-scale",
    "paper": "../docs/scales.md#paper",
}


def md(text: str):
    """``text`` as a notebook's markdown output (the cell's value is rendered, not printed)."""
    from IPython.display import Markdown

    return Markdown(text)


def configs_of(runs: Sequence[str], scale: str, loaded: Mapping[str, RunConfig] | None = None) -> dict:
    """Each run's config: the loaded run's own (what it trained with), else the registry's at ``scale``."""
    loaded = loaded or {}
    return {r: loaded[r] if r in loaded else get_run_config(r, scale) for r in dict.fromkeys(runs)}


@dataclass(frozen=True)
class Setup:
    """The numbers a chapter's text states, read from one run's config (the chapters' runs of a
    scale share them): input dimension, pretraining sparsity, prompt length, model shape, the
    emergence log's interval and k."""

    scale: str
    d: int
    nnz: int
    n_points: int
    n_layer: int
    n_embd: int
    n_head: int
    eval_every: int
    log_ks: tuple[int, ...]


def setup_of(scale: str, configs: Mapping[str, RunConfig]) -> Setup:
    """The :class:`Setup` of ``configs`` (at least one; the first is read)."""
    cfg = next(iter(configs.values()))
    m = cfg.model
    return Setup(
        scale,
        cfg.task.n_dims,
        cfg.task.nnz,
        m.n_points,
        m.n_layer,
        m.n_embd,
        m.n_head,
        cfg.train.eval_every,
        logged_ks(cfg),
    )


def geometry(s: Setup) -> str:
    """``d = 5``, ``nnz = 1``, prompts of 11 examples (this scale's numbers)."""
    return (
        f"inputs of `d = {s.d}` dimensions, sparse functions with `nnz = {s.nnz}` non-zero "
        f"coefficients, prompts of {s.n_points} examples"
    )


def model_sentence(s: Setup) -> str:
    return f"a GPT-2-style transformer of {s.n_layer} layers, width {s.n_embd} and {s.n_head} heads"


def _and(items: Sequence[str], quote: str = "`") -> str:
    """``a``, ``b`` and ``c`` (each in ``quote``)."""
    quoted = [f"{quote}{x}{quote}" for x in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _schedule(cfg: RunConfig) -> str:
    """One run's training in words: its steps and, for a weight curriculum, the hold and the ramp."""
    steps, mix = f"{cfg.train.steps:,} steps", cfg.curriculum.mix
    if not mix.start:
        return steps
    start = ", ".join(f"{c} {w:g}" for c, w in zip(cfg.task.classes, mix.start))
    return (
        f"{steps}, with mixing weights {start} until step {mix.hold:,} (the hold), then ramped "
        f"linearly to the run's own over {mix.ramp:,} steps"
    )


def _curriculum(configs: Mapping[str, RunConfig]) -> str:
    """The dimension and prompt-length curriculum (Garg et al.), or that there is none."""
    until = 0
    for cfg in configs.values():
        for sch in (cfg.curriculum.dims, cfg.curriculum.points):
            if sch.inc and sch.end != sch.start:
                until = max(until, sch.hold + math.ceil((sch.end - sch.start) / sch.inc) * sch.interval)
    if not until:
        return "no curriculum on the input dimensions or the prompt length"
    return (
        f"Garg et al.'s curriculum grows the input dimensions in use and the prompt length to their "
        f"full size by step {until:,}"
    )


def training_sentence(configs: Mapping[str, RunConfig]) -> str:
    """How long each run trains and on what schedule, runs of one schedule grouped, in run order."""
    groups: dict[str, list[str]] = {}
    for name, cfg in configs.items():
        groups.setdefault(_schedule(cfg), []).append(name)
    if len(groups) == 1:
        parts = [f"every run trains {next(iter(groups))}"]
    else:
        parts = [
            f"{_and(runs)} {'trains' if len(runs) == 1 else 'train'} {what}" for what, runs in groups.items()
        ]
    return "; ".join(parts) + "; " + _curriculum(configs)


def emergence_sentence(s: Setup, classes: Sequence[str] = (ClassName.DENSE, ClassName.SPARSE)) -> str:
    """What the emergence log measures, at this scale's interval and k."""
    ks = " and ".join(f"k = {k}" for k in s.log_ks)
    sets = " and ".join(f"{N_PROMPTS} {c}" for c in classes)
    return (
        f"Below it, the **emergence log**: every {s.eval_every:,} steps a run scores itself on a fixed "
        f"set of {sets} prompts at {ks} (ceil(d/2) and d − 1), where selecting a sparse solution pays "
        f"and least squares cannot fit yet (dashed: least squares, dotted: the Lasso, on the same "
        f"prompts). Selection has arrived where a run's sparse curve leaves least squares for the "
        f"Lasso. A run trained before the log existed has none (named under the figure)."
    )


def _weights(runs: Sequence[str]) -> str:
    return ", ".join(f"{RUNS[r].weight_of(ClassName.DENSE):g}" for r in runs)


def _at_scale(s: Setup) -> str:
    return f"**At the `{s.scale}` scale** (parameter `scale`; [docs/scales.md]({SCALES_DOC[s.scale]}))"


def linear_protocol(
    scale: str, configs: Mapping[str, RunConfig], runs: Sequence[str], second: Sequence[str] = ()
) -> str:
    """Chapter 1's setup at ``scale``: geometry, model, runs (and second-seed runs), training."""
    s = setup_of(scale, configs)
    seeds = (
        f"; and training seed 1 of {_and([RUNS[r].base for r in second])} ({_and(second)}, "
        f"parameter `seed_runs`)"
        if second
        else ""
    )
    return (
        f"{_at_scale(s)}: {geometry(s)}; {model_sentence(s)}. Runs: one per pretraining weight "
        f"w ∈ {{{_weights(runs)}}} ({_and(runs)}){seeds}. Training: {training_sentence(configs)}."
    )


def c5_ranges(d: int) -> str:
    """C5's three nnz ranges at input dimension ``d`` (written through d in the criterion)."""
    inner = "none (C5 needs d ≥ 5)" if d < 5 else "3" if d == 5 else f"3–{d - 2}"
    return f"small nnz 1–2, large nnz {d - 1}–{d}, intermediate nnz {inner}"


def sweep_protocol(
    scale: str, configs: Mapping[str, RunConfig], ks: Sequence[int], n_eval: int, second: Sequence[str] = ()
) -> str:
    """Chapter 2's setup at ``scale``: the sweep's range, the runs' pretraining, the k read, C5's ranges."""
    s = setup_of(scale, configs)
    first = [r for r in configs if r not in second]
    seeds = f" and their training seed 1 ({_and(second)}, parameter `seed_runs`)" if second else ""
    read_at = " and ".join(f"k = {k}" for k in ks)
    return (
        f"{_at_scale(s)}: {geometry(s)}. The sweep runs nnz from 1 to {s.d}, {n_eval:,} prompts per "
        f"value, read at {read_at} (parameter `ks`). The runs {_and(first)}{seeds} were pretrained "
        f"on sparse functions of `nnz = {s.nnz}`, on dense ones or on their mixture; training: "
        f"{training_sentence(configs)}. C5's ranges at this d: {c5_ranges(s.d)}."
    )


def rare_protocol(scale: str, configs: Mapping[str, RunConfig], runs: Sequence[str], cond: str) -> str:
    """Chapter 6's setup at ``scale``: geometry, model, the weights of ``runs``, the conditional run,
    training."""
    s = setup_of(scale, configs)
    return (
        f"{_at_scale(s)}: {geometry(s)}; {model_sentence(s)}. {len(runs)} dense/sparse pretraining "
        f"weights w (the dense share) ∈ {{{_weights(runs)}}} ({_and(runs)}), and the conditional run "
        f"`{cond}`. Training: {training_sentence(configs)}."
    )


# ---------------------------------------------------------------------------------------------- verdicts


def verdict_sentence(v: Verdict) -> str:
    """One claim's verdict in one sentence: its outcome and why (the unmet precondition's reason, the
    parts that fail or are undecided and what would decide them, or that every part holds)."""
    head = f"**{v.claim}** is {v.status}"
    first = v.details[0] if v.details else ""
    if v.status is Outcome.NOT_TESTED and v.precondition:
        return f"{head}: its premise is unmet at this scale ({v.precondition})."
    if v.status is Outcome.INCONCLUSIVE:
        decide = next((ln for ln in v.details if ln.startswith("to decide:")), "")
        return f"{head} ({first}; {decide})." if decide else f"{head} ({first})."
    return f"{head} ({first})." if first else f"{head}."


def seeds_sentence(first: Sequence[Verdict], second: Sequence[Verdict], scale: str, seed: int = 1) -> str:
    """The second training seed's verdicts beside the first's: which claims agree, which differ and how."""
    if not second:
        if not seed_runs(scale):
            return f"The `{scale}` scale has one training seed: these verdicts rest on it alone."
        return (
            "No second-seed runs were loaded (parameter `seed_runs`): these verdicts rest on training "
            "seed 0 alone."
        )
    theirs = {v.claim: v.status for v in second}
    same = [v.claim for v in first if theirs.get(v.claim) == v.status]
    differ = [
        f"{v.claim}: {theirs[v.claim]} at seed {seed} ({v.status} at seed 0)"
        for v in first
        if v.claim in theirs and theirs[v.claim] != v.status
    ]
    if not differ:
        return f"Training seed {seed}'s runs give the same outcome for every claim ({', '.join(same)})."
    agree = f"the same outcome for {', '.join(same)}, and " if same else ""
    return (
        f"Training seed {seed}'s runs give {agree}another for {'; '.join(differ)}. A claim whose outcome "
        f"changes with the training seed is not settled at this scale by either seed alone: the report "
        f"shows both columns."
    )


def other_scales(scale: str, runs: Sequence[str]) -> list[str]:
    """The other scales at which one of ``runs`` (first seeds) is committed, trained, in the study's order."""
    firsts = [r for r in runs if r in RUNS and RUNS[r].base is None]
    return [s for s in SCALES if s != scale and any(RunFolder.of(r, s).is_finished() for r in firsts)]


def _outcomes(verdicts: Sequence[Verdict]) -> str:
    return " ".join(verdict_sentence(v) for v in verdicts) or "No verdict was computed."


def _unmet(claims: Sequence[str], seed: int = 0) -> str:
    """What an unmet premise of chapters 1-2 (the sparse-only model selects) means for ``claims`` of
    training seed ``seed``."""
    verb = "is" if len(claims) == 1 else "are"
    at, of = (f" at training seed {seed}", " of that seed") if seed else ("", "")
    return (
        f"{_and(claims, '')} {verb} {Outcome.NOT_TESTED}{at}, not {Outcome.NOT_HELD}: the sparse-only "
        f"model{of} does not select sparse solutions here, so the specialists do not differ on sparse "
        f"prompts and the claim is vacuous. That measures how far these models are from the paper's, not "
        f"whether the paper's models behave as claimed ([docs/sizing.md](../docs/sizing.md)); the `before` "
        f"line gives the outcome judged regardless."
    )


def linear_reading(
    scale: str,
    configs: Mapping[str, RunConfig],
    first: Sequence[Verdict],
    second: Sequence[Verdict] = (),
    others: Sequence[str] = (),
) -> str:
    """What chapters 1-2's verdicts say at ``scale``: each claim of training seed 0 in one sentence, the
    second seed beside it, what an unmet premise (the sparse-only model selects) means, and where the
    same claims are read at the other scales ``others``."""
    s = setup_of(scale, configs)
    parts = [
        f"At the `{scale}` scale (`d = {s.d}`, `nnz = {s.nnz}`; {s.n_layer} layers of width "
        f"{s.n_embd}), training seed 0: {_outcomes(first)}",
        seeds_sentence(first, second, scale),
    ]
    unmet, unmet2 = ([v.claim for v in vs if v.precondition] for vs in (first, second))
    if unmet:
        parts.append(_unmet(unmet))
    if unmet2 and unmet2 != unmet:
        parts.append(_unmet(unmet2, seed=1))
    if not unmet and not unmet2 and any(v.status is not Outcome.NOT_TESTED for v in first):
        parts.append(
            "Every claim's premise held here (the sparse-only model selects), so each verdict "
            "tests the claim itself."
        )
    if others:
        scales = " and ".join(f"`{o}`" for o in others)
        params = " or ".join(f"`-p scale {o}`" for o in others)
        parts.append(
            f"The same claims at the {scales} scale: run this notebook with {params} (the report "
            f"builds each page)."
        )
    return "\n\n".join(parts)


def outcomes_paragraph(scale: str, verdicts: Sequence[Verdict]) -> str:
    """Each claim's verdict at ``scale`` in one sentence (:func:`verdict_sentence`)."""
    return f"At the `{scale}` scale: {_outcomes(verdicts)}"

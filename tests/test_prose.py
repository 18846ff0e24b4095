"""Chapter text that knows its scale (issue 39, item 4): what a page states of the setup is its scale's.

Chapters 1-2 are built at the ``cpu`` scale (d = 10, nnz = 2) and at ``small`` (d = 5, nnz = 1) from one
notebook, so a sentence naming d, nnz, the prompt length or a step count, or reading a verdict, is built by
:mod:`icl.chapters.prose` from the runs' configs and the computed verdicts. These tests render that prose at
both scales (the prose functions, without executing a notebook) and check that it states this scale's
numbers only, that its reading of the verdicts follows the verdicts of both training seeds, that the static
markdown of every notebook states no number that differs between the scales it is built at, and that every
link in a notebook's markdown, static or generated, resolves from ``notebooks/`` and from ``reports/``.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import nbformat
import pytest
from test_doc_links import anchors

from icl.chapters import prose
from icl.chapters.verdict import Outcome, Verdict
from icl.config import RUNS, get_run_config, run_names, seed_runs
from icl.report.inputs import DEFAULT_SCALE, PER_SCALE, number_of

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LINEAR = ["linear-w0.00", "linear-w0.25", "linear-w0.50", "linear-w0.75", "linear-w1.00"]
SWEEP = ["linear-w0.00", "linear-w0.50", "linear-w1.00"]

# how the setup's numbers are written (the convention of icl.chapters.prose): "d = N" and "nnz = N" (or
# "N-sparse") name the input dimension and the pretraining sparsity, never a swept value, which is written
# as a range ("nnz 1–2", "nnz = 1..d"); "prompts of N" / "N points" the prompt length; "L × W model" the model
_RANGE = r"(?!\s*(?:\.\.|–|-\d|\+))"
QUANTITIES = {
    "d": [rf"\bd\s*=\s*(\d+)\b{_RANGE}"],
    "nnz": [rf"\bnnz\s*=\s*(\d+)\b{_RANGE}", r"\b(\d+)-sparse\b"],
    "points": [r"\bprompts of (\d+)\b", r"\b(\d+) points\b"],
    "model": [r"\b(\d+\s*×\s*\d+) model\b"],
}
NUMBER = r"(\d{1,3}(?:,\d{3})+|\d+)"
STEPS = [rf"\b{NUMBER}\s+steps?\b", rf"\bsteps?\s+{NUMBER}\b"]  # "50,000 steps", "until step 65,000"
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?\s*\)")


def stated(text: str) -> dict[str, set[str]]:
    """The setup numbers ``text`` states, by quantity (values as written, commas and spaces removed)."""
    out = {
        q: {re.sub(r"[\s,]", "", m.group(1)) for p in pats for m in re.finditer(p, text)}
        for q, pats in QUANTITIES.items()
    }
    out["steps"] = {
        next(g for g in m.groups() if g).replace(",", "") for p in STEPS for m in re.finditer(p, text)
    }
    return out


def values(run: str, scale: str) -> dict[str, set[str]]:
    """The setup numbers of ``run`` at ``scale`` (nnz only for a run that sees sparse functions)."""
    cfg = get_run_config(run, scale)
    nnz = {str(cfg.task.nnz)} if "sparse" in cfg.task.classes else set()
    return {
        "d": {str(cfg.task.n_dims)},
        "nnz": nnz,
        "points": {str(cfg.model.n_points)},
        "model": {f"{cfg.model.n_layer}×{cfg.model.n_embd}"},
    }


def union(dicts) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {q: set() for q in QUANTITIES}
    for d in dicts:
        for q, v in d.items():
            out[q] |= v
    return out


def step_numbers(configs) -> set[str]:
    """Every step count a config defines: steps, log interval, hold and ramp, curriculum's end."""
    found = set()
    for cfg in configs.values():
        found |= {cfg.train.steps, cfg.train.eval_every, cfg.curriculum.mix.hold, cfg.curriculum.mix.ramp}
        for s in (cfg.curriculum.dims, cfg.curriculum.points):
            if s.inc and s.end != s.start:
                found.add(s.hold + math.ceil((s.end - s.start) / s.inc) * s.interval)
    return {str(n) for n in found}


# ------------------------------------------------------------------------------------------ the verdicts


def verdict(claim: str, status: Outcome, first: str = "every part holds", why: str | None = None) -> Verdict:
    lines = [f"precondition unmet: {why}" if why else first, "numbers ..."]
    return Verdict(claim, status, lines, precondition=why)


def committed_verdicts(chapter: str, scale: str, claims: list[str]) -> list[Verdict]:
    """The verdicts the committed report holds for a chapter page (its seed 0), as the chapter computed them;
    synthetic ones (all HELD) where that page is not in the report."""
    from icl.report.readme_table import read_report

    page = chapter if scale == "cpu" else f"{chapter}-{scale}"
    try:
        found = [
            v
            for ch in read_report()["chapters"]
            if ch["name"] == page
            for v in ch["verdicts"]
            if not v.get("seed")
        ]
    except (OSError, ValueError, KeyError):
        found = []
    if not found:
        return [verdict(c, Outcome.HELD) for c in claims]
    return [
        Verdict(
            v["claim"],
            v["outcome"],
            [ln.strip() for ln in v["lines"][1:]],
            precondition=v.get("precondition"),
        )
        for v in found
    ]


def pages(chapter: str, scale: str) -> str:
    """Every piece of scale-dependent prose one chapter's page shows at ``scale``, joined."""
    second = seed_runs(scale)
    if chapter == "01_model_selection":
        configs = prose.configs_of(LINEAR + second, scale)
        first = committed_verdicts(chapter, scale, ["C1", "C2", "C3"])
        texts = [
            prose.linear_protocol(scale, configs, LINEAR, second),
            prose.emergence_sentence(prose.setup_of(scale, configs)),
        ]
    else:
        configs = prose.configs_of(SWEEP + second, scale)
        first = committed_verdicts(chapter, scale, ["C4", "C5"])
        geo = prose.setup_of(scale, configs)
        texts = [prose.sweep_protocol(scale, configs, [max(1, geo.d // 2), geo.d], 4096, second)]
    flipped = [
        verdict(
            v.claim,
            Outcome.NOT_HELD if v.status == Outcome.HELD else Outcome.HELD,
            "fails on: sparse prompts",
        )
        for v in first
    ]
    others = prose.other_scales(scale, SWEEP)
    texts += [prose.linear_reading(scale, configs, first, flipped if second else [], others)]
    return "\n\n".join(texts)


CASES = [(c, s) for c in ("01_model_selection", "02_sparsity_sweep") for s in ("cpu", "small")]


@pytest.mark.parametrize("chapter,scale", CASES)
def test_chapter_prose_states_its_own_scale_only(chapter, scale):
    """The numbers chapters 1-2 state at a scale are that scale's: d, nnz and the prompt length of its
    runs (never the other scale's), its model, and step counts its runs' configs define."""
    text = pages(chapter, scale)
    runs = (LINEAR if chapter.startswith("01") else SWEEP) + seed_runs(scale)
    own = union(values(r, scale) for r in runs)
    said = stated(text)
    assert said["d"] == own["d"] and said["nnz"] == own["nnz"], (said, own)  # stated, and this scale's
    for q in QUANTITIES:
        assert said[q] <= own[q], f"{chapter} at {scale} states {q} {said[q] - own[q]} (its own: {own[q]})"
    other = "small" if scale == "cpu" else "cpu"
    for q in ("d", "nnz"):
        theirs = union(values(r, other) for r in runs if r in run_names(other))[q] - own[q]
        assert not said[q] & theirs, f"{chapter} at {scale} states the {other} scale's {q}"
    assert said["steps"] <= step_numbers(prose.configs_of(runs, scale)), said["steps"]


def test_small_pages_no_longer_say_the_old_sentences():
    """The issue's offenders: "nnz = 2" on a small page, a reading of NOT HELD under other verdicts."""
    for chapter in ("01_model_selection", "02_sparsity_sweep"):
        text = pages(chapter, "small")
        assert "nnz = 2" not in text and "d = 10" not in text and "honest reading" not in text


def test_the_reading_follows_both_seeds_verdicts():
    configs = prose.configs_of(SWEEP, "small")
    first = [
        verdict("C4", Outcome.INCONCLUSIVE, "inconclusive: excess at every nnz and k"),
        verdict("C5", Outcome.HELD),
    ]
    second = [
        verdict("C4", Outcome.NOT_HELD, "fails on: excess at every nnz and k"),
        verdict("C5", Outcome.HELD),
    ]
    text = prose.linear_reading("small", configs, first, second)
    assert "**C4** is INCONCLUSIVE (inconclusive: excess at every nnz and k)" in text
    assert "the same outcome for C5, and another for C4: NOT HELD at seed 1 (INCONCLUSIVE at seed 0)." in text
    assert "premise held" in text and "NOT TESTED" not in text
    same = prose.linear_reading("small", configs, first, first)
    assert "same outcome for every claim (C4, C5)" in same
    why = "the sparse-only model closes 0.1 of the gap (needs 0.5)"
    unmet = prose.linear_reading(
        "cpu", prose.configs_of(SWEEP, "cpu"), [verdict(c, Outcome.NOT_TESTED, why=why) for c in ("C4", "C5")]
    )
    assert f"**C4** is NOT TESTED: its premise is unmet at this scale ({why})." in unmet
    assert "C4 and C5 are NOT TESTED, not NOT HELD" in unmet
    assert "The `cpu` scale has one training seed" in unmet
    alone = prose.linear_reading("small", configs, first)
    assert "No second-seed runs were loaded" in alone


# ---------------------------------------------------------------------------------- the static markdown


def notebook_scales(nb_path: Path) -> list[str]:
    """The scales the report builds a notebook at (its own, and one page per scale of PER_SCALE)."""
    n = number_of(nb_path)
    return list(dict.fromkeys([DEFAULT_SCALE.get(n, "cpu"), *PER_SCALE.get(n, {})]))


def parameter_runs(nb: nbformat.NotebookNode) -> list[str]:
    """The run names a notebook's parameters cell names in its default values."""
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    nodes = ast.walk(ast.parse(cell.source))
    return [n.value for n in nodes if isinstance(n, ast.Constant) and n.value in RUNS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_static_markdown_states_no_number_that_differs_between_its_scales(path):
    """The rule: a static markdown cell may state a number of the setup only if it is true at every scale
    the notebook is built at. For each quantity (d, nnz or "N-sparse", the prompt length, the model's
    layers × width) the allowed values are those shared by all of the notebook's scales, each scale's
    values being those of the runs its parameters cell names; so chapters 1-2 (built at ``cpu`` and
    ``small``, which differ in all three) state none, while chapter 3, built at ``cpu`` only, may say
    "d = 10" (and a wrong d would still fail). A training step count differs per run and per scale, so no
    static cell states one. Everything else comes from a generated cell (:mod:`icl.chapters.prose`)."""
    nb = nbformat.read(path, as_version=4)
    runs = parameter_runs(nb)
    scales = notebook_scales(path)
    per_scale = [union(values(r, s) for r in runs if r in run_names(s)) for s in scales]
    allowed = {q: set.intersection(*(v[q] for v in per_scale)) for q in QUANTITIES}
    bad = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        said = stated(cell.source)
        bad += [f"cell {i}: {q} {sorted(said[q] - allowed[q])}" for q in QUANTITIES if said[q] - allowed[q]]
        bad += [f"cell {i}: step count {sorted(said['steps'])}"] if said["steps"] else []
    assert not bad, f"{path.name} (built at {', '.join(scales)}): {'; '.join(bad)}"


# ---------------------------------------------------------------------------------------------- links


def resolves(target: str, where: Path) -> str | None:
    """None when the relative link ``target`` resolves from folder ``where``, else what is wrong."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):
        return None
    path, _, anchor = target.partition("#")
    dest = (where / path).resolve()
    if not dest.exists():
        return f"{target}: no file {dest}"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return f"{target}: no heading #{anchor} in {dest.name}"
    return None


def generated_links() -> list[str]:
    text = "\n".join(pages(c, s) for c, s in CASES)
    text += prose.rare_protocol(
        "small",
        prose.configs_of(["linear-w0.00", "linear-w0.50-cond"], "small"),
        ["linear-w0.00"],
        "linear-w0.50-cond",
    )
    return [m.group(1) for m in LINK.finditer(text)] + list(prose.SCALES_DOC.values())


def test_every_notebook_link_resolves_from_notebooks_and_reports():
    """Links in notebook markdown (and in the prose the notebooks generate) are relative to notebooks/; the
    chapter pages live in reports/, one level down from the root too, so the same link works there."""
    targets = [
        (nb.name, m.group(1))
        for nb in NOTEBOOKS
        for c in nbformat.read(nb, as_version=4).cells
        if c.cell_type == "markdown"
        for m in LINK.finditer(c.source)
    ]
    targets += [("generated prose", t) for t in generated_links()]
    assert targets
    broken = [
        f"{src}: {err}"
        for src, t in targets
        for where in (ROOT / "notebooks", ROOT / "reports")
        if (err := resolves(t, where))
    ]
    assert not broken, broken
    for nb in NOTEBOOKS:  # a README section named in words, where a link belongs
        text = "\n".join(c.source for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "markdown")
        assert not re.search(r"README,? \"|see the README", text), nb.name


def test_chapters_1_2_record_their_second_seed_and_read_both():
    """Chapters 1-2 have a second ``# VERDICT`` cell, the second seed's (recorded with its seed), and a
    generated reading of both seeds' verdicts after it."""
    from icl.report.verdicts import VERDICT_MARK

    for name in ("01_model_selection", "02_sparsity_sweep"):
        cells = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells
        marked = [i for i, c in enumerate(cells) if c.cell_type == "code" and VERDICT_MARK in c.source]
        assert len(marked) == 2 and "show_second_seed(" in cells[marked[1]].source, name
        reading = [
            i for i, c in enumerate(cells) if c.cell_type == "code" and "prose.linear_reading(" in c.source
        ]
        assert reading and reading[0] > marked[1], name


def test_an_unmet_premise_is_read_for_its_seed():
    why = "the sparse-only model closes 0.1 of the gap (needs 0.5)"
    text = prose.linear_reading(
        "small",
        prose.configs_of(SWEEP, "small"),
        [verdict("C4", Outcome.HELD)],
        [verdict("C4", Outcome.NOT_TESTED, why=why)],
    )
    assert "C4 is NOT TESTED at training seed 1, not NOT HELD: the sparse-only model of that seed" in text
    assert "premise held" not in text

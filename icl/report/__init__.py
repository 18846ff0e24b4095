"""The study's report: run the numbered notebooks, export HTML, write an index.

This package owns the report folder (``reports/`` by default, ``--out`` otherwise)
and the refresh of the notebooks' committed outputs (``--in-place``). It is run as
``python -m icl report``.

What it reads
    ``notebooks/NN_name.ipynb`` (two digits, an underscore; resolved from the
    repository root, never the working directory). Each notebook is executed with
    papermill: kernel ``python3``, working directory ``notebooks/``, a per-cell
    timeout, parameters from an optional YAML file::

        all: {n_eval: 256}      # every notebook
        "02": {seed: 3}         # notebook 02 only (wins over "all")

    Keys are ``all`` or a two-digit notebook number (unquoted ``02`` works too);
    values are mappings of parameter names to values. An empty file means no
    parameters.

What it writes (report mode, the default)
    * ``<out>/executed/NN_name.ipynb`` - the executed notebook;
    * ``<out>/NN_name.html`` - one page per notebook (nbconvert, ``lab`` template,
      code hidden unless ``--show-code``; figures are inline ``data:`` images, the
      CSS is inline, no require.js or mermaid script, MathJax loads ``async`` so a
      page offline shows everything but typeset math);
    * ``<out>/figures/NN_name.png`` - the figure of a chapter's cell tagged
      ``headline-figure`` (:data:`HEADLINE_TAG`), if it has one: the README shows
      chapter 1's at the ``small`` scale;
    * ``<out>/index.html`` - the study's summary, one self-contained page (inline
      CSS, no external resource): the claims matrix (claim text, one column per
      scale and seed, ``n/a`` where not run), the headline figure, one card per
      chapter (its verdicts in a sentence each, a link), the build's details per
      chapter (status, the error's last line, the duration, the parameters) and a
      footer with the git commit, package versions and the build date;
    * ``<out>/report.json`` - the same information, machine-readable, with the
      build's ``commit`` and ``dirty`` (uncommitted changes outside ``reports/`` and
      ``data/sizing/``, listed in ``uncommitted``).

    One build, one commit: every chapter page is stamped, top and foot, with the
    build's commit (and a red warning when the tree was dirty) and links back to
    the index; :func:`check_one_build` lists what disagrees (:mod:`icl.report.stamp`).

    Verdicts: each code cell whose source contains ``# VERDICT`` prints each claim's
    verdict and emits it as data too, one ``display_data`` output of MIME type
    ``application/vnd.icl.verdicts+json`` (:data:`VERDICT_MIME`):
    ``{"verdicts": [{"claim": "C1", "outcome": "NOT HELD", "lines": [...]}, ...]}``, the
    outcome an :class:`Outcome`'s text, the lines exactly those printed (a second training
    seed's verdicts with ``"seed": 1``, a column of their own). The report reads
    claims, outcomes and the lines it shows from that data only, never from the text
    (:mod:`icl.report.verdicts`); the index and report.json count the claims per outcome
    (:func:`count_outcomes`). The data is left out of the chapter pages.

Atomicity
    Everything is built in ``<out>/.tmp-<random>/`` (git-ignored), then each file
    is moved over its target with ``os.replace``; ``report.json`` and ``index.html``
    go last. A kill at any moment leaves every file either old or new, never torn,
    and the index only ever links pages that exist. (A killed build may leave its
    ``.tmp-*`` folder behind; it is safe to delete.)

The failure rule
    A failing notebook does not stop the others, and the command exits 1 at the end.
    The new index (showing the failure) and the pages of the notebooks that passed
    are published. For a failed chapter, the previous ``<out>/NN_name.html`` and
    ``<out>/executed/NN_name.ipynb`` (the last passing build) are kept untouched;
    the new executed notebook (with its error) and its page, when it can be
    rendered, go to ``<out>/failed/NN_name.ipynb`` and ``<out>/failed/NN_name.html``.
    When a chapter passes again, its ``failed/`` files are removed.

    With ``--only``, chapters not selected keep their previous index entry (from the
    previous ``report.json``), marked with the date of the build that made them.

In-place mode (``--in-place``)
    Each notebook is executed into a temporary file next to it and renamed over the
    committed notebook only if it passed, so a failure never destroys it. This
    refreshes the reference outputs that nbval compares against. No HTML is written.

Exit codes: 0 all passed (or no notebooks), 1 a notebook failed, 2 bad input
(:class:`ReportError`, e.g. a bad parameters file or an unknown ``--only`` number).

Modules: :mod:`~icl.report.inputs` (notebooks, builds, parameters), :mod:`~icl.report.execute`
(papermill and nbconvert), :mod:`~icl.report.verdicts` (the verdict data),
:mod:`~icl.report.results` (chapter records, report.json read back), :mod:`~icl.report.index`
(index.html), :mod:`~icl.report.readme_table` (the results grid, the README's table),
:mod:`~icl.report.stamp` (one build, one commit: the dirty tree, the pages' stamps and their check),
:mod:`~icl.report.build` (the build and the in-place refresh) and
:mod:`~icl.report.browser` (headless Chromium: page checks, the index's screenshot).
"""

from __future__ import annotations

from .build import HEADLINE_TAG, build_report, headline_figure, refresh_in_place
from .execute import make_exporter, render_page
from .index import render_cards, render_index, render_matrix, verdict_sentence
from .inputs import (
    NOTEBOOKS,
    PER_SCALE,
    ReportError,
    builds_of,
    discover,
    has_trained_runs,
    load_params,
    params_for,
    select,
)
from .readme_table import CLAIM_TEXTS, results_grid
from .results import (
    BuildStatus,
    ChapterResult,
    claims_by_scale,
    count_outcomes,
    count_preconditions,
    previous_results,
)
from .stamp import build_bar, check_one_build, page_stamps, stamp_page, uncommitted_changes
from .verdicts import (
    VERDICT_MARK,
    VERDICT_MIME,
    ClaimVerdict,
    Outcome,
    VerdictDataError,
    extract_verdicts,
    outcome_class,
)

__all__ = [
    "ReportError",
    "ChapterResult",
    "ClaimVerdict",
    "VerdictDataError",
    "build_report",
    "refresh_in_place",
    "discover",
    "select",
    "load_params",
    "params_for",
    "extract_verdicts",
    "outcome_class",
    "count_outcomes",
    "count_preconditions",
    "previous_results",
    "render_index",
    "render_page",
    "make_exporter",
    "NOTEBOOKS",
    "PER_SCALE",
    "builds_of",
    "has_trained_runs",
    "claims_by_scale",
    "render_matrix",
    "VERDICT_MARK",
    "VERDICT_MIME",
    "Outcome",
    "BuildStatus",
    "HEADLINE_TAG",
    "headline_figure",
    "render_cards",
    "verdict_sentence",
    "build_bar",
    "check_one_build",
    "page_stamps",
    "stamp_page",
    "uncommitted_changes",
    "CLAIM_TEXTS",
    "results_grid",
]

"""Building the report: every chapter staged, then published atomically; or refreshed in place.

This module owns the build (:func:`build_report`, one at a time per report folder: its
lock) and the in-place refresh of the notebooks' committed outputs
(:func:`refresh_in_place`): executing each chosen notebook, reading its verdicts and
rendering its page (:func:`build_chapter`, its figures' alt text from their captions
(:func:`~icl.report.alt_text.describe_figures`), stamped with the build's commit and a link back to
the index) and its headline figure, if it has one (:func:`headline_figure`, for the README and
the index), the failure rule (a failed chapter's previous page is kept; its new files go to
``failed/``), the build's provenance (:func:`build_info`: the commit and whether the tree was
dirty), ``report.json`` and ``index.html`` (:func:`write_summary`), the staging folder moved into
place file by file (:func:`publish`), and the index's screenshot in headless Chromium.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..config import REPORTS, ROOT
from . import browser
from .alt_text import describe_figures
from .execute import DEFAULT_TIMEOUT, error_summary, execute, make_exporter, render_page
from .index import render_index
from .inputs import (
    NOTEBOOK_GLOB,
    ReportError,
    builds_of,
    discover,
    load_params,
    notebooks_folder,
    number_of,
    params_for,
    select,
    warn_unused_keys,
)
from .results import BuildStatus, ChapterResult, count_outcomes, count_preconditions, previous_results
from .stamp import stamp_page, uncommitted_changes
from .verdicts import ClaimVerdict, extract_verdicts

__all__ = [
    "TMP_PREFIX",
    "HEADLINE_TAG",
    "HEADLINE_PAGE",
    "headline_figure",
    "notebook_title",
    "build_info",
    "build_chapter",
    "publish",
    "drop_stale_failures",
    "headline_page",
    "write_summary",
    "build_report",
    "refresh_in_place",
]

TMP_PREFIX = ".tmp-"
# a chapter cell with this tag holds a figure the README shows: the build copies it to figures/<page>.png
HEADLINE_TAG = "headline-figure"
# the index shows this page's headline figure (else the first chapter's that has one)
HEADLINE_PAGE = "01_model_selection-small"
MAX_LISTED = 20  # uncommitted paths listed in report.json


def build_info(params_file: Path | str | None, notebooks_dir: Path) -> dict[str, Any]:
    """Commit, whether the tree had uncommitted changes (``dirty``, and which: ``uncommitted``,
    see :mod:`icl.report.stamp`), versions, date and options of this build (its pages and report.json)."""
    import nbconvert
    import papermill

    from ..provenance import git_commit, versions

    try:
        shown_dir = str(notebooks_dir.relative_to(ROOT))
    except ValueError:
        shown_dir = str(notebooks_dir)
    changes = uncommitted_changes(ROOT) or []
    return {
        "built": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "dirty": bool(changes),
        "uncommitted": changes[:MAX_LISTED]
        + ([f"... {len(changes) - MAX_LISTED} more"] if len(changes) > MAX_LISTED else []),
        "versions": {**versions(), "papermill": papermill.__version__, "nbconvert": nbconvert.__version__},
        "params_file": str(params_file) if params_file else None,
        "pattern": f"{shown_dir}/{NOTEBOOK_GLOB}",
    }


def notebook_title(nb: Any) -> str:
    """The text of a notebook's first markdown heading (``# ...``), or ""."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def _read_executed(executed: Path, exporter: Any) -> tuple[list[ClaimVerdict], str | None, str | None, str]:
    """(verdicts, page HTML or None, error line or None, title) of an executed notebook."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception as e:  # noqa: BLE001 - an unreadable notebook is reported, not fatal
        return [], None, f"HTML export: {error_summary(e)}", ""
    title = notebook_title(nb)
    try:
        verdicts = extract_verdicts(nb)
    except ValueError as e:  # VerdictDataError: the chapter broke the verdict contract
        return [], None, f"verdicts: {e}", title
    try:
        return verdicts, render_page(exporter, nb, executed.stem), None, title
    except Exception as e:  # noqa: BLE001 - a page that cannot be rendered is reported, not fatal
        return verdicts, None, f"HTML export: {error_summary(e)}", title


def headline_figure(executed: Path) -> bytes | None:
    """The PNG of the executed notebook's cell tagged :data:`HEADLINE_TAG` (the first one), or None."""
    import base64

    import nbformat

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        if HEADLINE_TAG in cell.get("metadata", {}).get("tags", []):
            for out in cell.get("outputs", []):
                if "image/png" in out.get("data", {}):
                    return base64.b64decode(out["data"]["image/png"])
    return None


# long: one notebook's execution, page and files, passing or failed
def build_chapter(
    src: Path,
    stage: Path,
    out: Path,
    parameters: dict[str, Any],
    timeout: int,
    exporter: Any,
    built: str,
    name: str | None = None,
    scale: str = "cpu",
    info: dict[str, Any] | None = None,
) -> ChapterResult:
    """Execute one notebook into the staging folder and render its page there, as page
    ``name`` (default: the notebook's own name).

    A passing chapter's files go to ``executed/`` and the top level; a failing one's
    to ``failed/`` (see the failure rule in :mod:`icl.report`). With ``info`` (the build's,
    :func:`build_info`) the page is stamped with the build (:func:`~icl.report.stamp.stamp_page`:
    its commit, a dirty tree, a link back to the index) and the entry records its commit.
    """
    name = name or src.stem
    executed = stage / "executed" / f"{name}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    error, seconds = execute(src, executed, parameters, timeout, src.parent)
    verdicts, page, title = [], None, ""
    if executed.exists():
        verdicts, page, render_error, title = _read_executed(executed, exporter)
        error = error or render_error
    status = BuildStatus.FAILED if error else BuildStatus.PASSED
    result = ChapterResult(
        number_of(src),
        name,
        status,
        seconds,
        parameters,
        verdicts=verdicts,
        error=error,
        built=built,
        scale=scale,
        title=title,
    )
    if info is not None:
        result.commit, result.dirty = str(info["commit"]), bool(info.get("dirty"))
    sub = ""
    if error:
        sub = "failed/"
        (stage / "failed").mkdir(exist_ok=True)
        if (out / f"{name}.html").exists():
            result.previous_page = f"{name}.html"
    if executed.exists() and not error:
        png = headline_figure(executed)
        if png is not None:  # the README's figure, regenerated with its chapter
            (stage / "figures").mkdir(exist_ok=True)
            (stage / "figures" / f"{name}.png").write_bytes(png)
    if executed.exists():
        result.notebook = f"{sub or 'executed/'}{name}.ipynb"
        executed.replace(stage / result.notebook)
    if page is not None:
        page = describe_figures(page)  # each figure's alt text: its caption, not nbconvert's placeholder
        if info is not None:
            page = stamp_page(page, info, "../index.html" if sub else "index.html")
        result.page = f"{sub}{name}.html"
        (stage / result.page).write_text(page, encoding="utf-8")
    return result


def publish(stage: Path, out: Path) -> None:
    """Move every staged file over its target (``os.replace``); report.json, index.html last."""
    last = [stage / "report.json", stage / "index.html"]
    files = [p for p in sorted(stage.rglob("*")) if p.is_file() and p not in last]
    for src in files + [p for p in last if p.exists()]:
        dst = out / src.relative_to(stage)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


def drop_stale_failures(out: Path, results: list[ChapterResult]) -> None:
    """Remove ``failed/`` files of chapters that passed in this build."""
    for r in results:
        if r.status == BuildStatus.PASSED:
            for suffix in (".html", ".ipynb"):
                (out / "failed" / f"{r.name}{suffix}").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (out / "failed").rmdir()  # only if empty


def headline_page(results: list[ChapterResult], folders: list[Path]) -> str | None:
    """The page whose headline figure the index shows: :data:`HEADLINE_PAGE` if its
    ``figures/<page>.png`` is in one of ``folders``, else the first of ``results`` whose is; None if none."""
    for name in [HEADLINE_PAGE] + [r.name for r in results]:
        if any((f / "figures" / f"{name}.png").is_file() for f in folders):
            return name
    return None


def write_summary(
    stage: Path, info: dict[str, Any], results: list[ChapterResult], out: Path | None = None
) -> None:
    """Stage ``report.json`` (the build's information, the claims per outcome, every chapter's
    record) and ``index.html`` (with the headline figure found in ``stage`` or ``out``)."""
    data = {
        **info,
        "passed": all(r.status == BuildStatus.PASSED for r in results),
        "claims": count_outcomes(results),
        "not_tested_on_a_precondition": count_preconditions(results),
        "chapters": [asdict(r) for r in results],
    }
    (stage / "report.json").write_text(
        json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )
    headline = headline_page(results, [stage] + ([out] if out else []))
    (stage / "index.html").write_text(render_index(info, results, headline), encoding="utf-8")


def _progress(items: list[Path]) -> Iterator[Path]:
    from tqdm.auto import tqdm

    bar = tqdm(items, desc="notebooks", unit="nb")
    for item in bar:
        bar.set_postfix_str(item.stem)
        yield item


def _log(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message)


def _prepare(
    notebooks_dir: Path | None, params_file: Path | str | None, only: str | None
) -> tuple[Path, dict, list[Path], list[Path]]:
    """Resolve the notebooks folder, read the parameters, pick the notebooks to run."""
    notebooks_dir = notebooks_folder(notebooks_dir)
    params = load_params(params_file)
    available = discover(notebooks_dir)
    chosen = select(available, only)
    for line in warn_unused_keys(params, available):
        _log(line)
    return notebooks_dir, params, available, chosen


def build_report(
    out: Path | str | None = None,
    params_file: Path | str | None = None,
    only: str | None = None,
    show_code: bool = False,
    timeout: int = DEFAULT_TIMEOUT,
    notebooks_dir: Path | None = None,
    screenshot: bool = False,
) -> int:
    """Build the report into ``out`` (see :mod:`icl.report`); the exit status.
    ``screenshot`` also refreshes ``<out>/index.png`` in headless Chromium if present."""
    from ..checkpoint import RunLockedError, run_lock

    notebooks_dir, params, available, chosen = _prepare(notebooks_dir, params_file, only)
    out = Path(out).resolve() if out else REPORTS
    try:
        with run_lock(out, what="report folder"):  # one build per report folder
            return _build_report(
                out, params_file, params, available, chosen, show_code, timeout, notebooks_dir, screenshot
            )
    except RunLockedError as e:
        raise ReportError(str(e)) from None


def _build_report(
    out: Path,
    params_file,
    params: dict,
    available: list[Path],
    chosen: list[Path],
    show_code: bool,
    timeout: int,
    notebooks_dir: Path,
    screenshot: bool,
) -> int:
    """The build behind :func:`build_report`, under the report folder's lock."""
    out.mkdir(parents=True, exist_ok=True)
    info = build_info(params_file, notebooks_dir)
    if info["dirty"]:
        _log(
            f"building from a tree with uncommitted changes ({', '.join(info['uncommitted'])}): every page "
            "says so"
        )
    previous = previous_results(out)
    exporter = make_exporter(show_code) if chosen else None
    stage = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=out))
    try:
        built: dict[str, ChapterResult] = {}
        for src in _progress(chosen):
            for name, scale, extra in builds_of(src):
                r = build_chapter(
                    src,
                    stage,
                    out,
                    {**params_for(params, src), **extra},
                    timeout,
                    exporter,
                    info["built"],
                    name=name,
                    scale=scale,
                    info=info,
                )
                _log(f"{r.name}: {r.status} ({r.seconds:.1f} s){' - ' + r.error if r.error else ''}")
                built[r.name] = r
        results = [built.get(name) or previous.get(name) for p in available for name, _, _ in builds_of(p)]
        results = [r for r in results if r is not None]
        write_summary(stage, info, results, out)
        publish(stage, out)
        drop_stale_failures(out, list(built.values()))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if screenshot:
        _screenshot(out)
    return 1 if any(r.status == BuildStatus.FAILED for r in built.values()) else 0


def _screenshot(out: Path) -> None:
    """Refresh ``<out>/index.png`` in headless Chromium when one is installed (else say so)."""
    if browser.find_chromium() is None:
        _log("index.png not refreshed: no headless Chromium found (apt-get install chromium)")
        return
    try:
        browser.screenshot(out / "index.html", out / "index.png")
        _log(f"screenshot: {out / 'index.png'}")
    except browser.BrowserError as e:
        _log(f"index.png not refreshed: {e}")


def refresh_in_place(
    params_file: Path | str | None = None,
    only: str | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    notebooks_dir: Path | None = None,
) -> int:
    """Re-execute the notebooks over themselves (nbval references); the exit status."""
    notebooks_dir, params, available, chosen = _prepare(notebooks_dir, params_file, only)
    if not chosen:
        _log(f"no notebooks matching {NOTEBOOK_GLOB} in {notebooks_dir}")
    failed = 0
    for src in _progress(chosen):
        fd, tmp_name = tempfile.mkstemp(dir=src.parent, prefix=f".{src.stem}.", suffix=".tmp.ipynb")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            error, seconds = execute(src, tmp, params_for(params, src), timeout, src.parent)
            if error is None:
                shutil.copymode(src, tmp)
                os.replace(tmp, src)
        finally:
            tmp.unlink(missing_ok=True)
        failed += error is not None
        _log(
            f"{src.name}: {'refreshed' if error is None else 'FAILED, left unchanged - ' + error} "
            f"({seconds:.1f} s)"
        )
    return 1 if failed else 0

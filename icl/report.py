"""The study's report: run the numbered notebooks, export HTML, write an index.

This module owns the report folder (``reports/`` by default, ``--out`` otherwise)
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
    * ``<out>/index.html`` - one self-contained page (inline CSS, no external
      resource): per chapter its status, the error's last line, the duration, the
      parameters and the claim verdicts; a footer with the git commit, package
      versions and the build date;
    * ``<out>/report.json`` - the same information, machine-readable.

    Verdicts: the code cell whose source contains ``# VERDICT`` prints each claim's
    verdict on stdout (``C1 NOT HELD``, then indented lines: ``fails on: ...``,
    ``inconclusive: ...`` or ``every part holds``, and the numbers); every line is
    copied. A claim's line reads ``<claim> <outcome>``, the outcome one of
    :data:`OUTCOMES` (those of :class:`icl.claims.Verdict`); the index and report.json
    count the claims per outcome (:func:`count_outcomes`).

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
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .config import REPORTS, ROOT, SCALES, run_names, scale_dir

NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
VERDICT_MARK = "# VERDICT"
KERNEL = "python3"
START_TIMEOUT = 120
DEFAULT_TIMEOUT = 1800
TMP_PREFIX = ".tmp-"

PASSED, FAILED = "passed", "failed"
# a claim's outcome, as icl.claims.Verdict prints it (not imported from there: this module
# runs notebooks and must not need torch)
OUTCOMES = ("HELD", "NOT HELD", "INCONCLUSIVE", "NOT TESTED")
_CLAIM_LINE = re.compile(r"^(\S+) (NOT HELD|NOT TESTED|INCONCLUSIVE|HELD)\b")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# nbconvert's lab template without any CDN script (require.js, mermaid, MathJax), so a
# page needs no network: figures are inline PNGs and the CSS is inline. (Markdown math,
# if a notebook ever uses it, then shows as its TeX source.)
_PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
"""


class ReportError(Exception):
    """Bad input (parameters file, --only): reported as one line, exit status 2."""


@dataclass
class ChapterResult:
    """The outcome of one notebook, as shown in the index and report.json."""

    number: str
    name: str
    status: str  # PASSED | FAILED
    seconds: float
    parameters: dict[str, Any]
    verdicts: list[str] = field(default_factory=list)
    error: str | None = None  # last line of the error, when failed
    page: str | None = None  # HTML page, relative to the report folder
    notebook: str | None = None  # executed notebook, relative to the report folder
    previous_page: str | None = None  # kept page of the last passing build, when failed
    built: str = ""  # date of the build that produced this entry
    scale: str = "cpu"  # the scale whose runs the chapter evaluated


# chapters built once per scale whose runs are trained (the notebook's own defaults are the cpu
# scale's); the extra parameters each such build gets beyond ``scale``
PER_SCALE = {"01": {"small": {"seed_runs": [n for n in run_names("small") if n.endswith("-seed1")]}},
             "02": {"small": {}}}


def has_trained_runs(scale: str) -> bool:
    """Whether any run of ``scale`` is finished (its folder holds model.safetensors)."""
    return any((scale_dir(scale) / n / "model.safetensors").exists() for n in run_names(scale))


def builds_of(src: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(page name, scale, parameters) of every build of one notebook: its defaults (cpu), and for
    the chapters of :data:`PER_SCALE` one more per other scale with trained runs, named
    ``NN_name-<scale>``."""
    out = [(src.stem, "cpu", {})]
    for scale, extra in PER_SCALE.get(number_of(src), {}).items():
        if scale != "cpu" and has_trained_runs(scale):
            out.append((f"{src.stem}-{scale}", scale, {"scale": scale, **extra}))
    return out


# --------------------------------------------------------------------------- inputs


def discover(notebooks_dir: Path | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb``, sorted by name."""
    return sorted(Path(notebooks_dir or NOTEBOOKS).glob(NOTEBOOK_GLOB))


def number_of(notebook: Path) -> str:
    return notebook.name[:2]


def select(notebooks: list[Path], only: str | None) -> list[Path]:
    """Restrict to the comma-separated numbers of ``only`` (``"01,04"``); None keeps all."""
    if only is None:
        return notebooks
    wanted = [s.strip() for s in only.split(",") if s.strip()]
    bad = [s for s in wanted if not s.isdigit() or len(s) > 2]
    if not wanted or bad:
        raise ReportError(f"--only {only!r}: expected comma-separated notebook numbers such as 01,04")
    wanted = [s.zfill(2) for s in wanted]
    available = sorted({number_of(p) for p in notebooks})
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise ReportError(f"--only: no notebook numbered {', '.join(unknown)}; "
                          f"available: {', '.join(available) or '(none)'}")
    return [p for p in notebooks if number_of(p) in wanted]


def _params_key(key: Any, path: Path) -> str:
    if key == "all" or (isinstance(key, str) and re.fullmatch(r"\d\d", key)):
        return key
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 99:
        return f"{key:02d}"  # unquoted 01..07 (YAML octal) and 10..99
    raise ReportError(f"params file {path}: bad key {key!r}; keys must be 'all' or a two-digit "
                      "notebook number such as '01'")


def _params_value(key: str, value: Any, path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReportError(f"params file {path}: value of {key!r} must be a mapping of parameter "
                          f"names to values, got {type(value).__name__} {value!r}")
    for name in value:
        if not isinstance(name, str) or not name.isidentifier():
            raise ReportError(f"params file {path}: under {key!r}, {name!r} is not a valid parameter name")
    return dict(value)


def _yaml_problem(e: Exception) -> str:
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    if mark is not None and problem:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def load_params(path: Path | str | None) -> dict[str, dict[str, Any]]:
    """Read and validate the YAML parameters file (None: no parameters)."""
    if path is None:
        return {}
    import yaml

    path = Path(path)
    if not path.exists():
        raise ReportError(f"params file {path}: not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ReportError(f"params file {path}: cannot be read ({e.strerror or e})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ReportError(f"params file {path}: not valid YAML ({_yaml_problem(e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ReportError(f"params file {path}: the top level must be a mapping of 'all' or notebook "
                          f"numbers to parameter mappings, got {type(data).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        k = _params_key(key, path)
        if k in out:
            raise ReportError(f"params file {path}: key {k!r} appears twice")
        out[k] = _params_value(k, value, path)
    return out


def params_for(params: dict[str, dict[str, Any]], notebook: Path) -> dict[str, Any]:
    """The parameters of one notebook: ``all`` overridden by its number's entry."""
    return {**params.get("all", {}), **params.get(number_of(notebook), {})}


def warn_unused_keys(params: dict[str, dict[str, Any]], notebooks: list[Path]) -> list[str]:
    """Messages for parameter keys that match no notebook (likely typos)."""
    available = {number_of(p) for p in notebooks}
    return [f"warning: parameters for {k!r} match no notebook (available: {', '.join(sorted(available)) or 'none'})"
            for k in params if k != "all" and k not in available]


# --------------------------------------------------------------------------- execution


@contextlib.contextmanager
def _kernel_environment() -> Iterator[None]:
    """Unset MPLBACKEND while kernels run: with it set, inline figures vanish."""
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved


def error_summary(exc: BaseException) -> str:
    """One line for the index: ``ExceptionName: last line of its message``.

    For a cell error this is the last line of the cell's traceback; for other
    failures (timeout, kernel start) the first line of the message, which says what
    happened (the rest is a preview of the cell).
    """
    import papermill as pm

    if isinstance(exc, pm.PapermillExecutionError):
        lines = [ln.strip() for ln in _ANSI.sub("", str(exc.evalue or "")).splitlines() if ln.strip()]
        return f"{exc.ename}: {lines[-1]}" if lines else str(exc.ename)
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def execute(src: Path, dst: Path, parameters: dict[str, Any], timeout: int, cwd: Path) -> tuple[str | None, float]:
    """Run ``src`` with papermill into ``dst``: (error line or None, seconds).

    papermill writes ``dst`` even when a cell fails; it may be missing only when the
    kernel could not start.
    """
    import papermill as pm

    start = time.monotonic()
    try:
        with _kernel_environment():
            pm.execute_notebook(str(src), str(dst), parameters=parameters or None, kernel_name=KERNEL,
                                cwd=str(cwd), progress_bar=False, execution_timeout=timeout,
                                start_timeout=START_TIMEOUT)
        error = None
    except Exception as e:  # noqa: BLE001 - any failure of one notebook is reported, not raised
        error = error_summary(e)
    return error, round(time.monotonic() - start, 1)


def extract_verdicts(nb: Any) -> list[str]:
    """The stdout lines of the code cell(s) marked ``# VERDICT``."""
    lines: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code" or VERDICT_MARK not in cell.source:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                lines += [ln.strip() for ln in _ANSI.sub("", out.get("text", "")).splitlines() if ln.strip()]
    return lines


# --------------------------------------------------------------------------- html pages


def make_exporter(show_code: bool = False) -> Any:
    """nbconvert's HTML exporter for chapter pages (code hidden unless ``show_code``)."""
    import jinja2
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", exclude_input=not show_code,
                        extra_loaders=[jinja2.DictLoader({"icl_page.html.j2": _PAGE_TEMPLATE})],
                        template_file="icl_page.html.j2")


def render_page(exporter: Any, nb: Any, title: str) -> str:
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb)
    return body


def claim_outcome(line: str) -> str | None:
    """The outcome of a claim's line (``C1 INCONCLUSIVE``), None for a detail line (whose
    text may name an outcome too, e.g. ``strict (every k within 0.05): NOT HELD``)."""
    m = _CLAIM_LINE.match(line)
    return m.group(2) if m else None


def verdict_class(line: str) -> str:
    """The CSS class of a verdict line: its claim's outcome (``not-held``...), or ``other``."""
    found = claim_outcome(line)
    return found.lower().replace(" ", "-") if found else "other"


def count_outcomes(results: list[ChapterResult]) -> dict[str, int]:
    """How many claims of ``results`` have each outcome (every outcome listed, 0 included)."""
    found = [claim_outcome(v) for r in results for v in r.verdicts]
    return {o: found.count(o) for o in OUTCOMES}


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem;color:#1d1d1f}
h1{margin-bottom:.2rem}.summary{color:#555;margin-top:0}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.5rem;text-align:left;
vertical-align:top}th{background:#f5f5f7}
.status{font-weight:600;padding:.1rem .45rem;border-radius:.3rem;white-space:nowrap}
.passed{background:#e3f5e1;color:#1b5e20}.failed{background:#fde2e1;color:#b71c1c}
.error{color:#b71c1c;font-family:ui-monospace,monospace;font-size:.85rem;margin-top:.3rem}
code{font-family:ui-monospace,monospace;font-size:.85rem;background:#f5f5f7;padding:.05rem .25rem}
ul.verdicts{margin:0;padding-left:1.1rem}li.held{color:#1b5e20}li.not-held{color:#b71c1c}
li.inconclusive{color:#8a5a00}li.not-tested{color:#555}
table.matrix{width:auto;margin:1rem 0 2rem}table.matrix td.cell{text-align:center;font-weight:600;min-width:9rem}
td.held{background:#e3f5e1}td.not-held{background:#fde2e1}td.inconclusive{background:#fff3cd}
td.not-tested{background:#eee}td.cell a{color:inherit}
.old{color:#777;font-size:.85rem}footer{margin-top:2rem;color:#555;font-size:.85rem}
"""


def _link(href: str | None, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>' if href else html.escape(text)


def _chapter_row(r: ChapterResult, built: str) -> str:
    links = _link(r.page, r.name)
    if r.previous_page:
        links += f'<div class="old">{_link(r.previous_page, "last passing version")}</div>'
    if r.built and r.built != built:
        links += f'<div class="old">from the build of {html.escape(r.built)}</div>'
    status = f'<span class="status {html.escape(r.status)}">{html.escape(r.status)}</span>'
    if r.error:
        status += f'<div class="error">{html.escape(r.error)}</div>'
    params = f"<code>{html.escape(json.dumps(r.parameters, sort_keys=True))}</code>" if r.parameters else "defaults"
    verdicts = "".join(f'<li class="{verdict_class(v)}">{html.escape(v)}</li>' for v in r.verdicts)
    verdicts = f'<ul class="verdicts">{verdicts}</ul>' if verdicts else "&ndash;"
    return (f"<tr><td>{html.escape(r.number)}</td><td>{links}</td><td>{status}</td>"
            f"<td>{r.seconds:.1f}</td><td>{params}</td><td>{verdicts}</td></tr>")


def claims_by_scale(results: list[ChapterResult]) -> dict[str, dict[str, tuple[str, str | None]]]:
    """claim -> scale -> (outcome, page) from every chapter's verdict lines."""
    table: dict[str, dict[str, tuple[str, str | None]]] = {}
    for r in results:
        for line in r.verdicts:
            found = claim_outcome(line)
            if found:
                table.setdefault(line.split(" ", 1)[0], {})[r.scale] = (found, r.page)
    return table


def render_matrix(results: list[ChapterResult]) -> str:
    """The claims-by-scale table: one cell per claim and scale (its outcome, linking to its page),
    NOT TESTED where no chapter evaluated the claim at that scale."""
    table = claims_by_scale(results)
    scales = [s for s in SCALES if any(s in row for row in table.values())]
    if not table:
        return ""
    head = "".join(f"<th>{html.escape(s)} scale</th>" for s in scales)
    rows = []
    for claim in sorted(table, key=lambda c: (len(c), c)):
        cells = []
        for s in scales:
            outcome_, page = table[claim].get(s, ("NOT TESTED", None))
            css = outcome_.lower().replace(" ", "-")
            cells.append(f'<td class="cell {css}">{_link(page, outcome_)}</td>')
        rows.append(f"<tr><th>{html.escape(claim)}</th>{''.join(cells)}</tr>")
    return (f'<table class="matrix"><tr><th>claim</th>{head}</tr>\n' + "\n".join(rows) + "\n</table>\n")


def render_index(info: dict[str, Any], results: list[ChapterResult]) -> str:
    """The self-contained index page (inline CSS, no external resource)."""
    n_failed = sum(r.status == FAILED for r in results)
    if results:
        claims = ", ".join(f"{n} {o}" for o, n in count_outcomes(results).items())
        summary = f"{len(results)} chapters: {len(results) - n_failed} passed, {n_failed} failed. Claims: {claims}."
        rows = "\n".join(_chapter_row(r, info["built"]) for r in results)
        body = (render_matrix(results) +
                "<table><tr><th>#</th><th>chapter</th><th>status</th><th>seconds</th>"
                f"<th>parameters</th><th>claim verdicts</th></tr>\n{rows}\n</table>")
    else:
        summary = "No notebooks yet."
        body = f"<p>No notebooks matching <code>{html.escape(info['pattern'])}</code> were found.</p>"
    params_file = f", parameters from <code>{html.escape(info['params_file'])}</code>" if info["params_file"] else ""
    versions = ", ".join(f"{html.escape(k)} {html.escape(str(v))}" for k, v in info["versions"].items())
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>ICL study report</title><style>{_CSS}</style></head><body>\n"
            f"<h1>ICL study report</h1><p class=\"summary\">{html.escape(summary)}</p>\n{body}\n"
            f"<footer><p>Built {html.escape(info['built'])} from commit <code>{html.escape(info['commit'])}</code>"
            f"{params_file}.</p><p>{versions}</p></footer>\n</body></html>\n")


# --------------------------------------------------------------------------- provenance


def build_info(params_file: Path | str | None, notebooks_dir: Path) -> dict[str, Any]:
    """Commit, versions, date and options of this build (footer and report.json)."""
    import nbconvert
    import papermill

    from .checkpoint import git_commit, versions

    try:
        shown_dir = str(notebooks_dir.relative_to(ROOT))
    except ValueError:
        shown_dir = str(notebooks_dir)
    return {
        "built": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "versions": {**versions(), "papermill": papermill.__version__, "nbconvert": nbconvert.__version__},
        "params_file": str(params_file) if params_file else None,
        "pattern": f"{shown_dir}/{NOTEBOOK_GLOB}",
    }


def previous_results(out: Path) -> dict[str, ChapterResult]:
    """Entries of the previous report.json by chapter name (empty if none or unreadable)."""
    try:
        data = json.loads((out / "report.json").read_text(encoding="utf-8"))
        return {c["name"]: ChapterResult(**c) for c in data["chapters"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


# --------------------------------------------------------------------------- building


def _render(executed: Path, exporter: Any) -> tuple[list[str], str | None, str | None]:
    """(verdicts, page HTML or None, error line or None) of an executed notebook."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
        return extract_verdicts(nb), render_page(exporter, nb, executed.stem), None
    except Exception as e:  # noqa: BLE001 - a page that cannot be rendered is reported, not fatal
        return [], None, f"HTML export: {error_summary(e)}"


def build_chapter(src: Path, stage: Path, out: Path, parameters: dict[str, Any], timeout: int,
                  exporter: Any, built: str, name: str | None = None, scale: str = "cpu") -> ChapterResult:
    """Execute one notebook into the staging folder and render its page there, as page
    ``name`` (default: the notebook's own name).

    A passing chapter's files go to ``executed/`` and the top level; a failing one's
    to ``failed/`` (see the failure rule in the module docstring).
    """
    name = name or src.stem
    executed = stage / "executed" / f"{name}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    error, seconds = execute(src, executed, parameters, timeout, src.parent)
    verdicts, page = [], None
    if executed.exists():
        verdicts, page, render_error = _render(executed, exporter)
        error = error or render_error
    result = ChapterResult(number_of(src), name, FAILED if error else PASSED, seconds, parameters,
                           verdicts=verdicts, error=error, built=built, scale=scale)
    sub = ""
    if error:
        sub = "failed/"
        (stage / "failed").mkdir(exist_ok=True)
        if (out / f"{name}.html").exists():
            result.previous_page = f"{name}.html"
    if executed.exists():
        result.notebook = f"{sub or 'executed/'}{name}.ipynb"
        executed.replace(stage / result.notebook)
    if page is not None:
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
        if r.status == PASSED:
            for suffix in (".html", ".ipynb"):
                (out / "failed" / f"{r.name}{suffix}").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (out / "failed").rmdir()  # only if empty


def write_summary(stage: Path, info: dict[str, Any], results: list[ChapterResult]) -> None:
    data = {**info, "passed": all(r.status == PASSED for r in results), "claims": count_outcomes(results),
            "chapters": [asdict(r) for r in results]}
    (stage / "report.json").write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n",
                                       encoding="utf-8")
    (stage / "index.html").write_text(render_index(info, results), encoding="utf-8")


def _progress(items: list[Path]) -> Iterator[Path]:
    from tqdm.auto import tqdm

    bar = tqdm(items, desc="notebooks", unit="nb")
    for item in bar:
        bar.set_postfix_str(item.stem)
        yield item


def _log(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message)


def _prepare(notebooks_dir: Path | None, params_file: Path | str | None, only: str | None
             ) -> tuple[Path, dict, list[Path], list[Path]]:
    """Resolve the notebooks folder, read the parameters, pick the notebooks to run."""
    notebooks_dir = Path(notebooks_dir or NOTEBOOKS).resolve()  # papermill chdirs while running
    params = load_params(params_file)
    available = discover(notebooks_dir)
    chosen = select(available, only)
    for line in warn_unused_keys(params, available):
        _log(line)
    return notebooks_dir, params, available, chosen


def build_report(out: Path | str | None = None, params_file: Path | str | None = None, only: str | None = None,
                 show_code: bool = False, timeout: int = DEFAULT_TIMEOUT,
                 notebooks_dir: Path | None = None, screenshot: bool = False) -> int:
    """Build the report into ``out`` (see the module docstring); the exit status.
    ``screenshot`` also refreshes ``<out>/index.png`` in headless Chromium if present."""
    from .checkpoint import RunLockedError, run_lock

    notebooks_dir, params, available, chosen = _prepare(notebooks_dir, params_file, only)
    out = Path(out).resolve() if out else REPORTS
    try:
        with run_lock(out, what="report folder"):  # one build per report folder
            return _build_report(out, params_file, params, available, chosen, show_code, timeout, notebooks_dir,
                                 screenshot)
    except RunLockedError as e:
        raise ReportError(str(e)) from None


def _build_report(out: Path, params_file, params: dict, available: list[Path], chosen: list[Path], show_code: bool,
                  timeout: int, notebooks_dir: Path, screenshot: bool) -> int:
    """The build behind :func:`build_report`, under the report folder's lock."""
    out.mkdir(parents=True, exist_ok=True)
    info = build_info(params_file, notebooks_dir)
    previous = previous_results(out)
    exporter = make_exporter(show_code) if chosen else None
    stage = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=out))
    try:
        built: dict[str, ChapterResult] = {}
        for src in _progress(chosen):
            for name, scale, extra in builds_of(src):
                r = build_chapter(src, stage, out, {**params_for(params, src), **extra}, timeout, exporter,
                                  info["built"], name=name, scale=scale)
                _log(f"{r.name}: {r.status} ({r.seconds:.1f} s){' - ' + r.error if r.error else ''}")
                built[r.name] = r
        results = [built.get(name) or previous.get(name) for p in available for name, _, _ in builds_of(p)]
        results = [r for r in results if r is not None]
        write_summary(stage, info, results)
        publish(stage, out)
        drop_stale_failures(out, list(built.values()))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if screenshot:
        _screenshot(out)
    return 1 if any(r.status == FAILED for r in built.values()) else 0


def _screenshot(out: Path) -> None:
    """Refresh ``<out>/index.png`` in headless Chromium when one is installed (else say so)."""
    from . import browser

    if browser.find_chromium() is None:
        _log("index.png not refreshed: no headless Chromium found (apt-get install chromium)")
        return
    try:
        browser.screenshot(out / "index.html", out / "index.png")
        _log(f"screenshot: {out / 'index.png'}")
    except browser.BrowserError as e:
        _log(f"index.png not refreshed: {e}")


def refresh_in_place(params_file: Path | str | None = None, only: str | None = None,
                     timeout: int = DEFAULT_TIMEOUT, notebooks_dir: Path | None = None) -> int:
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
        _log(f"{src.name}: {'refreshed' if error is None else 'FAILED, left unchanged - ' + error} ({seconds:.1f} s)")
    return 1 if failed else 0


__all__ = [
    "ReportError", "ChapterResult", "build_report", "refresh_in_place", "discover", "select", "load_params",
    "params_for", "extract_verdicts", "claim_outcome", "verdict_class", "count_outcomes", "render_index", "NOTEBOOKS",
    "PER_SCALE", "builds_of", "has_trained_runs", "claims_by_scale", "render_matrix",
    "VERDICT_MARK", "OUTCOMES",
]

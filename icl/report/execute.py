"""Running a notebook and rendering its page: papermill and nbconvert.

This module owns the two tools the report drives: :func:`execute` runs one notebook with
papermill (kernel ``python3``, working directory the notebook's folder, a per-cell
timeout, the parameters injected) and sums a failure up in one line
(:func:`error_summary`); :func:`make_exporter` and :func:`render_page` turn an executed
notebook into its chapter page with nbconvert (``lab`` template, code hidden unless asked,
figures inline, no CDN script; the verdict data left out, see :mod:`icl.report.verdicts`).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .verdicts import without_verdict_data

__all__ = [
    "KERNEL",
    "START_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "error_summary",
    "execute",
    "make_exporter",
    "render_page",
]

KERNEL = "python3"
START_TIMEOUT = 120
DEFAULT_TIMEOUT = 1800
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# nbconvert's lab template without any CDN script (require.js, mermaid, MathJax), so a
# page needs no network: figures are inline PNGs and the CSS is inline. (Markdown math,
# if a notebook ever uses it, then shows as its TeX source.)
_PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
"""


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


def execute(
    src: Path, dst: Path, parameters: dict[str, Any], timeout: int, cwd: Path
) -> tuple[str | None, float]:
    """Run ``src`` with papermill into ``dst``: (error line or None, seconds).

    papermill writes ``dst`` even when a cell fails; it may be missing only when the
    kernel could not start.
    """
    import papermill as pm

    start = time.monotonic()
    try:
        with _kernel_environment():
            pm.execute_notebook(
                str(src),
                str(dst),
                parameters=parameters or None,
                kernel_name=KERNEL,
                cwd=str(cwd),
                progress_bar=False,
                execution_timeout=timeout,
                start_timeout=START_TIMEOUT,
            )
        error = None
    except Exception as e:  # noqa: BLE001 - any failure of one notebook is reported, not raised
        error = error_summary(e)
    return error, round(time.monotonic() - start, 1)


def make_exporter(show_code: bool = False) -> Any:
    """nbconvert's HTML exporter for chapter pages (code hidden unless ``show_code``)."""
    import jinja2
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        exclude_input=not show_code,
        extra_loaders=[jinja2.DictLoader({"icl_page.html.j2": _PAGE_TEMPLATE})],
        template_file="icl_page.html.j2",
    )


def render_page(exporter: Any, nb: Any, title: str) -> str:
    """The chapter page of an executed notebook, titled ``title`` (the notebook is not changed)."""
    page = without_verdict_data(nb)
    page.metadata["title"] = title
    body, _ = exporter.from_notebook_node(page)
    return body

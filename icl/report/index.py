"""The index page: one self-contained HTML file that sums the build up.

This module owns ``index.html``: a summary line (chapters passed and failed, claims per
outcome, those not tested on an unmet precondition counted apart), the claims-by-scale
matrix (one cell per claim and scale, its outcome linking to the chapter page that decided
it, a NOT TESTED cell of an unmet precondition with its one-line reason), one row per chapter (status, the error's last line,
seconds, parameters, the verdicts' lines, the heading of each coloured by its outcome) and
a footer with the commit, the versions and the build date. Inline CSS, no external resource.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..config import SCALES
from .results import FAILED, ChapterResult, claims_by_scale, count_outcomes, count_preconditions
from .verdicts import ClaimVerdict, outcome_class

__all__ = ["render_matrix", "render_index"]

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
td.not-tested{background:#eee}td.cell a{color:inherit}.why{font-weight:400;font-size:.8rem;max-width:16rem}
.old{color:#777;font-size:.85rem}footer{margin-top:2rem;color:#555;font-size:.85rem}
"""


def _link(href: str | None, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>' if href else html.escape(text)


def _verdict_items(v: ClaimVerdict) -> str:
    """A verdict's lines as list items: the heading in its outcome's colour, the others plain."""
    lines = [ln.strip() for ln in v.lines if ln.strip()]
    return "".join(f'<li class="{outcome_class(v.outcome) if i == 0 else "other"}">{html.escape(ln)}</li>'
                   for i, ln in enumerate(lines))


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
    verdicts = "".join(_verdict_items(v) for v in r.verdicts)
    verdicts = f'<ul class="verdicts">{verdicts}</ul>' if verdicts else "&ndash;"
    return (f"<tr><td>{html.escape(r.number)}</td><td>{links}</td><td>{status}</td>"
            f"<td>{r.seconds:.1f}</td><td>{params}</td><td>{verdicts}</td></tr>")


def render_matrix(results: list[ChapterResult]) -> str:
    """The claims-by-scale table: one cell per claim and scale (its outcome, linking to its page),
    NOT TESTED where no chapter evaluated the claim at that scale; a claim not tested because its
    precondition failed reads "NOT TESTED (precondition)" with the reason under it."""
    table = claims_by_scale(results)
    scales = [s for s in SCALES if any(s in row for row in table.values())]
    if not table:
        return ""
    head = "".join(f"<th>{html.escape(s)} scale</th>" for s in scales)
    rows = []
    for claim in sorted(table, key=lambda c: (len(c), c)):
        cells = []
        for s in scales:
            outcome, page, why = table[claim].get(s, ("NOT TESTED", None, None))
            text = _link(page, f"{outcome} (precondition)" if why else outcome)
            if why:
                text += f'<div class="why">{html.escape(why)}</div>'
            cells.append(f'<td class="cell {outcome_class(outcome)}">{text}</td>')
        rows.append(f"<tr><th>{html.escape(claim)}</th>{''.join(cells)}</tr>")
    return (f'<table class="matrix"><tr><th>claim</th>{head}</tr>\n' + "\n".join(rows) + "\n</table>\n")


def render_index(info: dict[str, Any], results: list[ChapterResult]) -> str:
    """The self-contained index page (inline CSS, no external resource)."""
    n_failed = sum(r.status == FAILED for r in results)
    if results:
        counts, unmet = count_outcomes(results), count_preconditions(results)
        tested = ", ".join(f"{n} {o}" for o, n in counts.items() if o != "NOT TESTED")
        summary = (f"{len(results)} chapters: {len(results) - n_failed} passed, {n_failed} failed. Claims tested: "
                   f"{tested}. Not tested: {unmet} with a precondition unmet, {counts['NOT TESTED'] - unmet} "
                   f"lacking a run or a value.")
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

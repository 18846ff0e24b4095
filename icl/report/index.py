"""The index page: the study's summary, one self-contained HTML file.

This module owns ``index.html``: the build's bar (its commit, a warning when the tree had
uncommitted changes: :mod:`icl.report.stamp`), a summary line (chapters passed and failed,
claims per outcome over the cells that were run, those not tested on an unmet precondition
counted apart), the claims matrix (:func:`render_matrix`: each claim with its text, one column
per scale and training seed, an outcome linking to the chapter page that decided it, ``n/a``
where a claim is not run at a scale, a NOT TESTED cell with its one-line reason; the grid is
:func:`icl.report.readme_table.results_grid`, the README's), the headline figure, one card per
chapter (its title, each verdict in one short sentence: the heading, its training seed when not
0, and the first detail line; the full text stays on the chapter page) and the build's details
(per chapter: status, the error's last line, seconds, parameters) with a footer: commit,
versions, build date. Inline CSS, no external resource.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from typing import Any

from .readme_table import CLAIM_TEXTS, NOT_RUN, results_grid, single_seed_note
from .results import BuildStatus, ChapterResult, count_outcomes, count_preconditions
from .stamp import build_bar
from .verdicts import ClaimVerdict, Outcome, outcome_class

__all__ = ["SHORT", "render_matrix", "verdict_sentence", "render_cards", "render_index"]

SHORT = 200  # characters of a verdict's detail line shown in a card or a matrix cell

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto 2rem;max-width:72rem;
padding:0 1rem;color:#1d1d1f}
h1{margin-bottom:.2rem}.summary{color:#555;margin-top:0}h2{margin-top:2rem}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.5rem;text-align:left;
vertical-align:top}th{background:#f5f5f7}
.status{font-weight:600;padding:.1rem .45rem;border-radius:.3rem;white-space:nowrap}
.passed{background:#e3f5e1;color:#1b5e20}.failed{background:#fde2e1;color:#b71c1c}
.error{color:#b71c1c;font-family:ui-monospace,monospace;font-size:.85rem;margin-top:.3rem}
code{font-family:ui-monospace,monospace;font-size:.85rem;background:#f5f5f7;padding:.05rem .25rem}
ul.verdicts{margin:.4rem 0 0;padding-left:1.1rem}li.held .outcome{color:#1b5e20}\
li.not-held .outcome{color:#b71c1c}
li.inconclusive .outcome{color:#8a5a00}li.not-tested .outcome{color:#555}.outcome{font-weight:600}
table.matrix td.cell{text-align:center;font-weight:600;min-width:8rem}table.matrix th.claim{font-weight:400;
max-width:34rem}table.matrix th.claim b{margin-right:.3rem}
td.held{background:#e3f5e1}td.not-held{background:#fde2e1}td.inconclusive{background:#fff3cd}
td.not-tested{background:#eee}td.n-a{color:#999;font-weight:400}td.cell a{color:inherit}
.why{font-weight:400;font-size:.8rem;max-width:16rem}.note{color:#555;font-size:.9rem}
figure{margin:1.5rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(21rem,1fr));gap:1rem}
.card{border:1px solid #ddd;border-radius:.5rem;padding:.8rem 1rem}\
.card h3{margin:0 0 .2rem;font-size:1.05rem}
.scale{color:#555;font-size:.85rem}.old{color:#777;font-size:.85rem}footer{margin-top:2rem;color:#555;font-size:.85rem}
.dirty{background:#fde2e1;color:#b71c1c;font-weight:600;padding:.5rem 1rem;border-radius:.3rem}
"""


def _link(href: str | None, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>' if href else html.escape(text)


def _shorten(text: str, limit: int = SHORT) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


def _detail(lines: Any) -> str:
    """A verdict's first detail line (the line after its heading), stripped; "" if it has none."""
    rest = [ln.strip() for ln in list(lines)[1:] if ln.strip()]
    return rest[0] if rest else ""


def verdict_sentence(v: ClaimVerdict) -> str:
    """A verdict as one short list item: its heading (``C1 NOT HELD``, with ``(seed 1)`` for a verdict
    on a second training seed's runs) in its outcome's colour, then its first detail line shortened
    to about :data:`SHORT` characters."""
    head = v.lines[0].strip() if v.lines else f"{v.claim} {v.outcome}"
    head += f" (seed {v.seed})" if v.seed else ""
    detail = _detail(v.lines)
    detail = f": {html.escape(_shorten(detail))}" if detail else ""
    return (
        f'<li class="{outcome_class(v.outcome)}"><span '
        f'class="outcome">{html.escape(head)}</span>{detail}</li>'
    )


def _title(r: ChapterResult) -> str:
    return r.title or r.name


def _as_report(results: list[ChapterResult]) -> dict[str, Any]:
    """``results`` as report.json's ``chapters`` (the data :func:`results_grid` reads)."""
    return {
        "chapters": [
            {
                "number": r.number,
                "name": r.name,
                "scale": r.scale,
                "page": r.page,
                "verdicts": [asdict(v) for v in r.verdicts],
            }
            for r in results
        ]
    }


def render_matrix(results: list[ChapterResult]) -> str:
    """The claims matrix: one row per claim with its text (:data:`CLAIM_TEXTS`), one column per
    scale and training seed recorded, each cell its outcome linking to the page that decided it;
    ``n/a`` where a claim is not run at that scale; a NOT TESTED cell shows its reason ("NOT
    TESTED (precondition)" when its precondition failed). A scale whose second-seed runs are not
    recorded gets a one-line note under the table."""
    grid = results_grid(_as_report(results), strict=False)
    if not grid.cells:
        return ""

    def column(scale: str, seed: int) -> str:
        return f"{scale} scale" + (f", seed {seed}" if grid.split[scale] or seed else "")

    head = "".join(f"<th>{html.escape(column(*col))}</th>" for col in grid.columns)
    rows = []
    for claim, row in grid.cells.items():
        text = CLAIM_TEXTS.get(claim, "")
        cells = []
        for col in grid.columns:
            v = row.get(col)
            if v is None:
                cells.append(f'<td class="cell n-a">{NOT_RUN}</td>')
                continue
            why = v.get("precondition")
            outcome = v["outcome"]
            cell = _link(
                grid.chapters[claim][col].get("page"), f"{outcome} (precondition)" if why else outcome
            )
            reason = (why or _detail(v["lines"])) if outcome == Outcome.NOT_TESTED else ""
            if reason:
                cell += f'<div class="why">{html.escape(_shorten(reason))}</div>'
            cells.append(f'<td class="cell {outcome_class(outcome)}">{cell}</td>')
        rows.append(
            f'<tr><th class="claim"><b>{html.escape(claim)}</b>'
            f'<span class="scale">ch. {html.escape(grid.chapter_of[claim])}</span> '
            f"{html.escape(text)}</th>{''.join(cells)}</tr>"
        )
    notes = [f"{NOT_RUN}: the claim is not run at that scale."]
    notes += [f"{s} scale: {single_seed_note(s)}" for s in grid.single_seed_scales()]
    notes_html = "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
    return (
        f'<table class="matrix"><tr><th>claim</th>{head}</tr>\n'
        + "\n".join(rows)
        + "\n</table>\n"
        + notes_html
        + "\n"
    )


def _card(r: ChapterResult, built: str) -> str:
    failed = r.status == BuildStatus.FAILED
    status = f' <span class="status failed">{html.escape(r.status)}</span>' if failed else ""
    old = (
        f'<div class="old">from the build of {html.escape(r.built)}</div>'
        if r.built and r.built != built
        else ""
    )
    error = f'<div class="error">{html.escape(r.error)}</div>' if r.error else ""
    items = "".join(verdict_sentence(v) for v in r.verdicts)
    items = f'<ul class="verdicts">{items}</ul>' if items else '<p class="note">No claim verdicts.</p>'
    link = f"<p>{_link(r.page, 'Read the chapter')}</p>" if r.page else ""
    return (
        f'<div class="card"><h3>{_link(r.page, _title(r))}{status}</h3>'
        f'<div class="scale">{html.escape(r.scale)} scale</div>{old}{error}{items}{link}</div>'
    )


def render_cards(results: list[ChapterResult], built: str = "") -> str:
    """One card per chapter: its title linking to its page, its scale, each verdict in one
    sentence (:func:`verdict_sentence`), a failure's error line."""
    return '<div class="cards">\n' + "\n".join(_card(r, built) for r in results) + "\n</div>\n"


def _details_row(r: ChapterResult, built: str) -> str:
    links = _link(r.page, r.name)
    if r.previous_page:
        links += f'<div class="old">{_link(r.previous_page, "last passing version")}</div>'
    if r.built and r.built != built:
        links += f'<div class="old">from the build of {html.escape(r.built)}</div>'
    status = f'<span class="status {html.escape(r.status)}">{html.escape(r.status)}</span>'
    if r.error:
        status += f'<div class="error">{html.escape(r.error)}</div>'
    params = (
        f"<code>{html.escape(json.dumps(r.parameters, sort_keys=True))}</code>"
        if r.parameters
        else "defaults"
    )
    return (
        f"<tr><td>{html.escape(r.number)}</td><td>{links}</td><td>{status}</td>"
        f"<td>{r.seconds:.1f}</td><td>{params}</td></tr>"
    )


def _summary(results: list[ChapterResult]) -> str:
    n_failed = sum(r.status == BuildStatus.FAILED for r in results)
    counts, unmet = count_outcomes(results), count_preconditions(results)
    tested = ", ".join(f"{n} {o}" for o, n in counts.items() if o != Outcome.NOT_TESTED)
    return (
        f"{len(results)} chapters: {len(results) - n_failed} passed, {n_failed} failed. "
        f"{sum(counts.values())} verdicts, one per cell of the claims matrix that was run ({NOT_RUN} cells "
        f"are not counted). Claims tested: {tested}. Not tested: {unmet} with a precondition unmet, "
        f"{counts[Outcome.NOT_TESTED] - unmet} lacking a run or a value."
    )


def _figure(results: list[ChapterResult], headline: str | None) -> str:
    if not headline:
        return ""
    title = next((f"{_title(r)}, at the {r.scale} scale" for r in results if r.name == headline), headline)
    caption = f"Headline figure of {title}."
    return (
        f'<figure><img src="figures/{html.escape(headline)}.png" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>\n"
    )


def render_index(info: dict[str, Any], results: list[ChapterResult], headline: str | None = None) -> str:
    """The self-contained index page (inline CSS, no external resource); ``headline`` names the
    page whose ``figures/<headline>.png`` is shown under the matrix (None: no figure)."""
    if results:
        summary = _summary(results)
        rows = "\n".join(_details_row(r, info["built"]) for r in results)
        body = (
            "<h2>Claims</h2>\n"
            + render_matrix(results)
            + _figure(results, headline)
            + "<h2>Chapters</h2>\n"
            + render_cards(results, info["built"])
            + "<h2>Build details</h2>\n<table><tr><th>#</th><th>chapter</th><th>status</th><th>seconds</th>"
            f"<th>parameters</th></tr>\n{rows}\n</table>"
        )
    else:
        summary = "No notebooks yet."
        body = f"<p>No notebooks matching <code>{html.escape(info['pattern'])}</code> were found.</p>"
    dirty = ""
    if info.get("dirty"):
        changed = ", ".join(info.get("uncommitted") or [])
        dirty = (
            f'<p class="dirty">Built from a tree with uncommitted changes ({html.escape(changed)}): '
            "these pages are not reproducible from the commit they name.</p>\n"
        )
    params_file = (
        f", parameters from <code>{html.escape(info['params_file'])}</code>" if info["params_file"] else ""
    )
    versions = ", ".join(f"{html.escape(k)} {html.escape(str(v))}" for k, v in info["versions"].items())
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ICL study report</title><style>{_CSS}</style></head><body>\n"
        f"{build_bar(info, None)}\n"
        f'<h1>ICL study report</h1>{dirty}<p class="summary">{html.escape(summary)}</p>\n{body}\n'
        f"<footer><p>Built {html.escape(info['built'])} from commit "
        f"<code>{html.escape(info['commit'])}</code>"
        f"{params_file}.</p><p>{versions}</p></footer>\n</body></html>\n"
    )

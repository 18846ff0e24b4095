"""One build, one commit: the build's provenance stamped on every page, and the check that they agree.

This module owns what ties the report's files to the code that made them: the uncommitted
changes of the checkout that count (:func:`uncommitted_changes`: whatever
``git status --porcelain`` lists outside :data:`IGNORED`, the report's own outputs and the long
trainings' resumable files, which change while a build runs; a build from a tree with such
changes is *dirty*), the bar that names the build (:func:`build_bar`: a link back to the index,
the commit, the date, a warning when the tree was dirty; its ``data-icl-commit`` and
``data-icl-dirty`` attributes are what :func:`page_stamps` reads back), its insertion at the top
and the foot of a chapter page as the build writes it (:func:`stamp_page`), and the check that
``report.json``, the index and every chapter page name one commit (:func:`check_one_build`).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path
from typing import Any

__all__ = [
    "IGNORED",
    "COMMIT_ATTR",
    "DIRTY_ATTR",
    "uncommitted_changes",
    "build_bar",
    "stamp_page",
    "page_stamps",
    "check_one_build",
]

# paths (prefixes, relative to the repository root) whose changes do not make a build dirty
IGNORED = ("reports/", "data/sizing/")
COMMIT_ATTR, DIRTY_ATTR = "data-icl-commit", "data-icl-dirty"
_STAMP = re.compile(rf'{COMMIT_ATTR}="([^"]*)"\s+{DIRTY_ATTR}="([^"]*)"')
_BODY = re.compile(r"<body\b[^>]*>", re.I)
_BAR_STYLE = (
    "font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;padding:.45rem 1rem;"
    "background:#f5f5f7;color:#1d1d1f;border-{side}:1px solid #ddd"
)
_DIRTY_STYLE = "color:#b71c1c;font-weight:600"


def uncommitted_changes(root: Path | str) -> list[str] | None:
    """The paths ``git status --porcelain`` lists in ``root`` (untracked files one by one) outside
    :data:`IGNORED`, sorted; None when ``root`` is not a git checkout or git is missing."""
    try:
        out = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all"],
            cwd=root,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    tokens = out.stdout.decode("utf-8", "surrogateescape").split("\0")
    paths: list[str] = []
    i = 0
    while i < len(tokens):
        entry = tokens[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":  # a rename or copy: its source path follows as a token of its own
            if i < len(tokens) and tokens[i]:
                paths.append(tokens[i])
            i += 1
    return sorted({p for p in paths if not p.startswith(IGNORED)})


def build_bar(info: dict[str, Any], index_href: str | None = "index.html", side: str = "bottom") -> str:
    """The bar naming the build of ``info`` (``commit``, ``built``, ``dirty``): a link back to the
    index (none when ``index_href`` is None: the index itself), the commit, the date, and in red
    when the tree had uncommitted changes. ``side`` is where its border is (bottom: a header)."""
    commit = str(info.get("commit") or "unknown")
    dirty = bool(info.get("dirty"))
    parts = []
    if index_href:
        parts.append(f'<a href="{html.escape(index_href)}">&larr; Study summary (index)</a>')
    parts.append(
        f"built {html.escape(str(info.get('built', '')))} from commit <code>{html.escape(commit[:12])}</code>"
    )
    if dirty:
        parts.append(
            f'<span style="{_DIRTY_STYLE}">from a tree with uncommitted changes: this page is not '
            f"reproducible from that commit</span>"
        )
    return (
        f'<div class="icl-build" {COMMIT_ATTR}="{html.escape(commit)}" {DIRTY_ATTR}="{str(dirty).lower()}" '
        f'style="{_BAR_STYLE.format(side=side)}">{" &middot; ".join(parts)}</div>'
    )


def stamp_page(page: str, info: dict[str, Any], index_href: str = "index.html") -> str:
    """``page`` (a chapter page's HTML) with the build's bar (:func:`build_bar`) right after its
    ``<body>`` tag and again before ``</body>``."""
    top, foot = build_bar(info, index_href, "bottom"), build_bar(info, index_href, "top")
    m = _BODY.search(page)
    page = page[: m.end()] + "\n" + top + page[m.end() :] if m else top + page
    end = page.lower().rfind("</body>")
    return page[:end] + foot + "\n" + page[end:] if end >= 0 else page + foot


def page_stamps(page: str) -> set[tuple[str, bool]]:
    """Every (commit, dirty) a page's build bars name (empty: the page names no build)."""
    return {(commit, dirty == "true") for commit, dirty in _STAMP.findall(page)}


def check_one_build(reports_dir: Path | str, allow_dirty: bool = False) -> list[str]:
    """What breaks "one build, one commit" in a report folder (empty: nothing): ``report.json``
    names no commit, or a dirty build (unless ``allow_dirty``); a chapter of ``report.json`` from
    another commit; the index or a chapter page (each ``page`` of ``report.json``) missing, naming
    no build, or naming another commit or dirtiness than ``report.json``."""
    reports_dir = Path(reports_dir)
    try:
        data = json.loads((reports_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return [f"report.json: unreadable ({e})"]
    commit, dirty = str(data.get("commit") or ""), bool(data.get("dirty"))
    problems = []
    if not commit or commit == "unknown":
        problems.append("report.json names no commit")
    if dirty and not allow_dirty:
        changed = ", ".join(data.get("uncommitted") or [])
        problems.append(f"report.json: built from a tree with uncommitted changes ({changed})")
    chapters = data.get("chapters") or []
    for ch in chapters:
        if ch.get("commit") and ch["commit"] != commit:
            problems.append(
                f"report.json: chapter {ch.get('name')} is from commit {ch['commit'][:12]}, "
                f"the report from {commit[:12]}"
            )
    for rel in ["index.html"] + [ch["page"] for ch in chapters if ch.get("page")]:
        try:
            stamps = page_stamps((reports_dir / rel).read_text(encoding="utf-8"))
        except OSError:
            problems.append(f"{rel}: missing")
            continue
        if not stamps:
            problems.append(f"{rel}: names no build commit")
        for page_commit, page_dirty in sorted(stamps):
            if page_commit != commit:
                problems.append(
                    f"{rel}: built from commit {page_commit[:12]}, report.json from {commit[:12]}"
                )
            if page_dirty != dirty:
                problems.append(f"{rel}: dirty={page_dirty}, report.json dirty={dirty}")
    return problems

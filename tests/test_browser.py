"""The committed HTML report in a real browser: headless Chromium, driven by icl.report.browser.

The tests marked ``browser`` skip, saying why, when no Chromium is found (``.ci/run``
installs Debian's ``chromium`` when it can). Pages are loaded with the browser's
network switched off, so these tests also prove the report works offline: the only
request a page may attempt is MathJax (it typesets math and nothing else; offline the
math shows as TeX source).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from icl import report
from icl.config import REPORTS
from icl.report import browser

INDEX = REPORTS / "index.html"
SCREENSHOT = REPORTS / "index.png"
# external requests a page may attempt; everything it shows must work without them
NO_CHROMIUM = (
    f"headless Chromium not found (${browser.ENV_VAR}, or one of {', '.join(browser.CANDIDATES)} "
    "on PATH); .ci/run installs Debian's chromium, or: apt-get install chromium"
)


@pytest.fixture(scope="module")
def chromium():
    """One browser for the module's tests."""
    binary = browser.find_chromium()
    if binary is None:
        pytest.skip(NO_CHROMIUM)
    with browser.Chromium(binary) as b:
        yield b


@pytest.fixture(scope="module")
def index(chromium):
    assert INDEX.is_file(), f"{INDEX} is committed; rebuild it with: make report"
    return chromium.check(INDEX)


def chapter_pages(index_info: dict) -> list[Path]:
    """The local pages the index links to (chapter pages, failed/ pages)."""
    paths = [browser.local_path(link["url"]) for link in index_info["links"] if not link["same_page"]]
    return [p for p in paths if p is not None]


def png_info(path: Path) -> tuple[int, int]:
    size = browser.png_size(path.read_bytes())
    assert size is not None, f"{path} is not a PNG"
    return size


@pytest.mark.browser
def test_index_renders_offline(index):
    assert index["problems"] == []
    assert index["title"] and index["text_length"] > 100
    assert index["external_requests"] == []  # the index is self-contained
    chapters = json.loads((REPORTS / "report.json").read_text())["chapters"]
    if chapters:
        assert index["tables"] >= 2  # the claims-by-scale matrix, then the chapters
        # every cell of the matrix that names an outcome links to the page that decided it
        decided = {r["page"] for r in chapters if r["verdicts"] and r["page"]}
        paths = (browser.local_path(link["url"]) for link in index["links"] if not link["same_page"])
        linked = {p.name for p in paths if p is not None}
        assert decided <= linked, decided - linked


@pytest.mark.browser
def test_every_chapter_link_resolves_and_renders(chromium, index):
    pages = chapter_pages(index)
    chapters = json.loads((REPORTS / "report.json").read_text())["chapters"]
    linked = {p.resolve() for p in pages}
    for c in chapters:  # every page report.json knows of is linked, and exists
        for rel in filter(None, (c.get("page"), c.get("previous_page"))):
            assert (REPORTS / rel).resolve() in linked, f"index does not link {rel}"
    assert all(p.is_file() for p in pages), [str(p) for p in pages if not p.is_file()]
    assert len(pages) >= len(chapters)

    for page in pages:
        info = chromium.check(page)
        assert info["problems"] == [], page.name
        assert info["title"] and info["text_length"] > 100, page.name
        # every <img> of the file is in the DOM, loaded, with non-zero natural and displayed size
        n_img = len(re.findall(r"<img\b", page.read_text(encoding="utf-8")))
        assert len(info["images"]) == n_img, page.name
        assert all(i["complete"] and i["natural_width"] > 0 and i["width"] > 0 for i in info["images"])
        assert info["external_requests"] == [], (
            f"{page.name} needs the network for {info['external_requests']}"
        )


@pytest.mark.browser
def test_checker_sees_broken_images_and_links(chromium, tmp_path):
    """The check itself bites: a missing image, a zero-size one, dead links are all reported."""
    (tmp_path / "other.html").write_text("<p>other</p>")
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    page = tmp_path / "page.html"
    page.write_text(f"""<!DOCTYPE html><title>t</title><h1 id="top">Broken on purpose</h1>
<img src="data:image/png;base64,{pixel}"> <img src="missing.png"> <img src="data:image/png;base64,{pixel}"
style="display:none"> <a href="other.html">ok</a> <a href="gone.html">dead</a> <a href="#top">ok</a>
<a href="#nowhere">dead</a> <script>throw new Error("boom")</script>""")

    problems = chromium.check(page)["problems"]

    assert len(problems) == 5, problems
    assert any("not loaded: missing.png" in p for p in problems)
    assert any("zero size" in p for p in problems)
    assert any("'gone.html'" in p for p in problems) and any("'#nowhere'" in p for p in problems)
    assert any("boom" in p for p in problems)


@pytest.mark.browser
def test_a_chapter_page_shows_the_printed_verdicts_and_not_their_data(chromium, tmp_path):
    """The verdict cell's structured output (for the report) leaves no trace on the rendered page."""
    lines = ["C1 INCONCLUSIVE", "    inconclusive: dense prompts", "    to decide: about 4,096 prompts"]
    data = {"verdicts": [{"claim": "C1", "outcome": "INCONCLUSIVE", "lines": lines}]}
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Chapter"),
            nbformat.v4.new_code_cell(
                "# VERDICT",
                outputs=[
                    nbformat.v4.new_output("stream", name="stdout", text="\n".join(lines) + "\n"),
                    nbformat.v4.new_output("display_data", data={report.VERDICT_MIME: data}),
                ],
            ),
        ]
    )
    page = tmp_path / "01_chapter.html"
    page.write_text(report.render_page(report.make_exporter(), nb, "chapter"), encoding="utf-8")

    info = chromium.check(page)

    assert info["problems"] == [] and info["external_requests"] == []
    text = chromium.call("Runtime.evaluate", expression="document.body.innerText", returnByValue=True)
    text = text["result"]["value"]
    assert "C1 INCONCLUSIVE" in text and "to decide: about 4,096 prompts" in text
    assert report.VERDICT_MIME not in text and '"outcome"' not in text


@pytest.mark.browser
def test_screenshot_is_atomic(chromium, tmp_path):
    png = chromium.screenshot(INDEX, tmp_path / "shot" / "index.png")
    width, height = png_info(png)
    assert (width, height >= browser.HEIGHT) == (browser.WIDTH, True)
    with pytest.raises(browser.BrowserError, match="no such file"):
        chromium.screenshot(tmp_path / "absent.html", tmp_path / "absent.png")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["index.png"]


def test_committed_screenshot_is_a_png():
    """reports/index.png: a screenshot of the index (icl.report.browser.screenshot), committed with it."""
    assert SCREENSHOT.is_file(), (
        f'{SCREENSHOT} missing; make it with: python -c "from icl.report import browser; '
        "browser.screenshot('reports/index.html', 'reports/index.png')\""
    )
    width, height = png_info(SCREENSHOT)
    assert width == browser.WIDTH and height >= 200
    assert SCREENSHOT.stat().st_size > 10_000  # not a blank image


def test_no_chromium_is_a_clear_skip(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(browser.ENV_VAR, raising=False)
    assert browser.find_chromium() is None
    with pytest.raises(browser.BrowserError, match="no Chromium found"):
        browser.Chromium()

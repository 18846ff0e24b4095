"""The report builder (icl.report) on tiny throwaway notebooks that only print.

Each executed notebook costs a kernel start (a second or two); the notebooks do not
import torch. The first build is shared by the tests that read it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from icl import report
from icl.__main__ import main
from icl.report import inputs

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
PASSED = report.BuildStatus.PASSED  # the build status of every hand-made ChapterResult below


def verdict_cell(*verdicts: tuple[str, str, list[str]]) -> str:
    """The source of a ``# VERDICT`` cell as the chapters write it: print every verdict's lines,
    then emit them as data (one display_data output of the verdict MIME type)."""
    data = {"verdicts": [{"claim": c, "outcome": o, "lines": lines} for c, o, lines in verdicts]}
    return (
        "# VERDICT\nfrom IPython.display import display\n"
        + "".join(f"print({line!r})\n" for _, _, lines in verdicts for line in lines)
        + f"display({{{report.VERDICT_MIME!r}: {data!r}}}, raw=True)"
    )


def verdict_output(*verdicts: tuple[str, str, list[str]]):
    """The display_data output such a cell leaves in the executed notebook."""
    data = {"verdicts": [{"claim": c, "outcome": o, "lines": lines} for c, o, lines in verdicts]}
    return nbformat.v4.new_output("display_data", data={report.VERDICT_MIME: data})


def write_notebook(path: Path, *sources: str, parameters: str | None = None) -> Path:
    """A notebook with an optional ``parameters`` cell followed by code cells."""
    cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}")]
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        cells.append(cell)
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# a 1 x 1 PNG
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def make_chapters(nb_dir: Path) -> None:
    write_notebook(
        nb_dir / "01_alpha.ipynb",
        "print(f'alpha n={n}')",
        verdict_cell(
            ("C1", "HELD", ["C1 HELD: error < 0.1 & stable"]),
            ("C2", "NOT HELD", ["C2 NOT HELD", "    fails on: no gap (strict: HELD)"]),
        ),
        parameters="n = 1",
    )
    beta = write_notebook(
        nb_dir / "02_beta.ipynb", "print(f'beta n={n} total={sum(range(4))}')", parameters="n = 1"
    )
    nb = nbformat.read(beta, as_version=4)  # a headline figure: the build copies it to figures/02_beta.png
    cell = nbformat.v4.new_code_cell(
        f"from IPython.display import Image, display\ndisplay(Image(data=bytes.fromhex('{PNG.hex()}')))"
    )
    cell.metadata["tags"] = [report.HEADLINE_TAG]
    nb.cells.append(cell)
    nbformat.write(nb, beta)


@pytest.fixture(scope="module")
def first_build(tmp_path_factory):
    """Two passing chapters built once with a parameters file: (notebooks, out, exit status)."""
    base = tmp_path_factory.mktemp("report")
    nb_dir, out = base / "notebooks", base / "reports"
    make_chapters(nb_dir)
    params = base / "params.yaml"
    params.write_text("all: {n: 5}\n02: {n: 7}\n")  # unquoted 02 is fine
    with pytest.MonkeyPatch.context() as mp:  # one build per chapter, whatever runs data/ holds
        mp.setattr(inputs, "has_trained_runs", lambda scale: False)
        rc = report.build_report(out, params, timeout=120, notebooks_dir=nb_dir)
    return nb_dir, out, rc


def test_success_writes_index_pages_and_json(first_build):
    nb_dir, out, rc = first_build
    assert rc == 0
    assert (out / "figures" / "02_beta.png").read_bytes() == PNG  # the tagged cell's figure, for the README
    assert not (out / "figures" / "01_alpha.png").exists()  # no tagged cell, no figure
    for rel in (
        "index.html",
        "report.json",
        "01_alpha.html",
        "02_beta.html",
        "executed/01_alpha.ipynb",
        "executed/02_beta.ipynb",
    ):
        assert (out / rel).is_file(), rel
    assert not list(out.glob(".tmp-*")) and not (out / "failed").exists()

    data = json.loads((out / "report.json").read_text())
    chapters = {c["name"]: c for c in data["chapters"]}
    assert data["passed"] is True and data["commit"] and "papermill" in data["versions"]
    assert chapters["01_alpha"]["verdicts"] == [
        {
            "claim": "C1",
            "outcome": "HELD",
            "lines": ["C1 HELD: error < 0.1 & stable"],
            "precondition": None,
            "seed": 0,
        },
        {
            "claim": "C2",
            "outcome": "NOT HELD",
            "lines": ["C2 NOT HELD", "    fails on: no gap (strict: HELD)"],
            "precondition": None,
            "seed": 0,
        },
    ]
    assert chapters["02_beta"]["verdicts"] == []
    assert data["claims"] == {"HELD": 1, "NOT HELD": 1, "INCONCLUSIVE": 0, "NOT TESTED": 0}
    assert chapters["01_alpha"]["parameters"] == {"n": 5}
    assert chapters["02_beta"]["parameters"] == {"n": 7}
    assert all(c["status"] == "passed" and c["seconds"] > 0 for c in chapters.values())

    # one build, one commit: report.json, every chapter entry and page name the commit (the
    # checkout running the tests may have uncommitted changes, so dirty is whatever it was)
    assert isinstance(data["dirty"], bool) and isinstance(data["uncommitted"], list)
    assert all(c["commit"] == data["commit"] and c["dirty"] == data["dirty"] for c in chapters.values())
    assert report.check_one_build(out, allow_dirty=True) == []
    assert chapters["01_alpha"]["title"] == "01_alpha"  # the notebook's first heading

    index = (out / "index.html").read_text()
    # each chapter's card: every verdict in one sentence (its heading, its first detail line)
    assert '<li class="held"><span class="outcome">C1 HELD: error &lt; 0.1 &amp; stable</span></li>' in index
    assert (
        '<li class="not-held"><span class="outcome">C2 NOT HELD</span>: fails on: no gap (strict: HELD)</li>'
        in index
    )
    assert report.CLAIM_TEXTS["C1"] in index  # the matrix names each claim's statement
    assert '<img src="figures/02_beta.png" alt="Headline figure of 02_beta, at the cpu scale.">' in index
    assert (
        "Claims tested: 1 HELD, 1 NOT HELD, 0 INCONCLUSIVE. Not tested: 0 with a precondition unmet, "
        "0 lacking a run or a value." in index
    )
    assert 'href="01_alpha.html"' in index and data["commit"] in index
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", index)  # self-contained

    alpha = (out / "01_alpha.html").read_text()
    assert alpha.count('<a href="index.html">') == 2 and alpha.count(data["commit"]) >= 2  # top and foot
    assert "C2 NOT HELD" in alpha  # the printed verdicts are on the page, their data is not
    assert report.VERDICT_MIME not in alpha and '"outcome"' not in alpha
    assert (
        report.VERDICT_MIME in (out / "executed/01_alpha.ipynb").read_text()
    )  # the executed notebook keeps it

    page = (out / "02_beta.html").read_text()
    assert "beta n=7 total=6" in page  # outputs shown, parameters applied
    assert "print(f" not in page  # code hidden by default
    assert not re.search(r"<script[^>]*require", page)


def test_failing_notebook_keeps_previous_page(first_build, tmp_path):
    nb_dir0, out0, _ = first_build
    nb_dir, out = tmp_path / "notebooks", tmp_path / "reports"
    shutil.copytree(nb_dir0, nb_dir)
    shutil.copytree(out0, out)
    before = {rel: (out / rel).read_bytes() for rel in ("02_beta.html", "executed/02_beta.ipynb")}
    write_notebook(nb_dir / "02_beta.ipynb", "print('start')", "x = 1 / 0", parameters="n = 1")

    assert report.build_report(out, None, timeout=120, notebooks_dir=nb_dir) == 1

    data = json.loads((out / "report.json").read_text())
    chapters = {c["name"]: c for c in data["chapters"]}
    assert data["passed"] is False
    assert chapters["01_alpha"]["status"] == "passed" and chapters["01_alpha"]["parameters"] == {}
    beta = chapters["02_beta"]
    assert beta["status"] == "failed" and beta["error"] == "ZeroDivisionError: division by zero"
    assert beta["page"] == "failed/02_beta.html" and beta["previous_page"] == "02_beta.html"
    # the previous (passing) page and notebook are untouched; the failure goes to failed/
    assert all((out / rel).read_bytes() == b for rel, b in before.items())
    assert (out / "failed/02_beta.html").is_file() and (out / "failed/02_beta.ipynb").is_file()
    assert '<a href="../index.html">' in (out / "failed/02_beta.html").read_text()  # back from failed/
    assert "ZeroDivisionError: division by zero" in (out / "index.html").read_text()
    assert "01_alpha.html" in (out / "index.html").read_text()
    assert not list(out.glob(".tmp-*"))


def test_in_place_refreshes_passing_and_keeps_failing(tmp_path):
    good = write_notebook(tmp_path / "01_good.ipynb", "print('fresh output')")
    bad = write_notebook(tmp_path / "02_bad.ipynb", "raise RuntimeError('nope')")
    bad_bytes = bad.read_bytes()

    assert report.refresh_in_place(None, None, timeout=120, notebooks_dir=tmp_path) == 1

    assert "fresh output" in good.read_text()
    assert bad.read_bytes() == bad_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_good.ipynb", "02_bad.ipynb"]


def test_no_notebooks_writes_an_index(tmp_path):
    out = tmp_path / "reports"
    assert report.build_report(out, None, notebooks_dir=tmp_path / "notebooks") == 0
    assert "No notebooks" in (out / "index.html").read_text()
    assert json.loads((out / "report.json").read_text())["chapters"] == []


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "not found"),
        ("- 1\n- 2\n", "must be a mapping"),
        ("all: 3\n", "value of 'all'"),
        ("chapter1: {n: 1}\n", "bad key 'chapter1'"),
        ("all: {n: [1\n", "not valid YAML"),
        ("'01': {1n: 2}\n", "'1n' is not a valid parameter name"),
    ],
)
def test_bad_params_file(tmp_path, capsys, content, expected):
    path = tmp_path / "params.yaml"
    if content is not None:
        path.write_text(content)
    rc = main(["report", "--params", str(path), "--out", str(tmp_path / "reports")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and str(path) in err and expected in err and "Traceback" not in err
    assert not (tmp_path / "reports").exists()


def test_only_unknown_number(tmp_path, capsys, monkeypatch):
    make_chapters(tmp_path / "notebooks")
    monkeypatch.setattr(inputs, "NOTEBOOKS", tmp_path / "notebooks")
    rc = main(["report", "--only", "01,07", "--out", str(tmp_path / "reports")])
    err = capsys.readouterr().err
    assert rc == 2 and "07" in err and "available: 01, 02" in err
    assert [p.name for p in report.select(report.discover(tmp_path / "notebooks"), "2")] == ["02_beta.ipynb"]


def test_params_merge_and_yaml_keys(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("all: {n: 1, seed: 0}\n01: {n: 2}\n'12': {seed: 9}\n03:\n")
    params = report.load_params(path)
    assert params == {"all": {"n": 1, "seed": 0}, "01": {"n": 2}, "12": {"seed": 9}, "03": {}}
    assert report.params_for(params, Path("01_x.ipynb")) == {"n": 2, "seed": 0}
    assert report.params_for(params, Path("05_x.ipynb")) == {"n": 1, "seed": 0}


def test_extract_verdicts_reads_only_the_data_of_the_marked_cell():
    printed = nbformat.v4.new_output("stream", name="stdout", text="C1 HELD: yes\n\nC2 NOT HELD: no\n")
    elsewhere = verdict_output(("C9", "HELD", ["C9 HELD: not a verdict cell"]))
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("print('x')", outputs=[elsewhere]),
            nbformat.v4.new_code_cell(
                "# VERDICT\nprint(...)",
                outputs=[
                    printed,
                    verdict_output(("C1", "HELD", ["C1 HELD: yes"]), ("C2", "NOT HELD", ["C2 NOT HELD: no"])),
                ],
            ),
        ]
    )
    assert report.extract_verdicts(nb) == [
        report.ClaimVerdict("C1", "HELD", ("C1 HELD: yes",)),
        report.ClaimVerdict("C2", "NOT HELD", ("C2 NOT HELD: no",)),
    ]
    # the printed text alone is not read: a verdict cell without the data has no verdicts
    nb.cells[1].outputs = [printed]
    assert report.extract_verdicts(nb) == []


def test_the_report_reads_what_the_chapters_emit():
    """The contract end to end: the verdict cell's helper (icl.chapters.verdict.show) emits what
    extract_verdicts reads, with the printed lines as the lines."""
    chapter = pytest.importorskip("icl.chapters.verdict")
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    a = chapter.Verdict(
        "C1", "INCONCLUSIVE", ["inconclusive: dense prompts", "to decide: about 4,096 prompts"]
    )
    b = chapter.Verdict("C2", "NOT HELD", ["fails on: sparse prompts", "strict (every k within 0.05): HELD"])
    InteractiveShell.instance()  # a kernel-like shell, so display() publishes data
    with capture_output() as cap:
        chapter.show(a, b)
    outputs = [nbformat.v4.new_output("stream", name="stdout", text=cap.stdout)]
    outputs += [nbformat.v4.new_output("display_data", data=o.data) for o in cap.outputs]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# VERDICT\nshow(a, b)", outputs=outputs)])
    assert report.extract_verdicts(nb) == [
        report.ClaimVerdict("C1", "INCONCLUSIVE", tuple(str(a).splitlines())),
        report.ClaimVerdict("C2", "NOT HELD", tuple(str(b).splitlines())),
    ]
    assert chapter.VERDICT_MIME == report.VERDICT_MIME


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"verdicts": [{"claim": "C1", "outcome": "HELD?", "lines": ["C1 HELD?"]}]}, "'HELD?' is not one of"),
        ({"verdicts": [{"claim": "C1", "outcome": "HELD", "lines": []}]}, "non-empty list of strings"),
        ({"verdicts": [{"outcome": "HELD", "lines": ["C1 HELD"]}]}, "'claim' must be"),
        ({"verdicts": ["C1 HELD"]}, "must be an object"),
        (
            {"verdicts": [{"claim": "C1", "outcome": "HELD", "lines": ["C1 HELD"], "seed": "1"}]},
            "'seed' must be",
        ),
        (["C1 HELD"], 'must be {"verdicts": [...]}'),
    ],
)
def test_malformed_verdict_data_is_an_error(value, expected):
    out = nbformat.v4.new_output("display_data", data={report.VERDICT_MIME: value})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# VERDICT", outputs=[out])])
    with pytest.raises(report.VerdictDataError, match=re.escape(expected)):
        report.extract_verdicts(nb)


def test_claims_are_counted_by_their_outcome_not_by_their_text():
    verdicts = [
        report.ClaimVerdict("C1", "HELD", ("C1 HELD", "    every part holds")),
        report.ClaimVerdict("C2", "NOT HELD", ("C2 NOT HELD", "strict (every k within 0.05): HELD")),
        report.ClaimVerdict("C7", "INCONCLUSIVE", ("C7 INCONCLUSIVE", "inconclusive: a=0.5, k=20")),
        report.ClaimVerdict("C8", "NOT TESTED", ("C8 NOT TESTED", "missing trained run(s): sine-only")),
    ]
    result = report.ChapterResult("01", "01_x", PASSED, 1.0, {}, verdicts=verdicts)
    assert report.count_outcomes([result, result]) == {
        "HELD": 2,
        "NOT HELD": 2,
        "INCONCLUSIVE": 2,
        "NOT TESTED": 2,
    }
    assert [report.outcome_class(v.outcome) for v in verdicts] == [
        "held",
        "not-held",
        "inconclusive",
        "not-tested",
    ]


def test_previous_results_round_trip_and_an_old_file_counts_as_none(tmp_path):
    verdict = report.ClaimVerdict("C1", "NOT HELD", ("C1 NOT HELD", "    fails on: sparse prompts"))
    result = report.ChapterResult("01", "01_x", PASSED, 1.5, {"n": 2}, verdicts=[verdict], page="01_x.html")
    (tmp_path / "report.json").write_text(json.dumps({"chapters": [dataclasses.asdict(result)]}))
    assert report.previous_results(tmp_path) == {"01_x": result}
    # report.json of the regex era: verdicts as printed lines; it is not read (and nothing crashes)
    old = {**dataclasses.asdict(result), "verdicts": ["C1 NOT HELD", "fails on: sparse prompts"]}
    (tmp_path / "report.json").write_text(json.dumps({"chapters": [old]}))
    assert report.previous_results(tmp_path) == {}
    for junk in ("not json", "[]", '{"chapters": ["01_x"]}', '{"chapters": [{"name": "01_x"}]}'):
        (tmp_path / "report.json").write_text(junk)
        assert report.previous_results(tmp_path) == {}


def test_pages_leave_the_verdict_data_out(recwarn):
    printed = nbformat.v4.new_output("stream", name="stdout", text="C1 HELD\n")
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "# VERDICT", outputs=[printed, verdict_output(("C1", "HELD", ["C1 HELD"]))]
            )
        ]
    )
    page = report.render_page(report.make_exporter(), nb, "t")
    assert "C1 HELD" in page and report.VERDICT_MIME not in page and '"lines"' not in page
    assert page.count('class="jp-OutputArea-child') == 1  # no empty output box where the data was
    assert not [w for w in recwarn if "not able to be represented" in str(w.message)]
    assert len(nb.cells[0].outputs) == 2  # the notebook itself is not changed


@pytest.mark.parametrize("show_code", [False, True])
def test_pages_hide_code_unless_asked(show_code):
    out = nbformat.v4.new_output("stream", name="stdout", text="visible_output\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("hidden_name = 1", outputs=[out])])
    page = report.render_page(report.make_exporter(show_code), nb, "t")
    assert "visible_output" in page and ("hidden_name" in page) == show_code
    assert not re.search(r"<script[^>]*(require|mermaid)", page)


def test_the_index_opens_with_a_claims_by_scale_matrix():
    """One cell per claim and scale, its outcome linking to the chapter page that decided it;
    NOT TESTED where no chapter evaluated the claim at that scale."""

    def verdicts(*pairs: tuple[str, str]) -> list[report.ClaimVerdict]:
        return [report.ClaimVerdict(c, o, (f"{c} {o}",)) for c, o in pairs]

    cpu = report.ChapterResult(
        "01", "01_x", PASSED, 1.0, {}, verdicts=verdicts(("C1", "NOT HELD"), ("C2", "HELD")), page="01_x.html"
    )
    small = report.ChapterResult(
        "01",
        "01_x-small",
        PASSED,
        1.0,
        {"scale": "small"},
        verdicts=verdicts(("C1", "INCONCLUSIVE")),
        page="01_x-small.html",
        scale="small",
    )
    table = report.claims_by_scale([cpu, small])
    assert table == {
        "C1": {"cpu": ("NOT HELD", "01_x.html", None), "small": ("INCONCLUSIVE", "01_x-small.html", None)},
        "C2": {"cpu": ("HELD", "01_x.html", None)},
    }
    matrix = report.render_matrix([cpu, small])
    assert '<td class="cell inconclusive"><a href="01_x-small.html">INCONCLUSIVE</a></td>' in matrix
    assert '<td class="cell n-a">n/a</td>' in matrix  # C2 is not run at the small scale
    assert matrix.index("cpu scale") < matrix.index("small scale")
    assert report.CLAIM_TEXTS["C2"] in matrix


def test_claims_not_tested_on_a_precondition_are_counted_apart_with_their_reason():
    """Since 2026-12-04 a claim whose premise failed is NOT TESTED with a one-line reason, carried
    as data from the verdict cell (show) to the index: its matrix cell says so and shows the
    reason, and the summary counts it apart from the claims that were tested."""
    chapter = pytest.importorskip("icl.chapters.verdict")
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    why = "the sparse-only model closes 0.119 of the least-squares-to-Lasso gap (needs 0.5)"
    a = chapter.Verdict("C4", "NOT TESTED", [f"precondition unmet: {why}"], precondition=why)
    b = chapter.Verdict("C5", "NOT TESTED", ["missing trained run(s): linear-w0.00"])
    c = chapter.Verdict("C1", "HELD", ["every part holds"])
    InteractiveShell.instance()
    with capture_output() as cap:
        chapter.show(a, b, c)
    outputs = [nbformat.v4.new_output("display_data", data=o.data) for o in cap.outputs]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# VERDICT", outputs=outputs)])
    verdicts = report.extract_verdicts(nb)
    assert [v.precondition for v in verdicts] == [why, None, None]
    result = report.ChapterResult("02", "02_x", PASSED, 1.0, {}, verdicts=verdicts, page="02_x.html")
    assert report.count_preconditions([result]) == 1 and report.count_outcomes([result])["NOT TESTED"] == 2
    matrix = report.render_matrix([result])
    assert '<a href="02_x.html">NOT TESTED (precondition)</a><div class="why">the sparse-only model' in matrix
    page = report.render_index(
        {"built": "x", "commit": "c", "params_file": None, "versions": {}, "pattern": "*"}, [result]
    )
    assert (
        "Claims tested: 1 HELD, 0 NOT HELD, 0 INCONCLUSIVE. Not tested: 1 with a precondition unmet, 1 "
        "lacking" in page
    )
    with pytest.raises(report.VerdictDataError, match="'precondition'"):
        report.ClaimVerdict.from_dict(
            {"claim": "C1", "outcome": "HELD", "lines": ["C1 HELD"], "precondition": "x"}
        )


def test_chapters_1_2_are_built_once_per_scale_with_trained_runs(monkeypatch):
    monkeypatch.setattr(inputs, "has_trained_runs", lambda scale: scale == "small")
    builds = report.builds_of(Path("01_model_selection.ipynb"))
    assert [(n, s) for n, s, _ in builds] == [
        ("01_model_selection", "cpu"),
        ("01_model_selection-small", "small"),
    ]
    assert builds[1][2]["scale"] == "small" and builds[1][2]["seed_runs"]
    assert report.builds_of(Path("02_sparsity_sweep.ipynb"))[1][2]["seed_runs"] == builds[1][2]["seed_runs"]
    assert [n for n, _, _ in report.builds_of(Path("03_nonlinear_mixtures.ipynb"))] == [
        "03_nonlinear_mixtures"
    ]
    monkeypatch.setattr(inputs, "has_trained_runs", lambda scale: False)
    assert len(report.builds_of(Path("02_sparsity_sweep.ipynb"))) == 1


def test_chapter_6_is_one_small_scale_page(monkeypatch):
    """Chapter 6's runs exist at the small scale only: its defaults are that scale, one page, never a cpu
    one."""
    for trained in (True, False):
        monkeypatch.setattr(inputs, "has_trained_runs", lambda scale, trained=trained: trained)
        assert report.builds_of(Path("06_rare_and_conditional.ipynb")) == [
            ("06_rare_and_conditional", "small", {})
        ]


def test_two_builds_into_one_report_folder_are_refused(tmp_path, capsys):
    from icl.checkpoint import run_lock

    out = tmp_path / "reports"
    with run_lock(out, what="report folder"):
        rc = main(["report", "--out", str(out), "--only", "01"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "in use by process" in err and "report folder" in err


def _stamped_report(
    folder: Path, commit: str = "a" * 40, dirty: bool = False, pages: dict | None = None
) -> Path:
    """A constructed report folder: report.json, the index and two chapter pages, each page stamped
    with the build of ``pages.get(name, commit)`` (None: no stamp at all)."""
    pages = pages or {}
    info = {
        "built": "2026-12-04T17:00:00+00:00",
        "commit": commit,
        "dirty": dirty,
        "params_file": None,
        "versions": {},
        "pattern": "*",
        "uncommitted": ["icl/x.py"] if dirty else [],
    }
    results = [
        report.ChapterResult(n, f"{n}_x", PASSED, 1.0, {}, page=f"{n}_x.html", commit=commit)
        for n in ("01", "02")
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(
        json.dumps({**info, "chapters": [dataclasses.asdict(r) for r in results]})
    )
    (folder / "index.html").write_text(report.render_index(info, results))
    for r in results:
        page_commit = pages.get(r.name, commit)
        body = "<html><head><title>t</title></head><body><main><p>chapter</p></main></body></html>"
        page = body if page_commit is None else report.stamp_page(body, {**info, "commit": page_commit})
        (folder / r.page).write_text(page)
    return folder


def test_one_build_one_commit_is_checked_on_every_page(tmp_path):
    """report.json, the index and each chapter page must name one commit; a page of another build,
    a page naming none, a chapter entry of another commit and a dirty build are each reported."""
    good = _stamped_report(tmp_path / "good")
    assert report.check_one_build(good) == []
    page = (good / "01_x.html").read_text()
    assert page.index('<a href="index.html">') < page.index("<main>") < page.rindex('<a href="index.html">')
    assert report.page_stamps(page) == {("a" * 40, False)}

    mixed = _stamped_report(tmp_path / "mixed", pages={"02_x": "b" * 40})
    problems = report.check_one_build(mixed)
    assert len(problems) == 1 and problems[0].startswith("02_x.html: built from commit bbbbbbbbbbbb")

    unstamped = _stamped_report(tmp_path / "unstamped", pages={"01_x": None})
    assert report.check_one_build(unstamped) == ["01_x.html: names no build commit"]

    data = json.loads((good / "report.json").read_text())
    data["chapters"][1]["commit"] = "c" * 40  # an entry kept from an earlier build (--only)
    (good / "report.json").write_text(json.dumps(data))
    assert report.check_one_build(good) == [
        "report.json: chapter 02_x is from commit cccccccccccc, the report from aaaaaaaaaaaa"
    ]

    dirty = _stamped_report(tmp_path / "dirty", dirty=True)
    assert report.check_one_build(dirty) == [
        "report.json: built from a tree with uncommitted changes (icl/x.py)"
    ]
    assert report.check_one_build(dirty, allow_dirty=True) == []
    page = (dirty / "01_x.html").read_text()
    assert page.count("uncommitted changes") == 2 and report.page_stamps(page) == {("a" * 40, True)}
    assert "Built from a tree with uncommitted changes (icl/x.py)" in (dirty / "index.html").read_text()


def test_dirty_means_uncommitted_changes_outside_the_reports_outputs(tmp_path):
    """git status --porcelain outside reports/ and data/sizing/ makes a build dirty; there, changes
    and untracked files (the build's own outputs, the trainings' resumable files) do not."""
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )

    repo = tmp_path / "repo"
    for rel in ("icl/code.py", "reports/index.html", "data/sizing/run.log", "data/runs/x.json"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text("v1\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    assert report.uncommitted_changes(repo) == []

    (repo / "reports/index.html").write_text("v2\n")
    (repo / "reports/new page.html").write_text("new\n")
    (repo / "data/sizing/run.log").write_text("v2\n")
    (repo / "data/sizing/c1/state").mkdir(parents=True)
    (repo / "data/sizing/c1/state/step.pt").write_text("x\n")
    assert report.uncommitted_changes(repo) == []  # the report's and the trainings' files only

    (repo / "icl/code.py").write_text("v2\n")
    (repo / "data/runs/new").mkdir()
    (repo / "data/runs/new/y.json").write_text("{}\n")
    assert report.uncommitted_changes(repo) == ["data/runs/new/y.json", "icl/code.py"]
    git("add", "-A")
    git("mv", "data/runs/x.json", "data/runs/z.json")
    assert report.uncommitted_changes(repo) == [
        "data/runs/new/y.json",
        "data/runs/x.json",
        "data/runs/z.json",
        "icl/code.py",
    ]
    (tmp_path / "plain").mkdir()
    assert report.uncommitted_changes(tmp_path / "plain") is None  # not a git checkout


def test_the_index_is_the_studys_summary():
    """Claim text in the matrix, a column per scale and seed where a verdict names its seed, n/a
    where not run, counts over the cells run, the headline figure, a card per chapter whose verdict
    sentences are short."""
    long = "inconclusive: " + "word " * 80
    cpu = report.ChapterResult(
        "01",
        "01_x",
        PASSED,
        1.0,
        {},
        title="Chapter 1 — X",
        page="01_x.html",
        verdicts=[
            report.ClaimVerdict("C1", "NOT HELD", ("C1 NOT HELD", "    fails on: sparse", "    more detail"))
        ],
    )
    small = report.ChapterResult(
        "01",
        "01_x-small",
        PASSED,
        1.0,
        {},
        title="Chapter 1 — X",
        scale="small",
        page="01_x-small.html",
        verdicts=[
            report.ClaimVerdict("C1", "HELD", ("C1 HELD", "    every part holds")),
            report.ClaimVerdict("C1", "INCONCLUSIVE", ("C1 INCONCLUSIVE", long), seed=1),
        ],
    )
    ch6 = report.ChapterResult(
        "06",
        "06_y",
        PASSED,
        1.0,
        {},
        scale="small",
        page="06_y.html",
        verdicts=[
            report.ClaimVerdict("R2", "NOT TESTED", ("R2 NOT TESTED", "    missing trained run(s): z"))
        ],
    )
    info = {
        "built": "b",
        "commit": "c" * 40,
        "dirty": False,
        "params_file": None,
        "versions": {},
        "pattern": "*",
    }
    page = report.render_index(info, [cpu, small, ch6], headline="01_x-small")
    assert "<th>cpu scale</th><th>small scale, seed 0</th><th>small scale, seed 1</th>" in page
    assert report.CLAIM_TEXTS["C1"] in page and report.CLAIM_TEXTS["R2"] in page
    r2 = page[page.index("<b>R2</b>") :]
    r2 = r2[: r2.index("</tr>")]
    assert r2.count('<td class="cell n-a">n/a</td>') == 2 and "missing trained run(s): z" in r2
    assert "seed 0 only" not in page  # seed 1 is recorded
    assert "4 verdicts, one per cell of the claims matrix that was run (n/a cells are not counted)" in page
    assert (
        '<img src="figures/01_x-small.png" alt="Headline figure of Chapter 1 — X, at the small scale.">'
        in page
    )
    assert '<li class="not-held"><span class="outcome">C1 NOT HELD</span>: fails on: sparse</li>' in page
    assert "more detail" not in page  # the full verdict stays on the chapter page
    sentence = report.verdict_sentence(small.verdicts[1])
    assert sentence.endswith("…</li>") and len(sentence) < 300
    assert "C1 INCONCLUSIVE (seed 1)</span>" in sentence
    assert page.count('<div class="card">') == 3 and '<a href="06_y.html">06_y</a>' in page
    assert report.page_stamps(page) == {("c" * 40, False)}
    small.verdicts.pop()  # seed 0 only at a scale with second-seed runs: a one-line note says so
    assert "small scale: seed 0 only:" in report.render_index(info, [cpu, small, ch6])


def test_the_committed_report_is_one_build():
    """reports/: report.json, the index and every chapter page name one commit (make report builds them
    all at once; a chapter rebuilt alone with --only, or a page kept from an older build, fails here).
    A report built before pages were stamped (none names a commit) is skipped, saying so."""
    from icl.config import REPORTS

    if not (REPORTS / "report.json").is_file():
        pytest.skip("no committed report: make report")
    pages = [REPORTS / "index.html"] + sorted(REPORTS.glob("[0-9][0-9]_*.html"))
    if not any(report.page_stamps(p.read_text(encoding="utf-8")) for p in pages if p.is_file()):
        pytest.skip("the committed report predates the build stamp on its pages: rebuild it with make report")
    assert report.check_one_build(REPORTS, allow_dirty=True) == []


@pytest.mark.browser
def test_built_pages_load_offline_with_their_links(first_build, tmp_path):
    """The built index (headline figure, cards) and the stamped chapter pages, with their links back
    to the index, open in headless Chromium with no problem and no network (also from failed/)."""
    from icl.report import browser

    if browser.find_chromium() is None:
        pytest.skip("headless Chromium not found (apt-get install chromium)")
    _, out, _ = first_build
    folder = tmp_path / "reports"
    shutil.copytree(out, folder)
    (folder / "failed").mkdir()
    shutil.copy(folder / "02_beta.html", folder / "failed" / "02_beta.html")
    page = (folder / "failed" / "02_beta.html").read_text()
    (folder / "failed" / "02_beta.html").write_text(page.replace('href="index.html"', 'href="../index.html"'))
    with browser.Chromium() as b:
        index = b.check(folder / "index.html")
        assert index["problems"] == [] and index["external_requests"] == []
        assert [i["src"] for i in index["images"]] == ["figures/02_beta.png"]
        for rel in ("01_alpha.html", "02_beta.html", "failed/02_beta.html"):
            info = b.check(folder / rel)
            assert info["problems"] == [] and info["external_requests"] == [], rel
            back = [link for link in info["links"] if link["href"].endswith("index.html")]
            assert len(back) == 2 and all(
                browser.local_path(link["url"]) == (folder / "index.html") for link in back
            ), rel


def test_figures_get_their_caption_as_alt_text_instead_of_nbconverts_placeholder():
    from icl.report.alt_text import NBCONVERT_ALT, describe_figures

    placeholder = f'<img src="data:image/png;base64,AAAA" alt="{NBCONVERT_ALT}">'
    page = (
        "<html><body><h1 id='t'>Chapter 1<a class=\"anchor-link\" href='#t'>¶</a></h1>"
        f"<h2>The headline figure</h2><p>The sparse-only model against least squares. More text.</p>"
        f"<div>{placeholder}</div>"
        f"<h2>Training &amp; loss</h2><div>{placeholder}</div><div>{placeholder}</div>"
        '<img src="x.png" alt="kept as written"><img src="y.png"></body></html>'
    )
    out = describe_figures(page)
    alts = re.findall(r'alt="([^"]*)"', out)
    assert NBCONVERT_ALT not in out
    assert alts == [
        "The headline figure: The sparse-only model against least squares.",
        "Training &amp; loss (figure 1 of 3)",
        "Training &amp; loss (figure 2 of 3)",
        "kept as written",
        "Training &amp; loss (figure 3 of 3)",
    ]
    assert describe_figures("<p>no heading</p><img src='a.png' alt=''>").count('alt="Figure"') == 1


def test_a_second_seeds_verdicts_get_their_own_column():
    """Chapters 1-2's second-seed verdict cell (show_second_seed) records its verdicts with their training
    seed: the index shows them in a column of their own beside seed 0's (n/a where a claim is not run for that
    seed), counts them in its header with the other cells that were run and names the seed in the chapter's
    card; judged on a mix of seeds they are printed only. A report without them (an older build) shows seed
    0's column and says that seed 1 is not recorded."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from icl.chapters.notebook import show_second_seed
    from icl.chapters.verdict import Verdict

    InteractiveShell.instance()
    seed1 = ["linear-w0.00-seed1", "linear-w0.50-seed1", "linear-w1.00-seed1"]
    held = [Verdict("C1", "HELD", ["every part holds"])]
    with capture_output() as cap:
        show_second_seed(held, seed1)
    assert cap.stdout.startswith("second seed:\nC1 HELD")
    outputs = [nbformat.v4.new_output("display_data", data=o.data) for o in cap.outputs]
    cell = nbformat.v4.new_code_cell("# VERDICT (second seed)", outputs=outputs)
    nb = nbformat.v4.new_notebook(cells=[cell])
    second = report.extract_verdicts(nb)
    assert [(v.claim, v.outcome, v.seed) for v in second] == [("C1", "HELD", 1)]
    with capture_output() as mixed:
        show_second_seed(held, ["linear-w0.00", "linear-w0.50-seed1"])
    assert not mixed.outputs and "not recorded as one seed's verdicts" in mixed.stdout

    first = [
        report.ClaimVerdict("C1", "NOT HELD", ("C1 NOT HELD", "    fails on: sparse prompts")),
        report.ClaimVerdict("C2", "HELD", ("C2 HELD", "    every part holds")),
    ]
    cpu = report.ChapterResult("01", "01_x", PASSED, 1.0, {}, verdicts=[first[1]], page="01_x.html")
    small = report.ChapterResult(
        "01",
        "01_x-small",
        PASSED,
        1.0,
        {"scale": "small"},
        verdicts=first + second,
        page="01_x-small.html",
        scale="small",
    )
    matrix = report.render_matrix([cpu, small])
    heads = re.findall(r"<th>([^<]*)</th>", matrix)
    assert heads == ["claim", "cpu scale", "small scale, seed 0", "small scale, seed 1"]
    c1, c2 = (re.search(rf"<b>{c}</b>.*?</tr>", matrix).group(0) for c in ("C1", "C2"))
    assert re.findall(r'<td class="cell ([\w-]+)">', c1) == ["n-a", "not-held", "held"]
    assert re.findall(r'<td class="cell ([\w-]+)">', c2) == ["held", "held", "n-a"]
    assert "seed 0 only" not in matrix
    assert report.claims_by_scale([small]) == {
        "C1": {"small": ("NOT HELD", "01_x-small.html", None)},
        "C2": {"small": ("HELD", "01_x-small.html", None)},
    }
    info = {"built": "x", "commit": "c", "params_file": None, "versions": {}, "pattern": "*"}
    page = report.render_index(info, [cpu, small])
    assert "4 verdicts, one per cell of the claims matrix that was run" in page
    assert "Claims tested: 3 HELD, 1 NOT HELD" in page
    assert '<span class="outcome">C1 HELD (seed 1)</span>' in page
    assert '<span class="outcome">C1 NOT HELD</span>' in page
    older = dataclasses.replace(small, verdicts=first)  # a report.json written before seed 1 was recorded
    matrix = report.render_matrix([cpu, older])
    assert "small scale, seed 1" not in matrix and "small scale, seed 0" in matrix
    assert "small scale: seed 0 only" in matrix

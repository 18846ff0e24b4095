"""The verdict cell's output: the printed text nbval checks, and the same verdicts as data for the report."""

from __future__ import annotations

import ast
import io
import json
import tokenize
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from icl.chapters.verdict import VERDICT_MIME, Outcome, Verdict, show

PACKAGE = Path(__file__).resolve().parent.parent / "icl"


def test_show_prints_each_verdict_and_emits_them_as_data():
    a = Verdict("C1", Outcome.HELD, ["every part holds"])
    b = Verdict.judge("C2", [("selection", False)], ["selection: 0.1 (criterion >= 0.5)"])
    InteractiveShell.instance()  # a kernel-like shell, so display() publishes data
    with capture_output() as out:
        show(a, b)
    assert out.stdout == f"{a}\n{b}\n"
    [data] = [o.data[VERDICT_MIME] for o in out.outputs if VERDICT_MIME in o.data]
    assert data == {
        "verdicts": [
            {"claim": "C1", "outcome": "HELD", "lines": ["C1 HELD", "    every part holds"]},
            {"claim": "C2", "outcome": Outcome.NOT_HELD, "lines": str(b).splitlines()},
        ]
    }
    assert data["verdicts"][1]["lines"][0] == "C2 NOT HELD"


def test_show_in_a_plain_script_only_prints(capsys, monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    show(Verdict("C4", Outcome.HELD, []))
    assert capsys.readouterr().out == "C4 HELD\n"


def test_an_outcome_is_its_text_wherever_it_is_written():
    """Outcome is a StrEnum: its text in an f-string, in str(), in JSON (values and keys) and in a
    comparison with the plain string that report.json holds; a Verdict reads a plain string as its
    Outcome and refuses any other."""
    assert [str(o) for o in Outcome] == ["HELD", "NOT HELD", "INCONCLUSIVE", "NOT TESTED"]
    assert f"C1 {Outcome.NOT_HELD}" == "C1 NOT HELD" and Outcome.NOT_TESTED == "NOT TESTED"
    data = {Outcome.HELD: [Outcome.INCONCLUSIVE]}
    assert json.dumps(data) == json.dumps({"HELD": ["INCONCLUSIVE"]}) == '{"HELD": ["INCONCLUSIVE"]}'
    assert json.dumps(data, indent=2, sort_keys=True) == json.dumps({"HELD": ["INCONCLUSIVE"]}, indent=2)
    assert Verdict("C1", "NOT TESTED").status is Outcome.NOT_TESTED
    with pytest.raises(ValueError):
        Verdict("C1", "HELD?")


def test_outcomes_are_spelled_once_in_the_package():
    """No string literal of icl/ is an outcome's text outside its definition (icl/chapters/verdict.py):
    the chapters, the prose and the report write ``Outcome.X`` (issue 38, one name per thing)."""
    texts = {o.value for o in Outcome}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "chapters" / "verdict.py":
            continue
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            if tok.type == tokenize.STRING and not tok.string.lstrip("rbuRBU").startswith(('"""', "'''")):
                try:
                    value = ast.literal_eval(tok.string)
                except ValueError:  # an f-string: its literal parts are prose
                    continue
                if value in texts:
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{tok.start[0]}: {tok.string}")
    assert not found, "outcome literals outside icl/chapters/verdict.py:\n" + "\n".join(found)

"""The verdict cell's output: the printed text nbval checks, and the same verdicts as data for the report."""

from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from icl.chapters.verdict import HELD, NOT_HELD, VERDICT_MIME, Verdict, show


def test_show_prints_each_verdict_and_emits_them_as_data():
    a = Verdict("C1", HELD, ["every part holds"])
    b = Verdict.judge("C2", [("selection", False)], ["selection: 0.1 (criterion >= 0.5)"])
    InteractiveShell.instance()  # a kernel-like shell, so display() publishes data
    with capture_output() as out:
        show(a, b)
    assert out.stdout == f"{a}\n{b}\n"
    [data] = [o.data[VERDICT_MIME] for o in out.outputs if VERDICT_MIME in o.data]
    assert data == {"verdicts": [
        {"claim": "C1", "outcome": "HELD", "lines": ["C1 HELD", "    every part holds"]},
        {"claim": "C2", "outcome": NOT_HELD, "lines": str(b).splitlines()},
    ]}
    assert data["verdicts"][1]["lines"][0] == "C2 NOT HELD"


def test_show_in_a_plain_script_only_prints(capsys, monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    show(Verdict("C4", HELD, []))
    assert capsys.readouterr().out == "C4 HELD\n"

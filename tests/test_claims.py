"""Verdict logic on synthetic curves, and notebook parameter checks."""

from __future__ import annotations

import numpy as np
import pytest

from icl.claims import LinearChapter, SparsitySweep, Verdict, check_runs, verdict_c1, verdict_c2, verdict_c3, verdict_c4, verdict_c5
from icl.evaluate import Curve
from icl.notebook import ParameterError, check


def curve(name, values):
    m = np.asarray(values, dtype=float)
    return Curve(name, m, m - 0.01, m + 0.01, np.tile(m, (4, 1)))


def chapter(mix_shift=0.0, sparse_sel=0.1):
    n = 21
    ls = np.clip((10 - np.arange(n)) / 10, 0, None)
    lasso = ls * 0.3
    dense = {"linear-w1.00": curve("d", ls + 0.01), "linear-w0.50": curve("m", ls + 0.01 + mix_shift),
             "linear-w0.00": curve("s", ls + 0.5), "least squares": curve("ls", ls), "Lasso": curve("l", ls),
             "Bayes mixture w=0.5": curve("b", ls)}
    sparse = {"linear-w1.00": curve("d", ls), "linear-w0.50": curve("m", lasso + mix_shift),
              "linear-w0.00": curve("s", lasso + 0.0 * sparse_sel), "least squares": curve("ls", ls),
              "Lasso": curve("l", lasso), "Bayes mixture w=0.5": curve("b", lasso)}
    return LinearChapter(dense, sparse, 0.01, [], 4)


def test_verdicts_hold_on_ideal_curves():
    ch = chapter()
    for v in (verdict_c1(ch), verdict_c2(ch), verdict_c3(ch)):
        assert v.status == "HELD", str(v)
        assert v.details[0] == "every part holds", str(v)


def test_judge_names_the_failing_parts_first():
    v = Verdict.judge("C0", [("a", True), ("b", False), ("c", False)], ["line"])
    assert (v.status, v.details) == ("NOT HELD", ["fails on: b; c", "line"])
    v = Verdict.judge("C0", [("a", True)], ["line"])
    assert (v.status, v.details) == ("HELD", ["every part holds", "line"]) and v.held


def test_verdicts_fail_when_the_mixture_model_lags():
    ch = chapter(mix_shift=0.2)
    v = verdict_c1(ch)
    assert v.status == "NOT HELD" and "0.200" in str(v)
    assert v.details[0] == "fails on: dense prompts; sparse prompts", str(v)
    v = verdict_c2(ch)
    assert v.status == "NOT HELD", str(v)
    assert v.details[0] == ("fails on: dense (linear-w0.50 vs Bayes mixture w=0.5); "
                            "sparse (linear-w0.50 vs Bayes mixture w=0.5)"), str(v)
    ch = chapter()
    ch.dense["linear-w0.00"] = curve("s", ch.dense["least squares"].mean)  # sparse model fine on dense prompts
    v = verdict_c3(ch)
    assert v.status == "NOT HELD" and v.details[0] == "fails on: linear-w0.00 on dense prompts", str(v)
    ch.dense["least squares"] = curve("ls", ch.dense["least squares"].mean + 0.3)  # unsolvable at k=10
    v = verdict_c3(ch)
    assert "least squares on dense prompts (the task is solvable at k=10)" in v.details[0], str(v)


def test_missing_runs_are_not_tested():
    ch = chapter()
    del ch.dense["linear-w1.00"]
    assert verdict_c1(ch).status == "NOT TESTED" and "linear-w1.00" in str(verdict_c1(ch))


def test_sweep_verdicts():
    nnz = np.arange(1, 11)
    sparse_err = (nnz / 10.0)[:, None] * np.ones((10, 2))
    dense_err = np.full((10, 2), 0.5)
    mix = np.minimum(sparse_err, dense_err) + 0.01
    z = {k: v for k, v in {"linear-w0.00": sparse_err, "linear-w1.00": dense_err, "linear-w0.50": mix}.items()}
    dist_s = np.stack([(nnz - 1) / 10.0] * 2, 1)
    dist_d = np.stack([(10 - nnz) / 10.0] * 2, 1)
    sw = SparsitySweep(nnz, [5, 10], z, z, z, {"to linear-w0.00": dist_s, "to linear-w1.00": dist_d}, [])
    assert verdict_c4(sw).status == "HELD"
    assert verdict_c5(sw).status == "HELD"
    sw.error["linear-w0.50"] = mix + 0.1
    v = verdict_c4(sw)
    assert v.status == "NOT HELD" and v.details[0].startswith("fails on: largest excess (nnz="), str(v)
    sw.distance["to linear-w0.00"] = dist_d  # nearest the sparse model at large nnz, not small
    v = verdict_c5(sw)
    assert v.status == "NOT HELD" and v.details[0] == "fails on: small nnz", str(v)
    # far from both only at nnz 1-2 (nearest the sparse model there, but not near it) is no
    # intermediate difference: from nnz 3 on the mixture sits on the dense model
    ds = 0.5 + 0.001 * nnz
    dd = np.where(nnz <= 2, 0.5, 0.001 * (10 - nnz))
    sw.distance = {"to linear-w0.00": np.stack([ds] * 2, 1), "to linear-w1.00": np.stack([dd] * 2, 1)}
    v = verdict_c5(sw)
    assert v.details[0] == "fails on: intermediate nnz" and "at nnz=3..8" in str(v), str(v)
    # the better of any number of single-class models (np.minimum of two only, before)
    sw.error["linear-w0.25"] = np.zeros((10, 2))
    v = verdict_c4(sw, singles=("linear-w0.00", "linear-w1.00", "linear-w0.25"))
    assert v.status == "NOT HELD" and "0.610 at nnz=5" in str(v), str(v)  # mix 0.61 there, the w0.25 stand-in 0
    assert not sw.error["linear-w0.25"].any()  # and no input overwritten (np.minimum's third argument is out=)


@pytest.mark.parametrize("args, message", [
    (("n_eval", "256", int), "type str; expected int"),
    (("n_eval", 0, int, ), None),
    (("seed", -1, int), "below the allowed minimum 0"),
    (("w", 1.5, float), "above the allowed maximum 1"),
    (("flag", 1, bool), "expected bool"),
    (("ks", [2, "5"], int), "ks='5'"),
    (("ks", [], int), "non-empty list"),
])
def test_parameter_checks(args, message):
    name, value, kind = args
    kw = {"low": 0, "high": 1} if name == "w" else {"low": 0} if name == "seed" else {}
    if name == "ks":
        kw["each"] = True
    if message is None:
        assert check(name, value, kind) == value
        return
    with pytest.raises(ParameterError, match=message):
        check(name, value, kind, **kw)


def test_check_runs():
    assert check_runs(["linear-w0.50"]) == ["linear-w0.50"]
    with pytest.raises(ValueError, match="unknown run name 'no-such-run'"):
        check_runs(["no-such-run"])
    with pytest.raises(ValueError, match="must be a list"):
        check_runs("linear-w0.50")

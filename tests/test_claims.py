"""Verdict logic on synthetic curves, and notebook parameter checks."""

from __future__ import annotations

import numpy as np
import pytest

from icl.chapters.model_selection import LinearChapter, selection_range, verdict_c1, verdict_c2, verdict_c3
from icl.chapters.notebook import ParameterError, check, check_runs
from icl.chapters.selection import Specialist, mixture_matches_specialists
from icl.chapters.sparsity_sweep import SparsityChapter, verdict_c4, verdict_c5
from icl.chapters.sweeps import Sweep
from icl.chapters.verdict import Decision, Verdict, at_least, at_most, every, some
from icl.evaluate import Curve


def curve(name, values, per_prompt=None):
    """A curve without sampling noise (every prompt errs the mean), unless ``per_prompt`` is given."""
    m = np.asarray(values, dtype=float)
    return Curve(name, m, m - 0.01, m + 0.01, per_prompt if per_prompt is not None else np.tile(m, (4, 1)))


def chapter(mix_shift=0.0, d=10):
    """Curves at input dimension d (2d + 1 points): least squares falls linearly to 0 at k = d,
    Lasso (and the sparse-only model) closes 70% of the gap on sparse prompts, every Bayes
    learner sits on its class's specialist."""
    n = 2 * d + 1
    ls = np.clip((d - np.arange(n)) / d, 0, None)
    lasso = ls * 0.3
    dense = {
        "linear-w1.00": curve("d", ls + 0.01),
        "linear-w0.50": curve("m", ls + 0.01 + mix_shift),
        "linear-w0.00": curve("s", ls + 0.5),
        "least squares": curve("ls", ls),
        "Lasso": curve("l", ls),
        "Bayes dense": curve("bd", ls),
        "Bayes sparse": curve("bs", ls + 0.5),
        "Bayes mixture w=0.5": curve("b", ls),
    }
    sparse = {
        "linear-w1.00": curve("d", ls),
        "linear-w0.50": curve("m", lasso + mix_shift),
        "linear-w0.00": curve("s", lasso),
        "least squares": curve("ls", ls),
        "Lasso": curve("l", lasso),
        "Bayes dense": curve("bd", ls),
        "Bayes sparse": curve("bs", lasso),
        "Bayes mixture w=0.5": curve("b", lasso),
    }
    return LinearChapter(d=d, nnz=2, dense=dense, sparse=sparse, lasso_alpha=0.01, missing=[], n_prompts=4)


def test_verdicts_hold_on_ideal_curves():
    ch = chapter()
    for v in (verdict_c1(ch), verdict_c2(ch), verdict_c3(ch)):
        assert v.status == "HELD", str(v)
        assert v.details[0] == "every part holds", str(v)
        assert all(d.holds for d in v.parts.values()), str(v)


def test_judge_names_the_failing_parts_then_the_inconclusive_ones():
    v = Verdict.judge("C0", [("a", True), ("b", False), ("c", False)], ["line"])
    assert (v.status, v.details) == ("NOT HELD", ["fails on: b; c", "line"])
    v = Verdict.judge("C0", [("a", True)], ["line"])
    assert (v.status, v.details) == ("HELD", ["every part holds", "line"]) and v.held
    # an undecided part, and nothing fails: INCONCLUSIVE, with what would decide it
    v = Verdict.judge("C0", [("a", True), ("b", Decision(None, n_needed=5000, n_now=1280))], ["line"])
    assert v.status == "INCONCLUSIVE" and not v.held and [d.holds for d in v.parts.values()] == [True, None]
    assert v.details == [
        "inconclusive: b",
        "to decide: b: about 5,000 prompts (now 1,280; notebook parameter n_eval)",
        "line",
    ]
    # a failing part wins over an undecided one
    v = Verdict.judge("C0", [("b", Decision(None, n_now=1280)), ("c", False)], [])
    assert v.status == "NOT HELD" and v.details[0] == "fails on: c; inconclusive: b", str(v)
    assert "more prompts alone may not decide it" in v.details[1]


def test_interval_decisions():
    # the example: 0.238 with an interval from 0.177 (to 0.299) against "at least 0.2"
    d = at_least(0.238, 0.177, 0.299, 0.2, n=1280)
    assert d.holds is None and d.n_now == 1280
    # the lower half-width 0.061 must shrink below 0.038: n * (0.061 / 0.038)^2 prompts
    assert d.n_needed == int(np.ceil(1280 * (0.061 / 0.038) ** 2))
    assert at_least(0.238, 0.21, 0.27, 0.2).holds is True and at_least(0.15, 0.1, 0.19, 0.2).holds is False
    assert at_least(0.19, 0.15, 0.23, 0.2).holds is None  # estimate below, interval still straddles
    assert at_most(0.04, 0.03, 0.05, 0.05).holds is True and at_most(0.07, 0.06, 0.08, 0.05).holds is False
    assert at_most(0.055, 0.045, 0.065, 0.05, n=4).n_needed == 16  # half-width 0.01 against a gap of 0.005
    assert at_most(0.05, 0.04, 0.06, 0.05, n=4).n_needed is None  # on the threshold
    # the margin: the deciding end's distance to the threshold, positive on the holding side
    assert at_most(0.04, 0.03, 0.045, 0.05).margin == pytest.approx(0.005)
    assert at_least(0.238, 0.177, 0.299, 0.2).margin == pytest.approx(-0.023)
    yes, no, maybe = Decision(True), Decision(False), Decision(None, n_needed=100, n_now=10)
    assert (
        every([yes, yes]).holds is True
        and every([yes, maybe]).holds is None
        and every([maybe, no]).holds is False
    )
    assert some([no, yes]).holds is True and some([no, maybe]).holds is None and some([no, no]).holds is False
    assert every([maybe, Decision(None, n_needed=300, n_now=10)]).n_needed == 300  # enough to decide both
    assert every([at_most(0.0, 0.0, 0.01, 0.05), at_most(0.0, 0.0, 0.03, 0.05)]).margin == pytest.approx(0.02)
    assert some([at_least(0.3, 0.25, 0.35, 0.2), at_least(0.1, 0.05, 0.15, 0.2)]).margin == pytest.approx(
        0.05
    )


def test_the_count_to_decide_comes_from_the_part_that_decides_first():
    """ "At every k" fails as soon as one k's interval lies wholly above the threshold, so an open k
    leaning that way decides it: the count is the smallest among those k, not the largest over all
    (the C1 case: 0.068 [0.045, 0.094] against 0.05 needs about 2,100 prompts, not 462,080)."""
    n = 1280
    ks = [
        at_most(0.03, 0.01, 0.049, 0.05, n),  # holds
        at_most(0.049, 0.030, 0.068, 0.05, n),  # open, leaning to hold: n (0.019 / 0.001)^2 = 462,080
        at_most(0.068, 0.045, 0.094, 0.05, n),  # open, leaning to fail: n (0.023 / 0.018)^2 = 2,089.9
        at_most(0.055, 0.040, 0.070, 0.05, n),
    ]  # open, leaning to fail: n (0.015 / 0.005)^2 = 11,520
    assert [d.leans for d in ks] == [None, True, False, False] and ks[1].n_needed == 462_080
    d = every(ks)
    assert (d.holds, d.n_needed, d.n_now, d.leans) == (None, 2090, n, False)
    v = Verdict.judge("C1", [("sparse prompts", d)], [])
    assert (
        v.details[1]
        == "to decide: sparse prompts: about 2,100 prompts (now 1,280; notebook parameter n_eval)"
    )
    # one k wholly on the failing side already decides the part
    assert every([*ks, at_most(0.08, 0.06, 0.10, 0.05, n)]).holds is False
    # every open k leaning to hold: it holds only once all of them do, the largest count
    assert every([ks[0], ks[1], at_most(0.04, 0.03, 0.06, 0.05, n)]).n_needed == 462_080
    # "at some value" mirrored: one open value leaning to hold decides it (smallest count among those)
    far = [
        at_least(0.238, 0.177, 0.299, 0.2, n),
        at_least(0.17, 0.12, 0.21, 0.2, n),
        at_least(0.1, 0.05, 0.15, 0.2, n),
    ]
    d = some(far)
    assert (d.holds, d.n_needed, d.leans) == (None, far[0].n_needed, True) and far[1].n_needed < far[
        0
    ].n_needed
    # every open value leaning to fail: enough prompts to fail all of them, the largest count
    d = some([far[1], at_least(0.19, 0.15, 0.21, 0.2, n)])  # 2,276 and 5,120 prompts
    assert (d.n_needed, d.leans) == (5120, False) and far[1].n_needed == 2276
    # nested: an every() leaning to fail inside a some() does not decide it; the other part does
    assert some([every(ks), far[0]]).n_needed == far[0].n_needed


def test_counts_to_decide_print_two_significant_figures():
    from icl.chapters.verdict import _two_figures

    assert [_two_figures(n) for n in (126_367, 126_369, 9_593, 25_609, 3_265, 995, 99, 16, 5_000)] == [
        130_000,
        130_000,
        9_600,
        26_000,
        3_300,
        1_000,
        99,
        16,
        5_000,
    ]


def lagging(first_k_gap, bayes_gap, n=11):
    """Specialist curves where the mixture model lags by ``first_k_gap`` at k = 1 and the Bayes
    mixture learner lags the Bayes specialist by ``bayes_gap`` there; equal elsewhere."""
    base = np.clip(1 - np.arange(n) / 5, 0, None)
    bump = lambda g: base + np.where(np.arange(n) == 1, g, 0.0)  # noqa: E731
    return {
        "spec": curve("s", base),
        "mix": curve("m", bump(first_k_gap)),
        "B spec": curve("bs", base),
        "B mix": curve("bm", bump(bayes_gap)),
    }


def test_selection_cost_is_measured_against_the_optimal_learners_own():
    def judge(c):
        return mixture_matches_specialists("C0", "mix", [Specialist("x", c, "spec", "B mix", "B spec")])

    v = judge(lagging(0.15, 0.12))  # the mixture pays 0.15 at k = 1, the optimal learner 0.12 there
    assert v.status == "HELD", str(v)
    assert "largest 0.030 [95% CI 0.030, 0.030] at k=1 (cost 0.150, allowance 0.120" in str(v)
    assert "strict (every k within 0.05): NOT HELD; x: max |mix - spec| = 0.150 at k=1" in str(
        v
    )  # the old criterion
    v = judge(lagging(0.15, 0.05))  # 0.10 more than the optimal learner pays
    assert v.status == "NOT HELD" and "largest 0.100" in str(v), str(v)
    v = judge(
        lagging(0.04, -0.2)
    )  # an optimal learner better than its specialist allows nothing (floored at 0)
    assert v.status == "HELD" and "allowance 0.000" in str(v), str(v)
    assert judge(lagging(0.06, -0.2)).status == "NOT HELD"


def test_selection_cost_straddling_its_threshold_is_inconclusive():
    c = lagging(0.0, 0.0)
    P = 100
    per = np.tile(c["spec"].mean, (P, 1))
    c = {name: curve(name, cv.mean, np.tile(cv.mean, (P, 1))) for name, cv in c.items()}
    noisy = per.copy()
    noisy[:, 3] += 0.06 + 0.1 * np.where(np.arange(P) % 2 == 0, 1.0, -1.0)  # mean 0.06, standard error 0.01
    c["mix"] = curve("m", noisy.mean(0), noisy)
    v = mixture_matches_specialists("C0", "mix", [Specialist("x", c, "spec", "B mix", "B spec")])
    assert v.status == "INCONCLUSIVE" and v.details[0] == "inconclusive: x", str(v)
    assert "prompts (now 100; notebook parameter n_eval)" in v.details[1], str(v)


def test_c2_and_c3_are_read_through_d():
    for d, sel, at in (
        (5, "k=3..4", "at k=5 (= d)"),
        (10, "k=5..9", "at k=10 (= d)"),
        (20, "k=10..19", "at k=20"),
    ):
        ch = chapter(d=d)
        assert verdict_c2(ch).status == verdict_c3(ch).status == "HELD"
        assert sel in str(verdict_c2(ch)) and sel in str(verdict_c3(ch)) and at in str(verdict_c3(ch))
        assert "over k=1.." + str(2 * d) in str(verdict_c2(ch))
    assert list(selection_range(5)) == [3, 4] and list(selection_range(10)) == list(range(5, 10))
    # at d = 20 a sparse-only model that selects only from k = d/2 on passes the selection
    # part; the old criterion (at k = 5, written for d = 10) reads k = d/4 and fails it
    ch = chapter(d=20)
    late = np.where(np.arange(41) >= 10, ch.sparse["Lasso"].mean, ch.sparse["least squares"].mean)
    ch.sparse["linear-w0.00"] = curve("s", late)
    v = verdict_c2(ch)
    assert v.parts["selection"].holds is True, str(v)
    assert "selection at k=5" in v.details[-1] and "NOT HELD" in v.details[-1], str(v)


def test_verdicts_fail_when_the_mixture_model_lags():
    ch = chapter(mix_shift=0.2)
    v = verdict_c1(ch)
    assert v.status == "NOT HELD" and "0.200" in str(v)
    assert v.details[0] == "fails on: dense prompts; sparse prompts", str(v)
    # the mixture against the exact Bayes mixture is reported, no longer a part of C2
    v = verdict_c2(ch)
    assert v.status == "HELD" and "reported, not a part" in str(v) and "sparse 0.200" in str(v), str(v)
    assert "strict (old criteria" in v.details[-1] and "NOT HELD" in v.details[-1], str(v)
    ch = chapter()
    ch.sparse["linear-w0.00"] = curve("s", ch.sparse["least squares"].mean)  # no selection: least squares
    v = verdict_c2(ch)
    assert v.status == "NOT HELD" and v.details[0] == "fails on: sparse (linear-w0.00 vs Lasso); selection", (
        str(v)
    )
    ch = chapter()
    ch.dense["linear-w0.00"] = curve(
        "s", ch.dense["least squares"].mean
    )  # sparse model fine on dense prompts
    v = verdict_c3(ch)
    assert v.status == "NOT HELD" and v.details[0] == "fails on: linear-w0.00 on dense prompts", str(v)
    ch.dense["least squares"] = curve("ls", ch.dense["least squares"].mean + 0.3)  # unsolvable at k=10
    v = verdict_c3(ch)
    assert "least squares on dense prompts (the task is solvable at k=10)" in v.details[0], str(v)
    ch = (
        chapter()
    )  # the dense-only model closes half the gap to Lasso on sparse prompts: not least-squares-like
    ch.sparse["linear-w1.00"] = curve("d", 0.5 * (ch.sparse["least squares"].mean + ch.sparse["Lasso"].mean))
    v = verdict_c3(ch)
    assert v.details[0] == "fails on: linear-w1.00 on sparse prompts" and "closes a mean 0.500" in str(v), (
        str(v)
    )


def test_selection_needs_lasso_better_than_least_squares():
    ch = chapter()
    ch.sparse["Lasso"] = curve("l", ch.sparse["least squares"].mean)
    for v in (verdict_c2(ch), verdict_c3(ch)):
        assert v.status == "NOT TESTED" and "Lasso is not better than least squares" in str(v), str(v)


def test_missing_runs_are_not_tested():
    ch = chapter()
    del ch.dense["linear-w1.00"]
    assert verdict_c1(ch).status == "NOT TESTED" and "linear-w1.00" in str(verdict_c1(ch))
    ch = chapter()
    del ch.sparse["Bayes sparse"]  # the allowance cannot be computed
    v = verdict_c1(ch)
    assert v.status == "NOT TESTED" and v.details == ["missing baseline(s): Bayes sparse"], str(v)


def nnz_chapter(d, nnz, ks, err, distance, selects=True, p=4):
    """Chapter 2 on given numbers: the same errors as means and interval ends, every prompt erring
    the mean (zero-width intervals), distances from linear-w0.50 likewise; at the pretraining nnz
    the sparse-only model is the Lasso (it selects) or, with ``selects=False``, least squares."""
    tile = lambda dct: {n: np.repeat(np.asarray(a, dtype=float)[:, None, :], p, 1) for n, a in dct.items()}  # noqa
    sw = Sweep(
        "nnz",
        nnz,
        ks,
        err,
        err,
        err,
        tile(err),
        distance_from="linear-w0.50",
        distance=distance,
        distance_per_prompt=tile(distance),
    )
    ls = np.clip((d - np.arange(2 * d + 1)) / d, 0, None)
    pre = {
        "least squares": curve("ls", ls),
        "Lasso": curve("l", 0.3 * ls),
        "linear-w0.00": curve("s", 0.3 * ls if selects else ls),
    }
    return SparsityChapter(d, sw, [], 4, 2, pre)


def put(ch, what, name, means):
    """Set one predictor's means (``what``: "error" or "distance") and its per-prompt values (every
    prompt the mean)."""
    getattr(ch.sweep, what)[name] = means
    per = ch.sweep.per_prompt if what == "error" else ch.sweep.distance_per_prompt
    per[name] = np.repeat(np.asarray(means, dtype=float)[:, None, :], 4, 1)


def test_sweep_verdicts():
    nnz = np.arange(1, 11)
    sparse_err = (nnz / 10.0)[:, None] * np.ones((10, 2))
    dense_err = np.full((10, 2), 0.5)
    mix = np.minimum(sparse_err, dense_err) + 0.01
    z = {
        k: v for k, v in {"linear-w0.00": sparse_err, "linear-w1.00": dense_err, "linear-w0.50": mix}.items()
    }
    dist_s = np.stack([(nnz - 1) / 10.0] * 2, 1)
    dist_d = np.stack([(10 - nnz) / 10.0] * 2, 1)
    sw = nnz_chapter(10, nnz, [5, 10], z, {"linear-w0.00": dist_s, "linear-w1.00": dist_d})
    assert verdict_c4(sw).status == "HELD"
    assert verdict_c5(sw).status == "HELD"
    put(sw, "error", "linear-w0.50", mix + 0.1)
    v = verdict_c4(sw)
    assert v.status == "NOT HELD" and v.details[0] == "fails on: excess at every nnz and k", str(v)
    assert v.details[-1].startswith(
        "before (on means, until 2026-12-04): NOT HELD; largest excess 0.110 at nnz="
    ), str(v)
    put(sw, "distance", "linear-w0.00", dist_d)  # nearest the sparse model at large nnz, not small
    v = verdict_c5(sw)
    assert v.status == "NOT HELD" and v.details[0] == "fails on: small nnz", str(v)
    # far from both only at nnz 1-2 (nearest the sparse model there, but not near it) is no
    # intermediate difference: from nnz 3 on the mixture sits on the dense model
    ds = 0.5 + 0.001 * nnz
    dd = np.where(nnz <= 2, 0.5, 0.001 * (10 - nnz))
    put(sw, "distance", "linear-w0.00", np.stack([ds] * 2, 1))
    put(sw, "distance", "linear-w1.00", np.stack([dd] * 2, 1))
    v = verdict_c5(sw)
    assert v.details[0] == "fails on: intermediate nnz" and "at nnz=3..8" in str(v), str(v)
    # the better of any number of single-class models (np.minimum of two only, before)
    put(sw, "error", "linear-w0.25", np.zeros((10, 2)))
    v = verdict_c4(sw, singles=("linear-w0.00", "linear-w1.00", "linear-w0.25"))
    assert v.status == "NOT HELD" and "largest excess 0.610 at nnz=5" in str(v), str(
        v
    )  # mix 0.61, the w0.25 stand-in 0
    assert not sw.sweep.error[
        "linear-w0.25"
    ].any()  # and no input overwritten (np.minimum's third argument is out=)


def test_c4_and_c5_straddling_their_thresholds_are_inconclusive():
    """Judged on paired intervals since 2026-12-04: an excess of 0.06 with a standard error of 0.01
    at one nnz straddles C4's 0.05; a distance to the nearer specialist of 0.025 with a standard
    error of 0.01 straddles C5's 0.02. On means (the ``before`` line) both were decided."""
    nnz = np.arange(1, 11)
    sparse_err, dense_err = (nnz / 10.0)[:, None] * np.ones((10, 2)), np.full((10, 2), 0.5)
    z = {
        "linear-w0.00": sparse_err,
        "linear-w1.00": dense_err,
        "linear-w0.50": np.minimum(sparse_err, dense_err),
    }
    ds, dd = 0.5 + 0.001 * nnz, np.where(nnz <= 2, 0.5, 0.001 * (10 - nnz))
    ch = nnz_chapter(
        10,
        nnz,
        [5, 10],
        z,
        {"linear-w0.00": np.stack([ds] * 2, 1), "linear-w1.00": np.stack([dd] * 2, 1)},
        p=100,
    )
    noise = 0.1 * np.where(np.arange(100) % 2, 1.0, -1.0)
    ch.sweep.per_prompt["linear-w0.50"][4, :, 0] += 0.06 + noise  # nnz = 5, k = 5
    ch.sweep.distance_per_prompt["linear-w1.00"][4, :, 0] = 0.025 + noise
    v = verdict_c4(ch)
    assert v.status == "INCONCLUSIVE" and "largest mean 0.060" in str(v), str(v)
    assert v.details[-1].startswith("before (on means, until 2026-12-04): NOT HELD; largest excess 0.060"), (
        str(v)
    )
    v = verdict_c5(ch)
    assert v.status == "INCONCLUSIVE" and v.details[0] == "inconclusive: intermediate nnz", str(v)
    assert "0.025 [95% CI 0.00" in str(v) and "at nnz=5 (criterion: CI > 0.02 at some such nnz)" in str(v), (
        str(v)
    )


def test_c1_c4_c5_are_not_tested_when_the_sparse_only_model_does_not_select():
    """The precondition (2026-12-04): C2's selection part held for the same seed. A sparse-only
    model that is least squares closes none of the least-squares-to-Lasso gap: "as good as the
    sparse specialist" is then vacuous. NOT TESTED, the reason first, the old verdict kept."""
    ch = chapter()
    ch.sparse["linear-w0.00"] = curve("s", ch.sparse["least squares"].mean)
    v = verdict_c1(ch)
    assert v.status == "NOT TESTED" and v.details[0] == (
        "precondition unmet: the sparse-only model linear-w0.00 closes 0.000 of the least-squares-to-Lasso "
        "gap over k=5..9 (needs 0.5, C2's selection part), so the specialists do not differ"
    ), str(v)
    assert v.precondition == v.details[0].removeprefix("precondition unmet: ")
    # judged without it, C1 HELD: a mixture model that selects beats such a "specialist" (the vacuous pass)
    assert (
        v.details[1]
        == "before (judged without its precondition, as until 2026-12-04): HELD; every part holds"
    )
    assert verdict_c1(chapter()).status == "HELD" and verdict_c1(chapter()).precondition is None
    nnz = np.arange(1, 11)
    z = {n: np.full((10, 2), 0.5) for n in ("linear-w0.00", "linear-w1.00", "linear-w0.50")}
    dist = {
        "linear-w0.00": np.stack([(nnz - 1) / 10.0] * 2, 1),
        "linear-w1.00": np.stack([(10 - nnz) / 10.0] * 2, 1),
    }
    for v in (
        verdict_c4(nnz_chapter(10, nnz, [5, 10], z, dist, selects=False)),
        verdict_c5(nnz_chapter(10, nnz, [5, 10], z, dist, selects=False)),
    ):
        assert v.status == "NOT TESTED" and "on chapter 2's prompts of nnz=2 (needs 0.5" in v.details[0], str(
            v
        )
        assert (
            v.details[1]
            == "before (judged without its precondition, as until 2026-12-04): HELD; every part holds"
        )
    assert verdict_c4(nnz_chapter(10, nnz, [5, 10], z, dist)).status == "HELD"
    ch = nnz_chapter(10, nnz, [5, 10], z, dist)
    ch.pretraining = {}  # built without the pretraining nnz: the premise is not known, nothing is judged
    v = verdict_c5(ch)
    assert v.status == "NOT TESTED" and "was not evaluated" in v.precondition, str(v)


def test_c5_reads_its_nnz_ranges_from_d():
    """At d = 5: small nnz 1-2, large 4-5, intermediate 3 only; at d = 4 there is no intermediate nnz."""
    nnz = np.arange(1, 6)
    ds = np.stack([np.array([0.0, 0.01, 0.05, 0.2, 0.3])] * 2, 1)
    dd = np.stack([np.array([0.3, 0.2, 0.05, 0.01, 0.0])] * 2, 1)
    sw = nnz_chapter(5, nnz, [3, 5], {}, {"linear-w0.00": ds, "linear-w1.00": dd})
    v = verdict_c5(sw)
    assert (
        v.status == "HELD"
        and "(criterion: 4-5;" in str(v)
        and "at nnz=3..3: 0.050 [95% CI 0.050, 0.050] at nnz=3" in str(v)
    ), str(v)
    sw = nnz_chapter(4, nnz[:4], [3, 5], {}, {"linear-w0.00": ds[:4], "linear-w1.00": dd[:4]})
    assert verdict_c5(sw).status == "NOT TESTED"


@pytest.mark.parametrize(
    "args, message",
    [
        (("n_eval", "256", int), "type str; expected int"),
        (
            (
                "n_eval",
                0,
                int,
            ),
            None,
        ),
        (("seed", -1, int), "below the allowed minimum 0"),
        (("w", 1.5, float), "above the allowed maximum 1"),
        (("flag", 1, bool), "expected bool"),
        (("ks", [2, "5"], int), "ks='5'"),
        (("ks", [], int), "non-empty list"),
    ],
)
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


def test_seed_spread_sets_each_run_beside_its_second_seed():
    """Chapter 2: the same nnz and k rows for both seeds, the spread their distance; a run whose
    second seed was not evaluated is left out, and sweeps read at other k are refused."""
    from icl.chapters.sparsity_sweep import seed_spread

    nnz = np.arange(1, 6)
    a = nnz_chapter(5, nnz, [2, 5], {"linear-w0.00": np.full((5, 2), 0.3)}, {})
    b = nnz_chapter(5, nnz, [2, 5], {"linear-w0.00-seed1": np.full((5, 2), 0.5)}, {})
    t = seed_spread(a, b, [("linear-w0.00", "linear-w0.00-seed1"), ("linear-w0.50", "linear-w0.50-seed1")])
    assert len(t) == 10 and set(t["run"]) == {"linear-w0.00"} and (t["spread"] == 0.2).all()
    assert list(t.columns) == ["run", "nnz", "k", "seed 0", "seed 1", "spread"]
    with pytest.raises(ValueError, match="different nnz or k"):
        seed_spread(a, nnz_chapter(5, nnz, [3, 5], {}, {}), [])


def test_chapter_1_seed_spread():
    from icl.chapters.model_selection import seed_spread

    first, second = chapter(), chapter(mix_shift=0.1)
    second.dense = {f"{k}-seed1": c for k, c in second.dense.items()}
    second.sparse = {f"{k}-seed1": c for k, c in second.sparse.items()}
    both = LinearChapter(
        10, 2, {**first.dense, **second.dense}, {**first.sparse, **second.sparse}, 0.01, [], 4
    )
    t = seed_spread(
        both, [("linear-w0.50", "linear-w0.50-seed1"), ("linear-w0.00", "linear-w0.00-seed1")], [2, 5]
    )
    mix = t[t["run"] == "linear-w0.50"]
    assert (
        len(t) == 8
        and np.allclose(mix["spread"], 0.1)
        and (t[t["run"] == "linear-w0.00"]["spread"] == 0).all()
    )

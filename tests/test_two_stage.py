"""Two-stage decisions (issue 37, item 5; fixed 2026-12-04): a part left INCONCLUSIVE by sample
size is decided on a second, independent evaluation of the size the first stage asks for, at
most ``STAGE2_MAX_PROMPTS`` per prompt set, on fresh prompts from another seed.

Constructed cases for the rule itself (:func:`~icl.chapters.verdict.two_stage`): stage 1
inconclusive and stage 2 decides; stays INCONCLUSIVE at the cap; stage 1 decisive, no stage 2;
the stage-2 seed differs from stage 1's. Then the chapters' wiring: each chapter's redraw at its
own seed reproduces its prompts exactly (so a second stage draws the same kind of prompts), at
the stage-2 seed it draws others, and a verdict's inconclusive part is decided by its second
stage alone, deterministically. The oracles under the rule: ``tests/test_calibration.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from icl.baselines import BayesDense, BayesLine, BayesMixture, BayesSparse, LeastSquares
from icl.chapters import model_selection as ms
from icl.chapters.verdict import (
    STAGE2_MAX_PROMPTS,
    STAGE2_SEED_OFFSET,
    Decision,
    Outcome,
    Stage,
    Verdict,
    at_least,
    at_most,
    stage2_seed,
    stage_size,
    two_stage,
)

D, NNZ, N_POINTS = 5, 1, 11  # the small scale


class Recorder:
    """A stage function that records how it was called and returns ``stage``."""

    def __init__(self, stage: Stage):
        self.stage, self.calls = stage, []

    def __call__(self, n: int, seed: int) -> Stage:
        self.calls.append((n, seed))
        return self.stage


# the issue's case: C8's slope part at cpu, 0.238 [0.177, 0.312] against "at least 0.2" on 1,280 prompts
C8_SLOPE = at_least(0.238, 0.177, 0.312, 0.2, 1280)


def test_stage_1_inconclusive_then_stage_2_decides_held():
    assert C8_SLOPE.holds is None and C8_SLOPE.n_needed == 3299  # "about 3,300 prompts asked for"
    again = Recorder(Stage(at_least(0.251, 0.229, 0.273, 0.2, 3300), "0.251 [95% CI 0.229, 0.273] at 8"))
    st = two_stage(Stage(C8_SLOPE, "0.238 [95% CI 0.177, 0.312] at 8"), 1280, 5, again)
    assert again.calls == [(3300, 5 + STAGE2_SEED_OFFSET)]  # the count asked for, rounded up; another seed
    assert (st.n_second, st.seed_second, st.asked, st.at_cap) == (3300, 1_000_005, 3300, False)
    assert st.decision.holds is True and st.first.decision.holds is None
    v = Verdict.judge("C8", [("far (line-only, slope scale (1-D))", st), ("in band", True)], ["numbers"])
    assert v.status == Outcome.HELD and v.parts["far (line-only, slope scale (1-D))"].holds is True, str(v)
    assert v.stages["far (line-only, slope scale (1-D))"] is st
    assert v.details == [
        "every part holds",
        "two stages, far (line-only, slope scale (1-D)): stage 1 (seed 5, n_eval now 1,280): 0.238 [95% CI "
        "0.177, 0.312] at 8: INCONCLUSIVE, asks for 3,300 prompts; stage 2 (fresh prompts, seed 1,000,005, "
        "3,300 prompts): 0.251 [95% CI 0.229, 0.273] at 8: holds (the part's outcome)",
        "numbers",
    ], str(v)


def test_the_outcome_is_the_second_stages_alone():
    """Stage 1 leaning to hold does not carry over: a second stage wholly on the failing side fails
    the part, one that still straddles leaves it INCONCLUSIVE, whatever stage 1 said."""
    second = lambda d: Recorder(Stage(d, "s2"))  # noqa: E731
    fail = two_stage(Stage(C8_SLOPE, "s1"), 1280, 5, second(at_least(0.17, 0.15, 0.19, 0.2, 3300)))
    v = Verdict.judge("C8", [("far", fail)], [])
    assert v.status == Outcome.NOT_HELD and v.details[0] == "fails on: far", str(v)
    assert ": fails (the part's outcome)" in v.details[1], str(v)
    still = two_stage(Stage(C8_SLOPE, "s1"), 1280, 5, second(at_least(0.21, 0.19, 0.23, 0.2, 3300)))
    v = Verdict.judge("C8", [("far", still)], [])
    assert v.status == Outcome.INCONCLUSIVE and v.parts["far"].n_now == 3300, str(v)
    # below the cap: what the second stage read, and what would decide it now (no third stage)
    assert v.details[1] == (
        "to decide: far: stage 2 read 3,300 fresh prompts; about 13,000 prompts would decide it"
    )
    assert v.details[2].endswith("s2: INCONCLUSIVE (the part's outcome)"), str(v)


def test_a_part_that_stays_inconclusive_at_the_cap_says_so():
    far = at_least(0.201, 0.177, 0.312, 0.2, 1280)  # 0.001 above the threshold: about 740,000 prompts
    assert far.n_needed > STAGE2_MAX_PROMPTS
    again = Recorder(
        Stage(at_least(0.203, 0.196, 0.210, 0.2, STAGE2_MAX_PROMPTS), "0.203 [95% CI 0.196, 0.210]")
    )
    st = two_stage(Stage(far, "0.201 [95% CI 0.177, 0.312]"), 1280, 5, again)
    assert again.calls == [(20_000, 1_000_005)] and st.at_cap and st.asked == stage_size(far.n_needed)
    v = Verdict.judge("C8", [("far", st)], [])
    assert v.status == Outcome.INCONCLUSIVE, str(v)
    assert v.details[1].startswith(
        "to decide: far: INCONCLUSIVE at the cap of 20,000 prompts (stage 2 read "
        "20,000 fresh prompts); about "
    ), str(v)
    assert v.details[2].endswith(
        "stage 2 (fresh prompts, seed 1,000,005, 20,000 prompts, the cap): 0.203 "
        "[95% CI 0.196, 0.210]: INCONCLUSIVE (the part's outcome); still "
        "INCONCLUSIVE at the cap"
    ), str(v)
    # a first stage that read the cap already draws no second one
    st = two_stage(Stage(at_least(0.201, 0.19, 0.23, 0.2, 40_000), "x"), 40_000, 5, again)
    assert st.second is None and len(again.calls) == 1 and st.decision.holds is None
    assert "no stage 2: stage 1 read as many as a second stage may (20,000, the cap)" in st.line("far")


def test_no_second_stage_when_the_first_decides_or_cannot_ask():
    again = Recorder(Stage(Decision(False), "never"))
    for d in (at_least(0.3, 0.25, 0.35, 0.2, 1280), at_least(0.1, 0.05, 0.15, 0.2, 1280), Decision(True)):
        st = two_stage(Stage(d, "x"), 1280, 5, again)
        assert st.second is None and st.asked is None and st.decision is d and st.line("p") is None
    on_threshold = at_most(0.05, 0.04, 0.06, 0.05, 1280)  # no count to ask for
    assert two_stage(Stage(on_threshold, "x"), 1280, 5, again).second is None
    assert again.calls == []
    # no way to draw fresh prompts (a chapter built without its predictors): one stage, printed as before
    st = two_stage(Stage(C8_SLOPE, "x"), 1280, 5, None)
    v = Verdict.judge("C8", [("far", st)], [])
    assert (
        st.second is None
        and v.details[1] == "to decide: far: about 3,300 prompts (now 1,280; notebook parameter n_eval)"
    ), str(v)


def test_stage_2_seed_differs_from_stage_1_and_counts_round_up():
    assert all(stage2_seed(s) != s and stage2_seed(s) >= STAGE2_SEED_OFFSET for s in (0, 1, 5, 999))
    assert [stage_size(n) for n in (3277, 3300, 3301, 16, 99, 101, 126_367)] == [
        3300,
        3300,
        3400,
        16,
        99,
        110,
        130_000,
    ]


# --------------------------------------------------------------------------- the chapters' wiring


def oracles() -> dict:
    sd, ss = 1 / math.sqrt(D), 1 / math.sqrt(NNZ)
    return {
        "linear-w1.00": BayesDense(sd),
        "linear-w0.00": BayesSparse(D, NNZ, ss),
        "linear-w0.50": BayesMixture([BayesDense(sd), BayesSparse(D, NNZ, ss)], [0.5, 0.5]),
    }


@pytest.fixture(scope="module")
def linear():
    return ms.linear_chapter(oracles(), d=D, nnz=NNZ, n_points=N_POINTS, n_prompts=64, seed=3, n_boot=200)


def test_a_redraw_at_the_chapters_seed_reproduces_its_prompts_and_another_seed_does_not(linear):
    names = ["linear-w1.00", ms.LEAST_SQUARES]
    for task, curves in (("dense", linear.dense), ("sparse", linear.sparse)):
        same = linear.redraw.curves(task, names, 64, linear.seed)
        fresh = linear.redraw.curves(task, names, 64, stage2_seed(linear.seed))
        for n in names:
            assert np.array_equal(same[n].per_prompt, curves[n].per_prompt)
            assert not np.allclose(fresh[n].per_prompt[:, 1:], curves[n].per_prompt[:, 1:])


def test_other_chapters_redraw_their_own_prompts():
    """Every chapter's prompt sets, drawn again at the chapter's seed, are the chapter's own (cheap
    stand-ins for the runs): chapter 2's sweep, 3's classes, 4's classes and combinations, 5's in-band
    prompts and five sweeps, 6's classes."""
    from icl.chapters import convex_combinations as cc
    from icl.chapters import extreme_functions as ef
    from icl.chapters import nonlinear_mixtures as nm
    from icl.chapters import rare_and_conditional as rc
    from icl.chapters import sparsity_sweep as ss

    ls = LeastSquares()
    sw = ss.sparsity_chapter(
        {"linear-w0.50": ls, "linear-w0.00": BayesLine()},
        {},
        d=D,
        n_points=N_POINTS,
        ks=(3,),
        n_prompts=16,
        others=("linear-w0.00",),
        n_boot=50,
    )
    again = sw.redraw.sweep(
        "nnz",
        ["linear-w0.50", "linear-w0.00"],
        sw.sweep.values,
        16,
        sw.seed,
        distances=("linear-w0.50", ["linear-w0.00"]),
    )
    assert np.array_equal(again.per_prompt["linear-w0.50"], sw.sweep.per_prompt["linear-w0.50"])
    assert np.array_equal(
        again.distance_per_prompt["linear-w0.00"], sw.sweep.distance_per_prompt["linear-w0.00"]
    )
    nl = nm.nonlinear_chapter({"m": ls}, {}, d=D, hidden=8, n_points=N_POINTS, n_prompts=16, n_boot=50)
    for task, curves in (("linear", nl.linear), ("relu", nl.relu)):
        drawn = nl.redraw.curves(task, ["m"], 16, nl.seed)["m"]
        assert np.array_equal(drawn.per_prompt, curves["m"].per_prompt)
    co = cc.combination_chapter(
        {"m": ls}, {}, a_values=[0.5], ks=[5], n_points=11, n_prompts=16, example_a=[], n_boot=50
    )
    for task, curves in (("line", co.line), ("sine", co.sine)):
        drawn = co.redraw.curves(task, ["m"], 16, co.seed)["m"]
        assert np.array_equal(drawn.per_prompt, curves["m"].per_prompt)
    drawn = co.redraw.sweep("a", ["m"], [0.5], 16, co.seed)
    assert np.array_equal(drawn.per_prompt["m"], co.by_a.per_prompt["m"])
    ex = ef.extremes_chapter(
        {"sine-only": ls, "line-only": ls, "linear-only": ls},
        k=5,
        d=D,
        n_points=11,
        n_prompts=16,
        omegas=(0.5, 2.0),
        scales=(0.5, 1.0),
        example_omegas=[],
        n_omega=4,
        n_phi=8,
        n_boot=50,
    )
    assert np.array_equal(
        ex.redraw.curves("in band", ["sine-only"], 16, ex.seed)["sine-only"].per_prompt,
        ex.in_band["sine-only"].per_prompt,
    )
    run = {
        "omega": "sine-only",
        "slope scale (1-D)": "line-only",
        "input scale (1-D)": "line-only",
        "slope scale (d-dim)": "linear-only",
        "input scale (d-dim)": "linear-only",
    }
    for key, s in ex.sweeps().items():
        drawn = ex.redraw.sweep(key, [run[key]], s.values, 16, ex.seed)
        assert np.array_equal(drawn.per_prompt[run[key]], s.per_prompt[run[key]]), key
    ra = rc.rare_chapter({"linear-w0.05": ls}, d=D, nnz=NNZ, n_points=N_POINTS, n_prompts=16, n_boot=50)
    for cls in rc.CLASSES:
        assert np.array_equal(
            ra.redraw.curves(cls, ["linear-w0.05"], 16, ra.seed)["linear-w0.05"].per_prompt,
            ra.curves(cls)["linear-w0.05"].per_prompt,
        )


def test_a_verdicts_inconclusive_part_is_decided_by_its_second_stage_alone(linear):
    """C2's dense part (the dense-only oracle against least squares) with its threshold set inside
    its stage-1 interval, so that it straddles: stage 2 reads the count asked for on fresh prompts,
    and the part's outcome is what those prompts alone say; a re-run prints the same."""
    part, ks = "dense (linear-w1.00 vs least squares)", np.arange(1, 2 * D + 1)
    m, lo, hi = ms.mean_excess(linear.dense, "linear-w1.00", ms.LEAST_SQUARES, ks)
    tol = float(m + 0.5 * (hi - m))  # the estimate below the threshold, the interval's upper end above it
    v = ms.verdict_c2(linear, tol=tol)
    st = v.stages[part]
    assert st.first.decision.holds is None and st.second is not None, str(v)
    assert st.n_second == stage_size(st.first.decision.n_needed)
    assert st.seed_second == stage2_seed(linear.seed) != linear.seed == 3
    fresh = linear.redraw.curves("dense", ["linear-w1.00", ms.LEAST_SQUARES], st.n_second, st.seed_second)
    m2, lo2, hi2 = ms.mean_excess(fresh, "linear-w1.00", ms.LEAST_SQUARES, ks)
    assert v.parts[part] == at_most(m2, lo2, hi2, tol, st.n_second)  # the second stage's decision, alone
    assert any(
        line.startswith(f"two stages, {part}: stage 1 (seed 3, n_eval now 64): ") for line in v.details
    ), str(v)
    assert str(ms.verdict_c2(linear, tol=tol)) == str(v)  # deterministic


def test_an_unmet_precondition_draws_no_second_stage(linear):
    """C1 NOT TESTED on its precondition judges nothing, so its parts keep one stage, even one that
    straddles its threshold and would otherwise be drawn again (least squares standing in for the
    sparse-only model, a noisy mixture whose cost's largest estimate sits just below the threshold)."""
    from dataclasses import replace

    from icl.chapters.selection import Specialist, selection_stages
    from icl.evaluate import Curve, bootstrap_ci

    ls = linear.sparse[ms.LEAST_SQUARES]
    noise = np.random.default_rng(0).normal(0, 0.05, ls.per_prompt.shape)
    worse = ls.per_prompt + 0.1 + noise  # a noisy selection cost of about 0.1
    mix = Curve("mix", worse.mean(0), worse.mean(0), worse.mean(0), worse)
    ch = replace(linear, sparse={**linear.sparse, "linear-w0.00": ls, "linear-w0.50": mix})
    c, bayes = ch.sparse, ms.bayes_mixture_name(0.5)
    own = c[bayes].per_prompt[:, 1:] - c[ms.BAYES_SPARSE].per_prompt[:, 1:]
    allowance = np.where(own.mean(0) > 0, own, 0.0)
    m, lo, hi = bootstrap_ci(worse[:, 1:] - ls.per_prompt[:, 1:] - allowance, seed=0)
    tol = float(m.max()) + 1e-6  # no k wholly above it, the k of the largest estimate straddling it
    assert lo.max() < tol < hi[np.argmax(m)]
    spec = Specialist(
        "sparse prompts", c, "linear-w0.00", bayes, ms.BAYES_SPARSE, draw=ch.draw("sparse"), eval_seed=ch.seed
    )
    drawn, _ = selection_stages("linear-w0.50", spec, tol)  # the premise aside, a second stage is drawn
    assert drawn.first.decision.holds is None and drawn.second is not None
    v = ms.verdict_c1(ch, tol=tol)
    assert v.status == "NOT TESTED" and v.precondition, str(v)
    assert not any(line.startswith("two stages") for line in v.details), str(v)
    assert v.details[1].startswith(
        "before (judged without its precondition, as until 2026-12-04): INCONCLUSIVE"
    ), str(v)


def test_second_stages_of_chapters_4_to_6_read_fresh_prompts_of_the_values_they_judge():
    """Chapters 4-6 with cheap stand-ins (3-NN and least squares), each threshold set inside its
    stage-1 interval so that the part straddles it: C7b's part draws a = 0.5 at its k again, C8's
    far part the far values of its sweep, R1b's part both rare runs on their rare class; each
    outcome is the one computed on those fresh prompts alone."""
    from icl.baselines import KNN
    from icl.chapters import convex_combinations as cc
    from icl.chapters import extreme_functions as ef
    from icl.chapters import rare_and_conditional as rc
    from icl.evaluate import bootstrap_ci

    knn, ls = KNN(3), LeastSquares()
    co = cc.combination_chapter(
        {"line-sine-w0.50": knn, "line-only": ls, "sine-only": ls},
        {cc.COMBINED_FIT: ls},
        a_values=[0.5],
        ks=[5],
        n_points=11,
        n_prompts=32,
        example_a=[],
        n_boot=200,
    )
    e = co.by_a.at_k(5).per_prompt
    m, lo, hi = bootstrap_ci(e["line-sine-w0.50"][0] - e[cc.COMBINED_FIT][0], n_boot=200, seed=0)
    tol = float(m + hi) / 2  # leaning to fail, straddling
    b = cc.verdict_c7b(co, k=5, ratio=0.0, tol=tol, n_boot=200)
    st = next(iter(b.stages.values()))
    assert st.second is not None and st.seed_second == stage2_seed(co.seed), str(b)
    fresh = co.redraw.sweep(
        "a", ["line-sine-w0.50", cc.COMBINED_FIT], [0.5], st.n_second, st.seed_second, ks=[5]
    ).per_prompt
    diff = fresh["line-sine-w0.50"][0, :, 0] - fresh[cc.COMBINED_FIT][0, :, 0]
    m2, lo2, hi2 = bootstrap_ci(diff, n_boot=200)
    assert st.decision == at_least(float(m2), float(lo2), float(hi2), tol, st.n_second), str(b)

    ex = ef.extremes_chapter(
        {"sine-only": knn, "line-only": knn, "linear-only": knn},
        k=5,
        d=D,
        n_points=11,
        n_prompts=32,
        omegas=(0.5, 2.0, 5.0),
        scales=(0.125, 1.0, 8.0),
        example_omegas=[],
        n_omega=4,
        n_phi=8,
        n_boot=200,
    )
    at = ex.slope_1d.at_k()
    unstable = float(at.lo["line-only"][[0, 2]].max()) + 1e-6  # no far value holds; the highest straddles
    v = ef.verdict_c8(ex, mix_run=None, unstable=unstable)
    st = v.stages["far (line-only, slope scale (1-D))"]
    assert st.first.decision.holds is None and st.second is not None, str(v)
    fresh = ex.redraw.sweep(
        "slope scale (1-D)", ["line-only"], [0.125, 8.0], st.n_second, st.seed_second
    ).at_k()
    assert (
        v.parts["far (line-only, slope scale (1-D))"]
        == ef._far(fresh, "line-only", 1.0, 1.0, 2.0, 8.0, unstable, st.n_second).decision
    )

    ra = rc.rare_chapter(
        {"linear-w0.05": knn, "linear-w0.95": knn}, d=D, nnz=NNZ, n_points=N_POINTS, n_prompts=32, n_boot=200
    )
    rises = [
        bootstrap_ci(p[:, 2:] - p[:, 1:-1], n_boot=200)
        for p in (ra.dense["linear-w0.05"].per_prompt, ra.sparse["linear-w0.95"].per_prompt)
    ]
    min_rise = float(max(lo.max() for _, lo, _ in rises)) + 1e-6
    v = rc.verdict_r1b(ra, min_rise=min_rise, n_boot=200)
    st = next(iter(v.stages.values()))
    assert st.first.decision.holds is None and st.second is not None, str(v)
    per = {
        r: ra.redraw.curves(rc.rare_class(r), [r], st.n_second, st.seed_second)[r].per_prompt
        for r in ("linear-w0.05", "linear-w0.95")
    }
    assert st.decision == rc._rises(per, min_rise, 200, 0).decision
    assert str(rc.verdict_r1b(ra, min_rise=min_rise, n_boot=200)) == str(v)  # deterministic


def test_c5s_intermediate_part_draws_only_the_intermediate_nnz_again():
    """C5's intermediate part reads nnz 3..d-2 only, so its second stage draws those alone (the end
    parts, which read every nnz, are not computed there); its outcome is those prompts' alone."""
    from icl.baselines import KNN
    from icl.chapters import sparsity_sweep as ss
    from icl.evaluate import choose_lasso_alpha
    from icl.tasks import SparseLinear

    d = 7  # intermediate nnz 3..5
    alpha = choose_lasso_alpha(SparseLinear(d, NNZ, normalize=True), 15, (1e-3, 1e-2, 1e-1), 2)
    models = {
        "linear-w0.50": KNN(3),
        "linear-w0.00": BayesSparse(d, NNZ, 1.0),
        "linear-w1.00": BayesDense(1 / math.sqrt(d)),
    }
    ch = ss.sparsity_chapter(
        models,
        ss.sparsity_baselines(d, NNZ, alpha),
        d=d,
        n_points=15,
        ks=(4,),
        n_prompts=32,
        n_boot=200,
        nnz=NNZ,
    )
    inner = np.flatnonzero((ch.sweep.values >= 3) & (ch.sweep.values <= d - 2))
    est, lo, hi, _ = ss._c5_stats(ch.sweep, "linear-w0.00", "linear-w1.00", 0, d, 1000, 0)
    differ = float(lo[2 + inner].max()) + 1e-6  # no intermediate nnz holds; the highest straddles
    assert (hi[2 + inner] > differ).any()
    v = ss.verdict_c5(ch, differ=differ)
    st = v.stages["intermediate nnz"]
    assert st.first.decision.holds is None and st.second is not None, str(v)
    fresh = ch.redraw.sweep(
        "nnz",
        list(models),
        ch.sweep.values[inner],
        st.n_second,
        st.seed_second,
        distances=("linear-w0.50", ["linear-w0.00", "linear-w1.00"]),
    )
    assert list(fresh.values) == [3, 4, 5]
    e2, lo2, hi2, n2 = ss._c5_stats(fresh, "linear-w0.00", "linear-w1.00", 0, d, 1000, 0)
    assert np.isnan(e2[:2]).all() and n2 == st.n_second  # no end quantities without the end nnz
    assert (
        v.parts["intermediate nnz"]
        == ss._c5_stage("intermediate nnz", e2, lo2, hi2, n2, fresh.values, np.arange(3), differ).decision
    )


def test_a_combined_part_is_read_at_an_item_with_its_own_outcome():
    """ "Some k rises": an inconclusive straddle (margin -0.012) is the reading of an inconclusive part, not
    a failing item whose margin (-0.01) happens to be larger; "every k": a failing item reads a failure."""
    from icl.chapters.verdict import Decision, every_stage, some_stage

    failing, straddle = Decision(False, -0.01), Decision(None, -0.012, 61_000, 4096, False)
    holding = Decision(True, 0.02)
    stage = some_stage([(failing, "A: fails"), (straddle, "B: straddles")])
    assert stage.decision.holds is None and stage.reading == "B: straddles"
    assert some_stage([(failing, "A"), (holding, "C")]).reading == "C"
    assert every_stage([(holding, "C"), (straddle, "B"), (failing, "A")]).reading == "A"
    assert every_stage([(holding, "C"), (straddle, "B")]).reading == "B"

"""Calibration: the criteria are passed by the Bayes-optimal learners of their priors.

A criterion that the optimal learner of the pretraining prior fails does not test
"near-optimal model selection": it tests something no learner can do (e.g. "selection is
free at k = 1"). So every verdict function is run here with the Bayes-optimal predictors
standing in for the trained models - Bayes dense as the dense-only model, Bayes sparse as
the sparse-only one, the Bayes dense/sparse mixture as the mixture model; Bayes line,
Bayes sine and the line/sine posterior for chapters 4-5 - and the near-optimality claims
must HOLD on them, as must the claims of failure where they apply to an ideal learner
(C3 out of class, C7 on the combinations, C8 far outside the frequency band). Then
deliberately bad stand-ins must be NOT HELD, and the criterion used before 2026-12-01
(every k within 0.05) must fail the oracle of chapter 4: the evidence that it was wrong.

Chapters 1-2 run at the small scale (d = 5, nnz = 1, 11 points), chapters 4-5 on 21-point
prompts with a coarser quadrature grid than the notebooks (the oracles are compared with
themselves, so the grid sets the numbers, not the verdicts). C6 has no oracle (no
Bayes-optimal learner of linear + ReLU networks is computable); its identifiability
criterion is tested on synthetic curves in test_chapters.py.

``pytest -s tests/test_calibration.py`` prints each part's margin: how far the deciding end
of its 95% interval lies from the threshold, positive on the holding side.

Every verdict here runs under the two-stage rule (2026-12-04: a part left INCONCLUSIVE by sample
size is decided on a second stage of fresh prompts, :func:`~icl.chapters.verdict.two_stage`): the
chapters are built by their own functions, so they can draw second stages. The oracles must
still pass every near-optimality part and fail none they should pass, whichever stage decides
it; and where one stage left an oracle undecided (C4 at 500 prompts per nnz), the second must
decide it HELD.
"""

from __future__ import annotations

import math

import pytest

from icl.baselines import (
    BayesDense,
    BayesLine,
    BayesMixture,
    BayesSine,
    BayesSparse,
    CombinedFit,
    LeastSquares,
)
from icl.chapters import convex_combinations as cc
from icl.chapters import extreme_functions as ef
from icl.chapters import model_selection as ms
from icl.chapters import sparsity_sweep, verdict
from icl.chapters.selection import Specialist, strict_every_k
from icl.chapters.verdict import Verdict

D, NNZ, N_POINTS = 5, 1, 11  # the small scale
BAND, N_OMEGA, N_PHI = (1.0, 3.0), 64, 128
N_PROMPTS = 1000  # chapters 1-2 (cheap); chapters 4-5 use 400
# chapter 2: judged on paired intervals since 2026-12-04, C4 on the oracles needs about 2,900 prompts
# per nnz (at 500 its interval at nnz=2, k=3, mean -0.009, reaches 0.133: the misspecified sparse
# learner's errors are heavy-tailed there); the notebook's n_eval is 4096 for the same reason
N_SWEEP = 4096


def report_margins(v: Verdict) -> dict[str, float | None]:
    """Print and return each part's outcome and margin (the numbers in the README)."""
    for name, d in v.parts.items():
        margin = "n/a" if d.margin is None else f"{d.margin:+.3f}"
        print(f"{v.claim} [{name}]: {d.holds} (margin {margin})")
    return {name: d.margin for name, d in v.parts.items()}


def assert_parts_hold(v: Verdict, names: list[str] | None = None) -> None:
    names = list(v.parts) if names is None else names
    assert v.parts, str(v)
    for name in names:
        assert v.parts[name].holds is True, f"{name}\n{v}"


def report_stages(v: Verdict) -> list[str]:
    """Print and return the parts of ``v`` that a second stage decided (their two-stage lines)."""
    lines = [line for line in v.details if line.startswith("two stages, ")]
    for line in lines:
        print(f"{v.claim}: {line}")
    return [name for name, st in v.stages.items() if st.second is not None]


# --------------------------------------------------------------------------- chapters 1-2


def linear_oracles() -> dict:
    sd, ss = 1 / math.sqrt(D), 1 / math.sqrt(NNZ)
    return {
        "linear-w1.00": BayesDense(sd),
        "linear-w0.00": BayesSparse(D, NNZ, ss),
        "linear-w0.50": BayesMixture([BayesDense(sd), BayesSparse(D, NNZ, ss)], [0.5, 0.5]),
    }


@pytest.fixture(scope="module")
def linear():
    """Chapter 1 with the oracles, and two bad stand-ins scored on the same prompts."""
    bad = {
        "least squares as sparse-only": LeastSquares(),
        "dense-only as mixture": BayesDense(1 / math.sqrt(D)),
    }
    return ms.linear_chapter(
        {**linear_oracles(), **bad}, d=D, nnz=NNZ, n_points=N_POINTS, n_prompts=N_PROMPTS, n_boot=500
    )


@pytest.fixture(scope="module")
def sweep():
    """Chapter 2 with the oracles, least squares standing in for a sparse-only model that does not
    select riding along (its distances recorded too), and the pretraining nnz (the precondition)."""
    from icl.evaluate import choose_lasso_alpha
    from icl.tasks import SparseLinear

    alpha = choose_lasso_alpha(SparseLinear(D, NNZ, normalize=True), N_POINTS, (1e-3, 1e-2, 1e-1), 2)
    models = {**linear_oracles(), "least squares as sparse-only": LeastSquares()}
    return sparsity_sweep.sparsity_chapter(
        models,
        sparsity_sweep.sparsity_baselines(D, NNZ, alpha),
        d=D,
        n_points=N_POINTS,
        ks=(math.ceil(D / 2), D),
        n_prompts=N_SWEEP,
        n_boot=200,
        others=("linear-w0.00", "linear-w1.00", "least squares as sparse-only"),
        nnz=NNZ,
    )


def test_chapter_1_2_claims_hold_on_the_oracles(linear, sweep):
    for v in (
        ms.verdict_c1(linear),
        ms.verdict_c2(linear),
        ms.verdict_c3(linear),
        sparsity_sweep.verdict_c4(sweep),
    ):
        print(v)
        report_margins(v)
        assert v.status == "HELD", str(v)


def test_the_mixture_oracle_pays_a_selection_cost_that_c1_allows(linear):
    """Not knowing the class costs even the Bayes mixture learner something at small k; C1
    allows exactly that cost, so the oracle passes with no margin used (cost - allowance = 0)."""
    v = ms.verdict_c1(linear)
    own = (linear.dense["linear-w0.50"].mean - linear.dense["linear-w1.00"].mean)[1:]
    print(
        f"Bayes mixture - Bayes dense on dense prompts, k=1..{len(own)}: {[round(float(x), 3) for x in own]}"
    )
    assert own.max() > 0.01  # a real selection cost...
    assert "largest 0.000 [95% CI 0.000, 0.000]" in v.details[1], str(v)  # ...fully allowed


def test_bad_stand_ins_are_not_held(linear):
    v = ms.verdict_c1(linear, mix="dense-only as mixture")  # never selects the sparse class
    assert v.status == "NOT HELD" and v.parts["sparse prompts"].holds is False, str(v)
    v = ms.verdict_c2(linear, sparse_only="least squares as sparse-only")  # no selection at all
    assert v.status == "NOT HELD" and v.parts["selection"].holds is False, str(v)
    v = ms.verdict_c3(linear, sparse_only="least squares as sparse-only")  # does not fail on dense prompts
    assert (
        v.status == "NOT HELD" and v.parts["least squares as sparse-only on dense prompts"].holds is False
    ), str(v)


def test_the_precondition_of_c1_c4_c5_is_met_by_the_oracles_and_unmet_without_selection(linear, sweep):
    """The premise of C1, C4 and C5 (2026-12-04): the sparse-only model selects (C2's selection
    part). The Bayes sparse learner does, so the oracles are judged; least squares standing in
    for the sparse-only model does not: NOT TESTED, with the reason and the old verdict."""
    assert ms.selection_precondition(linear.sparse, "linear-w0.00", D).met
    assert sparsity_sweep.precondition(sweep, "linear-w0.00").met
    bad = "least squares as sparse-only"
    for v in (
        ms.verdict_c1(linear, sparse_only=bad),
        sparsity_sweep.verdict_c4(sweep, singles=(bad, "linear-w1.00")),
        sparsity_sweep.verdict_c5(sweep, sparse_only=bad),
    ):
        print(v)
        assert v.status == "NOT TESTED" and v.details[0].startswith(
            f"precondition unmet: the sparse-only model {bad} closes 0.000 of the"
        ), str(v)
        assert v.precondition and v.details[1].startswith("before (judged without its precondition"), str(v)


def test_c4_and_c5_intervals_on_the_oracles(sweep):
    """C4 on paired intervals holds on the oracles with every interval below 0.05 (the margin
    printed; with 500 prompts per nnz it was INCONCLUSIVE: see N_SWEEP)."""
    v = sparsity_sweep.verdict_c4(sweep)
    report_margins(v)
    assert v.status == "HELD" and v.parts["excess at every nnz and k"].margin > 0, str(v)


@pytest.mark.slow
def test_c5_on_the_oracles_is_reported_not_required(sweep):
    """C5 describes how the trained mixture model interpolates at intermediate nnz. The exact
    Bayes mixture learner does not: with noiseless data a support of nnz = 1 is refuted by two
    points, so at nnz >= 2 it follows the dense learner at once. Printed for the record. On
    paired intervals (2026-12-04) the small end holds; the large end is undecided, not failed:
    the learner is as near the dense one at nnz = 3 as at 4-5 (on means it held by 0.001)."""
    v = sparsity_sweep.verdict_c5(sweep)
    print(v)
    report_margins(v)
    assert v.parts["small nnz"].holds is True and v.parts["large nnz"].holds is not False, str(v)


def test_where_one_stage_left_the_oracle_undecided_the_second_decides_it():
    """The two-stage rule on the oracles: C4 judged on 500 prompts per nnz was INCONCLUSIVE on them
    (see N_SWEEP: one interval at nnz = 2 reaches above 0.05 with heavy-tailed errors); its second
    stage, on the count the first asks for (fresh prompts, another seed, at most the cap), must
    decide it HELD, and its outcome is that stage's."""
    from icl.evaluate import choose_lasso_alpha
    from icl.tasks import SparseLinear

    alpha = choose_lasso_alpha(SparseLinear(D, NNZ, normalize=True), N_POINTS, (1e-3, 1e-2, 1e-1), 2)
    baselines = sparsity_sweep.sparsity_baselines(D, NNZ, alpha)
    ch = sparsity_sweep.sparsity_chapter(
        linear_oracles(),
        baselines,
        d=D,
        n_points=N_POINTS,
        ks=(math.ceil(D / 2), D),
        n_prompts=500,
        n_boot=200,
        nnz=NNZ,
    )
    v = sparsity_sweep.verdict_c4(ch)
    print(v)
    st = v.stages["excess at every nnz and k"]
    assert st.first.decision.holds is None and st.second is not None, str(v)  # one stage: undecided
    assert st.n_second == verdict.stage_size(st.first.decision.n_needed) or st.at_cap
    assert st.seed_second == verdict.stage2_seed(ch.seed) and st.seed_second != ch.seed
    assert v.status == "HELD" and v.parts["excess at every nnz and k"] is st.second.decision, str(v)
    report_stages(v)


# --------------------------------------------------------------------------- chapters 4-5


def one_d_oracles() -> dict:
    return {
        "line-only": BayesLine(),
        "sine-only": BayesSine(BAND, n_omega=N_OMEGA, n_phi=N_PHI),
        "line-sine-w0.50": BayesMixture(
            [BayesLine(noise_var=1e-3), BayesSine(BAND, n_omega=N_OMEGA, n_phi=N_PHI)], [0.5, 0.5]
        ),
    }


@pytest.fixture(scope="module")
def combination():
    baselines = {
        "combined fit": CombinedFit(BAND, n_omega=32, refine=2),
        "Bayes line/sine w=0.5": BayesMixture(
            [BayesLine(noise_var=1e-3), BayesSine(BAND, n_omega=N_OMEGA, n_phi=N_PHI)], [0.5, 0.5]
        ),
        "Bayes line": BayesLine(),
    }
    models = {**one_d_oracles(), "line-only as mixture": BayesLine()}
    return cc.combination_chapter(
        models,
        baselines,
        a_values=[0.0, 0.5, 1.0],
        ks=[20],
        band=BAND,
        n_points=21,
        n_prompts=400,
        example_a=[],
        n_boot=500,
    )


@pytest.fixture(scope="module")
def extremes():
    models = {**one_d_oracles(), "linear-only": BayesDense(1 / math.sqrt(D))}
    return ef.extremes_chapter(
        models,
        band=BAND,
        k=20,
        d=D,
        n_points=21,
        n_prompts=400,
        example_omegas=[],
        n_omega=N_OMEGA,
        n_phi=N_PHI,
        n_boot=500,
    )


def test_c7a_and_c7b_hold_on_the_oracles(combination):
    for v in cc.verdict_c7(combination):
        print(v)
        report_margins(v)
        assert v.status == "HELD", str(v)  # C7a: lines and sines near-optimal; C7b: the combination a failure


def test_the_old_every_k_criterion_fails_the_oracle_of_chapter_4(combination):
    """The criterion before 2026-12-01 (the mixture within 0.05 of the specialist at every k)
    fails the Bayes-optimal line/sine learner itself: not knowing the class costs it more than
    0.05 at the first examples. Re-introducing that criterion would fail this calibration."""
    v = cc.verdict_c7a(combination)
    strict = v.details[-2]
    assert strict.startswith("strict (every k within 0.05") and ": NOT HELD;" in strict, strict
    specialists = [
        Specialist("lines", combination.line, "line-only", "Bayes line/sine w=0.5", "Bayes line"),
        Specialist("sines", combination.sine, "sine-only", "Bayes line/sine w=0.5", "Bayes sine"),
    ]
    ok, text = strict_every_k("line-sine-w0.50", specialists, 0.05)
    print(text)
    assert not ok


def test_c7_bad_stand_ins_are_not_held(combination):
    a, b = cc.verdict_c7(combination, mix="line-only as mixture")  # never selects the sine class
    assert a.status == "NOT HELD" and a.parts["a=0 (sines)"].holds is False, str(a)
    # an exact fit of the combined class standing in for the mixture model does not fail between: C7b NOT HELD
    b = cc.verdict_c7b(combination, mix="combined fit", fit="combined fit")
    assert b.status == "NOT HELD", str(b)


def test_c8_in_band_and_far_frequency_parts_hold_on_the_oracles(extremes):
    """In band the sine oracles are the reference (near-optimality), and out of band the
    Bayes learner of the band prior cannot represent the frequency (failure far out). The
    scale parts do not apply to an ideal learner: the Bayes line and dense posteriors are
    exact at every slope and input scale, so "unstable far out" fails on them by design;
    nor does "near the band" (it tests generalisation beyond the prior, which the Bayes
    learner of the prior lacks: at omega = 3.3 it errs about 0.1)."""
    v = ef.verdict_c8(extremes)
    print(v)
    report_margins(v)
    assert_parts_hold(v, ["in band (sine-only)", "in band (line-sine-w0.50)", "far (sine-only, omega)"])
    assert v.parts["far (line-only, slope scale (1-D))"].holds is False  # exact extrapolation, as expected


# --------------------------------------------------------------------------- chapter 6


@pytest.fixture(scope="module")
def rare():
    """Chapter 6 with the oracles: each run of weight w is the Bayes learner of its own prior; the
    oracle conditional model is the Bayes learner of the instructed class (correct: the prompt's
    class, wrong: the other), "none" and the unconditional model the w = 0.5 Bayes mixture. Bad
    stand-ins ride along: a conditional model that ignores its instruction, least squares as one."""
    from icl.chapters import rare_and_conditional as rc

    learners = rc.bayes_learners(D, NNZ)
    models = {r: learners[rc.own_bayes(r)] for r in rc.WEIGHT_RUNS}
    mix = learners[rc.own_bayes(rc.REFERENCE)]
    single = {"dense": learners[ms.BAYES_DENSE], "sparse": learners[ms.BAYES_SPARSE]}
    per_class = {
        cls: {
            rc.COND_CORRECT: single[cls],
            rc.COND_WRONG: single[other],
            rc.COND_NONE: mix,
            "ignores its instruction": mix,
            "least squares as correct": LeastSquares(),
        }
        for cls, other in (("dense", "sparse"), ("sparse", "dense"))
    }
    models["dense-only as linear-w0.05"] = learners[ms.BAYES_DENSE]
    # the notebook's n_eval: the oracle's gain from the instruction on sparse prompts is small (about 0.004
    # over k = 1..5: two points identify a 1-sparse function), so (a) on sparse prompts needs this many
    # prompts
    return rc.rare_chapter(
        models, per_class, d=D, nnz=NNZ, n_points=N_POINTS, n_prompts=rc.N_EVAL, n_boot=500
    )


def test_chapter_6_claims_hold_on_the_oracles(rare):
    from icl.chapters import rare_and_conditional as rc

    for v in (rc.verdict_r1a(rare), rc.verdict_r2(rare)):
        print(v)
        report_margins(v)
        assert v.status == "HELD", str(v)


def test_r1b_is_never_held_on_the_oracles(rare):
    """The Bayes learner's expected error never rises with k, so "some k at which the error rises"
    must not hold on the oracles (a criterion that found rises in them would be reading noise).
    With "interval above 0" (the issue's first wording) the exact learner HELD: its error of 1e-11
    at k >= d rises to 3e-11 in floating point; a rise must exceed 0.01 (C8's floor)."""
    from icl.chapters import rare_and_conditional as rc

    v = rc.verdict_r1b(rare)
    print(v)
    report_margins(v)
    assert v.status == "NOT HELD" and str(v).count("intervals above 0.01 at 0,") == 4, str(v)
    assert rc.verdict_r1b(rare, min_rise=0.0).status == "HELD"  # the evidence for the floor


def test_r1b_on_constructed_curves():
    """A rare run whose error rises by 0.2 from k = 3 to 4: R1b HELD; one that falls at every k
    with noise: NOT HELD; a rise of 0.012 with a standard error of about 0.005: INCONCLUSIVE."""
    import numpy as np

    from icl.chapters import rare_and_conditional as rc
    from icl.evaluate import Curve

    rng = np.random.default_rng(0)
    falling = np.linspace(1.0, 0.1, N_POINTS)

    def chapter(dense_curve, sparse_curve):
        def c(m):
            per = m + rng.normal(0, 0.01, (400, N_POINTS))
            return Curve("x", per.mean(0), per.mean(0), per.mean(0), per)

        dense = {"linear-w0.05": c(dense_curve), rc.own_bayes("linear-w0.05"): c(falling)}
        sparse = {"linear-w0.95": c(sparse_curve), rc.own_bayes("linear-w0.95"): c(falling)}
        return rc.RareChapter(D, NNZ, dense, sparse, [], 400)

    bump = falling + np.where(np.arange(N_POINTS) >= 4, 0.2, 0.0)
    v = rc.verdict_r1b(chapter(falling, bump))
    assert v.status == "HELD" and "largest step +0.111" in str(v), str(v)  # either run: the sparse one rises
    assert rc.verdict_r1b(chapter(falling, falling)).status == "NOT HELD"
    ch = chapter(falling, falling)
    per = ch.sparse["linear-w0.95"].per_prompt.copy()
    per[:, 4:] += 0.102 + 0.1 * np.where(np.arange(400) % 2, 1.0, -1.0)[:, None]  # a step of 0.012 at k=3
    ch.sparse["linear-w0.95"] = Curve("x", per.mean(0), per.mean(0), per.mean(0), per)
    v = rc.verdict_r1b(ch)
    assert v.status == "INCONCLUSIVE" and "largest step +0.012" in str(v), str(v)
    assert rc.verdict_r1b(rc.RareChapter(D, NNZ, {}, {}, [], 4)).status == "NOT TESTED"


def test_chapter_6_bad_stand_ins_are_not_held(rare):
    from dataclasses import replace

    from icl.chapters import rare_and_conditional as rc

    # curves swapped by hand stand for no predictor the chapter could score again: one stage (redraw=None)
    # a "rare" run that is the dense specialist is closer to it than linear-w0.50: R1 fails on dense prompts
    ch = replace(
        rare, dense={**rare.dense, "linear-w0.05": rare.dense["dense-only as linear-w0.05"]}, redraw=None
    )
    v = rc.verdict_r1a(ch, rare=("linear-w0.05",))
    assert v.status == "NOT HELD" and v.parts["linear-w0.05 on dense prompts"].holds is False, str(v)
    # an instruction the model ignores leaves it the unconditional model: (a) and (b) cannot hold
    for bad, part in (
        ("ignores its instruction", "(a) sparse prompts, correct instruction"),
        ("least squares as correct", "(a) sparse prompts, correct instruction"),
    ):
        ch = replace(
            rare,
            dense={**rare.dense, rc.COND_CORRECT: rare.dense[bad]},
            sparse={**rare.sparse, rc.COND_CORRECT: rare.sparse[bad]},
            redraw=None,
        )
        v = rc.verdict_r2(ch)
        assert v.status != "HELD" and v.parts[part].holds is not True, str(v)
    ch = replace(
        rare, sparse={**rare.sparse, rc.COND_CORRECT: rare.sparse["least squares as correct"]}, redraw=None
    )
    assert rc.verdict_r2(ch).parts["(a) sparse prompts, correct instruction"].holds is False


# --------------------------------------------------------------------------- every chapter, two stages


@pytest.mark.slow
def test_no_near_optimality_part_fails_on_the_oracles_under_two_stages(
    linear, sweep, combination, extremes, rare
):
    """Every part the oracles must pass holds, whichever stage decided it, and every part a second
    stage decided is listed (printed); none of them fails on a part it should pass."""
    from icl.chapters import rare_and_conditional as rc

    required = [
        ms.verdict_c1(linear),
        ms.verdict_c2(linear),
        ms.verdict_c3(linear),
        sparsity_sweep.verdict_c4(sweep),
        *cc.verdict_c7(combination),
        rc.verdict_r1a(rare),
        rc.verdict_r2(rare),
    ]
    for v in required:
        assert_parts_hold(v)
        report_stages(v)
    v = ef.verdict_c8(extremes)
    assert_parts_hold(v, ["in band (sine-only)", "in band (line-sine-w0.50)", "far (sine-only, omega)"])
    report_stages(v)
    v = sparsity_sweep.verdict_c5(sweep)  # reported, not required: no end may fail on its second stage
    assert v.parts["small nnz"].holds is True and v.parts["large nnz"].holds is not False, str(v)
    print("C5 parts decided by a second stage:", report_stages(v))

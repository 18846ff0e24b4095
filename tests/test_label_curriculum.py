"""The label curriculum (the C1 issue's lever): class labels given early, then withdrawn.

What a researcher relies on: the keep probability is 1, then falls linearly, then 0; labels are only
given on steps whose task mixes classes; which prompts keep theirs is a pure function of (seed, step),
the same under any world size; a run with the curriculum forks from the specialist at the hold exactly
as if trained from scratch, resumes exactly across the withdrawal, logs its emergence without labels,
and ends as a plain model (its weights saved and loaded without the class embedding, computing what
the conditional model computes without an instruction).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from icl.checkpoint import load_state
from icl.config import RunConfig, get_run_config
from icl.curriculum import LabelCurriculum
from icl.emergence import emergence_set
from icl.forks import fork
from icl.model import CLASS_EMBEDDING, TransformerModel
from icl.run_folder import load_run
from icl.train import instructions, sample_batch, train

HOLD, KEEP_UNTIL, DROP_BY, STEPS = 8, 12, 18, 24


def shrunk(name: str, labels: bool = True) -> RunConfig:
    """A tiny small-scale run: hold 8, ramp 4; with ``labels``, labels kept until 12, none from 18."""
    cfg = get_run_config(name, "small")
    cfg = replace(
        cfg,
        model=replace(cfg.model, n_embd=16, n_layer=2, n_head=2),
        train=replace(cfg.train, steps=STEPS, checkpoint_every=4, log_every=2, eval_every=4, warmup_steps=2),
    )
    if cfg.curriculum.mix.start:
        cfg = replace(
            cfg, curriculum=replace(cfg.curriculum, mix=replace(cfg.curriculum.mix, hold=HOLD, ramp=4))
        )
    if labels:
        cfg = replace(
            cfg,
            model=replace(cfg.model, n_classes=2),
            curriculum=replace(cfg.curriculum, labels=LabelCurriculum(KEEP_UNTIL, DROP_BY)),
        )
    return cfg


def test_the_keep_probability_is_one_then_falls_linearly_then_zero():
    lc = LabelCurriculum(keep_until=10, drop_by=20)
    assert [lc.keep(s) for s in (0, 9, 10, 15, 19, 20, 10**6)] == [1.0, 1.0, 1.0, 0.5, 0.1, 0.0, 0.0]
    assert lc.active and not LabelCurriculum().active


def test_bad_label_curricula_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^curriculum.labels.keep_until=30 must be <= drop_by=20$"):
        LabelCurriculum(30, 20)
    with pytest.raises(
        ValueError, match=r"curriculum.labels.drop_by=-1 must be a whole number of steps >= 0"
    ):
        LabelCurriculum(0, -1)
    cfg = shrunk("linear-w0.50")
    with pytest.raises(ValueError, match=r"model.n_classes=0, allowed 2"):
        replace(cfg, model=replace(cfg.model, n_classes=0))
    with pytest.raises(ValueError, match=r"drop_by=18 must be <= train.steps=16"):
        replace(cfg, train=replace(cfg.train, steps=16))
    # the CLI's --set reaches the new fields
    over = get_run_config("linear-w0.50", "small").override(
        {
            "model.n_classes": "2",
            "curriculum.labels.keep_until": "85000",
            "curriculum.labels.drop_by": "100000",
            "train.steps": "160000",
        }
    )
    assert over.curriculum.labels == LabelCurriculum(85_000, 100_000)
    assert RunConfig.from_dict(over.to_dict()) == over


def test_labels_are_given_only_while_the_task_mixes_and_the_probability_is_positive():
    cfg = shrunk("linear-w0.50")
    gives = [cfg.gives_labels(s) for s in range(STEPS)]
    assert gives == [s > HOLD and s < DROP_BY for s in range(STEPS)]
    assert not shrunk("linear-w0.50", labels=False).gives_labels(10)  # a plain run: never
    cond = get_run_config("linear-w0.50-cond", "small")
    assert all(cond.gives_labels(s) for s in (0, 70_000))  # the instructed run: always (chapter 6)


def test_which_prompts_keep_their_label_is_a_function_of_seed_and_step_for_any_world():
    cfg = shrunk("linear-w0.50")
    _, _, labels = sample_batch(cfg, 15, with_labels=True)
    lab, given = instructions(cfg, 15, labels)
    assert torch.equal(lab, labels) and given.dtype == torch.bool and 0 < int(given.sum()) < 64
    assert torch.equal(instructions(cfg, 15, labels)[1], given)  # the same draw again
    halves = [
        instructions(cfg, 15, sample_batch(cfg, 15, rank=r, world=2, with_labels=True)[2], r, 2)[1]
        for r in (0, 1)
    ]
    assert torch.equal(torch.cat(halves), given)
    assert instructions(cfg, 10, labels) == (labels, None)  # p = 1: every prompt keeps its label
    assert instructions(cfg, DROP_BY, labels) == (None, None) and instructions(cfg, 3, labels) == (None, None)


def test_a_withheld_label_is_no_instruction():
    model = TransformerModel(shrunk("linear-w0.50").model).eval()
    xs, ys = torch.randn(4, 11, 5), torch.randn(4, 11)
    labels, given = torch.tensor([0, 1, 1, 0]), torch.tensor([True, False, True, False])
    with torch.no_grad():
        mixed, bare, full = model(xs, ys, labels, given), model(xs, ys), model(xs, ys, labels)
    assert torch.allclose(mixed[~given], bare[~given]) and torch.allclose(mixed[given], full[given])


def test_a_label_run_forks_from_the_specialist_at_the_hold_exactly(tmp_path):
    """The class embedding is initialised last and gets no gradient before the hold: forking the
    specialist's state there equals training the label run from scratch, bit for bit."""
    train(shrunk("linear-w0.00", labels=False), tmp_path / "s", progress=False, stop_after=HOLD)
    fork(tmp_path / "s" / "state.safetensors", shrunk("linear-w0.50"), tmp_path / "forked")
    forked = train(shrunk("linear-w0.50"), tmp_path / "forked", progress=False)
    scratch = train(shrunk("linear-w0.50"), tmp_path / "scratch", progress=False)
    a, b = load_file(scratch / "model.safetensors"), load_file(forked / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (scratch / "eval.csv").read_text() == (forked / "eval.csv").read_text()
    # a fork whose labels would start before the fork step is refused
    early = replace(
        shrunk("linear-w0.50"),
        curriculum=replace(
            shrunk("linear-w0.50").curriculum, mix=replace(shrunk("linear-w0.50").curriculum.mix, hold=4)
        ),
    )
    train(shrunk("linear-w0.00", labels=False), tmp_path / "s", progress=False, stop_after=HOLD)
    with pytest.raises(ValueError, match="past the hold|gives labels before the fork step"):
        fork(tmp_path / "s" / "state.safetensors", early, tmp_path / "early")


def test_a_label_run_resumes_exactly_and_ends_as_a_plain_model(tmp_path):
    cfg = shrunk("linear-w0.50")
    full = train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "half", progress=False, stop_after=15)  # inside the withdrawal
    st = load_state(tmp_path / "half" / "state.safetensors")
    assert CLASS_EMBEDDING + ".weight" in st["model"]  # the resumable state keeps the embedding
    half = train(cfg, tmp_path / "half", progress=False)
    a, b = load_file(full / "model.safetensors"), load_file(half / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (full / "loss.csv").read_text() == (half / "loss.csv").read_text()
    assert not any(k.startswith(CLASS_EMBEDDING) for k in a)  # saved as a plain model
    model, loaded = load_run("full", root=tmp_path)
    assert model.cfg.n_classes == 0 and loaded == cfg
    # it computes what the conditional model computes without an instruction
    cond = TransformerModel(cfg.model)
    cond.load_state_dict(load_state(full / "state.safetensors")["model"])
    xs, ys = torch.randn(3, 11, 5), torch.randn(3, 11)
    with torch.no_grad():
        assert torch.equal(model(xs, ys), cond.eval()(xs, ys))
    # the emergence log scores the model without labels, like the plain model it becomes
    assert emergence_set(cfg).instructions == {}
    assert emergence_set(get_run_config("linear-w0.50-cond", "small")).instructions == {
        "dense": 0,
        "sparse": 1,
    }

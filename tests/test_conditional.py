"""Chapter 6's code: task-family instructions in the model, training with labels, the registry's
new runs and their forks, and the chapter's verdict logic on synthetic curves.

The crucial property: with ``n_classes = 0`` (every run but the conditional one) the model is
the model before the option existed (same parameters, the same random numbers drawn at
initialisation, the same forward), so the committed and in-progress runs resume and fork exactly.
Checked three ways, none of which compares float *results* bit for bit across machines: the
sha256 of the initial state dict (initialisation draws the same numbers on every CPU) from the
code of commit 467a65e (before the option); the forward bit-identical to the pre-option forward
(read-in plus positions, blocks, final LayerNorm, read-out) rebuilt in the test and run in the
same process; and a few output values, recorded with this torch build (equal, when recorded, to the
output of commit 467a65e's forward on the same weights), compared to 1e-5 relative: the last bits
of a float forward depend on the CPU's kernels, so outputs are never hashed.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from icl.chapters import rare_and_conditional as rc
from icl.config import RUNS, SCALE_RUNS, RunConfig, get_run_config
from icl.evaluate import Curve, bootstrap_ci
from icl.forks import fork, fork_source, sibling_source
from icl.model import Instructed, ModelConfig, TransformerModel
from icl.train import build_model, sample_batch, train

# sha256 of the state dict of a shrunk small-scale model at initialisation, from the code before n_classes
OLD_STATE = "34bf6ea4cefd14cfff0a65e979d69bdf1a0916530762b247bfe516dd31cdf1ac"
# its outputs on fixed inputs (see probe): six of them, by (prompt, k), and the sum of all 33, recorded with
# torch 2.13 on AMD EPYC (x86-64); compared to 1e-5 relative, never bit for bit (the last bits depend on
# the CPU)
OLD_OUTPUTS = {
    (0, 0): 0.1004296243,
    (1, 7): 0.2504614592,
    (1, 8): 0.1745962501,
    (2, 1): -0.1143514737,
    (2, 6): 0.1068458110,
    (2, 8): -0.1563616693,
}
OLD_OUTPUT_SUM = 0.0817377483


def shrunk(name: str, steps: int = 16, hold: int = 8, ramp: int = 4) -> RunConfig:
    cfg = get_run_config(name, "small")
    cfg = replace(
        cfg,
        model=replace(cfg.model, n_embd=16, n_layer=2, n_head=2),
        train=replace(cfg.train, steps=steps, checkpoint_every=4, log_every=2, eval_every=4, warmup_steps=2),
    )
    if cfg.curriculum.mix.start:
        cfg = replace(
            cfg, curriculum=replace(cfg.curriculum, mix=replace(cfg.curriculum.mix, hold=hold, ramp=ramp))
        )
    return cfg


def state_fingerprint(model: TransformerModel) -> str:
    """sha256 of the state dict: names and parameter bytes (portable: initialisation draws the same
    numbers)."""
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.numpy().tobytes())
    return h.hexdigest()


def probe() -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed inputs: 3 prompts of 11 points at d = 5."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(3, 11, 5, generator=g), torch.randn(3, 11, generator=g)


def forward_before_the_option(model: TransformerModel, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """TransformerModel.forward as it was before ``n_classes`` existed (commit 467a65e), from the model's
    parts."""
    tok = model.tokens(xs, ys)
    h = model.read_in(tok) + model.wpe.weight[: tok.shape[1]]
    for block in model.blocks:
        h = block(h)
    out = model.read_out(model.ln_f(h))[..., 0]
    return out[:, ::2] if model.cfg.layout == "garg" else out


# --------------------------------------------------------------------------- the model option


def test_without_classes_the_model_is_bit_identical_to_before():
    torch.set_num_threads(1)
    model = build_model(shrunk("linear-w0.50")).eval()
    assert state_fingerprint(model) == OLD_STATE
    assert "class_emb.weight" not in model.state_dict()
    xs, ys = probe()
    with torch.no_grad():
        out = model(xs, ys)
        assert torch.equal(out, forward_before_the_option(model, xs, ys))  # same process: bit for bit
    assert out.shape == (3, 11)
    for (i, k), v in OLD_OUTPUTS.items():
        assert out[i, k].item() == pytest.approx(v, rel=1e-5), (i, k)
    assert out.double().sum().item() == pytest.approx(OLD_OUTPUT_SUM, rel=1e-5)


def test_old_configs_without_the_field_load_as_unconditional():
    d = shrunk("linear-w0.50").to_dict()
    del d["model"]["n_classes"]  # a config.json written before the option
    assert RunConfig.from_dict(d).model.n_classes == 0
    assert RunConfig.from_dict(d) == shrunk("linear-w0.50")


def test_a_conditional_model_shares_the_unconditional_initialisation():
    plain, cond = build_model(shrunk("linear-w0.50")), build_model(shrunk("linear-w0.50-cond"))
    a, b = plain.state_dict(), cond.state_dict()
    assert set(b) - set(a) == {"class_emb.weight"} and b["class_emb.weight"].shape == (2, 16)
    assert all(torch.equal(a[k], b[k]) for k in a)
    xs, ys = torch.randn(4, 11, 5), torch.randn(4, 11)
    with torch.no_grad():  # no instruction: the shared parameters alone, the same function
        assert torch.equal(plain.eval()(xs, ys), cond.eval()(xs, ys))


def test_instructions_change_the_output_and_stay_causal():
    torch.manual_seed(0)
    model = TransformerModel(
        ModelConfig(
            n_dims=5, n_points=9, n_embd=32, n_layer=2, n_head=4, layout="pair", attention="math", n_classes=2
        )
    ).eval()
    xs, ys = torch.randn(3, 9, 5), torch.randn(3, 9)
    labels = torch.tensor([0, 1, 0])
    base = model(xs, ys, labels)
    assert not torch.allclose(base, model(xs, ys, 1 - labels))
    assert not torch.allclose(base, model(xs, ys))
    for j in range(9):
        ys2 = ys.clone()
        ys2[:, j] += 10.0
        assert torch.equal(model(xs, ys2, labels)[:, : j + 1], base[:, : j + 1]), f"y_{j} leaked backwards"
        xs2 = xs.clone()
        xs2[:, j + 1 :] += 5.0
        assert torch.equal(model(xs2, ys, labels)[:, : j + 1], base[:, : j + 1])
    # Instructed supplies one constant label
    assert torch.equal(Instructed(model, 1)(xs, ys), model(xs, ys, torch.ones(3, dtype=torch.long)))
    assert torch.equal(Instructed(model, None)(xs, ys), model(xs, ys))


def test_bad_instructions_are_refused_in_one_line():
    cond = TransformerModel(ModelConfig(n_dims=3, n_points=4, n_embd=8, n_layer=1, n_head=2, n_classes=2))
    plain = TransformerModel(ModelConfig(n_dims=3, n_points=4, n_embd=8, n_layer=1, n_head=2))
    xs, ys = torch.randn(2, 4, 3), torch.randn(2, 4)
    with pytest.raises(
        ValueError,
        match=r"^label 2 is out of range: this model knows n_classes=2 classes "
        r"\(labels 0\.\.1\)$",
    ):
        cond(xs, ys, torch.tensor([0, 2]))
    with pytest.raises(
        ValueError, match=r"label 5 is out of range: .*labels 0\.\.1, or None for no instruction"
    ):
        Instructed(cond, 5)
    with pytest.raises(ValueError, match=r"label -1 is out of range"):
        Instructed(cond, -1)
    with pytest.raises(ValueError, match="Instructed needs a conditional model .* n_classes=0"):
        Instructed(plain, 0)
    with pytest.raises(ValueError, match="labels given to a model without task-family instructions"):
        plain(xs, ys, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"labels must be integer class indices of shape \(2,\)"):
        cond(xs, ys, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="n_classes=-1 must be an integer >= 0"):
        ModelConfig(n_classes=-1)


# --------------------------------------------------------------------------- registry, training, forks


def test_the_registry_adds_three_runs_at_small_scale_only():
    new = ["linear-w0.05", "linear-w0.95", "linear-w0.50-cond"]
    assert all(n in SCALE_RUNS["small"] for n in new)
    assert len(SCALE_RUNS["cpu"]) == len(SCALE_RUNS["paper"]) == 11
    assert not set(new) & (set(SCALE_RUNS["cpu"]) | set(SCALE_RUNS["paper"]))
    assert (
        RUNS["linear-w0.05"].weight_of("dense") == 0.05 and RUNS["linear-w0.95"].weight_of("sparse") == 0.05
    )
    with pytest.raises(ValueError, match="not a run of the cpu scale"):
        get_run_config("linear-w0.50-cond", "cpu")
    cond, mix = get_run_config("linear-w0.50-cond", "small"), get_run_config("linear-w0.50", "small")
    assert (
        cond.model == replace(mix.model, n_classes=2)
        and get_run_config("linear-w0.05", "small").model.n_classes == 0
    )
    for name in new:  # the small mixture runs' schedule: weight curriculum, 115k steps
        cfg = get_run_config(name, "small")
        assert cfg.curriculum.mix == mix.curriculum.mix and cfg.train == mix.train


def test_fork_sources_of_the_new_runs():
    assert fork_source(get_run_config("linear-w0.05", "small")) == "linear-w0.00"
    assert fork_source(get_run_config("linear-w0.95", "small")) == "linear-w0.00"
    assert fork_source(get_run_config("linear-w0.50-cond", "small")) is None  # another model: from scratch


def test_a_conditional_run_trains_with_labels_and_resumes_exactly(tmp_path):
    cfg = shrunk("linear-w0.50-cond", steps=16, hold=4, ramp=4)
    xs, ys, labels = sample_batch(cfg, 12, with_labels=True)
    plain_xs, plain_ys = sample_batch(cfg, 12)
    assert torch.equal(plain_xs, xs) and torch.equal(plain_ys, ys)  # the same random numbers
    assert set(labels.tolist()) == {0, 1} and torch.equal(
        sample_batch(cfg, 2, with_labels=True)[2], torch.ones(64, dtype=torch.long)
    )  # the hold: sparse
    full = train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "half", progress=False, stop_after=6)
    half = train(cfg, tmp_path / "half", progress=False)
    a, b = load_file(full / "model.safetensors"), load_file(half / "model.safetensors")
    assert "class_emb.weight" in a and all(torch.equal(a[k], b[k]) for k in a)
    assert (full / "loss.csv").read_text() == (half / "loss.csv").read_text()
    assert (full / "eval.csv").read_text() == (half / "eval.csv").read_text()
    # the emergence log gave the model each class's correct instruction
    from icl.emergence import emergence_set
    from icl.run_folder import load_run

    model, loaded = load_run("full", root=tmp_path)
    es = emergence_set(loaded)
    assert es.instructions == {"dense": 0, "sparse": 1}
    rows = list(csv.DictReader(open(full / "eval.csv")))
    assert es.score(model) == pytest.approx([float(v) for k, v in rows[-1].items() if k != "step"], rel=1e-4)


def test_the_conditional_run_cannot_fork_and_train_scale_trains_it_from_scratch(tmp_path):
    train(shrunk("linear-w0.00"), tmp_path / "s", progress=False, stop_after=8)
    with pytest.raises(ValueError, match=r"differ beyond name.*'model'"):
        fork(tmp_path / "s" / "state.safetensors", shrunk("linear-w0.50-cond"), tmp_path / "c")


def test_a_rare_run_forks_from_a_sibling_still_at_the_hold(tmp_path, monkeypatch):
    """With the sparse-only run past the hold, train_scale forks linear-w0.05 from a mixture run
    forked at the hold and not trained on (its state is the sparse-only run's there): the result is
    bit-identical to linear-w0.05 trained from scratch."""
    import icl.config as config
    from icl.forks import train_scale

    monkeypatch.setattr(config, "get_run_config", lambda name, scale="cpu": shrunk(name))
    monkeypatch.setattr(config, "scale_dir", lambda scale="cpu": tmp_path / scale)
    root = tmp_path / "small"
    train(shrunk("linear-w0.00"), root / "linear-w0.00", progress=False, stop_after=8)
    fork(root / "linear-w0.00" / "state.safetensors", shrunk("linear-w0.25"), root / "linear-w0.25")
    train(shrunk("linear-w0.00"), root / "linear-w0.00", progress=False, stop_after=12)  # past the hold
    assert sibling_source(shrunk("linear-w0.05"), lambda n: root / n) == "linear-w0.25"
    said = []
    assert train_scale("small", ["linear-w0.05"], progress=False, say=said.append) == ["linear-w0.05"]
    assert any(s.startswith("linear-w0.05: forked from linear-w0.25 at step 8") for s in said), said
    scratch = train(shrunk("linear-w0.05"), tmp_path / "scratch", progress=False)
    a, b = load_file(scratch / "model.safetensors"), load_file(root / "linear-w0.05" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    sessions = json.loads((root / "linear-w0.05" / "config.json").read_text())["sessions"]
    origin = next(s for s in sessions if "fork_step" in s)
    assert sessions[0]["run"] == "linear-w0.00" and origin["source_run"] == "linear-w0.25"  # the history kept


# --------------------------------------------------------------------------- the chapter's logic


def curve(name: str, per_prompt: np.ndarray) -> Curve:
    mean, lo, hi = bootstrap_ci(per_prompt, n_boot=200)
    return Curve(name, mean, lo, hi, per_prompt)


def synthetic(shift: Mapping | None = None, n: int = 400, points: int = 11, seed: int = 0) -> rc.RareChapter:
    """Every key the verdicts read, on noisy decreasing curves; ``shift[(cls, name)]`` adds a
    constant to a curve at k = 1..5."""
    rng = np.random.default_rng(seed)
    base = np.exp(-np.arange(points) / 3.0)
    names = [*rc.WEIGHT_RUNS, *rc.INSTRUCTIONS, *(rc.own_bayes(r) for r in rc.WEIGHT_RUNS)]
    out = {}
    for cls in rc.CLASSES:
        noise = rng.normal(0, 0.05, (n, points))  # shared: the curves are paired
        curves = {}
        for name in dict.fromkeys(names):
            e = base + noise + rng.normal(0, 0.01, (n, points))
            e[:, 1:6] += (shift or {}).get((cls, name), 0.0)
            curves[name] = curve(name, e)
        out[cls] = curves
    return rc.RareChapter(5, 1, out["dense"], out["sparse"], [], n)


def test_r1_and_r2_on_synthetic_curves():
    good = synthetic(
        {
            ("dense", "linear-w0.05"): 0.1,
            ("sparse", "linear-w0.95"): 0.1,
            **{(c, rc.COND_CORRECT): -0.1 for c in rc.CLASSES},
            **{(c, rc.COND_WRONG): 0.2 for c in rc.CLASSES},
        }
    )
    assert rc.verdict_r1(good).status == "HELD" and rc.verdict_r2(good).status == "HELD"
    bad = synthetic({("dense", "linear-w0.05"): -0.1, ("sparse", rc.COND_CORRECT): 0.1})
    v1, v2 = rc.verdict_r1(bad), rc.verdict_r2(bad)
    assert v1.status == "NOT HELD" and v1.parts["linear-w0.05 on dense prompts"].holds is False
    assert v1.parts["linear-w0.95 on sparse prompts"].holds is None  # no difference: its interval holds 0
    assert v2.status == "NOT HELD" and v2.parts["(a) sparse prompts, correct instruction"].holds is False
    assert v2.details[0].startswith(
        "fails on: (a) sparse prompts, correct instruction; inconclusive: (a) dense"
    )
    assert any(line.startswith("reported, not a part: dense prompts, no instruction") for line in v2.details)
    assert sum(line.startswith("reported, not a part: largest rise") for line in v1.details) == 14


def test_identical_curves_are_inconclusive_not_held():
    ch = synthetic()
    ch.dense["linear-w0.05"] = ch.dense[rc.REFERENCE]
    assert rc.verdict_r1(ch).parts["linear-w0.05 on dense prompts"].holds is None


def test_missing_runs_are_not_tested_and_named():
    ch = synthetic()
    for name in ("linear-w0.95", *rc.INSTRUCTIONS):
        for c in rc.CLASSES:
            ch.curves(c).pop(name)
    v1, v2 = rc.verdict_r1(ch), rc.verdict_r2(ch)
    assert (v1.status, v1.details) == ("NOT TESTED", ["missing trained run(s): linear-w0.95"])
    assert (v2.status, v2.details) == ("NOT TESTED", ["missing trained run(s): linear-w0.50-cond"])


def test_largest_rise_finds_the_pair_and_its_interval():
    rng = np.random.default_rng(1)
    m = np.array([1.0, 0.8, 0.5, 0.3, 0.45, 0.6, 0.2, 0.1, 0.1, 0.1, 0.1])  # rises 0.3 -> 0.6 (k 3 -> 5)
    r = rc.largest_rise(curve("x", m + rng.normal(0, 0.02, (500, 11))))
    assert (r.k_from, r.k_to) == (3, 5) and r.rise == pytest.approx(0.3, abs=0.01) and r.lo > 0.25
    falling = rc.largest_rise(curve("y", np.linspace(1, 0, 11)[None, :].repeat(4, 0)))
    assert falling.rise == pytest.approx(-0.1) and not falling.lo > 0  # never rises: its smallest fall


def test_the_chapter_refuses_other_scales_and_wraps_the_conditional_model():
    from icl.chapters.notebook import ParameterError

    with pytest.raises(ParameterError, match="chapter 6's runs exist at the small scale only"):
        rc.check_chapter_scale("cpu")
    model = TransformerModel(ModelConfig(n_dims=5, n_points=11, n_embd=8, n_layer=1, n_head=2, n_classes=2))
    v = rc.instructed_variants(model, ("dense", "sparse"))
    assert [v[c][rc.COND_CORRECT].label for c in rc.CLASSES] == [0, 1]
    assert [v[c][rc.COND_WRONG].label for c in rc.CLASSES] == [1, 0] and v["dense"][
        rc.COND_NONE
    ].label is None


def test_noise_level_rises_print_the_same_on_every_cpu():
    """A Bayes learner's errors at k >= d are float noise (about 1e-11): its "largest rise" must not
    depend on the last bits, so ties within TIE go to the first pair and zero prints unsigned."""
    noise = np.array([1.0, 0.5, 0.1, 3e-11, 1e-11, 2e-11, 1.5e-11, 4e-11])
    for jitter in (0.0, 1e-12, -1e-12):  # what another CPU's kernels might give
        r = rc.largest_rise(curve("b", (noise + jitter * np.arange(8))[None, :].repeat(4, 0)))
        assert (r.k_from, r.k_to) == (3, 4) and str(r).startswith(
            "0.000 [95% CI 0.000, 0.000] from k=3 to k=4"
        )
    assert rc.signed(-0.0004) == "0.000" and rc.signed(0.0004) == "0.000" and rc.signed(-0.002) == "-0.002"
    assert rc.signed(0.575) == "+0.575"

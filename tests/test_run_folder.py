"""A run's folder (icl.run_folder): the one owner of its file names, progress, header and manifest, and
plan_start, the one decision of how a run starts (fresh, resumed, forked) behind every command."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import tiny_config

from icl.__main__ import main
from icl.checkpoint import CheckpointError, load_state, sha256
from icl.config import get_run_config
from icl.run_files import (
    EVAL_FILE,
    HEADER_FILE,
    LOSS_FILE,
    MANIFEST_FILE,
    RUN_FILES,
    STATE_FILE,
    WEIGHTS_FILE,
)
from icl.run_folder import Fork, Fresh, Resume, RunFolder, plan_start
from icl.train import train

ROOT = Path(__file__).resolve().parent.parent


def small(name: str, steps: int = 24, hold: int = 8):
    """A run of the small scale shrunk to a test (as in test_scales)."""
    cfg = get_run_config(name, "small")
    cfg = replace(
        cfg,
        model=replace(cfg.model, n_embd=16, n_layer=2, n_head=2),
        train=replace(cfg.train, steps=steps, checkpoint_every=4, log_every=2, eval_every=4, warmup_steps=2),
    )
    if cfg.curriculum.mix.start:
        mix = replace(cfg.curriculum.mix, hold=hold, ramp=4)
        cfg = replace(cfg, curriculum=replace(cfg.curriculum, mix=mix))
    return cfg


def run_file_names_spelled(root: Path) -> list[str]:
    """Every place under ``root``'s ``icl/`` and ``experiments/`` that spells a run folder's file name,
    outside ``icl/run_files.py``, where the names are defined."""
    names = [STATE_FILE, WEIGHTS_FILE, HEADER_FILE, LOSS_FILE, EVAL_FILE, MANIFEST_FILE]
    pattern = re.compile("|".join(re.escape(n) for n in names))
    return [
        f"{p.relative_to(root)}:{i}: {m.group(0)}"
        for p in sorted([*(root / "icl").rglob("*.py"), *(root / "experiments").rglob("*.py")])
        if p.relative_to(root) != Path("icl", "run_files.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        for m in pattern.finditer(line)
    ]


def test_no_module_but_run_files_spells_a_run_files_name(tmp_path):
    """Every file name of a run folder is defined once, in icl.run_files: no other module spells one."""
    found = run_file_names_spelled(ROOT)
    assert not found, f"run-folder file names spelled outside icl/run_files.py: {found}"
    names = {STATE_FILE, WEIGHTS_FILE, HEADER_FILE, LOSS_FILE, EVAL_FILE, MANIFEST_FILE}
    assert set(RUN_FILES) == names and RUN_FILES[0] == STATE_FILE and RUN_FILES[-1] == MANIFEST_FILE
    # the check catches a name spelled anywhere else, run_folder.py included
    for where in ("icl/run_files.py", "icl/run_folder.py", "experiments/sizing.py"):
        (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / where).write_text(f'NAME = "{HEADER_FILE}"\n')
    assert run_file_names_spelled(tmp_path) == [
        "experiments/sizing.py:1: config.json",
        "icl/run_folder.py:1: config.json",
    ]


def test_a_folder_reports_its_progress_header_and_manifest(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert not folder.holds_run() and folder.progress() is None and folder.step() == 0
    train(tiny_config(steps=12), folder, progress=False, stop_after=6)  # a RunFolder goes where a path does
    assert folder.holds_run() and not folder.is_finished()
    assert folder.progress() == (6, 12) and folder.step() == 6
    assert [s["start_step"] for s in folder.sessions()] == [0] and folder.header()["status"] == "training"
    train(tiny_config(steps=12), folder.path, progress=False)
    assert folder.is_finished() and folder.progress() == (12, 12)
    assert [s["start_step"] for s in folder.sessions()] == [0, 6] and folder.header()["status"] == "finished"
    assert folder.manifest_digest(WEIGHTS_FILE) == sha256(folder.weights_path)
    assert folder.manifest_digest(STATE_FILE) is None  # the resumable state is never committed
    assert folder.saved_config() == tiny_config(steps=12)
    folder.state_path.unlink()
    assert folder.progress() == (12, 12)  # a finished run without its state: its weights' step count
    folder.weights_path.unlink()
    folder.state_path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        folder.progress()
    assert folder.step() == 0  # a listing never fails on a state being written


def test_of_names_the_committed_folder_or_one_under_a_root(tmp_path):
    from icl.config import scale_dir

    assert RunFolder.of("linear-w0.50", "small").path == scale_dir("small") / "linear-w0.50"
    assert RunFolder.of("linear-w0.50", "small", root=tmp_path).path == tmp_path / "linear-w0.50"
    assert RunFolder.of("x", root=tmp_path).name == "x" and str(RunFolder(tmp_path)) == str(tmp_path)
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        RunFolder.of("linear-w0.50", "huge")


def test_stale_temporary_files_of_a_cut_off_write_are_dropped(tmp_path):
    folder = RunFolder(tmp_path)
    stale = tmp_path / f".{STATE_FILE}.abc123.tmp"
    stale.write_bytes(b"half a state")
    train(tiny_config(steps=4), folder, progress=False)
    assert not stale.exists() and folder.is_finished()


def test_plan_start_resumes_forks_from_the_first_fitting_state_or_starts_fresh(tmp_path):
    """Resume where the folder holds a run; else the first source past step 0 and not past the hold;
    a missing source or one past the hold is passed over; none fits: fresh. Sources are read lazily."""
    mix = small("linear-w0.50")  # hold 8
    spec = small("linear-w0.00")
    train(spec, tmp_path / "at4", progress=False, stop_after=4)
    train(spec, tmp_path / "at12", progress=False, stop_after=12)
    at4, at12 = RunFolder(tmp_path / "at4").state_path, RunFolder(tmp_path / "at12").state_path
    missing = tmp_path / "none" / STATE_FILE
    empty = RunFolder(tmp_path / "new")
    assert plan_start(mix, empty, []) == Fresh()
    assert plan_start(mix, empty, [missing, at12]) == Fresh()  # past the hold: its batches differ after it
    assert plan_start(mix, empty, [missing, at12, at4]) == Fork(at4, 4)
    assert plan_start(mix, RunFolder(tmp_path / "at4"), [at4]) == Resume()

    def never():
        raise AssertionError("read a source after the plan was made")
        yield

    assert plan_start(mix, empty, (s for it in ([at4], never()) for s in it)) == Fork(at4, 4)


def test_fork_from_on_the_command_line_forks_resumes_or_refuses(tmp_path, capsys):
    """--fork-from: a state not past the hold is forked; the folder then resumes (no new fork); a state
    past the hold is refused with fork's reason; a missing state is refused; nothing is trained here."""
    base = ["--scale", "small", "--steps", "40", "--threads", "1", "--no-progress", "--compile", "off"]
    assert main(["train", "linear-w0.00", *base, "--out", str(tmp_path / "s"), "--pause-at", "6"]) == 0
    state = str(tmp_path / "s" / STATE_FILE)
    mix = ["train", "linear-w0.50", *base, "--pause-at", "6", "--fork-from", state, "--set"]
    assert main([*mix, "curriculum.mix.hold=8", "--out", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    assert f"forked linear-w0.50 from {state} at its current step into {tmp_path / 'm'}" in err
    assert load_state(tmp_path / "m" / STATE_FILE)["step"] == 6
    assert main([*mix, "curriculum.mix.hold=8", "--out", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    assert f"{tmp_path / 'm'} already holds linear-w0.50: resuming it (no new fork)" in err
    assert main([*mix, "curriculum.mix.hold=4", "--out", str(tmp_path / "p")]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: cannot fork 'linear-w0.50' from") and "past the hold (4)" in line
    assert not RunFolder(tmp_path / "p").holds_run()
    gone = str(tmp_path / "gone" / STATE_FILE)
    mix[mix.index(state)] = gone
    assert main([*mix, "curriculum.mix.hold=8", "--out", str(tmp_path / "q")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --fork-from {gone}: no resumable state at {gone}"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))

"""Data-parallel training: two gloo ranks equal one process on the same global batch.

Each rank is a plain subprocess given torchrun's environment (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so this exercises the same detection path as
``torchrun --nproc_per_node=2 -m icl train ...`` without torchrun's launcher. The ranks
first train to a checkpoint (``train`` joins and leaves the group itself), then resume
from it on a process group the script opened (the "already initialised" path).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from safetensors.torch import load_file

from icl.checkpoint import load_state
from icl.train import train

ROOT = Path(__file__).resolve().parent.parent

RANK_SCRIPT = textwrap.dedent("""
    import os, sys, torch
    import torch.distributed as dist
    sys.path.insert(0, {tests!r})
    torch.set_num_threads(1)
    from conftest import tiny_config
    from icl.checkpoint import load_state
    from icl.train import train
    cfg = tiny_config(steps={steps}, checkpoint_every=2, log_every=1)
    train(cfg, {out!r}, progress=False, stop_after={stop_after})  # joins torchrun's group from the env
    assert not dist.is_initialized()
    if os.environ["RANK"] == "0":
        assert load_state({out!r} + "/state.safetensors")["step"] == {stop_after}
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:{port2}", rank=int(os.environ["RANK"]),
                            world_size=int(os.environ["WORLD_SIZE"]))
    train(cfg, {out!r}, progress=False)  # every rank resumes from the same state file
    dist.destroy_process_group()
""")


def _free_ports(k: int = 1) -> list[int]:
    """``k`` distinct free loopback ports (held open together while chosen)."""
    socks = [socket.socket() for _ in range(k)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _run_ranks(out: Path, world: int, steps: int, stop_after: int) -> None:
    port, port2 = _free_ports(2)
    script = RANK_SCRIPT.format(
        tests=str(ROOT / "tests"), out=str(out), steps=steps, stop_after=stop_after, port2=port2
    )
    procs = []
    for rank in range(world):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        procs.append(
            subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True)
        )
    errs = []
    try:
        for p in procs:
            errs.append(p.communicate(timeout=120)[1])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for rank, (p, err) in enumerate(zip(procs, errs)):
        assert p.returncode == 0, f"rank {rank} failed:\n{err}"


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process_and_resume(tmp_path):
    torch.set_num_threads(1)
    cfg = tiny_config(steps=4, checkpoint_every=2, log_every=1)
    ref = train(cfg, tmp_path / "ref", progress=False)
    out = tmp_path / "ddp"
    # two ranks, stopped after step 2 (a checkpoint), then resumed by the two ranks to the end
    _run_ranks(out, world=2, steps=4, stop_after=2)
    assert load_state(out / "state.safetensors")["step"] == 4
    a, b = load_file(ref / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-6, rtol=1e-5, msg=lambda m, k=k: f"{k}: {m}")
    # the logged loss is the global-batch loss, as in one process
    la = [line.split(",") for line in (ref / "loss.csv").read_text().splitlines()[1:]]
    lb = [line.split(",") for line in (out / "loss.csv").read_text().splitlines()[1:]]
    assert [s for s, _ in la] == [s for s, _ in lb] == ["1", "2", "3", "4"]
    torch.testing.assert_close(
        torch.tensor([float(v) for _, v in lb]), torch.tensor([float(v) for _, v in la]), atol=1e-6, rtol=1e-5
    )
    info = json.loads((out / "config.json").read_text())
    assert info["status"] == "finished" and [s["world_size"] for s in info["sessions"]] == [2, 2]
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())


def test_batch_not_divisible_by_world_size_is_one_clear_error(tmp_path):
    # rank 0 of a would-be 3-rank job checks before it joins the group, so it exits alone
    env = {
        **os.environ,
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "3",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_ports()[0]),
        "OMP_NUM_THREADS": "1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "icl", "train", "linear-w0.50", "--out", str(tmp_path / "x"), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines == [
        "error: batch_size=64 is not divisible by the world size 3 (torchrun --nproc_per_node); "
        "choose a batch size that is a multiple of 3"
    ]
    assert not (tmp_path / "x").exists()

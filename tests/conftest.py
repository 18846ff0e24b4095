"""Shared fixtures: tiny configs that train in a second. The suite reads the repository's runs."""

from __future__ import annotations

import os

import pytest
import torch

from icl.config import CurriculumConfig, RunConfig, Schedule, TaskConfig, TrainConfig
from icl.model import ModelConfig

torch.set_num_threads(1)
# the suite checks the repository's committed runs, whatever runs a researcher's ICL_DATA names
# (popped here, so the subprocesses the tests start do not see it either)
os.environ.pop("ICL_DATA", None)


TINY_TRAIN = dict(batch_size=8, lr=1e-3, warmup_steps=2, schedule="cosine", checkpoint_every=4, log_every=2)


def tiny_config(layout: str = "compact", steps: int = 12, **train) -> RunConfig:
    return RunConfig(
        name="tiny",
        scale="cpu",
        model=ModelConfig(n_dims=4, n_points=7, n_embd=16, n_layer=2, n_head=2, layout=layout),
        task=TaskConfig(classes=("dense", "sparse"), weights=(0.5, 0.5), n_dims=4, nnz=1),
        curriculum=CurriculumConfig(Schedule(2, 4, 1, 3), Schedule(3, 7, 2, 3)),
        train=TrainConfig(**{"steps": steps, **TINY_TRAIN, **train}),
    )


@pytest.fixture
def tiny():
    return tiny_config()

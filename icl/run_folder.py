"""A run's folder: the one owner of its files, their contents, its lock, its progress and its header.

A run lives in one folder (``data/runs/<scale>/<name>/`` for the study's runs: :meth:`RunFolder.of`). Its
files are named once, in :mod:`icl.run_files`; what they hold is this module's:

* ``STATE_FILE`` - the resumable state (weights, AdamW moments, logs, step, config; the format is
  :mod:`icl.checkpoint`'s), rewritten atomically at every checkpoint;
* ``WEIGHTS_FILE`` - the final weights, written once, when the run finishes;
* ``HEADER_FILE`` - the header: the config, versions, git commit, status and one record per session
  (every (re)start, fork, warm start or probe says where it came from);
* ``LOSS_FILE`` and ``EVAL_FILE`` - the training-loss log and the emergence log (:mod:`icl.emergence`);
* ``MANIFEST_FILE`` - SHA-256 of a finished run's files, checked whenever they are loaded
  (:func:`icl.checkpoint.verify`);
* the lock (``icl.checkpoint.LOCK``) - one writer per folder (:func:`icl.checkpoint.run_lock`); never carried
  or hashed.

No other module spells these names: they import them from :mod:`icl.run_files` or ask a :class:`RunFolder`.
How a run starts in its folder (fresh, resumed, or forked from another run's state) is decided once, by
:func:`plan_start`, for ``train``, ``train-scale``, ``train-many`` and ``--fork-from`` alike; a trained run
is read back by name with :func:`load_run`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .checkpoint import (
    CheckpointError,
    RunNotTrainedError,
    atomic_write_text,
    final_weights,
    load_state,
    load_weights,
    manifest_digest,
    run_lock,
    save_state,
    sha256,
    state_progress,
    weights_config,
)
from .config import RunConfig, check_scale, run_names
from .model import TransformerModel
from .provenance import git_commit, versions
from .run_files import EVAL_FILE, HEADER_FILE, LOSS_FILE, MANIFEST_FILE, STATE_FILE, WEIGHTS_FILE

__all__ = ["RunFolder", "Fresh", "Resume", "Fork", "plan_start", "load_run"]


@dataclass(frozen=True)
class RunFolder:
    """One run's folder on disk (it need not exist yet)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of(cls, name: str, scale: str = "cpu", root: Path | None = None) -> RunFolder:
        """The folder of the run ``name``: ``root/<name>``, or the committed ``data/runs/<scale>/<name>``."""
        from .config import scale_dir  # looked up per call: the runs' root may be pointed elsewhere

        return cls(Path(root) / name if root is not None else scale_dir(scale) / name)

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:  # a RunFolder goes wherever a path does: Path(folder), train(config, folder)
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def state_path(self) -> Path:
        return self.path / STATE_FILE

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def header_path(self) -> Path:
        return self.path / HEADER_FILE

    @property
    def loss_path(self) -> Path:
        return self.path / LOSS_FILE

    @property
    def eval_path(self) -> Path:
        return self.path / EVAL_FILE

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST_FILE

    # ----------------------------------------------------------------------- what the folder holds

    def holds_run(self) -> bool:
        """Whether the folder holds a run: a resumable state or finished weights."""
        return self.state_path.exists() or self.weights_path.exists()

    def is_finished(self) -> bool:
        """Whether the run has finished (its final weights are written)."""
        return self.weights_path.exists()

    def progress(self) -> tuple[int, int] | None:
        """(step reached, total steps): the resumable state's, read from its header alone (cheap enough for
        listings), else a finished run's (total, total); None when the folder holds no run. Raises
        :class:`~icl.checkpoint.CheckpointError` for a file that cannot be read."""
        if self.state_path.exists():
            return state_progress(self.state_path)
        if self.weights_path.exists():
            total = weights_config(self.weights_path).train.steps
            return total, total
        return None

    def step(self) -> int:
        """The step the folder stands at: 0 when it holds no run, or a file that cannot be read now (a state
        being written; a damaged one is reported when it is loaded)."""
        try:
            at = self.progress()
        except CheckpointError:
            return 0
        return at[0] if at else 0

    def saved_config(self) -> RunConfig:
        """The config the run was trained under: its final weights', else its resumable state's (header
        only)."""
        return weights_config(self.weights_path if self.weights_path.exists() else self.state_path)

    def lock(self, what: str = "run") -> AbstractContextManager[None]:
        """The folder's lock for a block (one writer per run folder; :func:`icl.checkpoint.run_lock`)."""
        return run_lock(self.path, what)

    def drop_stale_temps(self) -> None:
        """Delete the temporary files of a checkpoint write that a kill cut off: never read, safe to drop."""
        for stale in self.path.glob(".*.safetensors.*.tmp"):
            stale.unlink(missing_ok=True)

    # ----------------------------------------------------------------------- the header (HEADER_FILE)

    def header(self) -> dict[str, Any]:
        """The header's contents; {} when there is none. A header that cannot be read, is not JSON or not
        an object raises :class:`~icl.checkpoint.CheckpointError` naming the file (bad input never reads
        as an empty header)."""
        if not self.header_path.exists():
            return {}
        try:
            info = json.loads(self.header_path.read_text())
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{self.header_path}: not a readable run header ({e})") from None
        if not isinstance(info, dict):
            raise CheckpointError(
                f"{self.header_path}: not a run header (a JSON {type(info).__name__}, not an object)"
            )
        return info

    def header_config(self) -> RunConfig:
        """The config the header records; :class:`~icl.checkpoint.CheckpointError` naming the file when
        there is no header, it is damaged or records no valid config."""
        info = self.header()
        if "config" not in info:
            raise CheckpointError(f"{self.header_path}: no run header with a config here")
        try:
            return RunConfig.from_dict(info["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{self.header_path}: the header's config is not valid ({e})") from None

    def sessions(self) -> list[dict[str, Any]]:
        """The run's session records (every (re)start and where the run came from); [] for none.

        Lenient, unlike :meth:`header`: a new session's records are written over a damaged header, as
        before the folder had an owner (the records are provenance; training reads only the state)."""
        try:
            return self.header().get("sessions", [])
        except CheckpointError:
            return []

    def write_header(self, config: RunConfig, sessions: list[dict[str, Any]]) -> None:
        """A training run's header: its config, versions, commit and ``sessions``."""
        atomic_write_text(
            self.header_path,
            json.dumps(
                {
                    "config": config.to_dict(),
                    "versions": versions(),
                    "git_commit": git_commit(),
                    "status": "training",
                    "sessions": sessions,
                },
                indent=2,
            ),
        )

    def mark_finished(self, steps: int, wall_seconds: float, final_loss: float | None) -> None:
        """The header of a run that has just finished: its status, steps, last session's wall time, loss."""
        info = json.loads(self.header_path.read_text())
        info.update(
            status="finished", steps=steps, wall_seconds_last_session=wall_seconds, final_loss=final_loss
        )
        atomic_write_text(self.header_path, json.dumps(info, indent=2))

    # ----------------------------------------------------------------------- logs, manifest

    def write_loss_log(self, log: list[tuple[int, float]]) -> None:
        atomic_write_text(self.loss_path, "step,loss\n" + "".join(f"{s},{loss:.6g}\n" for s, loss in log))

    def write_eval_log(self, config: RunConfig, evals: list[tuple[int, list[float]]]) -> None:
        from .emergence import write_eval_csv  # the log's columns are the emergence set's

        write_eval_csv(self.eval_path, config, evals)

    def write_logs(
        self, config: RunConfig, log: list[tuple[int, float]], evals: list[tuple[int, list[float]]]
    ) -> None:
        """Both logs, as a checkpoint leaves them."""
        self.write_loss_log(log)
        self.write_eval_log(config, evals)

    def write_manifest(self) -> None:
        """SHA-256 of a finished run's files (not the resumable state, which is not committed)."""
        skip = {MANIFEST_FILE, STATE_FILE}
        files = sorted(
            p
            for p in self.path.iterdir()
            if p.is_file() and p.name not in skip and not p.name.startswith(".")
        )
        atomic_write_text(self.manifest_path, "".join(f"{sha256(p)}  {p.name}\n" for p in files))

    def manifest_digest(self, name: str) -> str | None:
        """The SHA-256 the manifest lists for the file ``name``; None where it lists none (or is missing)."""
        return manifest_digest(self.path, name)  # reading the manifest is integrity: icl.checkpoint's

    # ----------------------------------------------------------------------- a run started from other weights

    def write_started(
        self,
        model: torch.nn.Module,
        opt: torch.optim.Optimizer,
        step: int,
        log: list[tuple[int, float]],
        config: RunConfig,
        evals: list[tuple[int, list[float]]],
        sessions: list[dict[str, Any]],
    ) -> None:
        """A run started from another run's weights (a fork, a warm start, a probe), written by the caller
        under the folder's lock: the header (with ``sessions``, its origin) first, the logs, the resumable
        state at ``step`` last, so a folder cut off before its state exists has not started."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_header(config, sessions)
        self.write_loss_log(log)
        if evals:
            self.write_eval_log(config, evals)
        save_state(self.state_path, model, opt, step, log, config, evals)


# --------------------------------------------------------------------------- how a run starts


@dataclass(frozen=True)
class Fresh:
    """Train from step 0."""


@dataclass(frozen=True)
class Resume:
    """The folder holds the run already: train resumes it (a finished run trains nothing)."""


@dataclass(frozen=True)
class Fork:
    """Start from the resumable state ``source``, which stands at ``step`` (:func:`icl.forks.fork`)."""

    source: Path
    step: int


def plan_start(config: RunConfig, folder: RunFolder, sources: Iterable[Path]) -> Fresh | Resume | Fork:
    """How ``config`` starts in ``folder``: :class:`Resume` if the folder holds a run; else a :class:`Fork`
    from the first of ``sources`` (resumable states, best first, read lazily) that stands past step 0 and
    not past the weight curriculum's hold, where the two runs' batches agree; else :class:`Fresh`.

    A state at step 0 saves nothing, and one past the hold has seen batches the run never will. The plan
    checks where the states stand; :func:`icl.forks.fork` checks, when it forks, that the fork is exact."""
    if folder.holds_run():
        return Resume()
    for source in sources:
        source = Path(source)
        if not source.exists():
            continue
        at = state_progress(source)[0]
        if 0 < at <= config.curriculum.mix.hold:
            return Fork(source, at)
    return Fresh()


# --------------------------------------------------------------------------- a trained run, by name


def load_run(
    name: str, root: Path | None = None, allow_partial: bool = False, scale: str = "cpu"
) -> tuple[TransformerModel, RunConfig]:
    """Load a trained run by name: (model in eval mode, its config).

    Reads the finished weights of the run's folder, ``root/<name>`` or, without ``root``, the
    committed run of ``scale`` (``data/runs/<scale>/<name>``: :meth:`RunFolder.of`);
    with ``allow_partial`` falls back to the latest resumable state of an unfinished one. A run
    whose saved config names another scale than the one asked for is refused.
    """
    check_scale(scale)
    run = RunFolder.of(name, scale, root)
    folder = run.path
    if not folder.exists():
        parent = folder.parent
        known = sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.exists() else []
        raise RunNotTrainedError(
            f"no run named {name!r} under {folder.parent}; trained runs: {', '.join(known) or 'none'}; "
            f"runs of the study: {', '.join(run_names())}"
        )
    final, state = run.weights_path, run.state_path
    if final.exists():
        tensors, config = load_weights(final)
    elif allow_partial and state.exists():
        st = load_state(state)
        tensors, config = st["model"], st["config"]
    else:
        raise RunNotTrainedError(
            f"run {name!r} at {folder} has no finished {final.name} (is it still training?)"
        )
    if root is None and config.scale != scale:
        raise CheckpointError(f"{folder} holds a run of the {config.scale} scale, not {scale}")
    model = TransformerModel(config.final_model())
    try:
        model.load_state_dict(final_weights(tensors, config))
    except RuntimeError as e:
        raise CheckpointError(f"weights in {folder} do not fit the config's model: {e}") from None
    return model.eval(), config

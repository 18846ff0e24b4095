"""Checkpoints on disk: atomic writes, the safetensors state and weights, integrity checks.

This module owns the format of a run's tensor files, how every file of a run is written and the manifest
check. The files' names are defined in :mod:`icl.run_files`; which files a run folder holds, and reading a
run by name, are :mod:`icl.run_folder`'s (it builds on this module, which never imports it). The
resumable state holds the model weights (``model.*``), the AdamW state (``optim.*``), the loss log
(``log.*``), the emergence log (``eval.*``) and, in its metadata, the step and the full config
(:func:`save_state`, :func:`load_state`); the finished weights hold the final model's tensors and the
config (:func:`save_weights`, :func:`load_weights`). A file listed in its folder's manifest is checked
against it whenever it is read (:func:`manifest_digest`, :func:`verify`).

Every file is written to a temporary file in the same folder, flushed, then renamed over the target
(``os.replace``), so a kill at any moment leaves either the old file or the new one, never a torn one.
Weights are loaded with safetensors: nothing is unpickled. One process at a time writes a folder
(:func:`run_lock`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import RunConfig
from .model import CLASS_EMBEDDING
from .run_files import MANIFEST_FILE


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged or does not match its manifest."""


class RunNotTrainedError(CheckpointError):
    """The named run has no folder, or no finished weights, yet."""


class RunLockedError(ValueError):
    """Another process holds the run folder's lock (it is training or forking that run)."""


LOCK = ".lock"


@contextlib.contextmanager
def run_lock(folder: Path, what: str = "run") -> Iterator[None]:
    """Hold an exclusive advisory lock on ``folder/.lock`` for the whole block.

    One writer per run folder: a second process raises :class:`RunLockedError` at once,
    naming the folder and the process that holds it, and writes nothing. The lock is an
    ``flock`` on an open file, so it dies with its process: a lock left by a killed process
    never blocks (the file stays, harmless; it is git-ignored and not in the manifest).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise RunLockedError(
                f"{what} {folder.name!r} at {folder} is in use by process {holder} (another "
                f"training or fork of it); wait for it to finish or stop that process"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


# --------------------------------------------------------------------------- atomic io


def _atomic(path: Path, write) -> None:
    """Write ``path`` through a temporary file in its folder: ``write(tmp)`` fills it, it is
    fsynced and renamed over ``path``; on any failure the temporary file goes and ``path`` is
    untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    contiguous = {k: v.contiguous() for k, v in tensors.items()}
    _atomic(path, lambda tmp: save_file(contiguous, tmp, metadata=metadata))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_digest(folder: Path, name: str) -> str | None:
    """The SHA-256 the manifest of ``folder`` lists for the file ``name``; None where it lists none (or
    the folder has no manifest)."""
    manifest = Path(folder) / MANIFEST_FILE
    if not manifest.exists():
        return None
    for line in manifest.read_text().splitlines():
        digest, _, listed = line.partition("  ")
        if listed == name:
            return digest
    return None


def verify(path: Path) -> None:
    """Check ``path`` against its folder's manifest, if the manifest lists it."""
    path = Path(path)
    digest = manifest_digest(path.parent, path.name)
    if digest is None:
        return
    found = sha256(path)
    if found != digest:
        raise CheckpointError(f"{path} is damaged or altered: expected sha256 {digest}, found {found}")


# --------------------------------------------------------------------------- training state


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    sd = opt.state_dict()
    out = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            out[f"optim.{pid}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return out


def load_optimizer_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, pid, k = key.split(".", 2)
            state.setdefault(int(pid), {})[k] = v
    sd["state"] = state
    opt.load_state_dict(sd)


def save_state(
    path: Path,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    step: int,
    log: list[tuple[int, float]],
    config: RunConfig,
    evals: list[tuple[int, list[float]]] = (),
) -> None:
    """The resumable state; ``evals`` is the emergence log (:mod:`icl.emergence`): (step, errors) rows."""
    tensors = {f"model.{k}": v.detach().cpu() for k, v in model.state_dict().items()}
    tensors.update({k: v.cpu() for k, v in optimizer_tensors(opt).items()})
    tensors["log.step"] = torch.tensor([s for s, _ in log], dtype=torch.int64)
    tensors["log.loss"] = torch.tensor([loss for _, loss in log], dtype=torch.float64)
    if evals:
        tensors["eval.step"] = torch.tensor([s for s, _ in evals], dtype=torch.int64)
        tensors["eval.error"] = torch.tensor([e for _, e in evals], dtype=torch.float64)
    meta = {"step": str(step), "config": config.to_json(), "torch": torch.__version__}
    atomic_save_tensors(path, tensors, meta)


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    verify(path)
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {e}") from None
    return tensors, _metadata(path)


def _metadata(path: Path) -> dict[str, str]:
    """A safetensors file's string metadata, read from its header only (no tensors)."""
    from safetensors import safe_open

    if not Path(path).exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {e}") from None


def _config(path: Path, meta: dict[str, str]) -> RunConfig:
    try:
        return RunConfig.from_dict(json.loads(meta["config"]))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path} has no valid config metadata: {e}") from None


def _step_and_config(path: Path, meta: dict[str, str]) -> tuple[int, RunConfig]:
    try:
        step = int(meta["step"])
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path} has no valid step/config metadata: {e}") from None
    return step, _config(path, meta)


def state_progress(path: Path) -> tuple[int, int]:
    """(step reached, total steps) of a resumable state, from its metadata alone.

    Cheap enough for listings (``python -m icl runs``): no tensor is read. Raises
    ``CheckpointError`` if the file is missing, corrupt or lacks the metadata.
    """
    step, config = _step_and_config(path, _metadata(path))
    return step, config.train.steps


def weights_config(path: Path) -> RunConfig:
    """The full config saved with a run's finished weights (or its resumable state), from the header only."""
    return _config(path, _metadata(path))


def load_state(path: Path) -> dict[str, Any]:
    """Read a resumable training state: {'model', 'optim', 'step', 'log', 'evals', 'config'}."""
    tensors, meta = _read(path)
    step, config = _step_and_config(path, meta)
    _warn_version(path, meta.get("torch"))
    model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    optim = {k: v for k, v in tensors.items() if k.startswith("optim.")}
    log = list(zip(tensors["log.step"].tolist(), tensors["log.loss"].tolist()))
    evals = (
        list(zip(tensors["eval.step"].tolist(), tensors["eval.error"].tolist()))
        if "eval.step" in tensors
        else []
    )  # states written before the emergence log have none
    return {"model": model, "optim": optim, "step": step, "log": log, "evals": evals, "config": config}


def _warn_version(path: Path, saved: str | None, stacklevel: int = 3) -> None:
    if saved and saved.split(".")[0] != torch.__version__.split(".")[0]:
        warnings.warn(
            f"{path} was written with torch {saved}; this is torch {torch.__version__}", stacklevel=stacklevel
        )


def final_weights(state: dict[str, torch.Tensor], config: RunConfig) -> dict[str, torch.Tensor]:
    """The tensors of ``config.final_model()`` in a model state dict: all of them, less the class
    embedding of a run whose label curriculum withdrew its labels (a plain model after that)."""
    if config.final_model() == config.model:
        return state
    return {k: v for k, v in state.items() if not k.startswith(CLASS_EMBEDDING + ".")}


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], RunConfig]:
    """A finished run's weights file, checked against its manifest: (its tensors, the config saved with it).

    Its one caller is :func:`icl.run_folder.load_run`: a warning about the torch version names the line
    that called ``load_run`` (``stacklevel`` counts this function and ``load_run``)."""
    tensors, meta = _read(path)
    _warn_version(path, meta.get("torch"), stacklevel=4)
    return tensors, _config(path, meta)


def save_weights(path: Path, model: torch.nn.Module, config: RunConfig) -> None:
    """A finished run's weights: those of its final model, with its config."""
    meta = {"config": config.to_json(), "torch": torch.__version__}
    tensors = {k: v.detach().cpu() for k, v in final_weights(model.state_dict(), config).items()}
    atomic_save_tensors(path, tensors, meta)

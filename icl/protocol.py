"""The scales' run protocols: the facts of how their runs are trained that were read off runs, kept as data.

Each lives in ``protocol.json`` beside the scale's committed runs (``data/runs/<scale>/protocol.json``, which
says what each number means), is read once and validated here, and is a result of the study, not a default
of the code. The small scale's (:class:`RunProtocol`): its step counts and each training seed's *hold* (the
step at which its mixture runs start mixing, read off that seed's sparse-only run by a rule fixed in
advance); :func:`icl.config.small_protocol` loads it. The cpu scale's (:class:`StepProtocol`): its preset's
step count and the runs whose own count was read off their emergence logs; :func:`icl.config.cpu_protocol`
loads it. :func:`icl.config.get_run_config` builds both scales' configs from them. This module reads the
files and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PROTOCOL_FILE", "RunProtocol", "StepProtocol", "load_protocol", "load_step_protocol"]

PROTOCOL_FILE = "protocol.json"
_COUNTS = ("steps", "mix_ramp", "mix_after", "sparse_after", "selection_cap")  # whole numbers of steps >= 1
_TEXTS = ("about", "hold_rule")  # what the numbers mean: read by people, checked to be text
_HOLD_KEYS = ("hold", "read")
_STEP_TEXTS = ("about", "steps_rule")  # the cpu scale's file: what its numbers mean
_RUN_KEYS = ("steps", "read")


@dataclass(frozen=True)
class RunProtocol:
    """One scale's protocol (see ``protocol.json``'s ``about``): every run trains ``steps`` steps; a mixture
    run holds the dense share at 0 until its seed's hold, ramps over ``mix_ramp`` steps and trains
    ``mix_after`` steps from the hold; the sparse-only run trains ``sparse_after`` steps past its seed's hold
    (never fewer than ``steps``), or towards ``selection_cap`` while that hold is not read (None)."""

    steps: int
    mix_ramp: int
    mix_after: int
    sparse_after: int
    selection_cap: int
    holds: dict[int, int | None]  # training seed -> hold (None: not read yet; its mixture runs wait)

    def hold(self, seed: int) -> int | None:
        """The hold of training seed ``seed``; None while it is not read. ValueError for a seed it lacks."""
        if seed not in self.holds:
            raise ValueError(
                f"training seed {seed} has no hold at the small scale; seeds: {sorted(self.holds)}"
            )
        return self.holds[seed]


def load_protocol(path: Path) -> RunProtocol:
    """The protocol in ``path``, validated: one ValueError line naming the file, the key and what is
    allowed."""
    path = Path(path)
    raw = _read_object(path, (*_TEXTS, *_COUNTS, "holds"))
    for key in _TEXTS:
        _check(path, key, raw[key], isinstance(raw[key], str), "text")
    for key in _COUNTS:
        _check(path, key, raw[key], _is_count(raw[key]), "a whole number of steps >= 1")
    holds = raw["holds"]
    _check(path, "holds", holds, isinstance(holds, dict) and bool(holds), "an object: training seed -> entry")
    return RunProtocol(
        **{k: raw[k] for k in _COUNTS}, holds={_seed(path, s): _hold(path, s, e) for s, e in holds.items()}
    )


@dataclass(frozen=True)
class StepProtocol:
    """A scale whose runs train its preset's ``steps`` steps, except the runs in ``runs``, each of which
    trains the count read off its own emergence log (see ``protocol.json``'s ``about`` and ``steps_rule``)."""

    steps: int
    runs: dict[str, int]  # run name -> its own step count

    def steps_of(self, run: str) -> int:
        """The step count run ``run`` trains: its own where one was read, else the preset's."""
        return self.runs.get(run, self.steps)


def load_step_protocol(path: Path, scale_runs: Collection[str]) -> StepProtocol:
    """The step protocol in ``path``, whose ``runs`` may name only the scale's runs (``scale_runs``),
    validated: one ValueError line naming the file, the key and what is allowed."""
    path = Path(path)
    raw = _read_object(path, (*_STEP_TEXTS, "steps", "runs"))
    for key in _STEP_TEXTS:
        _check(path, key, raw[key], isinstance(raw[key], str), "text")
    _check(path, "steps", raw["steps"], _is_count(raw["steps"]), "a whole number of steps >= 1")
    _check(path, "runs", raw["runs"], isinstance(raw["runs"], dict), "an object: run name -> entry")
    return StepProtocol(
        steps=raw["steps"],
        runs={name: _run_steps(path, name, e, scale_runs) for name, e in raw["runs"].items()},
    )


def _read_object(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """``path``'s JSON object, with exactly the keys ``keys``."""
    try:
        raw = json.loads(path.read_text())
    except OSError as e:
        raise ValueError(f"{path}: the scale's run protocol cannot be read ({e.strerror or e})") from None
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a JSON object is allowed, not {type(raw).__name__}")
    unknown = [k for k in raw if k not in keys] + [k for k in keys if k not in raw]
    if unknown:
        raise ValueError(f"{path}: key {unknown[0]!r} is unknown or missing; the keys: {', '.join(keys)}")
    return raw


def _check(path: Path, key: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{path}: {key}={value!r} is not allowed; allowed: {allowed}")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _seed(path: Path, key: str) -> int:
    _check(path, f"holds[{key!r}]", key, key.isdigit(), "a training seed, a whole number >= 0, as the key")
    return int(key)


def _hold(path: Path, key: str, entry: Any) -> int | None:
    """One seed's entry: ``{"hold": STEP or null, "read": "the date it was read by the rule"}``."""
    where = f"holds[{key!r}]"
    _check(
        path,
        where,
        entry,
        isinstance(entry, dict) and sorted(entry) == sorted(_HOLD_KEYS),
        f"an object with the keys {', '.join(_HOLD_KEYS)}",
    )
    _check(
        path,
        f"{where}.hold",
        entry["hold"],
        entry["hold"] is None or _is_count(entry["hold"]),
        "a step >= 1, or null while the hold is not read",
    )
    _check(
        path,
        f"{where}.read",
        entry["read"],
        isinstance(entry["read"], str) or entry["read"] is None,
        "the date the hold was read (text), or null",
    )
    return entry["hold"]


def _run_steps(path: Path, name: str, entry: Any, scale_runs: Collection[str]) -> int:
    """One run's entry, ``{"steps": N, "read": "the date N was read by the rule"}``, of a scale's run."""
    where = f"runs[{name!r}]"
    _check(path, where, name, name in scale_runs, f"a run of the scale: {', '.join(scale_runs)}")
    _check(
        path,
        where,
        entry,
        isinstance(entry, dict) and sorted(entry) == sorted(_RUN_KEYS),
        f"an object with the keys {', '.join(_RUN_KEYS)}",
    )
    _check(path, f"{where}.steps", entry["steps"], _is_count(entry["steps"]), "a whole number of steps >= 1")
    _check(
        path, f"{where}.read", entry["read"], isinstance(entry["read"], str), "the date it was read (text)"
    )
    return entry["steps"]

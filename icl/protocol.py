"""A scale's run protocol: the facts of how its runs are trained that were read off runs, kept as data.

The small scale's step counts and each training seed's *hold* (the step at which its mixture runs start
mixing, read off that seed's sparse-only run by a rule fixed in advance) are results of the study, not
defaults of the code: they live in ``protocol.json`` beside the scale's committed runs
(``data/runs/small/protocol.json``, which says what each number means) and are read once and validated
here. :func:`icl.config.small_protocol` loads it; :func:`icl.config.get_run_config` builds the small
scale's configs from it. This module reads the file and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PROTOCOL_FILE", "RunProtocol", "load_protocol"]

PROTOCOL_FILE = "protocol.json"
_COUNTS = ("steps", "mix_ramp", "mix_after", "sparse_after", "selection_cap")  # whole numbers of steps >= 1
_TEXTS = ("about", "hold_rule")  # what the numbers mean: read by people, checked to be text
_HOLD_KEYS = ("hold", "read")


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
    try:
        raw = json.loads(path.read_text())
    except OSError as e:
        raise ValueError(f"{path}: the scale's run protocol cannot be read ({e.strerror or e})") from None
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a JSON object is allowed, not {type(raw).__name__}")
    allowed = (*_TEXTS, *_COUNTS, "holds")
    unknown = [k for k in raw if k not in allowed] + [k for k in allowed if k not in raw]
    if unknown:
        raise ValueError(f"{path}: key {unknown[0]!r} is unknown or missing; the keys: {', '.join(allowed)}")
    for key in _TEXTS:
        _check(path, key, raw[key], isinstance(raw[key], str), "text")
    for key in _COUNTS:
        _check(path, key, raw[key], _is_count(raw[key]), "a whole number of steps >= 1")
    holds = raw["holds"]
    _check(path, "holds", holds, isinstance(holds, dict) and bool(holds), "an object: training seed -> entry")
    return RunProtocol(
        **{k: raw[k] for k in _COUNTS}, holds={_seed(path, s): _hold(path, s, e) for s, e in holds.items()}
    )


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

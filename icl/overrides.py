"""Text overrides of a config: the CLI's ``--set KEY=VALUE`` applied to a config's dict.

This module owns how a dotted key (``train.lr``, ``model.n_embd``, ``curriculum.labels.drop_by``, or the
shortcut ``d``) names a field of :meth:`icl.config.RunConfig.to_dict` and how its text is parsed with
the type of the current value; an unknown key or a badly typed value is refused in one line naming it
and the allowed keys.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any


def parse_assignments(texts: Sequence[str]) -> dict[str, str]:
    """``["train.lr=3e-3", "d=8"]`` (``--set`` as typed) as ``{"train.lr": "3e-3", "d": "8"}``; one
    ValueError line for a text without ``=``."""
    pairs = {}
    for a in texts:
        if "=" not in a:
            raise ValueError(f"--set {a!r} must look like KEY=VALUE, e.g. train.lr=3e-3")
        k, v = a.split("=", 1)
        pairs[k.strip()] = v.strip()
    return pairs


def apply_overrides(d: dict, assignments: Mapping[str, str]) -> dict:
    """A copy of the config dict ``d`` with ``assignments`` (dotted key -> text) applied.

    ``d`` is a shortcut that sets ``task.n_dims``, ``model.n_dims`` and the end of the dimension
    curriculum together.
    """
    d = copy.deepcopy(d)
    allowed = leaf_keys(d)
    for key, text in assignments.items():
        if key == "d":
            n = parse_value("d", text, 1)
            d["task"]["n_dims"] = d["model"]["n_dims"] = n
            dims = d["curriculum"]["dims"]
            dims["end"], dims["start"] = n, min(dims["start"], n)
            continue
        *path, leaf = key.split(".")
        node = d
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node or isinstance(node[leaf], dict):
            raise ValueError(f"unknown config key {key!r}; allowed: d, {', '.join(allowed)}")
        node[leaf] = parse_value(key, text, node[leaf])
    return d


def leaf_keys(d: dict, prefix: str = "") -> list[str]:
    """Every dotted key of a nested dict's leaves."""
    out = []
    for k, v in d.items():
        out += leaf_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [prefix + k]
    return out


def parse_value(key: str, text: str, current: Any) -> Any:
    """Parse ``text`` with the type of ``current`` (bool, int, float, str, tuple)."""
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
        if isinstance(current, (list, tuple)):
            items = [t for t in text.replace("(", "").replace(")", "").split(",") if t.strip()]
            return [type(current[0])(t) if current else t for t in items]
        return str(text)
    except ValueError:
        raise ValueError(
            f"{key}={text!r} is not a valid {type(current).__name__} (current value {current!r})"
        ) from None

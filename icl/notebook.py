"""What every notebook calls first: parameter validation, seeding, an environment stamp.

Papermill injects parameters as plain Python values; a wrong type or range must fail
at once with one clear line naming the parameter, the value and what is allowed,
not deep inside torch. :func:`check` does that; :func:`setup` seeds everything and
fixes the thread count so notebook numbers are reproducible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


class ParameterError(ValueError):
    """A notebook parameter has the wrong type or value."""


def check(name: str, value: Any, kind: type | tuple[type, ...], *, low: float | None = None,
          high: float | None = None, choices: Sequence[Any] | None = None, each: bool = False) -> Any:
    """Validate one parameter. With ``each=True`` the value is a list whose items are checked."""
    if each:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or len(value) == 0:
            raise ParameterError(f"parameter {name}={value!r} must be a non-empty list")
        for v in value:
            check(name, v, kind, low=low, high=high, choices=choices)
        return list(value)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok_type = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        ok_type = True
    if not ok_type:
        names = " or ".join(k.__name__ for k in kinds)
        raise ParameterError(f"parameter {name}={value!r} has type {type(value).__name__}; expected {names}")
    if choices is not None and value not in choices:
        raise ParameterError(f"parameter {name}={value!r} is not allowed; choose one of {list(choices)}")
    if low is not None and value < low:
        raise ParameterError(f"parameter {name}={value!r} is below the allowed minimum {low}")
    if high is not None and value > high:
        raise ParameterError(f"parameter {name}={value!r} is above the allowed maximum {high}")
    return value


def check_runs_dir(value: Any) -> Path | None:
    """The ``runs_dir`` parameter: a folder holding ``<run name>/`` checkpoints.

    ``""`` means the committed runs (``data/runs``, returned as None); a relative path is
    resolved from the repository root, not the notebook's working directory.
    """
    from .config import ROOT

    check("runs_dir", value, str)
    if value == "":
        return None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else ROOT / path
    if not path.is_dir():
        raise ParameterError(f"parameter runs_dir={value!r}: no such folder ({path}); it must hold one folder per "
                             f"run (e.g. <runs_dir>/linear-w0.50/, as written by `python -m icl train linear-w0.50 "
                             f"--out <runs_dir>/linear-w0.50`), or be '' for the committed runs in data/runs")
    return path


def setup(seed: int, threads: int = 1) -> None:
    """Seed every RNG and fix the thread count (numbers then repeat exactly)."""
    import torch

    from . import seed_everything

    check("seed", seed, int, low=0)
    torch.set_num_threads(threads)
    seed_everything(seed)


def environment() -> str:
    """One line: versions and commit the notebook ran with."""
    from .checkpoint import git_commit, versions

    v = versions()
    return (f"python {v['python']}, torch {v['torch']}, numpy {v['numpy']}, commit {git_commit()[:10]}, "
            f"{v['platform']}")

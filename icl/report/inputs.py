"""The report's inputs: which notebooks, which builds of each, and their parameters.

This module owns what a build reads before running anything: the numbered notebooks
``notebooks/NN_name.ipynb`` (:func:`discover`, ``--only``: :func:`select`), the builds of
each (:func:`builds_of`: the notebook's defaults at the ``cpu`` scale, or its
:data:`DEFAULT_SCALE`, plus one per other scale with trained runs for the chapters of
:data:`PER_SCALE`), and the YAML parameters
file (:func:`load_params`, :func:`params_for`). Bad input is a :class:`ReportError`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..config import ROOT, run_names, seed_runs
from ..run_folder import RunFolder

__all__ = [
    "NOTEBOOKS",
    "NOTEBOOK_GLOB",
    "PER_SCALE",
    "ReportError",
    "notebooks_folder",
    "discover",
    "number_of",
    "DEFAULT_SCALE",
    "select",
    "load_params",
    "params_for",
    "warn_unused_keys",
    "has_trained_runs",
    "builds_of",
]

NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"

# chapters built once per scale whose runs are trained (the notebook's own defaults are the cpu
# scale's); the extra parameters each such build gets beyond ``scale``
PER_SCALE = {
    "01": {"small": {"seed_runs": seed_runs("small")}},
    "02": {"small": {"seed_runs": seed_runs("small")}},
}
# the scale of a notebook's own defaults where it is not cpu: chapter 6's runs exist at the small scale only,
# so its one page (built whether or not its runs are trained: NOT TESTED names them) is a small-scale page
DEFAULT_SCALE = {"06": "small"}


class ReportError(Exception):
    """Bad input (parameters file, --only): reported as one line, exit status 2."""


def notebooks_folder(notebooks_dir: Path | None = None) -> Path:
    """The notebooks folder, absolute (papermill changes the working directory while it runs):
    ``notebooks_dir``, by default :data:`NOTEBOOKS`."""
    return Path(notebooks_dir or NOTEBOOKS).resolve()


def discover(notebooks_dir: Path | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb``, sorted by name."""
    return sorted(Path(notebooks_dir or NOTEBOOKS).glob(NOTEBOOK_GLOB))


def number_of(notebook: Path) -> str:
    """A notebook's two-digit number (``01`` of ``01_model_selection.ipynb``)."""
    return notebook.name[:2]


def select(notebooks: list[Path], only: str | None) -> list[Path]:
    """Restrict to the comma-separated numbers of ``only`` (``"01,04"``); None keeps all."""
    if only is None:
        return notebooks
    wanted = [s.strip() for s in only.split(",") if s.strip()]
    bad = [s for s in wanted if not s.isdigit() or len(s) > 2]
    if not wanted or bad:
        raise ReportError(f"--only {only!r}: expected comma-separated notebook numbers such as 01,04")
    wanted = [s.zfill(2) for s in wanted]
    available = sorted({number_of(p) for p in notebooks})
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise ReportError(
            f"--only: no notebook numbered {', '.join(unknown)}; "
            f"available: {', '.join(available) or '(none)'}"
        )
    return [p for p in notebooks if number_of(p) in wanted]


def _params_key(key: Any, path: Path) -> str:
    if key == "all" or (isinstance(key, str) and re.fullmatch(r"\d\d", key)):
        return key
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 99:
        return f"{key:02d}"  # unquoted 01..07 (YAML octal) and 10..99
    raise ReportError(
        f"params file {path}: bad key {key!r}; keys must be 'all' or a two-digit notebook number such as '01'"
    )


def _params_value(key: str, value: Any, path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReportError(
            f"params file {path}: value of {key!r} must be a mapping of parameter "
            f"names to values, got {type(value).__name__} {value!r}"
        )
    for name in value:
        if not isinstance(name, str) or not name.isidentifier():
            raise ReportError(f"params file {path}: under {key!r}, {name!r} is not a valid parameter name")
    return dict(value)


def _yaml_problem(e: Exception) -> str:
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    if mark is not None and problem:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def load_params(path: Path | str | None) -> dict[str, dict[str, Any]]:
    """Read and validate the YAML parameters file (None: no parameters)."""
    if path is None:
        return {}
    import yaml

    path = Path(path)
    if not path.exists():
        raise ReportError(f"params file {path}: not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ReportError(f"params file {path}: cannot be read ({e.strerror or e})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ReportError(f"params file {path}: not valid YAML ({_yaml_problem(e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ReportError(
            f"params file {path}: the top level must be a mapping of 'all' or notebook "
            f"numbers to parameter mappings, got {type(data).__name__}"
        )
    out: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        k = _params_key(key, path)
        if k in out:
            raise ReportError(f"params file {path}: key {k!r} appears twice")
        out[k] = _params_value(k, value, path)
    return out


def params_for(params: dict[str, dict[str, Any]], notebook: Path) -> dict[str, Any]:
    """The parameters of one notebook: ``all`` overridden by its number's entry."""
    return {**params.get("all", {}), **params.get(number_of(notebook), {})}


def warn_unused_keys(params: dict[str, dict[str, Any]], notebooks: list[Path]) -> list[str]:
    """Messages for parameter keys that match no notebook (likely typos)."""
    available = {number_of(p) for p in notebooks}
    return [
        f"warning: parameters for {k!r} match no notebook (available: "
        f"{', '.join(sorted(available)) or 'none'})"
        for k in params
        if k != "all" and k not in available
    ]


def has_trained_runs(scale: str) -> bool:
    """Whether any run of ``scale`` is finished (its folder holds its final weights)."""
    return any(RunFolder.of(n, scale).is_finished() for n in run_names(scale))


def builds_of(src: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(page name, scale, parameters) of every build of one notebook: its defaults (at cpu scale, or
    the notebook's :data:`DEFAULT_SCALE`), and for
    the chapters of :data:`PER_SCALE` one more per other scale with trained runs, named
    ``NN_name-<scale>``."""
    own = DEFAULT_SCALE.get(number_of(src), "cpu")
    out = [(src.stem, own, {})]
    for scale, extra in PER_SCALE.get(number_of(src), {}).items():
        if scale != own and has_trained_runs(scale):
            out.append((f"{src.stem}-{scale}", scale, {"scale": scale, **extra}))
    return out

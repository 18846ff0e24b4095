"""What every chapter notebook does first: validate its parameters, seed, load its runs.

Papermill injects parameters as plain Python values; a wrong type or range must fail at
once with one clear line naming the parameter, the value and what is allowed, not deep
inside torch: :func:`check` and the run checks (:func:`check_runs`, :func:`check_run_params`,
:func:`check_seed_runs`, :func:`check_scale_param`) do that. :func:`open_chapter` is a
notebook's setup in one call: it validates the shared parameters, seeds everything, loads
the runs through the one locator (:func:`run_source`: a ``runs_dir`` run replaces the
committed one) and prints the standard lines; its :class:`OpenChapter` carries the models,
their configs, the missing runs and the folder each run was read from, which the figures
read too (so a loss curve shows exactly the runs the chapter evaluates). :func:`show_second_seed`
is the verdict cell of a chapter's second training seed: it records those verdicts for the report
with their seed, so the index and the README give that seed its column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoint import RunNotTrainedError
from ..config import ROOT, RUNS, SCALE_RUNS, check_scale, get_run_config, run_names
from ..run_folder import RunFolder, load_run


class ParameterError(ValueError):
    """A notebook parameter has the wrong type or value."""


def check(
    name: str,
    value: Any,
    kind: type | tuple[type, ...],
    *,
    low: float | None = None,
    high: float | None = None,
    choices: Sequence[Any] | None = None,
    each: bool = False,
) -> Any:
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
    check("runs_dir", value, str)
    if value == "":
        return None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else ROOT / path
    if not path.is_dir():
        raise ParameterError(
            f"parameter runs_dir={value!r}: no such folder ({path}); it must hold one folder per "
            f"run (e.g. <runs_dir>/linear-w0.50/, as written by `python -m icl train linear-w0.50 "
            f"--out <runs_dir>/linear-w0.50`), or be '' for the committed runs in data/runs"
        )
    return path


def setup(seed: int, threads: int = 1) -> None:
    """Seed every RNG and fix the thread count (numbers then repeat exactly)."""
    import torch

    from .. import seed_everything

    check("seed", seed, int, low=0)
    torch.set_num_threads(threads)
    seed_everything(seed)


def environment() -> str:
    """One line: versions and commit the notebook ran with."""
    from ..provenance import git_commit, versions

    v = versions()
    return (
        f"python {v['python']}, torch {v['torch']}, numpy {v['numpy']}, commit {git_commit()[:10]}, "
        f"{v['platform']}"
    )


def check_runs(names: Sequence[str], param: str = "runs", scale: str | None = None) -> list[str]:
    """Validate a notebook's run-list parameter (named ``param``): a list of known run names
    (of ``scale``, when given)."""
    allowed = run_names(scale)
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ParameterError(f"parameter {param}={names!r} must be a list of run names, e.g. {allowed[:2]}")
    bad = [n for n in names if n not in allowed]
    if bad:
        what = f"{bad[0]!r} is not a run of the {scale} scale" if scale else f"unknown run name {bad[0]!r}"
        raise ParameterError(f"parameter {param}={list(names)!r}: {what}; allowed: {', '.join(allowed)}")
    return list(names)


def check_seed_runs(names: Sequence[str], scale: str, param: str = "seed_runs") -> list[str]:
    """Validate a list of second-seed runs (registry entries with a ``base``) of ``scale``."""
    allowed = [n for n in run_names(scale) if RUNS[n].base is not None]
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ParameterError(
            f"parameter {param}={names!r} must be a list of second-seed run names "
            f"({', '.join(allowed) or f'none at the {scale} scale'})"
        )
    bad = [n for n in names if n not in allowed]
    if bad:
        raise ParameterError(
            f"parameter {param}={list(names)!r}: {bad[0]!r} is not a second-seed run of the {scale} "
            f"scale; allowed: {', '.join(allowed) or 'none at this scale (use [])'}"
        )
    return list(names)


def check_scale_param(scale: str, needs: str | None = None, chapter: str = "this chapter") -> str:
    """Validate a notebook's ``scale`` parameter: one of the study's scales
    (:func:`icl.config.check_scale`), or with ``needs`` one of the scales that hold that run (where
    ``chapter``'s runs exist, e.g. chapter 6's at the small scale only)."""
    if needs is not None:
        allowed = [s for s, names in SCALE_RUNS.items() if needs in names]
        if scale not in allowed:
            raise ParameterError(
                f"parameter scale={scale!r}: {chapter}'s runs exist at the {', '.join(allowed)} "
                f"scale only; allowed: {allowed}"
            )
        return scale
    try:
        return check_scale(scale)
    except ValueError as e:
        raise ParameterError(f"parameter scale={scale!r}: {e}") from None


def check_run_params(scale: str | None = None, **params: str) -> list[str]:
    """Validate single-run notebook parameters given by name, e.g.
    ``check_run_params(mix_run=mix_run, dense_run=dense_run)``; returns the run names."""
    allowed = run_names(scale)
    for param, name in params.items():
        if not isinstance(name, str) or name not in allowed:
            where = f" of the {scale} scale" if scale else " of the study"
            raise ParameterError(
                f"parameter {param}={name!r} is not a run{where}; allowed: {', '.join(allowed)}"
            )
    return list(params.values())


def run_source(name: str, root: Path | None = None, scale: str = "cpu") -> Path:
    """Where a run is read from: ``root/<name>`` if that folder exists, else the committed
    ``data/runs/<scale>/<name>``."""
    mine = RunFolder.of(name, root=root).path if root is not None else None
    return mine if mine is not None and mine.exists() else RunFolder.of(name, scale).path


def load_runs(
    names: Sequence[str], allow_partial: bool = False, root: Path | None = None, scale: str = "cpu"
) -> tuple[dict, dict, list[str]]:
    """Load the runs of ``scale`` that exist: (models, configs, missing names).

    ``root`` is a folder holding ``<run name>/`` checkpoints (the notebooks' ``runs_dir``): a
    run found there replaces the committed one, the others come from ``data/runs/<scale>`` (see
    :func:`run_source`). The chapters evaluate the prompts of one scale, so a run trained on
    another input dimension or on shorter prompts is refused here with the reason, instead
    of being judged on prompts it never saw.
    """
    models, configs, missing = {}, {}, []
    for name in check_runs(names, scale=scale):
        where = run_source(name, root, scale)
        try:
            model, config = load_run(name, root=where.parent, allow_partial=allow_partial)
        except RunNotTrainedError:
            missing.append(name)
            continue
        if config.name != name:
            raise ParameterError(
                f"{where} holds run {config.name!r}, not {name!r}: a run's folder must carry its name"
            )
        want = get_run_config(name, scale)
        trained_len = min(config.model.n_points, config.curriculum.points.end)
        if (
            config.task.n_dims != want.task.n_dims
            or config.task.nnz != want.task.nnz
            or trained_len < want.model.n_points
        ):
            raise ParameterError(
                f"run {name!r} at {where} was trained on d={config.task.n_dims}, nnz={config.task.nnz} with "
                f"prompts of up to {trained_len} points; the notebooks evaluate the {scale} scale's prompts "
                f"(d={want.task.n_dims}, nnz={want.task.nnz}, {want.model.n_points} points) and criteria, "
                "which this run does not fit"
            )
        models[name], configs[name] = model, config
    return models, configs, missing


def describe_sources(names: Sequence[str], root: Path | None, scale: str = "cpu") -> str:
    """One line for a notebook: which runs come from ``runs_dir`` (empty when it is not set)."""
    if root is None:
        return ""
    mine = [n for n in names if run_source(n, root, scale) != RunFolder.of(n, scale).path]
    return f"from runs_dir {root}: {', '.join(mine) or 'none'}; the others from data/runs/{scale}"


@dataclass
class OpenChapter:
    """A chapter's runs once loaded: models and configs by run name, the runs not trained yet,
    and the folder each loaded run was read from (``sources``; figures read their files there)."""

    scale: str
    runs: list[str]
    models: dict
    configs: dict
    missing: list[str]
    sources: dict[str, Path]


def open_chapter(
    runs: Sequence[str],
    *,
    seed: int,
    n_eval: int,
    allow_partial: bool = False,
    runs_dir: str = "",
    scale: str = "cpu",
    check_config=None,
    about: str = "",
) -> OpenChapter:
    """A notebook's setup: validate ``seed``, ``n_eval``, ``allow_partial`` and ``runs_dir``
    (``runs`` are validated by the caller's run checks), seed every RNG, load the runs of
    ``scale`` (``runs_dir`` first, see :func:`run_source`), refuse configs the chapter's prompts
    do not fit (``check_config(configs)``, e.g. the task's width), and print the standard lines:
    the scale (with ``about``, e.g. its prompt geometry), the loaded and missing runs, where ``runs_dir``
    runs came from, and what a missing run means for the verdict."""
    check("n_eval", n_eval, int, low=16)
    check("seed", seed, int, low=0)
    check("allow_partial", allow_partial, bool)
    root = check_runs_dir(runs_dir)
    setup(seed)
    runs = list(dict.fromkeys(runs))
    models, configs, missing = load_runs(runs, allow_partial=allow_partial, root=root, scale=scale)
    if check_config is not None:
        check_config(configs)
    print(f"scale: {scale}" + (f" ({about})" if about else ""))
    print("loaded:", ", ".join(models) or "none")
    print("missing (not trained yet):", ", ".join(missing) or "none")
    if root is not None:
        print(describe_sources(runs, root, scale))
    if missing:
        print(
            "-> the figures and tables below show the reference predictors and the loaded runs only; "
            "the verdict is NOT TESTED until every run it needs is trained (python -m icl train <run>)."
        )
    return OpenChapter(scale, runs, models, configs, missing, {n: run_source(n, root, scale) for n in models})


def show_second_seed(verdicts: Sequence, runs: Sequence[str]) -> None:
    """The verdicts judged on a second training seed's ``runs``, under a ``second seed:`` line: printed and
    recorded for the report with that seed (:func:`icl.chapters.verdict.show` with ``seed``) when every run
    is of one training seed above 0; judged on a mix of seeds (a run without its second seed standing in
    for itself) they are printed only, being no one seed's verdicts."""
    from .verdict import show

    seeds = sorted({RUNS[r].seed for r in runs})
    print("second seed:")
    if len(seeds) == 1 and seeds[0] > 0:
        show(*verdicts, seed=seeds[0])
        return
    print(
        f"(runs of training seeds {', '.join(map(str, seeds))}: printed, not recorded as one seed's verdicts)"
    )
    for v in verdicts:
        print(v)

"""Forks and whole scales: start a run from another's state, train every run of a scale.

A mixture run with a mixing-weight curriculum (:class:`~icl.config.WeightRamp`) draws the
same batches as its specialist until the curriculum's hold, so :func:`fork` can start it
from the specialist's saved state at that step, bit-identical to training it from scratch
(tested). :func:`fork_source` names that specialist (none for a run whose model differs:
the conditional run of chapter 6 trains from scratch); :func:`sibling_source` a mixture run
still holding the specialist's state at the hold (:func:`fork_sources`: both, best first, for
:func:`icl.run_folder.plan_start`, which decides how every run starts); :func:`train_scale` trains a
scale's runs in order, each source to its hold first, then forks the mixture runs waiting on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from .checkpoint import load_optimizer_tensors, load_state, state_progress
from .config import ROOT, RunConfig
from .provenance import git_commit
from .run_folder import Fork, RunFolder, plan_start
from .step import distributed_env, keep_implementation
from .train import build_model, make_optimizer, train

__all__ = ["fork", "fork_source", "sibling_source", "fork_sources", "train_scale"]


def fork(source: Path, config: RunConfig, out_dir: Path) -> Path:
    """Start ``config`` in ``out_dir`` from another run's resumable state ``source``.

    Allowed only where training ``config`` from scratch would have produced that state:
    every setting but the name, the final mixing weights, the weight curriculum and the step
    count is the same (the model included: a conditional run, whose model has a class
    embedding more, never forks; a label curriculum's run does, when it gives no label before
    the fork step: its class embedding starts from its own initialisation), the source's mixing
    weights at every step before the fork are the curriculum's ``start`` (the specialist's own
    weights, or a sibling mixture run forked at the hold and not trained on: the same batches),
    the source has not passed ``config.curriculum.mix.hold``, and the learning rates of both
    agree up to there (neither has begun its decay). Then steps ``0..step`` of both runs used the same
    batches, the same initialisation and the same optimiser, and the fork is exact. The new
    state records where it came from (its header's ``sessions``); refuses an ``out_dir`` that
    already holds a run.
    """
    folder, source = RunFolder(out_dir), Path(source)
    st = load_state(source)
    # the source's implementation switches (its AdamW, attention kernel, compile default): steps 0..step were
    # trained with them, so the fork keeps them and stays exact (a preset's newer defaults orphan no source)
    config = keep_implementation(st["config"], config)
    problems = _fork_problems(st["config"], st["step"], config)
    if problems:
        raise ValueError(f"cannot fork {config.name!r} from {source}: " + "; ".join(problems))
    if folder.holds_run():  # refused before the lock, which would create the folder
        raise ValueError(f"{folder} already holds a run; fork into an empty folder")
    with folder.lock():  # one writer per run folder (checked again under the lock)
        if folder.holds_run():
            raise ValueError(f"{folder} already holds a run; fork into an empty folder")
        _write_fork(st, source, config, folder)
    return folder.path


def _fork_problems(src: RunConfig, step: int, config: RunConfig) -> list[str]:
    """Why forking ``config`` from a state of ``src`` at ``step`` would not be exact ([] if it would)."""
    mix = config.curriculum.mix

    # a label curriculum's run may add a class embedding to the source's model: built and initialised
    # last (icl.model), and given no gradient on steps without labels, it changes nothing before them
    adds_labels = config.curriculum.labels.active and not src.model.n_classes

    def comparable(c: RunConfig) -> dict:
        d = c.to_dict()
        d.pop("name"), d["task"].pop("weights"), d["curriculum"].pop("mix"), d["train"].pop("steps")
        if adds_labels:
            d["model"].pop("n_classes"), d["curriculum"].pop("labels")
        return d

    problems = []
    mine, theirs = comparable(config), comparable(src)
    if mine != theirs:
        diff = [k for k in mine if mine[k] != theirs.get(k)]
        problems.append(f"their configs differ beyond name, weights, weight curriculum and steps (in {diff})")
    if not mix.start:
        problems.append(f"{config.name} has no weight curriculum")
    else:  # the batches of steps 0..step-1 agree when the mixing weights of every such step do
        weights = (src.curriculum.mix.at(s, src.task.weights) for s in range(step))
        differ = next((s for s, w in enumerate(weights) if w != tuple(mix.start)), None)
        if differ is not None:
            problems.append(
                f"the source's weights {src.curriculum.mix.at(differ, src.task.weights)} at step "
                f"{differ:,} are not {config.name}'s curriculum start {mix.start}"
            )
    if adds_labels and any(config.gives_labels(s) for s in range(step)):
        problems.append(f"{config.name}'s label curriculum gives labels before the fork step {step:,}")
    if step > mix.hold:
        problems.append(f"the source is at step {step:,}, past the hold ({mix.hold:,})")
    if step >= src.train.steps:
        problems.append(
            f"the source is finished (step {step:,}): its last step logged and decayed as a final step"
        )
    if any(src.train.lr_at(s) != config.train.lr_at(s) for s in range(step + 1)):
        problems.append("their learning rates differ before the fork step")
    return problems


def _write_fork(st: dict, source: Path, config: RunConfig, folder: RunFolder) -> None:
    """The forked run's files: its header (with its origin) first, the resumable state last."""
    src, step = st["config"], st["step"]
    model = build_model(config)
    weights = model.state_dict()  # a label curriculum's class embedding keeps its own initialisation
    weights.update(st["model"])
    model.load_state_dict(weights)
    opt = make_optimizer(model, config)
    load_optimizer_tensors(opt, st["optim"])
    try:
        where = str(source.resolve().relative_to(ROOT))
    except ValueError:
        where = str(source)
    inherited = RunFolder(source.parent).sessions()  # the source's own (re)starts: a complete history
    origin = {
        "forked_from": where,
        "source_run": src.name,
        "start_step": step,
        "fork_step": step,
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "note": f"steps 0..{step:,} are {src.name}'s (sessions above): the same batches, "
        f"initialisation and optimiser",
    }
    sessions = [{"run": src.name, **s} for s in inherited if s.get("start_step", 0) < step] + [origin]
    folder.write_started(model, opt, step, st["log"], config, st["evals"], sessions)


def fork_source(config: RunConfig) -> str | None:
    """The run of the same scale, seed and model whose batches ``config``'s weight curriculum
    repeats up to its hold (the specialist whose weights are the curriculum's start), or None:
    no curriculum, or a model of its own (the conditional run ``linear-w0.50-cond``: its class
    embedding makes its initialisation and parameters differ, so it trains from scratch, with
    the same curriculum)."""
    from .config import SCALE_RUNS, get_run_config

    if not config.curriculum.mix.start:
        return None
    for name in SCALE_RUNS[config.scale]:
        other = get_run_config(name, config.scale)
        if (
            name != config.name
            and not other.curriculum.mix.start
            and other.train.seed == config.train.seed
            and other.model == config.model
            and tuple(other.task.weights) == tuple(config.curriculum.mix.start)
        ):
            return name
    return None


def sibling_source(config: RunConfig, folder_of: Callable[[str], Path]) -> str | None:
    """Another mixture run of the scale with the same seed, model and weight curriculum up to
    its hold whose resumable state (in ``folder_of(name)``) is at or before that hold: a run
    forked at the hold and not trained on since, whose state is the specialist's at the hold.
    :func:`train_scale` forks from it when the specialist itself has passed the hold."""
    from .config import SCALE_RUNS, get_run_config

    mix = config.curriculum.mix
    for name in SCALE_RUNS[config.scale]:
        other = get_run_config(name, config.scale)
        state = RunFolder(folder_of(name)).state_path
        if (
            name != config.name
            and other.curriculum.mix.start == mix.start
            and other.curriculum.mix.hold == mix.hold
            and other.train.seed == config.train.seed
            and other.model == config.model
            and state.exists()
            and state_progress(state)[0] <= mix.hold
        ):
            return name
    return None


def fork_sources(config: RunConfig, folder_of: Callable[[str], Path]) -> Iterator[Path]:
    """The resumable states ``config`` may fork from, best first, for :func:`icl.run_folder.plan_start`:
    its specialist's (:func:`fork_source`), then a sibling's (:func:`sibling_source`, looked for only
    when asked); none for a run without a fork source. ``folder_of(name)`` is a run's folder."""
    src = fork_source(config)
    if src is None:
        return
    yield RunFolder(folder_of(src)).state_path
    sibling = sibling_source(config, folder_of)
    if sibling is not None:
        yield RunFolder(folder_of(sibling)).state_path


# long: a scale's order of work: each fork source to its hold, the forks, then every run
def train_scale(
    scale: str,
    names: list[str] | None = None,
    progress: bool = True,
    device: str = "cpu",
    max_seconds: float | None = None,
    say=print,
) -> list[str]:
    """Train (or resume) every run of ``scale`` (or ``names``), one at a time; returns the
    finished ones.

    A mixture run with a weight curriculum whose source run (:func:`fork_source`) has not
    passed its hold is forked from it at the hold: the source is trained to exactly the hold
    first, every mixture run waiting on it is forked, then each is trained to its end. A run
    that cannot be forked exactly (its source already past the hold and no state of its own)
    is forked from a sibling mixture run still at the hold (:func:`sibling_source`), else
    trained from scratch; the result is the same, only slower. A run with a weight curriculum
    but no fork source (the conditional run) is trained from scratch with its curriculum.

    Refused (ValueError), as from the command line: more than one process, and ``names`` that are not
    distinct runs of the scale or include a mixture run whose seed's hold is not read yet
    (:func:`icl.config.check_run_names`); with ``names`` None such a run waits, and ``say`` says why.
    """
    from .config import check_hold_read, check_run_names, get_run_config, run_names

    if distributed_env()[1] > 1:
        raise ValueError("train-scale runs in one process (it forks runs); use train RUN under torchrun")
    names = run_names(scale) if names is None else check_run_names(scale, names)
    waiting = []
    for n in names:  # of every run of the scale, a mixture run whose seed's hold is not read yet waits
        try:
            check_hold_read(n, scale)
        except ValueError as e:
            say(str(e))
            waiting.append(n)
    names = [n for n in names if n not in waiting]
    t0 = time.time()

    def left() -> float | None:
        return None if max_seconds is None else max_seconds - (time.time() - t0)

    def folder(n: str) -> RunFolder:
        return RunFolder.of(n, scale)

    for name in names:  # forks first: each source to its hold, then the mixture runs waiting on it
        cfg = get_run_config(name, scale)
        src = fork_source(cfg)
        if src is None or folder(name).holds_run():
            continue
        hold = cfg.curriculum.mix.hold
        at = folder(src).progress()
        if at is None or at[0] < hold:  # the source trains to the hold first: the fork then saves the most
            say(f"{src}: training to step {hold:,}, where {name} forks from it")
            train(
                get_run_config(src, scale),
                folder(src).path,
                progress=progress,
                device=device,
                stop_after=hold,
                max_seconds=left(),
            )
            if folder(src).progress()[0] < hold:
                return []  # paused by the clock: rerun to resume
        plan = plan_start(cfg, folder(name), fork_sources(cfg, lambda n: folder(n).path))
        if not isinstance(plan, Fork):
            say(f"{name}: {src} is past the hold ({hold:,}); {name} trains from scratch")
            continue
        fork(plan.source, cfg, folder(name).path)
        by = RunFolder(plan.source.parent).name
        say(
            f"{name}: forked from {src} at step {hold:,}"
            if by == src
            else f"{name}: forked from {by} at "
            f"step {plan.step:,} ({src} is past the hold; {by}'s state there is {src}'s)"
        )
    done = []
    for name in names:
        if left() is not None and left() <= 0:
            break
        train(
            get_run_config(name, scale),
            folder(name).path,
            progress=progress,
            device=device,
            max_seconds=left(),
        )
        if folder(name).is_finished():
            done.append(name)
    return done

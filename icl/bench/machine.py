"""The quiet-machine check, and the load average around each measurement.

This module owns what the bench knows about the rest of the machine: the 1-minute load
average (:func:`read_load`, and :func:`load_during` for a block), every process's CPU time
from ``/proc`` (:func:`read_procs`), and the verdict "busy, because ..." or quiet
(:func:`machine_busy`) behind the bench's refusal to time a busy machine, ``--allow-busy``
and ``--check-only``. Linux reads ``/proc``; elsewhere only the load average is checked.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "PROC",
    "cpu_model",
    "MAX_LOAD",
    "CPU_SHARE",
    "CHECK_S",
    "read_load",
    "read_procs",
    "process_command",
    "busy_processes",
    "machine_busy",
    "load_during",
]

PROC = Path("/proc")
MAX_LOAD = 0.5  # a 1-minute load average above this before timing: something else has been running
CPU_SHARE = 0.2  # another process using more than this fraction of one core during the check
CHECK_S = 0.5  # the check's sampling window (seconds)


def cpu_model(root: Path = PROC) -> str | None:
    """The CPU's name as ``/proc/cpuinfo`` gives it ("model name", e.g. "AMD EPYC"; on arm64 "CPU part"
    where no name is given), else :func:`platform.processor`, else None: the machine a row was timed on."""
    try:
        info = (root / "cpuinfo").read_text()
    except OSError:
        info = ""
    for key in ("model name", "Hardware", "CPU part"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", info, re.MULTILINE)
        if m:
            return m.group(1).strip()
    return platform.processor() or None


def read_load(root: Path = PROC) -> float | None:
    """The 1-minute load average: ``root/loadavg`` (Linux), else ``os.getloadavg`` where the OS has
    one, else None."""
    try:
        return round(float((root / "loadavg").read_text().split()[0]), 2)
    except (OSError, ValueError, IndexError):
        pass
    if root == PROC and hasattr(os, "getloadavg"):
        try:
            return round(os.getloadavg()[0], 2)
        except OSError:
            return None
    return None


def read_procs(root: Path = PROC) -> dict[int, tuple[int, int]]:
    """Every process in ``root`` (a ``/proc``-like folder): pid -> (parent pid, CPU time in clock
    ticks, user + system, all threads). Empty where there is no such folder (not Linux)."""
    out: dict[int, tuple[int, int]] = {}
    try:
        entries = list(root.iterdir())
    except OSError:
        return out
    for e in entries:
        if not e.name.isdigit():
            continue
        try:
            stat = (e / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
            out[int(e.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid; utime + stime
        except (OSError, ValueError, IndexError):  # the process ended meanwhile, or an unreadable entry
            continue
    return out


def process_command(pid: int, root: Path = PROC, width: int = 70) -> str:
    """A process's command line, shortened (``python -m icl train ...``), or ``[name]`` for a
    kernel thread."""
    try:
        argv = [
            a for a in (root / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0") if a
        ]
    except OSError:
        argv = []
    if argv:
        cmd = " ".join([os.path.basename(argv[0])] + argv[1:])
    else:
        try:
            stat = (root / str(pid) / "stat").read_text()
            cmd = f"[{stat[stat.index('(') + 1 : stat.rindex(')')]}]"
        except (OSError, ValueError):
            cmd = "?"
    return cmd if len(cmd) <= width else cmd[: width - 3] + "..."


def busy_processes(
    before: dict[int, tuple[int, int]],
    after: dict[int, tuple[int, int]],
    seconds: float,
    exclude: set[int],
    share: float = CPU_SHARE,
    hz: int | None = None,
) -> list[tuple[int, float]]:
    """(pid, fraction of one core) of every process outside ``exclude`` that used more than ``share``
    of a core between two :func:`read_procs` readings ``seconds`` apart, busiest first."""
    hz = hz or (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
    busy = []
    for pid, (_, ticks) in after.items():
        if pid in exclude or pid not in before or ticks < before[pid][1]:  # excluded, new, or a reused pid
            continue
        used = (ticks - before[pid][1]) / hz / max(seconds, 1e-9)
        if used > share:
            busy.append((pid, used))
    return sorted(busy, key=lambda pu: -pu[1])


def _self_and_ancestors(pid: int, procs: dict[int, tuple[int, int]]) -> set[int]:
    """``pid`` and its parent, grandparent, ... (the shell or ``make`` that started the bench)."""
    out = {pid}
    while pid in procs and procs[pid][0] not in out and procs[pid][0] > 0:
        pid = procs[pid][0]
        out.add(pid)
    return out


def machine_busy(
    max_load: float = MAX_LOAD,
    share: float = CPU_SHARE,
    seconds: float = CHECK_S,
    root: Path = PROC,
    self_pid: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """Why the machine cannot be measured now, in one line, or None if it looks quiet.

    Busy means a 1-minute load average above ``max_load`` (something ran in the last minute),
    or any process other than this one and its ancestors using more than ``share`` of a core
    during a ``seconds`` window (its pid, share and command are named: another ``icl`` training,
    pytest, a notebook kernel). ``root`` is the ``/proc`` to read (tests pass a fake one); where
    there is none only the load average is checked, and without one of those either nothing is.
    """
    self_pid = os.getpid() if self_pid is None else self_pid
    reasons = []
    load = read_load(root)
    if load is not None and load > max_load:
        reasons.append(f"1-minute load average {load:g} > {max_load:g}")
    t0, before = clock(), read_procs(root)
    if before:
        sleep(seconds)
        t1, after = clock(), read_procs(root)
        busy = busy_processes(before, after, t1 - t0, _self_and_ancestors(self_pid, after), share)
        reasons += [
            f"pid {pid} at {used:.0%} of a core: {process_command(pid, root)}" for pid, used in busy[:3]
        ]
        if len(busy) > 3:
            reasons.append(f"{len(busy) - 3} more process(es) above {share:.0%} of a core")
    return "; ".join(reasons) or None


@contextmanager
def load_during() -> Iterator[dict[str, float | None]]:
    """``{"start", "end"}``: the 1-minute load average as the block starts and as it ends (it counts
    the bench's own threads too)."""
    load: dict[str, float | None] = {"start": read_load(), "end": None}
    try:
        yield load
    finally:
        load["end"] = read_load()

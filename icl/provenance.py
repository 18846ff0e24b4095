"""Provenance: which code and which software produced a file.

This module owns the facts recorded beside every result (a run's header, the
report's footer and ``report.json``, the benchmarks' ``meta``, the notebooks' setup line):
the git commit of the checkout (:func:`git_commit`), the versions of the core software
(:func:`versions`) and of an optional package (:func:`package_version`).
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from .config import ROOT

__all__ = ["git_commit", "versions", "package_version"]


def git_commit() -> str:
    """The checkout's ``HEAD`` commit, or ``"unknown"`` outside a git checkout (or without git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    """Python, torch, numpy, safetensors and the platform, as recorded with every run."""
    import numpy
    import safetensors
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "safetensors": safetensors.__version__,
        "platform": platform.platform(),
    }


def package_version(module: str) -> str | None:
    """``module.__version__``, or None when the package is absent or broken (an optional extra)."""
    try:
        return __import__(module).__version__
    except Exception:
        return None


def cpu_bf16_instructions() -> str:
    """This CPU's bfloat16 instruction sets named in /proc/cpuinfo (amx_bf16, avx512_bf16), or ''
    (no /proc, or none): without them bf16 autocast is emulated and far slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return ""
    return ", ".join(f for f in ("amx_bf16", "avx512_bf16") if f in flags)

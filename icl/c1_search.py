"""The C1 search (issue 35): which training lever leads the w = 0.5 mixture to select.

This module owns the search's tries in ``data/sizing/c1-search/`` (each a run folder trained by
``python -m icl train ... --out``; the prepared GPU call ``data/sizing/c1-search/gpu.sh`` says
what each is) and how they are read: how far each has trained (``steps``), and each one's
errors on fresh prompts and its loss on the plain w = 0.5 objective against the target fixed
in the issue before any try ran (``score``).

    python -m icl.c1_search steps data/sizing/c1-search
"""

from __future__ import annotations

import sys
from pathlib import Path

from .checkpoint import CheckpointError, state_progress


def tries(folder: Path) -> list[Path]:
    """The try folders under ``folder``: every sub-folder holding a resumable state."""
    return sorted(p for p in Path(folder).iterdir() if (p / "state.safetensors").exists())


def steps(folder: Path) -> list[str]:
    """One line per try: its name, the step its state reached and its step count."""
    out = []
    for p in tries(folder):
        try:
            at, total = state_progress(p / "state.safetensors")
        except CheckpointError as e:  # a state being written right now: say so, never fail the listing
            out.append(f"{p.name} ? ({e})")
            continue
        out.append(f"{p.name} {at}/{total}")
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("steps",):
        print("usage: python -m icl.c1_search steps FOLDER", file=sys.stderr)
        return 2
    print("\n".join(steps(Path(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The package's layout rules, checked on the source: what a reader opening the repo cold relies on.

No module imports another module's private name; no file under icl/ is over 450 lines and every
module opens with a docstring saying what it owns; no code or notebook recovers a run's or a
baseline's fields or colour by parsing its name (they read the registry, icl.config.RUNS, and
the chapters' curve-key constants).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted((ROOT / "icl").rglob("*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_LINES = 450


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_no_module_imports_a_private_name(path):
    tree = ast.parse(path.read_text())
    ours = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module != "__future__"
            and (node.level > 0 or (node.module or "").startswith("icl"))]
    private = [f"line {node.lineno}: {alias.name}" for node in ours for alias in node.names
               if alias.name.startswith("_")]
    bound = {alias.asname or alias.name for node in ours for alias in node.names}  # names of our modules, among others
    private += [f"line {node.lineno}: {node.value.id}.{node.attr}" for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in bound]
    assert not private, f"{rel(path)} reaches into another module's private names: {private}"


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_modules_are_short_and_say_what_they_own(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_LINES, f"{rel(path)} has {len(text.splitlines())} lines (at most {MAX_LINES})"
    assert ast.get_docstring(ast.parse(text)), f"{rel(path)} opens with no docstring"


# what parsing a run's or a baseline's name looks like: the weight from "-w", a seed from "-seed",
# a colour from hash(), a kind from a name's prefix
NAME_PARSING = re.compile(r"""split\(["']-w|split\(["']-seed|endswith\(["']-seed|\bhash\(|startswith\(["']Bayes""")


def test_no_code_or_notebook_parses_a_run_or_baseline_name():
    found = [f"{rel(p)}: {m.group(0)}" for p in MODULES for m in NAME_PARSING.finditer(p.read_text())]
    for nb in NOTEBOOKS:
        source = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"])
        found += [f"{rel(nb)}: {m.group(0)}" for m in NAME_PARSING.finditer(source)]
    assert not found, f"names parsed for their fields: {found}"


def test_each_chapter_notebook_has_its_module():
    modules = {p.stem for p in (ROOT / "icl" / "chapters").glob("*.py")}
    assert NOTEBOOKS and all(nb.stem[3:] in modules for nb in NOTEBOOKS), \
        [nb.stem for nb in NOTEBOOKS if nb.stem[3:] not in modules]

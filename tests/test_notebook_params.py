"""Every notebook parameter has a type and a description that papermill shows.

`papermill --help-notebook notebooks/NN_x.ipynb` reads the cell tagged ``parameters`` line by line as
``name: type = value  # help``; a parameter without an annotation is listed as ``Unknown type``, and a line
papermill cannot parse (for instance one whose comment holds another ``=``) is left out of the listing
altogether. These tests read each cell the way papermill does (its own inspection) and the way Python does
(``ast``), and require the two to agree on the names, every parameter to carry a plain annotation that its
default value satisfies, and a non-empty help comment.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

papermill = pytest.importorskip("papermill")
from papermill.translators import PythonTranslator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# the annotation forms papermill prints as they are (a dotted name such as typing.List[int] is not parsed)
ELEMENT = {"int": int, "float": float, "str": str, "bool": bool}
ALLOWED = [*ELEMENT, "list", *(f"list[{t}]" for t in ELEMENT)]


def _is(value, type_name: str) -> bool:
    t = ELEMENT[type_name]
    return type(value) is t  # exact: True is not an int here, 1 is not a float


def conforms(value, annotation: str) -> bool:
    """Whether a parameter's default ``value`` is of the annotated type (one of :data:`ALLOWED`)."""
    if annotation in ELEMENT:
        return _is(value, annotation)
    if annotation == "list":
        return isinstance(value, list)
    return isinstance(value, list) and all(_is(v, annotation[5:-1]) for v in value)


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{len(cells)} cells tagged 'parameters' (expected one)"
    return cells[0]


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What is wrong with a notebook's parameters cell; [] when every parameter is typed and described."""
    cell = parameters_cell(nb)
    src = cell.source
    found: list[str] = []
    declared: dict[str, ast.stmt] = {}
    for node in ast.parse(src).body:
        single = isinstance(node, ast.Assign) and len(node.targets) == 1
        target = node.targets[0] if single else getattr(node, "target", None)
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or not isinstance(target, ast.Name):
            found.append(f"line {node.lineno}: not a plain `name: type = value` assignment")
            continue
        declared[target.id] = node
        if not isinstance(node, ast.AnnAssign):
            found.append(f"{target.id}: no type annotation")
            continue
        annotation = ast.get_source_segment(src, node.annotation)
        if annotation not in ALLOWED:
            found.append(f"{target.id}: annotation {annotation!r} is not one of {ALLOWED}")
        elif node.value is None:
            found.append(f"{target.id}: annotated but no default value")
        elif not conforms(ast.literal_eval(node.value), annotation):
            found.append(
                f"{target.id}: default {ast.get_source_segment(src, node.value)} is not a {annotation}"
            )

    # papermill's own reading of the cell (what --help-notebook and inspect_notebook list)
    seen = {p.name: p for p in PythonTranslator.inspect(cell)}
    for name in declared:
        if name not in seen:
            found.append(f"{name}: not listed by papermill (is there a second '=' on its line?)")
            continue
        p = seen[name]
        if p.inferred_type_name in ("None", ""):
            found.append(f"{name}: papermill shows 'Unknown type'")
        if not p.help.strip():
            found.append(f"{name}: no help comment")
    for name in seen.keys() - declared.keys():
        found.append(f"{name}: listed by papermill but not assigned in the cell")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_parameter_is_typed_and_described(path):
    assert problems(nbformat.read(path, 4)) == []


def test_all_six_notebooks_are_checked():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_public_inspection_agrees(path):
    """papermill.inspect_notebook (behind --help-notebook) lists the same typed, described parameters."""
    listed = papermill.inspect_notebook(str(path))
    cell = parameters_cell(nbformat.read(path, 4))
    assert list(listed) == [p.name for p in PythonTranslator.inspect(cell)]
    assert listed and all(p["inferred_type_name"] != "None" and p["help"] for p in listed.values())


def _notebook(source: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), cell]
    return nb


GOOD = (
    "# parameters\nn_eval: int = 1280  # prompts per class\nks: list[int] = []  # k values\n"
    'alphas: list[float] = [0.1]  # penalties\nrun: str = "a"  # the run\nflag: bool = False  # a switch\n'
)


def test_a_good_cell_passes():
    assert problems(_notebook(GOOD)) == []


@pytest.mark.parametrize(
    "line, complaint",
    [
        ("seed = 1  # evaluation seed", "seed: no type annotation"),
        ("seed: int = 1", "seed: no help comment"),
        ("seed: int = 1  #   ", "seed: no help comment"),
        ('scale: str = "cpu"  # "cpu" (d = 10)', "scale: not listed by papermill"),
        ("seed: typing.Any = 1  # evaluation seed", "seed: annotation 'typing.Any'"),
        ("seed: int = 0.5  # evaluation seed", "seed: default 0.5 is not a int"),
        ("ks: list[int] = [1, 2.0]  # k values", "ks: default [1, 2.0] is not a list[int]"),
        ("flag: int = True  # a switch", "flag: default True is not a int"),
    ],
)
def test_a_bad_parameter_is_caught(line, complaint):
    """The check bites: one bad line added to a good cell is reported, by name."""
    found = problems(_notebook(GOOD + line + "\n"))
    name = line.split(":")[0].split("=")[0].strip()
    assert any(f.startswith(complaint) for f in found), found
    assert all(f.startswith(name + ":") for f in found), found  # only the bad line is blamed

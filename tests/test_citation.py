"""The repository is licensed as pyproject.toml says and citable, with the two papers it rests on."""

from __future__ import annotations

import datetime
import tomllib
from pathlib import Path

import pytest

import icl

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# the first line and a phrase of the text of each SPDX licence this check knows
LICENCE_TEXT = {
    "MIT": ("MIT License", "Permission is hereby granted, free of charge, to any person obtaining a copy"),
}


def _spdx(project: dict) -> str:
    lic = project["license"]
    return lic if isinstance(lic, str) else lic.get("text", "")


def _cff() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_license_file_matches_pyproject():
    spdx = _spdx(PYPROJECT)
    assert spdx in LICENCE_TEXT, f"pyproject's license {spdx!r}: add its text to LICENCE_TEXT"
    heading, phrase = LICENCE_TEXT[spdx]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.splitlines()[0].strip() == heading
    assert phrase in " ".join(text.split())
    holders = [a["name"] for a in PYPROJECT.get("authors", []) if "name" in a] or [
        "the icl study contributors"
    ]
    assert any(
        line.startswith("Copyright (c) ") and any(h in line for h in holders) for line in text.splitlines()
    )


def test_citation_describes_this_repository():
    cff = _cff()
    assert cff["cff-version"] == "1.2.0"
    assert cff["message"].strip() and cff["authors"]
    assert cff["title"].startswith("icl")
    assert str(cff["version"]) == PYPROJECT["version"] == icl.__version__
    assert cff["license"] == _spdx(PYPROJECT)
    assert datetime.date.fromisoformat(str(cff["date-released"])) == datetime.date(2026, 12, 1)


def _families(ref: dict) -> list[str]:
    return [a.get("family-names") for a in ref["authors"]]


def _arxiv(ref: dict) -> set[str]:
    ids = {i["value"] for i in ref.get("identifiers", [])}
    return {v.removeprefix("arXiv:") for v in ids} | {ref.get("url", "").rsplit("/", 1)[-1]}


@pytest.mark.parametrize(
    "arxiv, kind, year, authors",
    [
        ("2311.00871", "article", 2023, ["Yadlowsky", "Doshi", "Tripuraneni"]),
        ("2208.01066", "conference-paper", 2022, ["Garg", "Tsipras", "Liang", "Valiant"]),
    ],
)
def test_citation_references_both_papers(arxiv, kind, year, authors):
    refs = [r for r in _cff().get("references", []) if arxiv in _arxiv(r)]
    assert len(refs) == 1, f"one reference with arXiv {arxiv}"
    ref = refs[0]
    assert ref["type"] == kind and ref["year"] == year and ref["title"]
    assert _families(ref) == authors
    if kind == "conference-paper":
        assert "NeurIPS 2022" in ref["conference"]["name"]

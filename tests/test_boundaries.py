"""The design's dependency rules (DESIGN.md "Boundaries"), as import-linter contracts
written in pyproject.toml: a test, so a broken boundary fails CI with the import
chain that broke it rather than waiting for a reviewer."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True,
                          no_logo=True)
    out = capsys.readouterr().out
    assert status == EXIT_STATUS_SUCCESS, out


def test_every_rule_of_the_design_is_a_contract() -> None:
    """The contracts this test relies on are still there (a deleted contract would
    pass lint-imports trivially)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = {c["name"] for c in config["tool"]["importlinter"]["contracts"]}
    assert len(names) >= 7
    assert any("kio" in name for name in names)
    assert any("never on the broker" in name for name in names)

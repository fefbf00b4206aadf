"""Shared fixtures: the ../shared material, a fresh repository instance per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from repository import schemas
from repository.service import Repository

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SAMPLES = SHARED / "corpus" / "mods-samples"
SEED = SHARED / "seed" / "000_84144a84b4249b75.txt"
EXAMPLE = SHARED / "reference" / "mods-article-example.xml"
DATA = Path(__file__).resolve().parent / "data"
INVALID_SAMPLE = "fsu_example_modsCollection.xml"

#: The browser fixtures (headless Chromium, a live server) for every module that wants them: tests/browser.py.
pytest_plugins = ("browser",)


def pytest_configure(config: pytest.Config) -> None:
    if not SHARED.is_dir():
        raise pytest.UsageError(f"the tests read ../shared (expected at {SHARED})")
    try:
        schemas.ensure_installed()
    except schemas.SchemasMissing:
        schemas.install(SHARED / "schemas", log=lambda _m: None)


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    r = Repository(tmp_path / "instance", base_url="http://repo.test")
    yield r
    r.close()


def valid_samples() -> list[Path]:
    return sorted(p for p in SAMPLES.glob("*.xml") if p.name != INVALID_SAMPLE)

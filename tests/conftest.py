"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_shared_data() -> Path:
    """Return ../shared/data; skip when absent on a laptop, fail under CI where it must be present."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    message = f"needs the shared test data at {SHARED_DATA}, which is absent"
    if IN_CI:
        pytest.fail(message + " (CI=true: shared data must be present)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared_data()

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


_BACKEND_OUTCOMES: dict[str, dict[str, int]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count outcomes per database backend, so the CI log shows the PostgreSQL suite really ran."""
    if report.when != "call" and not (report.when == "setup" and report.skipped):
        return
    for backend in ("sqlite", "postgresql"):
        if f"[{backend}" in report.nodeid or f"-{backend}]" in report.nodeid:
            counts = _BACKEND_OUTCOMES.setdefault(backend, {})
            counts[report.outcome] = counts.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for backend in ("sqlite", "postgresql"):
        counts = _BACKEND_OUTCOMES.get(backend, {})
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "none collected"
        terminalreporter.write_line(f"storage suite on {backend}: {summary}")

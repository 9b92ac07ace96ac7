"""Shared fixtures and settings for the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI runs without deadlines: a slow shared machine must not turn a property test red.
settings.register_profile(
    "ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_CENSUS = REPO_ROOT.parent / "shared" / "data" / "census"


@pytest.fixture(scope="session")
def shared_census_dir() -> Path:
    """The raw UCI Adult files as the project received them (tests only; never at run time)."""
    if not (SHARED_CENSUS / "adult.data").exists():
        message = f"{SHARED_CENSUS} is not present"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI lays shared/ beside the clone)")
        pytest.skip(message)
    return SHARED_CENSUS

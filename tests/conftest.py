"""Shared fixtures: the ../shared data folder, hypothesis profiles."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
DEM_DIR = SHARED / "data" / "dem"
RUNOFF_DIR = SHARED / "data" / "runoff"

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYDRO_HYPOTHESIS_PROFILE", "ci"))


def shared_file(*parts: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath("data", *parts)
    if not path.exists():
        pytest.skip(f"../shared/data not present ({path}): real-data test skipped")
    return path


@pytest.fixture(scope="session")
def shared_dem():
    """Return a function name -> path of a real DEM in ../shared/data/dem (skip when absent)."""
    return lambda name: shared_file("dem", name)

"""Smoke tests: every script in examples/ runs and prints what it promises."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(name: str, *args: str) -> str:
    out = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_condition_dem(tmp_path):
    out = run("01_condition_dem.py", "--out", str(tmp_path / "t.nc"))
    assert "Ampal-like catchment" in out and (tmp_path / "t.nc").exists()


@pytest.mark.slow
def test_flood_event(tmp_path):
    out = run("02_flood_event.py", "--hours", "1", "--resolution-m", "90", "--out", str(tmp_path))
    assert "max depth" in out and (tmp_path / "plain_extent.geojson").exists()


def test_allocation_study():
    out = run("03_allocation_study.py")
    assert "dry_year: mean shortfall" in out and "reliability_time" in out


def test_calibration():
    out = run("04_calibration.py")
    assert "scores:" in out and "netcdf" in out


def test_nightly_forecast_with_a_neighbours_file(tmp_path):
    out = run("05_nightly_forecast.py", "--resolution-m", "150", "--out", str(tmp_path))
    assert "neighbour file kukar_20250825T0000Z_border_discharge.nc: valid" in out
    assert "warm start level 3 (cold)" in out and "retry later (exit 75)" in out
    # the second night starts from the state the first saved
    assert "2025-08-26T00:00Z: balikpapan_20250826T0000Z" in out and "warm start level 1 (warm)" in out
    inflow = float(out.split("neighbour inflow over the forecast:")[1].split("Mm3")[0])
    assert inflow > 0.1  # the neighbour's water entered the catchment
    assert list(tmp_path.rglob("*_border_discharge.nc"))

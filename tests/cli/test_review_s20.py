"""CLI review: each case ended in a traceback (exit 1), a wrong exit code or outputs outside the given folder.

Every test fails on the code before the fix and passes with it. Small inputs only (no model run).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from hydro.cli import cli
from tests.forecast.conftest import make_project

REPO = Path(__file__).resolve().parents[2]


def _invoke(argv: list[str]):
    return CliRunner().invoke(cli, argv)


def _one_error_line(result) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("hydro: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# ------------------------------------------------------------------ 1. malformed dask scheduler address
@pytest.mark.parametrize("address", ["tcp://", "tcp://127.0.0.1:abc"])
def test_calibrate_malformed_scheduler_address_is_exit_78(address):
    """`--scheduler tcp://` / `tcp://host:abc`: distributed's ValueError traceback, exit 1."""
    r = _invoke(["calibrate", str(REPO / "models" / "calibration_example.toml"), "--scheduler", address])
    assert r.exit_code == 78, (r.exit_code, r.stderr, r.exception)
    assert re.search(r"scheduler '.*'.*address", _one_error_line(r))


def test_forecast_malformed_scheduler_address_is_exit_78(tmp_path):
    cfg = make_project(tmp_path / "p")
    r = _invoke(["forecast", str(cfg), "-t", "2025-08-25T00:00Z", "--scheduler", "tcp://127.0.0.1:abc",
                 "--output-root", str(tmp_path / "out")])
    assert r.exit_code == 78, (r.exit_code, r.stderr, r.exception)
    assert "tcp://127.0.0.1:abc" in _one_error_line(r)
    assert not (tmp_path / "out").exists()


def test_validate_config_rejects_a_scheduler_address_without_port(tmp_path):
    """[compute] scheduler = "tcp://" passed validate-config; hydro forecast then died with a traceback."""
    cfg = make_project(tmp_path / "p")
    cfg.write_text(cfg.read_text() + '\n[compute]\nscheduler = "tcp://"\n')
    r = _invoke(["validate-config", str(cfg)])
    assert r.exit_code == 78, (r.exit_code, r.stderr, r.exception)
    assert "compute.scheduler" in _one_error_line(r) or "tcp://" in _one_error_line(r)


# ------------------------------------------------------------------ 2. hydro validate --max-mb nan / inf
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_validate_max_mb_not_finite_is_a_usage_error(tmp_path, value):
    """FloatRange(min=0, min_open) lets nan and inf through: int(nan * 2**20) was a ValueError traceback (exit 1)."""
    f = tmp_path / "x.nc"
    f.write_bytes(b"CDF\x01")
    r = _invoke(["validate", str(f), "--max-mb", value, "--no-cf"])
    assert r.exit_code == 2, (r.exit_code, r.stderr, r.exception)
    assert "--max-mb" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------ 3. run-catchment --prefix / --outlets
@pytest.mark.parametrize("prefix", ["../escaped", "sub/x", ""])
def test_run_catchment_prefix_must_be_a_file_name_prefix(tmp_path, prefix):
    """`--prefix ../escaped` wrote escaped_grid.nc next to --output-dir (left empty); "" wrote _grid.nc."""
    r = _invoke(["run-catchment", str(tmp_path / "t.nc"), "--precipitation", str(tmp_path / "p.nc"),
                 "--output-dir", str(tmp_path / "out"), "--prefix", prefix])
    assert r.exit_code == 78, (r.exit_code, r.stderr, r.exception)
    assert "prefix" in _one_error_line(r)
    assert not (tmp_path / "out").exists()


def test_run_catchment_negative_outlets_is_exit_78(tmp_path):
    """`--outlets -3` was silently taken as 0 (exit 0, no outlet hydrographs)."""
    r = _invoke(["run-catchment", str(tmp_path / "t.nc"), "--precipitation", str(tmp_path / "p.nc"),
                 "--output-dir", str(tmp_path / "out"), "--outlets", "-3"])
    assert r.exit_code == 78, (r.exit_code, r.stderr, r.exception)
    assert "outlets" in _one_error_line(r)


# ------------------------------------------------------------------ 4. hydro flood option values are 78
@pytest.mark.parametrize("argv,pattern", [
    (["--storm-total-mm", "nan"], r"storm_total_mm"),
    (["--storm-total-mm", "-10"], r"storm_total_mm"),
    (["--resolution-m", "0"], r"resolution_m"),
    (["--resolution-m", "nan"], r"resolution_m"),
])
def test_flood_option_values_are_configuration_errors(tmp_path, argv, pattern):
    """nan/negative storm depth was 'rainfall contains NaN or negative values' (65), resolution 0 also 65, while
    --duration-h 0 is 78: an option value is a configuration error."""
    r = _invoke(["flood", "--output-dir", str(tmp_path / "fl"), "--resolution-m", "300"] + argv)
    assert r.exit_code == 78, (r.exit_code, r.stderr, r.exception)
    assert re.search(pattern, _one_error_line(r))
    assert not (tmp_path / "fl").exists()

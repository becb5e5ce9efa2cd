"""`hydro export-boundary` and `hydro validate` (click commands of hydro.cli_exchange)."""
from __future__ import annotations

import pathlib

import netCDF4
import pytest
from click.testing import CliRunner

from hydro.cli_exchange import export_boundary_cmd, validate_cmd
from hydro.exchange import read_exchange, write_exchange

from .conftest import good_dataset


@pytest.fixture
def runner():
    return CliRunner()


def test_validate_clean_file_exits_0(runner, tmp_path):
    path = write_exchange(good_dataset(2), tmp_path / "x.nc")
    res = runner.invoke(validate_cmd, [str(path), "--expected-ids", "B1,B2", "--region", "upland"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"{path}: valid hydro-exchange-1.0 file"


def test_validate_prints_each_problem_on_one_line_and_exits_65(runner, tmp_path):
    path = write_exchange(good_dataset(), tmp_path / "x.nc")
    with netCDF4.Dataset(path, "a") as nc:
        nc["discharge"].units = "mm"
        q = nc["discharge"][:]
        q[0, 0] = -1.0
        nc["discharge"][:] = q
    res = runner.invoke(validate_cmd, [str(path), "--expected-ids", "B1,B3"])
    assert res.exit_code == 65
    lines = res.stdout.strip().splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    errors = [line for line in lines if ": error: " in line]
    assert any("units 'mm'" in line and line.endswith("[units]") for line in errors)
    assert any("expected point ids missing: 'B3'" in line for line in errors)
    assert any("negative discharge" in line for line in errors)
    assert "not a valid hydro-exchange-1.0 file" in res.stderr


def test_validate_size_limit_and_missing_file(runner, tmp_path):
    path = write_exchange(good_dataset(), tmp_path / "x.nc")
    res = runner.invoke(validate_cmd, [str(path), "--max-mb", "0.001"])
    assert res.exit_code == 65 and "larger than the limit" in res.stdout
    res = runner.invoke(validate_cmd, [str(tmp_path / "missing.nc")])
    assert res.exit_code == 66
    assert res.stderr.strip() == f"hydro: error: exchange file not found: {tmp_path / 'missing.nc'}"


def test_validate_strict_makes_warnings_fail(runner, tmp_path):
    path = write_exchange(good_dataset(), tmp_path / "x.nc")
    with netCDF4.Dataset(path, "a") as nc:
        nc.delncattr("hydro_config_hash")  # recommended provenance: a warning
    res = runner.invoke(validate_cmd, [str(path), "--no-cf"])
    assert res.exit_code == 0 and "(1 warning(s))" in res.stdout
    assert runner.invoke(validate_cmd, [str(path), "--no-cf", "--strict"]).exit_code == 65


def test_export_boundary_command(runner, run_dir, tmp_path):
    out = tmp_path / "boundary.nc"
    res = runner.invoke(export_boundary_cmd, [str(run_dir), "-o", str(out), "--points", "G-out,G-up"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out)
    assert runner.invoke(validate_cmd, [str(out), "--expected-ids", "G-out,G-up"]).exit_code == 0
    assert read_exchange(out, "G-up").sizes["time"] == 24
    res = runner.invoke(export_boundary_cmd, [str(run_dir), "-o", str(tmp_path / "y.nc"), "--points", "nope"])
    assert res.exit_code == 78 and res.stderr.startswith("hydro: error: unknown point ids ['nope']")
    res = runner.invoke(export_boundary_cmd, [str(tmp_path / "norun"), "-o", str(tmp_path / "y.nc")])
    assert res.exit_code == 66 and "no manifest.json" in res.stderr
    assert not (tmp_path / "y.nc").exists()
    # "-o newdir/" (the docs' example) is a folder even before it exists: it got a file named "newdir"
    res = runner.invoke(export_boundary_cmd, [str(run_dir), "-o", str(tmp_path / "newdir") + "/", "--points", "G-out"])
    assert res.exit_code == 0, res.output
    written = pathlib.Path(res.stdout.strip())
    assert written.parent == tmp_path / "newdir" and written.name.endswith("_border_discharge.nc")
    assert (tmp_path / "newdir").is_dir() and written.is_file()

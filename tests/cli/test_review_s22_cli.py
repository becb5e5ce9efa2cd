"""CLI review (bad inputs and failing writers): unreadable / non-UTF-8 config files, disk full and Ctrl-C while
`hydro calibrate`, `hydro run-catchment` and `hydro allocate` write their outputs.

Expected behaviour (README "Exit codes", docs/operations.md): one line on stderr from the hydro.errors hierarchy,
the documented exit code (66 input cannot be opened, 73 output cannot be written, 78 bad configuration, 130 Ctrl-C),
no temporary file left behind and the previous run's outputs intact.
"""
from __future__ import annotations

import errno
import pathlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

import hydro
from hydro.cli import cli
from tests.calibrate.configs import synthetic_csv_config

REPO = Path(hydro.__file__).resolve().parents[1]  # the tree holding hydro/, models/ and inputs/


def invoke(*args) -> tuple[int, str]:
    res = CliRunner().invoke(cli, [str(a) for a in args])
    return res.exit_code, res.output


def one_line(output: str) -> str:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, output  # no traceback
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ------------------------------------------------------------------------------------------ config files
def _configs(tmp_path: Path) -> dict[str, Path]:
    model = tmp_path / "models" / "m.toml"
    model.parent.mkdir(parents=True)
    shutil.copy(REPO / "models" / "balikpapan.toml", model)
    net = tmp_path / "models" / "n.toml"
    shutil.copy(REPO / "models" / "balikpapan_water.toml", net)
    cal = tmp_path / "models" / "c.toml"
    shutil.copy(REPO / "models" / "calibration_example.toml", cal)
    return {"validate-config": model, "run": model, "calibrate": cal, "allocate": net}


@pytest.mark.parametrize("command", ["validate-config", "run", "calibrate", "allocate"])
def test_unreadable_config_is_a_one_line_error(tmp_path, monkeypatch, command):
    """chmod 000 on the config (simulated: the tests may run as root, who reads any file): a PermissionError
    traceback and exit 1 ("a bug") before; sysexits EX_NOINPUT (66) "input file not readable" expected."""
    cfg = _configs(tmp_path)[command]
    real = pathlib.Path.read_text

    def read_text(self, *args, **kwargs):
        if Path(self) == cfg:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", read_text)
    argv = [command, cfg] + (["-o", tmp_path / "out" / "w"] if command == "allocate" else [])
    code, output = invoke(*argv)
    assert code == 66, output
    line = one_line(output)
    assert line.startswith("hydro: error:") and str(cfg) in line and "Permission denied" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["calibrate", "allocate"])
def test_config_that_is_not_utf8_is_exit_78(tmp_path, command):
    """`hydro run` and `validate-config` say "not UTF-8 text" (78); calibrate and allocate raised a raw
    UnicodeDecodeError (exit 1, traceback) for the same file."""
    cfg = tmp_path / "c.toml"
    cfg.write_bytes('region = "Balikpap\xe1n"\n'.encode("latin-1"))  # byte 18 is 0xe1: not UTF-8
    argv = [command, cfg] + (["-o", tmp_path / "w"] if command == "allocate" else [])
    code, output = invoke(*argv)
    assert code == 78, output
    line = one_line(output)
    assert str(cfg) in line and "UTF-8" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


# ------------------------------------------------------------------------------------------ hydro calibrate
def _calibration(tmp_path: Path) -> Path:
    """The shipped synthetic catchment, 1 DE iteration of 5 members (tests/calibrate/configs.py)."""
    return synthetic_csv_config(tmp_path)


@pytest.fixture
def calibrated(tmp_path):
    cfg = _calibration(tmp_path)
    code, output = invoke("calibrate", cfg)
    assert code == 0, output
    out = tmp_path / "out"
    before = snapshot(out)
    assert sorted(before) == ["c_scores.json", "c_simulated.csv", "c_simulated.nc"]
    return cfg, out, before


@pytest.mark.parametrize("stage", ["csv", "json"])
def test_calibrate_disk_full_is_73_and_keeps_the_previous_results(calibrated, monkeypatch, stage):
    """Disk full while writing: a raw OSError traceback (exit 1) before, and the cleanup deleted the previous
    calibration's c_simulated.nc (the csv and json of the previous run stayed: a mixed, incomplete set)."""
    cfg, out, before = calibrated

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if stage == "csv":
        monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    else:  # the scores JSON, written after the CSV and the NetCDF
        real = pathlib.Path.write_text
        monkeypatch.setattr(pathlib.Path, "write_text",
                            lambda self, *a, **k: full() if self.name.startswith("c_scores") else real(self, *a, **k))
    code, output = invoke("calibrate", cfg)
    assert snapshot(out) == before  # the three previous files, byte for byte, and nothing else
    assert code == 73, output
    assert "No space left on device" in one_line(output)


def test_calibrate_ctrl_c_while_writing_leaves_no_temporary_file(calibrated, monkeypatch):
    """Ctrl-C half-way through the CSV: exit 130, but `c_simulated.csv.part` was left behind (only Exception was
    cleaned up, KeyboardInterrupt is a BaseException)."""
    cfg, out, before = calibrated

    def interrupted(self, path, *args, **kwargs):
        Path(path).write_text("date,precipitation_mm\n2020-01-01,1.")  # half a file, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", interrupted)
    code, output = invoke("calibrate", cfg)
    assert code == 130, output
    assert snapshot(out) == before


# ------------------------------------------------------------------------------------------ hydro run-catchment
@pytest.fixture(scope="module")
def catchment_inputs(tmp_path_factory):
    from hydro.datasets import balikpapan_dem
    from hydro.io import write_netcdf
    from hydro.terrain import analyse

    d = tmp_path_factory.mktemp("catchment")
    t = analyse(balikpapan_dem(resolution_m=1000.0), stream_threshold_m2=3.0e6)
    write_netcdf(t, d / "terrain.nc", title="terrain", summary="terrain")
    n = 6  # six hourly steps of 1 mm
    times = pd.date_range("2025-08-25T01:00", periods=n, freq="1h")
    p = xr.DataArray(np.ones((n, t.sizes["y"], t.sizes["x"]), "float32"), dims=("time", "y", "x"),
                     coords={"time": times, "y": t.y.values, "x": t.x.values}, name="precipitation",
                     attrs={"units": "mm", "standard_name": "precipitation_amount"}).rio.write_crs(t.rio.crs)
    write_netcdf(p.to_dataset(), d / "p.nc", title="rain", summary="rain")
    return d


def test_run_catchment_failed_rerun_keeps_the_previous_outputs(catchment_inputs, tmp_path, monkeypatch):
    """Rerun into the same folder, disk full at the second product (gauges): exit 73 as expected, but the
    "all products or none" cleanup deleted the run_grid.nc this call had just written over the previous run's
    (so the folder held the old gauges and water balance and no grid at all)."""
    out = tmp_path / "out"
    argv = ["run-catchment", catchment_inputs / "terrain.nc", "--precipitation", catchment_inputs / "p.nc",
            "--outlets", "1", "--output-dir", out]
    code, output = invoke(*argv)
    assert code == 0, output
    before = snapshot(out)
    assert sorted(before) == ["run_gauges.nc", "run_grid.nc", "run_water_balance.nc"]
    real = xr.Dataset.to_netcdf

    def full(self, path=None, *args, **kwargs):
        if "gauges" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full)
    code, output = invoke(*argv)
    assert code == 73, output
    assert "No space left on device" in one_line(output)
    assert snapshot(out) == before


# ------------------------------------------------------------------------------------------ hydro allocate
def test_allocate_output_name_taken_by_a_folder_is_73_without_leftovers(tmp_path):
    """A folder named like one of the outputs: the publishing rename raised a raw IsADirectoryError (exit 1,
    traceback) and left `.w_balance.csv.staged-<pid>` behind."""
    (tmp_path / "w_balance.csv").mkdir()
    code, output = invoke("allocate", REPO / "models" / "balikpapan_water.toml", "-o", tmp_path / "w",
                          "--steps", "5", "--no-explain")
    assert code == 73, output
    assert "w_balance.csv" in one_line(output)
    assert not [p.name for p in tmp_path.iterdir() if ".staged-" in p.name or ".tmp-" in p.name]

"""Bad input review: each case used to end in a traceback (exit 1) or a silently wrong published result.

Each test failed on the code before the fix (session 17). Small inputs only (< 20 s each).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from click.testing import CliRunner
from rasterio.transform import from_origin

from hydro.cli import cli
from hydro.errors import ConfigError, InputDataError

import hydro  # noqa: E402


REPO = Path(hydro.__file__).resolve().parents[1]


def _invoke(argv: list[str]):
    return CliRunner().invoke(cli, argv)


def _one_error_line(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("hydro: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _tif(path: Path, data: np.ndarray, *, crs="EPSG:32750", nodata=-9999.0, dtype="float32") -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=dtype,
                       crs=crs, transform=from_origin(468000, 9878000, 150, 150), nodata=nodata) as dst:
        dst.write(data.astype(dtype), 1)
    return path


def _slope(ny: int = 40, nx: int = 50) -> np.ndarray:
    y, x = np.mgrid[0:ny, 0:nx]
    return 10.0 + 0.5 * y + 0.01 * x


# ------------------------------------------------------------------------------------------ 1. CRS typo
def test_dem_crs_typo_is_a_config_error_in_validate_config(tmp_path):
    """dem.crs = 'EPSG:327500': validate-config said ok and hydro run died with a pyproj traceback (exit 1)."""
    (tmp_path / "models").mkdir()
    _tif(tmp_path / "dem.tif", _slope(), crs=None)
    cfg = tmp_path / "models" / "m.toml"
    cfg.write_text('config_version = 1\nregion = "x"\n[dem]\nsource = "file"\npath = "../dem.tif"\n'
                   'crs = "EPSG:327500"\n')
    for cmd in (["validate-config", str(cfg)], ["run", str(cfg), "--output-root", str(tmp_path / "out")]):
        r = _invoke(cmd)
        assert r.exit_code == 78, (cmd, r.exit_code, r.stderr, r.exception)
        assert re.search(r"dem\.crs.*EPSG:327500", _one_error_line(r))
    assert not (tmp_path / "out").exists()


def test_terrain_crs_option_typo_is_exit_78(tmp_path):
    dem = _tif(tmp_path / "dem.tif", _slope(), crs=None)
    r = _invoke(["terrain", str(dem), "-o", str(tmp_path / "t.nc"), "--crs", "garbage"])
    assert r.exit_code == 78, (r.exit_code, r.stderr, r.exception)
    assert "garbage" in _one_error_line(r)
    assert not (tmp_path / "t.nc").exists()


# ------------------------------------------------------------------------------------------ 2. DEM fill values
@pytest.mark.parametrize("fill,dtype", [(-9999.0, "float32"), (-32768, "int16")])
def test_dem_fill_value_without_nodata_tag_is_refused(tmp_path, fill, dtype):
    """A -9999 block in a DEM without a nodata tag was taken as ground: a 10 km deep pit, run published (exit 0)."""
    from hydro.io import open_dem

    z = np.round(_slope())
    z[10:14, 20:24] = fill
    path = _tif(tmp_path / "dem.tif", z, nodata=None, dtype=dtype)
    with pytest.raises(InputDataError, match=r"16 cells hold -?\d+.*nodata"):
        open_dem(path)


def test_dem_with_declared_nodata_still_opens(tmp_path):
    from hydro.io import open_dem

    z = _slope()
    z[10:14, 20:24] = -9999.0
    da = open_dem(_tif(tmp_path / "dem.tif", z, nodata=-9999.0))
    assert int(np.isnan(da.values).sum()) == 16


# ------------------------------------------------------------------------------------------ 3. forcing units / magnitude
def _grid() -> xr.DataArray:
    from hydro.io import from_array

    return from_array(np.ones((20, 20), np.float32), from_origin(470000, 9870000, 500, 500), "EPSG:32750")


def _rain(units: str, value: float = 12.0, **attrs) -> xr.DataArray:
    times = pd.date_range("2025-08-25T01:00", periods=6, freq="1h")
    x = 469000 + 1500 * (np.arange(8) + 0.5)  # 12 km around the 10 km target grid
    y = 9871000 - 1500 * (np.arange(8) + 0.5)
    v = np.full((6, 8, 8), value)
    da = xr.DataArray(v, dims=("time", "y", "x"), coords={"time": times, "y": y, "x": x}, name="precipitation",
                      attrs={"units": units, **attrs})
    return da.rio.write_crs("EPSG:32750")


@pytest.mark.parametrize("units,attrs", [
    ("m", {}),  # 12 mm per hour written with units 'm': 12 000 mm
    ("kg m-2 s-1", {"standard_name": "precipitation_flux"}),  # an amount per hour labelled as a rate: 43 200 mm
])
def test_rain_in_other_units_than_stated_is_refused(units, attrs):
    """Both ran and were published with exit 0 (peak discharge 2 000 000 m3/s at a 100 km2 gauge)."""
    from hydro.forcing import prepare

    out = prepare(_rain(units, **attrs), _grid(), "1h", crs="EPSG:32750")
    with pytest.raises(InputDataError, match=r"above any rain ever observed.*units"):
        out.compute()


def test_fill_value_in_rain_is_refused():
    from hydro.forcing import prepare

    out = prepare(_rain("mm", 1e30), _grid(), "1h", crs="EPSG:32750")
    with pytest.raises(InputDataError, match=r"above any rain ever observed"):
        out.compute()


def test_heavy_but_real_rain_is_kept():
    from hydro.forcing import prepare

    out = prepare(_rain("mm", 300.0), _grid(), "1h", crs="EPSG:32750").compute()  # Holt, Missouri 1947: 305 mm
    assert float(out.max()) == pytest.approx(300.0)


def test_forcing_with_an_extra_dimension_is_an_input_error():
    """A (time, level, y, x) field: ValueError from xarray's transpose (exit 1)."""
    from hydro.forcing import prepare

    da = _rain("mm").expand_dims(level=[1, 2]).transpose("time", "level", "y", "x")
    with pytest.raises(InputDataError, match=r"level"):
        prepare(da, _grid(), "1h", crs="EPSG:32750")
    one = _rain("mm").expand_dims(height=[2.0]).transpose("time", "height", "y", "x")
    assert float(prepare(one, _grid(), "1h", crs="EPSG:32750").max()) == pytest.approx(12.0)


# ------------------------------------------------------------------------------------------ 4. CSV inputs
def _calibration_project(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "models").mkdir()
    (tmp_path / "inputs" / "calibration").mkdir(parents=True)
    csv = tmp_path / "inputs" / "calibration" / "synthetic_catchment.csv"
    shutil.copy(REPO / "inputs" / "calibration" / "synthetic_catchment.csv", csv)
    cfg = tmp_path / "models" / "c.toml"
    text = (REPO / "models" / "calibration_example.toml").read_text()
    cfg.write_text(text.replace("maxiter = 40", "maxiter = 1").replace("popsize = 15", "popsize = 2"))
    return cfg, csv


@pytest.mark.parametrize("content,pattern", [
    (b"", r"empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", r"UTF-8"),
    (None, r"'discharge_m3s' line 5: 'abc' is not a number"),
])
def test_calibration_csv_that_is_empty_binary_or_not_numbers(tmp_path, content, pattern):
    """Zero-byte CSV: pandas EmptyDataError; binary: UnicodeDecodeError; 'abc' in a column: ValueError (all exit 1)."""
    cfg, csv = _calibration_project(tmp_path)
    if content is None:
        lines = csv.read_text().splitlines()
        lines[4] = ",".join(lines[4].split(",")[:-1] + ["abc"])
        csv.write_text("\n".join(lines) + "\n")
    else:
        csv.write_bytes(content)
    r = _invoke(["calibrate", str(cfg)])
    assert r.exit_code == 65, (r.exit_code, r.stderr, r.exception)
    assert re.search(pattern, _one_error_line(r))
    assert not (tmp_path / "outputs").exists()


def _water_project(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "models").mkdir()
    (tmp_path / "inputs" / "allocation").mkdir(parents=True)
    net = tmp_path / "models" / "balikpapan_water.toml"
    shutil.copy(REPO / "models" / "balikpapan_water.toml", net)
    csv = tmp_path / "inputs" / "allocation" / "balikpapan_inflows_2030.csv"
    shutil.copy(REPO / "inputs" / "allocation" / "balikpapan_inflows_2030.csv", csv)
    return net, csv


def _cell(line: int, col: int, value: str):
    def f(data: bytes) -> bytes:
        lines = data.decode().splitlines()
        cells = lines[line - 1].split(",")
        cells[col] = value
        lines[line - 1] = ",".join(cells)
        return ("\n".join(lines) + "\n").encode()
    return f


@pytest.mark.parametrize("mutate,pattern", [
    (lambda b: b"", r"empty CSV"),
    (lambda b: b.decode().encode("utf-16"), r"UTF-8"),  # saved as "Unicode text" by a spreadsheet
    (_cell(3, 1, "abc"), r"'manggar' line 3: 'abc' is not a number"),
    (_cell(3, 0, "yesterday"), r"'time' is not a date-time"),
])
def test_allocation_series_csv_errors_are_exit_65(tmp_path, mutate, pattern):
    """Empty file: EmptyDataError; UTF-16: UnicodeDecodeError; 'abc': ValueError; bad date: DateParseError (exit 1)."""
    net, csv = _water_project(tmp_path)
    csv.write_bytes(mutate(csv.read_bytes()))
    r = _invoke(["allocate", str(net), "-o", str(tmp_path / "out" / "w"), "--steps", "3", "--no-explain"])
    assert r.exit_code == 65, (r.exit_code, r.stderr, r.exception)
    assert re.search(pattern, _one_error_line(r))
    assert not (tmp_path / "out").exists()


def test_gauge_csv_not_utf8_or_short_row(tmp_path):
    from hydro.model.runner import read_gauges

    p = tmp_path / "g.csv"
    p.write_bytes("id,x,y\nü,1,2\n".encode("utf-16"))
    with pytest.raises(InputDataError, match="UTF-8"):
        read_gauges(p)
    p.write_text("id,x,y\ng1,475000\n")
    with pytest.raises(InputDataError, match=r"g\.csv:2: no value for \['y'\]"):
        read_gauges(p)


def test_reservoir_file_not_utf8_is_a_config_error(tmp_path):
    from hydro.model.runner import read_reservoirs

    p = tmp_path / "r.toml"
    p.write_bytes(b"\xff\xfe[[reservoir]]")
    with pytest.raises(ConfigError, match="UTF-8"):
        read_reservoirs(p)


# ------------------------------------------------------------------------------------------ 5. command-line values
def test_run_catchment_parameter_that_is_not_a_number(tmp_path):
    r = _invoke(["run-catchment", str(tmp_path / "t.nc"), "--precipitation", str(tmp_path / "p.nc"),
                 "--output-dir", str(tmp_path / "out"), "--runoff-param", "production_capacity_mm=abc"])
    assert r.exit_code == 78, (r.exit_code, r.stderr, r.exception)
    assert "'abc' is not a number" in _one_error_line(r)


@pytest.mark.parametrize("argv,pattern", [
    (["--start", "garbage"], r"start 'garbage'"),
    (["--duration-h", "-3"], r"duration_h"),
    (["--storm-duration-h", "0"], r"storm_duration_h"),
])
def test_flood_options(tmp_path, argv, pattern):
    r = _invoke(["flood", "--output-dir", str(tmp_path / "fl"), "--resolution-m", "300"] + argv)
    assert r.exit_code == 78, (r.exit_code, r.stderr, r.exception)
    assert re.search(pattern, _one_error_line(r))
    assert not (tmp_path / "fl").exists()


@pytest.mark.parametrize("argv,pattern", [
    (["--start", "garbage", "--steps", "3"], r"start 'garbage'"),
    (["--steps", "0"], r"steps must be"),
    (["--steps", "-2"], r"steps must be"),
])
def test_allocate_options(tmp_path, argv, pattern):
    net, _ = _water_project(tmp_path)
    r = _invoke(["allocate", str(net), "-o", str(tmp_path / "out" / "w")] + argv)
    assert r.exit_code == 78, (r.exit_code, r.stderr, r.exception)
    assert re.search(pattern, _one_error_line(r))
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ 6. catchment model start
@pytest.fixture(scope="module")
def small_model():
    from hydro.datasets import balikpapan_dem
    from hydro.model import CatchmentModel
    from hydro.routing import RoutingParameters
    from hydro.runoff import GRParameters
    from hydro.terrain import analyse

    terrain = analyse(balikpapan_dem(resolution_m=1000.0), stream_threshold_m2=3.0e6)
    return terrain, lambda: CatchmentModel(terrain, GRParameters(), RoutingParameters(channel_threshold_m2=3e6))


def _p(terrain, n=6):
    times = pd.date_range("2025-08-25T01:00", periods=n, freq="1h")
    return xr.DataArray(np.ones((n, terrain.sizes["y"], terrain.sizes["x"])), dims=("time", "y", "x"),
                        coords={"time": times, "y": terrain.y.values, "x": terrain.x.values},
                        name="precipitation", attrs={"units": "mm"})


def test_catchment_start_that_is_not_a_date(small_model):
    """`hydro run-catchment --start garbage`: pandas DateParseError traceback (exit 1)."""
    terrain, make = small_model
    with pytest.raises(ConfigError, match=r"start 'garbage'"):
        make().run(_p(terrain), 0.0, start="garbage")


def test_catchment_forcing_ending_at_the_start_names_the_forcing(small_model):
    """A warm state valid at the forcing's last time: 'steps must be >= 1, got 0' although no steps were given."""
    terrain, make = small_model
    with pytest.raises(InputDataError, match=r"no time after the run start"):
        make().run(_p(terrain), 0.0, start="2025-08-25T06:00")

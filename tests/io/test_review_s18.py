"""Review s18 of hydro.io / CLI exit codes: DEM vertical units and bands, grids the writer cannot georeference,
times of other calendars, exit codes of malformed command-line values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from affine import Affine
from click.testing import CliRunner
from rasterio.transform import from_origin

from hydro.errors import InputDataError, OutputError
from hydro.io import from_array, open_dem, write_netcdf


def _tif(path, data, unit=None, **kw):
    data = data if data.ndim == 3 else data[None]
    prof = dict(driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0], dtype=data.dtype,
                crs="EPSG:32750", transform=from_origin(500000.0, 9000000.0, 30.0, 30.0))
    prof.update(kw)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(data)
        if unit is not None:
            dst.units = (unit,) * dst.count
    return path


ELEV = (np.arange(100, dtype="float32").reshape(10, 10) + 100.0)


@pytest.mark.parametrize("unit,to_m", [("ft", 0.3048), ("US survey foot", 1200.0 / 3937.0), ("m", 1.0),
                                       ("metre", 1.0), (None, 1.0)])
def test_dem_in_feet_is_converted_to_metres(tmp_path, unit, to_m):
    da = open_dem(_tif(tmp_path / "d.tif", ELEV, unit=unit))
    np.testing.assert_allclose(da.values, ELEV * to_m, rtol=1e-6)
    assert da.attrs["units"] == "m"


def test_dem_of_an_unknown_vertical_unit_is_refused(tmp_path):
    with pytest.raises(InputDataError, match="elevation unit 'cubits'"):
        open_dem(_tif(tmp_path / "d.tif", ELEV, unit="cubits"))


def test_multi_band_raster_is_refused(tmp_path):
    with pytest.raises(InputDataError, match="3 bands"):
        open_dem(_tif(tmp_path / "d.tif", np.stack([ELEV, ELEV * 0 + 5, ELEV * 0 + 7])))


def test_band_with_alpha_is_still_read(tmp_path):
    ga = np.stack([ELEV, np.full_like(ELEV, 65535)]).astype("uint16")
    p = _tif(tmp_path / "d.tif", ga, photometric="MINISBLACK", alpha="YES")
    da = open_dem(p)
    assert da.attrs["source_mask"] == "alpha" and np.isfinite(da.values).all()


def _grid(transform):
    return from_array(ELEV, transform, "EPSG:32750").to_dataset(name="elevation")


def test_rotated_grid_is_refused_by_the_writer(tmp_path):
    # GDAL and rioxarray.open_rasterio read the 1-D x/y back and lose the rotation
    with pytest.raises(OutputError, match="rotated"):
        write_netcdf(_grid(Affine(30.0, 5.0, 500000.0, 3.0, -30.0, 9000000.0)), tmp_path / "r.nc")
    assert not list(tmp_path.iterdir())


def test_unevenly_spaced_grid_is_refused_by_the_writer(tmp_path):
    ds = _grid(Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 9000000.0))
    ds = ds.assign_coords(x=ds.x.values + np.r_[0.0, np.cumsum(np.linspace(0.0, 15.0, 9))])
    with pytest.raises(OutputError, match="not evenly spaced"):
        write_netcdf(ds, tmp_path / "i.nc")
    assert not list(tmp_path.iterdir())


def test_float32_coordinates_of_a_regular_grid_are_accepted(tmp_path):
    ds = _grid(Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 9000000.0))
    ds = ds.assign_coords(x=ds.x.astype("float32"), y=ds.y.astype("float32"))
    write_netcdf(ds, tmp_path / "f.nc")
    with rasterio.open(f"netcdf:{tmp_path / 'f.nc'}:elevation") as src:
        assert src.transform.almost_equals(Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 9000000.0), precision=1.0)
        np.testing.assert_array_equal(src.read(1), ELEV)


@pytest.mark.parametrize("calendar", ["noleap", "360_day"])
def test_time_of_another_calendar_is_an_output_error(tmp_path, calendar):
    t = xr.date_range("2025-01-01", periods=3, freq="1D", calendar=calendar, use_cftime=True)
    ds = xr.Dataset({"q": (("time",), np.arange(3.0))}, coords={"time": t})
    with pytest.raises(OutputError, match="standard-calendar"):
        write_netcdf(ds, tmp_path / "c.nc")
    assert not list(tmp_path.iterdir())


def test_numeric_time_is_an_output_error(tmp_path):
    ds = xr.Dataset({"q": (("time",), np.arange(3.0))},
                    coords={"time": ("time", [0, 6, 12], {"units": "hours since 2025-01-01"})})
    with pytest.raises(OutputError, match="not datetime64"):
        write_netcdf(ds, tmp_path / "n.nc")


def test_standard_time_still_written(tmp_path):
    ds = xr.Dataset({"q": (("time",), np.arange(3.0))},
                    coords={"time": pd.date_range("2025-01-01", periods=3, freq="6h")})
    write_netcdf(ds, tmp_path / "s.nc")
    with xr.open_dataset(tmp_path / "s.nc") as back:
        assert back.time.encoding["calendar"] == "standard"


def _invoke(argv):
    from hydro.cli import cli

    return CliRunner().invoke(cli, argv)


def test_terrain_with_a_non_positive_threshold_exits_78(tmp_path):
    dem = _tif(tmp_path / "d.tif", ELEV)
    for value in ("0", "-1", "nan"):
        r = _invoke(["terrain", str(dem), "-o", str(tmp_path / "t.nc"), "--stream-threshold-km2", value])
        assert r.exit_code == 78, (value, r.exit_code, r.output)
    assert not (tmp_path / "t.nc").exists()


@pytest.mark.parametrize("argv", [["--runoff-param", "production_capacity_mm"], ["--routing-param", "x"],
                                  ["--inflow", "nofile"], ["--inflow", "f.nc:@"]])
def test_run_catchment_malformed_option_values_exit_78(tmp_path, argv):
    r = _invoke(["run-catchment", str(tmp_path / "t.nc"), "--precipitation", str(tmp_path / "p.nc"),
                 "--output-dir", str(tmp_path / "out")] + argv)
    assert r.exit_code == 78, (r.exit_code, r.output)
    assert not (tmp_path / "out").exists()

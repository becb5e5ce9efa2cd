"""Review 5 of the NetCDF I/O, report and CLI layers: regression tests for the defects found.

Each test fails on the unpatched code and passes with /tmp/review_io/fix.diff.
"""
from __future__ import annotations


import netCDF4
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from click.testing import CliRunner

from hydro.io import timeseries_dataset, write_netcdf
from hydro.io.netcdf import open_netcdf



def _grid(crs: str, x0: float, y0: float, d: float, n: int = 10, name: str = "max_flood_depth") -> xr.DataArray:
    y = y0 - np.arange(n) * d
    x = x0 + np.arange(n) * d
    da = xr.DataArray(np.full((n, n), 0.5, np.float32), dims=("y", "x"), coords={"y": y, "x": x}, name=name)
    return da.rio.write_crs(crs)


# --- D1: a corrupt terrain NetCDF is bad input data (65), not a crash (1) ---------------------------
def test_run_catchment_with_a_corrupt_terrain_file_exits_65_naming_the_file(tmp_path):
    from hydro.cli import cli

    bad = tmp_path / "terrain.nc"
    bad.write_bytes(b"CDF\x01" + b"garbage" * 20)
    rain = tmp_path / "rain.nc"
    rain.write_bytes(b"CDF\x01" + b"garbage" * 20)
    r = CliRunner().invoke(cli, ["run-catchment", str(bad), "--precipitation", str(rain),
                                 "--output-dir", str(tmp_path / "out")])
    assert r.exit_code == 65, (r.exit_code, r.output, r.exception)
    assert "terrain.nc" in r.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_open_terrain_truncated_file_is_an_input_data_error(tmp_path):
    from hydro.errors import InputDataError
    from hydro.model.runner import open_terrain

    good = write_netcdf(_grid("EPSG:32750", 480000.0, 9850000.0, 30.0, name="hand").to_dataset(), tmp_path / "g.nc")
    data = good.read_bytes()
    bad = tmp_path / "truncated.nc"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputDataError, match="truncated.nc"):
        open_terrain(bad, 1e6)


# --- D2: string coordinates (a DSG read back) stay char arrays -------------------------------------
def test_rewriting_a_dsg_file_keeps_char_ids(tmp_path):
    t = pd.date_range("2025-08-25 01:00", periods=3, freq="h")
    ds = timeseries_dataset({"discharge": np.arange(6.0).reshape(2, 3)}, ids=["wain", "manggar"],
                            names=["Sungai Wain", "Sungai Manggar"], time=t, lat=[-1.2, -1.3], lon=[116.8, 116.9])
    first = write_netcdf(ds, tmp_path / "first.nc")
    with open_netcdf(first) as back:
        again = write_netcdf(back.load(), tmp_path / "again.nc")
    with netCDF4.Dataset(again) as nc:
        for v in ("station_id", "station_name"):
            assert nc[v].dtype == np.dtype("S1"), (v, nc[v].dtype)  # not vlen str (netcdf.md §6)
            assert nc[v].dimensions[0] == "station"
        assert nc["station_id"].cf_role == "timeseries_id"
    with xr.open_dataset(again) as back2:
        assert list(back2["station_id"].values) == ["wain", "manggar"]
        assert list(back2["station_name"].values) == ["Sungai Wain", "Sungai Manggar"]
        np.testing.assert_array_equal(back2["discharge"].values, np.arange(6.0).reshape(2, 3))


# --- D3: zone-aware time bounds are converted to UTC without a numpy warning -------------------------
def test_timeseries_dataset_with_zone_aware_bounds(tmp_path):
    t = pd.date_range("2024-02-29 07:00", periods=3, freq="1h", tz="Asia/Makassar")  # UTC+8, leap day
    ds = timeseries_dataset({"discharge": np.ones((1, 3))}, ids=["a"], time=t, lat=[-1.2], lon=[116.8],
                            time_bounds=[(e - pd.Timedelta("1h"), e) for e in t])
    expected_end = pd.date_range("2024-02-28 23:00", periods=3, freq="1h").values
    np.testing.assert_array_equal(ds["time_bnds"].values[:, 1], expected_end)
    np.testing.assert_array_equal(ds["time_bnds"].values[:, 0], expected_end - np.timedelta64(1, "h"))
    path = write_netcdf(ds, tmp_path / "tz.nc")
    with xr.open_dataset(path) as back:
        np.testing.assert_array_equal(back["time"].values, expected_end)
        np.testing.assert_array_equal(back["time_bnds"].values[:, 0], expected_end - np.timedelta64(1, "h"))
        assert back.attrs["time_coverage_start"] == "2024-02-28T23:00:00Z"


# --- D4: report flooded area in m2 on foot and Web Mercator grids -----------------------------------
@pytest.mark.parametrize("crs, x0, y0, d", [
    ("EPSG:2229", 6500000.0, 1850000.0, 100.0),   # California zone 5, US survey feet
    ("EPSG:3857", 1113194.9, 6446275.8, 100.0),   # Web Mercator at ~50 N
])
def test_report_flooded_area_matches_the_flood_alert_area(crs, x0, y0, d):
    from hydro.flood.products import flooded_area_km2
    from hydro.report import key_numbers

    depth = _grid(crs, x0, y0, d)
    entry = key_numbers(flood=depth)["flood"][0]
    alert_km2 = flooded_area_km2(np.ones(depth.shape, bool), depth)
    assert entry["flooded_cells"] == 100
    assert entry["flooded_area_km2"] == pytest.approx(alert_km2, rel=1e-9)
    if crs == "EPSG:2229":  # 100 cells of 100 x 100 US survey feet
        assert entry["flooded_area_km2"] == pytest.approx(100 * (100 * 0.3048006096012192) ** 2 / 1e6, rel=1e-9)


def test_report_flooded_area_on_utm_is_unchanged():
    from hydro.report import key_numbers

    entry = key_numbers(flood=_grid("EPSG:32750", 480000.0, 9850000.0, 30.0))["flood"][0]
    assert entry["flooded_area_km2"] == pytest.approx(100 * 900 / 1e6, rel=1e-12)
    assert entry["cell_area_m2"] == pytest.approx(900.0, rel=1e-12)


# --- D5: x/y units are the CRS's linear unit --------------------------------------------------------
def test_foot_grid_xy_units_and_resolution(tmp_path):
    import cf_units

    da = _grid("EPSG:2229", 6500000.0, 1850000.0, 100.0, name="hand")
    path = write_netcdf(da.to_dataset(), tmp_path / "ft.nc")
    with netCDF4.Dataset(path) as nc:
        for v in ("x", "y"):
            u = cf_units.Unit(nc[v].units)
            assert u.convert(1.0, "m") == pytest.approx(0.3048006096012192, rel=1e-12), nc[v].units
        assert float(nc.geospatial_lon_resolution.split()[0]) == pytest.approx(30.48006096012192, rel=1e-9)
        assert nc.geospatial_lon_resolution.endswith(" m")
        np.testing.assert_allclose(nc["x_bnds"][0], [6499950.0, 6500050.0])
    # GDAL still reads the grid in the CRS's feet, north-up, with the values
    with rasterio.open(f'NETCDF:"{path}":hand') as src:
        assert src.crs.to_epsg() == 2229
        assert tuple(src.transform)[:6] == pytest.approx((100.0, 0.0, 6499950.0, 0.0, -100.0, 1850050.0))
        np.testing.assert_array_equal(src.read(1), np.full((10, 10), 0.5, np.float32))


def test_metre_grid_units_unchanged(tmp_path):
    path = write_netcdf(_grid("EPSG:32750", 480000.0, 9850000.0, 30.0, name="hand").to_dataset(), tmp_path / "m.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc["x"].units == "m" and nc["y"].units == "m"
        assert nc.geospatial_lat_resolution == "30.0 m"


# --- atomic writes: temporary names per thread, no temporary file left by Ctrl-C ----------------------
def test_atomic_temp_names_differ_between_threads(tmp_path):
    import threading

    from hydro.io import atomic_path

    names = []
    t = threading.Thread(target=lambda: names.append(atomic_path(tmp_path / "a.nc")))
    t.start()
    t.join()
    names.append(atomic_path(tmp_path / "a.nc"))
    assert names[0] != names[1] and names[0].parent == names[1].parent == tmp_path


def test_interrupted_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    import hydro.io.netcdf as nc

    def interrupt(tmp, final):
        raise KeyboardInterrupt

    monkeypatch.setattr(nc, "replace_atomically", interrupt)
    da = _grid("EPSG:32750", 500000.0, 9860000.0, 30.0)
    with pytest.raises(KeyboardInterrupt):
        write_netcdf(da.to_dataset(), tmp_path / "out.nc", title="t")
    assert sorted(p.name for p in tmp_path.iterdir()) == []

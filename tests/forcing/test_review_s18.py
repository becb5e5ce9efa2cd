"""Review s18: global forcing over a domain across its longitude seam, station distances on a geographic grid,
forcing steps that do not end at the run's labels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401 - registers .rio
import xarray as xr

from hydro.errors import InputDataError
from hydro.forcing import prepare, stations_to_grid

T1 = pd.DatetimeIndex(["2024-01-01 01:00"])


def _global(lon):
    """1° global field on the given longitude centres, value = column index + 1 (mm per hour), lat 10.5 … −10.5."""
    lat = np.arange(10.5, -10.6, -1.0)
    v = np.tile(np.arange(1.0, lon.size + 1.0), (lat.size, 1))[None]
    return xr.DataArray(v, dims=("time", "lat", "lon"), coords={"time": T1, "lat": lat, "lon": lon}, name="pr",
                        attrs={"units": "mm"})


def _lonlat_grid(x, y):
    return xr.DataArray(np.ones((len(y), len(x))), dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs("EPSG:4326")


def test_global_0_360_forcing_over_a_dem_across_greenwich_keeps_the_rain():
    # before: "forcing does not cover the domain" for any DEM across 0° (UK, France, Ghana ...) with ERA5 on 0…360
    src = _global(np.arange(0.5, 360.0, 1.0))  # column j covers [j, j + 1]° E; 359 covers [359, 360]
    dem = _lonlat_grid(np.arange(-1.75, 2.0, 0.5), np.arange(0.75, -1.0, -0.5))
    out = prepare(src, dem, "1h", source_step="1h").compute()
    np.testing.assert_allclose(out.values[0, 0], [359, 359, 360, 360, 1, 1, 2, 2], rtol=1e-12)
    # volume: the 16 × 0.25 deg² cells hold the 2 rows × 4 columns of 1 deg² source cells
    assert float(out.sum()) * 0.25 == pytest.approx(2 * (359 + 360 + 1 + 2), rel=1e-12)
    # a 1° cell centred on 0° takes half of column 359 and half of column 0
    out1 = prepare(src, _lonlat_grid(np.array([-1.0, 0.0, 1.0]), np.array([0.5, -0.5])), "1h", source_step="1h")
    np.testing.assert_allclose(out1.values[0, 0], [359.5, 180.5, 1.5], rtol=1e-12)


def test_global_forcing_bilinear_across_the_seam():
    src = _global(np.arange(0.5, 360.0, 1.0))
    out = prepare(src, _lonlat_grid(np.array([-0.25, 0.25]), np.array([0.25, -0.25])), "1h", source_step="1h",
                  method="bilinear")
    # −0.25° = 359.75°: a quarter of the way from the centre 359.5 (value 360) to 360.5 = 0.5 (value 1); 0.25°
    # three quarters of the way. Before: "outside the source cell centres"
    np.testing.assert_allclose(out.values[0, 0], [0.75 * 360 + 0.25 * 1, 0.25 * 360 + 0.75 * 1], rtol=1e-12)


def test_global_minus180_180_forcing_over_a_domain_across_the_antimeridian():
    src = _global(np.arange(-179.5, 180.0, 1.0))  # column j covers [j − 180, j − 179]
    dem = _lonlat_grid(np.arange(178.25, 182.0, 0.5), np.array([0.25, -0.25]))  # Fiji-like, 0…360 DEM
    out = prepare(src, dem, "1h", source_step="1h").compute()
    np.testing.assert_allclose(out.values[0, 0], [359, 359, 360, 360, 1, 1, 2, 2], rtol=1e-12)


def test_regional_forcing_across_the_domain_edge_is_still_refused():
    src = _global(np.arange(0.5, 20.0, 1.0))  # 0 … 20° E only
    with pytest.raises(InputDataError, match="does not cover"):
        prepare(src, _lonlat_grid(np.arange(-1.75, 2.0, 0.5), np.array([0.25, -0.25])), "1h", source_step="1h")


@pytest.fixture
def rain(tmp_path):
    p = tmp_path / "rain.csv"
    pd.DataFrame({"date": ["2024-01-01 01:00", "2024-01-01 02:00"], "A": [10.0, 10.0], "B": [0.0, 0.0]}).to_csv(
        p, index=False)
    return p


def test_station_distances_on_a_geographic_grid_are_great_circle(tmp_path, rain):
    # at 60° N a degree of longitude is half a degree of latitude: A (0.9° E) is ~50 km from the cell, B (0.6° N)
    # ~67 km. Before: distances in degrees made B the nearest (Thiessen 0 mm) and IDW 3.08 mm.
    st = tmp_path / "st.csv"
    pd.DataFrame({"id": ["A", "B"], "x": [0.9, 0.0], "y": [60.0, 60.6]}).to_csv(st, index=False)
    dem = _lonlat_grid(np.array([0.0, 0.01]), np.array([60.0, 59.99]))
    assert stations_to_grid(rain, st, dem, "thiessen").values[0, 0, 0] == 10.0
    # IDW p = 2: d_A/d_B = 0.9·cos 60°/0.6 = 0.75 → 10 · (1/0.5625)/(1/0.5625 + 1) = 6.4 mm (sphere: to 1e-3)
    assert stations_to_grid(rain, st, dem, "idw").values[0, 0, 0] == pytest.approx(6.4, rel=1e-3)


def test_station_longitude_0_360_on_a_minus180_180_grid(tmp_path, rain):
    # 245° E is 115° W: before, A was 360° away from its own cell and got ~no weight (7.7e-5 mm instead of 10)
    st = tmp_path / "st.csv"
    pd.DataFrame({"id": ["A", "B"], "x": [245.0, -114.0], "y": [40.0, 40.0]}).to_csv(st, index=False)
    dem = _lonlat_grid(np.array([-115.0, -114.9]), np.array([40.0, 39.9]))
    for method in ("idw", "thiessen"):
        assert stations_to_grid(rain, st, dem, method).values[0, 0, 0] == pytest.approx(10.0, rel=1e-12)


def _utm_source(times):
    x = 500_000.0 + 5_000.0 + 10_000.0 * np.arange(2)
    y = 9_870_000.0 - 5_000.0 - 10_000.0 * np.arange(2)
    v = np.arange(1.0, len(times) + 1.0)[:, None, None] * np.ones((len(times), 2, 2))
    src = xr.DataArray(v, dims=("time", "y", "x"), coords={"time": times, "y": y, "x": x}, name="pr",
                       attrs={"units": "mm"}).rio.write_crs("EPSG:32750")
    tgt = xr.DataArray(np.ones((2, 2)), dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs("EPSG:32750")
    return src, tgt


def test_forcing_steps_off_the_run_labels_are_an_error():
    # hourly amounts ending at :30 for a run whose hours end on the hour: before, 4 steps labelled :30 came back
    # for a 5-step run (01:00 … 05:00), each half an hour off
    src, tgt = _utm_source(pd.date_range("2024-01-01 00:30", periods=8, freq="1h"))
    with pytest.raises(InputDataError, match="run's labels"):
        prepare(src, tgt, "1h", start="2024-01-01 01:00", end="2024-01-01 05:00")
    # on the labels: unchanged
    src, tgt = _utm_source(pd.date_range("2024-01-01 01:00", periods=8, freq="1h"))
    out = prepare(src, tgt, "1h", start="2024-01-01 02:00", end="2024-01-01 05:00")
    np.testing.assert_array_equal(out.values[:, 0, 0], [2.0, 3.0, 4.0, 5.0])


def test_time_zone_aware_start_is_utc():
    # before: TypeError (tz-naive vs tz-aware) after the forcing had been regridded
    src, tgt = _utm_source(pd.date_range("2024-01-01 01:00", periods=8, freq="1h"))
    out = prepare(src, tgt, "1h", start=pd.Timestamp("2024-01-01 10:00+08:00"), end="2024-01-01 04:00")
    assert pd.DatetimeIndex(out["time"].values).strftime("%H:%M").tolist() == ["02:00", "03:00", "04:00"]

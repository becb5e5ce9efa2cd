"""Forcing review 6: float32 satellite grids, edges that coincide up to rounding, NaN kept when summing to longer
steps, amounts declared as time means refused."""
from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest


from hydro.errors import InputDataError
from hydro.forcing import change_step, open_forcing, prepare
from tests.forcing.conftest import make_source, make_target


def _latlon_file(path, lon, lat, vals, *, coord_type="f4", units="mm", cell_methods=None):
    times = np.arange(1, vals.shape[0] + 1)
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", len(times))
        nc.createDimension("lat", lat.size)
        nc.createDimension("lon", lon.size)
        tv = nc.createVariable("time", "f8", ("time",))
        tv.units, tv.calendar = "hours since 2024-01-01", "standard"
        tv[:] = times
        a = nc.createVariable("lat", coord_type, ("lat",))
        a.units = "degrees_north"
        a[:] = lat
        o = nc.createVariable("lon", coord_type, ("lon",))
        o.units = "degrees_east"
        o[:] = lon
        p = nc.createVariable("pr", "f8", ("time", "lat", "lon"))
        p.units = units
        if cell_methods:
            p.cell_methods = cell_methods
        p[:] = vals
    return path


@pytest.mark.parametrize("step", [0.1, 0.05])
def test_float32_satellite_grid_is_read(tmp_path, step):
    """IMERG (0.1 degree) / CHIRPS (0.05) grids store float32 lon/lat: at 116 E their rounding (7.6e-6 degrees)
    was taken for an irregular grid and the file refused. A uniform 2 mm field gives 2 mm on the UTM DEM."""
    lon = np.arange(116.0 + step / 2, 117.5, step)
    lat = np.arange(-2.0 + step / 2, -0.5, step)[::-1]
    da = open_forcing(_latlon_file(tmp_path / "sat.nc", lon, lat, np.full((2, lat.size, lon.size), 2.0)), "pr")
    tgt = make_target(500_000.0 + 500.0 + 1000.0 * np.arange(20), 9_860_000.0 - 500.0 - 1000.0 * np.arange(20))
    np.testing.assert_allclose(prepare(da, tgt, "1h").values, 2.0, rtol=1e-9)


def test_a_dem_edge_on_a_source_edge_takes_no_rounding_weight(tmp_path):
    """A land-only product (NaN over the sea, west of 116.8 E) on a geographic DEM whose west edge is 116.8 E: the
    source edges built from float64 centres drift by ~1e-14, and a 1e-9 weight of the sea cell made every cell of
    the DEM's west column NaN ("NaN inside the model domain"). The DEM east edge on the source's east edge was
    "not covered"."""
    lon = np.arange(116.05, 117.0, 0.1)  # edges 116.0 ... 117.0 (float64 rounding)
    lat = np.arange(-0.55, -2.0, -0.1)
    vals = np.full((2, lat.size, lon.size), 3.0)
    vals[:, :, lon < 116.8] = np.nan  # sea
    da = open_forcing(_latlon_file(tmp_path / "land.nc", lon, lat, vals, coord_type="f8"), "pr")
    tlon = np.arange(116.8 + 0.005, 117.0, 0.01)  # west edge 116.8, east edge 117.0 (the source's last edge)
    tlat = np.arange(-1.0 - 0.005, -1.2, -0.01)
    out = prepare(da, make_target(tlon, tlat, crs="EPSG:4326"), "1h")
    np.testing.assert_allclose(out.values, 3.0, rtol=1e-12)


def test_summing_to_longer_steps_keeps_missing_values_missing():
    """An hourly series with one NaN hour has no daily total (it gave 23 mm for 24 hours of 1 mm, silently); cells
    outside the domain stay NaN at any step."""
    t = pd.date_range("2024-01-01 01:00", periods=48, freq="1h")
    v = np.ones((48, 1, 2))
    v[5, 0, 0] = np.nan
    v[:, 0, 1] = np.nan  # outside the domain
    da = make_source(v, np.array([500_500.0, 501_500.0]), np.array([9_860_500.0]), t)
    daily = change_step(da, "1D")
    assert np.isnan(daily.values[0, 0, 0]) and daily.values[1, 0, 0] == pytest.approx(24.0)
    assert np.isnan(daily.values[:, 0, 1]).all()


@pytest.mark.parametrize("cell_methods,ok", [(None, True), ("time: sum", True), ("area: mean time: sum", True),
                                             ("time: mean (interval: 1 hour)", False), ("time: maximum", False)])
def test_amounts_declared_as_time_means_are_refused(tmp_path, cell_methods, ok):
    """Daily values in mm with 'time: mean (interval: 1 hour)' are mean hourly amounts (24 x less than the daily
    total): they were read as mm per day. Amounts must be sums; a mean needs a rate unit."""
    lon, lat = np.array([116.75, 116.85, 116.95]), np.array([-1.25, -1.35])
    vals = np.full((2, 2, 3), 1.0)
    path = _latlon_file(tmp_path / "d.nc", lon, lat, vals, coord_type="f8", cell_methods=cell_methods)
    da = open_forcing(path, "pr")
    tgt = make_target(np.arange(116.805, 116.9, 0.01), np.arange(-1.255, -1.3, -0.01), crs="EPSG:4326")
    if ok:
        assert float(prepare(da, tgt, "1h").mean()) == pytest.approx(1.0)
    else:
        with pytest.raises(InputDataError, match="time: sum"):
            prepare(da, tgt, "1h")
    # the same mean as a rate is read
    if not ok and "mean" in cell_methods:
        rate = da.copy()
        rate.attrs["units"] = "mm h-1"
        assert float(prepare(rate, tgt, "1h").mean()) == pytest.approx(1.0)



def test_a_depth_duration_table_with_rising_intensity_is_refused():
    """1 h: 10 mm, 3 h: 40 mm (13.3 mm/h over 3 h > 10 mm/h over 1 h): the alternating-block storm's wettest hour
    got 15 mm against the table's 10 mm. A consistent table is accepted and its depths are kept."""
    from hydro.errors import ConfigError
    from hydro.forcing import design_storm

    with pytest.raises(ConfigError, match="intensity rises"):
        design_storm(None, "3h", "1h", idf={1.0: 10.0, 3.0: 40.0})
    h = design_storm(None, "3h", "1h", idf={1.0: 30.0, 3.0: 50.0}).values
    assert float(np.max(h)) == pytest.approx(30.0, rel=1e-12) and float(np.sum(h)) == pytest.approx(50.0, rel=1e-12)

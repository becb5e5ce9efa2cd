"""route() reads runoff in mm per step: other units are an InputDataError, never routed as mm (fix_3)."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine

from hydro.errors import InputDataError
from hydro.io.raster import from_array
from hydro.routing import RoutingParameters, route


def _case(units):
    n, dx = 6, 100.0
    fd = np.full((1, n), 1, np.uint8)
    fd[0, -1] = 0
    fdir = from_array(fd, Affine(dx, 0, 500_000.0, 0, -dx, 9_850_000.0), "EPSG:32750", name="flow_direction")
    terrain = xr.Dataset({"flow_direction": fdir, "filled_elevation": (("y", "x"), (0.01 * dx * (n - np.arange(n)))[None])})
    times = pd.date_range("2026-01-01 01:00", periods=4, freq="1h")
    attrs = {} if units is None else {"units": units}
    runoff = xr.DataArray(np.full((4, 1, n), 0.001), dims=("time", "y", "x"),
                          coords={"time": times, "y": fdir.y.values, "x": fdir.x.values}, name="runoff", attrs=attrs)
    return runoff, terrain


@pytest.mark.parametrize("units", ["m", "kg m-2 s-1", "mm h-1", "m3 s-1"])
def test_runoff_in_other_units_is_refused(units):
    runoff, terrain = _case(units)
    with pytest.raises(InputDataError, match="units"):
        route(runoff, terrain, RoutingParameters(channel_threshold_m2=1.0))


@pytest.mark.parametrize("units", [None, "mm", "kg m-2"])
def test_runoff_in_mm_per_step_is_routed(units):
    runoff, terrain = _case(units)
    out = route(runoff, terrain, RoutingParameters(channel_threshold_m2=1.0))
    assert float(out["inflow_volume"].sum()) == pytest.approx(4 * 6 * 0.001e-3 * 100.0 * 100.0)


def test_route_output_states_the_averaging_period(tmp_path):
    """`discharge` is a step mean (time: mean) and the volumes step sums: time_bnds gives (t - dt, t], and the file
    written through the shared writer keeps it."""
    from hydro.io import write_netcdf

    runoff, terrain = _case("mm")
    ds = route(runoff, terrain, RoutingParameters(channel_threshold_m2=1.0))
    assert ds["time"].attrs["bounds"] == "time_bnds"
    t = pd.DatetimeIndex(runoff["time"].values)
    np.testing.assert_array_equal(ds["time_bnds"].values[:, 1], t.values)
    np.testing.assert_array_equal(ds["time_bnds"].values[:, 0], (t - pd.Timedelta("1h")).values)
    p = write_netcdf(ds, tmp_path / "q.nc", title="route", summary="route() output")
    with xr.open_dataset(p) as back:
        assert back["time"].attrs.get("bounds") == "time_bnds" or back["time"].encoding.get("bounds") == "time_bnds"
        np.testing.assert_array_equal(back["time_bnds"].values[:, 0], (t - pd.Timedelta("1h")).values)

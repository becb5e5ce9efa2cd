"""Review (allocation outputs): series that carry their own units or several stations, shadow price of an
outlet-basis pipe."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alloc_helpers import dem, intake, link, make_net, series  # noqa: E402

from hydro.allocation import allocate, load_network  # noqa: E402
from hydro.errors import InputDataError  # noqa: E402

T = pd.date_range("2024-01-01", periods=3, freq="D")


def _ext_net():
    return load_network(make_net([intake("i", {"external": "x"}), dem("d", "a", "100 m3/s")],
                                 [link("l", "i", "d")], steps=3))


@pytest.mark.parametrize("dims,vals", [(("station", "time"), [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]]),
                                       (("time", "station"), [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])])
def test_dataarray_with_several_stations_is_refused(dims, vals):
    """Two stations flattened into one axis were read as consecutive steps: (time, station) gave 1, 10, 2 m3/s
    for the days whose flow at either station is 1, 2, 3 or 10, 20, 30."""
    da = xr.DataArray(np.array(vals), dims=dims, coords={"time": T, "station": ["s1", "s2"]},
                      attrs={"units": "m3/s"})
    with pytest.raises(InputDataError, match="station"):
        allocate(_ext_net(), {"x": da})


def test_dataarray_with_one_station_dimension_is_read():
    da = xr.DataArray(np.array([[1.0], [2.0], [3.0]]), dims=("time", "station"),
                      coords={"time": T, "station": ["s1"]}, attrs={"units": "L/s"})
    res = allocate(_ext_net(), {"x": da})
    np.testing.assert_allclose(res.delivered[:, 0] / res.dt, [1e-3, 2e-3, 3e-3], rtol=1e-12)


@pytest.mark.parametrize("obj", [np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
                                 pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]}, index=T),
                                 "abc"])
def test_bad_runtime_arrays_raise_hydro_errors(obj):
    """2-D arrays, DataFrames and text gave a bare ValueError traceback."""
    with pytest.raises(InputDataError):
        allocate(_ext_net(), {"x": obj})


def test_netcdf_units_key_conflicting_with_the_file_is_refused(tmp_path):
    """The docs say NetCDF series take their units from the file; a 'units = "L/s"' key on a file in m3 s-1
    silently divided the flow by 1000."""
    up = load_network(make_net([intake("i", series([1, 2, 3])), dem("d", "a", "100 m3/s")],
                               [link("l", "i", "d")], steps=3))
    allocate(up).write(tmp_path / "up")
    src = {"netcdf": str(tmp_path / "up_link.nc"), "variable": "link_flow", "station": "l"}
    ok = allocate(load_network(make_net([intake("i", dict(src)), dem("d", "a", "100 m3/s")],
                                        [link("l", "i", "d")], steps=3)))
    np.testing.assert_allclose(ok.delivered[:, 0] / ok.dt, [1.0, 2.0, 3.0], rtol=1e-12)
    same = allocate(load_network(make_net([intake("i", dict(src, units="m3/s")), dem("d", "a", "100 m3/s")],
                                          [link("l", "i", "d")], steps=3)))
    np.testing.assert_allclose(same.delivered[:, 0] / same.dt, [1.0, 2.0, 3.0], rtol=1e-12)
    with pytest.raises(InputDataError, match="units"):
        allocate(load_network(make_net([intake("i", dict(src, units="L/s")), dem("d", "a", "100 m3/s")],
                                       [link("l", "i", "d")], steps=3)))


def test_series_units_attribute_conflicting_with_the_key_is_refused():
    s = pd.Series([1000.0, 2000.0, 3000.0], index=T)
    s.attrs["units"] = "L/s"
    net = load_network(make_net([intake("i", {"external": "x", "units": "m3/s"}), dem("d", "a", "100 m3/s")],
                                [link("l", "i", "d")], steps=3))
    with pytest.raises(InputDataError, match="units"):
        allocate(net, {"x": s})


def test_shadow_price_of_an_outlet_basis_pipe_is_per_m3_of_its_capacity():
    """Outlet-basis capacity 1 m3/s, loss 0.5, short demand right behind it: one m3 more of the capacity delivers
    one m3 more (shadow price 1; an inlet-basis pipe of the same loss passes 0.5). It read 0.5 for both."""
    out = allocate(load_network(make_net(
        [intake("i", "5 m3/s"), dem("d", "a", "2 m3/s")],
        [link("l", "i", "d", loss_fraction=0.5, capacity="1 m3/s", capacity_basis="outlet")])))
    ex = out.explanations
    assert list(ex.reason) == ["pipe_full"]
    assert ex.delivered.iloc[0] == pytest.approx(1.0)
    assert ex.shadow_price.iloc[0] == pytest.approx(1.0)
    inl = allocate(load_network(make_net(
        [intake("i", "5 m3/s"), dem("d", "a", "2 m3/s")],
        [link("l", "i", "d", loss_fraction=0.5, capacity="1 m3/s")])))
    assert inl.explanations.shadow_price.iloc[0] == pytest.approx(0.5)

"""Review (exchange area): exchange files and exchange-style series as allocation inputs.

1. an instantaneous (``cell_methods = "time: point"``) pandas series given at run time is joined linearly, as the
   same series given as an xarray DataArray or a NetCDF file (docs/allocation.md); it was read as period-start means;
2. a hydro-exchange file without ``time_bnds`` (allowed by the profile, a warning) labels the END of each period:
   the allocation reads it as ``hydro.exchange.read_exchange`` and the routing inflows do, not one period late.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr


sys.path.insert(0, str(Path(__file__).resolve().parent))
from alloc_helpers import dem, intake, link, make_net, q  # noqa: E402
from hydro.allocation import allocate, load_network  # noqa: E402


def _external_net():
    return load_network(make_net([intake("i", {"external": "x"}), dem("d", "a", "1000 m3/s")], [link("l", "i", "d")]))


def test_pandas_point_series_is_joined_linearly_like_xarray():
    # instantaneous 0, 2, 4, 2, 0 m3/s at midnights: daily means (trapezoids) 1, 3, 3, 1 m3/s
    t = pd.date_range("2024-01-01", periods=5, freq="D")
    vals = [0.0, 2.0, 4.0, 2.0, 0.0]
    s = pd.Series(vals, index=t)
    s.attrs.update(units="m3 s-1", cell_methods="time: point")
    da = xr.DataArray(vals, dims="time", coords={"time": t}, attrs={"units": "m3 s-1", "cell_methods": "time: point"})
    net = _external_net()
    from_pandas = q(allocate(net, {"x": s}, start=t[0], steps=4), "d")
    from_xarray = q(allocate(net, {"x": da}, start=t[0], steps=4), "d")
    assert from_xarray == pytest.approx([1.0, 3.0, 3.0, 1.0], abs=1e-12)
    assert from_pandas == pytest.approx([1.0, 3.0, 3.0, 1.0], abs=1e-12)


def _exchange_file_without_bounds(path: Path) -> Path:
    """A neighbour's plain-xarray exchange file without time_bnds: PPU-1 has hourly means 1..24 m3/s,
    labelled at the period ends 01:00 .. 24:00 of 2026-01-10."""
    from hydro.exchange import exchange_dataset

    times = pd.date_range("2026-01-10 01:00", periods=24, freq="h")
    q_m3s = xr.DataArray(np.stack([np.arange(1.0, 25.0), 2 * np.arange(1.0, 25.0)], axis=1), dims=("time", "point"),
                         coords={"time": times})
    ds = exchange_dataset(q_m3s, ["PPU-1", "PPU-2"], [480_000.0, 490_000.0], [9_850_000.0, 9_860_000.0], "EPSG:32750",
                          "2026-01-10T00:00Z", "penajam", run_id="r1", config_hash="c")
    ds = ds.drop_vars("time_bnds")
    ds["time"].attrs.pop("bounds", None)
    ds.attrs.update(Conventions="CF-1.11", source="neighbour's own model 2.3", institution="penajam")
    ds.to_netcdf(path, engine="netcdf4", encoding={"time": {"units": "hours since 2026-01-10 00:00:00", "dtype": "f8"},
                                                   "forecast_reference_time": {"units": "hours since 2026-01-10 00:00:00"},
                                                   "discharge": {"dtype": "f4", "_FillValue": -9999.0}})
    return path


def test_exchange_file_without_time_bounds_is_read_at_period_ends_by_the_allocation(tmp_path):
    from hydro.exchange import read_exchange, validate_exchange

    path = _exchange_file_without_bounds(tmp_path / "penajam.nc")
    problems = validate_exchange(path, check_cf=False)
    assert not [p for p in problems if p.severity == "error"]
    assert any(p.code == "time" and "bounds" in p.message for p in problems)  # only the no-bounds warning
    ref = read_exchange(path, "PPU-1")
    assert ref.attrs["period_s"] == 3600.0 and ref.sel(time="2026-01-10T02:00").item() == pytest.approx(2.0)
    spec = {"netcdf": str(path), "variable": "discharge", "station": "PPU-1"}
    # steps 01-02, 02-03, 03-04 h: the periods ending at 02, 03, 04 h hold 2, 3, 4 m3/s (read as 1, 2, 3 before)
    net = load_network(make_net([intake("i", spec), dem("d", "a", "1000 m3/s")], [link("l", "i", "d")],
                                start="2026-01-10T01:00:00", steps=3, timestep="1h"))
    assert q(allocate(net), "d") == pytest.approx([2.0, 3.0, 4.0], rel=1e-6)
    # a run from the first period's start is covered (it was "no value for step 0")
    net = load_network(make_net([intake("i", spec), dem("d", "a", "1000 m3/s")], [link("l", "i", "d")],
                                start="2026-01-10T00:00:00", steps=24, timestep="1h"))
    got = q(allocate(net), "d")
    assert got == pytest.approx(np.arange(1.0, 25.0), rel=1e-6)
    # the volume of the day is kept: sum of the 24 hourly volumes = the integral of the rates
    assert got.sum() * 3600.0 == pytest.approx(np.arange(1.0, 25.0).sum() * 3600.0, rel=1e-6)
    # 3-hourly steps take the means of three periods: (1+2+3)/3, (4+5+6)/3, ...
    net = load_network(make_net([intake("i", spec), dem("d", "a", "1000 m3/s")], [link("l", "i", "d")],
                                start="2026-01-10T00:00:00", steps=8, timestep="3h"))
    assert q(allocate(net), "d") == pytest.approx([2.0, 5.0, 8.0, 11.0, 14.0, 17.0, 20.0, 23.0], rel=1e-6)

"""Review of the package's time conventions: times outside the datetime64[ns] range (1677-09-21 … 2262-04-11).

Every time axis of hydro is naive UTC ``datetime64[ns]``. A time outside that range either crashed with pandas'
``OutOfBoundsDatetime`` (a raw traceback, exit 1, instead of a ``hydro.errors`` exception) or, worse, was wrapped
around by numpy's ``astype("datetime64[ns]")`` without a word: a forcing file for 2300 was read as 1715.
"""
from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from hydro.errors import ConfigError, InputDataError


# ------------------------------------------------------------------------------ parse_timestamp (start, reference time)
@pytest.mark.parametrize("value", ["2300-01-01T00:00", "1600-06-01", "2262-04-12T08:00+08:00"])
def test_parse_timestamp_refuses_times_outside_the_ns_range(value):
    from hydro.times import parse_timestamp

    # 2262-04-12T08:00+08:00 is 2262-04-12T00:00 UTC, after pd.Timestamp.max (2262-04-11T23:47:16.854775807)
    with pytest.raises(ConfigError, match=r"outside the time range"):
        parse_timestamp(value, "start")
    # the edges themselves (and an offset that brings a time back inside) are fine
    assert parse_timestamp("2262-04-11T00:00", "start") == pd.Timestamp("2262-04-11T00:00")
    assert parse_timestamp("1677-09-22", "start") == pd.Timestamp("1677-09-22")
    assert parse_timestamp("1950-01-01T08:00+08:00", "start") == pd.Timestamp("1950-01-01T08:00+08:00")


@pytest.fixture(scope="module")
def small_model():
    from hydro.datasets import balikpapan_dem
    from hydro.model import CatchmentModel
    from hydro.routing import RoutingParameters
    from hydro.runoff import GRParameters
    from hydro.terrain import analyse

    terrain = analyse(balikpapan_dem(resolution_m=1000.0), stream_threshold_m2=3.0e6)
    return terrain, lambda: CatchmentModel(terrain, GRParameters(), RoutingParameters(channel_threshold_m2=3e6))


def _rain(terrain, t0="2025-08-25T01:00", n=6):
    times = pd.date_range(t0, periods=n, freq="1h")
    return xr.DataArray(np.ones((n, terrain.sizes["y"], terrain.sizes["x"])), dims=("time", "y", "x"),
                        coords={"time": times, "y": terrain.y.values, "x": terrain.x.values},
                        name="precipitation", attrs={"units": "mm"})


def test_catchment_run_start_after_2262_is_a_config_error(small_model):
    """`hydro run-catchment --start 2300-01-01T00:00`: pandas OutOfBoundsDatetime from date_range (exit 1)."""
    terrain, make = small_model
    with pytest.raises(ConfigError, match=r"start '2300-01-01T00:00' is outside the time range"):
        make().run(_rain(terrain), 0.0, start="2300-01-01T00:00", steps=3)


def test_flood_cli_start_after_2262_exits_78(tmp_path):
    """`hydro flood --start 2300-01-01T00:00`: OutOfBoundsDatetime traceback, exit 1 (bug) instead of 78."""
    from hydro.cli import cli

    r = CliRunner().invoke(cli, ["flood", "--output-dir", str(tmp_path / "fl"), "--resolution-m", "1000",
                                 "--start", "2300-01-01T00:00", "--duration-h", "2"])
    assert r.exit_code == 78, (r.exit_code, r.output, r.exception)
    assert "outside the time range" in r.output


@pytest.mark.parametrize("model", ["ForcingConfig", "FloodConfig"])
def test_config_start_after_2262_fails_validation(model):
    """[forcing] start = "2300-01-01T00:00": `hydro validate-config` said ok and `hydro run` then died with pandas'
    OutOfBoundsDatetime (exit 1); the config check must refuse it (exit 78), as it refuses a start that is no date."""
    import pydantic

    import hydro.config as hc

    with pytest.raises(pydantic.ValidationError, match=r"start '2300-01-01T00:00' is outside the time range"):
        getattr(hc, model)(start="2300-01-01T00:00")
    # a non-whole-hour offset (Nepal, +05:45) inside the range is converted to UTC: 08:00 - 5:45 = 02:15
    assert getattr(hc, model)(start="2025-08-25T08:00+05:45").start == "2025-08-25T02:15:00"


# ------------------------------------------------------------------------------ forcing files with far-future times
def _forcing_file(path, calendar):
    """3 hourly steps of 1 mm ending 2300-01-01 01:00, 02:00, 03:00 (units 'hours since 2300-01-01')."""
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 3)
        nc.createDimension("y", 2)
        nc.createDimension("x", 2)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "hours since 2300-01-01 00:00:00"
        t.calendar = calendar
        t[:] = [1.0, 2.0, 3.0]
        nc.createVariable("y", "f8", ("y",))[:] = [1.0, 0.0]
        nc.createVariable("x", "f8", ("x",))[:] = [0.0, 1.0]
        v = nc.createVariable("precipitation", "f4", ("time", "y", "x"))
        v.units = "mm"
        v[:] = 1.0
    return path


@pytest.mark.filterwarnings("ignore::xarray.SerializationWarning")  # xarray: "dates out of range", kept as cftime
@pytest.mark.parametrize("calendar", ["standard", "noleap"])
def test_forcing_times_after_2262_are_refused_not_wrapped_to_1715(tmp_path, calendar):
    """open_forcing read a file for 2300-01-01 01:00 … 03:00 as 1715-06-13 01:25:26.29 … (numpy's datetime64[ns]
    conversion wraps around silently: 2300 - 2**64 ns); the run would then use the rain of another century."""
    from hydro.forcing import open_forcing

    p = _forcing_file(tmp_path / f"p_{calendar}.nc", calendar)
    with pytest.raises(InputDataError, match=r"2300-01-01T01:00:00.* is outside the time range"):
        open_forcing(p, "precipitation")


def test_real_times_of_coarse_datetime64_outside_the_range_are_refused():
    """A datetime64[s] time in 2300 (xarray and pandas hold non-ns times) was cast to ns with a wrap-around."""
    from hydro.forcing.core import check_time_axis, real_times

    t = np.array(["2300-01-01T01:00", "2300-01-01T02:00"], dtype="datetime64[s]")
    with pytest.raises(InputDataError, match=r"outside the time range"):
        real_times(t, "rain")
    with pytest.raises(InputDataError, match=r"outside the time range"):
        check_time_axis(t, "rain")
    # inside the range: converted exactly (1950 is before 1970: negative ns are fine), NaT stays NaT
    ok = real_times(np.array(["1950-01-01T01:02:03", "NaT"], dtype="datetime64[s]"), "rain")
    assert ok.dtype == np.dtype("datetime64[ns]")
    assert ok[0] == np.datetime64("1950-01-01T01:02:03", "ns") and np.isnat(ok[1])

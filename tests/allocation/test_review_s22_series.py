"""Review (allocation outputs, metrics and series inputs): defects found and fixed.

Tiny networks: one intake ``src`` feeding one demand ``A`` whose request (100 m3/s) is far above any
inflow, so the delivery equals the intake's inflow of the step and shows how the series was read.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.allocation import allocate, load_network
from hydro.errors import InputDataError


def _net(inflow, steps, start="2024-01-01", timestep="1D"):
    return {
        "network": {"name": "tiny", "start": start, "steps": steps, "timestep": timestep},
        "regions": [{"id": "a"}],
        "nodes": [{"id": "src", "type": "intake", "inflow": inflow},
                  {"id": "A", "type": "demand", "region": "a", "demand": "100 m3/s", "priority": 1}],
        "links": [{"id": "l", "from": "src", "to": "A"}],
    }


def _delivered(res):
    return res.delivered[:, 0] / res.dt  # m3/s


def _csv_net(tmp_path, times, values, start, steps):
    pd.DataFrame({"time": times, "q": values}).to_csv(tmp_path / "q.csv", index=False)
    return load_network(_net({"csv": "q.csv", "column": "q", "units": "m3/s"}, steps, start), base_dir=tmp_path)


# --------------------------------------------------------------- 1. month-start series: gaps and two labels
def test_two_monthly_labels_do_not_cover_the_next_month(tmp_path):
    """Labels 2024-01-01 and 2024-02-01 (period starts): the series ends on 1 March. A run on 1-2 March was
    given February's 2.0 m3/s (the last sample lasted the 31-day spacing, 1 Feb + 31 d = 3 Mar): a held value."""
    # February (29 days in 2024) stays covered to its last day: 28-29 Feb take 2.0 m3/s
    net = _csv_net(tmp_path, ["2024-01-01", "2024-02-01"], [1.0, 2.0], "2024-02-28", 2)
    np.testing.assert_allclose(_delivered(allocate(net)), [2.0, 2.0], rtol=1e-12)
    net = _csv_net(tmp_path, ["2024-01-01", "2024-02-01"], [1.0, 2.0], "2024-03-01", 2)
    with pytest.raises(InputDataError, match="no value for step 0"):
        allocate(net)


@pytest.mark.parametrize("missing", [3, 5])
def test_a_missing_month_is_a_gap_not_the_previous_month_held(tmp_path, missing):
    """Monthly means labelled on the 1st with one month missing (each month's mean = its number, m3/s). The median
    spacing is 31 days, so February (29 days) held its value until 3 March and April (30 days) until 2 May: a daily
    run on the 1st of the missing month was given the previous month's flow (2.0 / 4.0 m3/s) instead of the
    documented error for a gap."""
    months = [m for m in pd.date_range("2024-01-01", "2024-08-01", freq="MS") if m.month != missing]
    labels, values = [m.strftime("%Y-%m-%d") for m in months], [float(m.month) for m in months]
    last_before = pd.Timestamp(2024, missing, 1) - pd.Timedelta(days=1)  # 29 Feb / 30 Apr: the month before
    first_after = pd.Timestamp(2024, missing + 1, 1)                       # 1 Apr / 1 Jun: the month after
    net = _csv_net(tmp_path, labels, values, last_before.strftime("%Y-%m-%d"), 1)
    np.testing.assert_allclose(_delivered(allocate(net)), [missing - 1.0], rtol=1e-12)
    net = _csv_net(tmp_path, labels, values, first_after.strftime("%Y-%m-%d"), 1)
    np.testing.assert_allclose(_delivered(allocate(net)), [missing + 1.0], rtol=1e-12)
    net = _csv_net(tmp_path, labels, values, f"2024-{missing:02d}-01", 1)
    with pytest.raises(InputDataError, match="no value for step 0"):
        allocate(net)


# --------------------------------------------------------------- 2. repeated times
def test_repeated_time_in_a_csv_series_is_an_error(tmp_path):
    """2024-01-02 given twice (2.0 and 5.0): the first record stood for a zero-length period and was dropped,
    the run took 5.0 for 2 January without a word (the routing module refuses duplicate times)."""
    net = _csv_net(tmp_path, ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03"], [1.0, 2.0, 5.0, 3.0],
                   "2024-01-01", 3)
    with pytest.raises(InputDataError, match="duplicate time 2024-01-02"):
        allocate(net)


def test_repeated_time_in_a_runtime_series_is_an_error():
    s = pd.Series([1.0, 2.0, 5.0, 3.0], index=pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-02",
                                                                "2024-01-03"]))
    with pytest.raises(InputDataError, match="duplicate time"):
        allocate(load_network(_net({"external": "x"}, 3)), {"x": s})


def test_repeated_time_in_a_netcdf_series_is_an_error(tmp_path):
    t = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03"])
    xr.Dataset({"q": ("time", [1.0, 2.0, 5.0, 3.0], {"units": "m3 s-1"})}, coords={"time": t}).to_netcdf(
        tmp_path / "q.nc")
    net = load_network(_net({"netcdf": "q.nc", "variable": "q"}, 3), base_dir=tmp_path)
    with pytest.raises(InputDataError, match="duplicate time"):
        allocate(net)


# --------------------------------------------------------------- 3. run-time values per step with units
def test_runtime_series_without_dates_keeps_its_units():
    """A pandas Series (RangeIndex) stating attrs["units"] = "L/s": 500 L/s = 0.5 m3/s. Its units were ignored
    and the values read as m3/s (500 m3/s, capped by the 100 m3/s request): a factor 1000."""
    s = pd.Series([500.0, 500.0, 500.0])
    s.attrs["units"] = "L/s"
    res = allocate(load_network(_net({"external": "x"}, 3)), {"x": s})
    np.testing.assert_allclose(_delivered(res), [0.5, 0.5, 0.5], rtol=1e-12)


def test_runtime_dataarray_without_time_keeps_its_units():
    """An xarray DataArray of values per step (no time dimension) with units "L/s": 2500 L/s = 2.5 m3/s (was read
    as 2500 m3/s and capped at the 100 m3/s request)."""
    da = xr.DataArray([2500.0, 2500.0], dims="step", attrs={"units": "L/s"})
    res = allocate(load_network(_net({"external": "x"}, 2)), {"x": da})
    np.testing.assert_allclose(_delivered(res), [2.5, 2.5], rtol=1e-12)


def test_runtime_values_with_units_conflicting_with_the_key_are_refused():
    """The network file says m3/s, the Series says L/s: an error, as for dated series (never a rescaling)."""
    s = pd.Series([500.0, 500.0])
    s.attrs["units"] = "L/s"
    with pytest.raises(InputDataError, match="units"):
        allocate(load_network(_net({"external": "x", "units": "m3/s"}, 2)), {"x": s})


def test_runtime_series_indexed_by_date_text_is_refused():
    """A Series whose dates are text (read_csv without parse_dates): its labels were ignored and the values taken
    one per step from the first step, so 2023-12-31's 1.0 m3/s served 1 January 2024 (expected 2.0)."""
    s = pd.Series([1.0, 2.0, 3.0, 4.0], index=["2023-12-31", "2024-01-01", "2024-01-02", "2024-01-03"])
    with pytest.raises(InputDataError, match="DatetimeIndex"):
        allocate(load_network(_net({"external": "x"}, 3)), {"x": s})
    # the same values with parsed dates are read by date
    s.index = pd.to_datetime(s.index)
    np.testing.assert_allclose(_delivered(allocate(load_network(_net({"external": "x"}, 3)), {"x": s})),
                               [2.0, 3.0, 4.0], rtol=1e-12)

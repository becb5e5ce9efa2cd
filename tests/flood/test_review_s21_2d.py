"""simulate_2d driver review (time coordinates, point inflows, gaps in forcing records).

* A missing timestamp (NaT/NaN) in the time coordinate of a tide, an edge hydrograph, point inflows or the rain
  passed every order and coverage test (comparisons with NaN are False): a tide 0.5 -> 0.7 m with its middle time
  missing was never applied (0 m3 entered a basin that takes ~3370 m3), 1 mm/h of rain with a NaT label gave
  1.2 m3 instead of 2.4 m3, an edge hydrograph ending in NaT (so not covering the run) crashed as "solver
  unstable". Now an InputDataError.
* Point inflows: an empty set of points (no river enters) and a point without a position (NaN x/y) were raw
  ValueErrors; none now means no point inflow, a NaN position is an InputDataError naming the point.
* A 10-min rain record with a one-hour hole held the next rate over the hole: 36 mm of rain from a record of
  24 mm (rain invented for the hour without data). Refused as for boundary series and in hydro.forcing.
* A hole in a long tide record far outside the run refused the run (a month-long record with a hole on day 2
  for a 6-h run on day 1); only holes the run interpolates across are errors now.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.flood import inflow, simulate_2d, water_level
from tests.flood.conftest import make_grid

AREA = 4 * 6 * 100.0  # 4 x 6 cells of 10 m


def _bed():
    return make_grid(np.zeros((4, 6)), dx=10.0)


def test_a_missing_timestamp_in_any_forcing_series_is_an_input_error():
    bed = _bed()
    kw = dict(start="2025-01-01", output_interval=1800.0, output_variables=())
    full = pd.to_datetime(["2025-01-01 00:00", "2025-01-01 00:30", "2025-01-01 01:00"])
    holed = pd.to_datetime(["2025-01-01 00:00", None, "2025-01-01 01:00"])
    ok = simulate_2d(bed, 3600.0, boundaries=[water_level("west", xr.DataArray([0.5, 0.6, 0.7], dims="time",
                                                                               coords={"time": full}))], **kw)
    # the complete tide fills the basin towards 0.7 m (about 0.7 m x 2400 m2 = 1680 m3 stored after 1 h)
    assert ok.balance["storage"].iloc[-1] == pytest.approx(0.7 * AREA, rel=0.02)
    with pytest.raises(InputDataError, match="missing time"):
        simulate_2d(bed, 3600.0, boundaries=[water_level("west", xr.DataArray([0.5, 0.6, 0.7], dims="time",
                                                                              coords={"time": holed}))], **kw)
    ends_nat = pd.to_datetime(["2025-01-01 00:00", "2025-01-01 00:30", None])
    with pytest.raises(InputDataError, match="missing time"):
        simulate_2d(bed, 3600.0, boundaries=[inflow("west", xr.DataArray([0.01] * 3, dims="time",
                                                                         coords={"time": ends_nat}))], **kw)
    pts = xr.DataArray([[0.1], [0.1], [0.1]], dims=("time", "point"),
                       coords={"time": ends_nat, "x": ("point", [float(bed.x[1])]), "y": ("point", [float(bed.y[1])])})
    with pytest.raises(InputDataError, match="missing time"):
        simulate_2d(bed, 3600.0, inflows=pts, **kw)
    rt = pd.to_datetime(["2025-01-01 00:30", None, "2025-01-01 01:00", "2025-01-01 01:30"])
    with pytest.raises(InputDataError, match="missing time"):
        simulate_2d(bed, 3600.0, rainfall=xr.DataArray(np.ones(4), dims="time", coords={"time": rt},
                                                      attrs={"units": "mm/h"}), **kw)
    # numeric seconds with a NaN
    with pytest.raises(InputDataError, match="missing time"):
        simulate_2d(bed, 60.0, boundaries=[water_level("west", xr.DataArray([0.5, 0.5], dims="time",
                                                                            coords={"time": [0.0, np.nan]}))])
    # the same rain without the NaT label: 1 mm/h over the hour on 2400 m2 = 2.4 m3
    rt_ok = pd.to_datetime(["2025-01-01 00:30", "2025-01-01 01:00", "2025-01-01 01:30"])
    res = simulate_2d(bed, 3600.0, rainfall=xr.DataArray(np.ones(3), dims="time", coords={"time": rt_ok},
                                                         attrs={"units": "mm/h"}), **kw)
    assert res.balance["rain"].to_numpy() == pytest.approx([1.2, 2.4], rel=1e-12)


def test_no_point_inflows_is_no_inflow_and_a_point_without_position_is_an_input_error():
    bed = _bed()
    none = xr.DataArray(np.zeros((2, 0)), dims=("time", "point"),
                        coords={"time": [0.0, 3600.0], "x": ("point", []), "y": ("point", [])})
    res = simulate_2d(bed, 3600.0, inflows=none, rainfall=10.0, rainfall_units="mm/h", output_variables=())
    # 10 mm/h for 1 h on 2400 m2 = 24 m3, no point inflow
    assert res.balance["storage"].iloc[-1] == pytest.approx(24.0, rel=1e-12)
    assert res.balance["point_inflow"].iloc[-1] == 0.0
    nan = xr.DataArray([0.5, 0.5], dims="point",
                       coords={"point": ["ampal", "klandasan"], "x": ("point", [float(bed.x[1]), np.nan]),
                               "y": ("point", [float(bed.y[1]), np.nan])})
    with pytest.raises(InputDataError, match="klandasan.*not finite"):
        simulate_2d(bed, 60.0, inflows=nan)


def test_a_hole_in_a_regular_rain_record_is_refused_not_filled_with_the_next_rate():
    bed = _bed()
    t = pd.date_range("2025-01-01 00:10", "2025-01-01 03:00", freq="10min")
    complete = xr.DataArray(np.full(t.size, 12.0), dims="time", coords={"time": t}, attrs={"units": "mm/h"})
    res = simulate_2d(bed, 3 * 3600.0, rainfall=complete, start="2025-01-01", output_variables=())
    assert res.balance["rain"].iloc[-1] == pytest.approx(36e-3 * AREA, rel=1e-12)  # 12 mm/h x 3 h
    holed = complete.sel(time=(t <= "2025-01-01 01:00") | (t > "2025-01-01 02:00"))  # 01:10 ... 02:00 missing
    with pytest.raises(InputDataError, match="rainfall: gap of 4200 s after 3600 s"):
        simulate_2d(bed, 3 * 3600.0, rainfall=holed, start="2025-01-01", output_variables=())
    # a hole after the run is not used: a 1-h run gets its 12 mm
    res = simulate_2d(bed, 3600.0, rainfall=holed, start="2025-01-01", output_variables=())
    assert res.balance["rain"].iloc[-1] == pytest.approx(12e-3 * AREA, rel=1e-12)


def test_a_hole_in_a_tide_record_outside_the_run_does_not_refuse_it():
    bed = _bed()
    t = pd.date_range("2025-01-01", "2025-01-03", freq="10min")
    tide = xr.DataArray(0.5 + 0.3 * np.sin(np.arange(t.size) / 37.0), dims="time", coords={"time": t})
    holed = tide.drop_sel(time=pd.date_range("2025-01-02 12:10", "2025-01-02 13:00", freq="10min"))
    kw = dict(start="2025-01-01", output_variables=(), dtype="float64")
    ref = simulate_2d(bed, 6 * 3600.0, boundaries=[water_level("west", tide)], **kw)
    res = simulate_2d(bed, 6 * 3600.0, boundaries=[water_level("west", holed)], **kw)
    np.testing.assert_array_equal(res.balance["storage"].to_numpy(), ref.balance["storage"].to_numpy())
    # a run that crosses the hole is still refused
    with pytest.raises(InputDataError, match="gap of 4200 s after 129600 s"):
        simulate_2d(bed, 40 * 3600.0, boundaries=[water_level("west", holed)], **kw)


@pytest.mark.parametrize("option,value,pattern", [
    ("theta", "0.8x", "theta must be a number"),
    ("alpha", None, "alpha must be a number"),
    ("velocity_bound", float("nan"), "velocity_bound must be a finite bound"),
    ("depth_bound", 0.0, "depth_bound must be a finite bound"),
])
def test_bad_numeric_options_are_input_errors(option, value, pattern):
    """theta="0.8x" was a raw TypeError; velocity_bound=nan / depth_bound=0 were reported as an unstable solver."""
    with pytest.raises(InputDataError, match=pattern):
        simulate_2d(_bed(), duration=60.0, rainfall=10.0, rainfall_units="mm/h", **{option: value})


def test_numeric_options_given_as_text_are_read_as_numbers():
    """A config value of theta = "0.8" is the number 0.8: the same result as theta=0.8 (10 mm/h for 600 s on a
    closed, flat 4 x 6 grid of 10 m cells: 2400 m2 x 10 mm/h x 1/6 h = 4.0 m3 stored)."""
    a = simulate_2d(_bed(), duration=600.0, rainfall=10.0, rainfall_units="mm/h", theta="0.8", alpha="0.5")
    b = simulate_2d(_bed(), duration=600.0, rainfall=10.0, rainfall_units="mm/h", theta=0.8, alpha=0.5)
    np.testing.assert_array_equal(a.dataset["flood_depth"].values, b.dataset["flood_depth"].values)
    assert float(a.dataset["flood_depth"].isel(time=-1).sum()) * 100.0 == pytest.approx(4.0, rel=1e-6)

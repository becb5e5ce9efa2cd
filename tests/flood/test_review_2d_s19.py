"""Review of the 2-D local-inertial solver (driver and kernel): regressions with hand-computed answers."""
from __future__ import annotations

import numba
import numpy as np
import pytest

from hydro.errors import InputDataError
from hydro.flood import free_outflow, inflow, simulate_2d
from tests.flood.conftest import make_grid

G = 9.80665


def test_h_dry_zero_is_refused():
    """h_dry = 0 passed validation; with any draining cell the speed of a vanishing film (q / 1e-30 m) overflowed,
    the advective step became 0 s and the run never ended (a noisy 6 x 7 DEM with 0.3 m of water: dt = 0 from
    step ~100 of a 20 s run). In a still box it ran, so the bad value was accepted."""
    bed = make_grid(np.zeros((3, 3)), dx=10.0)
    with pytest.raises(InputDataError, match="h_dry"):
        simulate_2d(bed, 10.0, initial_depth=0.3, h_dry=0.0)
    with pytest.raises(InputDataError, match="h_dry"):
        simulate_2d(bed, 10.0, initial_depth=0.3, h_dry=float("inf"))


def test_inflow_edge_over_a_nodata_cell_is_refused_and_ground_cells_get_all_of_q():
    """Q = 5 m3/s over 5 north faces as q = Q / (5 dx): one of the 5 edge cells is nodata, and 2400 instead of
    3000 m3 entered in 600 s, silently. Now an error; over the 4 ground cells the whole Q enters."""
    z = np.zeros((5, 6))
    z[0, 2] = np.nan
    bed = make_grid(z, dx=10.0)
    with pytest.raises(InputDataError, match=r"north inflow boundary: edge cells \[2\] are nodata"):
        simulate_2d(bed, 600.0, boundaries=[inflow("north", 5.0 / (5 * 10.0), cells=[1, 2, 3, 4, 5])])
    res = simulate_2d(bed, 600.0, boundaries=[inflow("north", 5.0 / (4 * 10.0), cells=[1, 3, 4, 5])],
                      dtype="float64")
    assert res.balance["boundary_inflow"].iloc[-1] == pytest.approx(5.0 * 600.0, rel=1e-9)
    assert res.balance["storage"].iloc[-1] == pytest.approx(5.0 * 600.0, rel=1e-9)


def test_negative_edge_inflow_is_refused():
    """A negative 'inward unit discharge' acted as an abstraction limited to the water present (point inflows
    refuse negatives); now an input error."""
    bed = make_grid(np.zeros((4, 5)), dx=10.0)
    with pytest.raises(InputDataError, match="west inflow boundary: unit discharge must be >= 0"):
        simulate_2d(bed, 60.0, initial_depth=0.2, boundaries=[inflow("west", -0.05)])


@pytest.mark.parametrize("side", ["west", "east", "north", "south"])
@pytest.mark.parametrize("caps, q_cap", [(dict(froude_limit=1.0), 0.5 * np.sqrt(G * 0.5)),
                                          (dict(velocity_limit=0.5), 0.5 * 0.5)])
def test_free_outflow_edge_obeys_froude_and_velocity_limits(side, caps, q_cap):
    """0.5 m of water at a free edge with S = 0.1, n = 0.03: normal flow q = h^(5/3) S^(1/2) / n = 3.32 m2/s
    (Froude 3). froude_limit / velocity_limit cap "every face", but the free edge kept 3.32 m2/s. One step of
    0.5 s: outflow = 3 faces x 10 m x 0.5 s x cap (1.107 m2/s for Fr = 1, 0.25 m2/s for 0.5 m/s)."""
    shape = (3, 4) if side in ("west", "east") else (4, 3)
    bed = make_grid(np.zeros(shape), dx=10.0)
    res = simulate_2d(bed, 0.5, initial_depth=0.5, manning_n=0.03, boundaries=[free_outflow(side, slope=0.1)],
                      dt_max=0.5, dtype="float64", **caps)
    assert res.balance["steps"].iloc[-1] == 1
    assert res.balance["boundary_outflow"].iloc[-1] == pytest.approx(3 * 10.0 * 0.5 * q_cap, rel=1e-9)
    # without a cap the normal-depth flow is unchanged
    res = simulate_2d(bed, 0.5, initial_depth=0.5, manning_n=0.03, boundaries=[free_outflow(side, slope=0.1)],
                      dt_max=0.5, dtype="float64")
    qn = 0.5 ** (5.0 / 3.0) * np.sqrt(0.1) / 0.03
    assert res.balance["boundary_outflow"].iloc[-1] == pytest.approx(3 * 10.0 * 0.5 * qn, rel=1e-9)


def test_free_outflow_min_slope_must_be_positive():
    """min_slope = -1 with a bed rising towards the edge gave the edge a negative slope, sqrt -> NaN, reported as
    'solver unstable: depth beyond the physical bound'; it is a bad input."""
    z = np.tile(np.arange(5, 0, -1) * 0.1, (3, 1))  # the bed rises towards the west edge
    bed = make_grid(z, dx=10.0)
    with pytest.raises(InputDataError, match="west free-outflow min_slope must be a finite slope > 0"):
        simulate_2d(bed, 60.0, initial_depth=0.2, boundaries=[free_outflow("west", min_slope=-1.0)])


def test_bad_option_types_are_input_errors_not_tracebacks():
    bed = make_grid(np.zeros((3, 3)), dx=10.0)
    with pytest.raises(InputDataError, match="boundaries must be a list"):
        simulate_2d(bed, 60.0, boundaries=free_outflow("west"))  # one boundary, not a list (was a TypeError)
    with pytest.raises(InputDataError, match="duration must be a finite"):
        simulate_2d(bed, float("inf"))  # was a numpy ValueError from arange
    with pytest.raises(InputDataError, match="output_interval must be a finite"):
        simulate_2d(bed, 60.0, output_interval=float("inf"))
    with pytest.raises(InputDataError, match="num_threads"):
        simulate_2d(bed, 60.0, num_threads=numba.config.NUMBA_NUM_THREADS + 1)  # was numba's ValueError


def test_default_spring_high_water_is_the_storm_peak():
    """[flood] tide_high_water is documented as 'default: the storm peak'; flood_event used start + 3 h whatever the
    rain (a NetCDF-forced night peaking at 10:00 met the high water at 03:00)."""
    import pandas as pd
    import xarray as xr

    from hydro.flood.example import _storm_peak_time

    t = pd.date_range("2025-08-25T01:00", periods=12, freq="1h")  # period-end labels: 00-01 ... 11-12
    rain = np.zeros(12)
    rain[9] = 30.0  # the wettest hour is 09:00-10:00
    rain[3] = 5.0
    da = xr.DataArray(rain, dims="time", coords={"time": t})
    assert _storm_peak_time(da, "2025-08-25T00:00") == pd.Timestamp("2025-08-25T09:30")
    da0 = xr.DataArray(rain * 0, dims="time", coords={"time": t})
    assert _storm_peak_time(da0, "2025-08-25T00:00") == pd.Timestamp("2025-08-25T03:00")
    first = np.zeros(12)
    first[0] = 1.0
    assert _storm_peak_time(da.copy(data=first), "2025-08-25T00:00") == pd.Timestamp("2025-08-25T00:30")

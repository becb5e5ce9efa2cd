"""Bad input to the flood engines gets a clear hydro error (never silent NaNs)."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from affine import Affine

from hydro.errors import InputDataError
from hydro.flood import SolverInstabilityError, inflow, simulate_2d, water_level
from hydro.io.raster import from_array


def test_geographic_grid_is_refused(grid):
    bed = from_array(np.zeros((4, 4), np.float32), Affine(0.001, 0, 116.8, 0, -0.001, -1.2), "EPSG:4326")
    with pytest.raises(InputDataError, match="geographic.*reproject"):
        simulate_2d(bed, 60.0)


def test_non_square_cells_are_refused():
    bed = from_array(np.zeros((4, 4), np.float32), Affine(10.0, 0, 500000, 0, -5.0, 9850000), "EPSG:32750")
    with pytest.raises(InputDataError, match="non-square"):
        simulate_2d(bed, 60.0)


def test_inflow_point_outside(grid):
    bed = grid(np.zeros((4, 4)), dx=10.0)
    q = xr.DataArray([5.0], dims="point", coords={"x": ("point", [0.0]), "y": ("point", [0.0]), "point": ["Ampal"]},
                     attrs={"units": "m3 s-1"})
    with pytest.raises(InputDataError, match="'Ampal'.*outside"):
        simulate_2d(bed, 60.0, inflows=q)


def test_boundary_series_not_covering_the_run(grid):
    bed = grid(np.zeros((4, 4)), dx=10.0)
    tide = xr.DataArray([0.0, 1.0], dims="time", coords={"time": [0.0, 1800.0]})
    with pytest.raises(InputDataError, match="west level boundary series: series covers 0 s to 1800 s.*3600 s"):
        simulate_2d(bed, 3600.0, boundaries=[water_level("west", tide)])
    start = np.datetime64("2025-08-25T00:00")
    tide = xr.DataArray([0.0, 1.0], dims="time", coords={"time": [start + np.timedelta64(10, "m"), start +
                                                                   np.timedelta64(2, "h")]})
    with pytest.raises(InputDataError, match="covers 600 s"):
        simulate_2d(bed, 3600.0, boundaries=[inflow("north", tide)], start=start)


def test_negative_manning_and_depth(grid):
    bed = grid(np.zeros((4, 4)), dx=10.0)
    with pytest.raises(InputDataError, match="manning_n"):
        simulate_2d(bed, 60.0, manning_n=-0.01)
    n = np.full((4, 4), 0.03)
    n[1, 1] = -1
    with pytest.raises(InputDataError, match="manning_n"):
        simulate_2d(bed, 60.0, manning_n=n)
    with pytest.raises(InputDataError, match="initial_depth"):
        simulate_2d(bed, 60.0, initial_depth=-1.0)


def test_rainfall_units(grid):
    bed = grid(np.zeros((4, 4)), dx=10.0)
    r = xr.DataArray([1.0, 2.0], dims="time", coords={"time": [1800.0, 3600.0]}, attrs={"units": "inch/h"})
    with pytest.raises(InputDataError, match="rainfall units 'inch/h' unknown"):
        simulate_2d(bed, 3600.0, rainfall=r)
    with pytest.raises(InputDataError, match="no 'units' attribute"):
        simulate_2d(bed, 3600.0, rainfall=r.assign_attrs(units=None).drop_attrs())
    with pytest.raises(InputDataError, match="rainfall_units"):
        simulate_2d(bed, 3600.0, rainfall=5.0)


def test_unknown_boundary_side(grid):
    bed = grid(np.zeros((4, 4)), dx=10.0)
    with pytest.raises(InputDataError, match="side 'up'"):
        simulate_2d(bed, 60.0, boundaries=[water_level("up", 1.0)])


def test_instability_is_detected_with_place_and_time(grid):
    """A far too long time step blows up: a SolverInstabilityError names the cell, coordinates and time."""
    h0 = np.full((20, 20), 2.0)
    h0[5:8, 5:8] += 1.0
    bed = grid(np.zeros((20, 20)), dx=1.0)
    where = r"row \d+, column \d+.*\(x=\d+\.\d, y=\d+\.\d\) at [\d.]+ s after"
    with pytest.raises(SolverInstabilityError, match=where), pytest.warns(UserWarning, match="alpha = 10.0 > 0.7"):
        simulate_2d(bed, 120.0, manning_n=0.0, initial_depth=h0, alpha=10.0, theta=1.0, advective_dt=False)


def test_gridded_input_on_another_grid(grid):
    bed = grid(np.zeros((4, 5)), dx=10.0)
    flipped = bed.isel(y=slice(None, None, -1))
    rain = xr.DataArray(np.ones((2, 4, 5)), dims=("time", "y", "x"),
                        coords={"time": [1800.0, 3600.0], "y": flipped["y"].values, "x": bed["x"].values},
                        attrs={"units": "mm/h"})
    with pytest.raises(InputDataError, match="rainfall: its y coordinates differ"):
        simulate_2d(bed, 3600.0, rainfall=rain)
    with pytest.raises(InputDataError, match="manning_n: its y coordinates differ"):
        simulate_2d(bed, 60.0, manning_n=flipped * 0 + 0.03)

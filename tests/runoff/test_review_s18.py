"""Review s18: labelled parameter maps and state files must be on the model grid in its order, not only its shape.

Before: ``GRParameters`` dropped the labels of an xarray map and ``CatchmentModel`` checked only the shape, so a map
stored south-up (y ascending, as many NetCDF files are) on the north-up terrain was raveled mirrored: all 1080 cells
of the 30 x 36 test grid ran with another cell's X1, silently. ``load_state`` checked the hash attributes but not the
file's y/x: a state file reordered after writing (``sortby("y")``, a south-up tool) keeps the attributes and its
stores and discharges were loaded mirrored (on a grid without nodata cells nothing noticed it).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import ConfigError, StateError
from hydro.runoff import GRParameters


@pytest.fixture(scope="module")
def terrain():
    from hydro.datasets import balikpapan_dem
    from hydro.terrain import analyse

    # the first 24 rows have no nodata cell: a mirrored state then fits the valid mask too
    return analyse(balikpapan_dem(resolution_m=1000.0).isel(y=slice(0, 24)), stream_threshold_m2=3.0e6)


def _x1_map(terrain):
    ny, nx = terrain.sizes["y"], terrain.sizes["x"]
    values = np.linspace(100.0, 800.0, ny)[:, None].repeat(nx, 1)  # X1 grows southwards
    return xr.DataArray(values, dims=("y", "x"), coords={"y": terrain.y, "x": terrain.x})


def test_labelled_map_in_reverse_y_order_is_refused(terrain):
    from hydro.model import CatchmentModel

    x1 = _x1_map(terrain)
    assert bool(terrain.y[0] > terrain.y[-1])  # north-up terrain
    with pytest.raises(ConfigError, match="production_capacity_mm.*y coordinates differ"):
        CatchmentModel(terrain, GRParameters(production_capacity_mm=x1.sortby("y")), dt="1h")
    shifted = x1.assign_coords(x=x1.x + 5000.0)  # same shape, another grid (five cells east)
    with pytest.raises(ConfigError, match="production_capacity_mm.*x coordinates differ"):
        CatchmentModel(terrain, GRParameters(production_capacity_mm=shifted), dt="1h")
    # on the grid: labelled (in either dimension order), bare and flat maps are taken as before
    for m in (x1, x1.transpose("x", "y"), x1.values, x1.values.ravel()):
        model = CatchmentModel(terrain, GRParameters(production_capacity_mm=m), dt="1h")
        np.testing.assert_array_equal(model.runoff._x1, x1.values.ravel())
    # the labels are not part of the parameter values (same hash as the bare map: saved states stay valid)
    assert GRParameters(production_capacity_mm=x1).hash() == GRParameters(production_capacity_mm=x1.values).hash()


def test_state_file_reordered_after_writing_is_refused(tmp_path, terrain):
    from hydro.model import CatchmentModel, RoutingParameters

    start = pd.Timestamp("2026-01-10")
    build = lambda: CatchmentModel(terrain, GRParameters(), RoutingParameters(channel_threshold_m2=3e6), dt="1h")  # noqa: E731
    model = build()
    assert model.valid.all()
    model.run(4.0, 0.1, start=start, steps=2)
    path = model.save_state(tmp_path / "state.nc")
    with xr.open_dataset(path) as ds:
        flipped = ds.load().sortby("y")  # attributes (hashes, valid time) kept
    flipped.to_netcdf(tmp_path / "flipped.nc")
    fresh = build()
    with pytest.raises(StateError, match="y coordinates differ"):
        fresh.load_state(tmp_path / "flipped.nc")
    assert fresh.valid_time is None and fresh.lineage == "cold"
    fresh.load_state(path)  # the file as written still loads, exactly
    for k, v in model.runoff.state.items():
        np.testing.assert_array_equal(fresh.runoff.state[k], v)
    np.testing.assert_array_equal(fresh.routing.q, model.routing.q)

"""Routing review 3: runoff on the terrain's cells (not a mirrored grid of the same shape), reservoir abstraction in
route(), reservoir parameters and saved storages that would create water refused, warm states kept across
operating changes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine

from hydro.errors import ConfigError, InputDataError
from hydro.io.raster import from_array
from hydro.routing import Reservoir, RoutingParameters, route

CRS = "EPSG:32750"
DX = 100.0


def _row_terrain(n: int = 8) -> xr.Dataset:
    """One row of ``n`` 100 m cells draining east to an outlet; bed slope 1 %."""
    tr = Affine(DX, 0, 500_000.0, 0, -DX, 9_850_000.0)
    fd = np.full((1, n), 1, np.uint8)
    fd[0, -1] = 0
    fdir = from_array(fd, tr, CRS, name="flow_direction")
    z = from_array((0.01 * DX * (n - np.arange(n))).reshape(1, n), tr, CRS, name="filled_elevation")
    return xr.Dataset({"flow_direction": fdir, "filled_elevation": z}).rio.write_crs(CRS).rio.write_transform(tr)


def _runoff(terr: xr.Dataset, values: np.ndarray) -> xr.DataArray:
    t = pd.date_range("2026-01-01 01:00", periods=values.shape[0], freq="1h")
    return xr.DataArray(values, dims=("time", "y", "x"), coords={"time": t, "y": terr.y.values, "x": terr.x.values},
                        name="runoff")


def test_runoff_on_another_cell_order_is_refused():
    """Two rows, y ascending in the runoff (as many NetCDF files store it): the same shape, but row 0 of the runoff
    is the terrain's southern row. It was routed mirrored; now an input error."""
    tr = Affine(DX, 0, 500_000.0, 0, -DX, 9_850_000.0)
    fd = np.array([[1, 1, 4], [1, 1, 0]], np.uint8)
    terr = xr.Dataset({"flow_direction": from_array(fd, tr, CRS, name="flow_direction"),
                       "filled_elevation": from_array(np.array([[5.0, 4.0, 3.0], [4.0, 3.0, 1.0]]), tr, CRS)})
    r = np.zeros((3, 2, 3))
    r[:, 0, 0] = 5.0
    good = _runoff(terr, r)
    out = route(good, terr, RoutingParameters(channel_threshold_m2=1.0))
    np.testing.assert_allclose(out["inflow_volume"].values, 5e-3 * DX * DX, rtol=1e-12)
    with pytest.raises(InputDataError, match="y coordinates differ"):
        route(good.sortby("y"), terr, RoutingParameters(channel_threshold_m2=1.0))


@pytest.mark.parametrize("abstraction", [0.0, 0.02, pd.Series([0.03, 0.03], index=pd.to_datetime(
    ["2026-01-01", "2026-01-02"]))])
def test_route_takes_the_reservoirs_abstraction(abstraction):
    """A lake full to its crest on cell 5 of the row: every hour the abstraction leaves the network (it was ignored
    by route()): outflow volume = outlet discharge + abstraction x 3600 s, and the balance closes."""
    terr = _row_terrain()
    from hydro.terrain import flow_network

    net = flow_network(terr["flow_direction"])
    res = Reservoir("lake", *net.xy(5), [0.0, 10.0], [0.0, 1e6], [1e5, 1e5], crest_level_m=5.0, initial_level_m=5.0,
                    abstraction_m3s=abstraction)
    out = route(_runoff(terr, np.full((6, 1, 8), 0.5)), terr, RoutingParameters(channel_threshold_m2=1.0),
                reservoirs=[res])
    w = float(abstraction.iloc[0]) if isinstance(abstraction, pd.Series) else abstraction
    outlet_m3 = out["discharge"].isel(y=0, x=-1).values.astype(np.float64) * 3600.0
    np.testing.assert_allclose(out["outflow_volume"].values, outlet_m3 + w * 3600.0, rtol=2e-6)
    bal = out["inflow_volume"] - out["outflow_volume"] - out["storage_change"]
    assert float(np.max(np.abs(bal))) < 1e-6


@pytest.mark.parametrize("kw,match", [
    ({"release_m3s": -1.0}, "release_m3s"),
    ({"spillway_coef": float("nan")}, "spillway_coef"),
    ({"spillway_exponent": 0.0}, "spillway_exponent"),
    ({"spillway_length_m": -2.0}, "spillway_length_m"),
    ({"initial_level_m": -5.0}, "initial_level_m"),
    ({"initial_level_m": float("nan")}, "initial_level_m"),
])
def test_reservoir_parameters_that_would_create_water_are_refused(kw, match):
    """A level below the table gave a negative storage (then a negative evaporation: water created); a negative
    release sent water upstream."""
    with pytest.raises(ConfigError, match=match):
        Reservoir("r", 0.0, 0.0, [0.0, 10.0], [0.0, 1e6], [1e5, 1e5], crest_level_m=5.0, **kw)


def test_reservoir_hash_ignores_operating_choices_and_keeps_the_table():
    """Changing the release, abstraction, cold-start level or snapping radius keeps a saved storage valid (it forced a
    cold start with the lake reset); another table or spillway does not."""
    base = dict(level_m=[0.0, 10.0], storage_m3=[0.0, 1e6], area_m2=[1e5, 1e5], crest_level_m=5.0)
    h = Reservoir("r", 0.0, 0.0, **base).hash()
    assert Reservoir("r", 0.0, 0.0, **base, release_m3s=2.0, abstraction_m3s=1.0, initial_level_m=3.0,
                     max_snap_distance_m=500.0).hash() == h
    assert Reservoir("r", 0.0, 0.0, **{**base, "storage_m3": [0.0, 2e6]}).hash() != h
    assert Reservoir("r", 0.0, 0.0, **base, spillway_length_m=20.0).hash() != h

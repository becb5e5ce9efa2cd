"""route(): NaN or negative runoff on the network is an input error, never dropped silently."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine

from hydro.errors import InputDataError
from hydro.io.raster import from_array
from hydro.routing import RoutingNetwork, RoutingParameters, route
from hydro.terrain import flow_network

CRS = "EPSG:32750"


def _row_with_nodata() -> xr.Dataset:
    """Cells 0-2 (100 m) drain east to the outlet at cell 2; cell 3 is outside the domain."""
    tr = Affine(100.0, 0, 500_000.0, 0, -100.0, 9_850_000.0)
    fdir = from_array(np.array([[1, 1, 0, 255]], np.uint8), tr, CRS, name="flow_direction")
    z = from_array(np.array([[3.0, 2.0, 1.0, np.nan]]), tr, CRS, name="filled_elevation")
    return xr.Dataset({"flow_direction": fdir, "filled_elevation": z}).rio.write_crs(CRS).rio.write_transform(tr)


def _runoff(terr: xr.Dataset, values: np.ndarray) -> xr.DataArray:
    t = pd.date_range("2026-01-01 01:00", periods=values.shape[0], freq="1h")
    return xr.DataArray(values, dims=("time", "y", "x"), coords={"time": t, "y": terr.y.values, "x": terr.x.values},
                        name="runoff")


def test_nan_off_the_network_is_ignored_and_the_balance_is_exact():
    terr = _row_with_nodata()
    r = np.full((3, 1, 4), 2.0)
    r[:, 0, 3] = np.nan  # outside the domain
    out = route(_runoff(terr, r), terr, RoutingParameters(channel_threshold_m2=1.0))
    # 3 network cells x 1e4 m2 x 2 mm = 60 m3 per step
    np.testing.assert_allclose(out["inflow_volume"].values, 60.0, rtol=1e-14)
    bal = out["inflow_volume"] - out["outflow_volume"] - out["storage_change"]
    assert float(np.max(np.abs(bal))) < 1e-9


def test_nan_runoff_on_a_network_cell_is_an_input_error_naming_cell_and_time():
    terr = _row_with_nodata()
    r = np.full((3, 1, 4), 2.0)
    r[1, 0, 1] = np.nan  # network cell, second step
    with pytest.raises(InputDataError, match=r"NaN .*2026-01-01 02:00:00.*row 0, column 1"):
        route(_runoff(terr, r), terr, RoutingParameters(channel_threshold_m2=1.0))


def test_negative_runoff_on_a_network_cell_is_an_input_error():
    terr = _row_with_nodata()
    r = np.full((3, 1, 4), 2.0)
    r[0, 0, 2] = -50.0  # the old solver accepted it and then lost it from the balance
    with pytest.raises(InputDataError, match=r"negative .*2026-01-01 01:00:00 \(min -50.0 mm\).*row 0, column 2"):
        route(_runoff(terr, r), terr, RoutingParameters(channel_threshold_m2=1.0))


def test_routing_step_refuses_negative_or_nan_lateral_inflow():
    terr = _row_with_nodata()
    rn = RoutingNetwork.build(flow_network(terr["flow_direction"]), terr["filled_elevation"].values,
                              RoutingParameters(channel_threshold_m2=1.0), 3600.0)
    for bad in (-1e-3, np.nan):
        lat = np.full(rn.nvalid, 1e-3)
        lat[0] = bad
        with pytest.raises(InputDataError, match="lateral inflow"):
            rn.step(lat)
    assert np.all(rn.q == 0.0) and np.all(rn.volume_m3 == 0.0)  # nothing was routed

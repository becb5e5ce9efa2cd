"""Routing review: per-cell maps on another grid/order, and bad boundary/reservoir arrays in RoutingNetwork.step."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from affine import Affine

from hydro.errors import InputDataError
from hydro.io.raster import from_array
from hydro.routing import Reservoir, RoutingNetwork, RoutingParameters
from hydro.terrain import flow_network

DX = 100.0


def _row(n=6, slope=1e-3):
    fd = np.full((1, n), 1, np.uint8)
    fd[0, -1] = 0
    fdir = from_array(fd, Affine(DX, 0, 500_000.0, 0, -DX, 9_850_000.0), "EPSG:32750", name="flow_direction")
    return flow_network(fdir), (slope * DX * (n - np.arange(n))).reshape(1, n)


def _two_rows():
    """Two parallel rows draining east (2 x 6 grid), as a terrain Dataset with y descending."""
    from hydro.model import CatchmentModel  # noqa: F401 - import check

    fd = np.full((2, 6), 1, np.uint8)
    fd[:, -1] = 0
    t = Affine(DX, 0, 500_000.0, 0, -DX, 9_850_000.0)
    fdir = from_array(fd, t, "EPSG:32750", name="flow_direction")
    z = np.tile(0.1 * (6 - np.arange(6)), (2, 1)).astype(np.float64)
    ds = fdir.to_dataset()
    ds["filled_elevation"] = (("y", "x"), z)
    return ds


@pytest.mark.parametrize("shape", [(1, 5), (2, 6), (1, 7)])
def test_manning_multiplier_of_another_size_is_refused(shape):
    net, z = _row(6)
    with pytest.raises(InputDataError, match="manning_multiplier has"):
        RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, manning_multiplier=np.ones(shape))


def test_channel_mask_of_another_size_is_refused():
    net, z = _row(6)
    with pytest.raises(InputDataError, match="channel_mask has"):
        RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, channel_mask=np.ones((2, 6), bool))


def test_manning_multiplier_values_go_to_their_cells_and_alpha_scales_as_n_to_beta():
    """alpha = (n P^2/3 / sqrt S)^beta: a multiplier of 10 on one cell scales its alpha by 10^0.6, nothing else."""
    net, z = _row(6)
    p = RoutingParameters()
    base = RoutingNetwork.build(net, z, p, 3600.0)
    m = np.ones((1, 6))
    m[0, 2] = 10.0
    rn = RoutingNetwork.build(net, z, p, 3600.0, manning_multiplier=m)
    ratio = rn.alpha / base.alpha
    pos2 = int(np.flatnonzero(rn.order == 2)[0])
    expected = np.ones(6)
    expected[pos2] = 10.0 ** 0.6
    np.testing.assert_allclose(ratio, expected, rtol=1e-12)


def test_catchment_model_map_in_another_y_order_is_refused_not_mirrored():
    """A multiplier DataArray read south-up (y ascending) was mirrored onto the grid without a word."""
    from hydro.model import CatchmentModel
    from hydro.runoff import GRParameters

    terrain = _two_rows()
    rp = RoutingParameters(channel_threshold_m2=1.0)
    m = xr.DataArray(np.array([[10.0] * 6, [1.0] * 6]), dims=("y", "x"),
                     coords={"y": terrain["y"].values, "x": terrain["x"].values})
    good = CatchmentModel(terrain, GRParameters(), rp, dt="1h", manning_multiplier=m)
    base = CatchmentModel(terrain, GRParameters(), rp, dt="1h")
    # the north row (row 0, flat cells 0..5) has 10^0.6 times the alpha
    ratio = base.routing.to_grid(good.routing.alpha / base.routing.alpha).reshape(2, 6)
    np.testing.assert_allclose(ratio, [[10.0 ** 0.6] * 6, [1.0] * 6], rtol=1e-12)
    with pytest.raises(InputDataError, match="y coordinates differ"):
        CatchmentModel(terrain, GRParameters(), rp, dt="1h", manning_multiplier=m.sortby("y"))
    # dims (x, y) are put in (y, x) order, not read transposed
    t = CatchmentModel(terrain, GRParameters(), rp, dt="1h", manning_multiplier=m.transpose("x", "y"))
    np.testing.assert_array_equal(t.routing.alpha, good.routing.alpha)
    with pytest.raises(InputDataError, match="channel_width_m: y coordinates differ"):
        CatchmentModel(terrain, GRParameters(), rp, dt="1h", channel_width_m=(m * 2.0).sortby("y"))


@pytest.mark.parametrize("value", [np.nan, np.inf, -5.0])
def test_step_refuses_bad_boundary_inflow(value):
    """NaN boundary inflow made every cell downstream NaN; -5 m3 s-1 created 17,640 m3 in an hour."""
    net, z = _row(5)
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, channel_mask=np.ones((1, 5), bool))
    bnd = np.zeros(5)
    bnd[0] = value
    with pytest.raises(InputDataError, match="boundary inflow"):
        rn.step(np.full(5, 0.1), bnd)
    assert rn.reach_storage_m3() == 0.0 and np.all(rn.q == 0.0)  # nothing changed
    with pytest.raises(InputDataError, match="shape"):
        rn.step(np.full(5, 0.1), np.zeros(4))


def test_step_refuses_negative_reservoir_evaporation_and_abstraction():
    """A negative loss added water to the lake (reported as a negative loss, so the balance closed)."""
    net, z = _row(5)
    res = Reservoir("lake", 500_000.0 + 2.5 * DX, 9_850_000.0 - 0.5 * DX, [0.0, 10.0], [0.0, 1e6], [1e5, 1e5],
                    crest_level_m=5.0)
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, reservoirs=[res], channel_mask=np.ones((1, 5), bool))
    s0 = rn.reservoir_storage_m3.copy()
    with pytest.raises(InputDataError, match="reservoir evaporation"):
        rn.step(np.zeros(5), reservoir_evaporation_m3=np.array([-1e4]))
    with pytest.raises(InputDataError, match="reservoir abstraction"):
        rn.step(np.zeros(5), reservoir_abstraction_m3s=np.array([np.nan]))
    with pytest.raises(InputDataError, match="shape"):
        rn.step(np.zeros(5), reservoir_abstraction_m3s=np.array([1.0, 1.0]))
    np.testing.assert_array_equal(rn.reservoir_storage_m3, s0)
    # a valid demand still works: 1 m3 s-1 for an hour below the crest leaves 5e5 - 3600 m3
    out = rn.step(np.zeros(5), reservoir_abstraction_m3s=np.array([1.0]))
    assert out["reservoir_abstraction_m3"] == pytest.approx(3600.0, rel=1e-12)
    assert rn.reservoir_storage_m3[0] == pytest.approx(5e5 - 3600.0, rel=1e-12)

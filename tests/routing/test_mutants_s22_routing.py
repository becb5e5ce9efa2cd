"""Mutation-audit killing tests of hydro.routing (network.py, _kernels.py): expected values derived by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from affine import Affine

from hydro.io.raster import from_array
from hydro.routing import Reservoir, RoutingNetwork, RoutingParameters, series_step_values
from hydro.terrain import flow_network

CRS = "EPSG:32750"
AREA = 1.0e6  # prismatic reservoir: storage = AREA * level


def _row(n: int, dx: float = 100.0, slope: float = 0.01):
    """A row of n cells draining east to an outlet at the last cell (copy of tests/routing/conftest.row_network)."""
    fd = np.full((1, n), 1, np.uint8)
    fd[0, -1] = 0
    fdir = from_array(fd, Affine(dx, 0, 500_000.0, 0, -dx, 9_850_000.0), CRS, name="flow_direction")
    z = (slope * dx * (n - np.arange(n))).reshape(1, n)
    return flow_network(fdir), z


def _lake(net, col, **kw):
    """Prismatic lake (1 km2, levels 0..10 m, storage 0..1e7 m3), crest at 5 m, at cell ``col`` of the row."""
    lv = np.array([0.0, 10.0])
    return Reservoir("lake", *net.xy(col), lv, AREA * lv, [AREA, AREA], crest_level_m=5.0, **kw)


def test_reservoir_evaporation_is_the_step_demand_with_overland_substeps():
    """dt = 3600 s, overland sub-step 1800 s -> 2 coarse sub-steps (n_sub_overland = 2), channel sub-step 900 s ->
    n_sub = 4: the lake's demand of 1000 m3 is spread over the 4 sub-steps (250 m3 each), 1000 m3 in total.
    Lake at 3 m (3e6 m3, below the 5 m crest): no spill, no inflow (lateral 0), so storage = 3e6 - 1000."""
    net, z = _row(6)
    res = _lake(net, 3, initial_level_m=3.0)
    params = RoutingParameters(overland_substep_s=1800.0)
    rn = RoutingNetwork.build(net, z, params, 3600.0, reservoirs=[res], channel_mask=np.ones((1, 6), bool))
    assert rn.n_sub_overland == 2 and rn.n_sub == 4
    out = rn.step(np.zeros(6), reservoir_evaporation_m3=np.array([1000.0]))
    assert out["reservoir_evaporation_m3"] == pytest.approx(1000.0, rel=1e-12)
    assert out["reservoir"][0, 2] == pytest.approx(1000.0, rel=1e-12)
    assert rn.reservoir_storage_m3[0] == pytest.approx(3.0e6 - 1000.0, rel=1e-12)


def test_reservoir_outflow_volume_includes_the_release():
    """res_out column 1 is "outflow (spill + release)". Lake at 3 m (below the 5 m crest: no spill), release
    1 m3/s, nothing entering: outflow over the 3600 s step = 1 * 3600 = 3600 m3, storage 3e6 - 3600."""
    net, z = _row(6)
    res = _lake(net, 3, initial_level_m=3.0, release_m3s=1.0)
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, reservoirs=[res], channel_mask=np.ones((1, 6), bool))
    out = rn.step(np.zeros(6))
    inflow, outflow, ev, ab = out["reservoir"][0]
    assert inflow == 0.0 and ev == 0.0 and ab == 0.0
    assert outflow == pytest.approx(3600.0, rel=1e-12)
    assert rn.reservoir_storage_m3[0] == pytest.approx(3.0e6 - 3600.0, rel=1e-12)


def test_empty_reservoir_evaporates_water_that_arrives_within_the_step():
    """Empty lake (storage 0), 1 m3/s of lateral inflow on the lake's own cell (nothing upstream), evaporation demand
    2000 m3 per 3600 s step, 4 channel sub-steps of 900 s: each sub-step brings 900 m3 and takes 2000/4 = 500 m3,
    so the whole demand is met: evaporation 2000 m3, storage 4 * (900 - 500) = 1600 m3 (0.0016 m, below the crest,
    no spill)."""
    net, z = _row(6)
    res = _lake(net, 3, initial_level_m=0.0)
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, reservoirs=[res], channel_mask=np.ones((1, 6), bool))
    assert rn.n_sub == 4 and rn.reservoir_storage_m3[0] == 0.0
    lat = np.zeros(6)
    lat[rn.reservoir_pos[0]] = 1.0
    out = rn.step(lat, reservoir_evaporation_m3=np.array([2000.0]))
    assert out["reservoir_evaporation_m3"] == pytest.approx(2000.0, rel=1e-12)
    assert rn.reservoir_storage_m3[0] == pytest.approx(1600.0, rel=1e-12)


def test_channel_geometry_takes_upstream_area_in_km2():
    """Row of 1 km cells: cell i drains (i + 1) km2. Defaults W = 2.5 A^0.5, D = 0.3 A^0.3 (A in km2):
    cell 3 (4 km2) W = 2.5 * 2 = 5 m, cell 8 (9 km2) W = 2.5 * 3 = 7.5 m; D at cell 3 = 0.3 * 4^0.3 = 0.45948 m.
    alpha = (n P^(2/3) / sqrt(S))^0.6 with P = W + D, n = 0.035, S = 0.01."""
    net, z = _row(10, dx=1000.0, slope=0.01)
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, channel_mask=np.ones((1, 10), bool))
    np.testing.assert_allclose(rn.upstream_area_m2[[3, 8]], [4.0e6, 9.0e6])
    np.testing.assert_allclose(rn.width_m[[3, 8]], [5.0, 7.5], rtol=1e-12)
    p = 5.0 + 0.3 * 4.0**0.3
    np.testing.assert_allclose(rn.alpha[3], (0.035 * p ** (2 / 3) / 0.1) ** 0.6, rtol=1e-12)


def test_diagonal_reach_length_is_the_diagonal():
    """3 x 3 grid of 100 m cells, (0,0) -> (1,1) -> (2,2) (ESRI code 2 = south-east), the rest sinks: the reach of
    a diagonal link is 100 * sqrt(2) = 141.42 m (not the cell side), its bed slope the drop over that length:
    z = 3, 2, 1 m along the diagonal -> S = 1 / 141.42 = 7.0711e-3."""
    fd = np.zeros((3, 3), np.uint8)
    fd[0, 0] = 2
    fd[1, 1] = 2
    fdir = from_array(fd, Affine(100.0, 0, 500_000.0, 0, -100.0, 9_850_000.0), CRS, name="flow_direction")
    net = flow_network(fdir)
    z = np.full((3, 3), 5.0)
    z[0, 0], z[1, 1], z[2, 2] = 3.0, 2.0, 1.0
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, channel_mask=np.ones((3, 3), bool))
    length = rn.to_grid(rn.length_m).reshape(3, 3)
    slope = rn.to_grid(rn.slope).reshape(3, 3)
    assert length[0, 0] == pytest.approx(100.0 * np.sqrt(2.0), rel=1e-12)
    assert length[1, 1] == pytest.approx(100.0 * np.sqrt(2.0), rel=1e-12)
    assert slope[0, 0] == pytest.approx(1.0 / (100.0 * np.sqrt(2.0)), rel=1e-12)


def test_period_means_longer_than_the_step():
    """2-hourly period means (cell_methods "time: mean", period_s = 7200) labelled at the period end, hourly run
    steps: each hourly step lies inside one period and takes exactly that period's value
    (00-02 h: 4, 02-04 h: 10) -> steps 00,01,02,03 h = 4, 4, 10, 10. A step 01:00-03:00 of 2 h straddles both
    periods half each -> (4 + 10) / 2 = 7."""
    s = pd.Series([4.0, 10.0], index=pd.DatetimeIndex(["2026-01-01 02:00", "2026-01-01 04:00"]))
    s.attrs.update(cell_methods="time: mean", period_s=7200.0)
    starts = pd.date_range("2026-01-01 00:00", periods=4, freq="h")
    np.testing.assert_allclose(series_step_values(s, starts, pd.Timedelta("1h"), what="q"), [4.0, 4.0, 10.0, 10.0],
                               rtol=1e-15)
    two = series_step_values(s, pd.DatetimeIndex(["2026-01-01 01:00"]), pd.Timedelta("2h"), what="q")
    np.testing.assert_allclose(two, [7.0], rtol=1e-15)


def test_default_snapping_radius_is_three_cells():
    """Row of 100 m cells, channel only on cells 5..9; a reservoir at the centre of cell 3 is 200 m from the nearest
    channel cell (5): inside the default radius of 3 cells = 300 m, so it snaps to cell 5 (position 5 of the row)."""
    net, z = _row(10)
    mask = np.zeros((1, 10), bool)
    mask[0, 5:] = True
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, reservoirs=[_lake(net, 3)], channel_mask=mask)
    assert int(rn.order[rn.reservoir_pos[0]]) == 5


def test_channel_substep_never_exceeds_the_configured_longest():
    """channel_substep_s = 900 s is the longest sub-step: a 1000 s step needs ceil(1000 / 900) = 2 sub-steps of 500 s
    (one of 1000 s would exceed it); a 3600 s step exactly 4 of 900 s; a 2700 s step with overland sub-step 1800 s:
    2 coarse sub-steps of 1350 s, each needing ceil(1350 / 900) = 2 channel sub-steps -> n_sub = 4."""
    net, z = _row(4)
    mask = np.ones((1, 4), bool)
    assert RoutingNetwork.build(net, z, RoutingParameters(), 1000.0, channel_mask=mask).n_sub == 2
    assert RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, channel_mask=mask).n_sub == 4
    rn = RoutingNetwork.build(net, z, RoutingParameters(overland_substep_s=1800.0), 2700.0, channel_mask=mask)
    assert rn.n_sub_overland == 2 and rn.n_sub == 4


def test_draining_reach_never_returns_a_negative_discharge():
    """A reach holding 1e-29 m3 (alpha L = 100, dt = 1 s, no inflow): the root u of u^(1/0.6) + 100 u = 1e-29 is
    ~1e-31 and Q = u^(5/3) ~ 1e-52 m3/s; Q = rhs - a u then cancels to round-off and may come out below zero
    (about -1.4e-45): the kernel must return Q >= 0 and keep V_new + dt Q = V_old (1e-29 m3)."""
    from hydro.routing import _kernels as k

    for v_old, alpha_length, dt in ((1e-29, 100.0, 1.0), (2e-28, 100.0, 1.0), (1e-29, 1.0, 60.0)):
        q, v, _ = k.kinematic_cell(0.0, v_old, alpha_length, dt, 1.0 / 0.6)
        assert q >= 0.0
        assert v + dt * q == pytest.approx(v_old, rel=1e-12)


def test_reservoir_table_extrapolates_above_its_top_with_the_last_segment():
    """Table levels 0, 2, 10 m / storage 0, 1e6, 9e6 m3: the last segment holds 1e6 m3 per m, so 12 m (2 m above the
    top) stores 9e6 + 2 * 1e6 = 1.1e7 m3 and 1.1e7 m3 stands at 12 m (a flood surcharge above the table)."""
    res = Reservoir("r", 0.0, 0.0, [0.0, 2.0, 10.0], [0.0, 1.0e6, 9.0e6], [5e5, 1e6, 1e6], crest_level_m=8.0)
    assert float(res.storage_at(12.0)) == pytest.approx(1.1e7, rel=1e-12)
    assert float(res.level_at(1.1e7)) == pytest.approx(12.0, rel=1e-12)


def test_volume_from_discharge_is_alpha_length_q_to_the_beta():
    """V = alpha L Q^beta; with beta = 0.5 and Q = 4 m3/s, Q^beta = 2, so V = 2 alpha L on every reach (alpha and L
    are the network's own per-cell values) and 0 at the reservoir node."""
    net, z = _row(6)
    params = RoutingParameters(beta=0.5)
    rn = RoutingNetwork.build(net, z, params, 3600.0, reservoirs=[_lake(net, 3)], channel_mask=np.ones((1, 6), bool))
    v = rn.volume_from_discharge(np.full(6, 4.0))
    expected = 2.0 * rn.alpha * rn.length_m
    expected[rn.reservoir_pos[0]] = 0.0
    np.testing.assert_allclose(v, expected, rtol=1e-12)


def test_negative_constant_abstraction_is_a_config_error():
    """A constant abstraction of -1 m3/s would be a water gain: refused as a ConfigError when the schedule is made
    (not later as a data error at the first step)."""
    from hydro.errors import ConfigError
    from hydro.routing import AbstractionSchedule

    net, _ = _row(6)
    res = _lake(net, 3, abstraction_m3s=-1.0)
    starts = pd.date_range("2026-01-01", periods=3, freq="h")
    with pytest.raises(ConfigError, match="must be >= 0"):
        AbstractionSchedule([res], starts, pd.Timedelta("1h"))
    with pytest.raises(ConfigError, match="must be >= 0"):
        AbstractionSchedule([_lake(net, 3)], starts, pd.Timedelta("1h"), overrides={"lake": -0.5})

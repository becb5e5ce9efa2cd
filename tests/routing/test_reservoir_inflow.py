"""Level-pool reservoirs against analytic solutions; inflow boundaries from a neighbour's NetCDF."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hydro.errors import ConfigError, InputDataError, InputMissingError
from hydro.routing import Inflow, Reservoir, RoutingNetwork, RoutingParameters, _kernels as k, series_step_values

AREA = 1.0e6  # prismatic reservoir: storage = AREA * level


def _prismatic(crest=2.0, coef=5.0, length=1.0, expo=1.0, top=50.0, **kw):
    lv = np.array([0.0, top])
    return Reservoir("lake", 0.0, 0.0, lv, AREA * lv, [AREA, AREA], crest_level_m=crest, spillway_coef=coef,
                     spillway_length_m=length, spillway_exponent=expo, **kw)


def _solve(res, s, inflow, dt, ev=0.0, ab=0.0, rel=0.0):
    lt = np.asarray(res.level_m, float)
    st = np.asarray(res.storage_m3, float)
    return k.reservoir_solve(s, inflow * dt, ev, ab, rel, dt, lt, st, res.crest_level_m,
                             res.spillway_coef * res.spillway_length_m, res.spillway_exponent)


def test_linear_reservoir_matches_discrete_and_analytic_solutions():
    """O = C (h - h_c): A dh/dt = I - C (h - h_c)  ->  h - h_eq decays as exp(-C t / A)."""
    res = _prismatic()
    C, hc, inflow = 5.0, 2.0, 20.0
    h_eq = hc + inflow / C
    h0 = 3.0
    for dt, steps in ((3600.0, 100), (60.0, 6000)):
        s = AREA * h0
        h_disc = h0
        for _ in range(steps):
            s, spill, _ = _solve(res, s, inflow, dt)
            # backward Euler recurrence: (h' - h)/dt * A = I - C (h' - hc)
            h_disc = (h_disc + dt * (inflow + C * hc) / AREA) / (1 + C * dt / AREA)
            assert spill == pytest.approx(C * (s / AREA - hc) * dt, abs=1e-15 * s * 10)
        np.testing.assert_allclose(s / AREA, h_disc, rtol=1e-12)
        t = dt * steps
        h_exact = h_eq + (h0 - h_eq) * np.exp(-C * t / AREA)
        tol = 4e-3 if dt > 100 else 1e-4  # first order in dt (error ~ C dt / 2A)
        assert abs(s / AREA - h_exact) / abs(h0 - h_eq) < tol


def test_weir_recession_matches_analytic_solution():
    """No inflow, O = C L (h - h_c)^1.5: (h - h_c)^-1/2 = (h0 - h_c)^-1/2 + C L t / (2 A)."""
    res = _prismatic(crest=1.0, coef=1.7, length=20.0, expo=1.5)
    h0, dt = 3.0, 10.0
    s = AREA * h0
    for _ in range(3600):
        s, _, _ = _solve(res, s, 0.0, dt)
    t = 3600 * dt
    head = ((h0 - 1.0) ** -0.5 + 1.7 * 20.0 * t / (2 * AREA)) ** -2
    assert (s / AREA - 1.0) == pytest.approx(head, rel=2e-3)


def test_below_crest_no_spill_and_losses_limited_to_dead_storage(make_row):
    net, z = make_row(10, 100.0, 0.01)
    lv = [10.0, 12.0, 20.0]
    st = [1.0e4, 1.0e5, 1.0e6]
    res = Reservoir("r", *net.xy(9), lv, st, [1e4, 5e4, 1e5], crest_level_m=15.0, initial_level_m=11.0,
                    abstraction_m3s=1000.0, release_m3s=1000.0)
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, reservoirs=[res], channel_mask=np.ones((1, 10), bool))
    s0 = rn.reservoir_storage_m3[0]
    assert s0 == pytest.approx(5.5e4)
    out = rn.step(np.zeros(10), reservoir_abstraction_m3s=np.array([1000.0]))
    # abstraction first, limited to the water above dead storage; nothing left for the release
    assert out["reservoir_abstraction_m3"] == pytest.approx(s0 - 1.0e4)
    assert rn.reservoir_storage_m3[0] == pytest.approx(1.0e4)
    assert out["outflow_m3"] == pytest.approx(0.0)


def test_reservoir_on_network_passes_steady_inflow_and_stores_nothing_more(make_row):
    n, dx = 20, 100.0
    net, z = make_row(n, dx, 0.005)
    lv = np.array([0.0, 10.0])
    res = Reservoir("dam", *net.xy(n - 5), lv, 1e5 * lv, [1e5, 1e5], crest_level_m=5.0, spillway_coef=1.7,
                    spillway_length_m=5.0)
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, reservoirs=[res], channel_mask=np.ones((1, n), bool))
    lat = np.full(n, 0.01)
    for _ in range(2000):
        out = rn.step(lat)
    np.testing.assert_allclose(out["q_mean"][-1], 0.01 * n, rtol=1e-9)
    # level at steady state: Q = C L (h - hc)^1.5 with Q = inflow to the dam
    q_dam = 0.01 * (n - 4)
    h = rn.reservoir_levels_m()[0]
    assert h == pytest.approx(5.0 + (q_dam / (1.7 * 5.0)) ** (2 / 3), rel=1e-8)


def test_reservoir_table_validation():
    with pytest.raises(ConfigError, match="increase"):
        Reservoir("bad", 0, 0, [1.0, 1.0], [0.0, 1.0], [1.0, 1.0], crest_level_m=1.0)
    with pytest.raises(ConfigError, match="crest"):
        Reservoir("bad", 0, 0, [1.0, 2.0], [0.0, 1.0], [1.0, 1.0], crest_level_m=3.0)


def test_inflow_from_neighbour_netcdf_enters_the_network(tmp_path, make_row):
    from hydro.io import timeseries_dataset, write_netcdf

    n, dx = 30, 50.0
    net, z = make_row(n, dx, 0.002)
    x0, y0 = (float(v) for v in net.xy(0))
    times = pd.date_range("2026-01-01", periods=49, freq="h")
    q = 2.0 + np.sin(np.arange(49) / 5.0)
    ds = timeseries_dataset({"discharge": q[None]}, ids=["border-1"], time=times, lat=[-1.2], lon=[116.9],
                            instance_variables={"x": [x0], "y": [y0]},
                            attrs={"x": {"long_name": "x", "units": "m"}, "y": {"long_name": "y", "units": "m"}})
    path = write_netcdf(ds, tmp_path / "neighbour_border_discharge.nc", title="border discharge")
    inflow = Inflow.from_netcdf(path, "border-1")
    assert inflow.x == x0 and "border-1" in inflow.source
    np.testing.assert_allclose(inflow.discharge_m3s.values, q, rtol=1e-6)  # float32 on disk
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, inflows=[inflow], channel_mask=np.ones((1, n), bool))
    starts = pd.date_range("2026-01-01", periods=48, freq="h")
    vals = series_step_values(inflow.discharge_m3s, starts, pd.Timedelta("1h"), what="inflow")
    np.testing.assert_allclose(vals, 0.5 * (inflow.discharge_m3s.values[:-1] + inflow.discharge_m3s.values[1:]))
    total_in = total_out = 0.0
    s0 = rn.reach_storage_m3()
    for v in vals:
        bnd = np.zeros(n)
        bnd[rn.inflow_pos[0]] = v
        total_in += v * 3600.0
        total_out += rn.step(np.zeros(n), bnd)["outflow_m3"]
    assert abs(total_in - total_out - (rn.reach_storage_m3() - s0)) < 1e-9 * total_in
    with pytest.raises(InputMissingError, match="nowhere"):
        Inflow.from_netcdf(path, "nowhere")
    litres = timeseries_dataset({"discharge": q[None] * 1000}, ids=["border-1"], time=times, lat=[-1.2], lon=[116.9],
                                attrs={"discharge": {"units": "l s-1"}})
    lpath = write_netcdf(litres, tmp_path / "litres.nc")
    # l s-1 converted to m3 s-1
    np.testing.assert_allclose(Inflow.from_netcdf(lpath, "border-1", x0, y0).discharge_m3s.values, q, rtol=1e-6)
    with pytest.raises(InputDataError, match="covers"):
        series_step_values(inflow.discharge_m3s, starts + pd.Timedelta("2D"), pd.Timedelta("1h"), what=str(path))
    with pytest.raises(InputDataError, match="sorted"):
        series_step_values(inflow.discharge_m3s.iloc[::-1], starts, pd.Timedelta("1h"), what=str(path))

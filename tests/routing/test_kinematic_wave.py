"""Kinematic wave against analytic solutions, steady state, and volume conservation (property)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydro.errors import InputDataError
from hydro.routing import Inflow, RoutingNetwork, RoutingParameters, _kernels as k, route


def _uniform(make_row, n=100, dx=20.0, slope=0.002, dt=300.0, sub=30.0):
    net, z = make_row(n, dx, slope)
    p = RoutingParameters(width_exp=0.0, depth_exp=0.0, width_coef=3.0, depth_coef=0.4,
                          manning_n_channel=0.03, channel_substep_s=sub)
    rn = RoutingNetwork.build(net, z, p, dt, channel_mask=np.ones((1, n), bool))
    return rn, p


def test_geometry_and_alpha_follow_the_power_laws(make_row):
    rn, p = _uniform(make_row)
    # alpha = (n P^(2/3) / sqrt(S))^beta with P = W + D (half-bankfull perimeter)
    expected = (0.03 * (3.0 + 0.4) ** (2 / 3) / np.sqrt(0.002)) ** 0.6
    np.testing.assert_allclose(rn.alpha, expected, rtol=1e-12)
    w, d = k.channel_geometry(np.array([1.0, 16.0]), 2.0, 0.5, 0.3, 0.25)
    np.testing.assert_allclose(w, [2.0, 8.0])
    np.testing.assert_allclose(d, [0.3, 0.6])
    # per-reach survey overrides where finite
    net, z = make_row(100, 20.0, 0.002)
    width = np.full((1, 100), np.nan)
    width[0, 10] = 7.0
    rn2 = RoutingNetwork.build(net, z, p, 300.0, channel_mask=np.ones((1, 100), bool), channel_width_m=width)
    assert rn2.width_m[10] == 7.0 and rn2.width_m[11] == 3.0
    np.testing.assert_allclose(rn2.alpha[10], (0.03 * (7.0 + 0.4) ** (2 / 3) / np.sqrt(0.002)) ** 0.6, rtol=1e-12)


def test_equilibrium_discharge_is_lateral_inflow_times_length(make_row):
    n, dx = 100, 20.0
    rn, _ = _uniform(make_row, n=n, dx=dx)
    q_lat = 2e-4  # m2 s-1 per metre of channel
    lat = np.full(n, q_lat * dx)
    for _ in range(400):
        res = rn.step(lat)
    assert res["nonconverged"] == 0
    # Q(x) = q_lat * x at every cell (x = downstream end of the cell)
    np.testing.assert_allclose(res["q_mean"], q_lat * dx * np.arange(1, n + 1), rtol=1e-10)
    np.testing.assert_allclose(res["q_mean"][-1], q_lat * n * dx, rtol=1e-12)


def test_rising_limb_and_time_to_equilibrium_match_kinematic_theory(make_row):
    """Chow et al. (1988) §9.6: rain on a kinematic plane from t = 0 on a dry channel.

    Along the characteristic from the top A = q t, so the outlet discharge is (q t/α)^(1/β)
    until the equilibrium time t_e = α (qL)^β / q, then q L.
    """
    n, dx, dt = 200, 10.0, 60.0
    rn, p = _uniform(make_row, n=n, dx=dx, dt=dt, sub=10.0)
    q_lat = 1e-4
    L = n * dx
    alpha = rn.alpha[0]
    t_e = alpha * (q_lat * L) ** p.beta / q_lat
    nsteps = int(2.0 * t_e / dt)
    q_out = np.array([rn.step(np.full(n, q_lat * dx))["q_mean"][-1] for _ in range(nsteps)])
    t_end = dt * np.arange(1, nsteps + 1) - dt / 2  # step-mean ~ value at mid-step
    analytic = np.where(t_end < t_e, (q_lat * np.maximum(t_end, 0) / alpha) ** (1 / p.beta), q_lat * L)
    # rising limb well before t_e: within 1.5 % (numerical diffusion of the implicit scheme)
    sel = (t_end > 0.3 * t_e) & (t_end < 0.8 * t_e)
    np.testing.assert_allclose(q_out[sel], analytic[sel], rtol=0.015)
    # time to reach 50 % and 95 % of the equilibrium discharge: within 3 % of the kinematic values
    t50 = t_end[np.argmax(q_out >= 0.5 * q_lat * L)]
    t50_exact = alpha * (0.5 * q_lat * L) ** p.beta / q_lat
    assert abs(t50 - t50_exact) / t50_exact < 0.03
    t95 = t_end[np.argmax(q_out >= 0.95 * q_lat * L)]
    assert abs(t95 - t_e) / t_e < 0.03
    np.testing.assert_allclose(q_out[-1], q_lat * L, rtol=1e-6)


def test_wave_travel_time_equals_kinematic_shock_speed(make_row):
    """A step of boundary inflow Q0 -> Q1 travels at (Q1 - Q0)/(A1 - A0) (kinematic shock)."""
    n, dx, dt = 300, 20.0, 30.0
    net, z = make_row(n, dx, 0.001)
    p = RoutingParameters(width_exp=0.0, depth_exp=0.0, channel_substep_s=10.0)
    times = pd.date_range("2026-01-01", periods=3, freq="10D")
    q0, q1 = 1.0, 5.0
    series = pd.Series([q0, q1, q1], index=times)
    # first bring the reach to steady q0, then raise it to q1
    rn = RoutingNetwork.build(net, z, p, dt, channel_mask=np.ones((1, n), bool),
                              inflows=[Inflow("up", *net.xy(0), series)])
    bnd0 = np.zeros(n)
    bnd0[rn.inflow_pos[0]] = q0
    for _ in range(3000):
        rn.step(np.zeros(n), bnd0)
    np.testing.assert_allclose(rn.q, q0, rtol=1e-9)
    bnd1 = np.zeros(n)
    bnd1[rn.inflow_pos[0]] = q1
    alpha = rn.alpha[0]
    speed = (q1 - q0) / (alpha * q1**p.beta - alpha * q0**p.beta)
    X = (n - 1) * dx  # from the downstream end of the first cell to the downstream end of the last
    t_arrive = X / speed
    out = []
    for _ in range(int(2 * t_arrive / dt)):
        out.append(rn.step(np.zeros(n), bnd1)["q_mean"][-1])
    out = np.array(out)
    t_half = dt * (np.argmax(out >= 0.5 * (q0 + q1)) + 0.5)
    assert abs(t_half - t_arrive) / t_arrive < 0.03
    np.testing.assert_allclose(out[-1], q1, rtol=1e-6)


def test_steady_state_is_upstream_area_times_runoff_rate(small_terrain):
    times = pd.date_range("2026-01-01 01:00", periods=240, freq="h")
    rate_mm = 2.0  # mm per hour everywhere
    valid = small_terrain["flow_direction"].values != 255
    runoff = np.where(valid, rate_mm, np.nan)[None].repeat(len(times), 0)
    import xarray as xr

    da = xr.DataArray(runoff, dims=("time", "y", "x"),
                      coords={"time": times, "y": small_terrain.y.values, "x": small_terrain.x.values}, name="runoff")
    out = route(da, small_terrain, RoutingParameters(channel_threshold_m2=2e6))
    q = out["discharge"].isel(time=-1).values.astype(np.float64)
    from hydro.terrain import flow_network

    net = flow_network(small_terrain["flow_direction"])
    expected = (net.upstream_area_m2() * rate_mm / 1000.0 / 3600.0).reshape(net.shape)
    np.testing.assert_allclose(q[valid], expected[valid], rtol=2e-6)  # float32 output
    # the per-step volume balance of the routing closes
    bal = out["inflow_volume"] - out["outflow_volume"] - out["storage_change"]
    assert float(np.max(np.abs(bal) / out["inflow_volume"])) < 1e-9


@st.composite
def random_trees(draw):
    n = draw(st.integers(2, 60))
    ds = np.array([draw(st.integers(p + 1, n)) if p < n - 1 else n for p in range(n)], np.int64)
    ds[ds == n] = -1
    # some extra outlets
    outlets = draw(st.lists(st.integers(0, n - 1), max_size=3))
    ds[outlets] = -1
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # overland (coarse) sub-steps: the model takes ceil(dt / overland_substep_s) of them (a daily model: 24), the
    # fine cells n_sub, a multiple of them; 1 is the plain `route_step`
    n_sub_coarse = draw(st.integers(1, 3))
    return ds, rng, n_sub_coarse * draw(st.integers(1, 3)), draw(st.booleans()), n_sub_coarse


@settings(max_examples=60, deadline=None)
@given(random_trees())
def test_volume_is_conserved_on_random_trees(tree):
    """Σ inflow − Σ outflow = Δ storage for every step (≤ 1e-9 relative), reservoirs and overland sub-steps
    included."""
    ds, rng, n_sub, with_res, n_sub_coarse = tree
    n = ds.size
    alpha = rng.uniform(0.2, 20.0, n)
    length = rng.uniform(10.0, 500.0, n)
    fine = rng.random(n) < 0.3
    res_pos_of = np.full(n, -1, np.int64)
    nres = 0
    if with_res:
        p = int(rng.integers(0, n))
        res_pos_of[p] = 0
        fine[p] = True
        nres = 1
    k.propagate_downstream(ds, fine)
    fine_pos = np.flatnonzero(fine).astype(np.int64)
    lt = np.array([0.0, 5.0, 10.0])
    stt = np.array([0.0, 5e4, 2e5])
    res_state = np.array([3e4])[:nres].copy()
    beta = 0.6
    q = rng.uniform(0, 3, n)
    q[res_pos_of >= 0] = 0.0
    vol = np.where(res_pos_of < 0, alpha * length * q**beta, 0.0)
    dt = 3600.0
    for _ in range(5):
        lat = rng.uniform(0, 2, n) * (rng.random(n) < 0.7)
        bnd = np.where(rng.random(n) < 0.1, rng.uniform(0, 5, n), 0.0)
        ev = np.array([rng.uniform(0, 2e3)])[:nres]
        ab = np.array([rng.uniform(0, 2.0)])[:nres]
        rel = np.array([rng.uniform(0, 1.0)])[:nres]
        s0 = vol.sum() + res_state.sum()
        q_mean, q_max, out, res_out = np.empty(n), np.empty(n), np.zeros(4), np.zeros((nres, 4))
        k.route_step_sub(dt, n_sub, n_sub_coarse, ds, fine_pos, fine, alpha, length, 1 / beta, q, vol, lat, bnd,
                         res_pos_of, res_state, lt, stt, np.zeros(nres, np.int64), np.full(nres, 3, np.int64),
                         np.full(nres, 5.0), np.full(nres, 17.0), np.full(nres, 1.5), ev, ab, rel, q_mean, q_max, out,
                         res_out)
        s1 = vol.sum() + res_state.sum()
        # the volume state stays on the rating curve V = α L Q^β (to the Halley tolerance)
        kw = res_pos_of < 0
        np.testing.assert_allclose(vol[kw], alpha[kw] * length[kw] * q[kw] ** beta, rtol=1e-9, atol=1e-9)
        vin = (lat.sum() + bnd.sum()) * dt
        vout = out[0] + out[1] + out[2]
        assert out[3] == 0
        assert np.all(q >= 0) and np.all(q_max >= q_mean - 1e-12 * (1 + q_mean))
        scale = max(vin, vout, s0, 1.0)
        assert abs(vin - vout - (s1 - s0)) <= 1e-9 * scale


def test_halley_solves_the_implicit_equation_to_round_off():
    for rhs, a, u0 in [(1.0, 1.0, 0.0), (1e-9, 50.0, 0.0), (1e4, 1e-3, 3.0), (2.0, 1e3, 1e-6), (5.0, 0.2, 100.0)]:
        un, it = k.kinematic_newton(rhs, a, u0, 1 / 0.6)
        assert 0 < it <= 8
        assert abs(un ** (1 / 0.6) + a * un - rhs) <= 1e-13 * rhs
    assert k.kinematic_newton(0.0, 1.0, 1.0, 1 / 0.6) == (0.0, 0)
    # one reach: V_new + dt Q_new = V_old + dt inflow exactly (to round-off)
    q, v, it = k.kinematic_cell(3.0, 500.0, 40.0, 60.0, 1 / 0.6)
    assert v + 60.0 * q == pytest.approx(500.0 + 60.0 * 3.0, rel=1e-15)
    assert v == pytest.approx(40.0 * q**0.6, rel=1e-12)


def test_route_rejects_irregular_times(small_terrain):
    import xarray as xr

    times = pd.DatetimeIndex(["2026-01-01 01:00", "2026-01-01 02:00", "2026-01-01 04:00"])
    ny, nx = small_terrain.sizes["y"], small_terrain.sizes["x"]
    da = xr.DataArray(np.zeros((3, ny, nx)), dims=("time", "y", "x"), coords={"time": times}, name="runoff")
    with pytest.raises(InputDataError, match="regular"):
        route(da, small_terrain)

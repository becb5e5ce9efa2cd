"""Differential review of kinematic-wave routing (rev23_route): defects found against an independent reference.

1. The Halley solve of the implicit reach equation gave up (60 iterations) far from the root for small accepted
   ``beta`` (RoutingParameters allows 0 < beta < 1): the reach volume ended 3x to 1e3x off the rating curve.
2. Per-cell routing maps (manning_multiplier, channel_width_m/depth_m, channel_mask) of shape (x, y) were accepted
   when their size matched and raveled onto other cells.
"""
from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from hydro.errors import InputDataError
from hydro.io.raster import from_array
from hydro.routing import RoutingNetwork, RoutingParameters
from hydro.routing import _kernels as k
from hydro.terrain import flow_network


@pytest.mark.parametrize("v_old", [0.0, 1e-6])
def test_small_beta_reach_solve_converges_to_the_hand_root(v_old):
    """beta = 0.1 (accepted by RoutingParameters): Q + a Q^beta = rhs with a = alpha L / dt.

    alpha L = 1.0 (SI), dt = 1000 s -> a = 1e-3. Choose the root Q = 1024 = 2^10, so
    u = Q^0.1 = 2 and rhs = 1024 + 1e-3 * 2 = 1024.002 = inflow + V_old/dt. V_new = alpha L u = 2 m3.
    The original code started Halley at u = rhs/a = 1.024e6 (5e5 x the root; each iteration shrinks u by only
    (1 - beta)/(1 + beta) = 9/11 there) or, from V_old = 1e-6, below the root with an overshoot to the same place,
    and returned after 60 iterations flagged non-converged with V = 6.04 (7.39) m3 instead of 2."""
    RoutingParameters(beta=0.1)  # a valid configuration
    dt, alpha_l, beta = 1000.0, 1.0, 0.1
    inflow = 1024.002 - v_old / dt
    q, v, it = k.kinematic_cell(inflow, v_old, alpha_l, dt, 1.0 / beta)
    assert it <= k.NEWTON_MAXITER
    assert v == pytest.approx(2.0, rel=1e-9)
    assert q == pytest.approx(1024.0, rel=1e-9)
    # the balance V_new + dt Q_new = V_old + dt inflow still holds to round-off
    assert v + dt * q == pytest.approx(v_old + dt * inflow, rel=1e-14)


def test_small_beta_chain_matches_the_discrete_equations():
    """Three reaches in a chain, beta = 0.1, dt = 3600 s, one sub-step, empty at the start, inflow 8 m3 s-1 at
    the top only. Per reach the discrete equation is Q + a Q^0.1 = Q_up with a = alpha L / dt = 0.036/3600 = 1e-5:
    Q = 8 - 1e-5 * 8^0.1 = 8 (to 2e-6 relative) in every reach, and the volumes are
    alpha L Q^0.1 = 0.036 * 8^0.1 = 0.036 * 2^0.3 = 0.04432 m3 (2^0.3 = 1.2311).
    The original solver flagged all three solves non-converged and left the volumes at 0.170 m3 (3.8 x)."""
    n = 3
    ds = np.array([1, 2, -1], np.int64)
    alpha = np.full(n, 0.036 / 100.0)
    length = np.full(n, 100.0)
    fine = np.ones(n, bool)
    q = np.zeros(n)
    vol = np.zeros(n)
    lat = np.zeros(n)
    bnd = np.array([8.0, 0.0, 0.0])
    qm, qx, out, ro = np.empty(n), np.empty(n), np.zeros(4), np.zeros((0, 4))
    k.route_step_sub(3600.0, 1, 1, ds, np.arange(n, dtype=np.int64), fine, alpha, length, 1 / 0.1, q, vol, lat, bnd,
                     np.full(n, -1, np.int64), np.zeros(0), np.zeros(1), np.zeros(1), np.zeros(0, np.int64),
                     np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0),
                     np.zeros(0), qm, qx, out, ro)
    assert out[3] == 0  # every solve converged
    np.testing.assert_allclose(vol, 0.036 * 2 ** 0.3, rtol=1e-5)
    np.testing.assert_allclose(q, 8.0, rtol=1e-5)


def _grid_2x3():
    """2 rows x 3 columns of 100 m draining east to outlets in the last column."""
    fd = np.array([[1, 1, 0], [1, 1, 0]], np.uint8)
    fdir = from_array(fd, Affine(100.0, 0, 500_000.0, 0, -100.0, 9_850_000.0), "EPSG:32750", name="flow_direction")
    z = np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    return flow_network(fdir), z


@pytest.mark.parametrize("key", ["manning_multiplier", "channel_width_m", "channel_depth_m", "channel_mask"])
def test_a_map_in_x_y_order_is_refused_not_raveled_onto_other_cells(key):
    """A (3, 2) = (x, y) array on the (2, 3) grid has the right size: it was raveled in the wrong order and its values
    went to other cells (the (1, 0) element of the (x, y) array, meant for x=1, y=0, landed on cell y=0, x=2)."""
    net, z = _grid_2x3()
    p = RoutingParameters(channel_threshold_m2=1.0)
    value = np.ones((3, 2), bool) if key == "channel_mask" else np.full((3, 2), 2.0)
    with pytest.raises(InputDataError, match=key):
        RoutingNetwork.build(net, z, p, 3600.0, **{key: value})
    # (y, x) and flat (y, x) maps are accepted and go to their cells
    m = np.ones((2, 3))
    m[0, 1] = 10.0
    for given in (m, m.ravel()):
        rn = RoutingNetwork.build(net, z, p, 3600.0, manning_multiplier=given)
        base = RoutingNetwork.build(net, z, p, 3600.0)
        ratio = rn.to_grid(rn.alpha / base.alpha).reshape(2, 3)
        expected = np.ones((2, 3))
        expected[0, 1] = 10.0 ** 0.6  # alpha scales as n^beta
        np.testing.assert_allclose(ratio, expected, rtol=1e-12)

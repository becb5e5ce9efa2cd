"""Daily steps: the overland cells must be sub-stepped like the channel cells (fix_1)."""
import numpy as np
from affine import Affine

from hydro.io.raster import from_array
from hydro.routing import RoutingNetwork, RoutingParameters
from hydro.terrain import flow_network


def _daily_means(dt, n=40, n_overland=30, dx=100.0, slope=0.01, days=4):
    fd = np.full((1, n), 1, np.uint8)
    fd[0, -1] = 0
    net = flow_network(from_array(fd, Affine(dx, 0, 500_000.0, 0, -dx, 9_850_000.0), "EPSG:32750"))
    z = (slope * dx * (n - np.arange(n))).reshape(1, n)
    mask = np.zeros((1, n), bool)
    mask[0, n_overland:] = True
    rn = RoutingNetwork.build(net, z, RoutingParameters(), dt, channel_mask=mask)
    per_day = int(round(86400 / dt))
    out = []
    for k in range(days * per_day):
        mm = 40.0 / per_day if k < per_day else 0.0  # 40 mm of runoff on day 1
        out.append(rn.step(np.full(n, mm * dx * dx / (1000.0 * dt)))["q_mean"][-1])
    return np.array(out).reshape(days, per_day).mean(axis=1)


def test_daily_step_matches_short_steps_on_overland_cells():
    ref = _daily_means(900.0)
    hourly = _daily_means(3600.0)
    daily = _daily_means(86400.0)
    # the daily model must keep the timing of the day's runoff: the daily means of the discharge of a daily run are
    # those of an hourly run (overland sub-steps of 3600 s, the default), and close to 15-min steps on the flood days
    np.testing.assert_allclose(daily, hourly, rtol=1e-9)
    np.testing.assert_allclose(daily[:2], ref[:2], rtol=0.03)
    assert RoutingParameters().hash() == RoutingParameters(overland_substep_s=3600.0).hash()

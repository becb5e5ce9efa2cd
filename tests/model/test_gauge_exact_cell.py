"""Gauges with ``snap_to_stream=False``: the hydrograph of the cell containing the point (e.g. the cells whose outflow
crosses into a 2-D flood domain), overland cells included; snapping settings cannot be combined with it."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.errors import ConfigError
from hydro.model import CatchmentModel, Gauge, RoutingParameters
from hydro.terrain import flow_network


def test_exact_cell_gauge_is_not_moved_to_the_channel(terrain, runoff_impl):
    from scipy.ndimage import binary_dilation

    net = flow_network(terrain["flow_direction"])
    st2 = np.asarray(terrain["streams"].values) > 0
    valid2 = np.isfinite(np.asarray(terrain["filled_elevation"].values))
    # an overland cell next to a channel cell: the default gauge snaps onto the channel, the exact one stays
    near = binary_dilation(st2, structure=np.ones((3, 3), bool)) & ~st2 & valid2
    i = int(np.flatnonzero(near.ravel())[0])
    streams = st2.ravel()
    x, y = (float(v) for v in net.xy(i))
    params = runoff_impl.params()
    snapped = CatchmentModel(terrain, params, RoutingParameters(channel_threshold_m2=3e6), gauges=[Gauge("g", x, y)],
                             runoff_model=runoff_impl.model)
    exact = CatchmentModel(terrain, params, RoutingParameters(channel_threshold_m2=3e6),
                           gauges=[Gauge("g", x, y, snap_to_stream=False)], runoff_model=runoff_impl.model)
    cell_of = lambda m: int(m.routing.order[m.gauge_pos[0]])  # noqa: E731
    assert cell_of(exact) == i
    assert cell_of(snapped) != i and streams[cell_of(snapped)]
    with pytest.raises(ConfigError, match="snap_to_stream"):
        CatchmentModel(terrain, params, RoutingParameters(channel_threshold_m2=3e6),
                       gauges=[Gauge("g", x, y, snap_to_stream=False, upstream_area_km2=5.0)], runoff_model=runoff_impl.model)

"""Gauges near a confluence: with the published catchment area the gauge snaps to the main stem, not to the nearer
tributary cell (found on Big Tujunga: 53 of 3200 points 27 m off the main stem snapped to a tributary holding under
10 % of the area)."""
from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from hydro.errors import InputDataError
from hydro.io.raster import from_array
from hydro.terrain import flow_network

CRS = "EPSG:32750"


def _confluence():
    """5 x 6 cells of 100 m: a main stem along row 2 flowing east (fed by 12 hillslope cells) and a one-cell tributary
    entering it from the north at column 3."""
    E, S, N = 1, 4, 64
    fd = np.array([[S, S, S, S, S, S],
                   [S, S, S, S, S, S],
                   [E, E, E, E, E, 0],
                   [N, N, N, N, N, N],
                   [N, N, N, N, N, N]], np.uint8)
    # the tributary: cells (0, 3) and (1, 3) drain south into (2, 3); make (1, 3) a channel too by the mask below
    tr = Affine(100.0, 0, 500_000.0, 0, -100.0, 9_850_000.0)
    net = flow_network(from_array(fd, tr, CRS, name="flow_direction"))
    streams = np.zeros((5, 6), bool)
    streams[2, :] = True
    streams[1, 3] = True
    return net, streams


def test_expected_area_picks_the_main_stem_over_the_nearer_tributary():
    net, streams = _confluence()
    up = net.upstream_area_m2().reshape(net.shape)
    # a point 10 m south of the tributary cell (1, 3), 90 m north of the main-stem cell (2, 3)
    x, y = 500_350.0, 9_850_000.0 - 160.0
    nearest = int(net.snap([(x, y)], 150.0, streams=streams)[0])
    assert divmod(nearest, 6) == (1, 3)  # the tributary (20 000 m2)
    main = int(net.snap([(x, y)], 150.0, streams=streams, expected_area_m2=float(up[2, 3]) * 1.1)[0])
    assert divmod(main, 6) == (2, 3) and up[2, 3] > 5 * up[1, 3]
    # a small expected area keeps the tributary; per-point values, None = nearest
    both = net.snap([(x, y), (x, y)], 150.0, streams=streams, expected_area_m2=[2.0e4, None])
    assert [divmod(int(c), 6) for c in both] == [(1, 3), (1, 3)]
    with pytest.raises(InputDataError, match="positive area"):
        net.snap([(x, y)], 150.0, streams=streams, expected_area_m2=-1.0)


def test_reservoir_and_inflow_snap_by_their_catchment_area_too():
    # the dam and a river entry point 10 m from the one-cell tributary: with their published catchment area they
    # sit on the main stem (before: only gauges took upstream_area_km2; a dam on the tributary stored nothing)
    import pandas as pd

    from hydro.errors import ConfigError
    from hydro.routing import Inflow, Reservoir, RoutingNetwork, RoutingParameters

    net, streams = _confluence()
    up = net.upstream_area_m2().reshape(net.shape)
    z = from_array(np.tile(np.linspace(20.0, 10.0, 6), (5, 1)).astype(np.float32),
                   Affine(100.0, 0, 500_000.0, 0, -100.0, 9_850_000.0), CRS)
    x, y = 500_350.0, 9_850_000.0 - 160.0
    lv = np.array([0.0, 10.0])

    def dam(**kw):
        return Reservoir("dam", x, y, lv, 1e5 * lv, [1e5, 1e5], crest_level_m=5.0, max_snap_distance_m=150.0, **kw)

    def river(**kw):
        q = pd.Series([1.0, 1.0], index=pd.to_datetime(["2024-01-01", "2024-01-02"]))
        return Inflow("river", x, y, q, **{"max_snap_distance_m": 150.0, **kw})

    def cells(rn):
        order = np.asarray(rn.order)
        return (divmod(int(order[rn.reservoir_pos[0]]), 6) if len(rn.reservoir_pos) else None,
                divmod(int(order[rn.inflow_pos[0]]), 6) if len(rn.inflow_pos) else None)

    kw = dict(channel_mask=streams)
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, reservoirs=[dam()], **kw)
    assert cells(rn)[0] == (1, 3)  # nearest: the tributary
    area_km2 = float(up[2, 3]) / 1e6
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, reservoirs=[dam(upstream_area_km2=area_km2)],
                              inflows=[river(upstream_area_km2=area_km2)], **kw)
    assert cells(rn) == ((2, 3), (2, 3))
    with pytest.raises(ConfigError, match="upstream_area_km2"):
        dam(upstream_area_km2=0.0)
    with pytest.raises(ConfigError, match="max_snap_distance_m"):
        river(max_snap_distance_m=float("nan"))

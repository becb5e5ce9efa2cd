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

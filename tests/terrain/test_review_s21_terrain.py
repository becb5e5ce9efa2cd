"""Review (terrain products): grid alignment of auxiliary grids, inclusive stream threshold at float32 precision."""
from __future__ import annotations

import numpy as np
import pytest

import hydro.terrain as T
from hydro.errors import InputDataError

from .helpers import grid


def _valley():
    # 7 x 7 V valley, 10 m cells, draining south to (6, 3); z = 10 + |c - 3| + (6 - r)
    z = np.array([[10 + abs(c - 3) + (6 - r) for c in range(7)] for r in range(7)], float)
    return T.analyse(grid(z), stream_threshold_m2=300)


def test_south_up_stream_mask_is_refused_not_read_upside_down():
    ds = _valley()
    flipped = ds.streams.sortby("y")  # the same cells stored south to north (as in many NetCDF files)
    # the right answers, from the mask in north-up order: (5, 0) at 14 m drains SE to stream cell (6, 1) at 12 m
    assert float(T.hand(ds.filled_elevation, ds.flow_direction, ds.streams)[5, 0]) == 2.0
    assert int(T.strahler_order(ds.flow_direction, ds.streams)[6, 1]) == 1
    cat = T.catchments(ds.flow_direction, [(500035.0, 9850005.0)], stream_mask=ds.streams, snap_distance_m=15,
                       like=ds.flow_direction)
    assert float(cat.attrs["outlet_y"][0]) == 9850005.0
    # read row-major, the flipped mask gave HAND 4.0, order 0 and an outlet snapped 10 m north
    with pytest.raises(InputDataError, match="not on the grid"):
        T.hand(ds.filled_elevation, ds.flow_direction, flipped)
    with pytest.raises(InputDataError, match="not on the grid"):
        T.strahler_order(ds.flow_direction, flipped)
    with pytest.raises(InputDataError, match="not on the grid"):
        T.catchments(ds.flow_direction, [(500035.0, 9850005.0)], stream_mask=flipped, snap_distance_m=15,
                     like=ds.flow_direction)
    net = T.flow_network(ds.flow_direction)
    with pytest.raises(InputDataError, match="not on the grid"):
        net.snap([(500035.0, 9850005.0)], 15.0, flipped)


def test_transposed_square_weights_are_refused():
    ds = _valley()
    w = ds.elevation * 0.0
    w[1, 0] = 100.0  # 100 m3 on (1, 0), which drains SE to (2, 1)
    assert float(T.flow_accumulation(ds.flow_direction, w)[2, 1]) == 100.0
    with pytest.raises(InputDataError, match="not in \\(y, x\\) order"):  # gave 0.0 at (2, 1)
        T.flow_accumulation(ds.flow_direction, w.transpose("x", "y"))


def test_like_template_of_another_grid_is_refused():
    ds = _valley()
    net = T.flow_network(ds.flow_direction)
    other = ds.flow_direction.assign_coords(x=ds.x + 1000.0)  # same shape, 1 km east: a wrong georeference
    assert float(T.upstream_area(net, like=ds.flow_direction)[6, 3]) == 4900.0
    with pytest.raises(InputDataError, match="not on the grid"):
        T.upstream_area(net, like=other)
    with pytest.raises(InputDataError, match="not on the grid"):
        T.catchments(net, [(500035.0, 9850005.0)], like=other)


def test_cell_draining_exactly_the_threshold_area_is_a_stream():
    # every row drains east into a channel in the last column running south: the channel cell of row r drains
    # 10 * (r + 1) cells; with 25.4 m cells (645.16 m2) row 9 drains exactly 100 cells = 64516 m2
    cell = 25.4
    r, c = np.mgrid[0:12, 0:10]
    z = 100.0 - r + 10.0 * (9 - c)
    for threshold in (100 * cell * cell, 0.064516 * 1e6):  # in m2, and as the CLI computes it from km2
        ds = T.analyse(grid(z, cell=cell), stream_threshold_m2=threshold)
        assert float(ds.accumulation[9, 9]) == 100.0
        assert float(ds.upstream_area[9, 9]) == np.float32(64516.0)  # was 64515.996 (float32 x float32)
        assert int(ds.streams[9, 9]) == 1  # "at least the threshold": was 0
        assert int(ds.streams[8, 9]) == 0  # 90 cells
        assert ds.streams.values[:, 9].tolist() == [0] * 9 + [1, 1, 1]

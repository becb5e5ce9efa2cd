"""Hand-made DEMs with answers derived by hand."""
from __future__ import annotations

import numpy as np
import pytest

import hydro.terrain as T
from tests.terrain.helpers import follow, grid


def test_v_valley_drains_to_channel_then_outlet():
    # V-valley: channel along column 4 falling south 1 m per row; side slopes 2 m per column
    ny, nx = 12, 9
    r, c = np.mgrid[0:ny, 0:nx]
    z = 100.0 - r * 1.0 + np.abs(c - 4) * 2.0
    dem = grid(z)
    filled = T.fill_depressions(dem)
    assert filled.attrs["cells_raised"] == 0
    np.testing.assert_array_equal(filled.values, dem.values)
    fdir = T.flow_direction(filled).values
    # hand-derived: side cells one column off the channel drain diagonally (slope
    # (2+1)/(10*sqrt2) = 0.212 > 2/10 = 0.2 to the side, > 1/10 straight south)
    assert fdir[3, 3] == 2  # SE
    assert fdir[3, 5] == 8  # SW
    assert fdir[5, 4] == 4  # channel goes south
    # far side cells: west side slope 2/10 = 0.2 east vs diagonal 3/14.14 = 0.212 -> SE
    assert fdir[2, 0] == 2
    # everything ends at the channel outlet at the south edge
    acc = T.flow_accumulation(T.flow_direction(filled)).values
    assert acc[ny - 1, 4] >= ny  # the channel carries at least its own column
    for rr in range(ny - 1):
        for cc in range(nx):
            end = follow(fdir, rr, cc)[-1]
            assert end[0] == ny - 1 or end[1] in (0, nx - 1)
    up = T.upstream_area(T.flow_direction(filled)).values
    np.testing.assert_allclose(up, acc * 100.0)


def test_single_pit_is_filled_to_its_spill_level():
    z = np.array(
        [
            [9, 9, 9, 9, 9],
            [9, 5, 5, 5, 9],
            [9, 5, 1, 5, 9],
            [9, 5, 5, 5, 4],
            [9, 9, 9, 9, 9],
        ],
        float,
    )
    filled = T.fill_depressions(grid(z)).values
    expected = z.copy()
    expected[1:4, 1:4] = 5.0  # the pit fills to the rim 5 (the spill goes through the 4 at the edge)
    np.testing.assert_array_equal(filled, expected)
    fdir = T.flow_direction(T.fill_depressions(grid(z))).values
    # every interior cell now drains out through (3, 4)
    for rr in range(1, 4):
        for cc in range(1, 4):
            assert follow(fdir, rr, cc)[-1] == (3, 4)
    assert fdir[3, 4] == 0


def test_epsilon_fill_leaves_strict_gradient():
    z = np.full((7, 7), 10.0)
    z[1:6, 1:6] = 2.0
    z[3, 6] = 1.0
    filled = T.fill_depressions(grid(z), epsilon=True).values
    assert (filled >= z).all()
    interior = filled[1:6, 1:6]
    assert len(np.unique(interior)) > 1  # no exact flat left
    fdir = T.flow_direction(T.fill_depressions(grid(z), epsilon=True))
    assert fdir.attrs["flat_cells_resolved"] == 0  # the gradient alone drains everything


def test_flat_plateau_drains_to_its_one_outlet_by_short_paths():
    # a closed 100 x 100 flat surrounded by a rim 1 m higher, one gap at the middle of the south rim
    n = 102
    z = np.full((n, n), 11.0)
    z[1:-1, 1:-1] = 10.0
    z[-1, n // 2] = 9.0
    fdir = T.flow_direction(T.fill_depressions(grid(z))).values
    outlet = (n - 1, n // 2)
    lengths, shortest = [], []
    for rr in range(1, n - 1):
        for cc in range(1, n - 1):
            path = follow(fdir, rr, cc)
            assert path[-1] == outlet
            steps = np.diff(np.array(path), axis=0)
            lengths.append(np.sum(np.where(np.abs(steps).sum(axis=1) == 2, np.sqrt(2), 1.0)))
            # shortest king-move path length (diagonal steps sqrt 2) to the outlet
            dr, dc = abs(outlet[0] - rr), abs(outlet[1] - cc)
            shortest.append(min(dr, dc) * np.sqrt(2) + abs(dr - dc))
    ratio = np.mean(lengths) / np.mean(shortest)
    assert ratio < 1.25, ratio  # 1.21 (README)


def test_interior_nodata_hole_is_an_outlet():
    z = np.full((9, 9), 5.0) + np.arange(9)[None, :] * 0.1
    z[4, 4] = np.nan  # a lake / sea cell inside
    z[3:6, 3:6] = np.where(np.isnan(z[3:6, 3:6]), np.nan, 1.0)
    fdir = T.flow_direction(T.fill_depressions(grid(z))).values
    assert fdir[4, 4] == 255
    # the ring around the hole is not raised (it drains into the nodata cell)
    filled = T.fill_depressions(grid(z)).values
    assert filled[3, 3] == 1.0
    assert fdir[3, 3] == 0 and fdir[5, 5] == 0


def test_dem_touching_nodata_edge_drains_into_the_sea():
    # coastal strip: the southern rows are sea (nodata); land rises north
    ny, nx = 10, 8
    z = (ny - np.arange(ny))[:, None] * 1.0 + np.zeros((1, nx))
    z[7:, :] = np.nan
    z[6, 3] = 0.5
    dem = grid(z)
    fdir = T.flow_direction(T.fill_depressions(dem)).values
    assert (fdir[7:] == 255).all()
    # the coastal row drains to the sea, except its neighbours of the low cell (steeper towards it)
    assert fdir[6, 3] == 0
    np.testing.assert_array_equal(fdir[6], [0, 0, 1, 0, 16, 0, 0, 0])
    assert all(follow(fdir, 0, c)[-1][0] == 6 for c in range(nx))
    acc = T.flow_accumulation(T.flow_direction(T.fill_depressions(dem))).values
    assert acc[fdir == 0].sum() == np.isfinite(z).sum()


def test_strahler_and_catchments_on_a_hand_built_network():
    # 5 x 5 D8 grid built by hand: two order-1 branches (columns 1 and 3) meet at (3, 2),
    # a third order-1 branch enters at (4, 2), which drains off the south edge.
    E, SE, S, SW, W = 1, 2, 4, 8, 16
    fdir = np.array(
        [
            [S, S, SW, S, S],
            [S, S, SW, S, SW],
            [SE, SE, S, SW, SW],
            [E, E, S, W, W],
            [E, E, 0, W, W],
        ],
        np.uint8,
    )
    tmpl = grid(np.zeros((5, 5)))
    fd = tmpl.copy(data=fdir)
    stream = np.zeros((5, 5), np.int8)
    stream[0:3, 1] = stream[0:3, 3] = 1
    stream[3:5, 2] = 1
    stream[4, 0:2] = 1
    st = tmpl.copy(data=stream)
    order = T.strahler_order(fd, st).values
    assert order[0, 1] == 1 and order[2, 3] == 1 and order[4, 0] == 1
    assert order[3, 2] == 2  # two order-1 branches meet
    assert order[4, 2] == 2  # order 2 + order 1 stays 2
    assert (order[stream == 0] == 0).all()
    acc = T.flow_accumulation(fd).values
    assert acc[4, 2] == 25
    # nested outlets: the confluence cell and the final outlet
    x = tmpl.x.values
    y = tmpl.y.values
    cat = T.catchments(fd, {"confluence": (x[2], y[3]), "mouth": (x[2], y[4])}).values
    assert (cat == 1).sum() == acc[3, 2]
    assert (cat == 2).sum() == 25 - acc[3, 2]


def test_catchment_snapping_moves_outlet_to_nearest_stream():
    ny, nx = 15, 11
    r, c = np.mgrid[0:ny, 0:nx]
    z = 50.0 - r * 1.0 + np.abs(c - 5) * 1.5
    dem = grid(z)
    fd = T.flow_direction(T.fill_depressions(dem))
    st = T.streams(T.upstream_area(fd), 800.0)
    # a point two cells east of the channel, 25 m away: snapped within 30 m
    x, y = float(dem.x[7]), float(dem.y[12])
    cat = T.catchments(fd, [(x, y)], stream_mask=st, snap_distance_m=30.0)
    assert cat.attrs["outlet_x"][0] == pytest.approx(float(dem.x[5]))
    from hydro.errors import InputDataError

    with pytest.raises(InputDataError, match="no stream cell within"):
        T.catchments(fd, [(x, y)], stream_mask=st, snap_distance_m=5.0)
    # names with spaces read back (they were joined with spaces); a bare (x, y) is refused with a clear message
    import json

    named = T.catchments(fd, {"Sungai Wain at the dam": (x, y)}, stream_mask=st, snap_distance_m=30.0)
    assert json.loads(named.attrs["outlet_names"]) == ["Sungai Wain at the dam"]
    with pytest.raises(InputDataError, match=r"not an \(x, y\) pair"):
        T.catchments(fd, (x, y), stream_mask=st, snap_distance_m=30.0)
    with pytest.raises(InputDataError, match="filled has shape"):
        T.hand(dem.isel(y=slice(1, None)), fd, st)


def test_hand_is_height_above_the_channel():
    ny, nx = 12, 9
    r, c = np.mgrid[0:ny, 0:nx]
    z = 100.0 - r * 1.0 + np.abs(c - 4) * 2.0
    ds = T.analyse(grid(z), stream_threshold_m2=100.0 * 6)
    hand = ds.hand.values
    st = ds.streams.values == 1
    assert (hand[st] == 0).all()
    # a cell one column east of the channel drains SW to the channel one row down: HAND = 2 + 1 = 3 m
    assert st[6, 4] and ds.flow_direction.values[5, 5] == 8
    assert hand[5, 5] == pytest.approx(3.0)


def test_geographic_cell_sizes_and_areas():
    from affine import Affine

    from hydro.io.raster import from_array

    z = np.arange(36, dtype=np.float32).reshape(6, 6)
    res = 1.0 / 1200  # 3 arc-seconds
    da = from_array(z, Affine(res, 0, 116.8, 0, -res, -1.2), "EPSG:4326")
    g = T.grid_geometry(da)
    # at 1.2 S one arc-second of longitude is ~30.9 m, of latitude ~30.7 m (WGS84)
    assert g.dx_m[0] == pytest.approx(3 * 30.91, rel=2e-3)
    assert g.dy_m == pytest.approx(3 * 30.72, rel=2e-3)
    assert g.area_m2[0] == pytest.approx(g.dx_m[0] * g.dy_m, rel=1e-3)
    up = T.upstream_area(T.flow_direction(T.fill_depressions(da)))
    assert np.nanmax(up.values) == pytest.approx(g.area_m2.mean() * 36, rel=1e-3)


def test_background_precompile_fills_an_empty_numba_cache(tmp_path, monkeypatch):
    import subprocess
    import sys

    from hydro.terrain import _kernels

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert _kernels.cache_is_warm() is False
    # exactly what the CLI starts on a cold cache
    subprocess.run([sys.executable, "-c", "from hydro.terrain._kernels import precompile_later_stages as p; p()"],
                   check=True, timeout=300)
    assert _kernels.cache_is_warm() is True
    assert list(tmp_path.rglob("*_kernels.hand_from_drainage-*.nbc"))

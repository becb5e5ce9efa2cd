"""Differential tests of hydro.terrain against pyflwdir and pysheds (review s23). They pass on the original code
and on the fix: kept as regression tests of the conventions that agree (see REPORT.md)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import hydro.terrain as T
from tests.terrain.test_review_s23_zero_fill import _outlet_allowed
from hydro.io.raster import from_array

pyflwdir = pytest.importorskip("pyflwdir")

DROW = np.array([0, 1, 1, 1, 0, -1, -1, -1])
DCOL = np.array([1, 1, 0, -1, -1, -1, 0, 1])
CELL = 10.0
FAST = settings(max_examples=100, deadline=None, derandomize=True)


def _grid(z, dtype=np.float32):
    z = np.asarray(z, dtype=dtype)
    return from_array(z, Affine(CELL, 0, 500000.0, 0, -CELL, 9850000.0 + CELL * z.shape[0]), "EPSG:32750")


@st.composite
def dems(draw, nodata=True):
    ny = draw(st.integers(5, 30))
    nx = draw(st.integers(5, 30))
    z = draw(arrays(np.float64, (ny, nx), elements=st.integers(0, 6).map(float)))
    share = draw(st.sampled_from([0.0, 0.0, 0.1, 0.3])) if nodata else 0.0
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    z[rng.random((ny, nx)) < share] = np.nan
    if np.isnan(z).all():
        z[0, 0] = 1.0
    return z


def _pf_fill(z):
    f, _ = pyflwdir.dem.fill_depressions(np.where(np.isnan(z), -9999.0, z).astype(np.float32), nodata=-9999.0)
    return np.where(np.isnan(z), np.nan, f)


def _pf_network(fd, down, transform, latlon=False):
    """pyflwdir network with hydro's own links (so accumulation is compared independently of direction choice)."""
    d = fd.astype(np.uint8).copy()
    d[(down.reshape(fd.shape) < 0) & (fd != 255)] = 0  # hydro outlet -> pyflwdir pit
    d[fd == 255] = 247  # pyflwdir nodata
    return pyflwdir.from_array(d, ftype="d8", transform=transform, latlon=latlon)


def _walk(net, start_ok):
    """Last cell of each valid cell's D8 path that stops at the first cell where start_ok is True, or the outlet."""
    end = np.full(net.ncell, -1)
    for i in net.order[::-1]:  # downstream first
        d = net.downstream[i]
        end[i] = i if (start_ok[i] or d < 0) else end[d]
    return end


@FAST
@given(dems())
def test_fill_equals_pyflwdir_fill_depressions(z):
    # same convention: priority-flood from the grid edge and every cell next to nodata, exact flats
    np.testing.assert_array_equal(T.fill_depressions(_grid(z)).values.astype(np.float64), _pf_fill(z))


@FAST
@given(dems(nodata=False))
def test_fill_equals_pysheds_without_nodata(z):
    # pysheds seeds only the grid edge (not interior nodata), so compared on DEMs without nodata
    from pysheds.grid import Grid
    from pysheds.sview import Raster, ViewFinder

    vf = ViewFinder(affine=Affine(CELL, 0, 0, 0, -CELL, 0), shape=z.shape, nodata=np.nan, crs="EPSG:32750")
    ps = np.asarray(Grid(viewfinder=vf).fill_depressions(Raster(z.copy(), viewfinder=vf)))
    np.testing.assert_array_equal(T.fill_depressions(_grid(z, np.float64)).values, ps)


@FAST
@given(dems())
def test_network_accumulation_area_against_pyflwdir_on_the_same_links(z):
    dem = _grid(z)
    fd = T.flow_direction(T.fill_depressions(dem))
    net = T.flow_network(fd)  # refuses cycles
    valid = np.isfinite(z)
    codes = fd.values
    assert np.array_equal(codes == 255, ~valid)
    # outlets (code 0) only on the grid edge or next to nodata, none unresolved
    assert fd.attrs["unresolved_flat_cells"] == 0
    assert not ((codes == 0) & ~_outlet_allowed(valid)).any()
    fl = _pf_network(codes, net.downstream, dem.rio.transform())
    np.testing.assert_array_equal(T.flow_accumulation(fd).values[valid], fl.accuflux(valid.astype(float))[valid])
    np.testing.assert_allclose(T.upstream_area(fd).values[valid], fl.upstream_area(unit="m2")[valid], rtol=1e-6)


@FAST
@given(dems(nodata=False))
def test_flat_directions_follow_pysheds_barnes_gradient(z):
    # a ring 1 m lower than everything keeps every flat off the grid edge, where pysheds' flats start
    from pysheds.grid import Grid
    from pysheds.sview import Raster, ViewFinder

    z = z.copy()
    z[0, :] = z[-1, :] = z[:, 0] = z[:, -1] = -1.0
    f = T.fill_depressions(_grid(z, np.float64)).values
    fd = T.flow_direction(_grid(f, np.float64)).values
    vf = ViewFinder(affine=Affine(CELL, 0, 0, 0, -CELL, 0), shape=f.shape, nodata=np.nan, crs="EPSG:32750")
    eps = 1.0 / 1024
    inflated = np.asarray(Grid(viewfinder=vf).resolve_flats(Raster(f.copy(), viewfinder=vf), eps=eps))
    G = np.round((inflated - f) / eps).astype(int)  # 2 * towards + away (Barnes et al. 2014), 0 off flats
    ny, nx = f.shape
    for r in range(1, ny - 1):
        for c in range(1, nx - 1):
            nbs = [(r + DROW[k], c + DCOL[k]) for k in range(8)]
            if any(f[p] < f[r, c] for p in nbs):
                continue  # not a flat cell
            k = int(np.log2(fd[r, c]))
            chosen = (r + DROW[k], c + DCOL[k])
            assert f[chosen] == f[r, c]
            assert G[chosen] == min(G[p] for p in nbs if f[p] == f[r, c]) < G[r, c]


@FAST
@given(dems(), st.sampled_from([100.0, 300.0, 1000.0]), st.data())
def test_hand_catchments_strahler_by_walking_the_graph(z, threshold, data):
    dem = _grid(z)
    ds = T.analyse(dem, stream_threshold_m2=threshold)
    net = T.flow_network(ds.flow_direction)
    valid = np.isfinite(z).ravel()
    f = ds.filled_elevation.values.astype(np.float64).ravel()
    stream = ds.streams.values.ravel() == 1
    np.testing.assert_array_equal(stream[valid], (ds.upstream_area.values.ravel()[valid] >= threshold))
    end = _walk(net, stream)
    hand = np.where(valid, f - np.where(end >= 0, f[np.maximum(end, 0)], np.nan), np.nan)
    np.testing.assert_allclose(ds.hand.values.ravel(), hand, atol=1e-6, equal_nan=True)
    # catchments: each cell belongs to the first chosen outlet on its path
    cells = np.flatnonzero(valid)
    pts = data.draw(st.lists(st.sampled_from(cells.tolist()), min_size=1, max_size=3, unique=True))
    xs, ys = net.xy(np.array(pts))
    lab = T.catchments(ds.flow_direction, list(zip(xs, ys))).values.ravel()
    is_pt = np.zeros(net.ncell, bool)
    is_pt[pts] = True
    e = _walk(net, is_pt)
    expected = np.where(valid, 0, -1)
    for n, p in enumerate(pts, start=1):
        expected[valid & (e == p)] = n
    np.testing.assert_array_equal(lab, expected)
    fl = _pf_network(ds.flow_direction.values, net.downstream, dem.rio.transform())
    m = ds.streams.values == 1
    np.testing.assert_array_equal(ds.strahler_order.values[m], fl.stream_order(type="strahler", mask=m)[m])


def _dem_dir():
    for p in [Path(__file__).resolve().parents[i] / "shared" for i in range(4)] + [Path("/work/shared")]:
        if (p / "data" / "dem").is_dir():
            return p / "data" / "dem"
    pytest.skip("shared DEMs not present")


@pytest.mark.parametrize("name,rows,cols", [
    ("pysheds_dem_fortworth_3s.tif", (100, 220), (50, 200)),
    ("pyflwdir_rhine_elv0_30s.tif", (300, 420), (100, 260)),
    ("topotoolbox_bigtujunga_srtm30m_utm11.tif", (200, 350), (300, 500)),
])
def test_real_dem_crops_against_pyflwdir(name, rows, cols):
    from hydro.io import open_dem

    dem = open_dem(_dem_dir() / name).isel(y=slice(*rows), x=slice(*cols))
    z = dem.values.astype(np.float64)
    valid = np.isfinite(z)
    ds = T.analyse(dem, stream_threshold_m2=5e6)
    np.testing.assert_array_equal(ds.filled_elevation.values.astype(np.float64), _pf_fill(z))
    net = T.flow_network(ds.flow_direction)
    assert not ((ds.flow_direction.values == 0) & ~_outlet_allowed(valid)).any()
    fl = _pf_network(ds.flow_direction.values, net.downstream, dem.rio.transform(), dem.rio.crs.is_geographic)
    np.testing.assert_array_equal(ds.accumulation.values[valid], fl.accuflux(valid.astype(float))[valid])
    # pyflwdir's cell areas are spherical (R = 6371007 m), hydro's ellipsoidal: within 0.5 % at these latitudes
    np.testing.assert_allclose(ds.upstream_area.values[valid], fl.upstream_area(unit="m2")[valid], rtol=5e-3)
    f = ds.filled_elevation.values.astype(np.float64).ravel()
    end = _walk(net, ds.streams.values.ravel() == 1)
    np.testing.assert_allclose(ds.hand.values.ravel()[valid.ravel()], (f - f[end])[valid.ravel()], atol=1e-3)

"""The three real DEMs of ../shared/data/dem: steepest-slope D8, network validity, pysheds agreement."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import hydro.terrain as T
from hydro.io import open_dem
from tests.terrain.helpers import DCOL, DROW

DEMS = [
    "pysheds_dem_fortworth_3s.tif",  # geographic, conditioned
    "pyflwdir_rhine_elv0_30s.tif",  # geographic, half nodata with a long irregular edge
    "topotoolbox_bigtujunga_srtm30m_utm11.tif",  # projected UTM 11N, raw SRTM
]


def _slopes_to_neighbours(z: np.ndarray, geom) -> np.ndarray:
    """Slope [m/m] from each cell to each of its 8 neighbours (-inf off-grid/nodata), plain numpy."""
    ny, nx = z.shape
    pad = np.pad(z.astype(np.float64), 1, constant_values=np.nan)
    out = np.full((8, ny, nx), -np.inf)
    for k in range(8):
        nb = pad[1 + DROW[k] : 1 + DROW[k] + ny, 1 + DCOL[k] : 1 + DCOL[k] + nx]
        if DROW[k] == 0:
            d = geom.dx_m[:, None]
        elif DCOL[k] == 0:
            d = np.full((ny, 1), geom.dy_m)
        else:
            d = geom.diag_m[:, None]
        out[k] = np.where(np.isnan(nb), -np.inf, (z - nb) / d)
    return out


@pytest.mark.parametrize("name", DEMS)
def test_d8_is_steepest_slope_on_non_flat_cells(name, shared_dem):
    dem = open_dem(shared_dem(name))
    filled = T.fill_depressions(dem)
    fd = T.flow_direction(filled).values
    geom = T.grid_geometry(dem)
    z = filled.values.astype(np.float64)
    slopes = _slopes_to_neighbours(z, geom)
    best = slopes.max(axis=0)
    nonflat = np.isfinite(z) & (best > 0)
    k = np.log2(np.where(fd == 0, 1, fd).astype(float)).astype(int)
    chosen = np.take_along_axis(slopes, k[None], axis=0)[0]
    assert (fd[nonflat] != 0).all()
    np.testing.assert_allclose(chosen[nonflat], best[nonflat], rtol=1e-12)
    # network: acyclic, every valid cell counted once at an outlet
    net = T.flow_network(T.flow_direction(filled))
    acc = net.upstream_count()
    assert acc[net.outlets].sum() == np.isfinite(z).sum()


def test_rhine_nodata_edge_cells_drain_into_nodata(shared_dem):
    dem = open_dem(shared_dem("pyflwdir_rhine_elv0_30s.tif"))
    ds = T.analyse(dem, 1e8)
    fd = ds.flow_direction.values
    valid = np.isfinite(dem.values)
    assert ((fd == 255) == ~valid).all()
    # the largest basin is the Rhine itself, draining into nodata (the sea/basin edge), ~185,000 km2
    area = ds.upstream_area.values
    out = fd == 0
    assert np.nanmax(area[out]) > 1.5e11


@pytest.mark.peers
def test_upstream_area_agrees_with_pysheds_on_big_tujunga(shared_dem):
    pysheds_grid = pytest.importorskip("pysheds.grid")
    path = shared_dem("topotoolbox_bigtujunga_srtm30m_utm11.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = pysheds_grid.Grid.from_raster(str(path))
        raw = g.read_raster(str(path))
        conditioned = g.resolve_flats(g.fill_depressions(g.fill_pits(raw)))
        acc_ps = np.asarray(g.accumulation(g.flowdir(conditioned)), dtype=float)
    dem = open_dem(path)
    ds = T.analyse(dem, 1e6)
    area = ds.upstream_area.values
    fd = ds.flow_direction.values
    cell = 30.0 * 30.0
    outlets = np.argwhere(fd == 0)
    main = sorted(outlets.tolist(), key=lambda rc: -area[rc[0], rc[1]])[:5]
    assert area[main[0][0], main[0][1]] > 300e6  # the Big Tujunga basin itself
    for r, c in main:
        # pysheds ends some edge paths one cell inside the grid: take its largest value in the 3x3 window
        window = acc_ps[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2]
        ours = area[r, c]
        theirs = window.max() * cell
        assert abs(ours - theirs) / theirs < 0.02, (r, c, ours, theirs)

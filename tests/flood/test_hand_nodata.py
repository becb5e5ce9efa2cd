"""HAND maps of a discharge grid with missing data: a reach without data is no data, not dry (forecast ensembles)."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.errors import InputDataError
from hydro.flood import rating_curves, reaches
from hydro.flood.hand import extent_probability, hand_map_of_grid
from hydro.terrain import analyse

SIDE, S_LONG, DX = 0.1, 0.002, 2.0


@pytest.fixture(scope="module")
def valley():
    from tests.flood.conftest import make_grid

    ny, nx, j0 = 60, 41, 20
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = SIDE * np.abs(xx - j0) * DX + S_LONG * (ny - 1 - yy) * DX + 10.0
    terrain = analyse(make_grid(z, dx=DX), stream_threshold_m2=30 * DX * DX)
    rd = reaches(terrain, max_length_m=30.0, manning_n=0.04)
    return terrain, rd, rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.05)


def test_reach_with_nan_discharge_is_no_data_and_the_others_are_mapped(valley):
    terrain, rd, rating = valley
    assert rd.sizes["reach"] >= 2
    grid = np.full(terrain["hand"].shape, 5.0)
    lost = int(rd["reach"].values[0])
    grid.ravel()[int(rd["outlet_index"].sel(reach=lost))] = np.nan
    out = hand_map_of_grid(terrain, rd, rating, grid, threshold_m=0.05)
    lab = rd["reach_id"].values
    ext, depth = out["flood_extent"].values, out["flood_depth"].values
    assert (ext[lab == lost] == -1).all() and np.isnan(depth[lab == lost]).all()
    others = (lab > 0) & (lab != lost)
    assert (ext[others] == 1).any() and (ext[others] >= 0).all() and np.isfinite(depth[others]).all()
    # the same grid without the gap maps the lost reach as flooded (it was not dry by accident)
    full = hand_map_of_grid(terrain, rd, rating, np.full(terrain["hand"].shape, 5.0), threshold_m=0.05)
    assert (full["flood_extent"].values[lab == lost] == 1).any()
    np.testing.assert_array_equal(full["flood_depth"].values[others], depth[others])


def test_probability_is_taken_over_the_members_with_data():
    wet, dry, nod = np.int8(1), np.int8(0), np.int8(-1)
    m1 = np.array([[wet, wet, nod]])
    m2 = np.array([[nod, dry, nod]])
    m3 = np.array([[wet, dry, nod]])
    p = extent_probability([m1, m2, m3])
    # cell 0: 2 of the 2 members with data (not 2/3); cell 1: 1 of 3; cell 2: no member has data
    np.testing.assert_allclose(p[0, :2], [1.0, 1.0 / 3.0], rtol=1e-6)
    assert np.isnan(p[0, 2]) and p.dtype == np.float32
    with pytest.raises(InputDataError):
        extent_probability([])


def test_report_counts_the_hand_extent_with_the_map_threshold(valley):
    from hydro.report import key_numbers

    terrain, rd, rating = valley
    out = hand_map_of_grid(terrain, rd, rating, np.full(terrain["hand"].shape, 5.0), threshold_m=0.5)
    assert out.attrs["hydro_flood_threshold_m"] == 0.5
    (entry,) = key_numbers(flood={"hand": out})["flood"]
    # the report's flooded cells are the map's flood_extent == 1 (threshold 0.5 m, not the report default 0.1 m)
    assert entry["threshold_m"] == 0.5
    assert entry["flooded_cells"] == int((out["flood_extent"].values == 1).sum())
    assert entry["flooded_cells"] < int((out["flood_depth"].values > 0.1).sum())

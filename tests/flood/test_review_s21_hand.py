"""HAND flood products review (rev_hand): extent flags in flooded_area_km2, extent-polygon thresholds, discharge grid
and ensemble-grid shapes, bad stage ranges. Numbers by hand on a 10 x 5 rectangular channel of 10 m cells."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.flood import extent_polygons, flooded_area_km2, hand_inundation, rating_curves, reaches
from hydro.flood.hand import extent_probability, hand_map_of_grid
from tests.flood.conftest import make_grid

NY, NX, DX, N_MAN, SLOPE = 10, 5, 10.0, 0.05, 0.01


def _channel(off_grid_west: bool = False) -> xr.Dataset:
    """Straight channel (column 2) flowing south off the grid; banks HAND 0.5 m, outer columns 2 m.

    With ``off_grid_west`` column 0 drains west off the grid: those 10 cells belong to no reach (extent -1).
    """
    fd = np.zeros((NY, NX), np.uint8)
    st = np.zeros((NY, NX), np.int8)
    fd[:, 2] = 4
    st[:, 2] = 1
    fd[:, :2] = 1
    fd[:, 3:] = 16
    if off_grid_west:
        fd[:, 0] = 16
    hand = np.zeros((NY, NX))
    hand[:, [1, 3]] = 0.5
    hand[:, [0, 4]] = 2.0
    zbed = 100.0 - np.arange(NY) * DX * SLOPE
    base = make_grid(hand, dx=DX)

    def mk(a, dtype=np.float32):
        return base.copy(data=np.asarray(a, dtype))

    terrain = xr.Dataset({"flow_direction": mk(fd, np.uint8), "streams": mk(st, np.int8),
                          "filled_elevation": mk(hand + zbed[:, None]), "elevation": mk(np.zeros((NY, NX))),
                          "hand": mk(hand)})
    return terrain.rio.write_crs("EPSG:32750")


def _rating(terrain):
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    return rd, rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.25)


def test_flooded_area_of_an_extent_flag_leaves_its_no_data_cells_out():
    terrain = _channel(off_grid_west=True)
    rd, rc = _rating(terrain)
    q = float(rc["discharge_m3s"].sel(reach=1, stage=1.0))
    ext = hand_inundation(terrain, rd, rc, {1: q}, threshold_m=0.1)["flood_extent"]
    assert int((ext == -1).sum()) == 10  # the column draining off the grid
    # stage 1 m: channel (HAND 0) and both banks (HAND 0.5) flooded: 3 columns x 10 rows x 100 m2 = 0.003 km2
    # (the flag itself was taken as a boolean: its 10 no-data cells counted as flooded, 0.004 km2)
    assert flooded_area_km2(ext, terrain["hand"]) == pytest.approx(0.003, rel=1e-12)
    assert flooded_area_km2(ext.values == 1, terrain["hand"]) == pytest.approx(0.003, rel=1e-12)
    with pytest.raises(InputDataError):  # a float map (NaN was True) is no mask
        flooded_area_km2(np.where(ext.values >= 0, ext.values, np.nan), terrain["hand"])
    with pytest.raises(InputDataError):  # nor is a depth map
        flooded_area_km2(np.full((NY, NX), 0.3), terrain["hand"])
    # a 0/1 mask held in floats is a mask
    assert flooded_area_km2((ext.values == 1).astype(np.float64), terrain["hand"]) == pytest.approx(0.003, rel=1e-12)


def test_extent_polygons_refuse_a_nan_or_negative_depth_threshold():
    terrain = _channel()
    rd, rc = _rating(terrain)
    depth = hand_inundation(terrain, rd, rc, {1: 5.0})["flood_depth"]  # stage 0.42 m: only the channel is wet
    fc = extent_polygons(depth, crs=None, threshold_m=0.0)
    assert sum(f["properties"]["area_m2"] for f in fc["features"]) == pytest.approx(10 * DX * DX)
    # a negative threshold flagged all 50 cells (5000 m2, dry cells of depth 0 included), NaN gave no polygon
    for thr in (-0.1, float("nan"), float("inf")):
        with pytest.raises(InputDataError, match="threshold_m"):
            extent_polygons(depth, crs=None, threshold_m=thr)
    with pytest.raises(InputDataError, match="connectivity"):
        extent_polygons(depth, crs=None, connectivity=6)


def test_hand_map_of_grid_refuses_a_discharge_grid_of_another_shape():
    terrain = _channel()
    rd, rc = _rating(terrain)
    q = np.zeros((NY, NX))
    q[:, 2] = np.linspace(1.0, float(rc["discharge_m3s"].sel(reach=1, stage=1.0)), NY)
    # the outlet discharge is the table's Q at 1 m
    assert float(hand_map_of_grid(terrain, rd, rc, q)["stage"][0]) == pytest.approx(1.0, abs=1e-5)
    # the transposed grid (same size) was sampled at the wrong cell: stage 0, a dry map
    with pytest.raises(InputDataError, match="grid"):
        hand_map_of_grid(terrain, rd, rc, q.T.copy())
    with pytest.raises(InputDataError, match="grid"):  # was an IndexError
        hand_map_of_grid(terrain, rd, rc, np.ones((3, 3)))


def test_probability_members_on_other_grids_and_infinite_stage_max_are_input_errors():
    a = np.ones((NY, NX), np.int8)
    with pytest.raises(InputDataError):  # a raw numpy broadcast ValueError before
        extent_probability([a, np.ones((NX, NY), np.int8)])
    np.testing.assert_array_equal(extent_probability([a, np.zeros_like(a)]), np.full((NY, NX), 0.5, np.float32))
    terrain = _channel()
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    with pytest.raises(InputDataError):  # "Maximum allowed size exceeded" from numpy before
        rating_curves(terrain, rd, stage_max_m=float("inf"))

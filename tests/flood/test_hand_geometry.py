"""HAND engine: hand-computable channels for reach length at the grid edge, grids in feet, HAND < 0, stage tables
that end exactly at stage_max, and extent polygons from a depth map (regressions of a review, 2026-12-06)."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.flood import extent_polygons, hand_inundation, rating_curves, reaches
from hydro.terrain import analyse
from tests.flood.conftest import make_grid

NY, NX, DX, N_MAN, SLOPE = 10, 5, 10.0, 0.05, 0.01
US_FOOT = 0.3048006096012192


def _rect_channel(crs: str = "EPSG:32750", unit: float = 1.0):
    """A 10-cell straight channel (column 2) flowing south off the grid edge; banks HAND 0.5 m, outer cells 2 m.

    Given directly (flow directions, streams, HAND), so every rating-table number can be computed by hand.
    """
    fd = np.zeros((NY, NX), np.uint8)
    st = np.zeros((NY, NX), np.int8)
    fd[:, 2] = 4  # south; the last cell leaves the grid
    st[:, 2] = 1
    fd[:, :2] = 1  # east, into the channel
    fd[:, 3:] = 16  # west
    hand = np.zeros((NY, NX))
    hand[:, [1, 3]] = 0.5
    hand[:, [0, 4]] = 2.0
    zbed = 100.0 - np.arange(NY) * DX * SLOPE
    base = make_grid(hand, dx=DX / unit, crs=crs, x0=500000.0 / unit, y0=9850000.0 / unit)

    def mk(a, dtype=np.float32):
        return base.copy(data=np.asarray(a, dtype))

    terrain = xr.Dataset({"flow_direction": mk(fd, np.uint8), "streams": mk(st, np.int8),
                          "filled_elevation": mk(hand + zbed[:, None]), "elevation": mk(np.zeros((NY, NX))),
                          "hand": mk(hand)})
    return terrain.rio.write_crs(crs), hand


def _q_by_hand(hand: np.ndarray, y: float, length: float) -> float:
    """Manning on the HAND cross-section: all 10 rows of cells, bed factor 1 (flat ground)."""
    w = (hand < y) | (hand == 0)
    V = float(((y - hand[w]) * DX * DX).sum())
    A, P = V / length, w.sum() * DX * DX / length
    return A * (A / P) ** (2 / 3) * np.sqrt(SLOPE) / N_MAN


def test_reach_ending_at_the_grid_edge_has_all_its_cells_length():
    terrain, hand = _rect_channel()
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    assert rd.sizes["reach"] == 1
    # 10 cells of 10 m: 100 m (was 90 m: the last cell's link off the grid counted 0 while its volume counted)
    assert float(rd["length_m"][0]) == pytest.approx(NY * DX)
    # drop from the head cell to the last cell (9 steps of 0.1 m) over the 90 m between them
    assert float(rd["slope"][0]) == pytest.approx(SLOPE, rel=1e-5)  # float32 elevations
    rc = rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.25)
    for y in (0.25, 1.0, 2.5):
        assert float(rc["discharge_m3s"].sel(reach=1, stage=y)) == pytest.approx(_q_by_hand(hand, y, 100.0),
                                                                              rel=1e-6)
    assert float(rc["discharge_m3s"].sel(reach=1, stage=1.0)) == pytest.approx(30.5257, rel=1e-5)


def test_grid_in_us_feet_gives_the_same_rating_as_metres():
    t_m, hand = _rect_channel()
    t_ft, _ = _rect_channel("EPSG:2229", unit=US_FOOT)
    rd_m = reaches(t_m, max_length_m=1e6, manning_n=N_MAN)
    rd_ft = reaches(t_ft, max_length_m=1e6, manning_n=N_MAN)
    assert float(rd_ft["length_m"][0]) == pytest.approx(float(rd_m["length_m"][0]), rel=1e-9)
    rc_m = rating_curves(t_m, rd_m, stage_max_m=3.0, stage_step_m=0.25)
    rc_ft = rating_curves(t_ft, rd_ft, stage_max_m=3.0, stage_step_m=0.25)
    # surface area 3 columns x 10 rows x 100 m2 at 1 m stage, in m2 (was ft2: 10.8x too large) and Q alike
    assert float(rc_ft["surface_area_m2"].sel(reach=1, stage=1.0)) == pytest.approx(3000.0, rel=1e-9)
    np.testing.assert_allclose(rc_ft["discharge_m3s"].values, rc_m["discharge_m3s"].values, rtol=1e-9)


def test_real_valley_in_feet_matches_metres():
    """The same valley (elevations in metres, as most DEMs) on a UTM grid and on a US-feet state-plane grid."""
    ny, nx, j0, dx = 40, 21, 10, 2.0
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 0.1 * np.abs(xx - j0) * dx + 0.002 * (ny - 1 - yy) * dx + 10
    out = []
    for crs, d, x0, y0 in (("EPSG:32750", dx, 500000.0, 9850000.0), ("EPSG:2229", dx / US_FOOT, 6e6, 2e6)):
        t = analyse(make_grid(z, dx=d, crs=crs, x0=x0, y0=y0), stream_threshold_m2=30 * dx * dx)
        rd = reaches(t, max_length_m=1e6, manning_n=0.04)
        main = int(rd["stream_reach"].values[20, j0])
        out.append(rating_curves(t, rd, stage_max_m=2.0, stage_step_m=0.1).sel(reach=main))
    for v in ("surface_area_m2", "volume_m3", "discharge_m3s"):
        np.testing.assert_allclose(out[1][v].values, out[0][v].values, rtol=1e-6)
    assert float(out[0]["surface_area_m2"].sel(stage=1.0)) == pytest.approx(1440.0)


def test_cells_below_their_stream_stay_dry():
    terrain, hand = _rect_channel()
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    h2 = hand.copy()
    h2[4, 0] = -0.3  # HAND from elsewhere with a cell below the channel
    t2 = terrain.copy()
    t2["hand"] = terrain["hand"].copy(data=h2.astype(np.float32))
    rc = rating_curves(t2, rd, stage_max_m=3.0, stage_step_m=0.25)
    dry = hand_inundation(t2, rd, rc, {1: 0.0})
    assert float(dry["flood_depth"][4, 0]) == 0.0 and int(dry["flood_extent"][4, 0]) == 0
    wet = hand_inundation(t2, rd, rc, {1: 30.0})
    assert float(wet["flood_depth"][4, 0]) == 0.0  # not in the rating tables: never flooded
    assert float(wet["flood_depth"][4, 1]) > 0.0


def test_stage_table_ends_at_stage_max():
    terrain, _ = _rect_channel()
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    np.testing.assert_allclose(rating_curves(terrain, rd, stage_max_m=1.0, stage_step_m=0.3)["stage"].values,
                               [0.0, 0.3, 0.6, 0.9, 1.0])
    st = rating_curves(terrain, rd, stage_max_m=10.0, stage_step_m=0.3048)["stage"].values
    assert st[-1] == 10.0 and np.all(np.diff(st) > 0) and st[-2] < 10.0
    np.testing.assert_allclose(rating_curves(terrain, rd, stage_max_m=1.0, stage_step_m=0.25)["stage"].values,
                               [0.0, 0.25, 0.5, 0.75, 1.0])


def test_nan_discharge_is_an_error_for_every_time_choice():
    import pandas as pd

    terrain, _ = _rect_channel()
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    rc = rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.25)
    q = xr.DataArray([[np.nan, 5.0]], dims=("reach", "time"),
                     coords={"reach": [1], "time": pd.date_range("2025-01-01", periods=2)})
    for time in ("max", 0, "all"):
        with pytest.raises(InputDataError, match="NaN"):
            hand_inundation(terrain, rd, rc, q, time=time)


def test_reach_labels_from_another_run_are_rejected():
    terrain, _ = _rect_channel()
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    bad = rd.copy()
    bad["reach_id"] = rd["reach_id"].where(rd["reach_id"] == 0, 7)
    with pytest.raises(InputDataError, match="reach_id labels"):
        rating_curves(terrain, bad)
    rc = rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.25)
    with pytest.raises(InputDataError, match="reach_id labels"):
        hand_inundation(terrain, bad, rc, {1: 1.0})


def test_extent_polygons_from_a_depth_map_and_in_feet():
    depth = np.zeros((6, 8), np.float32)
    depth[1:5, 2:6] = 0.7
    depth[2, 3] = 1.0
    depth[0, 0] = np.nan
    da = make_grid(depth, dx=10.0)
    fc = extent_polygons(da, crs=None)
    assert len(fc["features"]) == 1
    assert fc["features"][0]["properties"]["cells"] == 16
    assert fc["features"][0]["properties"]["area_m2"] == pytest.approx(1600.0)
    assert extent_polygons(da, crs=None, threshold_m=0.8)["features"][0]["properties"]["cells"] == 1
    # the same map on a US-feet grid: areas still in m2
    ft = make_grid(depth, dx=10.0 / US_FOOT, crs="EPSG:2229", x0=6e6, y0=2e6)
    assert extent_polygons(ft, crs=None)["features"][0]["properties"]["area_m2"] == pytest.approx(1600.0, rel=1e-6)
    # and on a geographic grid: geodesic m2 (about 1.1 km x 1.1 km per 0.01 degree cell near the equator)
    geo = make_grid(depth, dx=0.01, crs="EPSG:4326", x0=116.8, y0=-1.2)
    a = extent_polygons(geo, crs=None)["features"][0]["properties"]["area_m2"]
    assert a == pytest.approx(16 * 1105.8 * 1113.1, rel=0.01)

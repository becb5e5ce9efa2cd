"""HAND, hazard and flood products: regressions of a third review (2026-12-06), on hand-computable grids.

Rating inversion on non-monotone tables, flat/negative slopes, Web Mercator cell areas, time handling of the
depth map, grid checks, hazard classes of no-data cells, GeoTIFF nodata of integer maps, GeoJSON ring order.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from affine import Affine

from hydro.errors import InputDataError
from hydro.flood import (
    discharge_at_reaches,
    extent_polygons,
    hand_inundation,
    rating_curves,
    reaches,
    stage_for_discharge,
    write_cog,
)
from hydro.flood.hazard import HAZARD_CLASS_ATTRS, hazard_class
from hydro.io.raster import from_array
from tests.flood.conftest import make_grid

DX, SLOPE, N_MAN, NY = 10.0, 0.01, 0.05, 10


def _channel(hand_row: np.ndarray, dx: float = DX, crs: str = "EPSG:32750", x0: float = 500000.0,
             y0: float = 9850000.0):
    """A straight channel (the HAND == 0 column) flowing south off the grid; every other cell drains sideways
    into it. ``hand_row`` is the HAND of one row (the same in every row); ground elevation 0 (bed factor 1)."""
    nx = hand_row.size
    j0 = int(np.flatnonzero(hand_row == 0)[0])
    fd = np.zeros((NY, nx), np.uint8)
    st = np.zeros((NY, nx), np.int8)
    fd[:, j0], st[:, j0] = 4, 1
    fd[:, :j0], fd[:, j0 + 1:] = 1, 16
    hand = np.broadcast_to(hand_row, (NY, nx)).astype(np.float64)
    zbed = 100.0 - np.arange(NY) * dx * SLOPE
    base = make_grid(hand, dx=dx, crs=crs, x0=x0, y0=y0)

    def mk(a, dtype=np.float32):
        return base.copy(data=np.asarray(a, dtype))

    terrain = xr.Dataset({"flow_direction": mk(fd, np.uint8), "streams": mk(st, np.int8),
                          "filled_elevation": mk(hand + zbed[:, None]), "elevation": mk(np.zeros((NY, nx))),
                          "hand": mk(hand)})
    return terrain.rio.write_crs(crs), hand


def _q_by_hand(hand: np.ndarray, y: float, length: float = NY * DX) -> float:
    """Manning on the HAND cross-section (flat ground: bed area = wetted surface)."""
    w = (hand < y) | (hand == 0)
    V = float(((y - hand[w]) * DX * DX).sum())
    A, P = V / length, w.sum() * DX * DX / length
    return A * (A / P) ** (2 / 3) * np.sqrt(SLOPE) / N_MAN


def _floodplain():
    """Channel, banks at HAND 0.5 m and an 18-cell flat floodplain at HAND 1.0 m: when the floodplain wets
    (stage just above 1 m) the wetted perimeter jumps 30 -> 210 m and Manning's Q drops."""
    row = np.full(21, 1.0)
    row[10] = 0.0
    row[[9, 11]] = 0.5
    return _channel(row)


# ----------------------------------------------------------------------------------------- rating inversion
def test_inverted_stage_gives_back_the_discharge_on_a_non_monotone_table():
    terrain, hand = _floodplain()
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    rc = rating_curves(terrain, rd, stage_max_m=2.0, stage_step_m=0.05)
    tab = rc["discharge_m3s"].sel(reach=1)
    q = {y: _q_by_hand(hand, y) for y in (1.0, 1.05, 1.10, 1.15)}
    for y, v in q.items():
        assert float(tab.sel(stage=y)) == pytest.approx(v, rel=1e-6)
    assert q[1.05] < q[1.10] < q[1.0] < q[1.15]  # the dip: 15.3 -> 8.4 -> 13.8 -> 20.2 (x sqrt(S)/n)
    q = {y: float(tab.sel(stage=y)) for y in q}  # the table's own numbers (float32 slope: 1e-7 apart)
    # a discharge between Q(1.0) and Q(1.15): the table crosses it on the segment 1.10 .. 1.15
    Q = 0.5 * (q[1.0] + q[1.15])
    y_hand = 1.10 + 0.05 * (Q - q[1.10]) / (q[1.15] - q[1.10])
    st, cap = stage_for_discharge(rc, xr.DataArray([Q], dims="reach", coords={"reach": [1]}))
    # was 1.10 + 0.05 (Q - Q(1.0)) / (Q(1.15) - Q(1.0)) = 1.1250 (interpolating the running maximum), where the
    # table gives only 0.96 Q
    assert float(st[0]) == pytest.approx(y_hand, abs=1e-9)
    assert float(np.interp(float(st[0]), rc["stage"].values, tab.values)) == pytest.approx(Q, rel=1e-9)
    assert not bool(cap[0])
    # just above the local maximum Q(1.0): on the rising limb after the dip, not at the top of a plateau
    Q2 = q[1.0] * (1 + 1e-6)
    st2, _ = stage_for_discharge(rc, xr.DataArray([Q2], dims="reach", coords={"reach": [1]}))
    assert float(st2[0]) == pytest.approx(1.10 + 0.05 * (Q2 - q[1.10]) / (q[1.15] - q[1.10]), abs=1e-9)
    # monotone part, zero, negative and above the table
    qs = xr.DataArray([q[1.0] / 2, 0.0, -3.0, 1e9], dims="reach", coords={"reach": [1, 1, 1, 1]})
    st3, cap3 = stage_for_discharge(rc, qs)
    s = rc["stage"].values
    k = int(np.searchsorted(tab.values, q[1.0] / 2))
    y_lin = s[k - 1] + (q[1.0] / 2 - tab.values[k - 1]) / (tab.values[k] - tab.values[k - 1]) * (s[k] - s[k - 1])
    np.testing.assert_allclose(st3.values, [y_lin, 0.0, 0.0, 2.0], atol=1e-12)
    assert cap3.values.tolist() == [False, False, False, True]


# ----------------------------------------------------------------------------------------- slopes, n, lengths
def test_flat_or_negative_reach_slope_is_rejected():
    row = np.array([2.0, 0.5, 0.0, 0.5, 2.0])
    terrain, _ = _channel(row)
    with pytest.raises(InputDataError, match="min_slope"):
        reaches(terrain, max_length_m=1e6, min_slope=0.0)
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    # edited for calibration: S = 0 gave Q = 0 at every stage (any discharge filled the catchment to stage_max),
    # S < 0 gave NaN discharges and a NaN stage that was not flagged
    for name, value in (("slope", 0.0), ("slope", -0.01), ("slope", np.nan), ("manning_n", 0.0),
                        ("length_m", 0.0)):
        bad = rd.copy()
        bad[name] = rd[name] * 0 + value
        with pytest.raises(InputDataError, match=name):
            rating_curves(terrain, bad, stage_max_m=3.0, stage_step_m=0.25)


def test_web_mercator_rating_uses_the_true_cell_areas_of_each_row():
    """EPSG:3857 near 60 N, 5 km cells over 50 km: row widths change by ~1.4 %; the rating must use the same
    true per-row areas as reaches() (it used the first row's size for every cell)."""
    row = np.array([2.0, 0.5, 0.0, 0.5, 2.0])
    terrain, _ = _channel(row, dx=5000.0, crs="EPSG:3857", x0=1.0e6, y0=8.45e6)
    rd = reaches(terrain, max_length_m=1e9, manning_n=N_MAN)
    rc = rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.5)
    from hydro.terrain.grid import grid_geometry

    g = grid_geometry(terrain["hand"])
    assert g.dy_rows_m is not None and np.ptp(g.area_m2) / g.area_m2.mean() > 0.01
    true_area = float(np.sum(g.area_m2)) * row.size
    assert float(rd["catchment_area_m2"][0]) == pytest.approx(true_area, rel=1e-9)
    # at 3 m every cell (HAND <= 2 m) is wet: the wetted surface is the whole catchment
    assert float(rc["surface_area_m2"].sel(reach=1, stage=3.0)) == pytest.approx(true_area, rel=1e-9)
    # the channel column alone at stage 0.5: 10 cells, one per row
    assert float(rc["surface_area_m2"].sel(reach=1, stage=0.5)) == pytest.approx(float(np.sum(g.area_m2)),
                                                                                rel=1e-9)


# ----------------------------------------------------------------------------------------- depth map, time
def _rect():
    terrain, hand = _channel(np.array([2.0, 0.5, 0.0, 0.5, 2.0]))
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    rc = rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.25)
    return terrain, hand, rd, rc


def test_time_handling_of_the_depth_map():
    terrain, hand, rd, rc = _rect()
    times = pd.date_range("2025-01-01", periods=3, freq="h")
    q = xr.DataArray([[1.0, 30.0, 5.0]], dims=("reach", "time"), coords={"reach": [1], "time": times})
    one = hand_inundation(terrain, rd, rc, q, time=1)
    # the step mapped is kept (it was dropped: a map of an unknown time)
    assert one["time"].values == times[1] and one["time"].ndim == 0
    st, _ = stage_for_discharge(rc, xr.DataArray([30.0], dims="reach", coords={"reach": [1]}))
    np.testing.assert_allclose(one["flood_depth"].values[5], np.maximum(float(st[0]) - hand[5], 0.0), rtol=1e-6)
    mx = hand_inundation(terrain, rd, rc, q, time="max")
    assert mx["flood_depth"].attrs["comment"].endswith("over the series from 2025-01-01T00:00:00 to "
                                                       "2025-01-01T02:00:00")
    np.testing.assert_allclose(mx["flood_depth"].values, one["flood_depth"].values)
    # a single discharge (no time dim) is not "the maximum over the series"
    single = hand_inundation(terrain, rd, rc, {1: 30.0})
    assert "comment" not in single["flood_depth"].attrs  # it said "maximum discharge ... over the series"
    np.testing.assert_allclose(single["flood_depth"].values, one["flood_depth"].values)


def test_netcdf_of_one_step_and_of_the_maximum_is_cf_compliant(tmp_path):
    import netCDF4

    from hydro.flood import write_flood_netcdf
    from hydro.testing import assert_cf_compliant

    terrain, hand, rd, rc = _rect()
    times = pd.date_range("2025-01-01", periods=3, freq="h")
    q = xr.DataArray([[1.0, 30.0, 5.0]], dims=("reach", "time"), coords={"reach": [1], "time": times})
    for t in (1, "max"):
        (p,) = write_flood_netcdf(hand_inundation(terrain, rd, rc, q, time=t), tmp_path / f"hand_{t}.nc")
        assert_cf_compliant(p)
    with netCDF4.Dataset(tmp_path / "hand_1.nc") as nc:
        assert netCDF4.num2date(nc["time"][:], nc["time"].units) == times[1].to_pydatetime()
        assert nc.time_coverage_resolution == "PT3600S"


def test_hand_and_reach_grids_must_agree_in_hand_inundation():
    terrain, hand, rd, rc = _rect()
    small = terrain.isel(x=slice(0, 4))
    with pytest.raises(InputDataError, match="grids differ"):
        hand_inundation(small, rd, rc, {1: 5.0})


def test_discharge_grid_flipped_or_shifted_is_rejected():
    terrain, hand, rd, rc = _rect()
    qgrid = terrain["hand"].copy(data=np.arange(hand.size, dtype=np.float32).reshape(hand.shape))
    got = discharge_at_reaches(qgrid, rd)
    o = int(rd["outlet_index"][0])
    assert float(got.sel(reach=1)) == float(o) == 9 * 5 + 2  # the last channel cell, row 9 column 2
    flipped = qgrid.isel(y=slice(None, None, -1))  # same shape, south-up: would sample row 0
    with pytest.raises(InputDataError, match="coordinates differ"):
        discharge_at_reaches(flipped, rd)
    shifted = qgrid.assign_coords(x=qgrid["x"] + 10.0)
    with pytest.raises(InputDataError, match="coordinates differ"):
        discharge_at_reaches(shifted, rd)


# ----------------------------------------------------------------------------------------- hazard classes
def test_hazard_class_bounds_and_no_data():
    hr = np.array([np.nan, 0.0, 0.74, 0.75, 1.25, 1.2501, 2.0, 2.0001])
    # FD2321/TR2 Table 13.1: < 0.75 low, 0.75-1.25 moderate, 1.25-2.0 significant, > 2.0 extreme
    assert hazard_class(hr).tolist() == [-1, 1, 1, 2, 2, 3, 3, 4]  # NaN was class 1, "low_caution"
    depth = np.array([0.5, 0.0, 0.3, 0.3, 0.3, np.nan, 0.3, 0.3])
    assert hazard_class(hr, depth).tolist() == [-1, 0, 1, 2, 2, -1, 3, 4]


# ----------------------------------------------------------------------------------------- products
def test_cog_of_integer_maps_keeps_their_no_data(tmp_path):
    terrain, hand, rd, rc = _rect()
    t2 = terrain.copy()
    h2 = hand.copy()
    h2[3, 0] = np.nan  # a nodata HAND cell: extent -1
    t2["hand"] = terrain["hand"].copy(data=h2.astype(np.float32))
    out = hand_inundation(t2, rd, rc, {1: 30.0})
    ext = out["flood_extent"]
    assert int(ext[3, 0]) == -1
    p = write_cog(ext, tmp_path / "extent.tif")
    with rasterio.open(p) as src:
        assert src.nodata == -1  # was None: -1 written as a data value
        m = src.read(1, masked=True)
        assert bool(m.mask[3, 0]) and int(m.mask.sum()) == 1
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.profile["tiled"]
    cls = hazard_class(np.array([[np.nan, 0.5], [1.0, 3.0]]), np.array([[np.nan, 0.1], [0.3, 1.0]]))
    da = make_grid(np.zeros((2, 2)), dx=10.0).copy(data=cls)
    da.attrs = dict(HAZARD_CLASS_ATTRS)
    p = write_cog(da, tmp_path / "hazard_class.tif")
    with rasterio.open(p) as src:
        assert src.nodata == -1
        np.testing.assert_array_equal(src.read(1), [[-1, 1], [2, 4]])


def _signed_area(ring) -> float:
    xy = np.asarray(ring, dtype=np.float64)
    return 0.5 * float(np.dot(xy[:-1, 0], xy[1:, 1]) - np.dot(xy[1:, 0], xy[:-1, 1]))


def test_geojson_rings_follow_the_right_hand_rule_on_south_up_grids():
    d = np.zeros((7, 7), np.float32)
    d[1:6, 1:6] = 1.0
    d[3, 3] = 0.0  # a hole
    north = make_grid(d, dx=10.0)
    south = from_array(d[::-1], Affine(10.0, 0.0, 500000.0, 0.0, 10.0, 9849930.0), "EPSG:32750")
    for da in (north, south):
        for crs in (None, "EPSG:4326"):
            fc = extent_polygons(da, crs=crs)
            assert len(fc["features"]) == 1
            rings = fc["features"][0]["geometry"]["coordinates"]
            assert len(rings) == 2
            assert _signed_area(rings[0]) > 0 and _signed_area(rings[1]) < 0  # exterior CCW, hole CW
            assert fc["features"][0]["properties"] == {"area_m2": pytest.approx(2400.0), "cells": 24}
    lon, lat = np.asarray(extent_polygons(south)["features"][0]["geometry"]["coordinates"][0]).T
    assert (116.9 < lon).all() and (lon < 117.1).all() and (-1.4 < lat).all() and (lat < -1.3).all()


def test_one_cell_reach_at_the_edge_takes_the_slope_of_its_inflow():
    """Two 1 % valleys meet at the south edge: the confluence is a one-cell reach draining off the grid. It had no
    drop of its own and took the 1e-4 floor (stage 4x too high); it now takes the slope of the channel entering it,
    and every reach of this 1 % landscape has a slope near 1 %."""
    from hydro.flood import reaches
    from hydro.terrain import analyse

    ny, nx, dx = 30, 41, 10.0
    yy, xx = np.mgrid[0:ny, 0:nx]
    right = 20 + 10 * (ny - 1 - yy) / (ny - 1)
    left = 20 - 10 * (ny - 1 - yy) / (ny - 1)
    dist = np.minimum(np.abs(xx - right), np.abs(xx - left))
    z = 0.1 * dist * dx + 0.01 * (ny - 1 - yy) * dx + 5.0
    terrain = analyse(make_grid(z, dx=dx), stream_threshold_m2=20 * dx * dx)
    rd = reaches(terrain, max_length_m=1e6)
    outlet = {divmod(int(o), nx): k for k, o in enumerate(rd["outlet_index"].values)}
    edge, feeder = outlet[(ny - 1, 20)], outlet[(ny - 2, 20)]  # one-cell reaches: the edge cell and the one above
    assert int(rd["head_index"][edge]) == int(rd["outlet_index"][edge])
    zf = terrain["filled_elevation"].values.astype(np.float64)
    by_hand = (zf[ny - 2, 20] - zf[ny - 1, 20]) / dx  # the channel entering the edge cell: one 10 m step
    assert float(rd["slope"][edge]) == pytest.approx(by_hand, rel=1e-6)
    assert float(rd["slope"][edge]) == pytest.approx(float(rd["slope"][feeder]), rel=1e-6) and by_hand > 0.01


def test_bed_factor_keeps_the_slope_next_to_nodata():
    """A 50 % plane with a nodata hole: the cells beside the hole keep sqrt(1 + 0.5^2) (np.gradient gave NaN there,
    taken as flat: bed area 10.6 % low)."""
    from hydro.flood.hand import _cell_slope

    z = 0.5 * 10.0 * np.arange(6, dtype=float)[None, :].repeat(5, axis=0)
    z[2, 3] = np.nan
    s = _cell_slope(z, np.full(5, 10.0), np.full(5, 10.0))
    finite = np.isfinite(z)
    np.testing.assert_allclose(s[finite], 0.5, rtol=1e-12)
    assert s[2, 3] == 0.0


def test_adjust_rating_above_the_table_names_the_table():
    from hydro.flood import adjust_rating

    rating = xr.Dataset({"discharge_m3s": (("reach", "stage"), [[0.0, 1.0, 4.0]])},
                        coords={"reach": [1], "stage": [0.0, 1.0, 2.0]})
    with pytest.raises(InputDataError, match="above the rating table's highest stage 2.0"):
        adjust_rating(rating, 1, 3.0, 5.0)

"""HAND engine and flood products: regressions of the hand/products review (2026-12-07), on hand-computable grids.

Extent-polygon areas on Web Mercator, the CRS of a GeoJSON written in another CRS, rating adjustment on a
non-monotone table and with infinite input, the extent threshold and the time index of ``hand_inundation``.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine
from pyproj import CRS, Transformer

from hydro.errors import InputDataError
from hydro.flood import (
    adjust_rating,
    extent_polygons,
    flooded_area_km2,
    hand_inundation,
    rating_curves,
    reaches,
    stage_for_discharge,
)
from hydro.io.raster import from_array
from tests.flood.conftest import make_grid
from tests.flood.test_hand_review3 import N_MAN, _channel, _floodplain


# ----------------------------------------------------------------------------------------- extent polygons
def _block():
    """15 flooded cells: a 4 x 4 block with a one-cell hole."""
    d = np.zeros((6, 8), np.float32)
    d[1:5, 2:6] = 0.7
    d[2, 3] = 0.0
    return d


def test_polygon_area_on_web_mercator_is_the_true_area_of_its_cells():
    d = _block()
    x0, y0 = Transformer.from_crs(4326, 3857, always_xy=True).transform(8.0, 50.0)
    north = make_grid(d, dx=100.0, crs="EPSG:3857", x0=x0, y0=y0)
    south = from_array(d[::-1].copy(), Affine(100.0, 0.0, x0, 0.0, 100.0, y0 - 600.0), "EPSG:3857")
    # by hand: a 100 m Web Mercator cell at 50 N is about (100 cos 50)^2 = 4132 m2 on the ground (spherical scale;
    # the ellipsoid adds ~0.2 %), so 15 cells are ~62,000 m2, not the 150,000 m2 of the projected plane
    by_hand = 15 * (100.0 * np.cos(np.radians(49.997))) ** 2
    for da in (north, south):
        fc = extent_polygons(da)
        (feat,) = fc["features"]
        assert feat["properties"]["cells"] == 15
        area = feat["properties"]["area_m2"]
        assert area == pytest.approx(by_hand, rel=5e-3)  # was 150000.0: 2.4x too large
        # the same number as the flooded area of the same cells
        assert area == pytest.approx(flooded_area_km2(d > 0, north) * 1e6, rel=1e-9)


def test_polygon_area_is_unchanged_on_utm_feet_and_consistent_on_degrees():
    d = _block()
    assert extent_polygons(make_grid(d, dx=10.0), crs=None)["features"][0]["properties"]["area_m2"] == \
        pytest.approx(1500.0, rel=1e-9)
    ft = make_grid(d, dx=10.0 / 0.3048006096012192, crs="EPSG:2229", x0=6e6, y0=2e6)
    assert extent_polygons(ft, crs=None)["features"][0]["properties"]["area_m2"] == pytest.approx(1500.0, rel=1e-9)
    geo = make_grid(d, dx=0.01, crs="EPSG:4326", x0=116.8, y0=-1.2)
    a = extent_polygons(geo, crs=None)["features"][0]["properties"]["area_m2"]
    assert a == pytest.approx(flooded_area_km2(d > 0, geo) * 1e6, rel=1e-9)
    assert a == pytest.approx(15 * 1105.8 * 1113.2, rel=2e-3)


def test_geojson_in_another_projected_crs_names_its_crs():
    da = make_grid(_block(), dx=10.0)
    fc = extent_polygons(da, crs="EPSG:3857")
    # coordinates in metres of Web Mercator: without a CRS member every GeoJSON reader takes them as lon/lat
    x, y = fc["features"][0]["geometry"]["coordinates"][0][0]
    assert abs(x) > 1e6
    assert CRS.from_wkt(fc["crs_wkt"]).equals(CRS.from_epsg(3857))
    assert "crs_wkt" not in extent_polygons(da)  # WGS84 lon/lat: RFC 7946, no CRS member
    assert CRS.from_wkt(extent_polygons(da, crs=None)["crs_wkt"]).equals(CRS.from_epsg(32750))


# ----------------------------------------------------------------------------------------- rating adjustment
def test_adjust_rating_warns_when_a_table_dip_keeps_the_observed_stage_out_of_reach():
    terrain, _ = _floodplain()
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    rc = rating_curves(terrain, rd, stage_max_m=2.0, stage_step_m=0.05)
    tab = rc["discharge_m3s"].sel(reach=1).values
    s = rc["stage"].values
    # observed at 1.10 m, in the dip (Q(1.10) < Q(1.0)): the table already reaches Q(1.10) between 0.95 and 1.0 m
    q110 = float(rc["discharge_m3s"].sel(reach=1, stage=1.10))
    k = int(np.argmax(tab >= q110))
    y_low = s[k - 1] + (q110 - tab[k - 1]) / (tab[k] - tab[k - 1]) * (s[k] - s[k - 1])
    assert 0.95 <= y_low < 1.0
    q_obs = 2.0 * q110
    with pytest.warns(UserWarning, match="not monotone"):
        adj = adjust_rating(rc, 1, 1.10, q_obs)
    # the table is fitted (n halved, Q doubled at the observed stage) ...
    assert float(adj["discharge_m3s"].sel(reach=1, stage=1.10)) == pytest.approx(q_obs, rel=1e-12)
    assert float(adj["manning_n"].sel(reach=1)) == pytest.approx(N_MAN / 2.0, rel=1e-12)
    # ... but the inversion gives the lowest stage reaching q_obs, whatever n: what the warning says
    st, _ = stage_for_discharge(adj, xr.DataArray([q_obs], dims="reach", coords={"reach": [1]}))
    assert float(st[0]) == pytest.approx(y_low, abs=1e-9)
    # on the monotone part the observation is reproduced, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adj = adjust_rating(rc, 1, 0.6, 7.0)
    st, _ = stage_for_discharge(adj, xr.DataArray([7.0], dims="reach", coords={"reach": [1]}))
    assert float(st[0]) == pytest.approx(0.6, abs=1e-9)


def test_adjust_rating_refuses_infinite_observations():
    terrain, _ = _floodplain()
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    rc = rating_curves(terrain, rd, stage_max_m=2.0, stage_step_m=0.05)
    for stage, q in ((0.6, np.inf), (0.6, np.nan), (np.nan, 5.0)):
        with pytest.raises(InputDataError, match="finite"):  # inf gave n = 0 and a table of inf and NaN
            adjust_rating(rc, 1, stage, q)


# ----------------------------------------------------------------------------------------- hand_inundation
def _rect():
    terrain, hand = _channel(np.array([2.0, 0.5, 0.0, 0.5, 2.0]))
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    return terrain, hand, rd, rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.25)


def test_extent_threshold_must_be_finite_and_not_negative():
    terrain, hand, rd, rc = _rect()
    ok = hand_inundation(terrain, rd, rc, {1: 30.0}, threshold_m=0.2)
    st = float(ok["stage"].sel(reach=1))
    assert 0.5 < st < 2.0
    # by hand: channel and banks deeper than 0.2 m, the outer cells (HAND 2 m) dry
    np.testing.assert_array_equal(ok["flood_extent"].values, np.broadcast_to([0, 1, 1, 1, 0], hand.shape))
    for thr in (np.nan, -0.5):
        # NaN gave an all-dry extent under depths of 1 m; -0.5 flagged every cell flooded, the dry ones too
        with pytest.raises(InputDataError, match="threshold_m"):
            hand_inundation(terrain, rd, rc, {1: 30.0}, threshold_m=thr)


def test_infinite_discharge_and_a_time_index_outside_the_series_are_input_errors():
    terrain, hand, rd, rc = _rect()
    for q in (np.inf, -np.inf):  # +inf was mapped to the full 3 m stage, -inf to a dry reach
        with pytest.raises(InputDataError, match="infinite"):
            hand_inundation(terrain, rd, rc, {1: q})
    times = pd.date_range("2025-01-01", periods=3, freq="h")
    q = xr.DataArray([[1.0, 30.0, 5.0]], dims=("reach", "time"), coords={"reach": [1], "time": times})
    with pytest.raises(InputDataError, match="time index"):  # an IndexError traceback before
        hand_inundation(terrain, rd, rc, q, time=3)
    last = hand_inundation(terrain, rd, rc, q, time=-1)
    assert last["time"].values == times[-1]
    st, _ = stage_for_discharge(rc, xr.DataArray([5.0], dims="reach", coords={"reach": [1]}))
    np.testing.assert_allclose(last["flood_depth"].values, np.maximum(float(st[0]) - hand, 0.0), rtol=1e-6)


def test_reach_outlet_coordinates_carry_the_grid_units():
    """Before: outlet_x/outlet_y were labelled "m" on a US-feet grid (values in feet)."""
    from hydro.flood import reaches
    from hydro.terrain import analyse
    from tests.flood.conftest import make_grid

    ny, nx, j0 = 30, 21, 10
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 0.1 * np.abs(xx - j0) * 6.0 + 0.002 * (ny - 1 - yy) * 6.0 + 30.0
    for crs, dx, units in (("EPSG:2229", 20.0, "US_survey_foot"), ("EPSG:32750", 6.0, "m")):
        terrain = analyse(make_grid(z, dx=dx, crs=crs, x0=6e6, y0=2e6), stream_threshold_m2=200.0)
        rd = reaches(terrain, max_length_m=1e6)
        assert rd["outlet_x"].attrs["units"] == units and rd["outlet_y"].attrs["units"] == units
        main = int(rd["stream_reach"].values[ny // 2, j0])
        assert float(rd["outlet_x"].sel(reach=main)) == pytest.approx(float(terrain["x"][j0]))

"""Terrain review: georeference mistakes, infinite elevations and mis-shaped per-cell inputs are refused.

Each test failed before the fix (silently wrong or a bare numpy/Python error) and checks values where the
input is valid.
"""
from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

import hydro.terrain as T
from hydro.errors import InputDataError
from hydro.io.raster import from_array
from tests.terrain.helpers import grid

# a plane falling towards the north-west corner (0, 0)
PLANE = (np.add.outer(np.arange(8), np.arange(8)) * 2.0 + 100.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# 1. a projected grid given a geographic CRS: NaN cell sizes, made-up flat directions, NaN upstream areas, no streams
@pytest.mark.parametrize(
    "transform",
    [
        Affine(30.0, 0, 400000.0, 0, -30.0, 3800000.0),  # UTM 11N coordinates labelled EPSG:4326
        Affine(0.5, 0, 10.0, 0, -0.5, 91.0),  # degrees, but the top rows lie beyond the North Pole
    ],
)
def test_geographic_crs_with_coordinates_off_the_globe_is_refused(transform):
    dem = from_array(PLANE, transform, "EPSG:4326")
    with pytest.raises(InputDataError, match="outside -90 to 90"):
        T.grid_geometry(dem)
    with pytest.raises(InputDataError, match="outside -90 to 90"):
        T.analyse(dem, 1e3)


def test_open_dem_with_a_wrong_geographic_crs_is_refused_by_the_analysis(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from hydro.io import open_dem

    path = tmp_path / "utm_without_crs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="float32",
                       transform=Affine(30.0, 0, 400000.0, 0, -30.0, 3800000.0), nodata=-9999) as dst:
        dst.write(PLANE, 1)
    dem = open_dem(path, crs="EPSG:4326")  # the user guessed the CRS
    with pytest.raises(InputDataError, match="not longitude/latitude"):
        T.analyse(dem, 1e3)
    # the right CRS: every cell drains to the north-west corner, 64 cells of 900 m2
    ds = T.analyse(open_dem(path, crs="EPSG:32611"), 1e3)
    assert ds.flow_direction.values[0, 0] == 0
    assert ds.upstream_area.values[0, 0] == pytest.approx(64 * 900.0)


def test_geographic_crs_in_grads_is_refused():
    # NTF (Paris) in grads: 0.01 grad is 0.009 degree and 50 grad is 45 degrees; the cell areas came out 12 % too large
    dem = from_array(PLANE, Affine(0.01, 0, 2.0, 0, -0.01, 50.0), "EPSG:4807")
    with pytest.raises(InputDataError, match="not degrees"):
        T.grid_geometry(dem)


def test_valid_geographic_grid_still_has_finite_true_cell_areas():
    res = 1.0 / 1200
    dem = from_array(PLANE, Affine(res, 0, 116.8, 0, -res, 89.9), "EPSG:4326")  # up to 0.1 degree from the pole
    g = T.grid_geometry(dem)
    assert np.isfinite(g.area_m2).all() and (g.area_m2 > 0).all()
    ds = T.analyse(dem, 1e12)
    assert ds.upstream_area.values[0, 0] == pytest.approx(g.area_m2.sum() * 8, rel=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# 2. infinite elevations: -inf on the edge gave HAND inf / NaN on valid cells (streams have HAND 0 by contract)
def test_infinite_elevation_is_refused():
    z = np.array([[5, 5, 5, 5], [5, 3, 3, 5], [5, 3, 2, 5], [5, 5, -np.inf, 5.0]])
    with pytest.raises(InputDataError, match="1 infinite cells"):
        T.analyse(grid(z), stream_threshold_m2=250.0)
    z[3, 2] = np.inf
    with pytest.raises(InputDataError, match="infinite cells"):
        T.fill_depressions(grid(z))


def test_declared_infinite_nodata_is_still_nodata():
    z = np.array([[5, 5, 5, 5], [5, 3, 3, 5], [5, 3, 2, 5], [5, 5, -np.inf, 5.0]])
    dem = grid(z)
    dem.rio.write_nodata(-np.inf, encoded=False, inplace=True)
    ds = T.analyse(dem, stream_threshold_m2=250.0)
    assert ds.flow_direction.values[3, 2] == 255
    hand = ds.hand.values
    valid = np.isfinite(z)
    assert np.isfinite(hand[valid]).all() and (hand[valid] >= 0).all()


# ---------------------------------------------------------------------------------------------------------------
# 3. per-cell inputs of another shape: a transposed (x, y) grid has the same size and was read row-major
def _three_by_four():
    ds = T.analyse(grid(np.arange(12.0).reshape(3, 4)), stream_threshold_m2=150.0)
    return ds


def test_strahler_stream_mask_of_another_shape_is_refused():
    ds = _three_by_four()
    with pytest.raises(InputDataError, match=r"stream_mask has shape \(4, 3\)"):
        T.strahler_order(ds.flow_direction, np.ones((4, 3)))
    with pytest.raises(InputDataError, match=r"stream_mask has shape \(2, 2\)"):
        T.strahler_order(ds.flow_direction, np.ones((2, 2)))  # was a bare numpy broadcasting ValueError
    # the right shape: every cell a stream; the first row is one W-flowing line fed by three order-1 columns
    order = T.strahler_order(ds.flow_direction, np.ones((3, 4))).values
    np.testing.assert_array_equal(order, [[2, 2, 2, 1], [1, 1, 1, 1], [1, 1, 1, 1]])


def test_accumulation_weights_of_another_shape_are_refused():
    ds = _three_by_four()
    w = np.arange(12.0).reshape(3, 4)
    with pytest.raises(InputDataError, match=r"weights has shape \(4, 3\)"):
        T.flow_accumulation(ds.flow_direction, weights=w.T)
    # (ny, nx) and flat (ny*nx,) weights give the same sums; the outlet (0, 0) gets every weight
    a2 = T.flow_accumulation(ds.flow_direction, weights=w).values
    a1 = T.flow_accumulation(ds.flow_direction, weights=w.ravel()).values
    np.testing.assert_array_equal(a1, a2)
    assert a2[0, 0] == pytest.approx(w.sum())


@pytest.mark.parametrize("distance", [np.nan, -30.0])
def test_catchments_refuse_a_nan_or_negative_snap_distance(distance):
    ds = _three_by_four()
    x, y = float(ds.x[3]), float(ds.y[2])
    with pytest.raises(InputDataError, match="snap_distance_m"):
        T.catchments(ds.flow_direction, [(x, y)], stream_mask=ds.streams, snap_distance_m=distance)


def test_catchments_refuse_a_stream_mask_of_another_shape():
    ds = _three_by_four()
    x, y = float(ds.x[3]), float(ds.y[2])
    with pytest.raises(InputDataError, match=r"stream_mask has shape \(4, 3\)"):
        T.catchments(ds.flow_direction, [(x, y)], stream_mask=np.ones((4, 3)), snap_distance_m=15.0)
    # the right shape: rows 0 and 1 are streams (>= 2 cells of 100 m2); the point at the centre of (2, 3) snaps to
    # (1, 3), 10 m north, whose catchment is (1, 3) and (2, 3)
    np.testing.assert_array_equal(ds.streams.values, [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]])
    cat = T.catchments(ds.flow_direction, [(x, y)], stream_mask=ds.streams, snap_distance_m=15.0)
    assert cat.attrs["outlet_y"][0] == pytest.approx(float(ds.y[1]))
    np.testing.assert_array_equal(np.argwhere(cat.values == 1), [[1, 3], [2, 3]])

"""Review of the flood products and exposure (session rev_products): hand-derived cases on tiny grids."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from affine import Affine
from rasterio.transform import from_origin

from hydro.errors import InputDataError
from hydro.flood.exposure import people_affected, roads_affected_km
from hydro.flood.hazard import HAZARD_CLASS_ATTRS
from hydro.flood.products import extent_polygons, flooded_area_km2, write_cog
from hydro.io.raster import from_array


def _map(values, x0=500000.0, y0=9850040.0, res=10.0, crs="EPSG:32750", dtype=np.float32):
    a = np.asarray(values, dtype=dtype)
    da = xr.DataArray(a, dims=("y", "x"), coords={"y": y0 - res * (np.arange(a.shape[0]) + 0.5),
                                                  "x": x0 + res * (np.arange(a.shape[1]) + 0.5)})
    return da.rio.write_crs(crs).rio.write_transform(from_origin(x0, y0, res, res))


@pytest.mark.parametrize("fill", [np.float32(np.nan), float("nan")])
def test_cog_of_a_class_map_built_on_a_hydro_float_grid_keeps_its_class_nodata(tmp_path, fill):
    # a float grid of hydro (from_array: _FillValue NaN in its attributes), its hazard classes put on it with
    # copy(data=...): the NaN fill cannot be an int8 nodata; the vocabulary's -1 (no data) must be used instead.
    # Before: OutputError "cannot convert float NaN to integer" and no file.
    base = from_array(np.zeros((3, 3), np.float32), Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 9850040.0), "EPSG:32750")
    assert np.isnan(base.attrs["_FillValue"])
    classes = np.array([[0, 1, 2], [3, 4, -1], [1, 1, 1]], np.int8)
    cls = base.copy(data=classes)
    cls.attrs["_FillValue"] = fill
    cls.attrs.update(HAZARD_CLASS_ATTRS)
    p = write_cog(cls, tmp_path / "hazard_class.tif")
    with rasterio.open(p) as src:
        assert src.dtypes[0] == "int8"
        assert src.nodata == -1  # hazard_class: -1 = no data (outside valid_range 0..4)
        np.testing.assert_array_equal(src.read(1), classes)
        assert src.transform == Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 9850040.0)
    # an integer map without a vocabulary fill: written, with no nodata (0 is a value)
    counts = base.astype(np.int16)
    p = write_cog(counts, tmp_path / "counts.tif")
    with rasterio.open(p) as src:
        assert src.nodata is None
        np.testing.assert_array_equal(src.read(1), np.zeros((3, 3)))


@pytest.mark.parametrize("threshold", [-0.1, float("nan"), float("inf")])
def test_exposure_refuses_a_negative_or_non_finite_threshold(threshold):
    depth = _map([[0.5, 0.0],
                  [0.0, 0.0]])
    pop = _map([[10.0, 20.0],
                [30.0, 40.0]])
    # by hand at 0.1 m: only cell (0, 0) is flooded: 10 people; a 10 m road along row 0 over it: 0.010 km
    assert people_affected(depth, pop, 0.1) == pytest.approx(10.0)
    road = np.array([[500000.0, 9850035.0], [500020.0, 9850035.0]])
    assert roads_affected_km(depth, [road], 0.1) == pytest.approx(0.010)
    # before: -0.1 m counted all 100 people and 0.020 km (every dry cell "flooded"); NaN counted nobody
    with pytest.raises(InputDataError, match="threshold"):
        people_affected(depth, pop, threshold)
    with pytest.raises(InputDataError, match="threshold"):
        roads_affected_km(depth, [road], threshold)


def test_extent_polygons_of_an_x_y_ordered_map_are_in_place():
    # 2 x 3 flag, 10 m cells, top-left corner (500000, 9850040):
    #   row 0 (y 9850030..9850040): 1 1 1
    #   row 1 (y 9850020..9850030): 0 0 1
    # one polygon: the top row (x 500000..500030) and the cell x 500020..500030, y 9850020..9850030
    ext = _map([[1, 1, 1], [0, 0, 1]], dtype=np.int8)
    want = {(500000.0, 9850040.0), (500030.0, 9850040.0), (500030.0, 9850020.0), (500020.0, 9850020.0),
            (500020.0, 9850030.0), (500000.0, 9850030.0)}
    for da in (ext, ext.transpose("x", "y")):
        fc = extent_polygons(da, crs=None)
        assert len(fc["features"]) == 1
        ring = fc["features"][0]["geometry"]["coordinates"][0]
        assert {tuple(p) for p in ring} == want  # before, for (x, y): x 500000..500020, y 9850010..9850040
        assert fc["features"][0]["properties"] == {"area_m2": 400.0, "cells": 4}


def test_flooded_area_of_an_x_y_ordered_degree_grid():
    from pyproj import Geod

    # 1-degree cells, rows at latitudes 60..59 (flooded: 3 cells, lon 116..119) and 59..58 (dry)
    like = _map([[1, 1, 1], [0, 0, 0]], x0=116.0, y0=60.0, res=1.0, crs="EPSG:4326", dtype=np.int8)
    geod = Geod(ellps="WGS84")
    # three cells lon 116..117, 117..118, 118..119 x lat 59..60: each the geodesic area of its four corners on the
    # WGS84 ellipsoid (the convention of grid_geometry), all three equal: 3 x 6309.6 km2
    want = 3 * abs(geod.polygon_area_perimeter([116.0, 117.0, 117.0, 116.0], [59.0, 59.0, 60.0, 60.0])[0]) / 1e6
    assert want == pytest.approx(18928.8, abs=0.1)
    assert flooded_area_km2(like.values == 1, like) == pytest.approx(want, rel=1e-9)
    t = like.transpose("x", "y")
    # before: 19480.7 km2 instead of 18928.8 (the row areas taken along x: latitudes 60..57 for a 3-cell axis)
    assert flooded_area_km2(t.values == 1, t) == pytest.approx(want, rel=1e-9)

"""Review 5 of the terrain module: defects found by hand-derived grids and the shared real DEMs.

Each test fails on the code before the fix (see REPORT.md of the review) and checks values, not only that
something runs.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from affine import Affine

import hydro.terrain as T
from hydro.errors import InputDataError
from hydro.io import open_dem
from hydro.io.raster import from_array, grid_transform

SHARED_DEM = Path(os.environ.get("HYDRO_SHARED_DIR", "/work/shared")) / "data" / "dem"


def _grid(z: np.ndarray, cell: float = 10.0) -> xr.DataArray:
    """Projected (UTM 50S) north-up DataArray from an elevation array (NaN = nodata)."""
    z = np.asarray(z, dtype=np.float32)
    return from_array(z, Affine(cell, 0, 500000.0, 0, -cell, 9850000.0 + cell * z.shape[0]), "EPSG:32750")


def _shared(name: str) -> Path:
    path = SHARED_DEM / name
    if not path.exists():
        pytest.skip(f"shared DEM {path} not available (the /work/shared data directory is absent)")
    return path


# --------------------------------------------------------------------------------------------
# 1. a DEM whose dims are (x, y) was read row-major as if they were (y, x): E became S
def test_transposed_dem_is_refused_not_analysed_sideways():
    # a plane falling 1 m per cell to the east: every interior cell drains east (code 1)
    z = np.tile(np.arange(6, 0, -1.0), (5, 1))
    dem = _grid(z)
    assert T.flow_direction(T.fill_depressions(dem)).values[2, 2] == 1
    with pytest.raises(InputDataError, match=r"not in \(y, x\) order"):
        T.fill_depressions(dem.transpose("x", "y"))
    with pytest.raises(InputDataError, match=r"not in \(y, x\) order"):
        T.flow_direction(dem.transpose("x", "y"))
    fd = T.flow_direction(dem)
    with pytest.raises(InputDataError, match=r"not in \(y, x\) order"):
        T.flow_network(fd.transpose("x", "y"))


def test_lat_lon_named_dims_get_a_clear_message():
    # before: "unsupported orientation (pixel width 1.0, height 1.0)" (rioxarray found no x/y and used identity)
    dem = _grid(np.tile(np.arange(6, 0, -1.0), (5, 1))).rename(y="lat", x="lon")
    with pytest.raises(InputDataError, match=r"rename them to \('y', 'x'\)"):
        T.fill_depressions(dem)


# --------------------------------------------------------------------------------------------
# 2. the DataArray's declared nodata (rio.nodata, e.g. rioxarray.open_rasterio without masked=True) was taken as
#    ground elevation: the sea at -9999 became a sink collecting every coastal basin
def _coast(nodata_as: float) -> xr.DataArray:
    # land rising 1 m per row to the north, sea (nodata) in the 3 southern rows, a low coastal cell at (6, 3)
    ny, nx = 10, 8
    z = (ny - np.arange(ny))[:, None] * 1.0 + np.zeros((1, nx))
    z[6, 3] = 0.5
    z[7:, :] = nodata_as
    da = _grid(z)
    if not np.isnan(nodata_as):
        da = da.rio.write_nodata(nodata_as, encoded=False)
    return da


def test_declared_nodata_value_is_nodata_not_ground():
    ref = T.analyse(_coast(np.nan), stream_threshold_m2=300.0)
    raw = T.analyse(_coast(-9999.0), stream_threshold_m2=300.0)
    fd = raw.flow_direction.values
    # hand-derived (tests/terrain/test_known_cases.py): the sea rows are nodata and the coastal row drains into the
    # sea, except the two neighbours of the low cell, which drain to it
    assert (fd[7:] == 255).all()
    np.testing.assert_array_equal(fd[6], [0, 0, 1, 0, 16, 0, 0, 0])
    np.testing.assert_array_equal(fd, ref.flow_direction.values)
    # every land cell (7 rows x 8 = 56 cells of 100 m2) is counted once at a coastal outlet: 5600 m2
    up = raw.upstream_area.values
    assert np.nansum(up[fd == 0]) == pytest.approx(56 * 100.0)
    np.testing.assert_array_equal(up, ref.upstream_area.values)
    np.testing.assert_array_equal(raw.hand.values, ref.hand.values)
    np.testing.assert_array_equal(raw.streams.values, ref.streams.values)
    # the elevation output says NaN is its nodata: it must not carry -9999 as a value
    assert np.isnan(raw.elevation.values[7:]).all()
    assert np.isnan(raw.filled_elevation.values[7:]).all()


def test_rhine_opened_with_rioxarray_unmasked_equals_open_dem():
    rioxarray = pytest.importorskip("rioxarray")
    path = _shared("pyflwdir_rhine_elv0_30s.tif")
    raw = rioxarray.open_rasterio(path).squeeze("band", drop=True)
    assert raw.rio.nodata == -9999.0 and (raw.values == -9999.0).sum() == 330107  # the sea/outside is -9999
    fd_raw = T.flow_direction(T.fill_depressions(raw))
    fd = T.flow_direction(T.fill_depressions(open_dem(path)))
    assert int((fd_raw.values == 255).sum()) == 330107  # before: 0 (the -9999 area was ground)
    np.testing.assert_array_equal(fd_raw.values, fd.values)


# --------------------------------------------------------------------------------------------
# 3. analyse wrote the DEM's stored (stale) GeoTransform on its output
def test_analyse_output_transform_is_that_of_the_coordinates():
    z = np.add.outer(np.arange(8.0, 0, -1), np.arange(8.0)) + 100.0
    dem = _grid(z, cell=30.0)
    coarse = dem.coarsen(x=2, y=2).mean()
    assert coarse.rio.transform(recalc=False).a == 30.0  # rioxarray keeps the 30 m GeoTransform: stale
    ds = T.analyse(coarse, stream_threshold_m2=1e4)
    t = ds.rio.transform(recalc=False)
    assert (t.a, t.e) == (60.0, -60.0)  # hand-derived: 2 x 30 m
    assert (t.c, t.f) == pytest.approx((500000.0, 9850000.0 + 30.0 * 8))
    assert tuple(t)[:6] == tuple(grid_transform(coarse))[:6]


# --------------------------------------------------------------------------------------------
# 4. open_dem: a float64 DEM with the usual float64 nodata -DBL_MAX, read as float32, raised an overflow warning
def test_float64_dem_with_dbl_max_nodata_reads_without_warning(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    nd = -np.finfo(np.float64).max
    z = np.arange(12, dtype=np.float64).reshape(3, 4) + 100.0
    z[0, 0] = nd
    path = tmp_path / "f64.tif"
    with rasterio.open(path, "w", driver="GTiff", height=3, width=4, count=1, dtype="float64", crs="EPSG:32611",
                       transform=Affine(30, 0, 400000, 0, -30, 3800000), nodata=nd) as dst:
        dst.write(z, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        da = open_dem(path)
    assert da.dtype == np.float32
    assert np.isnan(da.values[0, 0]) and int(np.isnan(da.values).sum()) == 1
    assert da.values[2, 3] == 111.0


# --------------------------------------------------------------------------------------------
# 5. small input checks: errors from hydro.errors with a clear message
def test_float16_dem_is_refused_with_a_hydro_error():
    dem = _grid(np.arange(16.0).reshape(4, 4)).astype(np.float16)
    with pytest.raises(InputDataError, match="float32 or float64"):  # before: numba NotImplementedError
        T.fill_depressions(dem)


@pytest.mark.parametrize("threshold", [np.nan, np.inf])
def test_stream_threshold_must_be_finite(threshold):
    fd = T.flow_direction(T.fill_depressions(_grid(np.tile(np.arange(6, 0, -1.0), (5, 1)))))
    with pytest.raises(InputDataError, match="positive, finite"):  # before: silently no stream at all
        T.streams(T.upstream_area(fd), threshold)


# --------------------------------------------------------------------------------------------
# 6. a flow-direction grid flipped after the analysis (sortby("y")) was followed the wrong way
def test_flipped_flow_direction_grid_is_refused():
    yy, xx = np.mgrid[0:6, 0:5]
    fd = T.flow_direction(T.fill_depressions(_grid(10.0 + 10.0 * yy + 0.1 * xx)))  # rises to the south
    assert (fd.values[1:, :] == 64).all()  # every cell below the north edge drains north
    # hand-derived: the north row falls 0.1 m per column to the west, so the whole 6 x 5 grid of 100 m2 cells ends
    # at the north-west corner: 3000 m2
    assert fd.values[0, 0] == 0 and (fd.values[0, 1:] == 16).all()
    assert float(np.nanmax(T.upstream_area(fd).values)) == 3000.0
    flipped = fd.sortby("y")  # y ascending: code 64 (north) would now point south in array terms
    with pytest.raises(InputDataError, match="orientation"):  # before: accepted, largest area 500 m2
        T.flow_network(flipped)
    with pytest.raises(InputDataError, match="orientation"):
        T.upstream_area(flipped)

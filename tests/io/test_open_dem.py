"""DEM input: georeference kept, nodata as NaN, and a clear error for each kind of bad input."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from hydro.errors import InputDataError, InputMissingError, ResourceError
from hydro.io import open_dem


def _write(path, data, transform=Affine(30, 0, 500000, 0, -30, 9850000), crs="EPSG:32750", nodata=None, dtype=None):
    data = np.asarray(data)
    with rasterio.open(
        path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
        dtype=dtype or data.dtype, crs=crs, transform=transform, nodata=nodata,
    ) as dst:
        dst.write(data.astype(dtype or data.dtype), 1)
    return path


def test_integer_dem_with_nodata_sentinel(tmp_path):
    z = np.arange(20, dtype=np.int16).reshape(4, 5)
    z[0, 0] = -32768
    da = open_dem(_write(tmp_path / "i.tif", z, nodata=-32768))
    assert da.dtype == np.float32
    assert np.isnan(da.values[0, 0]) and da.values[0, 1] == 1.0
    assert da.rio.crs.to_epsg() == 32750
    assert tuple(da.rio.transform())[:6] == (30, 0, 500000, 0, -30, 9850000)
    # cell centres
    assert da.x.values[0] == 500015 and da.y.values[0] == 9850000 - 15


def test_float_dem_nan_and_sentinel_both_become_nan(tmp_path):
    z = np.ones((3, 3), np.float32)
    z[0, 0] = np.nan
    z[1, 1] = -9999.0
    da = open_dem(_write(tmp_path / "f.tif", z, nodata=-9999.0), dtype="float64")
    assert da.dtype == np.float64
    assert np.isnan(da.values).sum() == 2


def test_geographic_dem(shared_dem):
    da = open_dem(shared_dem("pysheds_dem_fortworth_3s.tif"))
    assert da.rio.crs.is_geographic
    assert da.shape == (359, 367)


def test_no_crs_needs_explicit_crs(tmp_path):
    p = _write(tmp_path / "nocrs.tif", np.ones((3, 3), np.float32), crs=None)
    with pytest.raises(InputDataError, match="no CRS"):
        open_dem(p)
    assert open_dem(p, crs="EPSG:32750").rio.crs.to_epsg() == 32750


def test_crs_mismatch_is_an_error(tmp_path):
    p = _write(tmp_path / "a.tif", np.ones((3, 3), np.float32))
    with pytest.raises(InputDataError, match="differs"):
        open_dem(p, crs="EPSG:4326")


@pytest.mark.parametrize(
    "kind, match",
    [
        ("missing", "not found"),
        ("garbage", "not a readable raster"),
        ("truncated", "raster"),
        ("all_nodata", "every cell is nodata"),
        ("non_square", "non-square"),
        ("rotated", "rotated"),
        ("one_cell", "too small"),
    ],
)
def test_bad_dems(tmp_path, kind, match):
    p = tmp_path / f"{kind}.tif"
    if kind == "garbage":
        p.write_bytes(b"this is not a GeoTIFF\n" * 10)
    elif kind == "truncated":
        _write(p, np.random.default_rng(0).random((200, 200)).astype(np.float32))
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 3])
    elif kind == "all_nodata":
        _write(p, np.full((4, 4), -9999.0, np.float32), nodata=-9999.0)
    elif kind == "non_square":
        _write(p, np.ones((4, 4), np.float32), transform=Affine(30, 0, 0, 0, -20, 0))
    elif kind == "rotated":
        _write(p, np.ones((4, 4), np.float32), transform=Affine(30, 1, 0, 1, -30, 0))
    elif kind == "one_cell":
        _write(p, np.ones((1, 1), np.float32))
    exc = InputMissingError if kind == "missing" else InputDataError
    with pytest.raises(exc, match=match):
        da = open_dem(p)
        da.values.sum()  # a truncated file may only fail on reading


def test_too_large_for_memory_says_the_size(tmp_path, monkeypatch):
    import hydro.io.raster as raster

    p = _write(tmp_path / "big.tif", np.ones((100, 100), np.float32))
    monkeypatch.setattr(raster, "available_memory_bytes", lambda: 1000)
    with pytest.raises(ResourceError, match=r"100 x 100 = 10,000 cells needs about"):
        open_dem(p)

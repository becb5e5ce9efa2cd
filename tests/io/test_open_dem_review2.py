"""open_dem: band scale/offset and GDAL mask bands (regressions of review 2)."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from hydro.errors import InputDataError
from hydro.io import open_dem

TRANSFORM = Affine(30, 0, 500000, 0, -30, 9850000)


def _profile(data, count=1, **kw):
    return dict(driver="GTiff", height=data.shape[0], width=data.shape[1], count=count, dtype=data.dtype,
                crs="EPSG:32750", transform=TRANSFORM, **kw)


def test_scale_and_offset_give_metres(tmp_path):
    # int16 decimetres above a 100 m datum: metres = stored x 0.1 + 100; the nodata sentinel stays nodata
    stored = (np.arange(12, dtype=np.int16).reshape(3, 4) * 7 + 1234).astype(np.int16)
    stored[2, 3] = -32768
    path = tmp_path / "dm.tif"
    with rasterio.open(path, "w", **_profile(stored, nodata=-32768)) as dst:
        dst.write(stored, 1)
        dst.scales = (0.1,)
        dst.offsets = (100.0,)
    da = open_dem(path, dtype="float64")
    expected = stored.astype(np.float64) * 0.1 + 100.0
    expected[2, 3] = np.nan
    np.testing.assert_allclose(da.values, expected, rtol=0, atol=1e-9)
    assert da.values[0, 0] == pytest.approx(223.4)  # not 1234 (decimetres)
    assert da.attrs["source_scale_factor"] == 0.1 and da.attrs["source_add_offset"] == 100.0
    # float32 result: rounded once from the exact value
    da32 = open_dem(path)
    np.testing.assert_array_equal(da32.values, expected.astype(np.float32))


def test_internal_mask_band_cells_are_nodata(tmp_path):
    z = np.arange(20, dtype=np.float32).reshape(4, 5) + 50.0
    mask = np.full(z.shape, 255, np.uint8)
    mask[1, 2] = 0
    mask[3, 0] = 0
    path = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", **_profile(z)) as dst:  # no nodata value: only the mask says so
            dst.write(z, 1)
            dst.write_mask(mask)
    da = open_dem(path)
    assert np.isnan(da.values[1, 2]) and np.isnan(da.values[3, 0])
    assert int(np.isnan(da.values).sum()) == 2
    assert da.values[0, 0] == 50.0 and da.values[1, 3] == 58.0
    assert da.attrs["source_mask"] == "mask"


def test_alpha_band_transparent_cells_are_nodata(tmp_path):
    z = (np.arange(12, dtype=np.uint16).reshape(3, 4) + 300).astype(np.uint16)
    alpha = np.full(z.shape, 65535, np.uint16)
    alpha[0, 1] = 0
    path = tmp_path / "alpha.tif"
    with rasterio.open(path, "w", **_profile(z, count=2, photometric="MINISBLACK", alpha="YES")) as dst:
        dst.write(z, 1)
        dst.write(alpha, 2)
    da = open_dem(path)
    assert np.isnan(da.values[0, 1])
    assert int(np.isnan(da.values).sum()) == 1
    assert da.values[0, 0] == 300.0 and da.values[2, 3] == 311.0
    assert da.attrs["source_mask"] == "alpha"


def test_everything_masked_is_an_error(tmp_path):
    z = np.ones((3, 3), np.float32)
    path = tmp_path / "allmasked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", **_profile(z)) as dst:
            dst.write(z, 1)
            dst.write_mask(np.zeros((3, 3), np.uint8))
    with pytest.raises(InputDataError, match="every cell is nodata"):
        open_dem(path)


def test_plain_dem_unchanged(tmp_path):
    z = np.arange(9, dtype=np.int16).reshape(3, 3)
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", **_profile(z)) as dst:
        dst.write(z, 1)
    da = open_dem(path)
    np.testing.assert_array_equal(da.values, z.astype(np.float32))
    assert da.attrs["source_mask"] == "none" and da.attrs["source_scale_factor"] == 1.0

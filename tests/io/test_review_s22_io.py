"""Review of hydro.io (raster, tables) and GeoTIFF/COG output: new failing-then-fixed tests."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hydro.errors import InputDataError


def _utm_map(values: np.ndarray) -> xr.DataArray:
    """A 3 x 3 map of 30 m cells in UTM 50S (north-up), nodata -9999 declared for rioxarray (not masked)."""
    import rioxarray  # noqa: F401

    ny, nx = values.shape
    y = 9_860_000.0 - 15.0 - 30.0 * np.arange(ny)  # cell centres, top edge 9,860,000
    x = 500_000.0 + 15.0 + 30.0 * np.arange(nx)  # left edge 500,000
    da = xr.DataArray(values, dims=("y", "x"), coords={"y": y, "x": x}, name="max_flood_depth")
    da = da.rio.write_crs("EPSG:32750")
    return da.rio.write_nodata(-9999.0, encoded=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_write_cog_float_map_with_numeric_nodata_keeps_the_cells_nodata(tmp_path, dtype):
    """A float map whose nodata is -9999 (rio.nodata, e.g. read by rioxarray without masked=True) was written with
    nodata = NaN and the -9999 cell as a value: it read back as a depth of -9999 m."""
    import rioxarray

    from hydro.flood.products import write_cog

    z = np.array([[0.5, 1.0, 1.5], [2.0, -9999.0, 0.25], [0.0, 0.75, 3.0]], dtype=dtype)
    path = write_cog(_utm_map(z), tmp_path / "depth.tif")
    back = rioxarray.open_rasterio(path, masked=True).squeeze(drop=True)
    # exactly the one nodata cell (row 1, column 1) is masked; the 8 others keep their values
    assert np.isnan(back.values[1, 1])
    assert int(np.isnan(back.values).sum()) == 1
    valid = ~np.isnan(back.values)
    np.testing.assert_array_equal(back.values[valid], z.astype(np.float32)[valid])
    # georeference unchanged: 30 m cells, top-left corner (500000, 9860000), EPSG:32750
    assert tuple(back.rio.transform())[:6] == (30.0, 0.0, 500_000.0, 0.0, -30.0, 9_860_000.0)
    assert back.rio.crs.to_epsg() == 32750


@pytest.mark.parametrize("given", ["OGC:CRS84", "+proj=longlat +datum=WGS84 +no_defs"])
def test_open_dem_given_the_same_geographic_crs_in_lon_lat_order_is_accepted(tmp_path, given):
    """An EPSG:4326 GeoTIFF opened with crs="OGC:CRS84" (or the PROJ string of WGS84) was refused as a different
    CRS ("reproject first"): a raster's columns are x whatever the CRS's axis order, so they are the same grid."""
    import rasterio
    from affine import Affine

    from hydro.io import open_dem

    path = tmp_path / "dem.tif"
    z = np.arange(16, dtype=np.float32).reshape(4, 4) + 100.0
    t = Affine(0.001, 0.0, 116.8, 0.0, -0.001, -1.2)
    with rasterio.open(path, "w", driver="GTiff", height=4, width=4, count=1, dtype="float32", crs="EPSG:4326",
                       transform=t, nodata=-9999.0) as dst:
        dst.write(z, 1)
    da = open_dem(path, crs=given)
    assert da.rio.crs.to_epsg() == 4326  # the file's CRS is kept
    np.testing.assert_array_equal(da.values, z)
    # a really different CRS is still refused
    with pytest.raises(InputDataError, match="differs"):
        open_dem(path, crs="EPSG:32750")


def test_read_csv_with_a_repeated_column_name_is_an_error(tmp_path):
    """pandas renames a repeated header ("Q", "Q" -> "Q", "Q.1"): the first column was used and the second ignored
    without a word (the station rain reader refuses duplicate columns; calibration and network CSVs did not)."""
    from hydro.io.tables import read_csv

    p = tmp_path / "gauge.csv"
    p.write_text("date,Q,Q\n2024-01-01,1.0,2.0\n2024-01-02,1.5,2.5\n")
    with pytest.raises(InputDataError, match=r"repeated column names \['Q'\]"):
        read_csv(p)
    # distinct names are unchanged
    ok = tmp_path / "ok.csv"
    ok.write_text("date,Q,Q1\n2024-01-01,1.0,2.0\n")
    assert list(read_csv(ok).columns) == ["date", "Q", "Q1"]


def test_calibration_series_with_a_repeated_discharge_column_is_an_error(tmp_path):
    """End to end: a calibration CSV with two "Q" columns silently took the first one."""
    from hydro.calibrate.run import read_series_csv

    p = tmp_path / "series.csv"
    p.write_text("date,P,Q,Q\n2024-01-01,1.0,1.0,9.0\n2024-01-02,0.0,1.5,9.5\n")
    with pytest.raises(InputDataError, match="repeated column"):
        read_series_csv(p, date_column="date", precipitation_column="P", pet_column=None,
                        discharge_column="Q", discharge_units="mm/day")

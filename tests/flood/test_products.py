"""Flood products: CF NetCDF through the shared writer, COG GeoTIFF, GeoJSON extent polygons."""
from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from hydro.flood import (
    extent_polygons,
    free_outflow,
    simulate_2d,
    water_level,
    write_cog,
    write_extent_geojson,
    write_flood_netcdf,
)


@pytest.fixture(scope="module")
def run():
    from tests.flood.conftest import make_grid

    ny, nx = 12, 16
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 0.05 * xx + 0.3 * np.sin(yy / 2.0)
    bed = make_grid(z, dx=10.0)
    res = simulate_2d(bed, 1800.0, manning_n=0.04, rainfall=80.0, rainfall_units="mm/h", start="2025-08-25T01:00",
                      boundaries=[water_level("west", 0.3), free_outflow("east")], output_interval=600.0,
                      output_variables=("depth", "speed", "velocity"), threshold_m=0.05)
    return bed, res


def test_netcdf_is_cf_compliant_and_georeferenced(run, tmp_path):
    from hydro.testing import assert_cf_compliant, assert_georeferenced

    bed, res = run
    path, path_max = write_flood_netcdf(res.dataset, tmp_path / "flood.nc")
    assert path_max.name == "flood_max.nc"
    for p in (path, path_max):
        assert_cf_compliant(p)
    assert_georeferenced(path_max, "max_flood_depth", res.dataset["max_flood_depth"].expand_dims(time=1))
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        assert nc["flood_depth"].standard_name == "flood_water_thickness"
        assert nc["northward_flood_velocity"].standard_name == "northward_flood_water_velocity"
    with netCDF4.Dataset(path_max) as nc:
        assert nc["max_flood_depth"].cell_methods == "time: maximum"
        ext = nc["flood_extent"]
        assert ext.dtype == np.int8
        assert list(ext.flag_values) == [0, 1] and ext.flag_meanings == "not_flooded flooded"


def test_cog_roundtrip(run, tmp_path):
    bed, res = run
    for name in ("max_flood_depth", "max_hazard_rating"):
        p = write_cog(res.dataset[name], tmp_path / f"{name}.tif")
        with rasterio.open(p) as src:
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert src.crs.to_epsg() == 32750
            assert src.transform == bed.rio.transform()
            np.testing.assert_array_equal(src.read(1), res.dataset[name].values.astype(np.float32))
    assert not list(tmp_path.glob(".*tmp*"))


def test_extent_polygons_cover_the_flooded_cells(run, tmp_path):
    bed, res = run
    ext = res.dataset["flood_extent"]
    fc = extent_polygons(ext, crs=None)
    flooded = int((ext.values == 1).sum())
    assert flooded > 0
    assert sum(f["properties"]["cells"] for f in fc["features"]) == flooded
    assert sum(f["properties"]["area_m2"] for f in fc["features"]) == pytest.approx(flooded * 100.0)
    p = write_extent_geojson(ext, tmp_path / "extent.geojson")
    data = json.loads(p.read_text())
    lon, lat = np.asarray(data["features"][0]["geometry"]["coordinates"][0]).T
    assert (116.5 < lon).all() and (lon < 117.5).all() and (-1.6 < lat).all() and (lat < -1.0).all()


def test_permanent_water_is_left_out_of_the_summary_maps():
    import numpy as np

    from hydro.flood import simulate_2d
    from tests.flood.conftest import make_grid

    z = np.zeros((6, 8))
    z[:, :3] = -2.0  # a 2 m deep "sea" on the west
    sea = z < 0
    h0 = np.where(sea, 2.0, 0.0)
    res = simulate_2d(make_grid(z, dx=10.0), 600.0, manning_n=0.03, rainfall=100.0, rainfall_units="mm/h",
                      initial_depth=h0, permanent_water=sea, output_interval=300.0, threshold_m=0.01)
    ds = res.dataset
    assert np.isnan(ds["max_flood_depth"].values[sea]).all()
    assert (ds["hazard_class"].values[sea] == -1).all()
    assert (ds["flood_extent"].values[sea] == 0).all()
    land = ds["max_flood_depth"].values[~sea]
    assert np.isfinite(land).all() and land.max() > 0.01  # rain ponds on the land
    # the sea is still water in the depth snapshots, and the volume balance still closes
    assert (ds["flood_depth"].values[-1][sea] > 1.9).all()
    assert abs(res.balance["relative_residual"]).max() < 1e-9


def test_netcdf_volume_balance_closes_from_the_file_alone(tmp_path):
    """The written file carries every term: initial storage + inputs - outputs - storage = residual, per output step."""
    import xarray as xr

    from tests.flood.conftest import make_grid

    ny, nx = 10, 14
    yy, xx = np.mgrid[0:ny, 0:nx]
    bed = make_grid(0.04 * xx + 0.2 * np.cos(yy / 2.0), dx=5.0)
    h0 = np.full((ny, nx), 0.05)
    res = simulate_2d(bed, 1200.0, manning_n=0.05, rainfall=40.0, rainfall_units="mm/h", start="2025-08-25T01:00",
                      initial_depth=h0, infiltration_mm_per_h=5.0,
                      boundaries=[water_level("west", 0.1), free_outflow("east")], output_interval=300.0)
    path, _ = write_flood_netcdf(res.dataset, tmp_path / "flood.nc")
    with xr.open_dataset(path) as ds:
        v0 = float(ds["volume_initial_storage"])
        assert v0 == pytest.approx(0.05 * ny * nx * 25.0, rel=1e-6)  # 5 cm on 140 cells of 25 m2
        expected = (v0 + ds["volume_rain"] - ds["volume_infiltration"] + ds["volume_point_inflow"]
                    + ds["volume_boundary_inflow"] - ds["volume_boundary_outflow"] + ds["volume_clipped"])
        resid = (ds["volume_storage"] - expected).values
        np.testing.assert_allclose(resid, ds["volume_residual"].values, atol=1e-6 * v0)
        assert np.abs(ds["volume_relative_residual"].values).max() < 1e-9
        assert ds["volume_relative_residual"].attrs["units"] == "1"
        assert ds.attrs["hydro_volume_balance_max_relative_residual"] < 1e-9
        assert float(ds["volume_rain"][-1]) == pytest.approx(40e-3 / 3600 * 1200 * ny * nx * 25.0, rel=1e-9)


def _cog_map(values, *, south_up=False):
    from tests.flood.conftest import make_grid

    da = make_grid(np.asarray(values), dx=10.0)
    return da.isel(y=slice(None, None, -1)) if south_up else da


def test_cog_overviews_keep_classes_and_never_invent_negative_depths(tmp_path):
    """Overviews of a class map hold only its classes (cubic, GDAL's default, made class 3 between 1 and 4) and
    those of a depth step 0 / 3 m stay within [0, 3] (cubic overshot to -0.14 m)."""
    cls = np.where(np.arange(1024)[None, :] < 512, 1, 4).astype(np.int8).repeat(1024, axis=0)
    depth = np.where(np.arange(1024)[None, :] < 509, 0.0, 3.0).repeat(1024, axis=0).astype(np.float32)
    da_cls = _cog_map(cls).astype(np.int8)
    da_cls.attrs["_FillValue"] = -1
    for da, name in ((da_cls, "hazard_class"), (_cog_map(depth), "max_flood_depth")):
        p = write_cog(da, tmp_path / f"{name}.tif", blocksize=256)
        with rasterio.open(p) as src:
            assert src.overviews(1), name
            for level in src.overviews(1):
                ovr = src.read(1, out_shape=(src.height // level, src.width // level))
                if name == "hazard_class":
                    assert set(np.unique(ovr)) <= {1, 4}, (level, np.unique(ovr))
                else:
                    assert ovr.min() >= 0.0 and ovr.max() <= 3.0, (level, ovr.min(), ovr.max())


def test_cog_of_a_south_up_map_is_north_up_and_a_mask_is_bytes(tmp_path):
    values = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    north = _cog_map(values)
    south = _cog_map(values, south_up=True)
    pn, ps = write_cog(north, tmp_path / "n.tif"), write_cog(south, tmp_path / "s.tif")
    with rasterio.open(pn) as a, rasterio.open(ps) as b:
        assert b.transform.e < 0 and b.transform == a.transform
        np.testing.assert_array_equal(b.read(1), a.read(1))
    mask = write_cog(north > 5.0, tmp_path / "mask.tif")
    with rasterio.open(mask) as src:
        assert src.dtypes[0] == "uint8"
        np.testing.assert_array_equal(src.read(1), (values > 5.0).astype(np.uint8))

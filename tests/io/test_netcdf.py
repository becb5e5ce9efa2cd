"""The CF writer: compliance-checker gate, georeference read-back, DSG files, atomic writes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import hydro.terrain as T
from hydro.errors import OutputError
from hydro.io import open_dem, timeseries_dataset, write_netcdf
from hydro.testing import assert_cf_compliant, assert_georeferenced

pytest.importorskip("compliance_checker")


@pytest.mark.parametrize(
    "name", ["topotoolbox_bigtujunga_srtm30m_utm11.tif", "pysheds_dem_fortworth_3s.tif", "pyflwdir_rhine_elv0_30s.tif"]
)
def test_terrain_file_is_cf_compliant_and_georeferenced(tmp_path, shared_dem, name):
    dem = open_dem(shared_dem(name))
    ds = T.analyse(dem, 1e6)
    path = write_netcdf(ds, tmp_path / "terrain.nc", input_files=[shared_dem(name)], parameters={"threshold": 1e6})
    assert_cf_compliant(path)
    assert_georeferenced(path, "hand", ds.hand)
    assert_georeferenced(path, "filled_elevation", ds.filled_elevation)
    assert_georeferenced(path, "flow_direction", ds.flow_direction, fill=255)
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        for name in ("x", "y", "x_bnds", "y_bnds"):
            assert "_FillValue" not in nc[name].ncattrs(), name
        assert nc["hand"].grid_mapping == "spatial_ref"
        assert "crs_wkt" in nc["spatial_ref"].ncattrs() and "GeoTransform" in nc["spatial_ref"].ncattrs()
    with xr.open_dataset(path) as back:
        assert back.attrs["Conventions"] == "CF-1.11, ACDD-1.3"
        assert "sha256" in back.attrs["hydro_input_files"]
        np.testing.assert_array_equal(back.flow_direction.fillna(255).values.astype(np.uint8), ds.flow_direction.values)
        np.testing.assert_allclose(back.upstream_area.values, ds.upstream_area.values)
        assert back.upstream_area.attrs["units"] == "m2"
        assert back.hand.attrs["long_name"] == "height above nearest drainage"
        assert back.filled_elevation.attrs["standard_name"] == "surface_altitude"
        assert back.hand.encoding["zlib"]


def test_embedded_dem_product_with_latlon(tmp_path):
    from hydro.datasets import balikpapan_dem

    dem = balikpapan_dem(resolution_m=300.0)
    ds = T.analyse(dem, 1e6)
    path = write_netcdf(ds, tmp_path / "bpn.nc")
    assert_cf_compliant(path)
    with xr.open_dataset(path) as back:
        assert -1.6 < float(back.lat.min()) < float(back.lat.max()) < -0.9
        assert 116.5 < float(back.lon.min()) < float(back.lon.max()) < 117.3
        assert back.attrs["geospatial_lat_min"] == pytest.approx(float(back.lat.min()))


def test_timeseries_dsg_file(tmp_path):
    t = pd.date_range("2026-01-01 01:00", periods=24, freq="h")
    q = np.vstack([np.linspace(0, 5, 24), np.linspace(1, 2, 24)])
    ds = timeseries_dataset(
        {"discharge": q}, ids=["ampal", "manggar"], names=["Ampal outlet", "Manggar dam"], time=t,
        lat=[-1.27, -1.20], lon=[116.83, 117.02], time_bounds=list(zip(t - pd.Timedelta("1h"), t)),
        attrs={"discharge": {"cell_methods": "time: mean"}},
    )
    path = write_netcdf(ds, tmp_path / "gauges.nc")
    assert_cf_compliant(path)
    with xr.open_dataset(path) as back:
        assert back.attrs["featureType"] == "timeSeries"
        assert back.station_id.attrs["cf_role"] == "timeseries_id"
        assert list(back.station_id.values.astype(str)) == ["ampal", "manggar"]
        np.testing.assert_allclose(back.discharge.values, q, rtol=1e-6)
        assert back.attrs["time_coverage_start"] == "2026-01-01T01:00:00Z"


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    ds = xr.Dataset({"hand": (("y", "x"), np.ones((3, 3), np.float32))})
    target = tmp_path / "out.nc"
    target.write_bytes(b"previous good file")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(OutputError, match="disk full"):
        write_netcdf(ds, target)
    assert target.read_bytes() == b"previous good file"
    assert [p.name for p in tmp_path.iterdir()] == ["out.nc"]

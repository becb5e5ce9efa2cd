"""The hydro-exchange-1.0 profile: layout on disk, round trip, CF gate, producer-side checks."""
from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from hydro.errors import InputDataError
from hydro.exchange import (
    PROFILE,
    exchange_dataset,
    exchange_filename,
    read_exchange,
    validate_exchange,
    write_exchange,
)
from hydro.testing import assert_cf_compliant

from .conftest import CRS, POINTS, START, good_dataset, sample_discharge


@pytest.mark.parametrize("members", [None, 3])
def test_round_trip_write_validate_read(tmp_path, members):
    ds = good_dataset(members)
    path = write_exchange(ds, tmp_path / exchange_filename("upland", START))
    assert path.name == "upland_20260110T0000Z_border_discharge.nc"
    assert validate_exchange(path) == []  # profile + CF-1.11 (compliance-checker), no warnings either
    q = sample_discharge(members)
    for k, pid in enumerate(POINTS["ids"]):
        da = read_exchange(path, pid)
        expected = q.isel(point=k)
        if members is None:
            assert da.dims == ("time",)
        else:
            assert da.dims == ("realization", "time")
            assert da["realization"].values.tolist() == [0, 1, 2]
            expected = expected.transpose("realization", "time")
        # float32 on disk: relative rounding below 2^-24
        np.testing.assert_allclose(da.values, expected.values, rtol=6e-8)
        assert np.array_equal(da["time"].values, q["time"].values)
        assert da.attrs["units"] == "m3 s-1"
        assert (da.attrs["x"], da.attrs["y"]) == (POINTS["x"][k], POINTS["y"][k])
        assert da.attrs["forecast_reference_time"] == "2026-01-10T00:00:00Z"
        assert da.attrs["issuing_region"] == "upland" and da.attrs["run_id"] == "upland_20260110T0000Z_f00d"


@pytest.mark.parametrize("members", [None, 4])
def test_written_file_passes_the_cf_acdd_gate(tmp_path, members):
    path = write_exchange(good_dataset(members), tmp_path / "x.nc")
    assert_cf_compliant(path)


def test_file_layout_is_the_documented_profile(tmp_path):
    path = write_exchange(good_dataset(3), tmp_path / "x.nc")
    with netCDF4.Dataset(path) as nc:
        g = {k: nc.getncattr(k) for k in nc.ncattrs()}
        assert g["hydro_exchange_profile"] == PROFILE == "hydro-exchange-1.0"
        assert g["featureType"] == "timeSeries" and g["Conventions"] == "CF-1.11, ACDD-1.3"
        assert g["hydro_issuing_region"] == "upland" and g["hydro_run_id"] == g["id"] == "upland_20260110T0000Z_f00d"
        assert g["hydro_config_hash"] == "f00d" and g["hydro_version"] and g["date_created"].endswith("Z")
        q = nc["discharge"]
        assert q.dimensions == ("realization", "station", "time")
        assert q.standard_name == "water_volume_transport_in_river_channel" and q.units == "m3 s-1"
        assert q.cell_methods == "time: mean" and q.grid_mapping == "crs"
        assert set(q.coordinates.split()) == {"time", "lat", "lon", "x", "y", "station_id", "station_name", "forecast_reference_time"}
        assert nc["station_id"].cf_role == "timeseries_id" and nc["station_id"].dtype == np.dtype("S1")
        assert "station" not in nc.variables  # no coordinate variable on the instance dimension
        assert nc["realization"].standard_name == "realization" and list(nc["realization"][:]) == [0, 1, 2]
        frt = nc["forecast_reference_time"]
        assert frt.standard_name == "forecast_reference_time"
        assert netCDF4.num2date(frt[:], frt.units, only_use_cftime_datetimes=False) == START.to_pydatetime()
        assert nc["crs"].grid_mapping_name == "transverse_mercator" and "UTM zone 50S" in nc["crs"].crs_wkt
        assert nc["x"].standard_name == "projection_x_coordinate" and nc["x"].units == "m"
        assert nc["time"].bounds == "time_bnds"
        tb = netCDF4.num2date(nc["time_bnds"][:], nc["time"].units, only_use_cftime_datetimes=False)
        assert tb[0][0] == START.to_pydatetime() and tb[0][1] == (START + pd.Timedelta("1h")).to_pydatetime()
        # lat/lon = the projected points transformed to WGS84
        lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(POINTS["x"], POINTS["y"])
        np.testing.assert_allclose(nc["lat"][:], lat, atol=1e-9)
        np.testing.assert_allclose(nc["lon"][:], lon, atol=1e-9)
        assert -1.36 < float(nc["lat"][0]) < -1.34  # 9 850 000 m N in zone 50S is ~1.35 deg S


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda q: q.where(q.time != q.time[3]), "NaN"),
        (lambda q: -q, "negative"),
        (lambda q: q.assign_attrs(units="l s-1"), "units"),
        (lambda q: q.isel(time=[0, 1, 3, 4]), "regular"),
        (lambda q: q.isel(time=[0, 1, 1, 2]), "duplicates"),
        (lambda q: q.rename(point="site"), "dims"),
    ],
)
def test_exchange_dataset_rejects_bad_discharge(change, match):
    with pytest.raises(InputDataError, match=match):
        exchange_dataset(change(sample_discharge()), POINTS["ids"], POINTS["x"], POINTS["y"], CRS, START, "upland", run_id="r")


def test_exchange_dataset_rejects_bad_points_and_crs():
    q = sample_discharge()
    with pytest.raises(InputDataError, match="unique"):
        exchange_dataset(q, ["B1", "B1"], POINTS["x"], POINTS["y"], CRS, START, "upland", run_id="r")
    with pytest.raises(InputDataError, match="2 points"):
        exchange_dataset(q, ["B1"], [1.0], [2.0], CRS, START, "upland", run_id="r")
    with pytest.raises(InputDataError, match="projected"):
        exchange_dataset(q, POINTS["ids"], [116.9, 117.0], [-1.2, -1.1], "EPSG:4326", START, "upland", run_id="r")
    with pytest.raises(InputDataError, match="after the last time"):
        exchange_dataset(q, POINTS["ids"], POINTS["x"], POINTS["y"], CRS, START + pd.Timedelta("3D"), "upland", run_id="r")


def test_write_exchange_leaves_nothing_on_failure(tmp_path):
    ds = good_dataset()
    ds.attrs.pop("hydro_exchange_profile")
    with pytest.raises(InputDataError, match="not a hydro-exchange-1.0 dataset"):
        write_exchange(ds, tmp_path / "x.nc")
    # a dataset that passes the builder but fails the file checks (values made negative afterwards)
    bad = good_dataset()
    bad["discharge"] = -bad["discharge"]
    with pytest.raises(InputDataError, match="negative discharge"):
        write_exchange(bad, tmp_path / "x.nc")
    assert list(tmp_path.iterdir()) == []  # no final file, no temporary left behind


def test_units_convertible_to_m3s_are_converted_with_a_warning(tmp_path):
    from hydro.io import write_netcdf

    ds = good_dataset()
    ds["discharge"] = ds["discharge"] * 1000.0
    ds["discharge"].attrs.update(good_dataset()["discharge"].attrs, units="l s-1")
    path = write_netcdf(ds, tmp_path / "litres.nc", attrs={"id": ds.attrs["id"]})
    problems = validate_exchange(path, check_cf=False)
    assert [(p.severity, p.code) for p in problems] == [("warning", "units")]
    np.testing.assert_allclose(read_exchange(path, "B2").values, sample_discharge().isel(point=1).values, rtol=1e-6)


def test_validate_reports_cf_problems_from_compliance_checker(tmp_path):
    path = write_exchange(good_dataset(), tmp_path / "x.nc")
    with netCDF4.Dataset(path, "a") as nc:
        nc["lat"].units = "furlongs"  # CF §4.1: latitude units must be degrees_north
    problems = validate_exchange(path)
    assert any(p.code == "cf" and "lat" in p.message for p in problems)
    assert any(p.code == "coordinates" and "latitude units" in p.message for p in problems)
    assert not any(p.code == "cf" for p in validate_exchange(path, check_cf=False))


def test_validation_is_silent_and_offline(tmp_path, capfd, monkeypatch):
    """Library code never prints; the CF check never fetches a standard-name table, even when the
    file names another table version (file content decides nothing about network access)."""
    import compliance_checker.cf.util as ccutil

    def no_network(*a, **k):
        raise AssertionError("compliance-checker tried to download a standard-name table")

    monkeypatch.setattr(ccutil, "download_cf_standard_name_table", no_network)
    path = write_exchange(good_dataset(), tmp_path / "x.nc")
    with netCDF4.Dataset(path, "a") as nc:
        nc.standard_name_vocabulary = "CF Standard Name Table v77"
    capfd.readouterr()
    assert validate_exchange(path) == []
    out, err = capfd.readouterr()
    assert out == "" and err == ""

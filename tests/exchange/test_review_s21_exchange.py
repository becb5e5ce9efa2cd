"""Review (exchange): x/y of a CRS in feet, manifest reference times with zone names or numbers, malformed
manifests, impossible UTC offsets in time units."""
from __future__ import annotations

import json
import shutil

import netCDF4
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from pyproj import CRS, Transformer

from hydro.cli_exchange import export_boundary_cmd
from hydro.errors import InputDataError
from hydro.exchange import exchange_dataset, export_boundary, read_exchange, validate_exchange, write_exchange

from .conftest import START, good_dataset, sample_discharge
from tests.exchange.helpers import errors as _errors

#: NAD83 / California zone 3 (ftUS): x/y in US survey feet (1 ftUS = 1200/3937 m)
FEET_CRS = "EPSG:2227"


def test_x_y_of_a_crs_in_feet_are_written_in_metres(tmp_path):
    # 6 000 000 ftUS is 6e6 * 1200/3937 = 1 828 803.66 m: the file said x = 6 000 000 "m" (3.28 times too far)
    x_ft, y_ft = 6_000_000.0, 2_100_000.0
    ds = exchange_dataset(sample_discharge().isel(point=[0]), ["P"], [x_ft], [y_ft], FEET_CRS, START, "upland",
                          run_id="r", config_hash="c")
    path = write_exchange(ds, tmp_path / "feet.nc")
    assert [p for p in validate_exchange(path) if p.severity == "error"] == []  # profile + CF-1.11
    q = read_exchange(path, "P")
    assert q.attrs["x"] == pytest.approx(x_ft * 1200.0 / 3937.0, abs=1e-6)
    assert q.attrs["y"] == pytest.approx(y_ft * 1200.0 / 3937.0, abs=1e-6)
    file_crs = CRS.from_wkt(q.attrs["crs_wkt"])
    assert file_crs.axis_info[0].unit_name == "metre"
    # the same place: the file's x/y in the file's CRS and the CF grid-mapping attributes = the feet point
    want = Transformer.from_crs(FEET_CRS, "EPSG:4326", always_xy=True).transform(x_ft, y_ft)
    got = Transformer.from_crs(file_crs, "EPSG:4326", always_xy=True).transform(q.attrs["x"], q.attrs["y"])
    np.testing.assert_allclose(got, want, atol=1e-9)
    np.testing.assert_allclose((q.attrs["lon"], q.attrs["lat"]), want, atol=1e-9)
    with netCDF4.Dataset(path) as nc:
        cf = {k: nc["crs"].getncattr(k) for k in nc["crs"].ncattrs() if k not in ("crs_wkt", "spatial_ref", "coverage_content_type")}
        assert nc["x"].units == "m"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cf_crs = CRS.from_cf({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in cf.items()})
    got_cf = Transformer.from_crs(cf_crs, "EPSG:4326", always_xy=True).transform(q.attrs["x"], q.attrs["y"])
    np.testing.assert_allclose(got_cf, want, atol=1e-9)
    # a metre CRS (UTM 50S) still writes and reads its x/y unchanged
    path = write_exchange(good_dataset(), tmp_path / "ok.nc")
    assert read_exchange(path, "B2").attrs["x"] == 490_000.0


def test_validator_refuses_x_y_in_feet_labelled_metres(tmp_path):
    path = write_exchange(good_dataset(), tmp_path / "feet.nc")
    ft = CRS(FEET_CRS)
    xs, ys = np.array([6_000_000.0, 6_010_000.0]), np.array([2_100_000.0, 2_110_000.0])
    lon, lat = Transformer.from_crs(ft, "EPSG:4326", always_xy=True).transform(xs, ys)
    with netCDF4.Dataset(path, "a") as nc:  # lat/lon agree with x/y in the feet CRS: only the units are wrong
        nc["crs"].crs_wkt = ft.to_wkt()
        nc["x"][:], nc["y"][:], nc["lon"][:], nc["lat"][:] = xs, ys, lon, lat
        assert nc["x"].units == "m"
    errors = _errors(path)
    assert [p.code for p in errors] == ["crs"]
    assert "US survey foot" in errors[0].message
    with pytest.raises(InputDataError, match="metres"):
        read_exchange(path, "B1")


@pytest.mark.parametrize("frt", ["2026-01-10T08:00:00 WITA", "2026-01-10 08:00 Asia/Makassar", 1736467200, True])
def test_export_refuses_a_reference_time_that_is_not_iso_8601(run_dir, tmp_path, frt):
    d = tmp_path / "run"
    shutil.copytree(run_dir, d)
    m = json.loads((d / "manifest.json").read_text())
    m["forecast_reference_time"] = frt  # WITA (UTC+8) was read as UTC: 08:00Z, 8 h late; a number as ns since 1970
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(InputDataError, match="forecast_reference_time .* is not an ISO 8601 time"):
        export_boundary(d, tmp_path / "out.nc")
    assert not (tmp_path / "out.nc").exists()


def test_export_reference_time_with_a_numeric_offset_is_converted_to_utc(run_dir, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(run_dir, d)
    m = json.loads((d / "manifest.json").read_text())
    m["forecast_reference_time"] = "2026-01-10T08:00:00+08:00"  # 08:00 WITA = 00:00 UTC
    (d / "manifest.json").write_text(json.dumps(m))
    out = export_boundary(d, tmp_path, points=["G-out"])
    assert out.name == "tinyland_20260110T0000Z_border_discharge.nc"
    assert read_exchange(out, "G-out").attrs["forecast_reference_time"] == "2026-01-10T00:00:00Z"


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(config="balikpapan.toml"), "'config' is str, expected a JSON object"),
    (lambda m: m["config"].update(gauges={"G-out": {}}), "'config.gauges' is dict, expected a JSON array"),
    (lambda m: m["config"]["gauges"][0].update(x="480 000"), "gauge 'G-out' has x/y '480 000'"),
])
def test_malformed_manifest_is_exit_65_not_a_traceback(run_dir, tmp_path, edit, message):
    d = tmp_path / "run"
    shutil.copytree(run_dir, d)
    m = json.loads((d / "manifest.json").read_text())
    edit(m)
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(InputDataError, match=message):
        export_boundary(d, tmp_path / "out.nc")
    res = CliRunner().invoke(export_boundary_cmd, [str(d), "-o", str(tmp_path / "out.nc")])
    assert res.exit_code == 65, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not (tmp_path / "out.nc").exists()


def _local_time_file(path, offset):
    """good_dataset() with its times stated in local time (UTC+8 values) and the given offset in the units."""
    write_exchange(good_dataset(), path)
    with netCDF4.Dataset(path, "a") as nc:
        for v in ("time", "time_bnds"):
            nc[v][:] = nc[v][:] + 8.0
        nc["time"].units = f"hours since 2026-01-10 01:00:00 {offset}"
    return path


@pytest.mark.parametrize("offset", ["+24", "+80", "-15", "+08:75"])
def test_time_units_with_an_impossible_utc_offset_are_refused(tmp_path, offset):
    # "+24" moved every time a day (first period end 2026-01-09T09:00Z instead of 2026-01-10T01:00Z) without a word
    path = _local_time_file(tmp_path / "x.nc", offset)
    errors = _errors(path)
    assert errors and errors[0].code == "time" and "offset" in errors[0].message
    with pytest.raises(InputDataError, match="offset"):
        read_exchange(path, "B1")


@pytest.mark.parametrize("offset", ["+08:00", "+0800", "+8", "+08"])
def test_time_units_with_a_real_utc_offset_still_read(tmp_path, offset):
    path = _local_time_file(tmp_path / "x.nc", offset)
    assert _errors(path) == []
    q = read_exchange(path, "B1")
    # 09:00 local (UTC+8) is 01:00 UTC: the period ends of good_dataset(), hourly from START + 1 h
    assert q["time"].values[0] == np.datetime64("2026-01-10T01:00")
    assert np.array_equal(q["time"].values, pd.date_range(START + pd.Timedelta("1h"), periods=24, freq="h").values)

"""Review s18 of the exchange of border flows: a receiver without the optional CF checker, numeric
gauge codes as point labels, the CRS and provenance of an exported run, bad times as
``hydro.errors``, CF spellings of lat/lon units and two threads writing one exchange file."""
from __future__ import annotations

import json
import shutil
import sys
import threading

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from hydro.errors import InputDataError
from hydro.exchange import exchange_dataset, export_boundary, read_exchange, validate_exchange, write_exchange

from .conftest import CRS, POINTS, START, good_dataset, manifest, sample_discharge
from tests.exchange.helpers import edit_nc as _edit, errors as _errors


# ----------------------------------------------------------------------------------------------
# compliance-checker is an optional dependency (the 'test' extra): validate must not crash without it
def test_validate_without_compliance_checker_warns_instead_of_crashing(tmp_path, monkeypatch):
    """A production install (no [test] extra) ran `hydro validate FILE` (and a forecast with an
    exchange inflow, which validates with the CF run) into ModuleNotFoundError, exit 1."""
    from hydro.cli_exchange import validate_cmd
    from hydro.exchange.validate import _OfflineCF

    path = write_exchange(good_dataset(), tmp_path / "x.nc")
    for name in ("compliance_checker", "compliance_checker.suite", "compliance_checker.cf",
                 "compliance_checker.cf.cf_1_11"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails, as when it is not installed
    monkeypatch.setattr(_OfflineCF, "_cls", None)
    problems = validate_exchange(path)
    assert [p.severity for p in problems] == ["warning"]
    assert problems[0].code == "cf" and "compliance-checker is not installed" in problems[0].message
    res = CliRunner().invoke(validate_cmd, [str(path)])
    assert res.exit_code == 0, res.output
    assert CliRunner().invoke(validate_cmd, [str(path), "--strict"]).exit_code == 65


# ----------------------------------------------------------------------------------------------
# numeric gauge codes as point labels were taken by position: flows of two border points swapped
def test_numeric_point_labels_are_taken_by_label():
    times = pd.date_range(START + pd.Timedelta("1h"), periods=3, freq="h")
    q = xr.DataArray(np.array([[1.0, 2.0]] * 3), dims=("time", "point"), coords={"time": times, "point": [102, 101]})
    ds = exchange_dataset(q, ["101", "102"], POINTS["x"], POINTS["y"], CRS, START, "upland", run_id="r")
    ids = [str(s) for s in ds["station_id"].values]
    assert ds["discharge"].values[ids.index("101"), 0] == 2.0
    assert ds["discharge"].values[ids.index("102"), 0] == 1.0
    with pytest.raises(InputDataError, match="labelled with points"):
        exchange_dataset(q, ["B1", "B2"], POINTS["x"], POINTS["y"], CRS, START, "upland", run_id="r")


# ----------------------------------------------------------------------------------------------
# export_boundary: the CRS the model wrote in its gauges file
def test_export_takes_the_crs_the_model_wrote_in_the_gauges_file(run_dir, tmp_path, tiny):
    """A nightly run folder (no terrain.nc) of a model with a GeoTIFF DEM (its CRS in the file,
    dem.crs unset) was refused (exit 78) although the gauges file states hydro_model_crs."""
    from pyproj import CRS as PCRS

    d = tmp_path / "run"
    shutil.copytree(run_dir, d)
    m = manifest(tiny)
    m["config"]["dem"] = {"source": "file", "path": "dem.tif", "crs": None}
    (d / "manifest.json").write_text(json.dumps(m))
    assert not (d / "terrain.nc").exists()
    out = export_boundary(d, tmp_path / "out.nc")
    da = read_exchange(out, "G-out")
    assert PCRS.from_wkt(da.attrs["crs_wkt"]).to_epsg() == 32750
    assert (da.attrs["x"], da.attrs["y"]) == tuple(tiny["outlet"])


def test_export_copies_the_forcing_and_warm_start_provenance(run_dir, tmp_path):
    """netcdf.md §10: hydro_warm_start (state used / fallback level) and hydro_forcing travel with
    the border flows; the level and the forcing were dropped."""
    d = tmp_path / "run"
    shutil.copytree(run_dir, d)
    _edit(d / "runoff" / "run_gauges.nc", lambda nc: nc.setncatts({"hydro_forcing": "gsmap_now 2026-01-09T23:00Z",
                                                                   "hydro_warm_start_level": np.int64(1)}))
    out = export_boundary(d, tmp_path / "out.nc")
    with xr.open_dataset(out) as ds:
        assert ds.attrs["hydro_forcing"] == "gsmap_now 2026-01-09T23:00Z"
        assert int(ds.attrs["hydro_warm_start_level"]) == 1
        assert ds.attrs["hydro_warm_start"] == "cold"


# ----------------------------------------------------------------------------------------------
# bad times: hydro.errors, not pandas tracebacks
def test_empty_reference_time_in_the_manifest_is_an_input_data_error(run_dir, tmp_path, tiny):
    from hydro.cli_exchange import export_boundary_cmd

    d = tmp_path / "run"
    shutil.copytree(run_dir, d)
    (d / "manifest.json").write_text(json.dumps(manifest(tiny, forecast_reference_time="")))
    with pytest.raises(InputDataError, match="forecast_reference_time"):
        export_boundary(d, tmp_path / "out.nc")
    res = CliRunner().invoke(export_boundary_cmd, [str(d), "-o", str(tmp_path / "out.nc")])
    assert res.exit_code == 65, res.output
    assert not list(tmp_path.glob("*.nc")) and not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("change, match", [
    (dict(reference_time="tomorrow"), "forecast reference time"),
    (dict(reference_time=pd.NaT), "forecast reference time"),
    (dict(date_created="yesterday"), "date_created"),
    (dict(discharge=xr.DataArray(np.ones((3, 2)), dims=("time", "point"))), "no time coordinate"),
])
def test_exchange_dataset_bad_times_are_input_data_errors(change, match):
    args = dict(discharge=sample_discharge(), point_ids=POINTS["ids"], x=POINTS["x"], y=POINTS["y"], crs=CRS,
                reference_time=START, issuing_region="upland", run_id="r")
    args.update(change)
    with pytest.raises(InputDataError, match=match):
        exchange_dataset(**args)


# ----------------------------------------------------------------------------------------------
# CF §4.1/§4.2 spellings of latitude/longitude units in a neighbour's file
@pytest.mark.parametrize("lat_units, lon_units", [("degree_N", "degree_E"), ("degrees_N", "degrees_E"),
                                                  ("degreeN", "degreeE"), ("degreesN", "degreesE")])
def test_cf_spellings_of_latlon_units_are_accepted(tmp_path, lat_units, lon_units):
    path = write_exchange(good_dataset(), tmp_path / "x.nc")
    _edit(path, lambda nc: (nc["lat"].setncattr("units", lat_units), nc["lon"].setncattr("units", lon_units)))
    assert _errors(path) == []
    assert read_exchange(path, "B1").attrs["lat"] < 0  # Kalimantan, just south of the equator
    _edit(path, lambda nc: nc["lat"].setncattr("units", "degrees_east"))
    assert any("latitude units" in p.message for p in _errors(path))


# ----------------------------------------------------------------------------------------------
# two threads of one process writing the same exchange file shared the temporary name
def test_two_threads_writing_the_same_exchange_file(tmp_path, monkeypatch):
    import hydro.exchange.validate as v

    real = v.validate_exchange
    target = tmp_path / "upland_border_discharge.nc"
    other: list[BaseException] = []

    def other_thread():
        try:
            write_exchange(good_dataset(run_id="other"), target)
        except BaseException as exc:  # noqa: BLE001 - reported below
            other.append(exc)

    calls = []

    def validate_while_another_thread_writes(path, **kw):
        if not calls:  # the first writer's check: a second writer of the same file runs meanwhile
            calls.append(path)
            t = threading.Thread(target=other_thread)
            t.start()
            t.join()
        return real(path, **kw)

    monkeypatch.setattr(v, "validate_exchange", validate_while_another_thread_writes)
    write_exchange(good_dataset(run_id="first"), target)
    assert other == []
    with xr.open_dataset(target) as ds:
        assert ds.attrs["hydro_run_id"] == "first"  # the last complete write wins
    assert [p.name for p in tmp_path.iterdir()] == [target.name]

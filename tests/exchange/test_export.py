"""export_boundary on real run folders of a tiny catchment model; a neighbour's file as an inflow."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import ConfigError, InputDataError, InputMissingError
from hydro.exchange import exchange_dataset, export_boundary, read_exchange, validate_exchange, write_exchange
from hydro.testing import assert_cf_compliant

from .conftest import CRS, START, forcing, manifest, model


def _gauge_discharge(path, gauge):
    with xr.open_dataset(path) as ds:
        ids = [s.decode() if isinstance(s, bytes) else str(s) for s in ds["station_id"].values]
        return ds["discharge"].isel(station=ids.index(gauge)).values.astype(np.float64), ds["time"].values


def test_export_writes_the_border_gauges_of_a_run(run_dir, tmp_path):
    out = export_boundary(run_dir, tmp_path / "boundary.nc")
    assert validate_exchange(out) == []  # profile + CF-1.11
    assert_cf_compliant(out)
    q, times = _gauge_discharge(run_dir / "runoff" / "run_gauges.nc", "G-out")
    assert q.max() > 0.05  # the storm reached the outlet
    with xr.open_dataset(out) as ds:
        assert [s.decode() if isinstance(s, bytes) else s for s in ds["station_id"].values] == ["G-out"]  # border = true only
        assert ds.attrs["hydro_run_id"] == "tinyland_20260110T0000Z_abc123" and ds.attrs["hydro_config_hash"] == "abc123"
        assert ds.attrs["hydro_issuing_region"] == "tinyland"
        assert ds["discharge"].attrs["cell_methods"] == "time: mean (interval: 1 hour)"
        assert "realization" not in ds.dims
    da = read_exchange(out, "G-out")
    np.testing.assert_array_equal(da.values, q)  # float32 in both files: bit-identical
    assert np.array_equal(da["time"].values, times)
    # no forecast_reference_time in the manifest (`hydro run`): the start of the first step
    assert da.attrs["forecast_reference_time"] == "2026-01-10T00:00:00Z"
    tiny_out = json.loads((run_dir / "manifest.json").read_text())["config"]["gauges"][0]
    assert (da.attrs["x"], da.attrs["y"]) == (tiny_out["x"], tiny_out["y"])  # the agreed (configured) point


def test_export_named_points_and_reference_time_from_the_manifest(run_dir, tmp_path, tiny):
    d = tmp_path / "run"
    shutil.copytree(run_dir, d)
    (d / "manifest.json").write_text(json.dumps(manifest(tiny, forecast_reference_time="2026-01-10T06:00:00Z")))
    out = export_boundary(d, tmp_path, points=["G-up", "G-out"])  # a directory: conventional file name
    assert out.name == "tinyland_20260110T0600Z_border_discharge.nc"
    assert validate_exchange(out, expected_ids=["G-up", "G-out"]) == []
    q_up, _ = _gauge_discharge(d / "runoff" / "run_gauges.nc", "G-up")
    da = read_exchange(out, "G-up")
    np.testing.assert_array_equal(da.values, q_up)
    assert da.attrs["forecast_reference_time"] == "2026-01-10T06:00:00Z"


def test_export_ensemble_members_as_realizations(ensemble_run_dir, tmp_path):
    out = export_boundary(ensemble_run_dir, tmp_path / "ens.nc")
    assert validate_exchange(out) == []
    assert_cf_compliant(out)
    da = read_exchange(out, "G-out")
    assert da.dims == ("realization", "time") and da["realization"].values.tolist() == [0, 1, 2]
    for k in range(3):
        q, _ = _gauge_discharge(ensemble_run_dir / "ensemble" / f"member_{k}_gauges.nc", "G-out")
        np.testing.assert_array_equal(da.sel(realization=k).values, q)
    peaks = da.max("time").values
    assert peaks[0] < peaks[1] < peaks[2]  # rain x 0.5, 1, 2


def test_export_errors(run_dir, tmp_path, tiny):
    with pytest.raises(ConfigError, match=r"unknown point ids \['G-nope'\]; the run has gauges \['G-out', 'G-up'\]"):
        export_boundary(run_dir, tmp_path / "x.nc", points=["G-nope"])
    with pytest.raises(InputMissingError, match="no manifest.json"):
        export_boundary(tmp_path, tmp_path / "x.nc")
    d = tmp_path / "run"
    shutil.copytree(run_dir, d)
    m = manifest(tiny)
    for g in m["config"]["gauges"]:
        g["border"] = False
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ConfigError, match="no gauge has border = true"):
        export_boundary(d, tmp_path / "x.nc")
    (d / "manifest.json").write_text(json.dumps({**manifest(tiny), "status": "running"}))
    with pytest.raises(InputDataError, match="not 'complete'"):
        export_boundary(d, tmp_path / "x.nc")
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(InputDataError, match="not valid JSON"):
        export_boundary(d, tmp_path / "x.nc")
    (d / "manifest.json").write_text(json.dumps(manifest(tiny)))
    (d / "runoff" / "run_gauges.nc").unlink()
    with pytest.raises(InputMissingError, match="run_gauges.nc"):
        export_boundary(d, tmp_path / "x.nc")
    assert not (tmp_path / "x.nc").exists()


def _neighbour_file(tmp_path, tiny, q):
    """The upstream neighbour's exchange file: hourly q [m3 s-1] at border point 'UP-1' = our channel head."""
    times = pd.date_range(START, periods=len(q), freq="h")
    da = xr.DataArray(np.asarray(q, float)[:, None], dims=("time", "point"), coords={"time": times})
    ds = exchange_dataset(da, ["UP-1"], [tiny["head"][0]], [tiny["head"][1]], CRS, START, "upland",
                          run_id="upland_20260110T0000Z_f00d", config_hash="f00d",
                          time_bounds=np.stack([(times - pd.Timedelta("1h")).values, times.values], axis=1))
    return write_exchange(ds, tmp_path / "upland_20260110T0000Z_border_discharge.nc")


@pytest.mark.parametrize("reader", ["Inflow.from_netcdf", "read_exchange"])
def test_neighbour_file_is_an_inflow_of_the_catchment_model(tmp_path, tiny, reader):
    """Inflow volume of each step = 3600 s x the file's period mean of that hour (values are means over
    their time_bnds), and the run with the inflow carries exactly that much more water (outflow +
    storage) than without."""
    from hydro.model import BALANCE_TOLERANCE
    from hydro.routing import Inflow

    steps = 24
    q = 2.0 + 0.25 * (np.arange(steps + 1) % 8)  # exact in float32
    path = _neighbour_file(tmp_path, tiny, q)
    assert validate_exchange(path) == []
    if reader == "Inflow.from_netcdf":
        inflow = Inflow.from_netcdf(path, "UP-1")
    else:
        da = read_exchange(path, "UP-1", region="upland")
        series = da.to_series()
        series.attrs.update(cell_methods=da.attrs["cell_methods"], period_s=da.attrs["period_s"])
        inflow = Inflow("UP-1", da.attrs["x"], da.attrs["y"], series, source=da.attrs["source"])
    assert (inflow.x, inflow.y) == tiny["head"]
    assert inflow.discharge_m3s.attrs["period_s"] == 3600.0
    P, E = forcing(steps)
    with_in = model(tiny, [inflow]).run(P, E, start=START, steps=steps, gridded=())
    without = model(tiny).run(P, E, start=START, steps=steps, gridded=())
    expected = 3600.0 * q[1:]  # the step 00:00-01:00 takes the mean labelled 01:00 (period (00:00, 01:00])
    np.testing.assert_allclose(with_in.water_balance["inflow_volume"].values.ravel(), expected, rtol=1e-12)
    assert with_in.summary["relative_residual"] <= BALANCE_TOLERANCE
    extra = (with_in.summary["outflow"] + with_in.summary["storage_change"]) - (without.summary["outflow"] + without.summary["storage_change"])
    assert extra == pytest.approx(expected.sum(), rel=1e-9)
    # the border water shows at the outlet gauge: its mean discharge rises by about the inflow
    dq = with_in.gauges["discharge"].sel(station=0) - without.gauges["discharge"].sel(station=0)
    assert float(dq.isel(time=-1)) == pytest.approx(float(q[-2:].mean()), rel=0.2)


def test_crs_of_the_gauge_coordinates_is_found_in_the_run(tmp_path, tiny):
    """manifest 'crs' > terrain.nc grid mapping > config dem.crs > the embedded DEM's CRS."""
    from pyproj import CRS as ProjCRS

    from hydro.exchange.export import _crs

    gauges = xr.Dataset(attrs={})
    assert _crs(tmp_path, {"crs": "EPSG:32650", "config": {"dem": {"crs": "EPSG:32750"}}}, gauges) == "EPSG:32650"
    assert _crs(tmp_path, {"config": {"dem": {"source": "file", "crs": "EPSG:23894"}}}, gauges) == "EPSG:23894"
    assert _crs(tmp_path, {"config": {"dem": {"source": "embedded"}}}, gauges) == "EPSG:32750"
    with pytest.raises(ConfigError, match="cannot tell the CRS"):
        _crs(tmp_path, {"config": {"dem": {"source": "file"}}}, gauges)
    from hydro.io import write_netcdf

    write_netcdf(tiny["terrain"][["filled_elevation"]], tmp_path / "terrain.nc")
    found = _crs(tmp_path, {"config": {"dem": {"source": "file"}}}, gauges)
    assert ProjCRS.from_wkt(found) == ProjCRS.from_epsg(32750)


def test_shipped_sample_neighbour_file_is_valid_and_reproducible(tmp_path):
    """inputs/exchange/ holds Kutai Kartanegara's sample file; its generator writes the same data."""
    import runpy
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    shipped = repo / "inputs" / "exchange" / "kukar_20250825T0000Z_border_discharge.nc"
    assert validate_exchange(shipped, expected_ids=["KKR-WAIN-1"], region="kukar") == []
    gen = runpy.run_path(str(repo / "inputs" / "exchange" / "make_sample.py"))
    q = read_exchange(shipped, "KKR-WAIN-1")
    expected = gen["sample_discharge"]().isel(point=0)
    np.testing.assert_allclose(q.values, expected.values, rtol=6e-8)
    assert float(q.max()) == 25.0 and q["time"].values[int(np.argmax(q.values))] == np.datetime64("2025-08-25T12:00")
    assert q.attrs["forecast_reference_time"] == "2025-08-25T00:00:00Z"
    # the next night's file: the same event seen from 26 August
    nxt = repo / "inputs" / "exchange" / "kukar_20250826T0000Z_border_discharge.nc"
    assert validate_exchange(nxt, expected_ids=["KKR-WAIN-1"], region="kukar") == []
    q2 = read_exchange(nxt, "KKR-WAIN-1")
    np.testing.assert_allclose(q2.values, gen["sample_discharge"](0, gen["pd"].Timestamp("2025-08-26")).isel(point=0).values,
                               rtol=6e-8)
    assert q2.attrs["forecast_reference_time"] == "2025-08-26T00:00:00Z"

"""Every file a forecast writes: CF-1.11/ACDD-1.3 gate, georeference read back, the report and figures."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import xarray as xr

from hydro.config import load_config
from hydro.forecast.nightly import run_forecast
from hydro.testing import assert_cf_compliant, assert_georeferenced
from tests.forecast.conftest import make_project


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    cfg = load_config(make_project(root / "p", allocation=True, report=True, members=3))
    return run_forecast(cfg, "2025-08-25T00:00Z", output_root=root / "out", scheduler="threads")


def test_every_netcdf_passes_the_cf_acdd_gate(ensemble_run):
    files = sorted(ensemble_run.run_dir.rglob("*.nc"))
    kinds = {f.parent.name for f in files}
    assert {"runoff", "flood", "ensemble", "state", "exchange", "allocation"} <= kinds
    for f in files:
        assert_cf_compliant(f)


def test_gridded_outputs_read_back_with_their_georeference(ensemble_run):
    from hydro.datasets import balikpapan_dem

    dem = balikpapan_dem(150.0, seed=20260125)
    d = ensemble_run.run_dir
    with xr.open_dataset(d / "runoff" / "peak_discharge.nc", decode_coords="all") as ds:
        assert_georeferenced(d / "runoff" / "peak_discharge.nc", "max_discharge", ds["max_discharge"].rio.write_crs(dem.rio.crs).rio.write_transform(dem.rio.transform()))
    prob = xr.load_dataset(d / "flood" / "flood_probability.nc", decode_coords="all")["flood_probability"]
    assert_georeferenced(d / "flood" / "flood_probability.nc", "flood_probability",
                         prob.rio.write_crs(dem.rio.crs).rio.write_transform(dem.rio.transform()))


def test_report_links_numbers_and_figures(ensemble_run):
    import matplotlib.image as mpimg

    d = ensemble_run.run_dir
    html = (d / "report.html").read_text()
    for link in re.findall(r'(?:href|src)="([^"#]+)"', html):
        assert not link.startswith(("/", "http")) and (d / link).exists(), link
    for png in ("hydrographs", "hand_depth", "allocation"):
        img = mpimg.imread(d / "figures" / f"{png}.png")
        assert img.shape[0] > 300 and img.shape[1] > 300
    # the report states the peaks of the gauges as in the hydrograph file
    g = xr.load_dataset(d / "runoff" / "run_gauges.nc")
    for i, sid in enumerate(g["station_id"].values):
        peak = float(g["max_discharge"].isel(station=i).max())
        assert f"{peak:.1f}" in html or f"{peak:.0f}" in html, (sid, peak)
    assert ensemble_run.run_id in html and "cold" in html.lower()
    alerts = json.loads((d / "alerts.json").read_text())
    from html import escape

    assert alerts["alerts"]
    for a in alerts["alerts"]:
        assert escape(a["message"]) in html or a["message"] in html, a["message"]


def test_percentiles_and_members_are_consistent(ensemble_run):
    d = ensemble_run.run_dir
    pct = xr.load_dataset(d / "ensemble" / "gauge_percentiles.nc")["discharge_percentile"]
    q = np.stack([xr.load_dataset(d / "ensemble" / f"member_{m:03d}_gauges.nc")["discharge"].values for m in range(3)])
    np.testing.assert_allclose(pct.sel(percentile=10.0).values, np.percentile(q, 10, axis=0), rtol=1e-5)
    np.testing.assert_allclose(pct.sel(percentile=90.0).values, np.percentile(q, 90, axis=0), rtol=1e-5)
    assert (pct.sel(percentile=10.0) <= pct.sel(percentile=90.0) + 1e-6).all()


def test_every_member_has_its_water_balance(ensemble_run):
    # each member is a process of water_balance.json (its balance was not reported at all); its file states it too
    d = ensemble_run.run_dir
    wb = json.loads((d / "water_balance.json").read_text())
    for m in range(3):
        bal = wb["processes"][f"ensemble_member_{m:03d}"]
        assert bal["closed"] and bal["file"] == f"ensemble/member_{m:03d}_gauges.nc"
        # by hand: precipitation + inflow + exchange − evaporation − outflow − abstraction − storage change
        resid = (sum(bal["inputs"].values()) - sum(bal["outputs"].values()) - bal["storage_change"])
        assert resid == pytest.approx(bal["residual"], abs=1e-6 * max(1.0, bal["total_in"]))
        assert bal["inputs"]["precipitation"] > 0
        with xr.open_dataset(d / "ensemble" / f"member_{m:03d}_gauges.nc") as ds:
            assert ds.attrs["hydro_water_balance_closed"] == 1
            assert ds.attrs["hydro_water_balance_residual_m3"] == pytest.approx(bal["residual"])
    # members differ (scaled storms): their precipitation totals are not all the control's
    precip = {round(wb["processes"][f"ensemble_member_{m:03d}"]["inputs"]["precipitation"], 3) for m in range(3)}
    assert len(precip) > 1

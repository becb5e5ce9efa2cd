"""The nightly forecast: run ids, idempotent reruns, warm-start chain, alerts, exchange, ensembles."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.config import load_config
from hydro.errors import ConfigError, InputNotReadyError, StateError
from hydro.forecast.nightly import find_states, forecast_run_id, run_forecast
from tests.forecast.conftest import make_project


def _gauges(run_dir: Path) -> xr.Dataset:
    return xr.load_dataset(run_dir / "runoff" / "run_gauges.nc")


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Three nights: 24 Aug cold, 26 Aug from the 25 Aug state (gap), 25 Aug warm."""
    root = tmp_path_factory.mktemp("chain")
    cfg_path = make_project(root / "proj", allocation=True)
    cfg = load_config(cfg_path)
    out = root / "outputs"
    runs = {t: run_forecast(cfg, t, output_root=out) for t in ("2025-08-24T00:00Z", "2025-08-26T00:00Z", "2025-08-25T00:00Z")}
    return cfg, out, runs


def test_run_id_names_region_reference_time_and_hash(chain):
    cfg, out, runs = chain
    r = runs["2025-08-24T00:00Z"]
    assert r.run_id.startswith("balikpapan_20250824T0000Z_")
    assert len(r.run_id.rsplit("_", 1)[1]) == 8
    assert r.run_dir == out / "balikpapan" / r.run_id
    # the input files are part of the id: another forcing file gives another id
    assert forecast_run_id(cfg, "2025-08-24T00:00Z", {"forcing": "a"}) != forecast_run_id(cfg, "2025-08-24T00:00Z", {"forcing": "b"})
    assert forecast_run_id(cfg, "2025-08-24T00:00Z", {"forcing": "a"}) == forecast_run_id(cfg, "2025-08-24T00:00+00:00", {"forcing": "a"})


def test_warm_start_chain_levels(chain):
    cfg, out, runs = chain
    cold, gap, warm = (runs[t].manifest["warm_start"] for t in ("2025-08-24T00:00Z", "2025-08-26T00:00Z", "2025-08-25T00:00Z"))
    assert cold["level"] == 3 and cold["source"] == "cold"
    assert gap["level"] == 2 and gap["source"] == "warm-gap" and gap["gap_h"] == 24.0
    assert gap["state_run_id"] == runs["2025-08-24T00:00Z"].run_id
    assert warm["level"] == 1 and warm["source"] == "warm"
    # the level is in every output's global attributes
    for t, level in (("2025-08-24T00:00Z", "cold"), ("2025-08-25T00:00Z", "warm"), ("2025-08-26T00:00Z", "warm-gap")):
        with xr.open_dataset(runs[t].run_dir / "runoff" / "run_gauges.nc") as ds:
            assert ds.attrs["hydro_warm_start"] == level
        # every NetCDF output names its run and warm start (the flood and allocation files used to miss them)
        ncs = [e["path"] for e in runs[t].manifest["outputs"].values() if e["path"].endswith(".nc")]
        assert any(p.startswith("allocation/") for p in ncs), ncs
        for rel in ncs:
            with xr.open_dataset(runs[t].run_dir / rel, decode_times=False) as ds:
                assert "hydro_warm_start" in ds.attrs, rel
                if not rel.startswith("state/"):  # a state file keeps its own id and its model's lineage
                    assert ds.attrs.get("hydro_run_id") == runs[t].run_id, rel  # a file may keep its own `id`
                    assert ds.attrs["hydro_warm_start"] == level, rel
                    # the forcing product read (netcdf.md §10): file name and the sha256 the manifest records
                    forcing = runs[t].manifest["inputs"]["forcing"]
                    assert Path(forcing["path"]).name in ds.attrs["hydro_forcing"], rel
                    assert f"sha256 {forcing['sha256'][:16]}" in ds.attrs["hydro_forcing"], rel


def test_warm_start_continues_the_previous_run_exactly(chain):
    """The 25 Aug forecast starts from the 24 Aug run's state at 25 Aug 00Z: its discharge at T equals the
    24 Aug run's discharge at that time only through the state, so the saved state must round-trip: the
    state the 25 Aug run saved at its reference time equals the one it loaded."""
    cfg, out, runs = chain
    src = runs["2025-08-24T00:00Z"].run_dir / "state" / "state_20250825T0000Z.nc"
    dst = runs["2025-08-25T00:00Z"].run_dir / "state" / "state_20250825T0000Z.nc"
    with xr.open_dataset(src) as a, xr.open_dataset(dst) as b:
        for v in ("production_store", "routing_store", "channel_discharge"):
            np.testing.assert_array_equal(a[v].values, b[v].values)


def test_gap_run_state_equals_running_forward(chain, tmp_path):
    """Level 2 runs the older state forward with the forcing file's past: do it by hand and compare."""
    from hydro.datasets import balikpapan_dem
    from hydro.forecast.hydrology import build_model, open_rain, pet_per_step
    from hydro.forecast.nightly import forecast_config
    from hydro.terrain import analyse

    cfg, out, runs = chain
    fcfg = forecast_config(cfg)
    T = pd.Timestamp("2025-08-26T00:00")
    terrain = analyse(balikpapan_dem(fcfg.dem.resolution_m, seed=fcfg.dem.seed), fcfg.terrain.stream_threshold_km2 * 1e6)
    model = build_model(fcfg, terrain, reference_time=T)
    model.load_state(runs["2025-08-24T00:00Z"].run_dir / "state" / "state_20250825T0000Z.nc")
    rain = open_rain(fcfg, terrain, T - pd.Timedelta("1D"), T, reference_time=T)
    model.run(rain, pet_per_step(fcfg), start=T - pd.Timedelta("1D"), steps=48, gridded=())
    mine = model.state_dataset()
    with xr.open_dataset(runs["2025-08-26T00:00Z"].run_dir / "state" / "state_20250826T0000Z.nc") as saved:
        for v in ("production_store", "routing_store", "channel_discharge"):
            np.testing.assert_allclose(np.asarray(mine[v].values).squeeze(), saved[v].values.squeeze(), rtol=0, atol=1e-12)


def test_rerun_is_already_done_and_changes_nothing(chain):
    cfg, out, runs = chain
    r = runs["2025-08-25T00:00Z"]
    before = {p: p.stat().st_mtime_ns for p in r.run_dir.rglob("*") if p.is_file()}
    again = run_forecast(cfg, "2025-08-25T00:00Z", output_root=out)
    assert again.already_done and again.run_id == r.run_id
    assert {p: p.stat().st_mtime_ns for p in r.run_dir.rglob("*") if p.is_file()} == before


def test_manifest_lists_every_output_with_its_hash(chain):
    from hydro.forecast.stages import sha256

    cfg, out, runs = chain
    for r in runs.values():
        man = json.loads((r.run_dir / "manifest.json").read_text())
        assert man["status"] == "complete" and man["kind"] == "forecast"
        assert man["forecast_reference_time"].startswith(r.run_id.split("_")[1][:4])
        assert set(man["inputs"]) == {"forcing"}
        for entry in man["outputs"].values():
            assert sha256(r.run_dir / entry["path"]) == entry["sha256"]
        names = {Path(e["path"]).as_posix() for e in man["outputs"].values()}
        assert {"runoff/run_gauges.nc", "runoff/peak_discharge.nc", "flood/hand_flood.nc", "alerts.json"} <= names
        assert any(n.startswith("allocation/") for n in names)
        assert not list(r.run_dir.parent.glob("*.partial"))
    # `latest` is the newest reference time, not the last run: back-filling 25 Aug after 26 Aug leaves it on 26 Aug
    assert (out / "balikpapan" / "latest").resolve() == runs["2025-08-26T00:00Z"].run_dir.resolve()


def test_alerts_follow_the_gauge_peaks(chain):
    cfg, out, runs = chain
    r = runs["2025-08-24T00:00Z"]
    g = _gauges(r.run_dir)
    doc = json.loads((r.run_dir / "alerts.json").read_text())
    ids = [str(s) for s in g["station_id"].values]
    expected = {}
    for gc in cfg.gauges:
        peak = float(g["max_discharge"].isel(station=ids.index(gc.id)).max())
        level = sum(peak >= lv for lv in gc.warning_levels_m3s)
        if level:
            expected[gc.id] = (level, peak)
    got = {a["id"]: (a["level"], a["peak_m3s"]) for a in doc["alerts"] if a["type"] == "gauge"}
    assert expected, "no gauge reaches a warning level in this case: the test would compare nothing"
    assert set(got) == set(expected)
    for k in got:
        assert got[k][0] == expected[k][0]
        assert got[k][1] == pytest.approx(expected[k][1], abs=1e-3)
    assert doc["alert"] is bool(doc["alerts"]) and r.manifest["alert"] is doc["alert"]
    assert r.manifest["alert_level"] == doc["max_level"] == max((a["level"] for a in doc["alerts"]), default=0)


def test_flooded_area_alert(tmp_path):
    cfg_path = make_project(tmp_path / "p")
    text = cfg_path.read_text().replace("flooded_area_alert_km2 = 100.0", "flooded_area_alert_km2 = 0.01")
    text = text.replace("warning_levels_m3s = ", "warning_levels_m3s = [1e6] #")
    cfg_path.write_text(text)
    r = run_forecast(load_config(cfg_path), "2025-08-25T00:00Z", output_root=tmp_path / "out")
    doc = json.loads((r.run_dir / "alerts.json").read_text())
    assert [a["type"] for a in doc["alerts"]] == ["flooded_area"]
    assert doc["alerts"][0]["flooded_km2"] == pytest.approx(r.manifest["facts"]["hand_flooded_km2"], abs=1e-3)


def test_water_balance_closes_over_the_forecast(chain):
    cfg, out, runs = chain
    for r in runs.values():
        wb = r.manifest["facts"]["water_balance"]
        assert wb["relative_residual"] < 1e-9
        lhs = wb["precipitation"] + wb["inflow"] + wb["exchange"]
        rhs = wb["evaporation"] + wb["outflow"] + wb["abstraction"] + wb["storage_change"]
        assert lhs == pytest.approx(rhs, rel=1e-9)


def test_exchange_file_holds_the_border_gauges(chain):
    from hydro.exchange import read_exchange, validate_exchange

    cfg, out, runs = chain
    r = runs["2025-08-25T00:00Z"]
    files = list((r.run_dir / "exchange").glob("*.nc"))
    assert len(files) == 1
    problems = [p for p in validate_exchange(files[0]) if p.severity == "error"]
    assert problems == []
    g = _gauges(r.run_dir)
    ids = [str(s) for s in g["station_id"].values]
    for gc in cfg.gauges:
        if gc.border:
            q = read_exchange(files[0], gc.id)
            np.testing.assert_allclose(q.values, g["discharge"].isel(station=ids.index(gc.id)).values, rtol=1e-6)
    # the agreed border points (configured x/y, as export-boundary writes them), not the snapped model cells; the
    # run's warm-start and forcing provenance travels with the file (netcdf.md §10)
    with xr.open_dataset(files[0]) as ex:
        sid = [s.decode() if isinstance(s, bytes) else str(s) for s in ex["station_id"].values]
        for gc in cfg.gauges:
            if gc.border:
                k = sid.index(gc.id)
                assert float(ex["x"].values[k]) == gc.x and float(ex["y"].values[k]) == gc.y
        assert ex.attrs["hydro_warm_start"] == r.manifest["warm_start"]["source"]
        assert "hydro_forcing" in ex.attrs and "hydro_warm_start_level" in ex.attrs


def test_forcing_not_published_is_retry_later_and_writes_nothing(small_project, tmp_path):
    cfg = load_config(small_project)
    with pytest.raises(InputNotReadyError, match="not published yet"):
        run_forecast(cfg, "2025-08-27T00:00Z", output_root=tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.nc"))


def test_forcing_shorter_than_the_lead_time_is_retry_later(small_project, tmp_path):
    text = small_project.read_text().replace("lead_time_h = 48.0", "lead_time_h = 72.0")
    small_project.write_text(text)
    with pytest.raises(InputNotReadyError, match="not complete yet"):
        run_forecast(load_config(small_project), "2025-08-25T00:00Z", output_root=tmp_path / "out")
    # found before any work: no output folder, no lock, no terrain analysis (it used to be found after the warm start)
    assert not (tmp_path / "out").exists()


def test_bad_state_falls_back_or_fails_as_configured(tmp_path):
    cfg_path = make_project(tmp_path / "p")
    out = tmp_path / "out"
    first = run_forecast(load_config(cfg_path), "2025-08-24T00:00Z", output_root=out)
    # a state of another parameter set: same files, other runoff parameters
    text = cfg_path.read_text().replace("production_capacity_mm = 250.0", "production_capacity_mm = 300.0")
    cfg_path.write_text(text)
    r = run_forecast(load_config(cfg_path), "2025-08-25T00:00Z", output_root=out)
    ws = r.manifest["warm_start"]
    assert ws["level"] == 3 and ws["skipped"] and "parameter" in ws["skipped"][0]
    text2 = text.replace("production_capacity_mm = 300.0", "production_capacity_mm = 350.0")
    text2 = text2.replace("spinup_days = 2.0", 'spinup_days = 2.0\non_bad_state = "error"')
    cfg_path.write_text(text2)
    with pytest.raises(StateError, match="parameter"):
        run_forecast(load_config(cfg_path), "2025-08-25T00:00Z", output_root=out)
    assert first.run_dir.exists() and r.run_dir.exists()  # the failure touched nothing already published
    assert not list(out.rglob("*.partial"))


def test_reference_time_off_the_model_step_is_a_config_error(small_project, tmp_path):
    with pytest.raises(ConfigError, match="model step"):
        run_forecast(load_config(small_project), "2025-08-25T00:10Z", output_root=tmp_path)


def test_find_states_ignores_partial_and_incomplete_runs(chain, tmp_path):
    cfg, out, runs = chain
    region = out / "balikpapan"
    states = find_states(region, pd.Timestamp("2025-08-26"), pd.Timedelta("10D"))
    assert [s[0] for s in states] == sorted({s[0] for s in states}, reverse=True)
    assert all(".partial" not in str(p) for _, p, _ in states)
    assert pd.Timestamp("2025-08-27") not in [s[0] for s in states]

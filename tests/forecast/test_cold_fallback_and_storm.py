"""Regressions: the cold-start fallback is a full fresh state; a design storm off the step grid keeps its volume."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine

import hydro.forecast.nightly as nightly
from hydro.config import ModelConfig
from hydro.forcing import design_storm
from hydro.forecast.hydrology import build_model, open_rain, pet_per_step
from hydro.io.raster import from_array

CRS = "EPSG:32750"


def _rows(ny: int, n: int, dx: float = 100.0, slope: float = 0.01) -> xr.Dataset:
    fd = np.full((ny, n), 1, np.uint8)
    fd[:, -1] = 0
    tr = Affine(dx, 0, 500_000.0, 0, -dx, 9_850_000.0)
    fdir = from_array(fd, tr, CRS, name="flow_direction")
    z = from_array(np.tile(slope * dx * (n - np.arange(n)), (ny, 1)).astype(float), tr, CRS, name="filled_elevation")
    return xr.Dataset({"flow_direction": fdir, "filled_elevation": z}).rio.write_crs(CRS).rio.write_transform(tr)


def _assert_fresh(model, cfg) -> None:
    """The state a first-ever run builds: stores at the configured fills, reaches empty."""
    st = model.runoff.state
    np.testing.assert_array_equal(st["production_store"], cfg.runoff.initial_production_fill * cfg.runoff.production_capacity_mm)
    np.testing.assert_array_equal(st["routing_store"], cfg.runoff.initial_routing_fill * cfg.runoff.routing_capacity_mm)
    np.testing.assert_array_equal(st["interception_store"], 0.0)
    np.testing.assert_array_equal(model.routing.q, 0.0)
    np.testing.assert_array_equal(model.routing.volume_m3, 0.0)


def test_cold_fallback_drops_everything_of_the_rejected_state(tmp_path, monkeypatch):
    """A 24 h old state with water in the channels cannot be run forward (the forecast file starts at T):
    the cold start must not keep its channel water; spin-up is shortened to 0, so the state at T is fresh."""
    terr = _rows(2, 10)
    T = pd.Timestamp("2026-01-02T00:00")
    t = pd.date_range(T + pd.Timedelta("1h"), periods=48, freq="1h")
    xr.Dataset({"precipitation": (("time", "y", "x"), np.full((48, 2, 10), 1.0), {"units": "mm"})},
               coords={"time": t, "y": terr.y.values, "x": terr.x.values}).rio.write_crs(CRS).to_netcdf(tmp_path / "nwp.nc")
    cfg = ModelConfig(region="t", routing={"model_step": "1h", "output_step": "1h", "channel_threshold_km2": 0.001},
                      forcing={"source": "netcdf", "path": str(tmp_path / "nwp.nc")}, forecast={"spinup_days": 1.0})
    old = build_model(cfg, terr)
    old.routing.q[:] = 0.5
    old.routing.volume_m3[:] = old.routing.volume_from_discharge(old.routing.q)
    old.valid_time = T - pd.Timedelta("1D")
    p = old.save_state(tmp_path / "state_prev.nc")
    monkeypatch.setattr(nightly, "find_states", lambda root, T_, age, rejected=None: [(T - pd.Timedelta("1D"), Path(p), "prev")])
    model = build_model(cfg, terr)
    rec = nightly._warm_start(model, cfg, terr, T, tmp_path)
    assert rec["level"] == 3 and rec["source"] == "cold"
    assert "rejected" in rec["reason"] and "state_prev.nc" in rec["skipped"][0]
    assert model.valid_time == T and model.lineage == "cold"
    _assert_fresh(model, cfg)


def test_cold_fallback_spin_up_equals_a_first_ever_run(tmp_path, monkeypatch):
    """A loaded state valid off the reference time's step grid is rejected; the spin-up must then start
    from a fresh state (it used to fail with StateError: the rejected state's valid time was kept)."""
    terr = _rows(1, 10)
    cfg = ModelConfig(region="t", routing={"model_step": "1h", "output_step": "1h", "channel_threshold_km2": 0.001},
                      forcing={"start": "2026-01-01T06:00"}, forecast={"spinup_days": 1.0})
    m = build_model(cfg, terr)
    vt = pd.Timestamp("2026-01-01T00:00")
    m.run(open_rain(cfg, terr, vt, vt + pd.Timedelta("12h")), pet_per_step(cfg), start=vt, steps=12, gridded=())
    p = m.save_state(tmp_path / "state_a.nc")
    T = pd.Timestamp("2026-01-01T12:30")  # not a whole number of steps after the state's 12:00
    monkeypatch.setattr(nightly, "find_states", lambda root, T_, age, rejected=None: [(m.valid_time, Path(p), "run-x")])
    model = build_model(cfg, terr)
    rec = nightly._warm_start(model, cfg, terr, T, tmp_path)
    assert rec["level"] == 3 and rec["skipped"] == ["state_a.nc: valid time not on the model step"]
    first = build_model(cfg, terr)  # what a first-ever run builds and spins up
    start = T - pd.Timedelta("1D")
    first.run(open_rain(cfg, terr, start, T), pet_per_step(cfg), start=start, steps=24, gridded=())
    assert model.valid_time == first.valid_time == T
    for k, v in first.runoff.state.items():
        np.testing.assert_array_equal(model.runoff.state[k], v)
    np.testing.assert_array_equal(model.routing.q, first.routing.q)
    np.testing.assert_array_equal(model.routing.volume_m3, first.routing.volume_m3)


def test_design_storm_off_the_step_grid_is_resampled_conservatively():
    """15-min steps from 00:00, storm from 06:05: each 15-min block (06:05-06:20, ...) gives 2/3 of its depth
    to the step it starts in and 1/3 to the next; all 140 mm stay in the run (it used to give 0 mm)."""
    terr = _rows(1, 10)
    cfg = ModelConfig(region="t", routing={"model_step": "15min", "output_step": "1h"},
                      forcing={"start": "2026-01-01T06:05", "storm_total_mm": 140.0})
    r = open_rain(cfg, terr, pd.Timestamp("2026-01-01T00:00"), pd.Timestamp("2026-01-02T00:00"))
    f = cfg.forcing
    b = design_storm(140.0, pd.Timedelta(hours=f.storm_duration_h), "15min", peak_position=f.storm_peak_position,
                     start="2026-01-01T06:05").values
    s = r.to_series()
    assert float(s.sum()) == pytest.approx(140.0, rel=1e-12)
    assert s[pd.Timestamp("2026-01-01T06:00")] == 0.0
    assert s[pd.Timestamp("2026-01-01T06:15")] == pytest.approx(2 / 3 * b[0], rel=1e-12)
    for k in range(1, b.size):
        label = pd.Timestamp("2026-01-01T06:15") + k * pd.Timedelta("15min")
        assert s[label] == pytest.approx(b[k - 1] / 3 + 2 * b[k] / 3, rel=1e-12)
    end = pd.Timestamp("2026-01-01T06:15") + b.size * pd.Timedelta("15min")
    assert s[end] == pytest.approx(b[-1] / 3, rel=1e-12)
    assert float(s[s.index > end].sum()) == 0.0


def test_design_storm_on_the_step_grid_is_unchanged():
    terr = _rows(1, 10)
    cfg = ModelConfig(region="t", routing={"model_step": "15min", "output_step": "1h"},
                      forcing={"start": "2026-01-01T06:00", "storm_total_mm": 140.0})
    r = open_rain(cfg, terr, pd.Timestamp("2026-01-01T00:00"), pd.Timestamp("2026-01-02T00:00")).to_series()
    f = cfg.forcing
    b = design_storm(140.0, pd.Timedelta(hours=f.storm_duration_h), "15min", peak_position=f.storm_peak_position,
                     start="2026-01-01T06:00").to_series()
    np.testing.assert_array_equal(r[b.index].values, b.values)
    assert float(r.drop(b.index).abs().sum()) == 0.0

"""Review of `hydro run` (pipeline): what a run with ``[runoff] enabled = false`` leaves out, and the [flood]
settings of such a run."""
from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from hydro.config import load_config
from hydro.forecast.pipeline import run_model
from tests.forecast.conftest import make_project

RUNOFF_ON = "[runoff]                     # GR cell operator; values for an hourly step (GR4H scale) [A]\nenabled = true"


def _no_runoff(cfg_path, *extra):
    text = cfg_path.read_text()
    assert RUNOFF_ON in text
    text = text.replace(RUNOFF_ON, "[runoff]\nenabled = false")
    for old, new in extra:
        assert old in text, old
        text = text.replace(old, new)
    cfg_path.write_text(text)
    return load_config(cfg_path)


def test_runoff_disabled_states_what_is_not_used(tmp_path, caplog):
    cfg = _no_runoff(make_project(tmp_path / "p", allocation=True))
    assert cfg.allocation.simulated_inflows == {"manggar": "manggar_dam"}
    with caplog.at_level(logging.WARNING, logger="hydro.forecast.pipeline"):
        res = run_model(cfg, output_root=tmp_path / "out")
    man = res.manifest
    assert man["exit_code"] == 0  # not refused: forecast-only configs rely on it
    nu = man["facts"]["not_used"]
    assert set(nu) == {"forcing", "gauges", "allocation.simulated_inflows"}
    assert "manggar <- manggar_dam" in nu["allocation.simulated_inflows"]
    assert all(g.id in nu["gauges"] for g in cfg.gauges) and "alerts" in nu["gauges"]
    assert "140 mm in 6 h" in nu["forcing"]
    # the same statement in water_balance.json (= facts.water_balance) and in the log
    wb = json.loads((res.run_dir / "water_balance.json").read_text())
    assert wb["not_used"] == nu == man["facts"]["water_balance"]["not_used"]
    assert "allocation_inflows" not in man["facts"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("enabled = false" in m and "allocation.simulated_inflows" in m for m in warned), warned


def test_runoff_enabled_states_nothing_unused(tmp_path):
    from hydro.forecast.pipeline import unused_without_runoff

    cfg = load_config(make_project(tmp_path / "p"))
    assert cfg.runoff.enabled and unused_without_runoff(cfg) == {}


@pytest.fixture
def captured_flood(monkeypatch):
    """flood_event replaced by a recorder (no 2-D run): the arguments the pipeline hands to the flood stage."""
    import hydro.flood.example as ex

    calls = []

    def fake(terrain, bounds, **kw):
        calls.append({"bounds": bounds, **kw})
        return {"files": [], "plain": None, "hand": None}

    monkeypatch.setattr(ex, "flood_event", fake)
    return calls


FLOOD_OFF = "[flood]\nenabled = false\nduration_h = 12.0"


def test_runoff_disabled_embedded_plain_takes_the_flood_settings(tmp_path, captured_flood):
    """Without routing on the embedded DEM (no flood.domain) the [flood] tide, surge, roughness and hand settings
    were silently replaced by the example's defaults."""
    cfg = _no_runoff(make_project(tmp_path / "p"), (FLOOD_OFF, "[flood]\nenabled = true\nduration_h = 6.0\n"
                     "storm_duration_h = 4.0\nsurge_m = 0.7\nhand = false\nmanning_n_urban = 0.05\n"
                     "tide_m2_amplitude_m = 0.9"))
    run_model(cfg, output_root=tmp_path / "out")
    (kw,) = captured_flood
    assert kw["surge_m"] == 0.7 and kw["hand_map"] is False and kw["manning_n_urban"] == 0.05
    assert kw["m2_amplitude_m"] == 0.9
    # spring high water with the flood storm's peak (0.4 of its 4 h from flood.start)
    assert pd.Timestamp(kw["tide_high_water"]) == pd.Timestamp(cfg.flood.start) + pd.Timedelta(hours=1.6)
    # the example's rational-method river still enters the plain: C = 0.5 x peak intensity x upstream area
    ((x, y, q),) = kw["river_inflows"].values()
    from hydro.flood.example import plain_inflow_point

    from hydro.datasets import balikpapan_dem
    from hydro.terrain import analyse

    area = plain_inflow_point(analyse(balikpapan_dem(150.0, seed=cfg.dem.seed), cfg.terrain.stream_threshold_km2 * 1e6),
                              150.0)[2]
    peak_i = 2.0 * 140.0 / 1000.0 / (4.0 * 3600.0)
    # triangle peaking at 0.4 x 4 h + 1 h = 2.6 h, back to 0 at 4 h + 3 h; largest 10-min sample at 2 h 40 min
    assert float(q.max()) == pytest.approx(0.5 * peak_i * area * (7.0 - 160 / 60) / (7.0 - 2.6), rel=1e-9)


def test_runoff_disabled_tide_timed_with_the_flood_storm(tmp_path, captured_flood):
    """With a flood.domain and no routing, the high water was timed with [forcing]'s storm (not run) instead of
    the flood's own storm: 0.4 x 24 h = 9.6 h after the start instead of 0.4 x 6 h = 2.4 h (near low water)."""
    from hydro.datasets import balikpapan_features

    dom = list(balikpapan_features(150.0).urban_plain_bounds)
    cfg = _no_runoff(make_project(tmp_path / "p"),
                     (FLOOD_OFF, f"[flood]\nenabled = true\nduration_h = 6.0\ndomain = {dom}"),
                     ("storm_duration_h = 6.0\nstorm_peak_position = 0.4", "storm_duration_h = 24.0\nstorm_peak_position = 0.4"))
    assert cfg.forcing.storm_duration_h == 24.0 and cfg.flood.storm_duration_h == 6.0
    run_model(cfg, output_root=tmp_path / "out")
    (kw,) = captured_flood
    assert pd.Timestamp(kw["tide_high_water"]) == pd.Timestamp(cfg.flood.start) + pd.Timedelta(hours=2.4)

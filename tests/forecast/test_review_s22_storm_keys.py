"""`hydro run` with runoff enabled: the flood's own design-storm keys (flood.start, flood.storm_total_mm,
flood.storm_duration_h) are not used — the 2-D run takes the routed run's rain, rivers and start. Set in the config
they changed nothing without a word; now the run warns and states them in the manifest's ``facts.not_used``
(session 22)."""
from __future__ import annotations

import logging

from hydro.config import load_config
from hydro.forecast.pipeline import run_model, unused_flood_storm
from tests.forecast.conftest import make_project

FLOOD_OFF = "[flood]\nenabled = false\nduration_h = 12.0"


def _with_flood(tmp_path, keys: str):
    p = make_project(tmp_path / "p")
    text = p.read_text()
    assert FLOOD_OFF in text
    p.write_text(text.replace(FLOOD_OFF, "[flood]\nenabled = true\nduration_h = 6.0\n" + keys))
    return load_config(p)


def test_storm_keys_set_with_runoff_are_named(tmp_path):
    cfg = _with_flood(tmp_path, 'start = "2030-01-01T00:00"\nstorm_total_mm = 300.0\nstorm_duration_h = 3.0')
    assert cfg.runoff.enabled
    out = unused_flood_storm(cfg)
    assert set(out) == {"flood.start", "flood.storm_total_mm", "flood.storm_duration_h"}
    assert "2030-01-01T00:00:00 is not used" in out["flood.start"] and cfg.forcing.start in out["flood.start"]
    assert out["flood.storm_total_mm"].startswith("300 is not used")
    assert "140 mm in 6 h" in out["flood.storm_total_mm"]  # what the 2-D run takes instead: [forcing]'s storm


def test_defaults_not_named(tmp_path):
    # keys left at their defaults are no statement of the user's: nothing to warn about
    assert unused_flood_storm(_with_flood(tmp_path, "")) == {}


def test_run_warns_and_states_in_manifest(tmp_path, caplog, monkeypatch):
    import hydro.flood.example as ex

    monkeypatch.setattr(ex, "flood_event", lambda terrain, bounds, **kw: {"files": [], "plain": None, "hand": None})
    cfg = _with_flood(tmp_path, "storm_total_mm = 300.0")
    with caplog.at_level(logging.WARNING, logger="hydro.forecast.pipeline"):
        res = run_model(cfg, output_root=tmp_path / "out")
    assert res.manifest["exit_code"] == 0
    nu = res.manifest["facts"]["not_used"]
    assert set(nu) == {"flood.storm_total_mm"}
    assert any("flood.storm_total_mm" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)

"""The allocation of a run covers the whole UTC days of the run only: a part-day mean is never spread over a day."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.forecast.stages import whole_days


def test_whole_days_by_hand():
    assert whole_days("2025-08-25T00:00", "2025-08-27T00:00") == (pd.Timestamp("2025-08-25"), 2)
    assert whole_days("2025-08-25T12:00", "2025-08-27T12:00") == (pd.Timestamp("2025-08-26"), 1)
    assert whole_days("2025-08-25T12:00", "2025-08-26T12:00")[1] == 0
    assert whole_days("2025-08-25T00:00", "2025-08-25T23:00")[1] == 0


def _gauges(start, hours, q):
    t = pd.date_range(pd.Timestamp(start) + pd.Timedelta("1h"), periods=hours, freq="1h")  # period-end labels
    return xr.Dataset({"discharge": (("station", "time"), np.asarray(q, float)[None, :])},
                      coords={"station_id": ("station", ["g1"]), "time": t})


def test_a_run_from_12_utc_allocates_its_one_whole_day_with_that_days_mean(tmp_path, monkeypatch):
    from hydro.forecast import stages
    from tests.forecast.conftest import make_project
    from hydro.config import load_config

    cfg = load_config(make_project(tmp_path / "p", allocation=True))
    node = next(iter(cfg.allocation.simulated_inflows))
    gid = cfg.allocation.simulated_inflows[node]
    # 48 hourly values from 2025-08-25 12:00: 10 m3/s until midnight, then 20 m3/s for a day, then 40 m3/s
    q = np.r_[np.full(12, 10.0), np.full(24, 20.0), np.full(12, 40.0)]
    g = _gauges("2025-08-25T12:00", 48, q).assign_coords(station_id=("station", [gid]))
    net, external, notes = stages.allocation_inputs(cfg, g, "2025-08-25T12:00", "2025-08-27T12:00")
    assert external[node] == pytest.approx([20.0], rel=1e-12)  # the whole day 26 August only, 24 × 20 m3/s
    assert "partial days left out" in notes["_period"]
    with pytest.raises(InputDataError, match="no whole UTC day"):
        stages.allocation_inputs(cfg, g, "2025-08-25T12:00", "2025-08-26T12:00")


def test_nightly_forecast_shorter_than_a_day_skips_the_allocation_and_says_so(tmp_path):
    import json

    from hydro.config import load_config
    from hydro.forecast.nightly import run_forecast
    from tests.forecast.conftest import make_project

    cfg_path = make_project(tmp_path / "p", allocation=True)
    text = cfg_path.read_text()
    assert "lead_time_h = 48.0" in text
    # a 12-hour lead saves its state for a warm-gap start at T + 12 h at the latest (state_interval_h <= lead_time_h)
    cfg_path.write_text(text.replace("lead_time_h = 48.0", "lead_time_h = 12.0")
                        .replace("state_interval_h = 24.0", "state_interval_h = 12.0"))
    r = run_forecast(load_config(cfg_path), "2025-08-25T00:00Z", output_root=tmp_path / "out")
    assert "holds no whole UTC day" in r.manifest["facts"]["allocation_skipped"]
    assert not (r.run_dir / "allocation").exists()
    wb = json.loads((r.run_dir / "water_balance.json").read_text())
    assert wb["closed"] and "allocation" not in wb["processes"]


def test_a_nan_balance_term_is_strict_json_and_a_red_alert(tmp_path):
    import json

    from hydro.forecast.pipeline import _closure, balance_alert, summarise_balances, write_balance_file

    bad = _closure({"rain": float("nan")}, {"outflow": 1.0}, 0.0)
    assert not bad["closed"]
    wb = summarise_balances({"flood_2d": bad})
    p = write_balance_file(tmp_path / "water_balance.json", wb)
    doc = json.loads(p.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert doc["closed"] is False and doc["processes"]["flood_2d"]["residual"] is None
    alert = balance_alert(wb)
    assert alert[0]["level"] == 2 and "not finite" in alert[0]["message"]


def test_event_run_off_midnight_without_a_whole_day_skips_the_allocation(tmp_path):
    """hydro run of 24 h from 04:00 UTC: runoff and floods are kept, the allocation is skipped and says why."""
    from hydro.config import load_config
    from hydro.forecast.pipeline import run_model
    from tests.forecast.conftest import make_project

    cfg_path = make_project(tmp_path / "p", allocation=True)
    text = cfg_path.read_text()
    assert 'start = "2025-08-25T00:00"' in text
    cfg_path.write_text(text.replace('start = "2025-08-25T00:00"', 'start = "2025-08-25T04:00"', 1))
    r = run_model(load_config(cfg_path), output_root=tmp_path / "out")
    assert "holds no whole UTC day" in r.manifest["facts"]["allocation_skipped"]
    assert not (r.run_dir / "allocation").exists()
    assert (r.run_dir / "runoff" / "run_gauges.nc").exists()
    assert r.manifest["water_balance_closed"]


def test_output_step_that_does_not_divide_a_day_is_a_config_error(tmp_path):
    from hydro.config import load_config
    from hydro.errors import ConfigError
    from hydro.forecast import stages
    from tests.forecast.conftest import make_project

    cfg = load_config(make_project(tmp_path / "p", allocation=True))
    cfg = cfg.model_copy(update={"routing": cfg.routing.model_copy(update={"output_step": "5h"})})
    object.__setattr__(cfg, "_source_path", tmp_path / "p" / "models" / "small.toml")
    with pytest.raises(ConfigError, match="does not divide a day"):
        stages.allocation_inputs(cfg, _gauges("2025-08-25T00:00", 48, np.ones(48)), "2025-08-25", "2025-08-27")


def test_a_day_with_missing_routed_steps_has_no_daily_mean(tmp_path):
    """Gauges that end at noon of the last run day: that day has 12 of 24 steps and is reported missing."""
    from hydro.config import load_config
    from hydro.forecast import stages
    from tests.forecast.conftest import make_project

    cfg = load_config(make_project(tmp_path / "p", allocation=True))
    node = next(iter(cfg.allocation.simulated_inflows))
    gid = cfg.allocation.simulated_inflows[node]
    g = _gauges("2025-08-25T00:00", 36, np.full(36, 10.0)).assign_coords(station_id=("station", [gid]))
    with pytest.raises(InputDataError, match="no routed discharge on.*2025-08-26"):
        stages.allocation_inputs(cfg, g, "2025-08-25T00:00", "2025-08-27T00:00")
    _, external, _ = stages.allocation_inputs(cfg, g, "2025-08-25T00:00", "2025-08-26T00:00")
    assert external[node] == pytest.approx([10.0], rel=1e-12)


def test_report_shows_a_non_finite_balance_term(tmp_path):
    """A NaN balance term (null in water_balance.json) is shown as 'not finite' in the report, never a crash."""
    from hydro.forecast.pipeline import _closure, summarise_balances, write_balance_file
    from hydro.report.html import write_report

    wb = summarise_balances({"flood_2d": _closure({"rain": float("nan")}, {"outflow": 1.0}, 0.0)})
    write_balance_file(tmp_path / "water_balance.json", wb)
    page = write_report(tmp_path, title="t", run_id="r", key_numbers={}, alerts=[], figures=[], files=[]).read_text()
    assert "not finite" in page and "does NOT close" in page

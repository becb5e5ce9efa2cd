"""Review s18 of hydro.calibrate / hydro.model.catchment: the saved parameter set, bad configuration values,
discharge far below the rainfall, an unreadable state valid time."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.calibrate import calibrate, run_calibration, simulate_lumped
from hydro.calibrate.core import DEFAULTS
from hydro.errors import ConfigError, InputDataError, StateError
from tests.calibrate.configs import synthetic_csv_config
from tests.calibrate.test_calibrate import synthetic

CAL = ("2001-07-01", "2002-12-31")


def test_calibrated_parameter_set_holds_every_value_the_run_used(tmp_path):
    """Before: {X1, X2, X3, X4} only. The run used interception_capacity_mm = 0 (DEFAULTS), but GRParameters
    defaults to 2 mm, so the set read back from the result or the scores JSON ran another model."""
    from hydro.runoff import GRParameters

    P, E, Q, idx, _ = synthetic(730, seed=4)
    r = calibrate(P, E, Q, idx, calibration=CAL, maxiter=1, popsize=5)
    assert set(r.parameters) == set(DEFAULTS) and r.parameters["interception_capacity_mm"] == 0.0
    assert GRParameters().interception_capacity_mm != 0.0  # why a missing value matters
    np.testing.assert_array_equal(simulate_lumped(P, E, r.parameters), r.simulated.values)
    # fixed values are kept, the unit hydrographs can still be dropped
    r2 = calibrate(P, E, Q, idx, parameters=["production_capacity_mm", "exchange_mm", "routing_capacity_mm"],
                   fixed={"unit_hydrograph_steps": None, "interception_capacity_mm": 1.5}, calibration=CAL,
                   maxiter=1, popsize=5)
    assert r2.parameters["unit_hydrograph_steps"] is None and r2.parameters["interception_capacity_mm"] == 1.5
    np.testing.assert_array_equal(simulate_lumped(P, E, r2.parameters), r2.simulated.values)
    # the scores JSON of a TOML run without [fixed]
    res = run_calibration(_config(tmp_path, ""))
    saved = json.loads(Path(res["paths"]["scores"]).read_text())["parameters"]
    assert saved["interception_capacity_mm"] == 0.0 and set(saved) == set(DEFAULTS)


def _config(tmp_path: Path, extra: str, **kw) -> Path:
    return synthetic_csv_config(tmp_path, extra, **kw)


@pytest.mark.parametrize("case", [
    dict(periods='warmup = ["2020-01-01", "2020-12-31"]\ncalibration = ["2021-02-30", "2022-06-30"]', match="calibration start"),
    dict(periods='warmup = ["2020-01-01", "2020-13-31"]\ncalibration = ["2021-01-01", "2022-06-30"]', match="warmup end"),
    dict(area='"120 km2"', match="catchment_area_km2"),
    dict(extra='[bounds]\nproduction_capacity_mm = 3000.0', match="production_capacity_mm"),
    dict(extra='seed = "42"', match="seed"),
])
def test_bad_values_in_the_calibration_toml_are_config_errors(tmp_path, case):
    """Before: pandas DateParseError, TypeError or ValueError tracebacks (`hydro calibrate` exit 1, not 78)."""
    kw = {k: v for k, v in case.items() if k != "match"}
    cfg = _config(tmp_path, kw.pop("extra", ""), **kw)
    with pytest.raises(ConfigError, match=case["match"]):
        run_calibration(cfg)
    assert not (tmp_path / "out").exists()


def test_bad_period_dates_and_seed_in_the_api_are_config_errors():
    P, E, Q, idx, _ = synthetic(730, seed=4)
    with pytest.raises(ConfigError, match="calibration.*end"):
        calibrate(P, E, Q, idx, calibration=("2001-07-01", "2002-02-30"), maxiter=1, popsize=5)
    # before: a TypeError from int(None) after the whole search had run
    with pytest.raises(ConfigError, match="seed"):
        calibrate(P, E, Q, idx, calibration=CAL, seed=None, maxiter=1, popsize=5)


def test_discharge_far_below_the_rainfall_is_refused():
    """An area in m2 given as km2 (the CAMELS forcing headers give m2) makes the discharge 1e6 times too small.
    Before: calibrated silently (KGE -1.4e5, beta 8.5e4)."""
    P, E, Q, idx, _ = synthetic(730, seed=4)
    with pytest.raises(InputDataError, match="km2"):
        calibrate(P, E, Q * 1e-6, idx, calibration=CAL, maxiter=1, popsize=5)
    # not refused: the driest whole year of BoM HRS 410044 (subtropical, runoff ratio 0.0015)
    from tests.conftest import shared_file

    df = pd.read_csv(shared_file("runoff", "bom_hrs_hydroevents", "410044.csv"), parse_dates=["date"])
    df = df.set_index("date")
    full = df[df.index.year.isin(df.index.year.value_counts()[lambda c: c >= 365].index)]
    yearly = full.groupby(full.index.year)[["P_mm_d", "Q_mm_d"]].sum(min_count=365)
    year = int((yearly["Q_mm_d"] / yearly["P_mm_d"]).idxmin())
    d = df.loc[f"{year - 1}-01-01":f"{year}-12-31"]
    r = calibrate(d["P_mm_d"].to_numpy(float), np.full(len(d), 4.0), d["Q_mm_d"].to_numpy(float),
                  pd.DatetimeIndex(d.index), calibration=(f"{year}-01-01", f"{year}-12-31"), maxiter=1, popsize=5)
    assert r.scores["calibration"]["kge"]["n"] >= 360


def test_unreadable_state_valid_time_is_a_state_error(tmp_path):
    """Before: a pandas DateParseError from load_state (documented: StateError)."""
    from hydro.datasets import balikpapan_dem
    from hydro.model import CatchmentModel, RoutingParameters
    from hydro.runoff import GRParameters
    from hydro.terrain import analyse

    terrain = analyse(balikpapan_dem(resolution_m=1000.0), stream_threshold_m2=3e6)
    make = lambda: CatchmentModel(terrain, GRParameters(), RoutingParameters(channel_threshold_m2=3e6), dt="1h")  # noqa: E731
    model = make()
    model.run(1.0, 0.1, start="2026-01-01", steps=2, gridded=())
    path = model.save_state(tmp_path / "state.nc")
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    ds.attrs["hydro_state_valid_time"] = "2026-01-01T25:00:00Z"
    ds.to_netcdf(tmp_path / "broken.nc")
    fresh = make()
    with pytest.raises(StateError, match="hydro_state_valid_time"):
        fresh.load_state(tmp_path / "broken.nc")
    assert fresh.valid_time is None
    fresh.load_state(path)
    assert fresh.valid_time == pd.Timestamp("2026-01-01T02:00")

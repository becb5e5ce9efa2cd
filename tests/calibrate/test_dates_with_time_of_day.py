"""Daily series stamped at a time of day (BoM 09:00 days) or with a UTC offset: periods are whole days."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from hydro.calibrate import calibrate, read_series_csv, run_calibration
from tests.calibrate.test_calibrate import synthetic

REPO = Path(__file__).resolve().parents[2]


def test_daily_steps_at_0900_are_scored_on_whole_days():
    """Before: calibration 2001-01-01…2001-12-31 on dates at 09:00 was 'not covered by the data
    (2001-01-01…2002-12-31)', and 2001-03-01…2001-03-31 scored 30 days (the end date dropped)."""
    P, E, Q, idx, _ = synthetic(730, seed=4)
    idx9 = idx + pd.Timedelta("9h")
    for cal, n in ((("2001-01-01", "2001-12-31"), 365), (("2001-03-01", "2001-03-31"), 31)):
        r = calibrate(P, E, Q, idx9, calibration=cal, objective="nse", maxiter=1, popsize=5)
        assert r.scores["calibration"]["nse"]["n"] == n


def test_csv_dates_with_utc_offset(tmp_path):
    """Before: 'TypeError: Cannot compare tz-naive and tz-aware timestamps' from run_calibration."""
    src = pd.read_csv(REPO / "inputs" / "calibration" / "synthetic_catchment.csv")
    plain = src.copy()
    src["date"] = pd.to_datetime(src["date"]).dt.strftime("%Y-%m-%dT09:00:00.000+10:00")
    src.to_csv(tmp_path / "in.csv", index=False)
    kw = dict(precipitation_column="rain_mm", pet_column="pet_mm", discharge_column="discharge_m3s",
              discharge_units="m3/s", catchment_area_km2=120.0)
    (tmp_path / "c.toml").write_text(f"""
[input]
csv = "in.csv"
precipitation_column = "rain_mm"
pet_column = "pet_mm"
discharge_column = "discharge_m3s"
discharge_units = "m3/s"
catchment_area_km2 = 120.0
[periods]
warmup = ["2020-01-01", "2020-12-31"]
calibration = ["2021-01-01", "2022-06-30"]
[calibration]
maxiter = 1
popsize = 5
[output]
directory = {json.dumps(str(tmp_path / "out"))}
""")
    r = run_calibration(tmp_path / "c.toml")["result"]
    df = read_series_csv(tmp_path / "in.csv", **kw)
    assert df.index.tz is None and df.index[0] == pd.Timestamp("2020-01-01")
    plain.to_csv(tmp_path / "plain.csv", index=False)
    pd.testing.assert_frame_equal(df, read_series_csv(tmp_path / "plain.csv", **kw))
    cal = (df.index >= "2021-01-01") & (df.index <= "2022-06-30") & np.isfinite(df["Q_obs"].values)
    assert r.scores["calibration"]["nse"]["n"] == int(cal.sum())

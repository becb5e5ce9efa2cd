"""run_calibration [periods]: any order of calibration/validation; a warm-up overlapping them is an error."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hydro.calibrate import run_calibration
from hydro.errors import ConfigError
from tests.calibrate.configs import synthetic_csv_config



def _config(tmp_path, periods: str) -> Path:
    return synthetic_csv_config(tmp_path, periods=periods)


def test_validation_before_calibration(tmp_path):
    """Reverse split-sample (validation first): before, 'calibration ... not covered by the data'."""
    res = run_calibration(_config(tmp_path, 'warmup = ["2020-01-01", "2020-12-31"]\n'
                                            'calibration = ["2022-07-01", "2023-12-31"]\n'
                                            'validation = ["2021-01-01", "2022-06-30"]'))
    r = res["result"]
    assert r.simulated.index[0] == pd.Timestamp("2020-01-01") and r.simulated.index[-1] == pd.Timestamp("2023-12-31")
    obs = pd.read_csv(res["paths"]["csv"], parse_dates=["date"], index_col="date")["discharge_obs_mm"]
    assert r.scores["validation"]["nse"]["n"] == int(obs["2021-01-01":"2022-06-30"].notna().sum())
    assert r.scores["calibration"]["nse"]["n"] == int(obs["2022-07-01":"2023-12-31"].notna().sum())


def test_warmup_overlapping_calibration_is_an_error(tmp_path):
    """Before: accepted silently, and the declared warm-up days 2021-01-01 … 2021-06-30 were scored."""
    with pytest.raises(ConfigError, match="warmup"):
        run_calibration(_config(tmp_path, 'warmup = ["2020-01-01", "2021-06-30"]\n'
                                          'calibration = ["2021-01-01", "2022-06-30"]'))
    assert not (tmp_path / "out").exists()

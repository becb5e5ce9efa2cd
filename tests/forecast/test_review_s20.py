"""Review of the nightly forecast: whole-run attributes of a split forecast, --workers < 1."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from hydro.config import load_config
from hydro.errors import ConfigError
from tests.forecast.conftest import make_project

T = "2025-08-24T00:00Z"


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    from hydro.forecast.nightly import run_forecast

    root = tmp_path_factory.mktemp("rev")
    cfg = load_config(make_project(root / "proj"))
    return cfg, run_forecast(cfg, T, output_root=root / "out")


def test_split_forecast_water_balance_totals_cover_the_whole_run(night):
    """The forecast is run in two parts (state saved at T + state_interval_h): the balance file's total_*_m3
    attributes must be the sums of its own per-step variables over the whole lead time, not the first part's."""
    cfg, r = night
    with xr.open_dataset(r.run_dir / "runoff" / "run_water_balance.nc") as wb:
        assert pd.Timestamp(wb["time"].values[-1]) == pd.Timestamp("2025-08-26T00:00")
        for term in ("precipitation", "evaporation", "outflow", "storage_change"):
            total = float(wb[f"{term}_volume" if term != "storage_change" else term].sum())
            assert total > 0
            np.testing.assert_allclose(wb.attrs[f"total_{term}_m3"], total, rtol=1e-9)
            # and the manifest states the same
            np.testing.assert_allclose(wb.attrs[f"hydro_water_balance_{term}"], total, rtol=1e-9)
        np.testing.assert_allclose(wb.attrs["max_step_relative_residual"], float(wb["relative_residual"].max()),
                                   rtol=1e-9)


def test_split_forecast_run_end_is_the_end_of_the_lead_time(night):
    cfg, r = night
    end = (pd.Timestamp("2025-08-24T00:00") + pd.Timedelta(hours=cfg.forecast.lead_time_h)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for rel in ("runoff/run_gauges.nc", "runoff/run_water_balance.nc"):
        with xr.open_dataset(r.run_dir / rel) as ds:
            assert ds.attrs["hydro_run_start"] == "2025-08-24T00:00:00Z", rel
            assert ds.attrs["hydro_run_end"] == end, rel


@pytest.mark.parametrize("workers", [0, -1])
def test_cluster_refuses_fewer_than_one_worker(workers):
    """A LocalCluster of 0 workers (from --workers -1) never runs a task: the nightly job would hang for ever."""
    from hydro.forecast.parallel import cluster

    with pytest.raises(ConfigError, match="workers"):
        with cluster(None, workers):
            pass
    with pytest.raises(ConfigError, match="workers"):
        with cluster("local-cluster", workers):
            pass


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_cli_forecast_workers_below_one_is_exit_78(tmp_path, workers):
    from hydro.cli import cli

    cfg_path = make_project(tmp_path / "p", members=2)
    # a night without forcing: before the fix the command ran on (exit 75 here; with forcing it hung for ever)
    res = CliRunner().invoke(cli, ["forecast", str(cfg_path), "-t", "2030-01-01T00:00Z", "--workers", workers,
                                   "--output-root", str(tmp_path / "out")])
    assert res.exit_code == 78, res.output
    assert "workers" in res.output
    assert not (tmp_path / "out").exists()

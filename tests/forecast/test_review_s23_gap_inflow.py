"""A neighbour's exchange file holds its own forecast from its reference time on. A missed night run forward from an
older state (warm-gap), or a cold start's spin-up, needs the inflow over the past too: it now comes from the
neighbour's earlier nightly files (a ``{reference_time}`` file template), joined before tonight's file. Before, a
missed night fell back to a cold start (the gap run was refused: "series covers ... the run needs ...") and a cold
start's spin-up was shortened to nothing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tests.forecast.conftest import make_project


def _neighbour_file(path: Path, R: pd.Timestamp, q: float) -> None:
    """The neighbour's nightly export for reference time R: hourly period means labelled R+1h ... R+48h."""
    from hydro.exchange import exchange_dataset, write_exchange

    times = pd.date_range(R + pd.Timedelta("1h"), R + pd.Timedelta("48h"), freq="1h")
    da = xr.DataArray(np.full((times.size, 1), q), dims=("time", "point"), coords={"time": times},
                      attrs={"units": "m3 s-1"})
    write_exchange(exchange_dataset(da, ["ppu_border"], [473760.0], [9855500.0], "EPSG:32750", R, "ppu",
                                    run_id=f"ppu_{R:%Y%m%d}"), path)


def _project(tmp_path: Path, nights) -> Path:
    cfg = make_project(tmp_path / "proj")
    for R in nights:
        _neighbour_file(tmp_path / "proj" / "inputs" / f"ppu_{R:%Y%m%d}.nc", R, 3.0)
    cfg.write_text(cfg.read_text() + '\n[[exchange.inflows]]\nfile = "../inputs/ppu_{reference_time:%Y%m%d}.nc"\n'
                   'point = "ppu_border"\nx = 473760.0\ny = 9855500.0\n')
    return cfg


D = pd.Timedelta(days=1)
T24, T25, T26 = (pd.Timestamp(f"2025-08-{d}T00:00") for d in (24, 25, 26))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    from hydro.config import load_config
    from hydro.forecast.nightly import run_forecast

    tmp = tmp_path_factory.mktemp("gap_inflow")
    cfg = load_config(_project(tmp, [T24 - 2 * D, T24 - D, T24, T25, T26]))
    out = tmp / "out"
    first = run_forecast(cfg, T24, output_root=out)
    missed = run_forecast(cfg, T26, output_root=out)  # 25 Aug was missed
    return first, missed


def test_cold_start_spins_up_over_the_neighbours_earlier_files(chain):
    first, _ = chain
    ws = first.manifest["warm_start"]
    # spinup_days = 2: from 22 Aug 00:00; the files of 22 and 23 Aug cover it (22 Aug 00:00 onwards), so the
    # spin-up is not shortened (it was 0 h: tonight's file starts at T)
    assert ws["level"] == 3 and ws["detail"] == "spin-up 2 days 00:00:00", ws
    files = ws["earlier_inflow_files"]
    assert [f.split(": ")[1].split(" ")[0].rsplit("/", 1)[1] for f in files] == ["ppu_20250823.nc", "ppu_20250822.nc"]


def test_missed_night_runs_forward_with_the_neighbours_earlier_file(chain):
    first, missed = chain
    ws = missed.manifest["warm_start"]
    # the 24 Aug run saved a state valid 25 Aug 00:00 (T + 24 h); 26 Aug runs it forward 24 h with the 25 Aug file
    assert ws["level"] == 2 and ws["source"] == "warm-gap", ws
    assert ws["gap_h"] == 24.0
    assert len(ws["earlier_inflow_files"]) == 1 and "ppu_20250825.nc" in ws["earlier_inflow_files"][0]
    assert missed.manifest["status"] == "complete"


def test_a_missing_earlier_file_still_falls_back(tmp_path):
    """No file for 25 Aug: the gap cannot be fed, the night is a cold start (as before), spin-up shortened."""
    from hydro.config import load_config
    from hydro.forecast.nightly import run_forecast

    cfg = load_config(_project(tmp_path, [T24, T26]))
    run_forecast(cfg, T24, output_root=tmp_path / "out")
    ws = run_forecast(cfg, T26, output_root=tmp_path / "out").manifest["warm_start"]
    assert ws["level"] == 3 and ws["detail"].startswith("spin-up shortened to 0 days 00:00:00"), ws
    assert "earlier_inflow_files" not in ws

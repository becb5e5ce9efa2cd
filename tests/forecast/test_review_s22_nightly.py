"""Review of the nightly forecast operations (hydro.forecast.nightly / stages / pipeline, `hydro forecast`).

1. A cold start with a neighbour's exchange file (an upstream inflow) that covers the neighbour's own forecast
   period only: the spin-up must be shortened to what the file covers (as it is to what the forcing covers), not
   fail with "bad input data" (65) every night a cold start is needed.
2. alerts.json / water_balance.json that cannot be written (disk full): exit 73 with a one-line message and no
   published run folder, not a raw OSError traceback (exit 1).
"""
from __future__ import annotations

import errno
import pathlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from tests.forecast.conftest import make_project

T = pd.Timestamp("2025-08-25T00:00")


def _neighbour_file(path: Path, first_label: pd.Timestamp, last_label: pd.Timestamp, frt: pd.Timestamp) -> None:
    """A hydro-exchange file of 3 m3/s hourly period means (labels at the period end), as a neighbour's
    `hydro forecast` exports it."""
    from hydro.exchange import exchange_dataset, write_exchange

    times = pd.date_range(first_label, last_label, freq="1h")
    q = xr.DataArray(np.full((times.size, 1), 3.0), dims=("time", "point"), coords={"time": times},
                     attrs={"units": "m3 s-1"})
    write_exchange(exchange_dataset(q, ["ppu_border"], [473760.0], [9855500.0], "EPSG:32750", frt, "ppu",
                                    run_id="ppu_test"), path)


def _with_inflow(cfg: Path) -> None:
    # entering at the wain_lower gauge's river cell (a stream cell of the 150 m grid)
    cfg.write_text(cfg.read_text() + '\n[[exchange.inflows]]\nfile = "../inputs/neighbour.nc"\npoint = "ppu_border"\n'
                   "x = 473760.0\ny = 9855500.0\n")


def test_cold_start_spin_up_is_shortened_to_what_the_neighbours_inflow_covers(tmp_path):
    from hydro.config import load_config
    from hydro.forecast.nightly import run_forecast

    cfg_path = make_project(tmp_path / "proj")
    # the neighbour's file: hourly means labelled 24 Aug 13:00 ... 27 Aug 00:00, i.e. periods from 24 Aug 12:00
    # (first label 13:00 minus the 1 h period) to T + 48 h; the forcing reaches back to 22 Aug 00:00
    _neighbour_file(tmp_path / "proj" / "inputs" / "neighbour.nc", T - pd.Timedelta("11h"), T + pd.Timedelta("48h"),
                    T - pd.Timedelta("12h"))
    _with_inflow(cfg_path)
    cfg = load_config(cfg_path)
    # first night: no state anywhere -> cold start with spinup_days = 2 (from 23 Aug 00:00). The inflow covers
    # only 24 Aug 12:00 onwards: the spin-up is shortened to T - 24 Aug 12:00 = 12 h (24 half-hour steps, on the
    # model step grid), instead of the whole night failing with "series covers ... the run needs 23 Aug ..." (65)
    res = run_forecast(cfg, T, output_root=tmp_path / "out")
    ws = res.manifest["warm_start"]
    assert ws["level"] == 3 and ws["source"] == "cold"
    assert ws["detail"].startswith("spin-up shortened to 0 days 12:00:00"), ws["detail"]
    assert "ppu_border" in ws["detail"]
    assert res.manifest["status"] == "complete"
    assert (res.run_dir / "state" / "state_20250825T0000Z.nc").is_file()


def test_cold_start_with_an_inflow_that_starts_at_the_reference_time(tmp_path):
    """The neighbour's own nightly export covers exactly its forecast period T ... T + 48 h (as `_export` writes
    it): a cold start cannot spin up over the past at all, so it starts from the initial stores at T."""
    from hydro.config import load_config
    from hydro.forecast.nightly import run_forecast

    cfg_path = make_project(tmp_path / "proj")
    # labels T+1h ... T+48h, 1 h periods -> covers T ... T+48h
    _neighbour_file(tmp_path / "proj" / "inputs" / "neighbour.nc", T + pd.Timedelta("1h"), T + pd.Timedelta("48h"), T)
    _with_inflow(cfg_path)
    res = run_forecast(load_config(cfg_path), T, output_root=tmp_path / "out")
    ws = res.manifest["warm_start"]
    assert ws["level"] == 3 and ws["detail"].startswith("spin-up shortened to 0 days 00:00:00"), ws
    # no spin-up: the state at T holds the configured initial fills (0.6 x 250 mm production store) and empty reaches
    with xr.open_dataset(res.run_dir / "state" / "state_20250825T0000Z.nc") as st:
        prod = st["production_store"].values
        np.testing.assert_allclose(prod[np.isfinite(prod)], 0.6 * 250.0)
        q = st["channel_discharge"].values
        assert np.nanmax(q) == 0.0


@pytest.mark.parametrize("name", [".alerts.json.tmp", ".water_balance.json.tmp"])
def test_a_json_product_that_cannot_be_written_is_exit_73_and_publishes_nothing(tmp_path, monkeypatch, name):
    from hydro.cli import cli

    cfg = make_project(tmp_path / "proj")
    real = pathlib.Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name == name:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", full_disk)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["forecast", str(cfg), "-t", "2025-08-25T00:00Z", "--output-root", str(out)])
    assert result.exit_code == 73, (result.exit_code, result.stderr, result.exception)
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("hydro: error:")]
    assert len(lines) == 1 and "No space left" in lines[0], result.stderr
    # the failed run leaves nothing behind (lock files are not outputs)
    written = [p for p in out.rglob("*") if p.is_file() and ".locks" not in p.parts]
    assert written == [], written


def test_stamp_run_attrs_os_error_is_output_error(tmp_path, monkeypatch):
    """A file that cannot be reopened to add the run's attributes (disk full, removed) is an OutputError
    (exit 73), not a raw OSError (exit 1, traceback)."""
    import netCDF4

    from hydro.errors import OutputError
    from hydro.forecast.stages import stamp_run_attrs

    p = tmp_path / "a.nc"
    with netCDF4.Dataset(p, "w") as nc:
        nc.title = "x"

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(netCDF4, "Dataset", full)
    with pytest.raises(OutputError, match="No space left on device"):
        stamp_run_attrs([p], {"id": "r1"})

"""A neighbour's exchange file issued far from the run's reference time (a stale forecast under tonight's name)."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pandas as pd

from tests.routing.test_inflow_exchange import START, _exchange_file


def test_stale_neighbour_forecast_is_used_with_a_warning(tmp_path, caplog):
    from hydro.forecast.hydrology import _exchange_inflow

    path = _exchange_file(tmp_path)
    spec = SimpleNamespace(point="B1", x=None, y=None, max_mb=5.0)
    with caplog.at_level(logging.WARNING, logger="hydro.forecast.hydrology"):
        _exchange_inflow(path, spec, reference_time=START + pd.Timedelta(hours=12))
    # (warnings only, by their wording: the tmp path of this test holds "stale" too, in INFO "wrote ..." records
    # captured when an earlier test of the session set the hydro loggers to INFO)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "stale (or future)" in r.getMessage()]
    with caplog.at_level(logging.WARNING, logger="hydro.forecast.hydrology"):
        inflow = _exchange_inflow(path, spec, reference_time=START + pd.Timedelta(days=3))
    (rec,) = [r for r in caplog.records if r.levelno >= logging.WARNING and "stale (or future)" in r.getMessage()]
    assert "2026-01-10T00:00:00Z" in rec.getMessage() and "2026-01-13T00:00:00Z" in rec.getMessage()
    assert inflow.discharge_m3s.size > 0  # still used: the neighbour's newest file is the best there is

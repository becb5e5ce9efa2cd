"""Review of session 13 (forcing clock alignment, calibration checks, run water-balance audit, 2-D flood and
allocation balance tables): regressions with hand-derived expected values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.forecast.pipeline import _flood_balance
from tests.allocation.alloc_helpers import DAY, dem, run, series


def test_flood_audit_states_the_module_residual_with_the_audit_sign():
    """2-D table: initial 100 m3 + rain 50 − infiltration 10 = 140 expected, 141 stored → the module's residual
    (storage − expected) is +1; the audit's residual (in − out − ΔS = 50 − 10 − 41) is −1, and the stated
    residual next to it must use the same sign (it read +1: the two disagreed in water_balance.json)."""
    bal = pd.DataFrame([dict(time_s=60.0, storage=141.0, rain=50.0, infiltration=10.0, point_inflow=0.0,
                             boundary_inflow=0.0, boundary_outflow=0.0, clipped=0.0, residual=1.0,
                             relative_residual=1.0 / 141.0, initial_storage=100.0)])
    m = _flood_balance(bal)
    assert m["residual"] == pytest.approx(-1.0)
    assert m["stated_residual"] == pytest.approx(-1.0)
    assert m["storage_change"] == pytest.approx(41.0)


def test_allocation_balance_csv_is_labelled_at_the_step_end_like_the_reservoir_file(tmp_path):
    """Reservoir 50 000 m3, inflow 0 then 2 m3/s, demand 1 m3/s, 2 daily steps from 2024-01-01: the first step
    (1 January) ends 2024-01-02 00:00, the label of the reservoir file's first volume; the CSV row of that step
    must carry the same label (it carried 2024-01-01, one step early)."""
    node = {"id": "R", "type": "reservoir", "capacity": "100000 m3", "initial_storage": "50000 m3",
            "inflow": series([0.0, 2.0])}
    res = run([node, dem("A", "a", "1 m3/s")], [{"id": "la", "from": "R", "to": "A"}], steps=2)
    files = {p.name: p for p in res.write(str(tmp_path / "w"))}
    csv = pd.read_csv(files["w_balance.csv"], index_col="time", parse_dates=["time"])
    assert list(csv.index) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")]
    # step 1: 50 000 − 86 400 → the reservoir empties by what it holds; step 2: +2·86 400 − 86 400
    with xr.open_dataset(files["w_reservoir.nc"]) as ds:
        assert list(pd.DatetimeIndex(ds["time"].values)) == list(csv.index)
        v = np.concatenate([ds["initial_volume"].values, ds["reservoir_volume"].values[0]])
    np.testing.assert_allclose(csv["storage_change"].to_numpy(), np.diff(v), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(csv.loc["2024-01-03", "exogenous_inflow"], 2.0 * DAY, rtol=1e-12)
    # the in-memory table keeps the step starts, like the other AllocationResult frames
    assert list(res.balance.index) == list(pd.DatetimeIndex(["2024-01-01", "2024-01-02"]))


def test_every_allocation_csv_labels_the_step_end_like_the_netcdf_files(tmp_path):
    """Explanations, delivery by source and balance tables of one run share the NetCDF files' step-end labels."""
    import pandas as pd
    import xarray as xr

    from hydro.allocation import allocate, load_network

    from pathlib import Path

    res = allocate(load_network(Path(__file__).resolve().parents[1] / "models" / "balikpapan_water.toml"), steps=3)
    files = {p.name: p for p in res.write(str(tmp_path / "w"))}
    with xr.open_dataset(files["w_demand.nc"]) as ds:
        nc_times = set(pd.DatetimeIndex(ds["time"].values))
    assert min(nc_times) == pd.Timestamp(res.times[0]) + pd.Timedelta(seconds=res.dt)
    for name in ("w_balance.csv", "w_delivery_by_source.csv", "w_explanations.csv"):
        df = pd.read_csv(files[name])
        assert len(df) > 0, name  # the Balikpapan network is short somewhere every day: explanations exist
        assert set(pd.to_datetime(df["time"])) <= nc_times, name
    dbs = pd.read_csv(files["w_delivery_by_source.csv"])
    assert len(dbs) > 0 and pd.to_datetime(dbs["time"]).min() == min(nc_times)

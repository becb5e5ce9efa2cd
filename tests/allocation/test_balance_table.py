"""The allocation system balance per step (``AllocationResult.balance``, ``<stem>_balance.csv``), by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.allocation.core import BALANCE_TERMS
from tests.allocation.alloc_helpers import DAY, dem, intake, link, run, series


def _lagged_return_case():
    # river 1 m3/s -> A (0.45 m3/s, pipe loses 10 %) -> half of A's delivery returns to j after one day -> B or sea
    return run([intake("river", "1 m3/s"), dem("A", "a", "0.45 m3/s"), {"id": "j", "type": "junction"},
                dem("B", "b", "1 m3/s"), {"id": "sea", "type": "outlet"}],
               [link("la", "river", "A", loss_fraction=0.1, capacity="0.5 m3/s"),
                link("ret", "A", "j", return_fraction=0.5, lag=1), link("jb", "j", "B"), link("js", "j", "sea")],
               steps=2)


def test_balance_terms_by_hand_with_a_lagged_return():
    res = _lagged_return_case()
    b = res.balance
    assert list(b.columns) == list(BALANCE_TERMS) and len(b) == 2
    np.testing.assert_allclose(b["exogenous_inflow"], 1.0 * DAY)
    # day 1: nothing arrives yet; day 2: half of day 1's 0.45 m3/s arrives at j
    np.testing.assert_allclose(b["returns_arriving"], [0.0, 0.225 * DAY], atol=1e-6)
    # A consumes half of its 0.45 m3/s; on day 2 B also takes the 0.225 m3/s that arrives (no return link)
    np.testing.assert_allclose(b["consumed"], [0.225 * DAY, 0.45 * DAY], rtol=1e-9)
    np.testing.assert_allclose(b["outlet"], 0.0, atol=1e-6)
    np.testing.assert_allclose(b["returns_into_transit"], 0.225 * DAY, rtol=1e-9)
    np.testing.assert_allclose(b["conveyance_loss"], 0.05 * DAY, rtol=1e-9)  # 10 % of 0.5 m3/s
    # the rest of the river (1 - 0.5) goes nowhere in the network: unused source water
    np.testing.assert_allclose(b["unused_source_water"], 0.5 * DAY, rtol=1e-9)
    np.testing.assert_allclose(b["storage_change"], 0.0, atol=1e-9)
    assert np.abs(b["residual"]).max() < 1e-6
    ins = b["exogenous_inflow"] + b["returns_arriving"]
    outs = b[["consumed", "returns_into_transit", "conveyance_loss", "spill", "unused_source_water", "outlet",
              "reservoir_evaporation", "storage_change"]].sum(axis=1)
    np.testing.assert_allclose(ins - outs, b["residual"], atol=1e-6)
    np.testing.assert_array_equal(b["residual"].to_numpy(), res.mass_residual)


def test_balance_with_a_reservoir_closes_on_its_initial_storage(tmp_path):
    node = {"id": "R", "type": "reservoir", "capacity": "100000 m3", "dead_storage": "20000 m3",
            "initial_storage": "50000 m3", "inflow": series([0.0, 2.0]), "evaporation": "10 mm/d", "area": "100 ha",
            "overflow_to": "sea"}
    res = run([node, dem("A", "a", "1 m3/s"), {"id": "sea", "type": "outlet"}], [link("la", "R", "A")], steps=2)
    b = res.balance
    np.testing.assert_allclose(res.initial_storage, [50000.0])
    # storage 50 000 -> 20 000 -> 96 400 (hand values of test_reservoir_dead_storage_evaporation_and_spill)
    np.testing.assert_allclose(b["storage_change"], [-30000.0, 76400.0], rtol=1e-9)
    np.testing.assert_allclose(b["reservoir_evaporation"], [10000.0, 10000.0], rtol=1e-9)
    np.testing.assert_allclose(b["consumed"], [20000.0, 86400.0], rtol=1e-9)
    assert res.initial_storage.sum() + b["storage_change"].sum() == pytest.approx(res.storage[-1].sum(), rel=1e-12)
    files = {p.name: p for p in res.write(str(tmp_path / "w"))}
    csv = pd.read_csv(files["w_balance.csv"], index_col="time", parse_dates=["time"])
    np.testing.assert_allclose(csv.to_numpy(), b.to_numpy(), rtol=1e-12, atol=1e-9)
    with xr.open_dataset(files["w_reservoir.nc"]) as ds:
        assert float(ds["initial_volume"].values[0]) == pytest.approx(50000.0)
        assert ds["initial_volume"].attrs["units"] == "m3"
        v = np.concatenate([ds["initial_volume"].values, ds["reservoir_volume"].values[0]])
        np.testing.assert_allclose(np.diff(v), b["storage_change"].to_numpy(), rtol=1e-9)
        assert ds.attrs["hydro_initial_storage_m3"] == pytest.approx(50000.0)


def test_balance_file_is_cf_compliant_reservoir_file(tmp_path):
    from hydro.testing import assert_cf_compliant

    node = {"id": "R", "type": "reservoir", "capacity": "100000 m3", "initial_storage": "50000 m3",
            "inflow": series([0.5, 2.0])}
    res = run([node, dem("A", "a", "1 m3/s")], [link("la", "R", "A")], steps=2)
    files = {p.name: p for p in res.write(str(tmp_path / "w"))}
    assert_cf_compliant(files["w_reservoir.nc"])

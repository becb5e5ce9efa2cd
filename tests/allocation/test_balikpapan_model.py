"""The bundled Balikpapan example network (models/balikpapan_water.toml)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.allocation import allocate, cli_allocate, load_network

MODEL = Path(__file__).resolve().parents[2] / "models" / "balikpapan_water.toml"


@pytest.fixture(scope="module")
def result():
    return allocate(load_network(MODEL))


def test_network_loads_with_all_parties(result):
    net = result.network
    assert set(net.regions) == {"balikpapan", "ppu", "kukar", "ikn"}
    assert {"manggar", "teritip", "wells", "sepaku_semoi"} <= set(net.nodes)
    assert len(result.times) == 365


def test_mass_balance_and_bounds(result):
    assert np.abs(result.mass_residual).max() < 1e-3  # m3 per step on ~1e7 m3 storages
    s = result.storage_frame()
    assert (s["manggar"] >= 3.0e6 - 1e-3).all() and (s["manggar"] <= 16.3e6 + 1e-3).all()
    q = result.flow_rate()
    assert (q["manggar_abstraction"] <= 1.1 + 1e-9).all()
    assert (q["ss_to_manggar"] <= 0.5 + 1e-9).all()


def test_dry_spell_triggers_the_2023_drought_rule(result):
    lev = result.agreement_state["manggar_drought_rule_2023:level"]
    assert lev.max() == 1 and lev.iloc[:150].max() == 0
    q = result.flow_rate()["manggar_abstraction"]
    assert (q[lev.to_numpy() == 1] <= 0.58 + 1e-9).all()
    ex = result.explanations
    assert "drought_tier" in set(ex[ex.instance == "bpn_municipal"].reason)


def test_ikn_entitlement_met_and_mahakam_shares(result):
    d = result.delivered_rate()
    np.testing.assert_allclose(d["ikn_municipal"], 1.5, atol=1e-9)
    # Mahakam plant 1,000 L/s split 0.64 / 0.20 / 0.16: Kukar and PPU get their shares
    np.testing.assert_allclose(d["kukar_municipal"].iloc[:200], 0.2, atol=1e-9)
    np.testing.assert_allclose(d["ppu_municipal"].iloc[:200], 0.16, atol=1e-9)


def test_simulated_inflows_override_by_node_id():
    net = load_network(MODEL)
    t = pd.date_range("2030-01-01", periods=30, freq="D")
    wet = xr.DataArray(np.full(30, 5.0), dims="time", coords={"time": t}, attrs={"units": "m3 s-1"})
    dry = xr.DataArray(np.full(30, 0.0), dims="time", coords={"time": t}, attrs={"units": "m3 s-1"})
    a = allocate(net, {"manggar": wet, "teritip": wet}, steps=30, explain=False)
    b = allocate(net, {"manggar": dry, "teritip": dry}, steps=30, explain=False)
    assert a.storage[-1, 0] > b.storage[-1, 0] + 1e6


def test_cli_function_writes_cf_files(tmp_path):
    files = cli_allocate(MODEL, tmp_path / "bpn", steps=10)
    assert {"bpn_demand.nc", "bpn_explanations.csv"} <= {Path(f).name for f in files}
    ds = xr.open_dataset(tmp_path / "bpn_demand.nc")
    assert ds.sizes["demand"] == 4 and ds.sizes["time"] == 10
    assert "metric_balikpapan_reliability_volume" in ds.attrs
    ds.close()
    assert (tmp_path / "bpn_explanations.csv").exists()


def test_manggar_level_from_stage_storage_table(result):
    ds = result.to_dataset("reservoir")
    i = result.reservoir_ids.index("manggar")
    lev = ds["reservoir_level"].values[i]
    st = result.storage[:, i]
    np.testing.assert_allclose(lev, np.interp(st, [3e6, 14.3e6, 16.3e6], [5.0, 10.3, 13.4]))
    assert ds["reservoir_level"].attrs["units"] == "m"
    assert np.isnan(ds["reservoir_level"].values[result.reservoir_ids.index("sepaku_semoi")]).all()

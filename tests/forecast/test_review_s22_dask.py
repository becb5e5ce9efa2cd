"""Review s22 (dask ensembles and scenarios): a failing member or scenario is named, the forcing's member numbers are
kept in the outputs, and an InputMissingError raised on a worker comes back as itself."""
from __future__ import annotations

import json
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

import hydro
from hydro.config import load_config
from hydro.errors import ConfigError, InputDataError, InputMissingError
from tests.forecast.conftest import make_project

REPO = Path(hydro.__file__).resolve().parents[1]
T = "2025-08-25T00:00Z"


def _forcing(cfg_path: Path) -> Path:
    return cfg_path.parent.parent / "inputs" / "forcing" / "balikpapan_rain_20250825T0000Z.nc"


# ---------------------------------------------------------------------------------------------- forecast members
def test_a_failing_member_is_named_and_nothing_is_published(tmp_path):
    from hydro.forecast.nightly import run_forecast

    cfg_path = make_project(tmp_path / "p", members=2)
    with netCDF4.Dataset(_forcing(cfg_path), "a") as nc:
        v = nc["precipitation"]  # (realization, time, y, x), 5 members
        block = v[:, 80, :, :]  # 2025-08-25T09:00, inside the 48 h forecast
        block[1] = -1.0  # member 1 only: the control run (mean of the 5 members) stays >= 0
        assert float(block.mean(axis=0).min()) > 0.0
        v[:, 80, :, :] = block
    with pytest.raises(InputDataError, match=r"ensemble member 1\b.*negative values"):
        run_forecast(load_config(cfg_path), T, output_root=tmp_path / "out", scheduler="threads")
    region = tmp_path / "out" / "balikpapan"
    # no run folder (complete or .partial), only the lock folder
    assert sorted(p.name for p in region.iterdir()) == [".locks"]


def test_member_numbers_of_the_forcing_are_kept(tmp_path):
    """A forcing file numbering its members 10 … 14: members 10 and 11 are published as such (file names,
    ``realization`` attribute, water-balance entries, exchange file), with the discharge of positions 0 and 1
    (the same numbers as a run of the file numbered 0 … 4, here on another scheduler)."""
    from hydro.forecast.nightly import run_forecast

    plain = make_project(tmp_path / "a", members=2)
    renum = make_project(tmp_path / "b", members=2)
    with netCDF4.Dataset(_forcing(renum), "a") as nc:
        nc["realization"][:] = np.array([10, 11, 12, 13, 14])
    ref = run_forecast(load_config(plain), T, output_root=tmp_path / "out_a", scheduler="synchronous")
    got = run_forecast(load_config(renum), T, output_root=tmp_path / "out_b", scheduler="threads")
    assert sorted(k for k in got.outputs if k.startswith("ensemble/member_")) == [
        "ensemble/member_010", "ensemble/member_011"]
    for pos, num in ((0, 10), (1, 11)):
        with xr.open_dataset(got.outputs[f"ensemble/member_{num:03d}"]) as b, \
                xr.open_dataset(ref.outputs[f"ensemble/member_{pos:03d}"]) as a:
            assert int(b.attrs["realization"]) == num
            np.testing.assert_array_equal(a["discharge"].values, b["discharge"].values)
    procs = json.loads(Path(got.outputs["water_balance"]).read_text())["processes"]
    assert {"ensemble_member_010", "ensemble_member_011"} <= set(procs)
    assert procs["ensemble_member_010"]["file"] == "ensemble/member_010_gauges.nc"
    with xr.open_dataset(got.outputs["exchange/boundary"]) as ex:
        assert ex["realization"].values.tolist() == [10, 11]


# ---------------------------------------------------------------------------------------------- workers
def _raise_missing(item):
    raise InputMissingError(f"{item}: forcing file not found on this worker")


def test_input_missing_error_from_a_cluster_worker_keeps_its_class():
    """distributed pickles a task's exception with tblib: InputMissingError came back as a bare
    ``Exception("InputMissingError(...)")`` (and as TypeError "ValueError.__new__(InputMissingError) is not safe"
    from dask's processes scheduler), i.e. exit 1 "a bug" instead of 66 when a worker does not see an input."""
    from hydro.forecast.parallel import cluster, map_tasks

    with cluster("local-cluster", 1) as (client, _):
        with pytest.raises(InputMissingError, match="member-3: forcing file not found"):
            map_tasks(_raise_missing, ["member-3"], client=client)


def test_input_missing_error_survives_tblib_pickling():
    import pickle

    import tblib.pickling_support

    tblib.pickling_support.install(InputMissingError)  # what dask.multiprocessing / distributed do for all
    exc = InputMissingError("x.nc: not found")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is InputMissingError and str(back) == "x.nc: not found"


# ---------------------------------------------------------------------------------------------- allocation scenarios
def _net(steps: int = 4) -> dict:
    return {"network": {"name": "tiny", "start": "2024-01-01", "steps": steps, "timestep": "1D"},
            "regions": [{"id": "a"}],
            "nodes": [{"id": "river", "type": "intake", "inflow": {"external": "river_q", "units": "m3/s"}},
                      {"id": "A", "type": "demand", "region": "a", "demand": "0.5 m3/s", "priority": 1},
                      {"id": "sea", "type": "outlet"}],
            "links": [{"id": "ra", "from": "river", "to": "A"}, {"id": "rs", "from": "river", "to": "sea"}]}


def test_a_failing_scenario_is_named():
    from hydro.allocation import load_network, run_scenarios

    net = load_network(_net())
    scen = {"wet": {"river_q": np.full(4, 2.0)}, "dry_2030": {"river_q": np.array([0.3, -1.0, 0.3, 0.3])}}
    with pytest.raises(InputDataError, match=r"scenario 'dry_2030'.*negative"):
        run_scenarios(net, scen, scheduler="threads")


@pytest.mark.parametrize("scheduler", ["local-cluster", "tcp://127.0.0.1:8786"])
def test_run_scenarios_with_a_cluster_name_is_a_config_error(scheduler):
    """[compute] scheduler values that need a Client made by the caller: a bare ValueError from dask before."""
    from hydro.allocation import load_network, run_scenarios

    with pytest.raises(ConfigError, match="distributed.Client"):
        run_scenarios(load_network(_net()), {"m0": {"river_q": np.full(4, 1.0)}}, scheduler=scheduler)

"""Series from NetCDF exchange files and CSV, and diagnosis of an LP HiGHS cannot solve."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alloc_helpers import make_net
from hydro.allocation import SolverError, load_network
from hydro.allocation.core import _time_axis, run_model
from hydro.allocation.explain import diagnose
from hydro.allocation.solver import AllocationModel


def test_inflow_from_neighbours_dsg_exchange_file_and_csv(tmp_path):
    from hydro.io import write_netcdf
    from hydro.io.dsg import timeseries_dataset

    t = pd.date_range("2024-01-01", periods=4 * 4, freq="6h")  # 6-hourly border discharge
    q = np.vstack([np.full(t.size, 9.0), np.repeat([0.2, 0.4, 0.6, 0.8], 4)])
    ds = timeseries_dataset({"discharge": q}, ids=["other", "border_ppu"], time=t, lat=[-1.0, -1.1],
                            lon=[116.7, 116.8], instance_dim="station")
    write_netcdf(ds, tmp_path / "ppu_border_discharge.nc", title="exchange", summary="test")
    pd.DataFrame({"time": pd.date_range("2024-01-01", periods=4, freq="D").strftime("%Y-%m-%d"),
                  "q": [100, 200, 300, 400]}).to_csv(tmp_path / "dem.csv", index=False)
    net = make_net(
        [{"id": "border", "type": "inflow",
          "inflow": {"netcdf": "ppu_border_discharge.nc", "variable": "discharge", "station": "border_ppu"}},
         {"id": "A", "type": "demand", "region": "a", "demand": {"csv": "dem.csv", "column": "q", "units": "L/s"}},
         {"id": "sea", "type": "outlet"}],
        [{"id": "ba", "from": "border", "to": "A"}, {"id": "bs", "from": "border", "to": "sea"}], steps=4)
    from hydro.allocation import allocate

    res = allocate(load_network(net, base_dir=tmp_path))
    np.testing.assert_allclose(res.delivered[:, 0] / res.dt, [0.1, 0.2, 0.3, 0.4], rtol=1e-6)
    np.testing.assert_allclose((res.flow[:, 0] + res.flow[:, 1] + res.unused[:, 0]) / res.dt, [0.2, 0.4, 0.6, 0.8], rtol=1e-6)


def test_unknown_station_is_named(tmp_path):
    from hydro.errors import InputDataError
    from hydro.io import write_netcdf
    from hydro.io.dsg import timeseries_dataset

    t = pd.date_range("2024-01-01", periods=2, freq="D")
    ds = timeseries_dataset({"discharge": np.ones((1, 2))}, ids=["x"], time=t, lat=[-1.0], lon=[116.7])
    write_netcdf(ds, tmp_path / "ex.nc", title="exchange", summary="test")
    net = make_net([{"id": "b", "type": "inflow", "inflow": {"netcdf": "ex.nc", "variable": "discharge", "station": "y"}},
                    {"id": "sea", "type": "outlet"}], [{"id": "l", "from": "b", "to": "sea"}], steps=2)
    from hydro.allocation import allocate

    with pytest.raises(InputDataError, match="station 'y'.*ex.nc"):
        allocate(load_network(net, base_dir=tmp_path))


def _model():
    net = load_network(make_net(
        [{"id": "river", "type": "intake", "inflow": "1 m3/s"},
         {"id": "A", "type": "demand", "region": "a", "demand": "0.5 m3/s"}],
        [{"id": "pipe", "from": "river", "to": "A"}], steps=2))
    times, dt = _time_axis(net, None, None)
    return AllocationModel(net, times, dt)


def test_corrupt_bound_is_diagnosed_and_named():
    m = _model()
    m.capacity[1, 0] = -5.0  # bypasses validation, as corrupt run-time data would
    with pytest.raises(SolverError) as info:
        run_model(m)
    msg = str(info.value)
    assert "step 1" in msg and "link pipe" in msg and "lower bound" in msg


def test_elastic_diagnosis_names_the_rows_to_violate():
    m = _model()
    ctx = m.prepare(0, m.initial_state())
    m.solve_step(ctx)
    # force 2 m3/s through the pipe while the river has 1 m3/s and the demand takes 0.5
    m.lp.set_cols(np.array([m.cF]), np.array([2.0 * m.dt]), np.array([np.inf]))
    msg = diagnose(m, ctx)
    assert "mass balance of node" in msg and "must be violated" in msg

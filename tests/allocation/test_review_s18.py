"""Review session 18: network inputs and outputs of hydro.allocation.

* water the LP cannot refuse (return flows, ``overflow_to``) reaching only demands: the upstream demand was cut
  silently (lag 0) or HiGHS failed (lagged returns, overflow) — now a validation error naming file and key;
* a business-day series (no weekends) filled the weekends with Friday's value — now a gap, as documented;
* ``drought_tier`` is the tier in force during the step, not a value at the step end.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.allocation import allocate, load_network
from hydro.errors import ConfigError, InputDataError


def _chain(ret_to: str, *, lag: int = 0, extra_nodes=(), extra_links=()) -> dict:
    return {"network": {"start": "2024-01-01", "steps": 3},
            "regions": [{"id": "a"}],
            "nodes": [{"id": "river", "type": "intake", "inflow": "10 m3/s"},
                      {"id": "city", "type": "demand", "region": "a", "demand": "5 m3/s"},
                      {"id": "farm", "type": "demand", "region": "a", "demand": "1 m3/s"}, *extra_nodes],
            "links": [{"id": "pipe", "from": "river", "to": "city"},
                      {"id": "ret", "from": "city", "to": ret_to, "return_fraction": 0.8, "lag": lag},
                      *extra_links]}


def test_return_flow_into_a_demand_is_rejected():
    # before: city (10 m3/s available, asks 5) got 1.25 m3/s: its return 0.8 x 1.25 = 1 m3/s is all farm claims
    with pytest.raises(ConfigError, match=r"links\[1\]\.to \(link 'ret'\).*return flow"):
        load_network(_chain("farm"))


@pytest.mark.parametrize("lag", [0, 1])
def test_return_flow_into_a_junction_feeding_only_demands_is_rejected(lag):
    net = _chain("j", lag=lag, extra_nodes=[{"id": "j", "type": "junction"}],
                 extra_links=[{"id": "jf", "from": "j", "to": "farm"}])
    with pytest.raises(ConfigError, match=r"links\[1\]\.to \(link 'ret'\)"):
        allocate(net)


def test_overflow_into_a_junction_feeding_only_demands_is_rejected():
    # before: HiGHS infeasible at step 0 ("mass balance of node river must be violated by 777600 m3")
    net = {"network": {"start": "2024-01-01", "steps": 2},
           "regions": [{"id": "a"}],
           "nodes": [{"id": "river", "type": "intake", "inflow": "10 m3/s", "overflow_to": "j"},
                     {"id": "j", "type": "junction"},
                     {"id": "farm", "type": "demand", "region": "a", "demand": "1 m3/s"}],
           "links": [{"id": "jf", "from": "j", "to": "farm"}]}
    with pytest.raises(ConfigError, match=r"nodes\[0\]\.overflow_to \(node 'river'\)"):
        allocate(net)


def test_return_flow_through_a_junction_to_the_sea_still_allowed():
    # hand-derived: city takes 5 of 10 m3/s, 0.8 x 5 = 4 m3/s returns via j; farm takes 1, 3 go to the sea
    net = _chain("j", extra_nodes=[{"id": "j", "type": "junction"}, {"id": "sea", "type": "outlet"}],
                 extra_links=[{"id": "jf", "from": "j", "to": "farm"}, {"id": "js", "from": "j", "to": "sea"}])
    res = allocate(net)
    dl = res.delivered_rate()
    assert np.allclose(dl["city"], 5.0) and np.allclose(dl["farm"], 1.0)


def test_business_day_series_has_weekend_gaps(tmp_path):
    days = pd.bdate_range("2024-01-01", periods=10)  # Mon 1 .. Fri 12 January, no weekends
    pd.DataFrame({"time": days.strftime("%Y-%m-%d"), "q": np.arange(10.0)}).to_csv(tmp_path / "q.csv", index=False)
    net = {"network": {"start": "2024-01-01", "steps": 7},
           "regions": [{"id": "a"}],
           "nodes": [{"id": "river", "type": "intake", "inflow": {"csv": "q.csv", "column": "q", "units": "m3/s"}},
                     {"id": "city", "type": "demand", "region": "a", "demand": "100 m3/s"}],
           "links": [{"id": "pipe", "from": "river", "to": "city"}]}
    # before: Saturday and Sunday silently took Friday's 4 m3/s
    with pytest.raises(InputDataError, match=r"nodes\[0\]\.inflow.*step 5 \(2024-01-06"):
        allocate(load_network(net, base_dir=tmp_path))
    # the working week alone is fine: 0, 1, 2, 3, 4 m3/s
    res = allocate(load_network(net, base_dir=tmp_path), steps=5)
    assert np.allclose(res.delivered_rate()["city"], [0.0, 1.0, 2.0, 3.0, 4.0])


def test_drought_tier_is_the_tier_during_the_step(tmp_path):
    net = {"network": {"start": "2024-01-01", "steps": 2},
           "regions": [{"id": "a"}],
           "nodes": [{"id": "dam", "type": "reservoir", "capacity": "1 Mm3", "initial_storage": "0.5 Mm3"},
                     {"id": "city", "type": "demand", "region": "a", "demand": "1 m3/s"}],
           "links": [{"id": "pipe", "from": "dam", "to": "city"}],
           "agreements": [{"type": "drought_tiers", "name": "rule", "reservoir": "dam", "curves": [0.6],
                           "targets": [{"demand": "city", "multipliers": [1.0, 0.5]}]}]}
    res = allocate(net)
    assert np.allclose(res.delivered_rate()["city"], 0.5)  # 50 % < 60 %: tier 1 from the start-of-step storage
    res.write(tmp_path / "r")
    with xr.open_dataset(tmp_path / "r_reservoir.nc") as ds:
        assert ds["drought_tier"].attrs["cell_methods"] == "time: mean"
        assert ds["drought_tier"].values.tolist() == [[1.0, 1.0]]

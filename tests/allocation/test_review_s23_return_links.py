"""New tests from review s23 (allocation differential testing)."""
from __future__ import annotations

import pytest

from hydro.allocation import load_network
from hydro.errors import ConfigError


def _net_with_two_returns():
    return {
        "network": {"name": "tiny", "start": "2024-01-01", "steps": 1, "timestep": "1D"},
        "regions": [{"id": "a"}],
        "nodes": [{"id": "s", "type": "intake", "inflow": "1 m3/s"},
                  {"id": "d", "type": "demand", "region": "a", "demand": "1 m3/s", "priority": 1},
                  {"id": "j", "type": "junction"},
                  {"id": "sea", "type": "outlet"}],
        "links": [{"id": "l", "from": "s", "to": "d"},
                  {"id": "r1", "from": "d", "to": "sea", "return_fraction": 0.5},
                  {"id": "r2", "from": "d", "to": "j", "return_fraction": 0.2},
                  {"id": "lj", "from": "j", "to": "sea"}],
        "agreements": [],
    }


def test_two_return_links_on_one_demand_is_a_config_error():
    # a demand may have at most one return link; two were a raw TypeError (len() of the int count)
    with pytest.raises(ConfigError, match=r"nodes\[1\].*demand 'd' has 2 return links \(at most one\)"):
        load_network(_net_with_two_returns())

"""Review rev23 (allocation metrics, outputs, explanations): tiny networks, hand-derived answers.

a. a position with only one of lat/lon (region, node or link) was accepted at load; the writers then failed with a
   raw TypeError after the whole run (region lat without lon, demand file) or silently used another position;
b. supply_metrics with arrays of the wrong shape (e.g. AllocationResult.requested, which is (time, demand)) failed
   with a raw IndexError / broadcasting ValueError instead of an InputDataError;
c. AllocationResult.to_dataset with an unknown kind raised a bare ValueError (not a hydro.errors exception).
"""
from __future__ import annotations

import numpy as np
import pytest

from hydro.allocation import allocate, load_network, supply_metrics
from hydro.errors import ConfigError, HydroError, InputDataError
from tests.allocation.alloc_helpers import dem, intake, link, make_net

DAY = 86400.0


def _net(region_pos=None, node_pos=None, link_pos=None):
    net = make_net([intake("src", "10 m3/s"), dem("d1", "a", "5 m3/s", **(node_pos or {}))],
                   [link("l1", "src", "d1", **(link_pos or {}))], regions=("a",), steps=2)
    net["regions"][0].update(region_pos or {})
    return net


# ---------------------------------------------------------------- a. lat without lon
@pytest.mark.parametrize("where,pos,key", [
    ("region", {"lat": -1.1}, "regions[0]"),
    ("node", {"lon": 116.9}, "nodes[1]"),
    ("link", {"lat": -1.0}, "links[0]"),
])
def test_half_a_position_is_a_config_error_at_load(where, pos, key):
    """A region with lat but no lon crashed the writer (float(None)) after the run; a node or link with one of the
    two silently took the region's / from-node's / network's position instead."""
    net = _net(**{f"{where}_pos": pos})
    with pytest.raises(ConfigError, match=r"given without") as info:
        load_network(net)
    assert key in str(info.value)


def test_region_lat_without_lon_cli_exit_code_not_traceback(tmp_path):
    """hydro allocate: exit 78 (configuration error) before any step is solved, no file written; it was exit 1 with
    a TypeError traceback from the demand file's positions after the whole run."""
    from click.testing import CliRunner

    from hydro.cli import cli

    toml = tmp_path / "w.toml"
    toml.write_text('[network]\nname = "w"\nstart = 2024-01-01\nsteps = 2\n\n'
                    '[[regions]]\nid = "a"\nlat = -1.1\n\n'
                    '[[nodes]]\nid = "src"\ntype = "intake"\ninflow = "10 m3/s"\n\n'
                    '[[nodes]]\nid = "d1"\ntype = "demand"\nregion = "a"\ndemand = "5 m3/s"\n\n'
                    '[[links]]\nid = "l1"\nfrom = "src"\nto = "d1"\n', encoding="utf-8")
    r = CliRunner().invoke(cli, ["allocate", str(toml), "-o", str(tmp_path / "out" / "w")])
    assert r.exit_code == 78, (r.exit_code, r.output, r.exception)
    assert "lat is given without lon" in r.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ---------------------------------------------------------------- b. supply_metrics shapes
def test_supply_metrics_time_by_demand_arrays_raise_input_data_error():
    """AllocationResult.requested/delivered are (time, demand); supply_metrics wants (demand, time). Passing them
    as they are (3 steps x 2 demands, 2 groups) raised a raw IndexError (boolean index of length 2 on 3 rows)."""
    D = np.full((3, 2), 10.0)  # (time, demand)
    x = np.full((3, 2), 5.0)
    with pytest.raises(InputDataError, match=r"res.requested.T"):
        supply_metrics(D, x, ["a", "b"])


def test_supply_metrics_demand_and_delivery_of_different_lengths():
    """4 steps of demand, 3 of delivery: a raw broadcasting ValueError ('operands could not be broadcast')."""
    with pytest.raises(InputDataError, match=r"\(1, 4\).*\(1, 3\)"):
        supply_metrics(np.full((1, 4), 10.0), np.full((1, 3), 10.0), ["a"])


def test_supply_metrics_transposed_arrays_still_give_hand_values_after_T():
    """The right orientation (demand, time): region a = d1 + d2, D = 20 per step, x = [20, 10, 20] ->
    reliability_time 2/3, volume 50/60, vulnerability 0.5 (one failure of 10/20), resilience 1/1 (the failure
    in step 2 recovered in step 3). The wrong orientation (time, demand) is refused (was an IndexError)."""
    D = np.full((2, 3), 10.0)
    x = np.array([[10.0, 5.0, 10.0], [10.0, 5.0, 10.0]])
    m = supply_metrics(D, x, ["a", "a"]).loc["a"]
    assert m.reliability_time == pytest.approx(2 / 3)
    assert m.reliability_volume == pytest.approx(50 / 60)
    assert m.vulnerability == pytest.approx(0.5)
    assert m.resilience == pytest.approx(1.0)
    with pytest.raises(InputDataError):
        supply_metrics(D.T, x.T, ["a", "a"])


# ---------------------------------------------------------------- c. to_dataset kind
def test_to_dataset_unknown_kind_is_a_hydro_error():
    res = allocate(load_network(_net()))
    with pytest.raises(HydroError, match="kind must be one of"):
        res.to_dataset("demands")

"""Bad input: clear errors naming the file and the key; no output written."""
from __future__ import annotations

import textwrap

import pytest

from hydro.allocation import cli_allocate, load_network
from hydro.errors import ConfigError, InputDataError, InputMissingError

GOOD = """
[network]
name = "bad"
start = 2024-01-01
steps = 5

[[regions]]
id = "bpn"

[[nodes]]
id = "river"
type = "intake"
inflow = "1 m3/s"

[[nodes]]
id = "city"
type = "demand"
region = "bpn"
demand = "500 L/s"

[[links]]
id = "pipe"
from = "river"
to = "city"
capacity = "800 L/s"
"""


UNKNOWN_PARTY = """
[[agreements]]
type = "entitlement"
name = "deal"
party = "samarinda"
demand = "city"
rate = "100 L/s"
priority = 1
"""


def _write(tmp_path, text, name="net.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def _expect(tmp_path, text, exc, *fragments):
    p = _write(tmp_path, text)
    out = tmp_path / "out" / "run"
    with pytest.raises(exc) as info:
        cli_allocate(p, out)
    msg = str(info.value)
    assert str(p) in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    return msg


def test_good_file_writes_outputs(tmp_path):
    p = _write(tmp_path, GOOD)
    files = cli_allocate(p, tmp_path / "out" / "run")
    names = sorted(f.name for f in files)
    assert "run_demand.nc" in names and "run_link.nc" in names and "run_metrics.csv" in names


def test_unknown_node_in_link(tmp_path):
    _expect(tmp_path, GOOD.replace('to = "city"', 'to = "cty"'), ConfigError, "links[0].to", "'cty'")


def test_cycle_without_sink(tmp_path):
    text = GOOD + """
[[nodes]]
id = "j1"
type = "junction"

[[nodes]]
id = "j2"
type = "junction"

[[links]]
id = "a"
from = "river"
to = "j1"

[[links]]
id = "b"
from = "j1"
to = "j2"

[[links]]
id = "c"
from = "j2"
to = "j1"
"""
    _expect(tmp_path, text, ConfigError, "cycle without a sink", "'j1'")


def test_negative_capacity(tmp_path):
    _expect(tmp_path, GOOD.replace('capacity = "800 L/s"', 'capacity = "-800 L/s"'), ConfigError,
            "links[0].capacity", "negative capacity")


def test_units_missing(tmp_path):
    _expect(tmp_path, GOOD.replace('demand = "500 L/s"', "demand = 500"), ConfigError, "nodes[1].demand",
            "units missing")


def test_agreement_names_unknown_party(tmp_path):
    text = GOOD + UNKNOWN_PARTY
    _expect(tmp_path, text, ConfigError, "agreements[0]", "'samarinda'", "does not exist")


def test_demand_series_shorter_than_run(tmp_path):
    (tmp_path / "demand.csv").write_text("time,q\n2024-01-01,0.4\n2024-01-02,0.4\n2024-01-03,0.4\n")
    text = GOOD.replace('demand = "500 L/s"', 'demand = {csv = "demand.csv", column = "q", units = "m3/s"}')
    _expect(tmp_path, text, InputDataError, "nodes[1].demand", "demand.csv", "2024-01-04", "5 steps")


def test_inline_series_shorter_than_run(tmp_path):
    text = GOOD.replace('demand = "500 L/s"', 'demand = {values = [0.1, 0.2], units = "m3/s"}')
    _expect(tmp_path, text, ConfigError, "nodes[1].demand", "2 values", "5 steps")


def test_unknown_unit_and_wrong_kind(tmp_path):
    _expect(tmp_path, GOOD.replace('"500 L/s"', '"500 Mm3"'), ConfigError, "nodes[1].demand", "volume unit")
    _expect(tmp_path, GOOD.replace('"500 L/s"', '"500 furlongs"'), ConfigError, "unknown unit")


def test_unknown_key_and_agreement_type(tmp_path):
    _expect(tmp_path, GOOD.replace('capacity = "800 L/s"', 'capacity = "800 L/s"\ncapacty = "1 m3/s"'), ConfigError,
            "links[0].capacty")
    _expect(tmp_path, GOOD + '\n[[agreements]]\ntype = "barter"\n', ConfigError, "agreements[0].type", "barter")


def test_missing_file():
    with pytest.raises(InputMissingError, match="nowhere.toml"):
        load_network("nowhere.toml")


def test_duplicate_ids_and_bad_share_sum(tmp_path):
    _expect(tmp_path, GOOD.replace('id = "city"', 'id = "river"'), ConfigError, "duplicate id")
    text = GOOD + """
[[agreements]]
type = "share"
source = "river"
shares = [{party = "bpn", link = "pipe", fraction = 0.5}]
"""
    _expect(tmp_path, text, ConfigError, "agreements[0]", "sum to 1")


@pytest.mark.parametrize("old,new,key,fragment", [
    ('inflow = "1 m3/s"', 'inflow = "-1 m3/s"', "nodes[0].inflow", "negative inflow"),
    ('demand = "500 L/s"', 'demand = {monthly = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1], units = "L/s"}',
     "nodes[1].demand", "negative demand"),
    ('inflow = "1 m3/s"', 'inflow = {value = 1.0, units = "m3/s", factor = -1.0}', "nodes[0].inflow",
     "factor = -1.0 must be a positive number"),
    ('inflow = "1 m3/s"', 'inflow = {value = 1.0, units = "m3/s", kind = "flow"}', "nodes[0].inflow",
     "'kind' is not a key of a series table"),
], ids=["negative-inflow", "negative-monthly-demand", "negative-factor", "kind-key"])
def test_negative_flows_and_factors_are_config_errors(tmp_path, old, new, key, fragment):
    """A negative inflow, yield or demand (or factor) was accepted; a 'kind' key gave a TypeError traceback."""
    _expect(tmp_path, GOOD.replace(old, new), ConfigError, key, fragment)


def _line_of(text, fragment, nth=0):
    lines = textwrap.dedent(text).splitlines()
    return [i + 1 for i, ln in enumerate(lines) if fragment in ln][nth]


def test_errors_give_line_and_id(tmp_path):
    """Errors found after parsing (Network checks) and by the schema both name the line and the item's id."""
    text = GOOD.replace('to = "city"', 'to = "cty"')
    msg = _expect(tmp_path, text, ConfigError, "links[0].to (link 'pipe')")
    p = tmp_path / "net.toml"
    assert f"{p}:{_line_of(text, 'cty')}:" in msg, msg
    text = GOOD.replace('demand = "500 L/s"', 'demnd = "500 L/s"')
    msg = _expect(tmp_path, text, ConfigError, "nodes[1].demnd (node 'city')")
    assert f"{p}:{_line_of(text, 'demnd')}:" in msg, msg
    # the second region's id line, not the first's
    text = GOOD + '\n[[regions]]\nid = "bpn"\n'
    msg = _expect(tmp_path, text, ConfigError, "regions[1].id", "duplicate id")
    assert f"{p}:{_line_of(text, '[[regions]]', 1) + 1}:" in msg, msg
    # an error on a whole item (a model check) points at its [[...]] header
    text = GOOD.replace('capacity = "800 L/s"', 'capacity = "-800 L/s"')
    msg = _expect(tmp_path, text, ConfigError, "links[0]", "negative capacity")
    assert f"{p}:{_line_of(text, '[[links]]')}:" in msg or f"{p}:{_line_of(text, '-800')}:" in msg, msg
    text = GOOD + UNKNOWN_PARTY
    msg = _expect(tmp_path, text, ConfigError, "agreements[0]")
    assert f"{p}:{_line_of(text, '[[agreements]]')}" in msg or f"{p}:{_line_of(text, 'samarinda')}" in msg, msg


def test_dict_networks_have_no_line_numbers():
    import tomllib

    data = tomllib.loads(textwrap.dedent(GOOD).replace('to = "city"', 'to = "cty"'))
    with pytest.raises(ConfigError, match=r"^<dict>: links\[0\]\.to \(link 'pipe'\): unknown node"):
        load_network(data)

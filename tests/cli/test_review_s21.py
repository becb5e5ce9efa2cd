"""Session 21: ``hydro allocate -o DIR/`` writes into the directory, named after the network file.

Before, a directory was taken as a file stem: ``-o outputs/`` (with or without the slash) wrote
``outputs_demand.nc``, ... beside the directory, not into it.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
from click.testing import CliRunner

import hydro
from hydro.cli import cli

REPO = Path(hydro.__file__).resolve().parents[1]
NETWORK = REPO / "models" / "balikpapan_water.toml"


@pytest.mark.parametrize("existing,slash", [(True, False), (False, True), (True, True)])
def test_allocate_output_directory(tmp_path, existing, slash):
    out = tmp_path / "runs"
    if existing:
        out.mkdir()
    arg = str(out) + ("/" if slash else "")
    r = CliRunner().invoke(cli, ["allocate", str(NETWORK), "-o", arg, "--steps", "3", "--no-explain"])
    assert r.exit_code == 0, (r.exit_code, r.output, r.exception)
    demand = out / "balikpapan_water_demand.nc"
    assert demand.is_file()
    assert (out / "balikpapan_water_metrics.csv").is_file()
    # nothing was written beside the directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    with xr.open_dataset(demand) as ds:
        assert ds.sizes["time"] == 3
    printed = [Path(line) for line in r.output.split()]
    assert demand in printed


def test_allocate_output_stem_unchanged(tmp_path):
    r = CliRunner().invoke(cli, ["allocate", str(NETWORK), "-o", str(tmp_path / "w"), "--steps", "2", "--no-explain"])
    assert r.exit_code == 0, (r.output, r.exception)
    assert (tmp_path / "w_demand.nc").is_file()
    assert not (tmp_path / "w").exists()

"""Configuration review 3: values a run would crash on or silently misread are configuration errors (exit 78) in
`hydro validate-config` as in `hydro run`, naming the key."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from hydro.cli import cli
from tests.forecast.conftest import make_project


def _edit(cfg, old, new):
    text = cfg.read_text()
    assert old in text, old
    cfg.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("old,new,pattern", [
    ("lead_time_h = 48.0", "lead_time_h = inf", r"lead_time_h"),
    ("duration_h = 24.0 ", "duration_h = 1e30 ", r"forcing.duration_h = 1e\+30 h is beyond any run length"),
    ("seed = 20260125", "seed = -3", r"seed"),
    ("[ensemble]\n", "[ensemble]\npercentiles = [10.0, 150.0]\n", r"percentiles must lie in 0..100"),
    ("[ensemble]\n", "[compute]\nscheduler = \"thredas\"\n\n[ensemble]\n", r"scheduler 'thredas'"),
    ("[flood]\n", "[flood]\nstart = \"tomorrow\"\n", r"start 'tomorrow'"),
    ("[flood]\n", "[flood]\ntide_high_water = \"noon\"\n", r"tide_high_water 'noon'"),
    ("[flood]\n", "[flood]\nmsl_m = nan\n", r"msl_m"),
    ("seed = 20260125", "seed = 20260125\npath = \"my_lidar.tif\"", r"dem.path = 'my_lidar.tif' is given but "
                                                                   r"dem.source = 'embedded'"),
    ("duration_h = 24.0 ", "path = \"rain.nc\"\nduration_h = 24.0 ", r"forcing.path = 'rain.nc' is given but "
                                                                      r"forcing.source = 'design_storm'"),
    ("[flood]\nenabled = false", "[flood]\nenabled = \"no\"", r"enabled"),
    ("seed = 20260125", "seed = true", r"seed"),
], ids=["inf-lead", "huge-duration", "negative-seed", "percentile", "scheduler", "flood-start", "high-water",
        "nan-msl", "unused-dem-path", "unused-forcing-path",
        "string-bool", "bool-int"])
def test_bad_values_are_configuration_errors(tmp_path, old, new, pattern):
    cfg = make_project(tmp_path / "p")
    _edit(cfg, old, new)
    result = CliRunner().invoke(cli, ["validate-config", str(cfg)])
    assert result.exit_code == 78, (result.exit_code, result.stdout, result.stderr)
    assert re.search(pattern, result.stderr), result.stderr
    assert "Traceback" not in result.stderr


def test_water_network_typos_fail_validate_config_and_run(tmp_path):
    """`factr`/`unit` in a CSV inflow table: hydro allocate refused it, hydro run replaced the table by a monthly
    climatology in m3/s with factor 1 (a 1000x error for L/s) and validate-config said ok."""
    cfg = make_project(tmp_path / "p", allocation=True)
    net = cfg.parent / "balikpapan_water.toml"
    text = net.read_text()
    old = 'column = "teritip", units = "m3/s"}'
    assert old in text
    net.write_text(text.replace(old, 'column = "teritip", unit = "L/s", factr = 0.001}', 1))
    for args in (["validate-config", str(cfg)], ["run", str(cfg), "--output-root", str(tmp_path / "out")]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 78, (args[0], result.exit_code, result.stderr)
        assert "balikpapan_water.toml" in result.stderr and re.search(r"unit|factr", result.stderr), result.stderr
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file() and ".locks" not in p.parts]


def test_a_failed_first_run_leaves_no_empty_output_folder(tmp_path):
    """A DEM that is not a raster fails the run (exit 65) after the output root was made: the new, empty output root
    is removed again (it stayed behind)."""
    cfg = make_project(tmp_path / "p")
    bogus = cfg.parent.parent / "inputs" / "dem.tif"
    bogus.write_text("not a GeoTIFF")
    _edit(cfg, 'source = "embedded"', 'source = "file"\npath = "../inputs/dem.tif"')
    _edit(cfg, "seed = 20260125", "")
    out = tmp_path / "new" / "outputs"
    result = CliRunner().invoke(cli, ["run", str(cfg), "--output-root", str(out)])
    assert result.exit_code == 65, (result.exit_code, result.stderr)
    assert not (tmp_path / "new").exists()

"""Configuration review (model TOML): values `hydro validate-config` passed but `hydro run` / `hydro forecast` then
misread (the 2-D grid), failed with the wrong exit code after minutes of work, or crashed with a traceback.
Each must be a configuration error (exit 78) naming the file and the key, before any data is read."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from hydro.cli import cli
from hydro.config import load_config
from hydro.errors import ConfigError
from tests.forecast.conftest import make_project

REPO = Path(__file__).resolve().parents[2]
BASE = (REPO / "models" / "balikpapan.toml").read_text(encoding="utf-8")


def _edit(cfg: Path, old: str, new: str) -> Path:
    text = cfg.read_text()
    assert old in text, old
    cfg.write_text(text.replace(old, new, 1))
    return cfg


def _validate(cfg: Path):
    return CliRunner().invoke(cli, ["validate-config", str(cfg)])


def test_flood_resolution_not_a_whole_multiple_of_the_dem_cell_is_refused(tmp_path):
    """flood.resolution_m = 100 on the 30 m embedded DEM ran the 2-D plain at 90 m (int(100 // 30) = 3 cells), and
    10 m at 30 m, without a word; 90 m (3 cells) is what can be run."""
    p = tmp_path / "m.toml"
    p.write_text(BASE.replace("[flood]\nenabled = true", "[flood]\nenabled = true\nresolution_m = 100.0", 1))
    with pytest.raises(ConfigError, match=r"m\.toml:\d+: flood\.resolution_m = 100 m is not a whole multiple of the "
                                          r"DEM cell size dem\.resolution_m = 30 m"):
        load_config(p)
    p.write_text(BASE.replace("[flood]\nenabled = true", "[flood]\nenabled = true\nresolution_m = 10.0", 1))
    with pytest.raises(ConfigError, match=r"flood\.resolution_m = 10 m"):
        load_config(p)
    p.write_text(BASE.replace("[flood]\nenabled = true", "[flood]\nenabled = true\nresolution_m = 90.0", 1))
    assert load_config(p).flood.resolution_m == 90.0


def test_flood_resolution_on_a_dem_file_is_checked_before_the_run(tmp_path):
    """A DEM file of 150 m cells with flood.resolution_m = 400: the run went through and wrote a 2-D flood map of
    300 m cells (int(400 // 150) = 2). Now a ConfigError naming the key, before any output."""
    from hydro.datasets import balikpapan_dem
    from hydro.forecast.pipeline import run_model

    root = tmp_path / "proj"
    (root / "models").mkdir(parents=True)
    (root / "inputs").mkdir()
    dem = balikpapan_dem(resolution_m=150.0)
    dem.rio.to_raster(root / "inputs" / "dem.tif")
    xs, ys = dem["x"].values, dem["y"].values
    domain = [float(xs[60]), float(ys[150]), float(xs[120]), float(ys[110])]
    cfg = root / "models" / "file.toml"
    cfg.write_text(f"""
region = "filedem"
[dem]
source = "file"
path = "../inputs/dem.tif"
[forcing]
storm_duration_h = 2.0
duration_h = 4.0
[runoff]
enabled = true
[routing]
model_step = "30min"
[flood]
enabled = true
hand = false
duration_h = 1.0
domain = {domain}
resolution_m = 400.0
[outputs]
report = false
""")
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"file\.toml: flood\.resolution_m = 400 m is not a whole multiple of the DEM "
                                          r"cell size 150 m"):
        run_model(load_config(cfg), output_root=out)
    assert not [p for p in out.rglob("*") if p.is_file()] if out.exists() else True


def test_flood_event_plain_resolution_must_be_whole_cells():
    """The API (flood_event / balikpapan_flood) coarsened by int(resolution // cell): 400 m on 150 m cells was 300 m."""
    import numpy as np
    import xarray as xr
    from rasterio.transform import from_origin

    from hydro.flood.example import flood_event

    n = 12
    z = np.tile(np.linspace(10.0, 1.0, n)[:, None], (1, n)).astype(np.float32)
    da = xr.DataArray(z, dims=("y", "x"), coords={"y": 1000.0 - 150.0 * (np.arange(n) + 0.5),
                                                  "x": 150.0 * (np.arange(n) + 0.5)})
    da = da.rio.write_crs("EPSG:32750").rio.write_transform(from_origin(0.0, 1000.0, 150.0, 150.0))
    terrain = xr.Dataset({"filled_elevation": da})
    rain = xr.DataArray(np.zeros(3), dims="time",
                        coords={"time": np.array(["2025-08-25T00:20", "2025-08-25T00:40", "2025-08-25T01:00"],
                                                 dtype="datetime64[ns]")}, attrs={"units": "mm"})
    with pytest.raises(ConfigError, match=r"plain_resolution_m = 400 m is not a whole multiple of the DEM cell size "
                                          r"150 m"):
        flood_event(terrain, (0.0, -1000.0, 1800.0, 1000.0), start="2025-08-25T00:00", duration_h=1.0,
                    rainfall=rain, hand_map=False, tide_edge=None, plain_resolution_m=400.0)


def test_flood_longer_than_the_routed_run_is_a_config_error(tmp_path):
    """flood.duration_h = 30 h with forcing.duration_h = 24 h: validate-config said ok and hydro run failed after the
    hydrology with exit 65 ("rainfall covers 0 s to 86400 s ... the run needs 0 s to 108000 s")."""
    cfg = make_project(tmp_path / "p")
    _edit(cfg, "[flood]\nenabled = false", "[flood]\nenabled = true")
    _edit(cfg, "duration_h = 12.0", "duration_h = 30.0")
    result = _validate(cfg)
    assert result.exit_code == 78, (result.exit_code, result.stdout, result.stderr)
    assert re.search(r"small\.toml:\d+: flood\.duration_h = 30 h is longer than forcing\.duration_h = 24 h",
                     result.stderr), result.stderr
    _edit(cfg, "duration_h = 30.0", "duration_h = 24.0")  # the whole routed run: fine
    assert _validate(cfg).exit_code == 0


def test_spinup_off_the_model_step_is_a_config_error(tmp_path):
    """spinup_days = 0.1 (2 h 24 min = 4.8 steps of 30 min): validate-config said ok and the cold start of hydro
    forecast began at 21:36, off the forcing's grid: exit 65 blaming the forcing file. 0.125 d = 3 h = 6 steps is
    fine."""
    cfg = make_project(tmp_path / "p")
    _edit(cfg, "spinup_days = 2.0", "spinup_days = 0.1")
    result = _validate(cfg)
    assert result.exit_code == 78, (result.exit_code, result.stdout, result.stderr)
    assert re.search(r"small\.toml:\d+: forecast\.spinup_days = 0\.1 d \(0 days 02:24:00\) is not a multiple of "
                     r"routing\.model_step '30min'", result.stderr), result.stderr
    result = CliRunner().invoke(cli, ["forecast", str(cfg), "-t", "2025-08-25T00:00Z", "--output-root",
                                      str(tmp_path / "out")])
    assert result.exit_code == 78, (result.exit_code, result.stderr)
    assert not (tmp_path / "out").exists()
    _edit(cfg, "spinup_days = 0.1", "spinup_days = 0.125")
    assert load_config(cfg).forecast.spinup_days == 0.125


@pytest.mark.parametrize("old,new,pattern", [
    ("max_state_age_days = 3.0", "max_state_age_days = 1e6", r"forecast\.max_state_age_days = 1e\+06 d is beyond any "
                                                             r"run length"),
    ("spinup_days = 2.0", "spinup_days = 1e6", r"forecast\.spinup_days = 1e\+06 d is beyond any run length"),
], ids=["max-state-age", "spinup"])
def test_durations_beyond_pandas_range_are_config_errors(tmp_path, old, new, pattern):
    """max_state_age_days = 1e6 (2738 years: "any age"): validate-config said ok and hydro forecast died with an
    OutOfBoundsTimedelta traceback (exit 1)."""
    cfg = make_project(tmp_path / "p")
    _edit(cfg, old, new)
    for args in (["validate-config", str(cfg)],
                 ["forecast", str(cfg), "-t", "2025-08-25T00:00Z", "--output-root", str(tmp_path / "out")]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 78, (args[0], result.exit_code, result.stderr)
        assert re.search(pattern, result.stderr), result.stderr
        assert "Traceback" not in result.stderr


def test_design_storm_duration_off_the_model_step_is_a_config_error(tmp_path):
    """storm_duration_h = 6.25 with 30-min steps: validate-config said ok, hydro run failed after the terrain stage
    with 'design_storm: duration 0 days 06:15:00 must be a positive multiple of step' (no file, no key)."""
    cfg = make_project(tmp_path / "p")
    _edit(cfg, "storm_duration_h = 6.0", "storm_duration_h = 6.25")
    result = _validate(cfg)
    assert result.exit_code == 78, (result.exit_code, result.stdout, result.stderr)
    assert re.search(r"small\.toml:\d+: forcing\.storm_duration_h = 6\.25 h is not a multiple of routing\.model_step "
                     r"'30min'", result.stderr), result.stderr
    _edit(cfg, "storm_duration_h = 6.25", "storm_duration_h = 6.5")  # 13 steps
    assert load_config(cfg).forcing.storm_duration_h == 6.5


def test_embedded_dem_resolution_outside_the_generator_range_is_a_config_error(tmp_path):
    """dem.resolution_m = 2000: validate-config said ok, hydro run exit 65 ('bad input data') naming no key."""
    cfg = make_project(tmp_path / "p", resolution_m=2000.0)
    result = _validate(cfg)
    assert result.exit_code == 78, (result.exit_code, result.stdout, result.stderr)
    assert re.search(r"small\.toml:\d+: dem\.resolution_m = 2000 m: the embedded DEM is generated at 5 to 1000 m",
                     result.stderr), result.stderr
    cfg = make_project(tmp_path / "q", resolution_m=1000.0)
    assert load_config(cfg).dem.resolution_m == 1000.0

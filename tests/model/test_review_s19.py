"""Review of the model configuration and the catchment model driver (config, run-catchment, warm state).

Each test fails on the code before the review and passes after it.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hydro.config import load_config
from hydro.errors import ConfigError, InputDataError

REPO = Path(__file__).resolve().parents[2]
START = pd.Timestamp("2025-08-25T00:00")


def _config(tmp_path: Path, old: str, new: str) -> Path:
    """``models/balikpapan.toml`` with one edit, in a project folder of its own."""
    text = (REPO / "models" / "balikpapan.toml").read_text()
    assert old in text
    (tmp_path / "models").mkdir(exist_ok=True)
    p = tmp_path / "models" / "m.toml"
    p.write_text(text.replace(old, new, 1))
    return p


# --- config ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ['"86400"', '"3600"', '"24"', '"1s"', '"2D"'])
def test_parameter_step_needs_a_unit_and_a_model_step_range(tmp_path, value):
    """pandas reads a bare number as nanoseconds: parameter_step = "86400" (meant as seconds) was accepted and ran
    with X3 at the model step 0.89 mm instead of 158 mm (gauge peaks 6.5 x higher), exit 0."""
    with pytest.raises(ConfigError, match=r"runoff\.parameter_step"):
        load_config(_config(tmp_path, 'parameter_step = "1h"', f"parameter_step = {value}"))
    for ok in ('"1h"', '"1D"', '"24h"', '"15min"'):
        cfg = load_config(_config(tmp_path, 'parameter_step = "1h"', f"parameter_step = {ok}"))
        assert pd.Timedelta(cfg.runoff.parameter_step) >= pd.Timedelta("15min")


def test_model_and_output_step_without_a_unit_say_so(tmp_path):
    with pytest.raises(ConfigError, match=r"routing\.output_step.*no unit"):
        load_config(_config(tmp_path, 'output_step = "1h"', 'output_step = "3600"'))


@pytest.mark.parametrize("hours", ["24.2", "23.8"])
def test_run_length_must_be_a_whole_number_of_output_steps(tmp_path, hours):
    """forcing.duration_h = 24.2 (or 23.8) with 30-min model steps was rounded to 48 steps: `hydro run` ran 24 h,
    validate-config said ok."""
    with pytest.raises(ConfigError, match=r"forcing\.duration_h = 2\d\.\d h"):
        load_config(_config(tmp_path, "duration_h = 24.0 ", f"duration_h = {hours} "))
    assert load_config(_config(tmp_path, "duration_h = 24.0 ", "duration_h = 25.0 ")).forcing.duration_h == 25.0


def test_state_interval_off_the_output_step_is_refused(tmp_path):
    """The nightly forecast splits its run at T + state_interval_h only on the output step: 23.5 h saved no state for
    the next night, without a word."""
    with pytest.raises(ConfigError, match=r"forecast\.state_interval_h = 23\.5 h"):
        load_config(_config(tmp_path, "state_interval_h = 24.0", "state_interval_h = 23.5"))
    assert load_config(_config(tmp_path, "state_interval_h = 24.0", "state_interval_h = 12.0"))


# --- warm state -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def embedded_terrain():
    from hydro.datasets import balikpapan_dem
    from hydro.terrain import analyse

    return analyse(balikpapan_dem(resolution_m=1000.0), stream_threshold_m2=3.0e6)


def _model(terrain):
    from hydro.model import CatchmentModel, RoutingParameters
    from hydro.runoff import GRParameters

    return CatchmentModel(terrain, GRParameters(production_capacity_mm=250.0, parameter_step_s=3600.0),
                          RoutingParameters(channel_threshold_m2=3.0e6), dt="1h")


def _rain(terrain, steps):
    import xarray as xr

    times = pd.date_range(START + pd.Timedelta("1h"), periods=steps, freq="1h")
    p = np.zeros((steps, terrain.sizes["y"], terrain.sizes["x"]))
    p[1:5] = 12.0
    return xr.DataArray(p, dims=("time", "y", "x"), name="precipitation", attrs={"units": "mm"},
                        coords={"time": times, "y": terrain["y"].values, "x": terrain["x"].values})


def test_state_of_an_in_memory_grid_loads_on_its_terrain_netcdf(tmp_path, embedded_terrain):
    """A state saved on the embedded DEM (as `hydro run` does) was refused as "another grid" by run-catchment on the
    run's own terrain.nc: the CRS read back from NetCDF has the same meaning but a shorter WKT string. Continuing
    from it equals the continuous run."""
    from hydro.io import write_netcdf
    from hydro.model.runner import open_terrain

    rain = _rain(embedded_terrain, 12)
    full = _model(embedded_terrain)
    full.run(rain, 0.1, start=START, steps=12, gridded=())
    first = _model(embedded_terrain)
    first.run(rain, 0.1, start=START, steps=6, gridded=())
    state = first.save_state(tmp_path / "state.nc")
    write_netcdf(embedded_terrain, tmp_path / "terrain.nc", title="terrain")
    from_file = open_terrain(tmp_path / "terrain.nc", 3.0e6)
    second = _model(from_file)
    second.load_state(state)  # StateError "hydro_grid_hash differs" before
    assert second.valid_time == START + pd.Timedelta("6h")
    second.run(rain, 0.1, steps=6, gridded=())
    np.testing.assert_allclose(second.routing.q, full.routing.q, rtol=1e-12, atol=0)
    np.testing.assert_allclose(second.routing.volume_m3, full.routing.volume_m3, rtol=1e-12, atol=0)
    for k in full.runoff.state:
        np.testing.assert_allclose(second.runoff.state[k][full.valid], full.runoff.state[k][full.valid], rtol=1e-12)


def test_state_with_the_previous_grid_hash_still_loads(tmp_path, embedded_terrain):
    """States written before the canonical grid hash are not thrown away (the nightly chain keeps its warm start)."""
    import netCDF4

    from hydro.errors import StateError
    from hydro.model.catchment import _grid_hash

    m = _model(embedded_terrain)
    m.run(_rain(embedded_terrain, 3), 0.1, start=START, steps=3, gridded=())
    path = m.save_state(tmp_path / "old.nc")
    with netCDF4.Dataset(path, "a") as nc:
        nc.setncattr("hydro_grid_hash", _grid_hash(embedded_terrain, legacy=True))
    _model(embedded_terrain).load_state(path)
    with netCDF4.Dataset(path, "a") as nc:
        nc.setncattr("hydro_grid_hash", "0" * 64)
    with pytest.raises(StateError, match="grid"):
        _model(embedded_terrain).load_state(path)


def test_dt_without_a_unit_is_a_configuration_error(tmp_path, embedded_terrain):
    """--dt 3600 was a model step of 3.6 microseconds (then refused as bad input data, exit 65)."""
    from click.testing import CliRunner

    from hydro.cli import cli
    from hydro.io import write_netcdf

    with pytest.raises(ConfigError, match="no unit"):
        _model_dt(embedded_terrain, "3600")
    assert _model_dt(embedded_terrain, 3600.0).dt == pd.Timedelta("1h")  # a number (API) is seconds
    write_netcdf(embedded_terrain, tmp_path / "terrain.nc", title="terrain")
    res = CliRunner().invoke(cli, ["run-catchment", str(tmp_path / "terrain.nc"), "--precipitation",
                                   str(tmp_path / "p.nc"), "--dt", "3600", "--output-dir", str(tmp_path / "o")])
    assert res.exit_code == 78, res.output
    assert not (tmp_path / "o").exists()


def _model_dt(terrain, dt):
    from hydro.model import CatchmentModel, RoutingParameters
    from hydro.runoff import GRParameters

    return CatchmentModel(terrain, GRParameters(), RoutingParameters(channel_threshold_m2=3.0e6), dt=dt)


# --- run-catchment input files --------------------------------------------------------------------------------------
def test_gauge_csv_saved_by_excel_with_a_byte_order_mark(tmp_path):
    """Excel's "CSV UTF-8" (what the error message advises) starts with a BOM: "missing columns ['id']" before."""
    from hydro.model.runner import read_gauges

    p = tmp_path / "g.csv"
    p.write_bytes("\ufeffid,x,y,name\nG1,484128.0,9850550.0,Ampal\n".encode("utf-8"))
    (g,) = read_gauges(p)
    assert (g.id, g.x, g.y, g.name) == ("G1", 484128.0, 9850550.0, "Ampal")
    p.write_text("id,x,y\n ,484128.0,9850550.0\n")
    with pytest.raises(InputDataError, match=r"g\.csv:2: empty gauge id"):
        read_gauges(p)


_RES = """[[reservoir]]
name = "dam"
x = 1.0
y = 2.0
level_m = [10.0, 15.0, 20.0]
storage_m3 = [0.0, 1e5, 4e5]
area_m2 = [1e4, 3e4, 5e4]
crest_level_m = 14.0
"""


@pytest.mark.parametrize("edit, pattern", [
    ('crest_level_m = 14.0', r'release_m3s = \'abc\' must be a number'),
    ('level_m = [10.0, 15.0, 20.0]', r"level_m = \['a', 'b', 'c'\] must be a list of numbers"),
    ('crest_level_m = 14.0', r"abstraction_m3s = 'lots' must be a number"),
])
def test_reservoir_file_with_text_for_a_number_is_a_config_error(tmp_path, edit, pattern):
    """Text for a number was a ValueError traceback (exit 1), at the first step for abstraction_m3s."""
    from hydro.model.runner import read_reservoirs

    replacement = {r'release_m3s = \'abc\' must be a number': 'crest_level_m = 14.0\nrelease_m3s = "abc"',
                   r"level_m = \['a', 'b', 'c'\] must be a list of numbers": 'level_m = ["a", "b", "c"]',
                   r"abstraction_m3s = 'lots' must be a number": 'crest_level_m = 14.0\nabstraction_m3s = "lots"'}[pattern]
    p = tmp_path / "r.toml"
    p.write_text(_RES.replace(edit, replacement))
    with pytest.raises(ConfigError, match=pattern):
        read_reservoirs(p)
    p.write_text(_RES)
    (r,) = read_reservoirs(p)
    assert r.name == "dam" and r.crest_level_m == 14.0


def test_misspelt_reservoir_table_is_refused(tmp_path):
    """[[reservoirs]] gave no reservoir at all and the run went on without the dam (exit 0)."""
    from hydro.model.runner import read_reservoirs

    p = tmp_path / "r.toml"
    p.write_text(_RES.replace("[[reservoir]]", "[[reservoirs]]"))
    with pytest.raises(ConfigError, match=re.escape("unknown key(s) ['reservoirs']")):
        read_reservoirs(p)


def test_forecast_forcing_inherits_the_keys_it_leaves_out(tmp_path):
    """Before: [forecast] forcing replaced [forcing] whole, so pet_mm_day left out of it became the class default
    4 mm/d, not [forcing]'s 6 mm/d."""
    text = (REPO / "models" / "balikpapan.toml").read_text()
    text = text.replace("pet_mm_day = 4.0             # humid tropics", "pet_mm_day = 6.0             # humid tropics")
    text = text.replace(', variable = "precipitation", pet_mm_day = 4.0 }', ', variable = "precipitation" }')
    assert "pet_mm_day = 6.0" in text and 'variable = "precipitation" }' in text
    path = tmp_path / "models" / "m.toml"
    path.parent.mkdir()
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.forcing.pet_mm_day == 6.0 and cfg.forcing.source == "design_storm" and cfg.forcing.path is None
    ff = cfg.forecast.forcing
    assert ff.pet_mm_day == 6.0 and ff.source == "netcdf" and ff.variable == "precipitation"
    assert ff.path.startswith("../inputs/forcing/") and ff.storm_total_mm == cfg.forcing.storm_total_mm


def test_state_interval_beyond_the_lead_time_is_refused(tmp_path):
    """lead 48 h, state interval 72 h: the forecast never reached T + 72 h and saved no state for the next night;
    each night then ran warm-gap from an older state, without a word."""
    with pytest.raises(ConfigError, match=r"forecast\.state_interval_h = 72 h is beyond forecast\.lead_time_h = 48 h"):
        load_config(_config(tmp_path, "state_interval_h = 24.0", "state_interval_h = 72.0"))
    assert load_config(_config(tmp_path, "state_interval_h = 24.0", "state_interval_h = 48.0"))

"""Review of the `hydro run` pipeline and its stages (session rev23): each test fails on the original code and passes
with fix.diff. Run from the repository root (``python -m pytest -q -p no:cacheprovider path/to/test_new.py``)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import hydro
from hydro.config import load_config
from hydro.errors import ConfigError

REPO = Path(hydro.__file__).resolve().parents[1]


def make_project(root: Path, *, flood: bool = False, extra: str = "") -> Path:
    """``root/models/small.toml``: the embedded model at 150 m, report off (a copy of tests/forecast/conftest.py)."""
    (root / "models").mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "inputs" / "forcing", root / "inputs" / "forcing", dirs_exist_ok=True)
    text = (REPO / "models" / "balikpapan.toml").read_text()
    text = re.sub(r"resolution_m = [0-9.]+", "resolution_m = 150.0", text)
    if not flood:
        text = text.replace("[flood]\nenabled = true", "[flood]\nenabled = false")
    text = text.replace("[allocation]\nenabled = true", "[allocation]\nenabled = false")
    text = text.replace("[outputs]\n", "[outputs]\nreport = false\n")
    cfg = root / "models" / "small.toml"
    cfg.write_text(text + extra)
    return cfg


# ------------------------------------------------------------------------------------------------ defect 1
def test_flood_run_ending_inside_an_output_step_is_refused(tmp_path):
    """flood.duration_h = 12.5 h with 1-h routed hydrographs: the 2-D run took the first half of the 13th hour's
    hydrograph shape, not half its volume. For a falling river (hourly means 20, 10, 5 m3/s) the conservative
    hydrograph of hour 2 runs 10 -> plateau (3600*10 - 900*(10+5)/2)/2700 = 10.8333 -> 5, so its first half
    carries 900*(10+10.8333)/2 + 900*10.8333 = 19125 m3 where the routed run sent 10*1800 = 18000 m3. On the embedded
    plain (150 m) the audit found 1905 m3 (relative 6.3e-4 > 1e-6): a red water-balance alert and exit 3 on a
    correct run. The config is refused instead, before any data is read (78)."""
    path = make_project(tmp_path / "p", flood=True)
    text = path.read_text()
    assert "duration_h = 12.0 " in text
    path.write_text(text.replace("duration_h = 12.0 ", "duration_h = 12.5 "))
    with pytest.raises(ConfigError, match=r"flood\.duration_h = 12\.5 h is not a multiple of routing\.output_step"):
        load_config(path)
    # whole output steps, or no 2-D run, are still fine
    path.write_text(text.replace("duration_h = 12.0 ", "duration_h = 13.0 "))
    assert load_config(path).flood.duration_h == 13.0
    path.write_text(text.replace("duration_h = 12.0 ", "duration_h = 12.5 ").replace("[flood]\nenabled = true",
                                                                                     "[flood]\nenabled = true\ntwo_d = false"))
    assert load_config(path).flood.duration_h == 12.5


# ------------------------------------------------------------------------------------------------ defect 2
def test_hand_only_flood_on_a_dem_file_with_gridded_forcing(tmp_path):
    """A DEM file without flood.domain and flood.two_d = false (what the error for a missing domain advises) with a
    NetCDF forcing: the run computed the 2-D domain's mean rain of a domain that does not exist and died after the
    hydrology with ``TypeError: cannot unpack non-iterable NoneType object`` (exit 1)."""
    from hydro.datasets import balikpapan_dem
    from hydro.forecast.pipeline import run_model

    root = tmp_path / "proj"
    (root / "models").mkdir(parents=True)
    (root / "inputs").mkdir()
    shutil.copy(REPO / "inputs" / "forcing" / "balikpapan_rain_20250825T0000Z.nc", root / "inputs" / "rain.nc")
    balikpapan_dem(resolution_m=300.0).rio.to_raster(root / "inputs" / "dem.tif")
    (root / "models" / "m.toml").write_text('''
region = "filedem"
[dem]
source = "file"
path = "../inputs/dem.tif"
[forcing]
source = "netcdf"
path = "../inputs/rain.nc"
start = "2025-08-25T00:00"
duration_h = 6.0
[runoff]
enabled = true
[routing]
model_step = "30min"
[flood]
enabled = true
two_d = false
[outputs]
report = false
''')
    res = run_model(load_config(root / "models" / "m.toml"), output_root=root / "out")
    assert res.manifest["status"] == "complete"
    assert (res.run_dir / "flood" / "hand_flood.nc").is_file()
    assert "flood_2d" not in res.manifest["facts"]["water_balance"]["processes"]
    assert res.manifest["facts"]["hand_flooded_km2"] > 0


# ------------------------------------------------------------------------------------------------ defect 3
def test_hydro_run_id_ignores_settings_only_the_forecast_reads(tmp_path):
    """`hydro run` reads neither [ensemble] nor the nightly [forecast] keys (lead time, spin-up, state interval,
    states' age): members = 5 for the nightly job made the same event run a new id ("already done" missed, a second
    identical folder). The two [forecast] keys it does read still change the id."""
    from hydro.forecast.pipeline import run_id_for

    path = make_project(tmp_path / "p")
    base_text = path.read_text()

    def cfg(text: str):
        path.write_text(text)
        return load_config(path)

    base = cfg(base_text)
    nightly = cfg(base_text.replace("members = 0", "members = 5").replace("lead_time_h = 48.0", "lead_time_h = 24.0")
                  .replace("spinup_days = 2.0", "spinup_days = 1.0").replace("max_state_age_days = 3.0",
                                                                             "max_state_age_days = 2.0"))
    assert (nightly.ensemble.members, nightly.forecast.lead_time_h) == (5, 24.0)
    assert run_id_for(nightly) == run_id_for(base)
    # what hydro run does read: the HAND threshold and the flooded-area alert
    thr = cfg(base_text.replace("[forecast]\n", "[forecast]\nhand_threshold_m = 0.3\n"))
    area = cfg(base_text.replace("flooded_area_alert_km2 = 100.0", "flooded_area_alert_km2 = 50.0"))
    assert len({run_id_for(base), run_id_for(thr), run_id_for(area)}) == 3
    # and so do the input files
    assert run_id_for(base, {"inputs": {"forcing": "a"}}) != run_id_for(base, {"inputs": {"forcing": "b"}})


# ------------------------------------------------------------------------------------------------ defect 4
@pytest.mark.parametrize("manifest", [
    {"status": "complete", "outputs": {"terrain": {"path": "terrain.nc"}}},  # no sha256: KeyError
    {"status": "complete", "outputs": [{"path": "terrain.nc", "sha256": "0" * 64}]},  # a list: AttributeError
    [{"status": "complete"}],  # not an object: AttributeError
])
def test_a_manifest_this_package_did_not_write_is_not_complete(tmp_path, manifest):
    """A manifest.json that is valid JSON but not of this package's form made `hydro run` / `hydro forecast` die
    with a raw traceback (exit 1) on every rerun; it is an incomplete run (redone), like an unreadable one."""
    from hydro.forecast.stages import completed_manifest

    run = tmp_path / "r"
    run.mkdir()
    (run / "terrain.nc").write_bytes(b"x")
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert completed_manifest(run) is None
    assert completed_manifest(run, verify=False) is None


# ------------------------------------------------------------------------------------------------ defect 5
def test_hydro_run_with_a_missing_neighbour_file_is_exit_66_before_any_work(tmp_path, monkeypatch):
    """An event run's [[exchange.inflows]] file is a fixed file (no reference time, no template allowed): missing,
    it was skipped by the input hashing, the terrain stage ran, and then InputNotReadyError "not (yet) there" (exit
    75: a scheduler retries an event run for ever). Like a missing forcing file of `hydro run`: 66, before any work."""
    import hydro.terrain
    from hydro.errors import EXIT_CODES, InputMissingError
    from hydro.forecast.pipeline import run_model

    path = make_project(tmp_path / "p", extra='\n[[exchange.inflows]]\nfile = "../inputs/exchange/neighbour.nc"\n'
                                              'point = "border_1"\n')
    analysed = []
    real = hydro.terrain.analyse
    monkeypatch.setattr(hydro.terrain, "analyse", lambda *a, **k: analysed.append(1) or real(*a, **k))
    with pytest.raises(InputMissingError, match=r"exchange\.inflows\[0\]\.file.*neighbour\.nc") as err:
        run_model(load_config(path), output_root=tmp_path / "out")
    assert EXIT_CODES[type(err.value)] == 66
    assert analysed == [] and not (tmp_path / "out").exists()

"""Regression tests of the second operations review: warm-start source, run ids over every input, output
root, `hydro run` lock, the `latest` link, forcing-path placeholders, validation and error messages."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.config import load_config
from hydro.errors import ConfigError, InputMissingError, OutputError
from hydro.forecast.nightly import find_states, run_forecast
from hydro.forecast.stages import RunFolder, sha256
from tests.forecast.conftest import make_project

T24, T25 = "2025-08-24T00:00Z", "2025-08-25T00:00Z"


def _retitle(cfg_path: Path, title: str) -> Path:
    """A copy of the config with another title (another config hash, same states)."""
    p = cfg_path.with_name(f"{title}.toml")
    text = cfg_path.read_text()
    old = next(line for line in text.splitlines() if line.startswith("title ="))
    p.write_text(text.replace(old, f'title = "{title}"', 1))
    return p


def _latest(region: Path) -> str:
    return os.readlink(region / "latest")


# ------------------------------------------------------------------ a sequence of nights (items 1 and 5)
@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    root = tmp_path_factory.mktemp("ops2")
    cfg_path = make_project(root / "proj")
    out = root / "out"
    region = out / "balikpapan"
    seq: dict[str, object] = {"cfg_path": cfg_path, "out": out, "region": region}
    # 25 Aug, first run: nothing earlier, cold
    seq["r25a"] = run_forecast(load_config(cfg_path), T25, output_root=out)
    # 25 Aug again with another config (another run id): must not warm-start from the 25 Aug run above
    seq["r25b"] = run_forecast(load_config(_retitle(cfg_path, "B")), T25, output_root=out)
    seq["latest_after_r25b"] = _latest(region)
    # backfill of 24 Aug, then a --force rerun of it
    seq["r24"] = run_forecast(load_config(cfg_path), T24, output_root=out)
    seq["latest_after_backfill"] = _latest(region)
    seq["r24f"] = run_forecast(load_config(cfg_path), T24, output_root=out, force=True)
    seq["latest_after_force"] = _latest(region)
    # 24 Aug superseded by a run with 12-hourly states (another run id): states at 24T00 and 24T12 only
    text = cfg_path.read_text().replace("state_interval_h = 24.0", "state_interval_h = 12.0")
    p12 = cfg_path.with_name("s12.toml")
    p12.write_text(text)
    seq["r24s"] = run_forecast(load_config(p12), T24, output_root=out)
    seq["latest_after_superseded"] = _latest(region)
    return seq


def test_warm_start_never_uses_a_run_of_the_same_night(nights):
    a, b = nights["r25a"], nights["r25b"]
    assert a.run_id != b.run_id
    assert a.manifest["warm_start"]["source"] == "cold"
    ws = b.manifest["warm_start"]
    # the old code took the 25 Aug run's own state at 25 Aug 00Z ("warm", level 1)
    assert ws["level"] == 3 and ws["source"] == "cold" and "state_run_id" not in ws
    # so both are the same cold spin-up: identical states at T
    with xr.open_dataset(a.run_dir / "state" / "state_20250825T0000Z.nc") as sa, \
            xr.open_dataset(b.run_dir / "state" / "state_20250825T0000Z.nc") as sb:
        for v in ("production_store", "routing_store", "channel_discharge"):
            np.testing.assert_array_equal(sa[v].values, sb[v].values)


def test_latest_points_at_the_newest_reference_time_after_backfill_and_force(nights):
    r25b = nights["r25b"].run_id
    assert nights["latest_after_r25b"] == r25b
    assert nights["latest_after_backfill"] == r25b  # old code: the 24 Aug backfill
    assert nights["r24f"].run_id == nights["r24"].run_id and not nights["r24f"].already_done
    assert nights["latest_after_force"] == r25b  # old code: the forced 24 Aug rerun
    assert nights["latest_after_superseded"] == r25b
    assert (nights["region"] / "latest").resolve() == nights["r25b"].run_dir.resolve()


def test_find_states_uses_only_the_current_run_of_earlier_nights(nights):
    region, r24, r24s = nights["region"], nights["r24"], nights["r24s"]
    states = find_states(region, pd.Timestamp("2025-08-25"), pd.Timedelta("3D"))
    # r24 (24T00, 25T00 states) is superseded by r24s (24T00, 24T12); the 25 Aug runs are the same night
    assert [(str(vt), rid) for vt, _, rid in states] == [("2025-08-24 12:00:00", r24s.run_id),
                                                         ("2025-08-24 00:00:00", r24s.run_id)]
    assert r24.run_id != r24s.run_id and r24.run_id not in {rid for _, _, rid in states}
    assert all(p.parent.parent == r24s.run_dir for _, p, _ in states)
    # a later night sees the 25 Aug states (the current 25 Aug run is r25b, finished last)
    later = find_states(region, pd.Timestamp("2025-08-26"), pd.Timedelta("3D"))
    assert later[0][0] == pd.Timestamp("2025-08-26") and later[0][2] == nights["r25b"].run_id
    assert {rid for _, _, rid in later} <= {nights["r25b"].run_id, r24s.run_id}


def test_a_state_whose_own_valid_time_differs_is_rejected(nights, tmp_path):
    """A state file valid at 24T00 stored (with a matching manifest hash) as the 24T12 state: the old code
    loaded it as valid at 24T12; it must be rejected and the next candidate used."""
    from hydro.datasets import balikpapan_dem
    from hydro.forecast.hydrology import build_model
    from hydro.forecast.nightly import _warm_start, forecast_config
    from hydro.terrain import analyse

    region = tmp_path / "balikpapan"
    src = nights["r24f"].run_dir  # states at 24T00 and 25T00
    shutil.copytree(src, region / src.name)
    run_dir = region / src.name
    shutil.copy(run_dir / "state" / "state_20250824T0000Z.nc", run_dir / "state" / "state_20250825T0000Z.nc")
    man = json.loads((run_dir / "manifest.json").read_text())
    for e in man["outputs"].values():
        if e["path"] == "state/state_20250825T0000Z.nc":
            e["sha256"] = sha256(run_dir / e["path"])
    (run_dir / "manifest.json").write_text(json.dumps(man))

    cfg = forecast_config(load_config(nights["cfg_path"]))
    terrain = analyse(balikpapan_dem(cfg.dem.resolution_m, seed=cfg.dem.seed), cfg.terrain.stream_threshold_km2 * 1e6)
    T = pd.Timestamp("2025-08-25T00:00")
    model = build_model(cfg, terrain, reference_time=T)
    rec = _warm_start(model, cfg, terrain, T, region)
    # old code: level 1 "warm" from the 24T00 state taken as valid at 25T00
    assert rec["level"] == 2 and rec["source"] == "warm-gap" and rec["gap_h"] == 24.0
    assert rec["state"].endswith("state_20250824T0000Z.nc")
    assert len(rec["skipped"]) == 1 and "state_20250825T0000Z.nc" in rec["skipped"][0]
    assert "hydro_state_valid_time" in rec["skipped"][0]
    assert model.valid_time == T

    # on_bad_state = "error": the same state is exit 65
    from hydro.errors import StateError

    strict = cfg.model_copy(update={"forecast": cfg.forecast.model_copy(update={"on_bad_state": "error"})})
    with pytest.raises(StateError, match="hydro_state_valid_time"):
        _warm_start(build_model(strict, terrain, reference_time=T), strict, terrain, T, region)

    # a state file changed since its run (hash differs from the manifest) is not a candidate at all
    with open(run_dir / "state" / "state_20250824T0000Z.nc", "ab") as f:
        f.write(b"\0")
    rejected: list[str] = []
    assert [str(vt) for vt, _, _ in find_states(region, T, pd.Timedelta("3D"), rejected)] == ["2025-08-25 00:00:00"]
    assert rejected == [f"state_20250824T0000Z.nc of run {src.name}: changed since the run (sha256 differs)"]
    # the night's record lists it among the skipped candidates (it used to be only a log line)
    (run_dir / "state" / "state_20250825T0000Z.nc").unlink()
    rec = _warm_start(build_model(cfg, terrain, reference_time=T), cfg, terrain, T, region)
    assert rec["level"] == 3 and "2 candidate(s) rejected" in rec["reason"], rec
    assert any("state_20250824T0000Z.nc" in x and "sha256" in x for x in rec["skipped"]), rec
    assert any("state_20250825T0000Z.nc" in x and "missing" in x for x in rec["skipped"]), rec


# ------------------------------------------------------------------ item 2: every input in the run id
class _Started(Exception):
    pass


@pytest.fixture
def capture_start(monkeypatch):
    """Stop a run where its folder would be created; the exception carries the RunFolder."""
    def create(self):
        raise _Started(self)
    monkeypatch.setattr(RunFolder, "create", create)


def _folder_of(fn, *args, **kw) -> RunFolder:
    with pytest.raises(_Started) as info:
        fn(*args, **kw)
    return info.value.args[0]


def _write_dem(path: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    y, x = np.mgrid[0:40, 0:50]
    with rasterio.open(path, "w", driver="GTiff", width=50, height=40, count=1, dtype="float32", crs="EPSG:32750",
                       transform=from_origin(470000, 9866000, 150, 150), nodata=-9999.0) as dst:
        dst.write((10 + 0.5 * y + 0.01 * x).astype(np.float32), 1)


def test_run_id_covers_network_series_and_dem_files(tmp_path, capture_start):
    from hydro.forecast.pipeline import run_model

    cfg_path = make_project(tmp_path / "p", allocation=True)
    proj = cfg_path.parent.parent
    ids = [_folder_of(run_forecast, load_config(cfg_path), T25, output_root=tmp_path / "o").run_id]
    net = cfg_path.with_name("balikpapan_water.toml")
    net.write_text(net.read_text().replace('evaporation = "4.5 mm/d"', 'evaporation = "5.5 mm/d"', 1))
    ids.append(_folder_of(run_forecast, load_config(cfg_path), T25, output_root=tmp_path / "o").run_id)
    csv = proj / "inputs" / "allocation" / "balikpapan_inflows_2030.csv"
    csv.write_text(csv.read_text() + "\n")
    ids.append(_folder_of(run_forecast, load_config(cfg_path), T25, output_root=tmp_path / "o").run_id)
    assert len(set(ids)) == 3, ids  # old code: one id for all three

    # a DEM file: its content is part of the id of `hydro forecast` and of `hydro run`
    dem = proj / "inputs" / "dem.tif"
    _write_dem(dem)
    text = cfg_path.read_text().replace('source = "embedded"     #', 'source = "file"\npath = "../inputs/dem.tif"\n#', 1)
    cfg_path.write_text(text)
    f1 = _folder_of(run_forecast, load_config(cfg_path), T25, output_root=tmp_path / "o").run_id
    r1 = _folder_of(run_model, load_config(cfg_path), output_root=tmp_path / "o").run_id
    import rasterio

    with rasterio.open(dem, "r+") as ds:  # same size, other elevations
        ds.write(ds.read(1) + 1.0, 1)
    f2 = _folder_of(run_forecast, load_config(cfg_path), T25, output_root=tmp_path / "o").run_id
    r2 = _folder_of(run_model, load_config(cfg_path), output_root=tmp_path / "o").run_id
    assert f1 != f2 and r1 != r2


def test_changed_network_is_a_new_run_recorded_in_the_manifest(tmp_path):
    cfg_path = make_project(tmp_path / "p", allocation=True)
    out = tmp_path / "o"
    first = run_forecast(load_config(cfg_path), T25, output_root=out)
    fixed = first.manifest["fixed_inputs"]
    net = cfg_path.with_name("balikpapan_water.toml")
    assert fixed["allocation_network"] == {"path": str(net.resolve()), "sha256": sha256(net)}
    assert any(k.startswith("allocation_series:") and v["path"].endswith("balikpapan_inflows_2030.csv")
               for k, v in fixed.items())
    net.write_text(net.read_text().replace('evaporation = "4.5 mm/d"', 'evaporation = "5.5 mm/d"', 1))
    second = run_forecast(load_config(cfg_path), T25, output_root=out)
    assert not second.already_done and second.run_id != first.run_id  # old code: "already done", stale outputs
    assert second.manifest["fixed_inputs"]["allocation_network"]["sha256"] == sha256(net)
    assert second.manifest["fixed_inputs"]["allocation_network"]["sha256"] != fixed["allocation_network"]["sha256"]


# ------------------------------------------------------------------ item 3: outputs.directory
def test_relative_output_directory_is_relative_to_the_project_not_the_cwd(tmp_path, monkeypatch, capture_start):
    from hydro.config import output_root
    from hydro.forecast.pipeline import run_model

    cfg_path = make_project(tmp_path / "p")
    proj = (tmp_path / "p").resolve()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(cfg_path)
    assert cfg.outputs.directory == "outputs"
    assert output_root(cfg) == proj / "outputs"
    assert _folder_of(run_forecast, cfg, T25).root == proj / "outputs" / "balikpapan"  # old: elsewhere/outputs/...
    assert _folder_of(run_model, cfg).root == proj / "outputs"
    # a config outside models/: its own folder is the project
    flat = tmp_path / "p" / "flat.toml"
    flat.write_text(cfg_path.read_text().replace("../inputs/", "inputs/"))
    assert output_root(load_config(flat)) == proj / "outputs"
    # absolute directories and --output-root (relative to the cwd) are taken as given
    assert output_root(cfg, "x") == Path("x")
    assert not any(elsewhere.iterdir())


# ------------------------------------------------------------------ item 4: `hydro run` lock
def test_hydro_run_waits_for_the_lock_and_times_out_with_an_output_error(tmp_path, capture_start):
    from hydro.forecast.pipeline import run_id_for, run_model

    cfg_path = make_project(tmp_path / "p")
    cfg_path.write_text(cfg_path.read_text().replace("spinup_days = 2.0", "spinup_days = 2.0\nlock_timeout_s = 0.5"))
    cfg = load_config(cfg_path)
    out = tmp_path / "o"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)  # `hydro run` locks its output root
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # old code: no lock, the run went on to create (and delete) the shared .partial folder
        with pytest.raises(OutputError, match=r"lock.*0 s|holds this lock"):
            run_model(cfg, output_root=out)
    finally:
        os.close(fd)
    assert not list(out.glob("*.partial"))
    # released: the run starts
    assert _folder_of(run_model, cfg, output_root=out).run_id == run_id_for(cfg)


def test_two_hydro_runs_of_the_same_id_at_once(tmp_path):
    """The second waits for the first, then finds its complete folder: "already done" (old code: both ran in
    the same .partial folder, each deleting the other's work)."""
    import threading

    from hydro.forecast.pipeline import run_model

    cfg = load_config(make_project(tmp_path / "p"))
    out = tmp_path / "o"
    results, errors = [], []

    def go():
        try:
            results.append(run_model(cfg, output_root=out))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.run_id for r in results}) == 1
    assert sorted(bool(r.manifest.get("already_done")) for r in results) == [False, True]
    assert [d.name for d in out.iterdir()] == [results[0].run_id]
    man = json.loads((out / results[0].run_id / "manifest.json").read_text())
    for e in man["outputs"].values():
        assert sha256(out / results[0].run_id / e["path"]) == e["sha256"]


# ------------------------------------------------------------------ items 6-8: validation and messages
def test_placeholder_typo_is_a_config_error_not_retry_later(tmp_path):
    cfg_path = make_project(tmp_path / "p")
    base = cfg_path.read_text()
    good = "balikpapan_rain_{reference_time:%Y%m%dT%H%MZ}.nc"
    assert good in base
    for bad, msg in (("balikpapan_rain_{referenc_time:%Y%m%dT%H%MZ}.nc", "unknown placeholder"),
                     ("balikpapan_rain_{reference_time:%Y%m%dT%H%QZ}.nc", "unknown strftime directive"),
                     ("balikpapan_rain_{reference_time:%Y%m%dT%H%MZ.nc", "bad placeholder")):
        cfg_path.write_text(base.replace(good, bad))
        with pytest.raises(ConfigError, match=msg) as info:
            load_config(cfg_path)
        assert str(cfg_path) in str(info.value) and "forecast.forcing.path" in str(info.value)


def test_cross_section_checks_at_load_time(tmp_path):
    cfg_path = make_project(tmp_path / "p")
    base = cfg_path.read_text()
    cases = [
        (base.replace("lead_time_h = 48.0", "lead_time_h = 1.5"), r"forecast\.lead_time_h = 1\.5 h.*output_step"),
        (base.replace("duration_h = 24.0", "duration_h = 24.5"), r"forcing\.duration_h"),
        (base.replace('[allocation]\nenabled = false', '[allocation]\nenabled = true').replace(
            'manggar = "manggar_dam"', 'manggar = "manggar_dm"'), r"manggar_dm.*not a gauge"),
    ]
    for text, msg in cases:
        cfg_path.write_text(text)
        with pytest.raises(ConfigError, match=msg) as info:
            load_config(cfg_path)
        line = str(info.value).splitlines()[0]
        assert line.startswith(f"{cfg_path}:"), line


def test_allocation_network_errors_name_the_file(tmp_path):
    from hydro.forecast.stages import allocation_inputs

    cfg_path = make_project(tmp_path / "p", allocation=True)
    net = cfg_path.with_name("balikpapan_water.toml")
    net.write_text(net.read_text().replace('type = "groundwater"', 'type = "aquifer"', 1))
    full = load_config(cfg_path)
    cfg = full.model_copy(update={"allocation": full.allocation.model_copy(update={"simulated_inflows": {}})})
    object.__setattr__(cfg, "_source_path", full._source_path)
    with pytest.raises(ConfigError) as info:
        allocation_inputs(cfg, None, "2025-08-25", "2025-08-27")
    assert str(net) in str(info.value) and "<dict>" not in str(info.value)
    net.write_text("[network\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        allocation_inputs(cfg, None, "2025-08-25", "2025-08-27")
    assert str(net) in str(info.value)
    net.unlink()
    with pytest.raises(InputMissingError, match="allocation.network") as info:
        run_forecast(cfg, T25, output_root=tmp_path / "o")
    assert str(cfg_path.resolve()) in str(info.value)

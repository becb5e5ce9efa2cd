"""`hydro run` stages talk to each other: routed rivers enter the 2-D domain, routed peaks drive HAND,
simulated inflows feed the allocation; flood domains for DEM files come from the config."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin

from hydro.config import load_config
from hydro.flood.example import domain_inflow_points
from hydro.forecast.pipeline import run_model
from tests.forecast.conftest import make_project


@pytest.fixture(scope="module")
def event_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("event")
    cfg_path = make_project(root / "p", allocation=True)
    text = cfg_path.read_text().replace("[flood]\nenabled = false\nduration_h = 12.0", "[flood]\nenabled = true\nduration_h = 6.0")
    cfg_path.write_text(text)
    res = run_model(load_config(cfg_path), output_root=root / "out")
    res.config_path = cfg_path.resolve()
    return res


def test_the_routed_river_enters_the_2d_domain(event_run):
    d = event_run.run_dir
    g = xr.load_dataset(d / "runoff" / "run_gauges.nc")
    ids = [str(s) for s in g["station_id"].values]
    # the river given to the 2-D run is the outflow of the cells crossing the plain's edge into entering point 0,
    # not the entering cell's own discharge (that also holds the runoff of plain cells draining to it, which the
    # 2-D run rains on itself)
    cross = [k for k, s in enumerate(ids) if s.startswith("flood_crossing_0_")]
    assert cross
    q = g["discharge"].isel(station=cross).sum("station")
    assert float(q.max()) > 1.0
    # the crossing cells lie outside the plain, next to it (their outflow crosses its edge)
    from hydro.datasets import balikpapan_features

    res = float(event_run.manifest["config"]["dem"]["resolution_m"])
    x0, y0, x1, y1 = balikpapan_features(res).urban_plain_bounds
    for k in cross:
        x, y = float(g["x"].values[k]), float(g["y"].values[k])
        assert not (x0 <= x <= x1 and y0 <= y <= y1)
        assert x0 - 1.5 * res <= x <= x1 + 1.5 * res and y0 - 1.5 * res <= y <= y1 + 1.5 * res
    # the 2-D inflow series: step means at the step midpoints (linear in between), from the run start
    start = pd.Timestamp(event_run.manifest["config"]["forcing"]["start"])
    t_mid = pd.DatetimeIndex(q["time"].values) - pd.Timedelta("30min")
    t = np.concatenate([[0.0], (t_mid - start).total_seconds(), [(pd.Timestamp(q["time"].values[-1]) - start).total_seconds()]])
    v = np.concatenate([[float(q[0])], q.values, [float(q[-1])]])
    dur = 6 * 3600.0
    grid = np.linspace(0, dur, 20001)
    expected = np.trapezoid(np.interp(grid, t, v), grid)
    with xr.open_dataset(d / "flood" / "plain_flood.nc") as f:
        got = float(f["volume_point_inflow"].values[-1])
        assert float(abs(f["volume_residual"]).max()) < 1e-6 * float(f["volume_storage"].max() + got)
    assert got == pytest.approx(expected, rel=0.02)


def test_hand_uses_the_routed_peaks(event_run):
    d = event_run.run_dir
    peak = xr.load_dataset(d / "runoff" / "peak_discharge.nc")["max_discharge"].isel(time=0)
    hand = xr.load_dataset(d / "flood" / "hand_flood.nc")
    # a reach's stage for its routed peak: depth at the cell of largest peak (the main channel) is positive,
    # and no cell is flooded where the HAND map has no reach
    y, x = np.unravel_index(int(np.nanargmax(peak.values)), peak.shape)
    assert float(hand["flood_depth"].values.squeeze()[y, x]) > 0.0
    assert event_run.manifest["facts"]["hand_flooded_km2"] > 0


def test_allocation_gets_the_simulated_inflow(event_run):
    d = event_run.run_dir
    notes = event_run.manifest["facts"]["allocation_inflows"]
    assert notes["manggar"].startswith("simulated") and "climatology" in notes["teritip"]
    g = xr.load_dataset(d / "runoff" / "run_gauges.nc")
    ids = [str(s) for s in g["station_id"].values]
    q = g["discharge"].isel(station=ids.index("manggar_dam"))
    daily_m3 = float(q.mean()) * 86400.0
    from hydro.forecast.stages import allocation_inputs

    from hydro.config import ModelConfig

    mcfg = ModelConfig.model_validate(event_run.manifest["config"])
    object.__setattr__(mcfg, "_source_path", event_run.config_path)
    start = pd.Timestamp(mcfg.forcing.start)
    net, external, _ = allocation_inputs(mcfg, g, start, start + pd.Timedelta(hours=mcfg.forcing.duration_h))
    assert external["manggar"] == pytest.approx([daily_m3 / 86400.0], rel=1e-12)
    # the storm day's inflow (far above the 2 Mm3 of room) fills Manggar to its capacity
    r = xr.load_dataset(d / "allocation" / "water_reservoir.nc")
    i = [str(s) for s in r["reservoir_id"].values].index("manggar")
    assert daily_m3 > 2.0e6
    assert float(r["reservoir_volume"].isel(reservoir=i).values[-1]) == pytest.approx(16.3e6, rel=1e-9)


def test_allocation_refuses_a_day_without_simulated_discharge(event_run):
    """A day of the run with no routed discharge is an error, never held on from a neighbouring day."""
    from hydro.config import ModelConfig
    from hydro.errors import InputDataError
    from hydro.forecast.stages import allocation_inputs

    g = xr.load_dataset(event_run.run_dir / "runoff" / "run_gauges.nc")
    mcfg = ModelConfig.model_validate(event_run.manifest["config"])
    object.__setattr__(mcfg, "_source_path", event_run.config_path)
    start = pd.Timestamp(mcfg.forcing.start)
    # the run asks for two more days than the gauges hold
    end = start + pd.Timedelta(hours=mcfg.forcing.duration_h) + pd.Timedelta("2D")
    with pytest.raises(InputDataError, match="no routed discharge on"):
        allocation_inputs(mcfg, g, start, end)


def test_every_netcdf_output_names_the_run_and_its_forcing(event_run):
    """The flood and allocation files used to lack the run id, config hash and warm start of the runoff files."""
    ncs = [e["path"] for e in event_run.manifest["outputs"].values() if e["path"].endswith(".nc")]
    assert any(p.startswith("flood/") for p in ncs) and any(p.startswith("allocation/") for p in ncs), ncs
    for rel in ncs:
        if rel.startswith("state/"):
            continue
        with xr.open_dataset(event_run.run_dir / rel, decode_times=False) as ds:
            assert ds.attrs.get("hydro_run_id") == event_run.run_id, rel  # a file may keep its own `id`
            assert ds.attrs.get("hydro_warm_start") == "cold", rel
            assert "hydro_config_hash" in ds.attrs, rel
            assert ds.attrs["hydro_forcing"].startswith("design storm: 140 mm in 6 h"), (rel, ds.attrs["hydro_forcing"])


def test_report_and_alerts_of_the_event(event_run):
    d = event_run.run_dir
    assert not (d / "report.html").exists()  # report = false in this project
    doc = json.loads((d / "alerts.json").read_text())
    assert doc["alert"] is event_run.manifest["alert"]


def test_domain_inflow_points_are_local_maxima_on_land_edges():
    up = np.zeros((5, 7))
    up[0] = [0, 1e6, 8e6, 2e6, 0, 6e6, 0]   # north edge: two rivers above 5 km2
    up[:, -1] = [0, 0, 9e6, 0, 0]           # east edge: one
    da = xr.DataArray(up, dims=("y", "x"), coords={"y": [40.0, 30.0, 20.0, 10.0, 0.0], "x": np.arange(7) * 10.0})
    pts = domain_inflow_points(xr.Dataset({"upstream_area": da}), (0, 0, 60, 40), edges=("north", "east"), min_area_m2=5e6)
    assert [(p[0], p[1], p[2]) for p in pts] == [(60.0, 20.0, 9e6), (20.0, 40.0, 8e6), (50.0, 40.0, 6e6)]
    assert domain_inflow_points(xr.Dataset({"upstream_area": da}), (0, 0, 60, 40), edges=("south",)) == []


def test_a_dem_file_with_a_configured_flood_domain(tmp_path):
    from hydro.datasets import synthetic_dem

    dem = synthetic_dem((160, 160), resolution_m=50.0, seed=7)  # seed 5: every edge maximum drained OUT of the domain
    dem = dem - float(dem.min()) + 2.0
    tif = tmp_path / "proj" / "inputs" / "dem.tif"
    tif.parent.mkdir(parents=True)
    x0 = float(dem["x"].values[0]) - 25.0
    y0 = float(dem["y"].values[0]) + 25.0
    with rasterio.open(tif, "w", driver="GTiff", width=160, height=160, count=1, dtype="float32", crs="EPSG:32750",
                       transform=from_origin(x0, y0, 50.0, 50.0), nodata=-9999.0) as dst:
        dst.write(dem.values.astype("float32"), 1)
    xs, ys = dem["x"].values, dem["y"].values
    lowest = np.unravel_index(int(np.argmin(dem.values)), dem.shape)
    (tmp_path / "proj" / "models").mkdir()
    cfg = tmp_path / "proj" / "models" / "file.toml"
    domain = [float(xs[20]), float(ys[140]), float(xs[140]), float(ys[60])]
    cfg.write_text(f"""
region = "filedem"
[dem]
source = "file"
path = "../inputs/dem.tif"
[terrain]
stream_threshold_km2 = 0.5
[forcing]
storm_total_mm = 80.0
storm_duration_h = 2.0
duration_h = 4.0
[runoff]
enabled = true
[routing]
model_step = "30min"
[flood]
enabled = true
duration_h = 3.0
domain = {domain}
tide_edge = "{'south' if lowest[0] > 80 else 'north'}"
inflow_min_area_km2 = 1.0
[outputs]
report = false
""")
    res = run_model(load_config(cfg), output_root=tmp_path / "out")
    facts = res.manifest["facts"]
    assert facts["plain_river_inflows"], "no river found entering the domain"
    with xr.open_dataset(res.run_dir / "flood" / "plain_flood.nc") as f:
        assert float(f["volume_point_inflow"].values[-1]) > 0
        assert float(abs(f["volume_residual"]).max()) <= 1e-6 * float(f["volume_storage"].max() + f["volume_rain"].values[-1])
    bad = cfg.read_text().replace(f"domain = {domain}\n", "")
    cfg.write_text(bad)
    from hydro.errors import ConfigError

    with pytest.raises(ConfigError, match="flood.domain"):
        run_model(load_config(cfg), output_root=tmp_path / "out2")


def test_missing_forcing_file_is_found_before_any_work(tmp_path, monkeypatch):
    """`hydro run` with a NetCDF forcing that is not there: exit 66 before the terrain analysis and with no output
    folder (it used to be found after the terrain stage)."""
    from hydro.config import load_config
    from hydro.errors import InputMissingError
    from hydro.forecast import pipeline
    from tests.forecast.conftest import make_project

    cfg_path = make_project(tmp_path / "p")
    text = cfg_path.read_text().replace('source = "design_storm"\n',
                                        'source = "netcdf"\npath = "../inputs/forcing/not_there.nc"\n', 1)
    cfg_path.write_text(text)
    cfg = load_config(cfg_path)
    import hydro.terrain as terrain_mod

    def no_terrain(*a, **k):
        raise AssertionError("the terrain analysis ran before the missing forcing was reported")

    monkeypatch.setattr(terrain_mod, "analyse", no_terrain)
    with pytest.raises(InputMissingError, match="not_there.nc: forcing file not found"):
        pipeline.run_model(cfg, output_root=tmp_path / "out")
    assert not (tmp_path / "out").exists()

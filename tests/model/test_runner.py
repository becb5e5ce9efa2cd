"""File inputs of the catchment runner: gauges CSV, reservoirs TOML, terrain NetCDF, forcing files."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.errors import ConfigError, InputDataError, InputMissingError
from hydro.model import read_gauges, read_reservoirs
from hydro.model.runner import open_forcing, open_terrain


def test_read_gauges_csv(tmp_path):
    p = tmp_path / "gauges.csv"
    p.write_text("id,x,y,name\nG1,484300.5,9851200,Ampal coast road\nG2,490000,9855000,\n", encoding="utf-8")
    g = read_gauges(p)
    assert [x.id for x in g] == ["G1", "G2"] and g[0].x == 484300.5 and g[0].name == "Ampal coast road" and g[1].name is None
    bad = tmp_path / "bad.csv"
    bad.write_text("id,x\nG1,1\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="missing columns"):
        read_gauges(bad)
    bad.write_text("id,x,y\nG1,1,north\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="bad.csv:2"):
        read_gauges(bad)
    with pytest.raises(InputMissingError):
        read_gauges(tmp_path / "none.csv")


def test_read_reservoirs_toml(tmp_path):
    p = tmp_path / "reservoirs.toml"
    p.write_text(
        '[[reservoir]]\nname = "manggar"\nx = 497000.0\ny = 9864000.0\nlevel_m = [8.0, 13.4, 16.0]\n'
        "storage_m3 = [0.0, 1.2e7, 2.0e7]\narea_m2 = [1e5, 3e6, 3.5e6]\ncrest_level_m = 13.4\nabstraction_m3s = 0.8\n",
        encoding="utf-8",
    )
    (r,) = read_reservoirs(p)
    assert r.name == "manggar" and r.abstraction_m3s == 0.8
    assert float(r.storage_at(13.4)) == pytest.approx(1.2e7)
    p.write_text('[[reservoir]]\nname = "x"\ncolour = "blue"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="reservoir 0"):
        read_reservoirs(p)


def test_open_terrain_netcdf_and_forcing_checks(tmp_path):
    import pandas as pd
    import xarray as xr

    from hydro.datasets import balikpapan_dem
    from hydro.io import write_netcdf
    from hydro.terrain import analyse

    terrain = analyse(balikpapan_dem(resolution_m=1000.0), stream_threshold_m2=3e6)
    path = write_netcdf(terrain, tmp_path / "terrain.nc")
    back = open_terrain(path, 3e6)
    np.testing.assert_array_equal(back["flow_direction"].values, terrain["flow_direction"].values)
    assert back.rio.crs == terrain.rio.crs
    times = pd.date_range("2026-01-01 01:00", periods=4, freq="h")
    P = xr.DataArray(np.ones((4,) + terrain["elevation"].shape, np.float32), dims=("time", "y", "x"),
                     coords={"time": times, "y": terrain.y.values, "x": terrain.x.values}, name="rain", attrs={"units": "mm h-1"})
    P.to_dataset().to_netcdf(tmp_path / "rain.nc")
    da = open_forcing(tmp_path / "rain.nc", "rain", terrain, pd.Timedelta("30min"))
    assert da.chunks is not None and da.sizes["time"] == 8  # mm h-1 -> mm per 30-min step
    valid = terrain["filled_elevation"].notnull().values
    np.testing.assert_allclose(da.isel(time=0).values[valid], 0.5, rtol=1e-12)
    with pytest.raises(InputMissingError, match="no variable 'precipitation'"):
        open_forcing(tmp_path / "rain.nc", "precipitation", terrain, pd.Timedelta("1h"))
    with pytest.raises(InputMissingError):
        open_terrain(tmp_path / "nothing.nc", 1e6)


def test_outlet_gauges_are_the_largest_outlets():
    from hydro.datasets import balikpapan_dem
    from hydro.terrain import analyse, flow_network

    from hydro.model import outlet_gauges

    terrain = analyse(balikpapan_dem(resolution_m=1000.0), stream_threshold_m2=3e6)
    g = outlet_gauges(terrain, n=3)
    net = flow_network(terrain["flow_direction"])
    up = net.upstream_area_m2()
    areas = sorted(up[net.outlets], reverse=True)[:3]
    got = [up[int(net.snap([(x.x, x.y)], 0.0)[0])] for x in g]
    assert [x.id for x in g] == ["outlet-1", "outlet-2", "outlet-3"]
    np.testing.assert_allclose(got, areas)


def test_run_catchment_file_to_file_and_nothing_written_on_bad_forcing(tmp_path):
    pytest.importorskip("hydro.runoff", reason="hydro.runoff not available yet")
    import pandas as pd
    import xarray as xr

    from hydro.datasets import balikpapan_dem
    from hydro.io import write_netcdf
    from hydro.model import outlet_gauges, run_catchment
    from hydro.terrain import analyse

    terrain = analyse(balikpapan_dem(resolution_m=1000.0), stream_threshold_m2=3e6)
    tpath = write_netcdf(terrain, tmp_path / "terrain.nc")
    gpath = tmp_path / "gauges.csv"
    g = outlet_gauges(terrain, 1)[0]
    gpath.write_text(f"id,x,y,name\nmain,{g.x},{g.y},main river\n", encoding="utf-8")
    times = pd.date_range("2026-01-01 01:00", periods=12, freq="h")
    rain = np.zeros((12,) + terrain["elevation"].shape)
    rain[2:6] = 8.0
    coords = {"time": times, "y": terrain.y.values, "x": terrain.x.values}
    xr.Dataset({"precipitation": (("time", "y", "x"), rain, {"units": "mm"})}, coords=coords).to_netcdf(tmp_path / "rain.nc")
    out = run_catchment(tpath, tmp_path / "rain.nc", output_dir=tmp_path / "out", start="2026-01-01", evaporation=0.1,
                        gauges=gpath, outlets=2, routing_params={"channel_threshold_m2": 3e6}, output_step="3h",
                        keep_peak=True, state_out=tmp_path / "state.nc")
    assert set(out["paths"]) == {"gridded", "gauges", "water_balance", "state"}
    assert out["summary"]["max_step_relative_residual"] <= 1e-9
    with xr.open_dataset(out["paths"]["gauges"]) as ds:
        assert ds.sizes["station"] == 3 and ds.sizes["time"] == 4
        assert float(ds["discharge"].max()) > 0
        q_given = ds["discharge"].values
    # a cold start without --start begins with the first rain period (label 01:00, hourly: 00:00): the same run
    same = run_catchment(tpath, tmp_path / "rain.nc", output_dir=tmp_path / "out_nostart", evaporation=0.1,
                         gauges=gpath, outlets=2, routing_params={"channel_threshold_m2": 3e6}, output_step="3h",
                         keep_peak=True)
    with xr.open_dataset(same["paths"]["gauges"]) as ds:
        np.testing.assert_array_equal(ds["discharge"].values, q_given)
        assert pd.Timestamp(ds["time"].values[0]) == pd.Timestamp("2026-01-01 03:00")
    # bad forcing: NaN on the domain -> error naming file and variable, nothing written
    iy, ix = np.argwhere(terrain["flow_direction"].values != 255)[0]
    rain[7, iy, ix] = np.nan
    xr.Dataset({"precipitation": (("time", "y", "x"), rain, {"units": "mm"})}, coords=coords).to_netcdf(tmp_path / "rain_bad.nc")
    with pytest.raises(InputDataError, match="rain_bad.nc:precipitation"):
        run_catchment(tpath, tmp_path / "rain_bad.nc", output_dir=tmp_path / "out2", start="2026-01-01",
                      routing_params={"channel_threshold_m2": 3e6}, state_out=tmp_path / "state2.nc")
    assert not (tmp_path / "out2").exists() and not (tmp_path / "state2.nc").exists()

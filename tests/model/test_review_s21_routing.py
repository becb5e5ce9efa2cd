"""Review (routing / catchment model): infinite routing parameters, duplicate reservoir names, a run that fails while
building its products, fractional step counts and route() on a DEM instead of the analysed terrain."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pydantic import ValidationError

from hydro.errors import ConfigError, InputDataError, InputMissingError
from hydro.model import CatchmentModel, Reservoir, RoutingParameters
from hydro.routing import route
from hydro.terrain import flow_network

START = pd.Timestamp("2026-01-10 00:00")


def _gr():
    from hydro.runoff import GRParameters

    return GRParameters(parameter_step_s=3600.0)


def _runoff(terrain, steps=3, mm=2.0):
    times = pd.date_range(START + pd.Timedelta("1h"), periods=steps, freq="1h")
    return xr.DataArray(np.full((steps, terrain.sizes["y"], terrain.sizes["x"]), mm), dims=("time", "y", "x"),
                        coords={"time": times, "y": terrain["y"].values, "x": terrain["x"].values}, attrs={"units": "mm"})


@pytest.mark.parametrize("key", ["manning_n_channel", "manning_n_overland", "width_coef", "depth_coef", "min_slope",
                                 "channel_threshold_m2", "channel_substep_s", "overland_substep_s"])
def test_infinite_routing_parameters_are_refused(key):
    """manning_n_channel = inf (or width_coef) gave NaN discharge on all 1006 cells of the 1-km test grid and a NaN
    outflow volume; min_slope = inf a ZeroDivisionError in the kernel. NaN was already refused; inf is too."""
    with pytest.raises(ValidationError):
        RoutingParameters(**{key: float("inf")})
    assert getattr(RoutingParameters(**{key: 2.0}), key) == 2.0


def test_run_catchment_infinite_routing_parameter_is_a_config_error(tmp_path):
    from hydro.model import run_catchment

    with pytest.raises(ConfigError, match="routing parameters"):
        run_catchment(tmp_path / "none.nc", tmp_path / "rain.nc", output_dir=tmp_path / "out",
                      routing_params={"manning_n_channel": float("inf")})
    assert not (tmp_path / "out").exists()


def _two_dams(terrain, names):
    net = flow_network(terrain["flow_direction"])
    up = net.upstream_area_m2()
    cells = np.flatnonzero((up > 8e6) & (up < 2e7))
    out = []
    for name, cell, level0 in zip(names, (int(cells[0]), int(cells[-1])), (2.0, 6.0)):
        x, y = net.xy(cell)
        out.append(Reservoir(name, float(x), float(y), level_m=[0.0, 5.0, 10.0], storage_m3=[0.0, 1e6, 4e6],
                             area_m2=[1e5, 3e5, 5e5], crest_level_m=8.0, initial_level_m=level0, max_snap_distance_m=0.0))
    return out


def test_duplicate_reservoir_names_are_a_config_error(terrain):
    """Two dams named 'dam': the run computed every step, then failed building the reservoir series (with the model
    state already advanced); the saved state restarted both from the first one's storage (406 775 m3 for both
    instead of 406 775 and 1 607 065 m3 after 48 h: 1.2e6 m3 lost)."""
    with pytest.raises(ConfigError, match="reservoir names are not unique"):
        CatchmentModel(terrain, _gr(), RoutingParameters(channel_threshold_m2=3e6),
                       reservoirs=_two_dams(terrain, ["dam", "dam"]), dt="1h")
    with pytest.raises(ConfigError, match="reservoir names are not unique"):
        route(_runoff(terrain), terrain, RoutingParameters(channel_threshold_m2=3e6),
              reservoirs=_two_dams(terrain, ["dam", "dam"]))


def test_distinct_reservoirs_restart_each_from_its_own_storage(tmp_path, terrain):
    """The warm start keeps each dam's storage: cold storages at 2 m and 6 m are 4e5 and 1.6e6 m3 (hand, from the
    table); with no rain or PET the two runs chained through the state equal one run."""
    def model():
        return CatchmentModel(terrain, _gr(), RoutingParameters(channel_threshold_m2=3e6),
                              reservoirs=_two_dams(terrain, ["upper", "lower"]), dt="1h")

    full = model()
    np.testing.assert_allclose(full.routing.reservoir_storage_m3, [4e5, 1e6 + 3e6 / 5], rtol=1e-12)
    full.run(0.0, 0.0, start=START, steps=4, gridded=())
    first = model()
    first.run(0.0, 0.0, start=START, steps=2, gridded=())
    first.save_state(tmp_path / "state.nc")
    second = model()
    second.load_state(tmp_path / "state.nc")
    second.run(0.0, 0.0, steps=2, gridded=())
    assert np.array_equal(second.routing.reservoir_storage_m3, full.routing.reservoir_storage_m3)


def test_run_failing_while_building_its_products_restores_the_state(terrain, monkeypatch):
    """docs/routing.md §4: a failed run restores the state. An error while building the products (after the last
    step) left the model valid 3 h later with its stores moved on."""
    model = CatchmentModel(terrain, _gr(), RoutingParameters(channel_threshold_m2=3e6), dt="1h")
    model.run(5.0, 0.1, start=START, steps=2, gridded=())
    valid = START + pd.Timedelta("2h")
    assert model.valid_time == valid
    before = {k: np.array(v, copy=True) for k, v in model.runoff.state.items()}
    vol = model.routing.volume_m3.copy()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model, "_result", broken)
    with pytest.raises(OSError, match="disk full"):
        model.run(5.0, 0.1, steps=3, gridded=())
    assert model.valid_time == valid
    assert np.array_equal(model.routing.volume_m3, vol)
    for k, v in before.items():
        assert np.array_equal(model.runoff.state[k], v), k


def test_steps_must_be_a_whole_number(terrain):
    """steps = 24.2 ran 24 steps without a word (the model then valid at START + 24 h)."""
    model = CatchmentModel(terrain, _gr(), RoutingParameters(channel_threshold_m2=3e6), dt="1h")
    for bad in (24.2, 0.5, "x", True):
        with pytest.raises(ConfigError, match="whole number"):
            model.run(1.0, 0.1, start=START, steps=bad, gridded=())
        assert model.valid_time is None
    res = model.run(1.0, 0.1, start=START, steps=np.float64(3.0), gridded=())
    assert res.summary["steps"] == 3 and model.valid_time == START + pd.Timedelta("3h")


def test_route_on_a_dem_or_an_array_is_a_hydro_error(terrain):
    """route(runoff, dem) (the DEM instead of analyse's Dataset) was a KeyError traceback, an ndarray runoff an
    AttributeError."""
    r = _runoff(terrain)
    with pytest.raises(InputMissingError, match="flow_direction"):
        route(r, terrain["filled_elevation"])
    with pytest.raises(InputMissingError, match="flow_direction"):
        route(r, terrain.drop_vars("flow_direction"))
    with pytest.raises(InputDataError, match="DataArray"):
        route(r.values, terrain)
    # the analysed terrain still routes: 2 mm per hour on the 1-km cells of the test grid is 0.5556 m3 s-1 per cell
    ds = route(r, terrain, RoutingParameters(channel_threshold_m2=3e6))
    np.testing.assert_allclose(float(ds["inflow_volume"][0]), 2e-3 * float(np.sum(flow_network(terrain["flow_direction"])
                               .cell_area_m2[flow_network(terrain["flow_direction"]).valid])), rtol=1e-12)

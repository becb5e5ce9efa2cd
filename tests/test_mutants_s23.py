"""Mutation audit of the s23 changes: tests killing surviving mutants (each passes on the original code)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.forecast.stages import completed_manifest
from tests.forecast.conftest import make_project

def test_completed_manifest_without_sha256_strings_is_incomplete_unverified(tmp_path):
    """A manifest whose output entry has no sha256 text is not one this package wrote: incomplete even when the
    hashes are not verified (recover() calls verify=False and would otherwise delete the .partial folder)."""
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"status": "complete", "outputs": {"a": {"path": "a.txt", "sha256": None}}}))
    assert completed_manifest(tmp_path, verify=False) is None
    assert completed_manifest(tmp_path, verify=True) is None


def _neighbour_file(path: Path, R: pd.Timestamp, q: float, first_h: int) -> None:
    from hydro.exchange import exchange_dataset, write_exchange

    times = pd.date_range(R + pd.Timedelta(hours=first_h), R + pd.Timedelta(hours=first_h + 47), freq="1h")
    da = xr.DataArray(np.full((times.size, 1), q), dims=("time", "point"), coords={"time": times},
                      attrs={"units": "m3 s-1"})
    write_exchange(exchange_dataset(da, ["ppu_border"], [473760.0], [9855500.0], "EPSG:32750", R, "ppu",
                                    run_id=f"ppu_{R:%Y%m%d}"), path)


def _join_earlier(tmp_path, cfgp, T, since):
    """``_earlier_inflows`` of a project whose neighbour files are ``inputs/ppu_<date>.nc`` (tonight's read as the
    model's inflow), hourly steps."""
    from hydro.config import load_config
    from hydro.forecast.hydrology import _exchange_inflow
    from hydro.forecast.nightly import _earlier_inflows

    cfgp.write_text(cfgp.read_text() + '\n[[exchange.inflows]]\nfile = "../inputs/ppu_{reference_time:%Y%m%d}.nc"\n'
                    'point = "ppu_border"\nx = 473760.0\ny = 9855500.0\n')
    cfg = load_config(cfgp)
    tonight = _exchange_inflow(tmp_path / "proj" / "inputs" / f"ppu_{T:%Y%m%d}.nc", cfg.exchange.inflows[0],
                               reference_time=T)
    model = SimpleNamespace(routing=SimpleNamespace(inflows=[SimpleNamespace(name="ppu_border",
                                                                             discharge_m3s=tonight.discharge_m3s)]))
    return _earlier_inflows(model, cfg, T, since, pd.Timedelta(hours=1))


def test_earlier_inflows_reads_back_past_the_gap_length(tmp_path):
    """A neighbour whose nightly file starts 7 h after its reference time (first period 06:00-07:00): a 24 h gap
    needs the files of T-1d AND T-2d (T-1d's covers from T-18h only)."""

    T = pd.Timestamp("2025-08-26T00:00")
    D = pd.Timedelta(days=1)
    cfgp = make_project(tmp_path / "proj")
    for R in (T - 2 * D, T - D, T):
        _neighbour_file(tmp_path / "proj" / "inputs" / f"ppu_{R:%Y%m%d}.nc", R, 3.0, 7)
    out, notes = _join_earlier(tmp_path, cfgp, T, T - D)
    # tonight's file: labels T+7h ... ; T-1d's contributes labels T-17h ... T+6h (before T+7h);
    # T-2d's contributes T-41h ... T-18h. Joined: first label T-41h (period 1 h: covers from T-42h <= T-24h)
    assert pd.Timestamp(out[0].index[0]) == T - pd.Timedelta(hours=41)
    assert len(notes) == 2
    # 24 values (T-41h..T-18h) + 24 (T-17h..T+6h) + tonight's 48 (T+7h..T+54h) = 96 hourly values, all 3.0 m3/s
    assert len(out[0]) == 96 and out[0].index.is_unique and np.allclose(out[0].to_numpy(), 3.0)


def test_earlier_inflows_refuses_a_one_value_hole(tmp_path):
    """The T-1d file ends at T-1h, tonight's starts at T+1h: the value of T..T+1h is missing (a 2 h step between
    labels of a 1 h series): not joined, no silent interpolation over the hole."""
    from hydro.exchange import exchange_dataset, write_exchange

    T = pd.Timestamp("2025-08-26T00:00")
    D = pd.Timedelta(days=1)
    cfgp = make_project(tmp_path / "proj")
    _neighbour_file(tmp_path / "proj" / "inputs" / f"ppu_{T:%Y%m%d}.nc", T, 3.0, 1)
    R = T - D
    times = pd.date_range(R + pd.Timedelta(hours=1), T - pd.Timedelta(hours=1), freq="1h")  # T-23h ... T-1h
    da = xr.DataArray(np.full((times.size, 1), 3.0), dims=("time", "point"), coords={"time": times},
                      attrs={"units": "m3 s-1"})
    write_exchange(exchange_dataset(da, ["ppu_border"], [473760.0], [9855500.0], "EPSG:32750", R, "ppu",
                                    run_id=f"ppu_{R:%Y%m%d}"), tmp_path / "proj" / "inputs" / f"ppu_{R:%Y%m%d}.nc")
    out, notes = _join_earlier(tmp_path, cfgp, T, T - D)
    # last earlier label T-1h, first of tonight T+1h: 2 h apart > the 1 h period -> a hole, nothing joined
    assert out == {} and notes == []


def test_signed_unitless_storm_duration_is_named_as_unitless():
    """'+3' has no unit either (pandas reads it as 3 ns): named as such, not as 'not a multiple of the step'."""
    from hydro.errors import ConfigError
    from hydro.forcing import design_storm

    with pytest.raises(ConfigError, match="no unit"):
        design_storm(90.0, "+3", "1h")


def test_idw_power_zero_is_the_plain_mean():
    """power 0 (documented: >= 0) weights every station 1/d**0 = 1: a cell between stations gets 1/2, 1/2."""
    from hydro.forcing import station_weights

    cells = np.array([[1.0, 0.0]])
    stations = np.array([[0.0, 0.0], [3.0, 0.0]])  # distances 1 and 2
    np.testing.assert_allclose(station_weights(cells, stations, "idw", 0.0), [[0.5, 0.5]], rtol=0, atol=1e-15)


def test_conservative_weights_of_a_polar_row_are_clipped_at_the_pole():
    """Source rows centred 90, 89, 88, 87 N (1°; the polar row's edges 89.5..90.5 reach past the pole), target
    rows 88.5..90.5 and 86.5..88.5 (2°), on a sphere. Latitudes past 90 are clipped: the polar row is 89.5..90,
    and its share of the target row 88.5..90 (clipped) is (1 − sin 89.5°)/(1 − sin 88.5°)
    = sin²(0.25°)/sin²(0.75°) = (0.00436331/0.01308960)² = 0.1111168 → 10 mm there gives 1.111168 mm.
    Unclipped, sin 90.5° = sin 89.5°: the polar row had zero width and the cell got 0 mm."""
    from hydro.forcing.grid import grid_of, regrid_weights

    sphere = "+proj=longlat +R=6371000 +no_defs"

    def _latlon(lon, lat):
        return xr.DataArray(np.zeros((len(lat), len(lon))), dims=("lat", "lon"), coords={"lat": lat, "lon": lon})

    sx, sy = np.array([100.5, 101.5, 102.5, 103.5]), np.array([90.0, 89.0, 88.0, 87.0])
    tx, ty = np.array([101.0, 103.0]), np.array([89.5, 87.5])
    S, T = grid_of(_latlon(sx, sy), "src", crs=sphere), grid_of(_latlon(tx, ty), "tgt", crs=sphere)
    W = regrid_weights(S, T, "conservative", "test")
    v = np.zeros((sy.size, sx.size))
    v[0] = 10.0
    out = (W @ v.ravel()).reshape(ty.size, tx.size)
    np.testing.assert_allclose(out, [[1.111168, 1.111168], [0.0, 0.0]], rtol=1e-6, atol=1e-12)


def test_conservative_wgs84_weight_is_the_ellipsoidal_area_fraction():
    """EPSG:4326: the target row 60..62 N takes the source row 61.5..62 N over its share of the ellipsoidal zone
    area, dA ∝ cos φ / (1 − e² sin² φ)² dφ (WGS84: e² = 1 − (b/a)² = 0.00669438). Integrated independently here
    by quadrature: 10 mm × 0.2441234 = 2.441234 mm (the sphere's sin-fraction gives 2.440866 mm, 1.5e-4 low)."""
    from scipy.integrate import quad

    from hydro.forcing.grid import grid_of, regrid_weights

    def _latlon(lon, lat):
        return xr.DataArray(np.zeros((len(lat), len(lon))), dims=("lat", "lon"), coords={"lat": lat, "lon": lon})

    sx, sy = np.arange(100.25, 104.0, 0.5), np.arange(61.75, 58.0, -0.5)
    tx, ty = np.array([101.0, 103.0]), np.array([59.0, 61.0])
    S, T = grid_of(_latlon(sx, sy), "src", crs="EPSG:4326"), grid_of(_latlon(tx, ty), "tgt", crs="EPSG:4326")
    W = regrid_weights(S, T, "conservative", "test")
    v = np.zeros((sy.size, sx.size))
    v[0] = 10.0  # 61.5..62 N only
    out = (W @ v.ravel()).reshape(ty.size, tx.size)
    a, f = 6378137.0, 1 / 298.257223563
    e2 = 1.0 - (a * (1 - f) / a) ** 2
    dA = lambda p: np.cos(p) / (1.0 - e2 * np.sin(p) ** 2) ** 2  # noqa: E731
    r = np.deg2rad
    expected = 10.0 * quad(dA, r(61.5), r(62.0), epsabs=0, epsrel=1e-13)[0] / \
        quad(dA, r(60.0), r(62.0), epsabs=0, epsrel=1e-13)[0]
    assert expected == pytest.approx(2.441234, abs=1e-6)
    np.testing.assert_allclose(out[1], expected, rtol=1e-10)
    np.testing.assert_allclose(out[0], 0.0, atol=0.0)


def test_lon_without_lat_names_lat_as_missing():
    """Only lon given: the message says lon is given without lat (not the reverse)."""
    from pydantic import ValidationError

    from hydro.allocation.network import RegionSpec

    with pytest.raises(ValidationError, match="lon is given without lat"):
        RegionSpec(id="r", lon=116.8)
    assert RegionSpec(id="r", lat=-1.2, lon=116.8).lat == -1.2


def test_inflows_replaced_restores_the_model_inflows():
    """The replacement lasts for the block only (tonight's forecast runs with tonight's series), even when the
    block raises."""
    import dataclasses

    from hydro.forecast.nightly import _inflows_replaced

    @dataclasses.dataclass
    class _In:
        name: str
        discharge_m3s: object

    tonight = pd.Series([3.0], index=pd.DatetimeIndex(["2025-08-26T01:00"]))
    joined = pd.Series([2.0, 3.0], index=pd.DatetimeIndex(["2025-08-26T00:00", "2025-08-26T01:00"]))
    orig = _In("ppu_border", tonight)
    model = SimpleNamespace(routing=SimpleNamespace(inflows=[orig]))
    with _inflows_replaced(model, {0: joined}):
        assert model.routing.inflows[0].discharge_m3s is joined
    assert model.routing.inflows[0] is orig
    with pytest.raises(RuntimeError):
        with _inflows_replaced(model, {0: joined}):
            raise RuntimeError("run failed")
    assert model.routing.inflows[0] is orig

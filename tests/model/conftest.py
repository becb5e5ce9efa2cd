"""Fixtures of the coupled-model tests.

``RunoffDouble`` is a minimal stand-in with the interface of ``hydro.runoff.RunoffModel`` (GR-type
stores with interception, production and routing stores and a groundwater exchange) used while
the real operator is being written; tests switch to the real one when it is importable.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr


class DoubleParams:
    def __init__(self, capacity=200.0, interception=2.0, routing_capacity=60.0, exchange=0.0):
        self.capacity, self.interception, self.routing_capacity, self.exchange = capacity, interception, routing_capacity, exchange

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()


class RunoffDouble:
    """GR-like column operator (mm per step) with an exact per-cell balance."""

    def __init__(self, params, ncell, dt_seconds, state=None):
        self.p = params
        self.ncell = ncell
        self.state = {
            "interception_store": np.zeros(ncell),
            "production_store": np.full(ncell, 0.4 * params.capacity),
            "routing_store": np.full(ncell, 0.3 * params.routing_capacity),
        }
        self.actual_evaporation_mm = np.zeros(ncell)
        self.exchange_mm = np.zeros(ncell)
        if state is not None:
            self.set_state(state)

    def set_state(self, state):
        self.state = {k: np.array(state[k], dtype=np.float64) for k in ("interception_store", "production_store", "routing_store")}

    def storage_mm(self):
        return self.state["interception_store"] + self.state["production_store"] + self.state["routing_store"]

    def step(self, P, E):
        p = self.p
        I, S, R = (self.state[k].copy() for k in ("interception_store", "production_store", "routing_store"))
        Ei = np.minimum(E, P + I)
        Pn = np.maximum(0.0, P - (p.interception - I) - Ei)
        I = I + P - Ei - Pn
        En = E - Ei
        Es = np.minimum(En * S / p.capacity, S)
        S = S - Es
        Ps = np.minimum(Pn * (1 - (S / p.capacity) ** 2), p.capacity - S)
        S = S + Ps
        perc = 0.002 * S
        S = S - perc
        Pr = Pn - Ps + perc
        R0 = R + 0.9 * Pr
        F = p.exchange * (R0 / p.routing_capacity) ** 3.5
        R = np.maximum(0.0, R0 + F)
        Fr = R - R0
        Qr = R * (1 - (1 + (R / p.routing_capacity) ** 4) ** -0.25)
        R = R - Qr
        Qd = np.maximum(0.0, 0.1 * Pr + F)
        Fd = Qd - 0.1 * Pr
        self.state = {"interception_store": I, "production_store": S, "routing_store": R}
        self.actual_evaporation_mm = Ei + Es
        self.exchange_mm = Fr + Fd
        return Qr + Qd


@pytest.fixture(scope="session")
def terrain():
    """Synthetic Balikpapan-like DEM at 1000 m (36 x 30 cells) analysed by the terrain engine."""
    from hydro.datasets import balikpapan_dem
    from hydro.terrain import analyse

    return analyse(balikpapan_dem(resolution_m=1000.0), stream_threshold_m2=3.0e6)


def storm_forcing(terrain, start, steps, dt="1h", seed=1):
    """Hourly rain (storm cells moving over the grid) and PET [mm per step] on the terrain grid."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(pd.Timestamp(start) + pd.Timedelta(dt), periods=steps, freq=dt)
    ny, nx = terrain.sizes["y"], terrain.sizes["x"]
    yy, xx = np.mgrid[0:ny, 0:nx]
    p = np.zeros((steps, ny, nx))
    for _ in range(max(1, steps // 24)):
        t0 = rng.integers(0, steps)
        cy, cx = rng.uniform(0, ny), rng.uniform(0, nx)
        vy, vx = rng.uniform(-1, 1, 2)
        for k in range(min(8, steps - t0)):
            d2 = (yy - cy - vy * k) ** 2 + (xx - cx - vx * k) ** 2
            p[t0 + k] += rng.uniform(5, 25) * np.exp(-d2 / (2 * rng.uniform(3, 8) ** 2))
    hour = times.hour.values
    e = np.broadcast_to((0.25 * np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None))[:, None, None], p.shape).copy()
    coords = {"time": times, "y": terrain.y.values, "x": terrain.x.values}
    P = xr.DataArray(p, dims=("time", "y", "x"), coords=coords, name="precipitation", attrs={"units": "mm"})
    E = xr.DataArray(e, dims=("time", "y", "x"), coords=coords, name="potential_evaporation", attrs={"units": "mm"})
    return P, E


@pytest.fixture
def forcing(terrain):
    return lambda start, steps, **kw: storm_forcing(terrain, start, steps, **kw)


class _Impl:
    """A runoff implementation for the model tests: ``params(capacity, exchange)`` and ``model``."""

    def __init__(self, kind):
        self.kind = kind
        if kind == "double":
            self.model = RunoffDouble
        else:
            from hydro.runoff import RunoffModel

            self.model = RunoffModel

    def params(self, capacity=200.0, exchange=0.0):
        if self.kind == "double":
            return DoubleParams(capacity=capacity, exchange=exchange)
        from hydro.runoff import GRParameters

        return GRParameters(production_capacity_mm=capacity, exchange_mm=exchange)


@pytest.fixture(params=["real", "double"])
def runoff_impl(request):
    """The real ``hydro.runoff.RunoffModel`` and the stand-in double (kept: it has a different
    store structure, so the model is shown not to depend on GR internals)."""
    if request.param == "real":
        pytest.importorskip("hydro.runoff", reason="hydro.runoff not available yet")
    return _Impl(request.param)

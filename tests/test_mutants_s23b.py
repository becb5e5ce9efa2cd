"""Mutation audit (rev23_mut2) of the changes b4a841c..HEAD: tests killing the behaviour-changing survivors.

Each test passes on the original code and fails on the mutant named in its docstring.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

import hydro
from hydro.cli import cli
from hydro.config import load_config
from hydro.routing import _kernels as k
from tests.forecast.conftest import make_project

REPO = Path(hydro.__file__).resolve().parents[1]  # the tree holding hydro/, models/ and inputs/


# ------------------------------------------------------------------------------------------ routing: kinematic_newton
def test_kinematic_solve_from_an_overflowing_start_is_bound_by_rhs_beta():
    """beta = 0.05 (1/beta = 20), Q = 1e4 m3 s-1, a = alpha L / dt = 1e-12, cold start (u_old = 0).

    Root: u = Q^beta = 1e4^0.05 = 10^0.2 = 1.5848931924611136, rhs = Q + a u = 1e4 + 1.58e-12 (= 1e4 in float64).
    The cold start is u = rhs / a = 1e16 and u^(1/beta) = 1e320 overflows to inf: the solve must first bound u by
    rhs^beta = 10^0.2 (the root to round-off), then converge at once.
    Kills: K4 (bound only at the slow iteration, not when q > rhs), K6 (bound kept but u not clamped to it),
    K7 (u clamped but q = u^(1/beta) not recomputed): each returned NaN flagged non-converged (61 iterations)."""
    q, a, beta = 1e4, 1e-12, 0.05
    u_root = 10.0 ** 0.2  # 1e4^0.05 = 10^(4 * 0.05)
    rhs = q + a * u_root
    u, it = k.kinematic_newton(rhs, a, 0.0, 1.0 / beta)
    assert it <= k.NEWTON_MAXITER
    assert u == pytest.approx(u_root, rel=1e-9)
    # the reach update keeps the volume balance: V = alpha L u with alpha L = a dt; dt = 1000 s -> alpha L = 1e-9
    qn, vn, it2 = k.kinematic_cell(q, 0.0, 1e-9, 1000.0, 1.0 / beta)
    assert it2 <= k.NEWTON_MAXITER
    assert vn == pytest.approx(1e-9 * u_root, rel=1e-9)  # 1.5849e-9 m3
    assert qn == pytest.approx(1e4 - 1e-12 * u_root, rel=1e-12)  # Q = rhs - a u = 1e4 (to 1.6e-16 relative)
    assert math.isfinite(qn) and math.isfinite(vn)


# ------------------------------------------------------------------------------------------ forecast.stages
def test_completed_manifest_entry_without_a_path_is_incomplete_not_a_traceback(tmp_path):
    """An output entry with a sha256 but no path string is not a manifest this package wrote: None (the run is redone),
    as for a missing sha256. Kills S1 (the isinstance(path, str) check dropped): KeyError 'path' on verify."""
    from hydro.forecast.stages import completed_manifest

    for entry in ({"sha256": "0" * 64}, {"path": 3, "sha256": "0" * 64}):
        (tmp_path / "manifest.json").write_text(json.dumps({"status": "complete", "outputs": {"terrain": entry}}))
        assert completed_manifest(tmp_path) is None
        assert completed_manifest(tmp_path, verify=False) is None


# ------------------------------------------------------------------------------------------ forecast.nightly
def test_ensemble_member_runs_on_the_nightly_forcing(monkeypatch):
    """balikpapan.toml: [forcing] is hydro run's design storm, [forecast] forcing the nightly NetCDF. A member is handed
    the run's own configuration and must take the nightly forcing (forecast_config), like the control run.
    Kills F1 (forecast_config dropped in _member_task): the members ran the 140 mm design storm instead."""
    from hydro.forecast import hydrology
    from hydro.forecast.nightly import _member_task

    cfg = load_config(REPO / "models" / "balikpapan.toml")
    assert cfg.forcing.source == "design_storm" and cfg.forecast.forcing.source == "netcdf"
    seen = {}

    class FakeModel:
        def load_state(self, path):
            seen["state"] = path

    class Stop(Exception):
        pass

    def fake_build(c, terrain, reference_time=None):
        seen["build"] = c.forcing.source
        return FakeModel()

    def fake_rain(c, *args, **kwargs):
        seen["rain"] = (c.forcing.source, str(c.forcing.path), kwargs.get("member"))
        raise Stop

    monkeypatch.setattr(hydrology, "build_model", fake_build)
    monkeypatch.setattr(hydrology, "open_rain", fake_rain)
    with pytest.raises(Stop):
        _member_task(1, cfg_json=cfg.model_dump_json(), source=str(REPO / "models" / "balikpapan.toml"), terrain=None,
                     state_path="state.nc", T="2025-08-25T00:00", steps=1)
    assert seen["build"] == "netcdf"
    assert seen["rain"][0] == "netcdf" and "balikpapan_rain_" in seen["rain"][1] and seen["rain"][2] == 1


# ------------------------------------------------------------------------------------------ cli --members
def test_forecast_members_zero_is_accepted(tmp_path):
    """`--members 0` (no ensemble) is inside ensemble.members' bound 0 … 200: the option check passes it and the run
    goes on to its inputs; for a reference time without published forcing (2030-01-01) that is exit 75 (retry later).
    Kills C1 (`members <= 0` refused): exit 78 "--members must be >= 0, got 0"."""
    cfg = make_project(tmp_path / "proj")
    res = CliRunner().invoke(cli, ["forecast", str(cfg), "-t", "2030-01-01T00:00Z", "--output-root",
                                   str(tmp_path / "out"), "--members", "0"])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "--members" not in res.output
    assert res.exit_code == 75, res.output

"""The nightly job under stress: SIGKILL at random moments, two runs of the same id at once, exit codes,
JSON-lines logs, and an ensemble on a real dask LocalCluster equal to the serial run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from hydro.config import load_config
from hydro.forecast.stages import completed_manifest
from tests.forecast.conftest import make_project

T = "2025-08-25T00:00Z"


def _hydro(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hydro.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _folders_ok(region_root: Path) -> list[str]:
    """Names of folders that look published; each must be complete with matching hashes."""
    bad = []
    if not region_root.exists():
        return bad
    for d in region_root.iterdir():
        if d.name.startswith(".") or d.name == "latest" or d.name.endswith(".partial") or ".old-" in d.name:
            continue
        if completed_manifest(d, verify=True) is None:
            bad.append(d.name)
    return bad


def test_sigkill_at_random_moments_never_leaves_a_complete_looking_folder(tmp_path):
    cfg = make_project(tmp_path / "p")
    ref = _hydro("forecast", str(cfg), "-t", T, "--output-root", str(tmp_path / "ref"))
    t0 = time.monotonic()
    out, err = ref.communicate(timeout=600)
    duration = time.monotonic() - t0
    assert ref.returncode == 0, err
    rng = np.random.default_rng(7)
    root = tmp_path / "out"
    for delay in sorted(rng.uniform(0.3, 0.9 * duration, size=4)):
        p = _hydro("forecast", str(cfg), "-t", T, "--output-root", str(root))
        time.sleep(float(delay))
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        assert _folders_ok(root / "balikpapan") == [], f"killed after {delay:.2f} s"
    p = _hydro("forecast", str(cfg), "-t", T, "--output-root", str(root))
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert not list((root / "balikpapan").glob("*.partial"))
    [run_dir] = [d for d in (root / "balikpapan").iterdir() if d.name.startswith("balikpapan_")]
    [ref_dir] = [d for d in (tmp_path / "ref" / "balikpapan").iterdir() if d.name.startswith("balikpapan_")]
    assert run_dir.name == ref_dir.name
    for rel in ("runoff/run_gauges.nc", "runoff/peak_discharge.nc", "flood/hand_flood.nc", "state/state_20250826T0000Z.nc"):
        with xr.open_dataset(run_dir / rel) as a, xr.open_dataset(ref_dir / rel) as b:
            for v in a.data_vars:
                if a[v].dtype.kind in "fiu":
                    np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=f"{rel}:{v}")


def test_two_runs_of_the_same_id_at_once(tmp_path):
    cfg = make_project(tmp_path / "p")
    root = tmp_path / "out"
    a = _hydro("forecast", str(cfg), "-t", T, "--output-root", str(root))
    b = _hydro("forecast", str(cfg), "-t", T, "--output-root", str(root))
    outs = [p.communicate(timeout=600) for p in (a, b)]
    assert a.returncode == 0 and b.returncode == 0, outs
    said = sorted("already done" in o for o, _ in outs)
    assert said == [False, True], outs  # one did the work, the other waited and found it done
    runs = [d for d in (root / "balikpapan").iterdir() if d.name.startswith("balikpapan_")]
    assert len(runs) == 1 and not runs[0].name.endswith(".partial")
    assert completed_manifest(runs[0], verify=True) is not None


def test_cli_exit_codes_and_json_log(tmp_path):
    cfg = make_project(tmp_path / "p")
    root = tmp_path / "out"
    # forcing not published for this night: retry later
    p = _hydro("forecast", str(cfg), "-t", "2025-09-01T00:00Z", "--output-root", str(root))
    _, err = p.communicate(timeout=300)
    assert p.returncode == 75 and "not published yet" in err and len(err.strip().splitlines()) == 1
    # config typo
    bad = cfg.with_name("typo.toml")
    bad.write_text(cfg.read_text().replace("lead_time_h =", "lead_time_hours ="))
    p = _hydro("forecast", str(bad), "-t", T, "--output-root", str(root))
    _, err = p.communicate(timeout=300)
    assert p.returncode == 78 and "lead_time_hours" in err and "unknown key" in err
    # the good run, with JSON logs on stderr; run.log holds JSON lines with the run context
    p = _hydro("--log-level", "INFO", "--json-logs", "forecast", str(cfg), "-t", T, "--output-root", str(root))
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    lines = [json.loads(line) for line in err.strip().splitlines()]
    assert any(rec["message"].startswith("warm start: level 3") for rec in lines)
    [run_dir] = [d for d in (root / "balikpapan").iterdir() if d.name.startswith("balikpapan_")]
    log = [json.loads(line) for line in (run_dir / "run.log").read_text().splitlines()]
    assert log and all(rec["run_id"] == run_dir.name and rec["region"] == "balikpapan" for rec in log)
    assert {"terrain", "warm start", "forecast run"} <= {rec["stage"] for rec in log}
    assert not root.joinpath("balikpapan", "latest").is_symlink() or (root / "balikpapan" / "latest").resolve() == run_dir.resolve()
    # a rerun is "already done": its records carry the run id too (it was null: the folder was never created)
    p = _hydro("--log-level", "INFO", "--json-logs", "forecast", str(cfg), "-t", T, "--output-root", str(root))
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    again = [json.loads(line) for line in err.strip().splitlines()]
    done = [rec for rec in again if "already done" in rec["message"]]
    assert done and all(rec["run_id"] == run_dir.name for rec in done)


@pytest.mark.slow
def test_ensemble_on_a_local_cluster_equals_the_serial_run(tmp_path):
    from distributed import Client, LocalCluster

    from hydro.forecast.nightly import run_forecast

    cfg_path = make_project(tmp_path / "p", members=3)
    cfg = load_config(cfg_path)
    serial = run_forecast(cfg, T, output_root=tmp_path / "serial", scheduler="synchronous")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, Client(lc) as client:
        dist = run_forecast(cfg, T, output_root=tmp_path / "dist", client=client)
        assert len(client.scheduler_info()["workers"]) == 2
    assert serial.manifest["members"] == dist.manifest["members"] == 3
    for m in range(3):
        rel = f"ensemble/member_{m:03d}_gauges.nc"
        with xr.open_dataset(serial.run_dir / rel) as a, xr.open_dataset(dist.run_dir / rel) as b:
            np.testing.assert_array_equal(a["discharge"].values, b["discharge"].values)
    with xr.open_dataset(serial.run_dir / "flood" / "flood_probability.nc") as a, \
            xr.open_dataset(dist.run_dir / "flood" / "flood_probability.nc") as b:
        np.testing.assert_array_equal(a["flood_probability"].values, b["flood_probability"].values)
        prob = a["flood_probability"].values
        assert np.nanmin(prob) >= 0 and np.nanmax(prob) <= 1
        # 3 members: probabilities are multiples of 1/3
        finite = prob[np.isfinite(prob)]
        np.testing.assert_allclose(finite * 3, np.round(finite * 3), atol=1e-6)
    # percentiles bracket each member's hydrograph median
    with xr.open_dataset(serial.run_dir / "ensemble" / "gauge_percentiles.nc") as pct:
        members = [xr.load_dataset(serial.run_dir / f"ensemble/member_{m:03d}_gauges.nc")["discharge"].values for m in range(3)]
        np.testing.assert_allclose(pct["discharge_percentile"].sel(percentile=50.0).values, np.median(members, axis=0), rtol=1e-5)
    alerts = json.loads((serial.run_dir / "alerts.json").read_text())["alerts"]
    peaks = {}
    for m in range(3):
        g = xr.load_dataset(serial.run_dir / f"ensemble/member_{m:03d}_gauges.nc")
        for i, sid in enumerate(g["station_id"].values):
            peaks.setdefault(str(sid), []).append(float(g["max_discharge"].isel(station=i).max()))
    checked = 0
    for a in alerts:
        if a["type"] == "gauge":
            expected = [float(np.mean([pk >= lv for pk in peaks[a["id"]]])) for lv in a["levels_m3s"]]
            assert a["exceedance_probability"] == pytest.approx(expected)
            checked += 1
    assert checked > 0


@pytest.mark.slow
def test_calibration_trials_on_a_local_cluster_equal_the_serial_run():
    import pandas as pd
    from distributed import Client, LocalCluster

    from hydro.calibrate.core import calibrate, simulate_lumped
    from hydro.forecast.parallel import client_map

    rng = np.random.default_rng(1)
    index = pd.date_range("2020-01-01", periods=730, freq="D")
    P = np.where(rng.random(730) < 0.3, rng.gamma(2.0, 6.0, 730), 0.0)
    E = 3.0 + np.sin(np.arange(730) * 2 * np.pi / 365)
    truth = {"production_capacity_mm": 320.0, "routing_capacity_mm": 80.0, "exchange_mm": 0.0,
             "unit_hydrograph_steps": 2.0, "interception_capacity_mm": 0.0}
    Q = simulate_lumped(P, E, truth, 86400.0)
    kw = dict(parameters=("production_capacity_mm", "routing_capacity_mm"), fixed={"unit_hydrograph_steps": 2.0},
              calibration=("2020-03-01", "2021-12-30"), seed=4, maxiter=8, popsize=6)
    serial = calibrate(P, E, Q, index, evaluate=lambda f, xs: [f(x) for x in xs], **kw)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, Client(lc) as client:
        on_cluster = client_map(client)
        trials: list[int] = []

        def evaluate(f, xs):
            trials.append(len(xs))
            return on_cluster(f, xs)

        dist = calibrate(P, E, Q, index, evaluate=evaluate, **kw)
    # every trial went to the cluster (an ignored ``evaluate`` would compare the serial run with itself)
    assert trials and sum(trials) == dist.n_evaluations
    assert dist.parameters == serial.parameters
    assert dist.n_evaluations == serial.n_evaluations
    # and the calibration finds the truth it was generated from
    assert serial.parameters["production_capacity_mm"] == pytest.approx(320.0, rel=0.1)


def test_local_cluster_starts_when_the_default_dashboard_port_is_taken():
    """`--workers N` while another dask cluster (or a notebook's dashboard) holds port 8787: distributed warned
    "Port 8787 is already in use" (an error under -W error, and two test runs on one machine failed on it); the
    dashboard now takes a free port."""
    import socket
    import warnings

    from hydro.forecast.parallel import cluster

    holder = socket.socket()
    try:
        holder.bind(("0.0.0.0", 8787))
        holder.listen()
    except OSError:
        pass  # already taken by someone else: the case under test all the same
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with cluster(workers=1) as (client, _):
                assert client is not None
                assert client.submit(sum, [1, 2, 3]).result() == 6
    finally:
        holder.close()

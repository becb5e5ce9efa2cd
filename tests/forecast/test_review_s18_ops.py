"""Operations review (s18): the `latest` link repaired by an "already done" rerun, `--workers N` starts a
LocalCluster, an unreachable dask scheduler is retry-later (75), the run id does not depend on where members run,
and a `.partial` folder of another pid namespace is kept."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hydro.config import load_config
from hydro.errors import InputNotReadyError
from hydro.forecast import nightly, stages
from hydro.forecast.stages import RunFolder
from tests.forecast.conftest import make_project

T24, T25 = "2025-08-24T00:00Z", "2025-08-25T00:00Z"


def test_already_done_rerun_repairs_a_latest_link_left_at_an_older_night(tmp_path, monkeypatch):
    """A run killed between its publish and the `latest` update left the link at the previous night; its rerun said
    "already done" and left it there until the next night."""
    cfg = load_config(make_project(tmp_path / "p"))
    out = tmp_path / "out"
    region = out / "balikpapan"
    r24 = nightly.run_forecast(cfg, T24, output_root=out)
    assert os.readlink(region / "latest") == r24.run_id
    orig = nightly._update_latest

    def killed(*args, **kwargs):
        raise SystemExit("killed after the publish")

    monkeypatch.setattr(nightly, "_update_latest", killed)
    with pytest.raises(SystemExit):
        nightly.run_forecast(cfg, T25, output_root=out)
    assert os.readlink(region / "latest") == r24.run_id  # the kill happened before the link moved
    monkeypatch.setattr(nightly, "_update_latest", orig)
    r25 = nightly.run_forecast(cfg, T25, output_root=out)
    assert r25.already_done
    assert os.readlink(region / "latest") == r25.run_id


def _cli_forecast(tmp_path, monkeypatch, args, *, cluster_error=None):
    """`hydro forecast` with the cluster and the forecast replaced by recorders; returns (exit code, cluster args)."""
    from hydro import cli
    from hydro.forecast import parallel

    seen = {}

    @contextlib.contextmanager
    def fake_cluster(scheduler=None, workers=None):
        seen["cluster"] = (scheduler, workers)
        if cluster_error is not None:
            raise cluster_error
        yield None, "threads"

    def fake_run(*a, **k):
        raise InputNotReadyError("not yet")

    monkeypatch.setattr(parallel, "cluster", fake_cluster)
    monkeypatch.setattr(nightly, "run_forecast", fake_run)
    monkeypatch.setattr(cli, "_precompile_terrain_in_background", lambda: None)
    cfg = make_project(tmp_path / "p")
    res = CliRunner().invoke(cli.cli, ["forecast", str(cfg), "-t", T25, "--output-root", str(tmp_path / "o"), *args])
    return res.exit_code, seen.get("cluster")


def test_workers_alone_starts_a_local_cluster(tmp_path, monkeypatch):
    """README/operations.md: `--workers N` runs the members on a LocalCluster; with the default
    compute.scheduler = "threads" the flag was ignored (members ran in threads)."""
    code, (scheduler, workers) = _cli_forecast(tmp_path, monkeypatch, ["--workers", "2"])
    assert code == 75
    assert (scheduler, workers) == ("local-cluster", 2)
    # an explicit --scheduler still wins, and no flag keeps the config's scheduler
    assert _cli_forecast(tmp_path / "b", monkeypatch, ["--scheduler", "synchronous"])[1] == ("synchronous", None)
    assert _cli_forecast(tmp_path / "c", monkeypatch, [])[1] == ("threads", None)


def test_unreachable_scheduler_is_retry_later(monkeypatch):
    """A dask scheduler that is down or restarting was ResourceError (65, "bad input data": a person needed)."""
    import distributed

    from hydro.forecast.parallel import cluster

    def refused(*args, **kwargs):
        raise OSError("Timed out trying to connect to tcp://127.0.0.1:9 after 20 s")

    monkeypatch.setattr(distributed, "Client", refused)
    with pytest.raises(InputNotReadyError, match="cannot reach the dask scheduler"):
        with cluster("tcp://127.0.0.1:9"):
            pass


def test_cli_exit_code_of_an_unreachable_scheduler_is_75(tmp_path, monkeypatch):
    import distributed

    from hydro import cli

    def refused(*args, **kwargs):
        raise OSError("Timed out trying to connect")

    monkeypatch.setattr(distributed, "Client", refused)
    monkeypatch.setattr(cli, "_precompile_terrain_in_background", lambda: None)
    cfg = make_project(tmp_path / "p")
    res = CliRunner().invoke(cli.cli, ["forecast", str(cfg), "-t", T25, "--output-root", str(tmp_path / "o"),
                                       "--scheduler", "tcp://127.0.0.1:9"])
    assert res.exit_code == 75, res.output


def test_run_id_does_not_depend_on_where_members_run(tmp_path):
    """Moving the members to a LocalCluster ([compute]) or a longer lock timeout is no new run: the completed
    night stays "already done" (it was redone under a new id)."""
    cfg_path = make_project(tmp_path / "p")
    base = load_config(cfg_path)
    text = cfg_path.read_text().replace("[forecast]\n", "[forecast]\nlock_timeout_s = 60.0\n", 1)
    other = cfg_path.with_name("cluster.toml")
    other.write_text(text + '\n[compute]\nscheduler = "local-cluster"\nworkers = 2\n')
    moved = load_config(other)
    assert moved.compute.scheduler == "local-cluster" and moved.forecast.lock_timeout_s == 60.0
    h = {"forcing": "a"}
    assert nightly.forecast_run_id(moved, T25, h) == nightly.forecast_run_id(base, T25, h)
    # a setting that changes the results still changes the id
    wet = base.model_copy(update={"forecast": base.forecast.model_copy(update={"lead_time_h": 24.0})})
    assert nightly.forecast_run_id(wet, T25, h) != nightly.forecast_run_id(base, T25, h)
    from hydro.forecast.pipeline import run_id_for

    assert run_id_for(moved) == run_id_for(base)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.skipif(not Path("/proc/self/ns/pid").exists(), reason="needs /proc pid namespaces")
def test_partial_folder_of_another_pid_namespace_is_kept(tmp_path):
    """Two containers sharing the host name (`--network host`) each see only their own pids: a live run's
    `.partial` folder in the other container looked abandoned and was deleted under it."""
    host = socket.gethostname()
    live_elsewhere = tmp_path / "other.partial"
    live_elsewhere.mkdir()
    (live_elsewhere / stages.OWNER_FILE).write_text(json.dumps(
        {"host": host, "pid": _dead_pid(), "start": "1", "pidns": "pid:[1]"}))
    dead_here = tmp_path / "dead.partial"
    dead_here.mkdir()
    (dead_here / stages.OWNER_FILE).write_text(json.dumps(
        {"host": host, "pid": _dead_pid(), "start": "1", "pidns": os.readlink("/proc/self/ns/pid")}))
    part = RunFolder(tmp_path, "r").create()
    assert live_elsewhere.exists()
    assert not dead_here.exists()
    assert json.loads((part / stages.OWNER_FILE).read_text())["pidns"] == os.readlink("/proc/self/ns/pid")

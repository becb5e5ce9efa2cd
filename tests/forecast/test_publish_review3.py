"""Publishing a --force rerun never takes down the complete run: an atomic swap where the system has one, else a
rename that is undone on failure; a half-done swap left by a dead process is repaired by the next run."""
from __future__ import annotations

import json
import os

import pytest

from hydro.errors import OutputError
from hydro.forecast import stages
from hydro.forecast.stages import RunFolder


def _complete(folder: RunFolder, text: str) -> None:
    part = folder.create()
    (part / "data.txt").write_text(text)
    folder.add("data", part / "data.txt")
    folder.publish({"kind": "run"})


def _data(folder: RunFolder) -> str:
    return (folder.final / "data.txt").read_text()


@pytest.mark.parametrize("atomic", [True, False])
def test_force_publish_replaces_the_run(tmp_path, monkeypatch, atomic):
    if not atomic:
        monkeypatch.setattr(stages, "_exchange_paths", lambda a, b: False)
    folder = RunFolder(tmp_path, "r1")
    _complete(folder, "old")
    _complete(RunFolder(tmp_path, "r1"), "new")
    assert _data(folder) == "new"
    assert json.loads((folder.final / "manifest.json").read_text())["status"] == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r1"]  # no .partial, no .old-*


def test_a_failed_second_rename_puts_the_complete_run_back(tmp_path, monkeypatch):
    """The old code moved the complete run aside, failed to move the new one in, and deleted the new one: the run
    survived only as r1.old-<pid> and `latest` dangled."""
    monkeypatch.setattr(stages, "_exchange_paths", lambda a, b: False)
    folder = RunFolder(tmp_path, "r1")
    _complete(folder, "old")
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append((str(src), str(dst)))
        if str(src).endswith("r1.partial") and str(dst).endswith("r1"):
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(stages.os, "replace", flaky)
    with pytest.raises(OutputError, match="cannot publish"):
        _complete(RunFolder(tmp_path, "r1"), "new")
    monkeypatch.setattr(stages.os, "replace", real)
    assert _data(folder) == "old"
    assert not list(tmp_path.glob("r1.old-*"))


def test_a_half_done_swap_is_repaired_by_the_next_run(tmp_path):
    """A process killed between the two renames leaves only r1.old-<pid>: the next run of that id puts it back (or,
    with a complete r1 present, removes it)."""
    folder = RunFolder(tmp_path, "r1")
    _complete(folder, "old")
    os.replace(folder.final, tmp_path / "r1.old-12345")
    RunFolder(tmp_path, "r1").create()
    assert _data(folder) == "old" and not list(tmp_path.glob("r1.old-*"))
    (tmp_path / "r1.old-999").mkdir()
    RunFolder(tmp_path, "r1").create()
    assert not list(tmp_path.glob("r1.old-*")) and _data(folder) == "old"


def test_a_state_that_vanished_before_loading_is_skipped_not_fatal(tmp_path, monkeypatch):
    """A --force of last night can replace its folder between find_states and load_state: that candidate is skipped
    and the next is tried (it was exit 66)."""
    import pandas as pd

    from hydro.config import load_config
    from hydro.forecast import nightly
    from tests.forecast.conftest import make_project

    cfg_path = make_project(tmp_path / "proj")
    out = tmp_path / "out"
    first = nightly.run_forecast(load_config(cfg_path), pd.Timestamp("2025-08-24"), output_root=out)
    real = nightly.find_states

    def with_ghost(region_root, T, max_age, rejected=None):
        found = real(region_root, T, max_age, rejected)
        assert found, "the 24 Aug run saved states"
        vt, path, run_id = found[0]
        return [(vt, path.with_name("vanished_" + path.name), run_id)] + found

    monkeypatch.setattr(nightly, "find_states", with_ghost)
    second = nightly.run_forecast(load_config(cfg_path), pd.Timestamp("2025-08-25"), output_root=out)
    ws = second.manifest["warm_start"]
    assert ws["level"] in (1, 2) and ws["state_run_id"] == first.run_id, ws
    assert len(ws["skipped"]) == 1 and ws["skipped"][0].startswith("vanished_"), ws


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_partial_folders_of_dead_runs_with_other_ids_are_removed(tmp_path):
    """A night killed half-way leaves `<id>.partial`; a later run of another id (other inputs) used to leave it for
    ever. It is removed when its owner died on this host; a live run's folder, a folder of another host and a
    folder without an owner record are kept."""
    import socket

    def partial(run_id, owner):
        d = tmp_path / f"{run_id}.partial"
        d.mkdir()
        (d / "big.nc").write_bytes(b"x" * 100)
        if owner is not None:
            (d / stages.OWNER_FILE).write_text(json.dumps(owner))
        return d

    host = socket.gethostname()
    dead = partial("dead", {"host": host, "pid": _dead_pid(), "start": "1"})
    reused = partial("reused", {"host": host, "pid": os.getpid(), "start": "not-my-start-time"})
    alive = partial("alive", {"host": host, "pid": os.getpid(), "start": stages._process_start(os.getpid())})
    remote = partial("remote", {"host": host + "-elsewhere", "pid": _dead_pid(), "start": "1"})
    unknown = partial("unknown", None)
    folder = RunFolder(tmp_path, "r2")
    part = folder.create()
    assert not dead.exists() and not reused.exists()
    assert alive.exists() and remote.exists() and unknown.exists()
    # the new folder records its owner while it works; the published run does not keep the record
    owner = json.loads((part / stages.OWNER_FILE).read_text())
    assert owner["pid"] == os.getpid() and owner["host"] == host
    assert not stages._abandoned(part)
    (part / "data.txt").write_text("x")
    folder.add("data", part / "data.txt")
    folder.publish({"kind": "run"})
    assert sorted(p.name for p in folder.final.iterdir()) == ["data.txt", "manifest.json"]


def test_process_start_identifies_live_and_dead_processes():
    assert stages._process_start(os.getpid()) not in (None,)
    assert stages._process_start(_dead_pid()) is None

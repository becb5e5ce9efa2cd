"""Leftovers of killed runs are repaired under the run id's lock before the "already done" check: a killed
``--force`` rerun's ``.partial`` folder and ``.old-*`` copies no longer stay beside a complete run for ever, and a
publish killed between its two renames (the only complete copy at ``<id>.old-<pid>``) is put back instead of being
computed again."""
from __future__ import annotations

import json
import shutil

import pytest

from hydro.config import load_config
from hydro.forecast.nightly import run_forecast
from hydro.forecast.pipeline import run_model
from hydro.forecast.stages import RunFolder
from tests.forecast.conftest import make_project


def _complete(folder: RunFolder, text: str = "x") -> None:
    """A complete run folder with one output (manifest written by publish)."""
    folder.create()
    out = folder.partial / "a.txt"
    out.write_text(text)
    folder.add("a", out)
    folder.publish({})


def test_recover_removes_own_stale_partial_and_old_copies(tmp_path):
    f = RunFolder(tmp_path, "r1")
    _complete(f)
    (f.partial / "half.nc").parent.mkdir()
    (f.partial / "half.nc").write_text("half-written")
    old = tmp_path / "r1.old-4242"
    shutil.copytree(f.final, old)
    other = tmp_path / "r2.partial"  # another run id's folder is not this run's business here
    other.mkdir()
    f.recover()
    assert not f.partial.exists() and not old.exists()
    assert other.exists()
    assert (f.final / "a.txt").read_text() == "x"


def test_recover_restores_a_publish_killed_between_renames(tmp_path):
    f = RunFolder(tmp_path, "r1")
    _complete(f, "complete run")
    old = tmp_path / "r1.old-777"
    f.final.rename(old)  # killed after final -> old, before partial -> final
    f.recover()
    assert (f.final / "a.txt").read_text() == "complete run"
    assert not old.exists()
    assert json.loads((f.final / "manifest.json").read_text())["status"] == "complete"


def test_recover_keeps_partial_when_no_complete_run(tmp_path):
    f = RunFolder(tmp_path, "r1")
    f.partial.mkdir(parents=True)
    (f.partial / "x").write_text("1")
    broken_old = tmp_path / "r1.old-5"  # incomplete copy (no manifest): never published as the run
    broken_old.mkdir()
    f.recover()
    assert not f.final.exists()
    assert (f.partial / "x").exists()  # create() decides about it when the run starts


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    root = tmp_path_factory.mktemp("recover")
    cfg = load_config(make_project(root / "proj"))
    out = root / "outputs"
    r = run_forecast(cfg, "2025-08-24T00:00Z", output_root=out)
    return cfg, out, r


def test_nightly_already_done_removes_a_killed_force_rerun(night):
    cfg, out, r = night
    stale = r.run_dir.parent / f"{r.run_id}.partial"
    stale.mkdir()
    (stale / "run_gauges.nc").write_text("half")
    again = run_forecast(cfg, "2025-08-24T00:00Z", output_root=out)
    assert again.already_done
    assert not stale.exists()


def test_nightly_restores_instead_of_recomputing(night):
    cfg, out, r = night
    before = {p.relative_to(r.run_dir): p.read_bytes() for p in r.run_dir.rglob("*") if p.is_file()}
    old = r.run_dir.parent / f"{r.run_id}.old-31337"
    r.run_dir.rename(old)
    again = run_forecast(cfg, "2025-08-24T00:00Z", output_root=out)
    assert again.already_done  # put back, not computed again
    assert {p.relative_to(r.run_dir): p.read_bytes() for p in r.run_dir.rglob("*") if p.is_file()} == before
    assert not old.exists()


def test_hydro_run_already_done_removes_a_killed_force_rerun(tmp_path):
    cfg = load_config(make_project(tmp_path / "proj"))
    first = run_model(cfg, output_root=tmp_path / "out")
    stale = first.run_dir.parent / f"{first.run_id}.partial"
    stale.mkdir()
    (stale / "junk").write_text("1")
    again = run_model(cfg, output_root=tmp_path / "out")
    assert again.manifest.get("already_done")
    assert not stale.exists()

"""`hydro validate-config` rejects what `hydro run`/`hydro forecast` reject before reading data; a forcing-path
typo is exit 78 (not 75, retried forever); a `hydro run` that cannot get its lock is exit 73."""
from __future__ import annotations

import fcntl
import os

import pytest
from click.testing import CliRunner

from hydro.cli import cli
from tests.forecast.conftest import make_project

GOOD = "balikpapan_rain_{reference_time:%Y%m%dT%H%MZ}.nc"


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _error_lines(result) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.startswith("hydro: error:")]


def test_validate_config_accepts_the_project_config(tmp_path):
    cfg = make_project(tmp_path / "p", allocation=True)
    result = _invoke("validate-config", str(cfg))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"{cfg}: ok"


@pytest.mark.parametrize("old,new,pattern", [
    (GOOD, "balikpapan_rain_{referenc_time:%Y%m%dT%H%MZ}.nc", r"forecast\.forcing\.path.*unknown placeholder \{referenc_time"),
    (GOOD, "balikpapan_rain_{reference_time:%Y%m%dT%H%q}.nc", r"forecast\.forcing\.path.*unknown strftime directive.*%q"),
    ("lead_time_h = 48.0", "lead_time_h = 1.5", r"forecast\.lead_time_h = 1\.5 h is not a multiple of routing\.output_step"),
    ('path = "../inputs/forcing/', 'path = "../../../elsewhere/', r"forecast\.forcing\.path = .*outside the project"),
], ids=["placeholder-name", "placeholder-format", "lead-time", "path-outside-project"])
def test_validate_config_rejects_what_run_rejects(tmp_path, old, new, pattern):
    import re

    cfg = make_project(tmp_path / "p")
    text = cfg.read_text()
    assert old in text
    cfg.write_text(text.replace(old, new, 1))
    result = _invoke("validate-config", str(cfg))
    assert result.exit_code == 78, (result.exit_code, result.stdout, result.stderr)
    lines = _error_lines(result)
    assert len(lines) == 1 and str(cfg) in lines[0], result.stderr
    assert re.search(pattern, result.stderr), result.stderr
    # the forecast stops with the same configuration error, before writing anything
    out = tmp_path / "out"
    fc = _invoke("forecast", str(cfg), "-t", "2025-08-25T00:00Z", "--output-root", str(out))
    assert fc.exit_code == 78, (fc.exit_code, fc.stderr)  # old code: 75 for the placeholder typos
    assert re.search(pattern, fc.stderr), fc.stderr
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file() and ".locks" not in p.parts]


def test_hydro_run_lock_timeout_is_exit_73(tmp_path):
    cfg = make_project(tmp_path / "p")
    cfg.write_text(cfg.read_text().replace("spinup_days = 2.0", "spinup_days = 2.0\nlock_timeout_s = 0.3"))
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)  # `hydro run` locks its output root
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = _invoke("run", str(cfg), "--output-root", str(out))
    finally:
        os.close(fd)
    assert result.exit_code == 73, (result.exit_code, result.stderr)
    lines = _error_lines(result)
    assert len(lines) == 1 and "holds this lock" in lines[0] and str(out) in lines[0]
    assert list(out.iterdir()) == []  # nothing started


def test_outputs_directory_in_the_cli_is_relative_to_the_project(tmp_path, monkeypatch):
    """`hydro run` without --output-root, started from another folder, writes under the project's outputs/."""
    import json

    cfg = make_project(tmp_path / "p")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = _invoke("run", str(cfg))
    assert result.exit_code == 0, result.stderr
    assert not any(elsewhere.iterdir())  # old code: elsewhere/outputs/<run id>/
    runs = [d for d in (tmp_path / "p" / "outputs").iterdir() if not d.name.startswith(".")]
    assert len(runs) == 1
    man = json.loads((runs[0] / "manifest.json").read_text())
    assert man["status"] == "complete" and man["run_id"] == runs[0].name

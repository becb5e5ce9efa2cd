"""A run whose water balance does not close is published but exits 3 (`hydro.errors.EXIT_BALANCE_NOT_CLOSED`), also
when rerun ("already done"); a closed run exits 0. A nightly scheduler sees the lost water, not a success."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import hydro.forecast.pipeline as pipeline
from hydro.cli import cli
from hydro.errors import EXIT_BALANCE_NOT_CLOSED
from tests.forecast.conftest import make_project


@pytest.fixture
def leaky_balance(monkeypatch):
    """Every run gets one process that lost 1 m3 of 1000 (relative 1e-3, far above the 1e-6 tolerance)."""
    real = pipeline.summarise_balances

    def leaky(balances, *args, **kwargs):
        balances = dict(balances, leaky_process=pipeline._closure({"rain": 1000.0}, {"outflow": 900.0}, 99.0))
        return real(balances, *args, **kwargs)

    monkeypatch.setattr(pipeline, "summarise_balances", leaky)


def _manifest(run_dir: str) -> dict:
    return json.loads((Path(run_dir) / "manifest.json").read_text())


def _run_dir(stdout: str) -> str:
    return stdout.splitlines()[0].rsplit("-> ", 1)[1].strip()


def test_run_with_an_open_balance_exits_3_and_keeps_its_outputs(tmp_path, leaky_balance):
    assert EXIT_BALANCE_NOT_CLOSED == 3
    cfg = make_project(tmp_path / "p")
    out = tmp_path / "out"
    first = CliRunner().invoke(cli, ["run", str(cfg), "--output-root", str(out)])
    assert first.exit_code == 3, (first.exit_code, first.stdout, first.stderr)
    assert "water balance does not close" in first.stderr and "process leaky_process" in first.stderr
    run_dir = _run_dir(first.stdout)
    manifest = _manifest(run_dir)
    assert manifest["water_balance_closed"] is False and manifest["exit_code"] == 3
    wb = json.loads((Path(run_dir) / "water_balance.json").read_text())
    assert wb["not_closed"] == ["process leaky_process"]
    alerts = json.loads((Path(run_dir) / "alerts.json").read_text())
    assert any(a["type"] == "water_balance" and a["level"] == 2 for a in alerts["alerts"])
    # the same run again: already done, the same code (a retry cannot close the balance)
    again = CliRunner().invoke(cli, ["run", str(cfg), "--output-root", str(out)])
    assert again.exit_code == 3 and "already done" in again.stdout, (again.exit_code, again.stdout, again.stderr)


def test_forecast_with_an_open_balance_exits_3(tmp_path, leaky_balance):
    cfg = make_project(tmp_path / "p")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["forecast", str(cfg), "-t", "2025-08-25T00:00Z", "--output-root", str(out)])
    assert result.exit_code == 3, (result.exit_code, result.stdout, result.stderr)
    manifest = _manifest(_run_dir(result.stdout))
    assert manifest["kind"] == "forecast" and manifest["exit_code"] == 3
    assert manifest["water_balance_closed"] is False


def test_run_with_a_closed_balance_exits_0(tmp_path):
    cfg = make_project(tmp_path / "p")
    result = CliRunner().invoke(cli, ["run", str(cfg), "--output-root", str(tmp_path / "out")])
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    manifest = _manifest(_run_dir(result.stdout))
    assert manifest["water_balance_closed"] is True and manifest["exit_code"] == 0


def test_background_compile_process_is_kept_referenced(monkeypatch):
    """With a cold numba cache `hydro run` starts a compile process; its Popen was dropped while running, and the
    ResourceWarning of its collection failed the first CLI test of a fresh clone (warnings are errors here)."""
    import gc

    from hydro import cli as cli_module
    from hydro.terrain import _kernels

    monkeypatch.setattr(_kernels, "cache_is_warm", lambda: False)
    monkeypatch.setattr(cli_module, "_BACKGROUND", [])
    cli_module._precompile_terrain_in_background()
    cli_module._precompile_terrain_in_background()  # one at a time
    try:
        gc.collect()
        assert len(cli_module._BACKGROUND) == 1 and cli_module._BACKGROUND[0].poll() is None
    finally:
        for proc in cli_module._BACKGROUND:
            proc.kill()
            proc.wait()

"""CLI error contract review (session 23, exit codes): `hydro flood`, `hydro forecast --members` and the ensemble of
`hydro forecast` against README "Exit codes" / docs/operations.md: one line `hydro: error: ...` on stderr, the
documented code (73 output cannot be written, 78 invalid configuration), never a traceback (exit 1 = a bug).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import hydro
from hydro.cli import cli

REPO = Path(hydro.__file__).resolve().parents[1]  # the tree holding hydro/, models/ and inputs/


def invoke(*args) -> tuple[int, str, BaseException | None]:
    res = CliRunner().invoke(cli, [str(a) for a in args])
    exc = None if res.exception is None or isinstance(res.exception, SystemExit) else res.exception
    return res.exit_code, res.output, exc


def error_line(output: str) -> str:
    """The one `hydro: error:` line (warnings logged before it are allowed; no traceback)."""
    lines = [ln for ln in output.strip().splitlines() if ln.strip() and not ln.startswith("WARNING ")]
    assert len(lines) == 1, output
    assert lines[0].startswith("hydro: error: "), output
    return lines[0]


def make_project(root: Path, *, resolution_m: float = 150.0, forecast_forcing: str | None = "keep") -> Path:
    """``root/models/small.toml`` (the embedded Balikpapan model at ``resolution_m``, no flood / allocation stage)
    + ``root/inputs/forcing``; ``forecast_forcing=None`` drops the ``[forecast] forcing`` line (design storm),
    another string replaces that line. Copied from tests/forecast/conftest.py."""
    (root / "models").mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "inputs" / "forcing", root / "inputs" / "forcing", dirs_exist_ok=True)
    text = (REPO / "models" / "balikpapan.toml").read_text()
    text = re.sub(r"resolution_m = [0-9.]+", f"resolution_m = {resolution_m}", text)
    text = text.replace("[flood]\nenabled = true", "[flood]\nenabled = false")
    text = text.replace("[allocation]\nenabled = true", "[allocation]\nenabled = false")
    text = text.replace("[outputs]\n", "[outputs]\nreport = false\n")
    if forecast_forcing != "keep":
        text, n = re.subn(r"(?m)^forcing = \{ source = \"netcdf\".*$", forecast_forcing or "", text)
        assert n == 1
    cfg = root / "models" / "small.toml"
    cfg.write_text(text)
    return cfg


# ------------------------------------------------------------------------------------------ hydro flood
def test_flood_output_dir_that_cannot_be_created_is_exit_73(tmp_path):
    """`hydro flood --output-dir X/sub` with X a file: NotADirectoryError traceback, exit 1 ("a bug"), after the
    whole 2-D run; README: 73 "an output cannot be written", one line."""
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, output, exc = invoke("flood", "--resolution-m", "1000", "--duration-h", "1",
                               "--output-dir", blocker / "sub")
    assert exc is None, repr(exc)
    assert code == 73, output
    line = error_line(output)
    assert "cannot create output directory" in line and str(blocker / "sub") in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing else written


# ------------------------------------------------------------------------------------------ hydro forecast --members
def test_forecast_members_beyond_the_config_bound_is_exit_78(tmp_path):
    """`--members` overrides `ensemble.members`, whose bound is 0 … 200: `members = 201` in the file is exit 78 in
    validate-config, but `--members 201` bypassed the bound (model_copy does not validate) and, with a design-storm
    forecast, every member re-validated the configuration: a pydantic ValidationError traceback (exit 1) after the
    control run. Expected: 78 before any data is read, nothing written."""
    cfg = make_project(tmp_path / "proj", forecast_forcing=None)
    # the same value in the configuration file: 78 (the reference for the option)
    in_file = cfg.with_name("in_file.toml")
    in_file.write_text(cfg.read_text().replace("[ensemble]\nmembers = 0", "[ensemble]\nmembers = 201"))
    code, output, exc = invoke("validate-config", in_file)
    assert exc is None and code == 78, output
    out = tmp_path / "out"
    code, output, exc = invoke("forecast", cfg, "-t", "2025-08-25T00:00Z", "--output-root", out, "--members", "201")
    assert exc is None, repr(exc)
    assert code == 78, output
    line = error_line(output)
    assert "--members 201" in line and "200" in line
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_dir() and p.name.startswith("balikpapan_")]
    # the bound itself is kept: 200 is allowed by the option check (not run here), -1 is refused as before
    code, output, exc = invoke("forecast", cfg, "-t", "2025-08-25T00:00Z", "--output-root", out, "--members", "-1")
    assert exc is None and code == 78 and "--members must be >= 0, got -1" in output


# ------------------------------------------------------------------------------------------ ensemble members
def test_ensemble_forecast_validates_the_config_it_was_given(tmp_path):
    """`[forecast] forcing = {..., duration_h = 1.5}`: validate-config ok and the deterministic forecast runs (the
    [forcing] run-length check of `hydro run` is on [forcing], 24 h), but each ensemble member re-validated the
    config with [forecast] forcing put in place of [forcing]: "forcing.duration_h = 1.5 h (the run length of hydro
    run) is not a multiple of routing.output_step" as a pydantic traceback, exit 1, the run discarded.
    Expected: the same config that passed validate-config runs its ensemble (exit 0)."""
    line = ('forcing = { source = "netcdf", path = "../inputs/forcing/balikpapan_rain_{reference_time:%Y%m%dT%H%MZ}.nc", '
            'variable = "precipitation", pet_mm_day = 4.0, duration_h = 1.5 }')
    cfg = make_project(tmp_path / "proj", forecast_forcing=line)
    code, output, exc = invoke("validate-config", cfg)
    assert exc is None and code == 0, output
    out = tmp_path / "out"
    code, output, exc = invoke("forecast", cfg, "-t", "2025-08-25T00:00Z", "--output-root", out, "--members", "2")
    assert exc is None, repr(exc)
    assert code == 0, output
    runs = [p for p in (out / "balikpapan").iterdir() if p.name.startswith("balikpapan_2025")]
    assert len(runs) == 1 and not runs[0].name.endswith(".partial")
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    # two members: two member gauge files (member_###_gauges.nc), numbered by the file's realization 0, 1
    members = sorted(p.name for p in runs[0].rglob("member_*_gauges.nc"))
    assert len(members) == 2, members


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-q"]))

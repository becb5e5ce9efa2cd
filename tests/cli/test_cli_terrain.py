"""The hydro CLI as a user runs it: outputs, one-line errors, exit codes, nothing half-written."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

REPO = Path(__file__).resolve().parents[2]


def hydro(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hydro.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_help_lists_commands():
    out = hydro("--help")
    assert out.returncode == 0
    for cmd in ("terrain", "run", "validate-config"):
        assert cmd in out.stdout
    assert "78" in out.stdout  # exit codes documented


def test_terrain_command_writes_a_georeferenced_file(tmp_path, shared_dem):
    dem = shared_dem("pysheds_dem_fortworth_3s.tif")
    out = hydro("terrain", str(dem), "-o", str(tmp_path / "t.nc"), "--stream-threshold-km2", "2")
    assert out.returncode == 0, out.stderr
    with xr.open_dataset(tmp_path / "t.nc", decode_coords="all") as ds:
        assert set(ds.data_vars) >= {"filled_elevation", "flow_direction", "upstream_area", "streams", "hand"}
        assert ds.streams.attrs["threshold_m2"] == 2e6
        assert ds.rio.crs.to_epsg() == 4326


@pytest.mark.parametrize(
    "content, code, message",
    [
        (None, 66, "not found"),
        (b"GIF89a not a dem", 65, "not a readable raster"),
    ],
)
def test_terrain_bad_input_exit_codes(tmp_path, content, code, message):
    dem = tmp_path / "dem.tif"
    if content is not None:
        dem.write_bytes(content)
    out = hydro("terrain", str(dem), "-o", str(tmp_path / "t.nc"))
    assert out.returncode == code
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert not (tmp_path / "t.nc").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "dem.tif"] == []


def test_config_typo_is_exit_78_naming_key_and_line(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text('region = "x"\n\n[terrain]\nstream_treshold_km2 = 1.0\n')
    out = hydro("validate-config", str(cfg))
    assert out.returncode == 78
    assert f"{cfg}:4" in out.stderr and "stream_treshold_km2" in out.stderr and "stream_threshold_km2" in out.stderr


def test_run_embedded_model_is_atomic_and_idempotent(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text(
        'region = "test"\n[dem]\nsource = "embedded"\nresolution_m = 150.0\n[terrain]\nstream_threshold_km2 = 1.0\n'
        f'[outputs]\ndirectory = "{tmp_path / "out"}"\n'
    )
    first = hydro("run", str(cfg))
    assert first.returncode == 0, first.stderr
    runs = [p for p in (tmp_path / "out").iterdir()]
    assert len(runs) == 1 and not runs[0].name.endswith(".partial")
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert (runs[0] / manifest["outputs"]["terrain"]["path"]).exists()
    again = hydro("run", str(cfg))
    assert again.returncode == 0
    assert json.loads((runs[0] / "manifest.json").read_text()) == manifest

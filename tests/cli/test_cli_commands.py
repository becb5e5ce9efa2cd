"""The CLI commands wired to the domain modules: allocate, calibrate, flood and the full `hydro run`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import xarray as xr

REPO = Path(__file__).resolve().parents[2]


def hydro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hydro.cli", *args], capture_output=True, text=True, timeout=900)


def test_allocate_writes_dsg_files(tmp_path):
    out = hydro("allocate", str(REPO / "models" / "balikpapan_water.toml"), "-o", str(tmp_path / "water"), "--steps", "20")
    assert out.returncode == 0, out.stderr
    with xr.open_dataset(tmp_path / "water_demand.nc") as ds:
        assert ds.attrs["featureType"] == "timeSeries"
        assert ds.sizes["time"] == 20
        assert (ds["delivery"] <= ds["water_demand"] + 1e-9).all()


def test_allocate_bad_network_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.toml"
    text = (REPO / "models" / "balikpapan_water.toml").read_text()
    bad.write_text(text + '\n[[links]]\nid = "bad_link"\nfrom = "manggar"\nto = "no_such_node"\ncapacity = "1 m3/s"\n')
    out = hydro("allocate", str(bad), "-o", str(tmp_path / "x"))
    assert out.returncode in (65, 78), out.stderr
    assert "no_such_node" in out.stderr
    assert not list(tmp_path.glob("x_*"))


def test_calibrate_missing_config_is_66(tmp_path):
    out = hydro("calibrate", str(tmp_path / "none.toml"))
    assert out.returncode == 66


def test_full_run_with_flood_and_allocation(tmp_path):
    cfg = tmp_path / "bpn.toml"
    cfg.write_text(
        'region = "bpn"\n[dem]\nresolution_m = 90.0\n[terrain]\nstream_threshold_km2 = 0.5\n'
        '[flood]\nenabled = true\nduration_h = 1.0\nstorm_duration_h = 1.0\n'
        f'[allocation]\nenabled = true\nnetwork = "{REPO / "models" / "balikpapan_water.toml"}"\n'
        f'[paths]\nallowed_roots = ["{REPO}"]\n'
        f'[outputs]\ndirectory = "{tmp_path / "out"}"\nreport = false\n'
    )
    out = hydro("run", str(cfg))
    assert out.returncode == 0, out.stderr
    run_dir = next((tmp_path / "out").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    for key in ("terrain", "flood/plain_flood_max.nc", "flood/plain_extent.geojson", "allocation/water_demand.nc"):
        assert (run_dir / manifest["outputs"][key]["path"]).exists(), key
    again = hydro("run", str(cfg))
    assert "already done" in again.stdout

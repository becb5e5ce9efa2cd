"""A NetCDF input this process may not read is exit 66 ("a required input is missing or cannot be read"), as for
TOML and CSV inputs; the readers turned netCDF-C's "Permission denied" into "not a readable NetCDF file" (65). The
tests run as root (which reads any file), so the permission check is simulated with os.access."""
from __future__ import annotations

import os

import pytest

from hydro.errors import InputMissingError
from tests.cli import test_review_s22_cli as s22
from tests.cli.test_review_s22_cli import invoke, one_line

catchment_inputs = s22.catchment_inputs


def _deny(monkeypatch, name):
    real = os.access

    def access(path, mode, *a, **k):
        if os.path.basename(os.fspath(path)) == name and mode & os.R_OK:
            return False
        return real(path, mode, *a, **k)

    monkeypatch.setattr(os, "access", access)


def test_unreadable_forcing_is_66(catchment_inputs, tmp_path, monkeypatch):
    _deny(monkeypatch, "p.nc")
    code, output = invoke("run-catchment", catchment_inputs / "terrain.nc", "--precipitation",
                          catchment_inputs / "p.nc", "--outlets", "1", "--output-dir", tmp_path / "out")
    assert code == 66, output
    assert "cannot be read" in one_line(output)
    assert not (tmp_path / "out").exists()


def test_unreadable_terrain_is_66(catchment_inputs, tmp_path, monkeypatch):
    _deny(monkeypatch, "terrain.nc")
    code, output = invoke("run-catchment", catchment_inputs / "terrain.nc", "--precipitation",
                          catchment_inputs / "p.nc", "--outlets", "1", "--output-dir", tmp_path / "out")
    assert code == 66, output
    assert "cannot be read" in one_line(output)


def test_open_forcing_api(catchment_inputs, monkeypatch):
    from hydro.forcing import open_forcing

    _deny(monkeypatch, "p.nc")
    with pytest.raises(InputMissingError, match="cannot be read"):
        open_forcing(catchment_inputs / "p.nc", "precipitation")


def test_unreadable_dem_is_66(tmp_path, monkeypatch):
    """open_dem: GDAL's "Permission denied" was reported as a corrupt raster (65)."""
    import numpy as np
    from affine import Affine

    from hydro.io import open_dem
    from hydro.io.raster import from_array

    p = tmp_path / "dem.tif"
    from_array(np.ones((3, 3), np.float32), Affine(30, 0, 500000, 0, -30, 9850090), "EPSG:32750").rio.to_raster(p)
    _deny(monkeypatch, "dem.tif")
    with pytest.raises(InputMissingError, match="cannot be read"):
        open_dem(p)

"""Review s21 (documentation): commands and examples of README.md / docs/*.md checked as written.

Goes to tests/exchange/ (uses the ``run_dir`` fixture of tests/exchange/conftest.py).

README.md and docs/exchange.md §1 document exit 73 ("an output cannot be written", ``OutputError``) for
``hydro export-boundary``, and docs/flood.md §3 says the product writers are atomic and raise ``OutputError``.
When the output's folder is a *file* (``-o results/x.nc`` with ``results`` a file), the clean-up of the temporary
file raised ``NotADirectoryError`` (``unlink(missing_ok=True)`` only ignores a missing file) and hid the
``OutputError``: a raw traceback and exit 1 ("a bug") instead of one line and exit 73.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from hydro.errors import OutputError


def _exchange_ds():
    from hydro.exchange import exchange_dataset

    t = pd.date_range("2026-01-10T01:00", periods=4, freq="1h")
    q = xr.DataArray(np.array([[1.0], [2.0], [3.0], [4.0]]), dims=("time", "point"),
                     coords={"time": t, "point": ["PPU-1"]})
    return exchange_dataset(q, ["PPU-1"], [470000.0], [9870000.0], "EPSG:32750", "2026-01-10T00:00Z", "penajam",
                            run_id="r1", config_hash="abc")


def test_write_exchange_under_a_file_is_an_output_error(tmp_path):
    from hydro.exchange import write_exchange

    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="cannot"):
        write_exchange(_exchange_ds(), blocker / "penajam_20260110T0000Z_border_discharge.nc")
    assert blocker.read_text() == "not a folder"  # nothing touched
    # the same dataset written to a proper folder reads back with its values (the write path itself works)
    from hydro.exchange import read_exchange
    ok = write_exchange(_exchange_ds(), tmp_path / "ok" / "penajam_20260110T0000Z_border_discharge.nc")
    assert read_exchange(ok, "PPU-1").values.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_export_boundary_cli_exit_73_when_the_output_folder_is_a_file(run_dir, tmp_path):
    from hydro.cli import cli

    blocker = tmp_path / "exchange"
    blocker.write_text("not a folder")
    res = CliRunner().invoke(cli, ["export-boundary", str(run_dir), "-o", str(blocker / "x.nc")])
    assert res.exit_code == 73, (res.exit_code, res.output, repr(res.exception))
    assert "hydro: error: cannot" in res.output
    assert not isinstance(res.exception, NotADirectoryError)
    assert [p.name for p in tmp_path.iterdir()] == ["exchange"]


def _depth_map():
    x = 480000.0 + 10.0 * np.arange(4) + 5.0
    y = 9850000.0 - 10.0 * np.arange(3) - 5.0
    da = xr.DataArray(np.array([[0.0, 0.5, 0.2, 0.0]] * 3, dtype="float32"), dims=("y", "x"),
                      coords={"y": y, "x": x}, name="max_flood_depth", attrs={"units": "m"})
    return da.rio.write_crs("EPSG:32750")


@pytest.mark.parametrize("writer", ["write_cog", "write_extent_geojson"])
def test_flood_product_writers_under_a_file_raise_output_error(writer, tmp_path):
    import rioxarray  # noqa: F401

    import hydro.flood as hf

    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="cannot write"):
        getattr(hf, writer)(_depth_map(), blocker / "product.out")
    assert blocker.read_text() == "not a folder"

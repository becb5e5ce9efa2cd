"""A corpus of bad inputs for `hydro forecast` / `hydro run` / `hydro validate`: each gives its documented
exit code and a one-line message, and writes no output (lock files under ``.locks/`` are not outputs)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import rasterio
import xarray as xr
from click.testing import CliRunner
from rasterio.transform import from_origin

from hydro.cli import cli
from tests.forecast.conftest import make_project

T = "2025-08-25T00:00Z"
FORCING = "inputs/forcing/balikpapan_rain_20250825T0000Z.nc"


# ------------------------------------------------------------------------------------------ mutators
def _edit_config(old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def f(cfg: Path) -> None:
        text = cfg.read_text()
        assert old in text, old
        cfg.write_text(text.replace(old, new, count))
    return f


def _append(extra: str) -> Callable[[Path], None]:
    def f(cfg: Path) -> None:
        cfg.write_text(cfg.read_text() + extra)
    return f


def _forcing(transform: Callable[[xr.Dataset], xr.Dataset]) -> Callable[[Path], None]:
    def f(cfg: Path) -> None:
        path = cfg.parent.parent / FORCING
        ds = xr.load_dataset(path, decode_coords="all")
        ds = transform(ds)
        path.unlink()
        ds.to_netcdf(path)
    return f


def _forcing_bytes(make: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def f(cfg: Path) -> None:
        path = cfg.parent.parent / FORCING
        path.write_bytes(make(path.read_bytes()))
    return f


def _set(ds: xr.Dataset, **attrs) -> xr.Dataset:
    ds["precipitation"].attrs.update(attrs)
    return ds


def _drop_attr(ds: xr.Dataset, key: str) -> xr.Dataset:
    ds["precipitation"].attrs.pop(key, None)
    ds["precipitation"].encoding.pop(key, None)
    return ds


def _values(ds: xr.Dataset, fn) -> xr.Dataset:
    v = ds["precipitation"].values.copy()
    fn(v)
    ds["precipitation"].values = v
    return ds


def _dem_file(write: Callable[[Path], None], extra: str = "") -> Callable[[Path], None]:
    def f(cfg: Path) -> None:
        dem = cfg.parent.parent / "inputs" / "dem.tif"
        write(dem)
        text = cfg.read_text().replace('source = "embedded"     #', 'source = "file"\npath = "../inputs/dem.tif"' + extra + "\n#", 1)
        cfg.write_text(text)
    return f


def _tif(path: Path, data: np.ndarray, *, crs="EPSG:32750", transform=None, nodata=-9999.0) -> None:
    transform = transform or from_origin(468000, 9878000, 150, 150)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="float32", crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data.astype(np.float32), 1)


def _good_dem(path: Path, **kw) -> None:
    y, x = np.mgrid[0:200, 0:240]
    _tif(path, 10 + 0.5 * y + 0.01 * x, **kw)


def _exchange(content: Callable[[Path], None], *, point: str = "ppu_border", max_mb: float = 50.0) -> Callable[[Path], None]:
    def f(cfg: Path) -> None:
        p = cfg.parent.parent / "inputs" / "neighbour.nc"
        content(p)
        cfg.write_text(cfg.read_text() + f'\n[[exchange.inflows]]\nfile = "../inputs/neighbour.nc"\npoint = "{point}"\n'
                       f"x = 480000.0\ny = 9860000.0\nmax_mb = {max_mb}\n")
    return f


def _valid_exchange(p: Path) -> None:
    import pandas as pd

    from hydro.exchange import exchange_dataset, write_exchange

    times = pd.date_range("2025-08-22T01:00", "2025-08-27T00:00", freq="1h")
    q = xr.DataArray(np.full((times.size, 1), 3.0), dims=("time", "point"), coords={"time": times},
                     attrs={"units": "m3 s-1"})
    write_exchange(exchange_dataset(q, ["ppu_border"], [480000.0], [9860000.0], "EPSG:32750", "2025-08-22T00:00",
                                    "ppu", run_id="ppu_test"), p)


CASES: list[tuple[str, Callable[[Path], None] | None, list[str], int, str]] = [
    # --- forcing NetCDF
    ("forcing garbage bytes", _forcing_bytes(lambda b: b"this is not a netcdf file" * 40), [], 65, r"cannot open|not a valid"),
    ("forcing truncated", _forcing_bytes(lambda b: b[:1500]), [], 65, r"cannot open|truncated|HDF"),
    # a 0-byte file is a transfer that has not written yet: retry later, like a missing file (a partial one is read)
    ("forcing empty file", _forcing_bytes(lambda b: b""), [], 75, r"empty file \(0 bytes\).*retry later"),
    ("forcing unknown units", _forcing(lambda ds: _set(ds, units="furlongs")), [], 65, r"units 'furlongs'"),
    ("forcing without units", _forcing(lambda ds: _drop_attr(ds, "units")), [], 65, r"no 'units'"),
    ("forcing NaN rain", _forcing(lambda ds: _values(ds, lambda v: v.__setitem__((slice(None), 30, 5, 6), np.nan))), [], 65, r"NaN|missing"),
    ("forcing negative rain", _forcing(lambda ds: _values(ds, lambda v: v.__setitem__((slice(None), 40, 5, 6), -3.0))), [], 65, r"negative"),
    ("forcing time gap", _forcing(lambda ds: ds.drop_isel(time=[50])), [], 65, r"gap|irregular|regular"),
    ("forcing duplicate time", _forcing(lambda ds: xr.concat([ds.isel(time=slice(0, 51)), ds.isel(time=slice(50, None))], "time")), [], 65, r"duplicate|unique|sorted"),
    ("forcing variable missing", _forcing(lambda ds: ds.rename(precipitation="rain")), [], 66, r"no variable 'precipitation'"),
    ("forcing without CRS", _forcing(lambda ds: _drop_attr(ds.drop_vars("crs"), "grid_mapping")), [], 65, r"CRS|grid_mapping"),
    ("forcing elsewhere (CRS mismatch, no overlap)", _forcing(lambda ds: ds.assign_coords(x=ds.x + 5e6)), [], 65, r"cover|overlap|outside"),
    ("ensemble without realizations", _forcing(lambda ds: ds.isel(realization=0, drop=True)), ["--members", "3"], 65, r"realization"),
    # --- DEM files
    ("DEM garbage", _dem_file(lambda p: p.write_bytes(b"GARBAGE" * 100)), [], 65, r"not a|cannot|raster"),
    ("DEM truncated", _dem_file(lambda p: (_good_dem(p), p.write_bytes(p.read_bytes()[:600]))), [], 65, r"not a|cannot|truncat|raster"),
    ("DEM missing", _dem_file(lambda p: None), [], 66, r"not found|no such|missing"),
    ("DEM without CRS", _dem_file(lambda p: _good_dem(p, crs=None)), [], 65, r"no CRS"),
    ("DEM all nodata", _dem_file(lambda p: _tif(p, np.full((50, 60), -9999.0))), [], 65, r"nodata|no valid"),
    ("DEM non-square cells", _dem_file(lambda p: _good_dem(p, transform=from_origin(468000, 9878000, 150, 100))), [], 65, r"non-square"),
    # --- configuration
    ("config unknown key", _edit_config("lead_time_h =", "lead_time_hours ="), [], 78, r"lead_time_hours.*unknown key"),
    ("config bad literal", _edit_config('source = "design_storm"', 'source = "radar"'), [], 78, r"radar"),
    ("config wrong type", _edit_config("lead_time_h = 48.0", 'lead_time_h = "two days"'), [], 78, r"lead_time_h"),
    ("config negative value", _edit_config("spinup_days = 2.0", "spinup_days = -1.0"), [], 78, r"spinup_days"),
    ("config not TOML", _append("\n[forecast\nbroken = \n"), [], 78, r"not valid TOML"),
    ("config warning levels descending", _edit_config("[40.0, 80.0, 140.0]", "[140.0, 80.0]"), [], 78, r"ascending"),
    ("config duplicate gauge ids", _edit_config('id = "wain_lower"', 'id = "ampal_outlet"'), [], 78, r"unique"),
    ("config DEM path escaping the project", _edit_config('source = "embedded"     #', 'source = "file"\npath = "../../../../etc/passwd"\n#'), [], 78, r"outside the project"),
    ("config forcing path escaping the project", _edit_config('path = "../inputs/forcing/', 'path = "../../../elsewhere/'), [], 78, r"outside the project"),
    ("config lead time off the output step", _edit_config("lead_time_h = 48.0", "lead_time_h = 1.5"), [], 78, r"lead_time_h"),
    ("config region with spaces", _edit_config('region = "balikpapan"', 'region = "Kota Balikpapan"'), [], 78, r"region"),
    ("config allocation network missing", _edit_config('[allocation]\nenabled = false\nnetwork = "balikpapan_water.toml"', '[allocation]\nenabled = true\nnetwork = "nowhere.toml"'), [], 66, r"not found"),
    ("reference time garbage", None, ["-t", "yesterday-ish"], 78, r"reference time"),
    ("reference time off the model step", None, ["-t", "2025-08-25T00:10Z"], 78, r"model step"),
    ("config file missing", None, ["__missing__"], 66, r"not found"),
    # --- neighbours' exchange files
    ("exchange file garbage", _exchange(lambda p: p.write_bytes(b"\x80\x04\x95pickle-looking payload" * 50)), [], 65, r"exchange|NetCDF|HDF5"),
    ("exchange file wrong ids", _exchange(_valid_exchange, point="kukar_border"), [], 65, r"kukar_border"),
    ("exchange file over the size limit", _exchange(_valid_exchange, max_mb=0.001), [], 65, r"limit|MB"),
    ("exchange file not there yet", _exchange(lambda p: None), [], 75, r"not \(yet\) there|not there"),
    ("exchange file still empty", _exchange(lambda p: p.write_bytes(b"")), [], 75, r"empty.*0 bytes.*retry later"),
]


@pytest.mark.parametrize("name,mutate,args,code,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, name, mutate, args, code, message):
    cfg = make_project(tmp_path / "p")
    if mutate is not None:
        mutate(cfg)
    out = tmp_path / "out"
    argv = ["forecast", str(cfg), "-t", T, "--output-root", str(out)]
    if args and args[0] == "-t":
        argv[3] = args[1]
    elif args and args[0] == "__missing__":
        argv[1] = str(cfg.with_name("missing.toml"))
    else:
        argv += args
    result = CliRunner().invoke(cli, argv)
    err = result.stderr
    assert result.exit_code == code, (name, result.exit_code, err, result.exception)
    lines = [ln for ln in err.splitlines() if ln.startswith("hydro: error:")]
    assert len(lines) == 1, err
    assert re.search(message, lines[0], re.IGNORECASE), lines[0]
    written = [p for p in out.rglob("*") if p.is_file() and ".locks" not in p.parts] if out.exists() else []
    assert written == [], written


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


def test_validate_command_rejects_garbage(tmp_path):
    bad = tmp_path / "x.nc"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 65
    assert result.stdout.strip() or result.stderr.strip()

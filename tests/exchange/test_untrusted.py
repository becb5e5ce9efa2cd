"""Incoming exchange files are untrusted: each malformed file is a clear problem / one-line error."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from hydro.errors import InputDataError, InputMissingError
from hydro.exchange import read_exchange, validate_exchange, write_exchange
from hydro.exchange.validate import HDF5_SIGNATURE
from hydro.io import write_netcdf

from .conftest import good_dataset
from tests.exchange.helpers import edit_nc as _edit


class _Trap:
    """Unpickling this object would create a marker file: proves the validator never unpickles."""

    marker: Path | None = None

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _good(path: Path, members=None) -> Path:
    return write_exchange(good_dataset(members), path)


def _raw(path: Path, ds) -> Path:
    """Write without the profile check (to fabricate bad files the way a careless producer would)."""
    return write_netcdf(ds, path, attrs={"id": ds.attrs.get("id", "x")})


def f_garbage(d: Path) -> Path:
    p = d / "garbage.nc"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return p


def f_empty(d: Path) -> Path:
    p = d / "empty.nc"
    p.write_bytes(b"")
    return p


def f_truncated(d: Path) -> Path:
    good = _good(d / "good.nc")
    p = d / "truncated.nc"
    p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return p


def f_hdf5_signature_only(d: Path) -> Path:
    p = d / "signature.nc"
    p.write_bytes(HDF5_SIGNATURE + b"\x00" * 100)
    return p


def f_pickle(d: Path) -> Path:
    _Trap.marker = d / "UNPICKLED"
    p = d / "pickle.nc"
    p.write_bytes(pickle.dumps(_Trap(), protocol=4))
    return p


def f_netcdf3(d: Path) -> Path:
    p = d / "classic.nc"
    good_dataset().drop_vars(["station_id", "station_name"]).to_netcdf(p, format="NETCDF3_CLASSIC", engine="netcdf4")
    return p


def f_wrong_profile(d: Path) -> Path:
    """A valid CF DSG gauges file of hydro, but not an exchange file."""
    from hydro.io import timeseries_dataset

    ds = timeseries_dataset({"discharge": np.ones((1, 3))}, ids=["B1"], time=["2026-01-10T01", "2026-01-10T02", "2026-01-10T03"],
                            lat=[-1.2], lon=[116.9])
    return write_netcdf(ds, d / "gauges.nc")


def f_newer_major(d: Path) -> Path:
    return _edit(_good(d / "v2.nc"), lambda nc: nc.setncattr("hydro_exchange_profile", "hydro-exchange-2.0"))


def f_wrong_units(d: Path) -> Path:
    return _edit(_good(d / "units.nc"), lambda nc: setattr(nc["discharge"], "units", "mm"))


def f_duplicate_times(d: Path) -> Path:
    def fn(nc):
        t = nc["time"][:]
        t[5] = t[4]
        nc["time"][:] = t
    return _edit(_good(d / "dup.nc"), fn)


def f_unsorted_times(d: Path) -> Path:
    def fn(nc):
        t = nc["time"][:]
        t[[4, 5]] = t[[5, 4]]
        nc["time"][:] = t
    return _edit(_good(d / "unsorted.nc"), fn)


def f_gap(d: Path) -> Path:
    ds = good_dataset()
    ds = ds.isel(time=[i for i in range(24) if i not in (10, 11)])
    return _raw(d / "gap.nc", ds)


def f_nan(d: Path) -> Path:
    def fn(nc):
        q = nc["discharge"][:]
        q[1, 7] = nc["discharge"]._FillValue  # a fill value inside the coverage
        nc["discharge"][:] = q
    return _edit(_good(d / "nan.nc"), fn)


def f_negative(d: Path) -> Path:
    def fn(nc):
        q = nc["discharge"][:]
        q[0, 3] = -2.5
        nc["discharge"][:] = q
    return _edit(_good(d / "negative.nc"), fn)


def f_no_reference_time(d: Path) -> Path:
    ds = good_dataset().drop_vars("forecast_reference_time")
    ds["discharge"].attrs["coordinates"] = "time lat lon x y station_id station_name"
    return _raw(d / "nofrt.nc", ds)


def f_no_region(d: Path) -> Path:
    return _edit(_good(d / "noregion.nc"), lambda nc: nc.delncattr("hydro_issuing_region"))


def f_wrong_crs(d: Path) -> Path:
    """x/y say UTM 50S but the crs variable says UTM 49S: lat/lon disagree by ~650 km."""
    from pyproj import CRS

    return _edit(_good(d / "crs.nc"), lambda nc: setattr(nc["crs"], "crs_wkt", CRS.from_epsg(32749).to_wkt()))


def f_realization_without_standard_name(d: Path) -> Path:
    return _edit(_good(d / "real.nc", members=2), lambda nc: nc["realization"].delncattr("standard_name"))


def f_wrong_feature_type(d: Path) -> Path:
    return _edit(_good(d / "ft.nc"), lambda nc: nc.setncattr("featureType", "trajectory"))


def f_bomb(d: Path) -> Path:
    """A few kB on disk that declare 800 MB of zeros once decompressed."""
    p = _good(d / "bomb.nc")
    with netCDF4.Dataset(p, "a") as nc:
        nc.createDimension("big", 200_000_000)
        v = nc.createVariable("padding", "f4", ("big",), zlib=True, complevel=9, chunksizes=(4_000_000,), fill_value=False)
        v[:4] = 0.0
    return p


def f_hostile_text(d: Path) -> Path:
    """Terminal escape sequences in the profile attribute must not reach the terminal raw."""
    return _edit(_good(d / "ansi.nc"), lambda nc: nc.setncattr("hydro_exchange_profile", "\x1b[2J\x1b[31mpwned"))


def f_directory(d: Path) -> Path:
    p = d / "adir.nc"
    p.mkdir()
    return p


#: (fabricator, code of the expected error, fragment of its message, validate kwargs)
CASES = [
    (f_garbage, "format", "not a NetCDF-4/HDF5 file: it looks like unknown data", {}),
    (f_empty, "format", "looks like an empty file", {}),
    (f_truncated, "format", "truncated or corrupt", {}),
    (f_hdf5_signature_only, "format", "truncated or corrupt", {}),
    (f_pickle, "format", "looks like a Python pickle (never unpickled)", {}),
    (f_netcdf3, "format", "netCDF-3 classic", {}),
    (f_wrong_profile, "profile", "no global attribute hydro_exchange_profile", {}),
    (f_newer_major, "profile", "'hydro-exchange-2.0', expected 'hydro-exchange-1.0'", {}),
    (f_wrong_units, "units", "has units 'mm', expected 'm3 s-1'", {}),
    (f_good_wrong_ids := (lambda d: _good(d / "ids.nc")), "ids", "expected point ids missing: 'B9'", {"expected_ids": ["B1", "B9"]}),
    (f_duplicate_times, "time", "duplicate time 2026-01-10T05:00Z", {}),
    (f_unsorted_times, "time", "not increasing: 2026-01-10T06:00Z then 2026-01-10T05:00Z", {}),
    (f_gap, "time", "gap: 2026-01-10T10:00Z to 2026-01-10T13:00Z (step 0 days 01:00:00", {}),
    (f_nan, "values", "1 missing (NaN/fill) or infinite discharge values, first at point 'B2', 2026-01-10T08:00Z", {}),
    (f_negative, "values", "1 negative discharge values (min -2.5), first at point 'B1', 2026-01-10T04:00Z", {}),
    (f_no_reference_time, "reference_time", "no forecast_reference_time variable", {}),
    (f_no_region, "provenance", "no issuing region", {}),
    (lambda d: _good(d / "region.nc"), "region", "issued by region 'upland', expected 'lowland'", {"region": "lowland"}),
    (f_wrong_crs, "crs", "disagree by", {}),
    (f_realization_without_standard_name, "realization", "expected 'realization'", {}),
    (f_wrong_feature_type, "featuretype", "featureType is 'trajectory'", {}),
    (lambda d: _good(d / "big.nc"), "size", "larger than the limit of 0.0 MiB (not opened)", {"max_bytes": 1000}),
    (f_bomb, "size", "declare 762.9 MiB uncompressed, more than 200.0 MiB (not read)", {}),
    (f_hostile_text, "profile", r"'\x1b[2J\x1b[31mpwned'", {}),
    (f_directory, "file", "not a regular file", {}),
]


@pytest.mark.parametrize("make, code, fragment, kwargs", CASES, ids=[c[0].__name__ if c[0].__name__ != "<lambda>" else c[1] for c in CASES])
def test_malformed_file_is_a_clear_problem(tmp_path, make, code, fragment, kwargs):
    path = make(tmp_path)
    problems = validate_exchange(path, check_cf=False, **kwargs)
    errors = [p for p in problems if p.severity == "error"]
    assert any(p.code == code and fragment in p.message for p in errors), problems
    for p in problems:
        assert "\n" not in p.message and "\x1b" not in p.message
    # the reader refuses it with one line naming the file
    point = "B9" if "expected_ids" in kwargs else "B1"
    with pytest.raises(InputDataError) as exc:
        read_exchange(path, point, **{k: v for k, v in kwargs.items() if k != "expected_ids"})
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(str(path)) and "\x1b" not in msg
    assert not (tmp_path / "UNPICKLED").exists()


def test_pickle_is_never_unpickled_even_by_the_cf_checker(tmp_path):
    path = f_pickle(tmp_path)
    assert [p.code for p in validate_exchange(path, check_cf=True)] == ["format"]
    assert not (tmp_path / "UNPICKLED").exists()
    with pytest.raises(InputDataError):  # the model's own reader refuses it too
        from hydro.routing import Inflow

        Inflow.from_netcdf(path, "B1", 0.0, 0.0)
    assert not (tmp_path / "UNPICKLED").exists()
    # sanity: the trap works when unpickled on purpose
    pickle.loads(path.read_bytes())
    assert (tmp_path / "UNPICKLED").exists()


def test_missing_file_is_input_missing(tmp_path):
    with pytest.raises(InputMissingError, match="not found"):
        validate_exchange(tmp_path / "nope.nc")
    with pytest.raises(InputMissingError, match="not found"):
        read_exchange(tmp_path / "nope.nc", "B1")


def test_unknown_point_is_one_line_naming_the_ids(tmp_path):
    path = _good(tmp_path / "x.nc")
    with pytest.raises(InputDataError, match=r"x.nc: expected point ids missing: 'B7'; file has 'B1', 'B2'$"):
        read_exchange(path, "B7")


def test_several_errors_are_all_reported(tmp_path):
    """validate lists every problem; read names the first and counts the others."""
    path = f_negative(tmp_path)
    _edit(path, lambda nc: setattr(nc["discharge"], "units", "mm"))
    _edit(path, lambda nc: nc.delncattr("hydro_run_id"))
    codes = {p.code for p in validate_exchange(path, check_cf=False) if p.severity == "error"}
    assert {"units", "provenance"} <= codes
    with pytest.raises(InputDataError, match=r"more; run `hydro validate"):
        read_exchange(path, "B1")


def test_size_limit_is_checked_before_reading(tmp_path, monkeypatch):
    """An oversize file is refused from its stat: open() is never called on it."""
    path = _good(tmp_path / "x.nc")
    opened = []
    real_open = open

    def spy(file, *a, **k):
        opened.append(os.fspath(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr("builtins.open", spy)
    problems = validate_exchange(path, max_bytes=path.stat().st_size - 1, check_cf=False)
    assert [p.code for p in problems] == ["size"]
    assert os.fspath(path) not in opened

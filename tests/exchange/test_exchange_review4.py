"""Exchange review 4: time units with a zone name are refused (pandas dropped "WITA" and read "UTC+8" with the sign
flipped: 8-16 h shifts, accepted as valid); numeric offsets still read."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.exchange import exchange_dataset, read_exchange, validate_exchange
from hydro.io import write_netcdf

from .conftest import CRS, POINTS, START

netCDF4 = pytest.importorskip("netCDF4")


def _file(tmp_path, name: str, new_ref=None):
    """A valid exchange file whose time units' reference date is rewritten by ``new_ref(original: Timestamp)``."""
    times = pd.date_range(START + pd.Timedelta("1h"), periods=6, freq="1h")
    q = xr.DataArray(np.full((6, 2), 2.0), dims=("time", "point"), coords={"time": times})
    path = write_netcdf(exchange_dataset(q, POINTS["ids"], POINTS["x"], POINTS["y"], CRS, START, "upland",
                                         run_id="r1"), tmp_path / f"{name}.nc")
    if new_ref is not None:
        with netCDF4.Dataset(path, "a") as nc:
            for v in ("time", "time_bnds"):
                if v in nc.variables and "units" in nc[v].ncattrs():
                    unit, ref = nc[v].units.split(" since ")
                    nc[v].units = f"{unit} since {new_ref(pd.Timestamp(ref))}"
    return path, times


@pytest.mark.parametrize("ref", ["2026-01-10 09:00:00 WITA", "2026-01-10 09:00:00 UTC+8",
                                 "2026-01-10 09:00 Asia/Makassar"])
def test_zone_names_in_time_units_are_refused(tmp_path, ref):
    path, _ = _file(tmp_path, "zone", lambda t: ref)
    errors = [p for p in validate_exchange(path, check_cf=False) if p.severity == "error"]
    assert any(p.code == "time" and "numeric offset" in p.message for p in errors), errors
    with pytest.raises(InputDataError, match="numeric offset"):
        read_exchange(path, POINTS["ids"][0])


def test_numeric_offsets_in_time_units_still_read(tmp_path):
    """'hours since 2026-01-10 08:00+08:00' is 00:00 UTC: the same times as the UTC file."""
    path_utc, times = _file(tmp_path, "utc")
    path_off, _ = _file(tmp_path, "offset", lambda t: (t + pd.Timedelta("8h")).strftime("%Y-%m-%dT%H:%M:%S") + "+08:00")
    a, b = read_exchange(path_utc, POINTS["ids"][0]), read_exchange(path_off, POINTS["ids"][0])
    np.testing.assert_array_equal(a.time.values, b.time.values)
    np.testing.assert_array_equal(pd.DatetimeIndex(a.time.values), times)

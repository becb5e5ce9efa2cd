"""Review 7: GRIB packing noise is relative to the field's range, not to a cell's accumulation."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401 - registers .rio
import xarray as xr

from hydro.errors import InputDataError
from hydro.forcing import deaccumulate, prepare

T = pd.date_range("2024-01-01 07:00", periods=6, freq="1h")  # an ERA5 forecast from 06 UTC
X = 490_500.0 + 10_000 * np.arange(4)
Y = 9_868_500.0 - 10_000 * np.arange(4)


def grib_pack(y, nbits):
    """WMO GRIB2 simple packing (template 5.0, D = 0): Y = R + X * 2**E with integers X < 2**nbits."""
    r = float(np.min(y))
    span = float(np.max(y)) - r
    e = int(np.ceil(np.log2(span / (2 ** nbits - 1)))) if span > 0 else 0
    return r + np.round((y - r) / 2.0 ** e) * 2.0 ** e


def _forecast(nbits):
    acc = np.zeros((6, 4, 4))
    acc[:, 0, 0] = 3e-4  # 0.3 mm in the first hour, then dry
    storm = np.array([5, 12, 25, 40, 60, 80]) * 1e-3  # m since 06 UTC
    acc[:, 3, 3], acc[:, 2, 2] = storm, 0.5 * storm
    packed = np.stack([grib_pack(a, nbits) for a in acc])
    return xr.DataArray(packed, dims=("time", "y", "x"), coords={"time": T, "y": Y, "x": X}, name="tp",
                        attrs={"units": "m"}).rio.write_crs("EPSG:32750")


@pytest.mark.parametrize("nbits", [16, 24])
def test_packed_forecast_deaccumulates_without_negative_values(nbits):
    da = _forecast(nbits)
    per = deaccumulate(da, (6,))
    v = per.values[:, 0, 0]
    assert v[0] == pytest.approx(3e-4, abs=1e-6) and (v[1:] >= 0).all() and v[1:].max() < 1e-6  # before: -9.5e-7 m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = prepare(per, da.isel(time=0), "1h").compute()  # before: InputDataError negative values
    np.testing.assert_allclose(out.values[:, 3, 3], np.diff(np.r_[0.0, [5, 12, 25, 40, 60, 80]]), atol=0.01)


def test_a_real_decrease_still_stays_negative():
    da = _forecast(16)
    wrong = da.copy(data=da.values.copy())
    wrong[3, 3, 3] = 0.020  # the storm cell falls from 25 mm to 20 mm: not packing noise
    per = deaccumulate(wrong, (6,))
    assert float(per.values[3, 3, 3]) == pytest.approx(-0.005, abs=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputDataError, match="negative"):
            prepare(per, da.isel(time=0), "1h").compute()

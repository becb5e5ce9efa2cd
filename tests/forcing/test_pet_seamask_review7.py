"""Review 7: temperature grids with a land–sea mask (ERA5-Land is NaN over the sea; Balikpapan is on the coast)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401 - registers .rio
import xarray as xr

from hydro.errors import InputDataError
from hydro.forcing import pet_from_temperature, pet_oudin, prepare

LON = 116.75 + 0.1 * np.arange(4)
LAT = -1.05 - 0.1 * np.arange(4)
T = pd.date_range("2024-01-02", periods=3, freq="D")


def _temp(values, name="t2m"):
    return xr.DataArray(values, dims=("time", "lat", "lon"), coords={"time": T, "lat": LAT, "lon": LON}, name=name,
                        attrs={"units": "K"})


def _land_sea():
    v = np.full((3, 4, 4), 300.15)
    v[:, 3, :] = np.nan  # southern row: Makassar Strait
    return v


def test_sea_cells_give_nan_pet_and_land_cells_their_value():
    pe = pet_from_temperature(_temp(_land_sea()))  # before: InputDataError "temperature has NaN values"
    assert np.isnan(pe.values[:, 3, :]).all()
    ref = pet_oudin(np.full((3, 1), 27.0), LAT[1], pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-03"]))
    np.testing.assert_allclose(pe.values[:, 1, 2], ref[:, 0], rtol=1e-12)


def test_hargreaves_with_a_sea_mask():
    tn, tx = _land_sea() - 4.0, _land_sea() + 4.0
    pe = pet_from_temperature(tmin=_temp(tn, "tmin"), tmax=_temp(tx, "tmax"), method="hargreaves")
    assert np.isnan(pe.values[:, 3, :]).all() and np.isfinite(pe.values[:, :3, :]).all()


def test_pet_on_a_land_domain_goes_through_prepare():
    pe = pet_from_temperature(_temp(_land_sea()))
    # a 2 x 2 km UTM 50S domain well inside the land cells (about 116.90 E, 1.20 S)
    tgt = xr.DataArray(np.ones((2, 2)), dims=("y", "x"),
                       coords={"y": [9_867_500.0, 9_866_500.0], "x": [489_500.0, 490_500.0]}).rio.write_crs("EPSG:32750")
    out = prepare(pe, tgt, "1D", vocabulary_name="potential_evaporation").compute()
    land = pe.values[0, :3, :]
    assert np.isfinite(out.values).all()
    assert land.min() - 1e-12 <= out.values[0].min() <= out.values[0].max() <= land.max() + 1e-12


def test_a_cell_missing_on_some_days_is_still_an_error():
    v = _land_sea()
    v[1, 0, 0] = np.nan
    with pytest.raises(InputDataError, match="NaN"):
        pet_from_temperature(_temp(v))

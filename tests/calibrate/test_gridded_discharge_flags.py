"""Gridded NetCDF P/PET + discharge CSV: negative discharge is a missing-value flag, as in the CSV input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from hydro.calibrate import run_calibration
from tests.calibrate.test_calibrate import synthetic


def test_negative_discharge_flag_is_missing_in_gridded_input(tmp_path):
    """Before: InputDataError "q.csv: column 'q' has negative values (min -999.0)" (the discharge was read
    through the precipitation checks); read_series_csv's CSV input reads the same flag as missing."""
    P, E, Q, idx, _ = synthetic(730, seed=4)
    Q = Q.copy()
    Q[400] = -999.0
    coords = {"time": idx, "lat": [-1.3, -1.2], "lon": [116.8, 116.9]}
    for name, v in (("pr", P), ("pet", E)):
        xr.DataArray(np.broadcast_to(v[:, None, None], (730, 2, 2)).copy(), dims=("time", "lat", "lon"),
                     coords=coords, name=name, attrs={"units": "mm/day"}).to_dataset().to_netcdf(tmp_path / f"{name}.nc")
    pd.DataFrame({"date": idx.strftime("%Y-%m-%d"), "q": Q}).to_csv(tmp_path / "q.csv", index=False)
    (tmp_path / "c.toml").write_text("""
[input]
precipitation_netcdf = "pr.nc"
precipitation_variable = "pr"
pet_netcdf = "pet.nc"
pet_variable = "pet"
discharge_csv = "q.csv"
discharge_column = "q"
[periods]
warmup = ["2001-01-01", "2001-06-30"]
calibration = ["2001-07-01", "2002-12-31"]
[calibration]
objective = "nse"
maxiter = 1
popsize = 5
[output]
directory = "out"
""")
    res = run_calibration(tmp_path / "c.toml")
    assert res["result"].scores["calibration"]["nse"]["n"] == 549 - 1
    table = pd.read_csv(res["paths"]["csv"])
    assert np.isnan(table["discharge_obs_mm"].iloc[400])

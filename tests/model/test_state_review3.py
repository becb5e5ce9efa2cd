"""A saved reservoir storage that is not a volume (NaN, negative) is refused on load (review 3)."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hydro.errors import StateError
from tests.model.test_catchment import START, build


@pytest.mark.parametrize("bad", [np.nan, -5e5])
def test_saved_reservoir_storage_must_be_a_volume(tmp_path, terrain, runoff_impl, forcing, bad):
    """NaN spread into the balance and the storages; a negative storage came back as negative evaporation (water
    created while the balance closed)."""
    P, E = forcing(START, 3)
    model = build(terrain, runoff_impl)
    model.run(P, E, start=START, steps=3)
    path = model.save_state(tmp_path / "state.nc")
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    ds["reservoir_storage"].values[:] = bad
    broken = tmp_path / "broken.nc"
    ds.to_netcdf(broken)
    fresh = build(terrain, runoff_impl)
    with pytest.raises(StateError, match="dam.*storage"):
        fresh.load_state(broken)
    assert fresh.valid_time is None
    fresh.load_state(path)  # the untouched file still loads

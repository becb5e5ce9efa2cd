"""Helpers of the exchange tests: edit a written file in place, list the validator's errors."""
from __future__ import annotations

import netCDF4

from hydro.exchange import validate_exchange


def edit_nc(path, fn):
    """Apply ``fn(nc)`` to the NetCDF file ``path`` opened for appending (no auto-masking); returns ``path``."""
    with netCDF4.Dataset(path, "a") as nc:
        nc.set_auto_mask(False)
        fn(nc)
    return path


def errors(path, **kw):
    """The problems of severity ``error`` that ``validate_exchange`` (CF check off) reports for ``path``."""
    return [p for p in validate_exchange(path, check_cf=False, **kw) if p.severity == "error"]

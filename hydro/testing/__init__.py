"""Public test helpers: CF/ACDD gate, georeference read-back, mass balance (like xarray.testing).

Nothing in :mod:`hydro` imports this module; tests and users do.
"""
from hydro.testing.cf import ALLOWED_ACDD_NOTICES, assert_cf_compliant, assert_georeferenced, cf_report

__all__ = ["assert_cf_compliant", "assert_georeferenced", "cf_report", "ALLOWED_ACDD_NOTICES"]

"""hydro: flood and water-sharing hydrology on xarray.

Terrain analysis (:mod:`hydro.terrain`), rainfall-runoff and routing, flood extents, water
allocation under supply agreements, and CF-1.11/ACDD-1.3 NetCDF (:mod:`hydro.io`).
"""
from __future__ import annotations

__version__ = "0.1.0"

from hydro import errors  # noqa: E402

__all__ = ["__version__", "errors"]

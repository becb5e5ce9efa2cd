"""Coupled catchment runs: runoff generation + kinematic-wave routing + reservoirs + inflows + gauges.

:class:`CatchmentModel` runs the model, returns :class:`RunResult` (gridded outputs, gauge
hydrographs as a CF DSG timeSeries, reservoir series, water balance per step and per run) and
saves/loads the warm state as CF-NetCDF (float64) for exact restarts.
"""
from hydro.model.catchment import BALANCE_TOLERANCE, GRIDDED_OUTPUTS, WATER_BALANCE_TERMS, CatchmentModel, RunResult
from hydro.model.runner import outlet_gauges, read_gauges, read_reservoirs, run_catchment
from hydro.routing import Gauge, Inflow, Reservoir, RoutingParameters

__all__ = [
    "CatchmentModel",
    "RunResult",
    "run_catchment",
    "read_gauges",
    "outlet_gauges",
    "read_reservoirs",
    "Gauge",
    "Inflow",
    "Reservoir",
    "RoutingParameters",
    "GRIDDED_OUTPUTS",
    "WATER_BALANCE_TERMS",
    "BALANCE_TOLERANCE",
]

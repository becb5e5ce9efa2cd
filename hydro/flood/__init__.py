"""Flood hydraulics: 2-D local-inertial solver, HAND + synthetic rating curves, hazard and flood products.

* :func:`simulate_2d` — LISFLOOD-FP/de Almeida local-inertial model (rain-on-grid, point inflows, edge
  boundaries: closed, inflow, water level/tide, free outflow) with a closed volume balance;
* :func:`reaches`, :func:`rating_curves`, :func:`hand_inundation` — HAND + synthetic rating curves
  (Zheng et al. 2018; NOAA OWP) mapping discharge to depth over a whole region;
* :mod:`hydro.flood.hazard` — Defra/EA FD2321 hazard rating; :mod:`hydro.flood.products` — COG GeoTIFF,
  GeoJSON extent polygons and CF NetCDF writers.
"""
from hydro.flood.hand import (
    adjust_rating,
    discharge_at_reaches,
    hand_inundation,
    rating_curves,
    reaches,
    stage_for_discharge,
)
from hydro.flood.hazard import debris_factor, hazard_class, hazard_rating
from hydro.flood.products import extent_polygons, flooded_area_km2, write_cog, write_extent_geojson, write_flood_netcdf
from hydro.flood.inertial import (
    EdgeBoundary,
    Simulation2DResult,
    SolverInstabilityError,
    closed,
    effective_rainfall,
    free_outflow,
    inflow,
    rain_rate_m_per_s,
    simulate_2d,
    water_level,
)

__all__ = [
    "adjust_rating",
    "flooded_area_km2",
    "discharge_at_reaches",
    "hand_inundation",
    "rating_curves",
    "reaches",
    "stage_for_discharge",
    "EdgeBoundary",
    "Simulation2DResult",
    "SolverInstabilityError",
    "closed",
    "effective_rainfall",
    "debris_factor",
    "free_outflow",
    "hazard_class",
    "hazard_rating",
    "inflow",
    "rain_rate_m_per_s",
    "simulate_2d",
    "water_level",
    "extent_polygons",
    "write_cog",
    "write_extent_geojson",
    "write_flood_netcdf",
]

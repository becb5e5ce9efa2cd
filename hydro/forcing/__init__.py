"""Forcing: units, regridding, station interpolation, design storms, PET, time-step changes."""
from hydro.forcing.accumulation import deaccumulate
from hydro.forcing.core import change_step, check_time_axis, open_forcing, prepare, to_mm_per_step
from hydro.forcing.grid import regrid_weights
from hydro.forcing.pet import extraterrestrial_radiation, pet_from_temperature, pet_hargreaves, pet_oudin
from hydro.forcing.stations import station_weights, stations_to_grid
from hydro.forcing.storms import alternating_block, design_storm
from hydro.forcing.units import parse_water_units

__all__ = [
    "open_forcing",
    "prepare",
    "to_mm_per_step",
    "change_step",
    "deaccumulate",
    "check_time_axis",
    "regrid_weights",
    "parse_water_units",
    "design_storm",
    "alternating_block",
    "stations_to_grid",
    "station_weights",
    "pet_oudin",
    "pet_hargreaves",
    "pet_from_temperature",
    "extraterrestrial_radiation",
]

"""Precipitation/evaporation units: every accepted spelling, converted to mm (never guessed)."""
from __future__ import annotations

import re

from hydro.errors import InputDataError

__all__ = ["parse_water_units", "check_standard_name", "WATER_UNITS"]

# kind "amount": factor to mm per source step; kind "rate": factor to mm s-1
_AMOUNT = {"mm": 1.0, "millimeter": 1.0, "millimeters": 1.0, "millimetre": 1.0, "millimetres": 1.0,
           "m": 1000.0, "meter": 1000.0, "metre": 1000.0, "kg m-2": 1.0, "kg/m2": 1.0, "kg/m^2": 1.0,
           "cm": 10.0}
_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "d": 86400.0,
        "day": 86400.0, "min": 60.0, "minute": 60.0}
WATER_UNITS = sorted(set(_AMOUNT) | {f"{a} {p}-1" for a in ("mm", "m", "kg m-2") for p in ("s", "h", "d", "day")}
                     | {f"{a}/{p}" for a in ("mm", "m") for p in ("s", "h", "hr", "d", "day")})


def _norm(u: str) -> str:
    u = u.strip().lower()
    u = u.replace("**", "").replace("^", "").replace("·", " ").replace(".", " ")
    u = re.sub(r"\s+", " ", u)
    u = u.replace("kg/m2", "kg m-2").replace("kg m2", "kg m-2")
    return u


def parse_water_units(units: str | None, where: str) -> tuple[str, float]:
    """Return (kind, factor): ``("amount", mm per unit)`` or ``("rate", mm s-1 per unit)``.

    Accepts e.g. ``mm``, ``m``, ``kg m-2`` (amounts per source step), ``mm/h``, ``mm h-1``, ``mm/day``,
    ``mm d-1``, ``kg m-2 s-1``, ``m s-1``, ``m/s`` (rates). Anything else raises
    :class:`hydro.errors.InputDataError` naming ``where`` (file:variable).
    """
    if units is None or not str(units).strip():
        raise InputDataError(f"{where}: no 'units' attribute (units are never guessed)")
    u = _norm(str(units))
    if u in _AMOUNT:
        return "amount", _AMOUNT[u]
    m = re.fullmatch(r"(.+?)\s*/\s*([a-z]+)", u) or re.fullmatch(r"(.+?)\s+([a-z]+)-1", u)
    if m:
        num, per = m.group(1).strip(), m.group(2)
        if num in _AMOUNT and per in _PER:
            return "rate", _AMOUNT[num] / _PER[per]
    raise InputDataError(f"{where}: units {units!r} not recognised as a precipitation/evaporation unit "
                         f"(accepted e.g. mm, m, kg m-2, mm/h, mm d-1, kg m-2 s-1, m s-1)")


def check_standard_name(kind: str, standard_name: str | None, units: str | None, where: str) -> None:
    """Raise when a CF ``standard_name`` contradicts the kind of ``units``.

    A flux/rate standard name (``precipitation_flux``, ``lwe_precipitation_rate``,
    ``water_potential_evaporation_flux`` …) needs a rate unit (``kg m-2 s-1``, ``mm/h`` …); an amount
    (``precipitation_amount``, ``lwe_thickness_of_precipitation_amount`` …) needs an amount unit
    (``mm``, ``kg m-2``, ``m``). A file saying ``precipitation_flux`` in ``mm`` is ambiguous (mm per
    step or per second?) and is never guessed. Names that are not CF names are not checked.
    """
    if not standard_name:
        return
    sn = str(standard_name).strip().lower()
    is_rate = sn.endswith("_flux") or sn.endswith("_rate")
    is_amount = sn.endswith("_amount")
    if is_rate and kind == "amount":
        raise InputDataError(f"{where}: standard_name {standard_name!r} is a rate but units {units!r} are an amount "
                             f"per step: fix the units (e.g. kg m-2 s-1) or the standard_name")
    if is_amount and kind == "rate":
        raise InputDataError(f"{where}: standard_name {standard_name!r} is an amount but units {units!r} are a rate: "
                             f"fix the units (e.g. mm, kg m-2) or the standard_name")

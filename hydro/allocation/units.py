"""Quantities with units for allocation networks: ``"500 L/s"``, ``"16.3 Mm3"``, ``"5 mm/d"``.

Every number in a network file carries its unit; values are converted to SI at input
(flows to m3 s-1, volumes to m3, areas to m2, evaporation to m s-1, lengths to m).
"""
from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["UNITS", "parse_quantity", "to_si", "QuantityError"]


class QuantityError(ValueError):
    """A quantity without a unit, with an unknown unit or with a unit of the wrong kind."""


_DAY = 86400.0
#: unit -> (kind, factor to SI)
UNITS: dict[str, tuple[str, float]] = {
    # flow rate -> m3 s-1
    "m3/s": ("flow", 1.0), "m3 s-1": ("flow", 1.0), "m^3/s": ("flow", 1.0), "cumec": ("flow", 1.0),
    "l/s": ("flow", 1e-3), "L/s": ("flow", 1e-3), "L s-1": ("flow", 1e-3), "l s-1": ("flow", 1e-3), "lps": ("flow", 1e-3),
    # cubic feet per second (UDUNITS "ft3 s-1", accepted by the exchange profile)
    "ft3/s": ("flow", 0.028316846592), "ft3 s-1": ("flow", 0.028316846592), "cfs": ("flow", 0.028316846592),
    "m3/d": ("flow", 1.0 / _DAY), "m3 d-1": ("flow", 1.0 / _DAY), "m3/h": ("flow", 1.0 / 3600.0),
    "ML/d": ("flow", 1e3 / _DAY), "Ml/d": ("flow", 1e3 / _DAY), "MLD": ("flow", 1e3 / _DAY),
    # US million gallons per day (3785.411784 m3/d); imperial mgd (4546.09 m3/d) spelled mgd_imp
    "mgd": ("flow", 3785.411784 / _DAY), "mgd_imp": ("flow", 4546.09 / _DAY),
    "Mm3/yr": ("flow", 1e6 / (365.25 * _DAY)), "GL/yr": ("flow", 1e9 / (365.25 * _DAY)),
    # volume -> m3
    "m3": ("volume", 1.0), "L": ("volume", 1e-3), "ML": ("volume", 1e3), "Ml": ("volume", 1e3),
    "Mm3": ("volume", 1e6), "hm3": ("volume", 1e6), "GL": ("volume", 1e9), "km3": ("volume", 1e9),
    # area -> m2
    "m2": ("area", 1.0), "ha": ("area", 1e4), "km2": ("area", 1e6),
    # evaporation rate -> m s-1
    "mm/d": ("depth_rate", 1e-3 / _DAY), "mm/day": ("depth_rate", 1e-3 / _DAY),
    "mm d-1": ("depth_rate", 1e-3 / _DAY), "m/s": ("depth_rate", 1.0),
    # length -> m
    "m": ("length", 1.0),
    # dimensionless
    "1": ("fraction", 1.0), "%": ("fraction", 0.01),
}

_NUM = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)?\s*$")


def to_si(value: float, unit: str, kind: str) -> float:
    """Convert ``value`` in ``unit`` to SI, checking that the unit is of ``kind``.

    Raises
    ------
    QuantityError
        Unknown unit or a unit of another kind.
    """
    if unit not in UNITS:
        raise QuantityError(f"unknown unit {unit!r} (known {kind} units: "
                            f"{', '.join(u for u, (k, _) in UNITS.items() if k == kind)})")
    k, factor = UNITS[unit]
    if k != kind:
        raise QuantityError(f"unit {unit!r} is a {k} unit, expected a {kind} unit")
    return float(value) * factor


def parse_quantity(value: Any, kind: str) -> float:
    """Parse ``"500 L/s"`` (or a ``{value=..., units=...}`` table) into SI.

    Parameters
    ----------
    value : str or mapping
        Quantity written with its unit.
    kind : {"flow", "volume", "area", "depth_rate", "length", "fraction"}
        Expected kind of unit.

    Returns
    -------
    float
        The value in SI units (m3 s-1, m3, m2, m s-1, m, 1).

    Raises
    ------
    QuantityError
        Missing unit (a bare number), unknown unit or wrong kind.
    """
    if isinstance(value, bool):
        raise QuantityError(f"expected a quantity with units, got {value!r}")
    if isinstance(value, (int, float)):
        if kind == "fraction":
            return _finite(float(value), value)
        raise QuantityError(f"units missing: write the {kind} as a string with its unit, e.g. "
                            f"'{value} {_example(kind)}'")
    if isinstance(value, dict) and set(value) == {"value", "units"}:
        number = value["value"]
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            # {value = true} was read as 1, {value = "5"} as 5
            raise QuantityError(f"value of {value!r} must be a number")
        return _finite(to_si(float(number), str(value["units"]), kind), value)
    if not isinstance(value, str):
        raise QuantityError(f"expected a quantity such as '10 {_example(kind)}', got {value!r}")
    m = _NUM.match(value)
    if not m:
        raise QuantityError(f"cannot read quantity {value!r} (expected e.g. '10 {_example(kind)}')")
    number, unit = m.group(1), m.group(2)
    if unit is None:
        if kind == "fraction":
            return _finite(float(number), value)
        raise QuantityError(f"units missing in {value!r}: write e.g. '{number} {_example(kind)}'")
    return _finite(to_si(float(number), unit, kind), value)


def _finite(si: float, given: Any) -> float:
    """``si`` if finite: ``"1e999 Mm3"`` overflows to infinity (a typo, never a quantity)."""
    if not math.isfinite(si):
        raise QuantityError(f"{given!r} is not a finite quantity")
    return si


def _example(kind: str) -> str:
    return {"flow": "L/s", "volume": "Mm3", "area": "ha", "depth_rate": "mm/d", "length": "m"}.get(kind, "1")

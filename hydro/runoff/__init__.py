"""Runoff generation: the GR-type continuous cell operator and event-mode SCS-CN / Green–Ampt."""
from hydro.runoff.model import (
    GreenAmpt,
    GRParameters,
    RunoffModel,
    SCSCurveNumber,
    amc_class_from_fill,
    curve_number_for_amc,
    percolation_constant,
)

__all__ = [
    "GRParameters",
    "RunoffModel",
    "SCSCurveNumber",
    "GreenAmpt",
    "percolation_constant",
    "amc_class_from_fill",
    "curve_number_for_amc",
]

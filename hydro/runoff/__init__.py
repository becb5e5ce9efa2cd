"""Runoff generation: the GR-type continuous cell operator and event-mode SCS-CN / Green–Ampt."""
from hydro.runoff.model import (
    GreenAmpt,
    GRParameters,
    RunoffModel,
    SCSCurveNumber,
    amc_class_from_fill,
    curve_number_for_amc,
    percolation_constant,
    step_parameters,
    uh_exponent_for_step,
)

__all__ = [
    "GRParameters",
    "RunoffModel",
    "SCSCurveNumber",
    "GreenAmpt",
    "percolation_constant",
    "step_parameters",
    "uh_exponent_for_step",
    "amc_class_from_fill",
    "curve_number_for_amc",
]

"""Calibration against observed discharge (DE or SCE-UA; NSE, KGE, KGE') and skill metrics."""
from hydro.calibrate import metrics
from hydro.calibrate.core import (
    DEFAULT_BOUNDS,
    CalibrationResult,
    calibrate,
    calibrate_series,
    simulate_lumped,
)
from hydro.calibrate.metrics import kge, kge_prime, nse
from hydro.calibrate.run import read_series_csv, run_calibration

__all__ = [
    "metrics",
    "nse",
    "kge",
    "kge_prime",
    "DEFAULT_BOUNDS",
    "CalibrationResult",
    "calibrate",
    "calibrate_series",
    "simulate_lumped",
    "read_series_csv",
    "run_calibration",
]

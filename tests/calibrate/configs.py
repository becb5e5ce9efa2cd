"""Calibration configs of the tests: the shipped synthetic catchment CSV with periods and settings to vary."""
from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PERIODS = 'warmup = ["2020-01-01", "2020-12-31"]\ncalibration = ["2021-01-01", "2022-06-30"]'


def synthetic_csv_config(tmp_path: Path, extra: str = "", periods: str = DEFAULT_PERIODS,
                         area: str = "120.0", units_line: str = 'discharge_units = "m3/s"',
                         input_extra: str = "") -> Path:
    """Write ``c.toml`` calibrating ``inputs/calibration/synthetic_catchment.csv`` (1 DE iteration of 5 members).

    Parameters
    ----------
    tmp_path : Path
        Folder of the config; outputs go to ``tmp_path / "out"``.
    extra : str
        TOML lines appended to ``[calibration]`` (may open further tables).
    periods : str
        Body of ``[periods]``.
    area : str
        TOML value of ``catchment_area_km2`` [km2].
    units_line, input_extra : str
        The discharge-units line of ``[input]`` and further ``[input]`` lines.
    """
    csv = json.dumps(str(REPO / "inputs" / "calibration" / "synthetic_catchment.csv"))
    p = tmp_path / "c.toml"
    p.write_text(f"""
[input]
csv = {csv}
precipitation_column = "rain_mm"
pet_column = "pet_mm"
discharge_column = "discharge_m3s"
{units_line}
catchment_area_km2 = {area}
{input_extra}
[periods]
{periods}
[calibration]
maxiter = 1
popsize = 5
{extra}
[output]
directory = {json.dumps(str(tmp_path / "out"))}
""")
    return p

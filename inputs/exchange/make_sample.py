"""Write the sample incoming exchange file: Kutai Kartanegara's forecast border discharge.

The upstream neighbour ("kukar") sends its forecast discharge at the agreed border point
KKR-WAIN-1, a channel cell in the north of the embedded Balikpapan DEM (30 m, seed 20260125;
upstream area ~4.9 km2) whose flow path passes the ``wain_lower`` gauge. The series is hourly from
three days before to three days after the reference time (default 2025-08-25T00:00Z; it covers the
nightly forecast's spin-up and 48 h lead): a 3 m3 s-1 baseflow plus a flood wave peaking at 25 m3 s-1
at 12:00 UTC on 25 August (the same event in every night's file). ``--members N`` writes an ensemble
(peak scaled 0.6 .. 1.4).

Run from the repository root::

    python inputs/exchange/make_sample.py            # -> inputs/exchange/kukar_20250825T0000Z_border_discharge.nc
    python inputs/exchange/make_sample.py --reference-time 2025-08-26T00:00   # the next night's file
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hydro.exchange import exchange_dataset, exchange_filename, write_exchange

REFERENCE_TIME = pd.Timestamp("2025-08-25T00:00")
PEAK_TIME = pd.Timestamp("2025-08-25T12:00")
POINT = {"id": "KKR-WAIN-1", "name": "Sungai Wain at the Kutai Kartanegara border", "x": 471075.0, "y": 9875645.0}
CRS = "EPSG:32750"


def sample_discharge(members: int = 0, reference_time: pd.Timestamp = REFERENCE_TIME) -> xr.DataArray:
    """Hourly discharge [m3 s-1], (time, point[, realization])."""
    reference_time = pd.Timestamp(reference_time)
    times = pd.date_range(reference_time - pd.Timedelta("3D") + pd.Timedelta("1h"), reference_time + pd.Timedelta("3D"), freq="h")
    hours = (times - PEAK_TIME) / pd.Timedelta("1h")
    wave = np.exp(-0.5 * (np.asarray(hours, float) / 6.0) ** 2)  # 6 h standard deviation
    if members <= 0:
        q = 3.0 + 22.0 * wave
        return xr.DataArray(q[:, None], dims=("time", "point"), coords={"time": times})
    scale = np.linspace(0.6, 1.4, members)
    q = 3.0 + 22.0 * wave[:, None] * scale[None, :]
    return xr.DataArray(q[:, None, :], dims=("time", "point", "realization"),
                        coords={"time": times, "realization": np.arange(members)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=0, help="ensemble members (0: deterministic)")
    parser.add_argument("--reference-time", default=str(REFERENCE_TIME), help="UTC reference time of the file")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    T = pd.Timestamp(args.reference_time).tz_localize(None) if pd.Timestamp(args.reference_time).tzinfo is None \
        else pd.Timestamp(args.reference_time).tz_convert("UTC").tz_localize(None)
    ds = exchange_dataset(
        sample_discharge(args.members, T), [POINT["id"]], [POINT["x"]], [POINT["y"]], CRS, T, "kukar",
        run_id=f"kukar_{T:%Y%m%dT%H%M}Z_sample", config_hash="sample", point_names=[POINT["name"]],
        date_created=f"{T + pd.Timedelta('90min'):%Y-%m-%dT%H:%M:%SZ}",
        attrs={"institution": "Kutai Kartanegara (sample file for the hydro examples)",
               "comment": "Synthetic sample of a neighbour's exchange file; not a real forecast."},
    )
    out = args.output
    if out.is_dir():
        out = out / exchange_filename("kukar", T)
    print(write_exchange(ds, out))


if __name__ == "__main__":
    main()

"""Generate the sample nightly forcing files of the embedded Balikpapan model (deterministic).

One file per forecast reference time ``T`` (``balikpapan_rain_<T:%Y%m%dT%H%MZ>.nc``), as a weather service
would issue it: hourly rainfall on a 3 km UTM 50S grid over the catchment, from ``T - 72 h`` (analysis: the
same in every member) to ``T + 48 h`` (forecast: 5 members with different storm timing and depth), units
``mm`` per hour (``cell_methods = time: sum``). A convective storm (~110 mm in 6 h at its centre, [A] scenario
value in the range of balikpapan.md section 3) crosses the city on 2025-08-25 from 04:00 UTC.

Run ``python inputs/forcing/make_sample_forcing.py`` to regenerate (the committed files are its output).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

REFERENCE_TIMES = ["2025-08-24T00:00", "2025-08-25T00:00", "2025-08-26T00:00"]
MEMBERS = 5
SEED = 20250825
X0, Y0, W, H, DX = 465_000.0, 9_845_000.0, 42_000.0, 36_000.0, 3_000.0


def storm_field(times: pd.DatetimeIndex, x: np.ndarray, y: np.ndarray, *, peak: pd.Timestamp, total_mm: float,
                centre: tuple[float, float], radius_m: float = 15_000.0, duration_h: float = 6.0) -> np.ndarray:
    """Hourly rain [mm] of a Gaussian storm cell: triangular in time, ``total_mm`` at its centre."""
    th = np.asarray((times - peak) / pd.Timedelta(hours=1), dtype=np.float64)
    # triangle of half-width duration/2 hours: its hourly values sum to duration/2 (same total in every file)
    shape_t = np.clip(1.0 - np.abs(th) / (duration_h / 2.0), 0.0, None) / (duration_h / 2.0)
    xx, yy = np.meshgrid(x, y)
    shape_xy = np.exp(-(((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * radius_m ** 2)))
    return total_mm * shape_t[:, None, None] * shape_xy[None]


def make(reference_time: str, out_dir: Path) -> Path:
    T = pd.Timestamp(reference_time)
    times = pd.date_range(T - pd.Timedelta(hours=71), T + pd.Timedelta(hours=48), freq="1h")  # period-end labels
    x = X0 + DX * (np.arange(int(W / DX)) + 0.5)
    y = Y0 + H - DX * (np.arange(int(H / DX)) + 0.5)
    rng = np.random.default_rng([SEED, int(T.value // 10**9)])
    base = np.zeros((times.size, y.size, x.size))
    # showers: light afternoon rain every day (tropical diurnal cycle), ~8 mm/day at the centre
    hours = times.hour.values
    diurnal = np.where((hours >= 6) & (hours <= 10), 1.6, 0.0)  # 14-18 local time = 06-10 UTC
    base += diurnal[:, None, None] * (0.6 + 0.4 * rng.random((1, y.size, x.size)))
    storm_peak = pd.Timestamp("2025-08-25T07:00")
    past = times <= T
    members = []
    for m in range(MEMBERS):
        r = np.random.default_rng([SEED, m])
        shift_h = 0 if m == 0 else int(r.integers(-3, 4))
        total = 110.0 * (1.0 if m == 0 else float(np.exp(r.normal(-0.045, 0.3))))
        cx = 484_000.0 + (0 if m == 0 else float(r.normal(0, 4000)))
        f = base + storm_field(times, x, y, peak=storm_peak + pd.Timedelta(hours=shift_h), total_mm=total,
                               centre=(cx, 9_858_000.0))
        members.append(f)
    truth = base + storm_field(times, x, y, peak=storm_peak, total_mm=110.0, centre=(484_000.0, 9_858_000.0))
    data = np.stack(members)
    data[:, past] = truth[past]  # the analysed past is the same for every member
    da = xr.DataArray(np.round(data, 2).astype(np.float32), dims=("realization", "time", "y", "x"),
                      coords={"realization": np.arange(MEMBERS, dtype=np.int32), "time": times, "y": y, "x": x},
                      name="precipitation",
                      attrs={"units": "mm", "long_name": "hourly precipitation amount",
                             "standard_name": "precipitation_amount", "cell_methods": "time: sum (interval: 1 hour)",
                             "grid_mapping": "crs"})
    ds = da.to_dataset()
    ds["crs"] = xr.DataArray(np.int32(0), attrs={"crs_wkt": "EPSG:32750", "spatial_ref": "EPSG:32750"})
    from pyproj import CRS

    wkt = CRS.from_epsg(32750).to_wkt()
    ds["crs"].attrs.update(crs_wkt=wkt, spatial_ref=wkt)
    ds["x"].attrs.update(standard_name="projection_x_coordinate", units="m", axis="X")
    ds["y"].attrs.update(standard_name="projection_y_coordinate", units="m", axis="Y")
    ds["realization"].attrs.update(standard_name="realization", long_name="ensemble member")
    ds.attrs.update(Conventions="CF-1.11", title="Sample nightly rainfall forcing (synthetic) for the embedded Balikpapan model",
                    forecast_reference_time=T.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    source="hydro inputs/forcing/make_sample_forcing.py (synthetic, deterministic)")
    out = out_dir / f"balikpapan_rain_{T:%Y%m%dT%H%MZ}.nc"
    enc = {"precipitation": {"zlib": True, "complevel": 5, "chunksizes": (1, 24, y.size, x.size)}}
    tmp = out.with_suffix(".nc.tmp")
    ds.to_netcdf(tmp, encoding=enc)
    tmp.replace(out)
    return out


if __name__ == "__main__":
    here = Path(__file__).parent
    for t in REFERENCE_TIMES:
        print(make(t, here))

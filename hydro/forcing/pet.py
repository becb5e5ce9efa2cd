"""Potential evaporation from temperature (runoff.md §3): Oudin et al. 2005, Hargreaves–Samani 1985."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hydro.errors import InputDataError

__all__ = ["extraterrestrial_radiation", "pet_oudin", "pet_hargreaves", "pet_from_temperature", "temperature_to_degc",
           "days_covered"]

_GSC = 0.0820  # MJ m-2 min-1
_LAMBDA = 2.45  # MJ kg-1
_RHO = 1000.0  # kg m-3


def _doy(dates: Any) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(dates).dayofyear, dtype=np.float64)


def extraterrestrial_radiation(lat_deg: Any, dates: Any) -> np.ndarray:
    """Daily extraterrestrial radiation Ra [MJ m-2 d-1] (FAO-56 eqs. 21–25).

    ``lat_deg`` scalar or array (broadcast against time on the trailing axes); result shape
    (time, *lat.shape). ``dates`` are the calendar days covered (their day of year is used); for
    period-end labels use :func:`days_covered` (as :func:`pet_from_temperature` does).
    """
    lat = np.asarray(lat_deg, dtype=np.float64)
    if np.any(np.abs(lat) > 90) or not np.all(np.isfinite(lat)):
        raise InputDataError(f"latitude outside [-90, 90] or not finite: {lat}")
    J = _doy(dates).reshape((-1,) + (1,) * lat.ndim)
    phi = np.deg2rad(lat)[None, ...]
    dr = 1.0 + 0.033 * np.cos(2 * np.pi * J / 365.0)
    delta = 0.409 * np.sin(2 * np.pi * J / 365.0 - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0))
    return (24.0 * 60.0 / np.pi) * _GSC * dr * (ws * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(ws))


def _time_leading(Ra: np.ndarray, ndim: int) -> np.ndarray:
    """``Ra`` (time, *lat.shape) with unit axes inserted after time so that it broadcasts against a
    (time, ..., *lat.shape) temperature of ``ndim`` axes (time stays on the first axis: a scalar
    latitude with (time, station) temperatures must not multiply station j by the Ra of day j)."""
    return Ra.reshape(Ra.shape[:1] + (1,) * (ndim - Ra.ndim) + Ra.shape[1:]) if ndim > Ra.ndim else Ra


def pet_oudin(tmean_degc: Any, lat_deg: Any, dates: Any) -> np.ndarray:
    """Oudin et al. (2005) PE [mm/d] = Re/(λρ)·(T + 5)/100·1000 if T + 5 > 0, else 0.

    ``tmean_degc`` shape (time, ...) matching ``lat_deg`` on trailing axes.
    """
    T = np.asarray(tmean_degc, dtype=np.float64)
    if not np.all(np.isfinite(T)):
        raise InputDataError("pet_oudin: temperature has NaN values")
    Ra = _time_leading(extraterrestrial_radiation(lat_deg, dates), T.ndim)
    pe = Ra / (_LAMBDA * _RHO) * (T + 5.0) / 100.0 * 1000.0
    return np.where(T + 5.0 > 0.0, pe, 0.0)


def pet_hargreaves(tmin_degc: Any, tmax_degc: Any, lat_deg: Any, dates: Any) -> np.ndarray:
    """Hargreaves & Samani (1985) ET0 [mm/d] = 0.0023·Ra·(Tmean + 17.8)·√(Tmax − Tmin), Ra in mm/d.

    Ra [mm/d] = 0.408 × Ra [MJ m-2 d-1]; Tmean = (Tmin + Tmax)/2. Negative results (very cold) → 0.
    """
    tn = np.asarray(tmin_degc, dtype=np.float64)
    tx = np.asarray(tmax_degc, dtype=np.float64)
    if tn.shape != tx.shape:
        raise InputDataError("pet_hargreaves: Tmin and Tmax shapes differ")
    if not (np.all(np.isfinite(tn)) and np.all(np.isfinite(tx))):
        raise InputDataError("pet_hargreaves: temperature has NaN values")
    if np.any(tx < tn):
        raise InputDataError("pet_hargreaves: Tmax < Tmin on some days")
    Ra = 0.408 * _time_leading(extraterrestrial_radiation(lat_deg, dates), tn.ndim)
    tm = 0.5 * (tn + tx)
    return np.maximum(0.0023 * Ra * (tm + 17.8) * np.sqrt(tx - tn), 0.0)


#: spellings UDUNITS does not parse as the temperature they mean ("degrees Celsius" parses as
#: angle degrees × Celsius, "deg C" fails, "C" is the coulomb)
_TEMPERATURE_ALIASES = {"degrees celsius": "degC", "degree celsius": "degC", "deg c": "degC", "deg_c": "degC",
                        "degrees c": "degC", "degrees kelvin": "K", "degrees fahrenheit": "degF"}


def temperature_to_degc(values: Any, units: Any, where: str) -> np.ndarray:
    """Temperatures in ``units`` (anything UDUNITS/cf_units reads as a temperature: ``degC``,
    ``degree_Celsius``, ``Celsius``, ``°C``, ``K``, ``kelvin``, ``degF`` …, plus the spellings
    ``degrees Celsius`` and ``deg C``) converted to °C with the right offset (K − 273.15).

    A missing unit, a unit that is not a temperature (``mm``, ``1``, ``C`` = coulomb, ``K-1``,
    ``degC/day``) is :class:`InputDataError`.
    """
    import cf_units

    u = "" if units is None else str(units).strip()
    if not u:
        raise InputDataError(f"{where}: temperature has no units attribute (give e.g. 'degC' or 'K')")
    u = _TEMPERATURE_ALIASES.get(" ".join(u.lower().split()), u)
    hint = " ('C' is the coulomb in UDUNITS: write 'degC')" if u == "C" else ""
    try:
        unit = cf_units.Unit(u)
    except ValueError as exc:
        raise InputDataError(f"{where}: temperature units {units!r} not recognised (e.g. degC or K)") from exc
    kelvin = cf_units.Unit("K")
    ok = unit.is_convertible(kelvin) and not unit.is_time_reference()
    if ok:  # an absolute temperature scale converts to K affinely with slope 1 (K, °C) or 5/9 (°F, °R)
        probe = np.asarray(unit.convert(np.array([0.0, 1.0, 2.0]), kelvin), dtype=np.float64)
        slope = probe[1] - probe[0]
        ok = bool(np.isclose(probe[2] - probe[1], slope, rtol=1e-9)
                  and (np.isclose(slope, 1.0, rtol=1e-9) or np.isclose(slope, 5.0 / 9.0, rtol=1e-9)))
    if not ok:
        raise InputDataError(f"{where}: temperature units {units!r} are not a temperature{hint} (e.g. degC or K)")
    v = np.asarray(values, dtype=np.float64)
    return np.asarray(unit.convert(v, cf_units.Unit("degC")), dtype=np.float64)


def _to_degc(da, where: str) -> np.ndarray:
    return temperature_to_degc(da.values, da.attrs.get("units"), where)


def _outside_cells(temps: list[np.ndarray], where: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Cells (y, x) where every temperature is NaN at every time lie outside the data's domain (a land–sea
    mask, e.g. ERA5-Land over the sea): they get a dummy value here and NaN PET, so that :func:`prepare`
    refuses them only where they touch the model domain. Any other NaN is :class:`InputDataError`."""
    nan = [~np.isfinite(a) for a in temps]
    outside = np.logical_and.reduce([n.all(axis=0) for n in nan])
    for n in nan:
        part = n & ~outside[None]
        if part.any():
            raise InputDataError(f"{where}: temperature has {int(part.sum())} NaN values in cells that have values at "
                                 f"other times (cells NaN at every time, e.g. the sea, give NaN PET)")
    return [np.where(outside[None], 0.0, a) for a in temps], outside


def _time_y_x(da, g, where: str):
    """``da`` as (time, y, x): size-1 dimensions besides these (an ensemble ``number``, a ``height``) dropped, as
    :func:`hydro.forcing.prepare` does; no ``time`` dimension or a longer other one is :class:`InputDataError`."""
    if "time" not in da.dims:
        raise InputDataError(f"{where}: no time dimension in {da.dims} (rename it to 'time', e.g. ERA5's valid_time)")
    extra = [d for d in da.dims if d not in ("time", g.ydim, g.xdim)]
    if any(da.sizes[d] != 1 for d in extra):
        raise InputDataError(f"{where}: dimensions {dict((d, da.sizes[d]) for d in extra)} besides time, {g.ydim}, "
                             f"{g.xdim}: select one level/member first (e.g. da.isel(...))")
    return da.squeeze(extra, drop=True).transpose("time", g.ydim, g.xdim)


def days_covered(time: Any, where: str) -> pd.DatetimeIndex:
    """The calendar day each **daily** value covers, from period-end labels: the day of the middle of
    the period ``[label − 1 d, label)``. A value stamped 2024-01-02 00:00 covers 1 January.

    More than one time must be daily and regular, else :class:`InputDataError`.
    """
    t = pd.DatetimeIndex(time)
    if t.size > 1:
        d = np.diff(t.values)
        if np.any(d != np.timedelta64(1, "D")):
            raise InputDataError(f"{where}: temperature must be daily with period-end labels "
                                 f"(steps {sorted(set(pd.to_timedelta(d).astype(str)))[:3]})")
    return (t - pd.Timedelta("12h")).normalize()


def pet_from_temperature(tmean=None, *, tmin=None, tmax=None, method: str = "oudin", crs=None):
    """Daily PET grid [mm/day] from daily temperature grids (time, y, x), latitude per cell from the CRS.

    ``method="oudin"`` needs ``tmean``; ``"hargreaves"`` needs ``tmin`` and ``tmax`` on the same times
    and grid. Temperature units are read with UDUNITS (cf_units), see :func:`temperature_to_degc`.
    Time labels are period ends (the package convention): the value stamped 2024-01-02 00:00 covers
    1 January, and the extraterrestrial radiation is that of 1 January (:func:`days_covered`). The
    result keeps the labels, has ``units = "mm/day"`` and can go through
    :func:`hydro.forcing.prepare` (daily → model step).
    """
    import xarray as xr
    from pyproj import Transformer

    from hydro.forcing.grid import grid_of, transform_points

    if method not in ("oudin", "hargreaves"):
        raise InputDataError(f"pet_from_temperature: method {method!r}: expected 'oudin' or 'hargreaves'")
    ref = tmean if method == "oudin" else tmin
    if ref is None or (method == "hargreaves" and tmax is None):
        raise InputDataError(f"pet_from_temperature: method {method!r} needs "
                             f"{'tmean' if method == 'oudin' else 'tmin and tmax'}")
    where = str(ref.attrs.get("hydro_source", "<in memory>")) + f":{ref.name}"
    g = grid_of(ref, where, crs=crs)
    ref = _time_y_x(ref, g, where)
    X, Y = np.meshgrid(g.x, g.y)
    if g.crs.is_geographic:
        lat = Y
    else:
        _, lat = transform_points(Transformer.from_crs(g.crs, "EPSG:4326", always_xy=True), X, Y)
    dates = days_covered(ref["time"].values, where)  # Ra of the day each value covers (period-end labels)
    if method == "oudin":
        (tc,), outside = _outside_cells([_to_degc(ref, where)], where)
        pe = pet_oudin(tc, lat, dates)
    else:
        wx = str(tmax.attrs.get("hydro_source", "<in memory>")) + f":{tmax.name}"
        if "time" not in tmax.dims or tmax.sizes["time"] != ref.sizes["time"] or not np.array_equal(
                pd.DatetimeIndex(tmax["time"].values).values, pd.DatetimeIndex(ref["time"].values).values):
            raise InputDataError(f"pet_from_temperature: tmin ({where}) and tmax ({wx}) have different times")
        tx = _time_y_x(tmax, g, wx)
        for dim in (g.ydim, g.xdim):
            if tx.sizes[dim] != ref.sizes[dim] or not np.allclose(tx[dim].values, ref[dim].values):
                raise InputDataError(f"pet_from_temperature: tmin ({where}) and tmax ({wx}) are on different grids "
                                     f"({dim})")
        (tn, txc), outside = _outside_cells([_to_degc(ref, where), _to_degc(tx, wx)], where)
        pe = pet_hargreaves(tn, txc, lat, dates)
    pe = np.where(outside[None], np.nan, pe)
    out = xr.DataArray(pe, dims=ref.dims, coords=ref.coords, name="potential_evaporation",
                       attrs={"units": "mm/day", "long_name": f"potential evaporation ({method})"})
    if ref.attrs.get("hydro_source"):
        out.attrs["hydro_source"] = ref.attrs["hydro_source"]
    return out

"""The package's one time convention: times are naive UTC.

Every time axis hydro reads or writes (forcing, gauges, states, exchange files, allocation steps, NetCDF
``time``) is held as naive ``datetime64[ns]`` in UTC, the convention of the CF writer (``units = "... since
1970-01-01 00:00:00"`` without a zone). Time-zone-aware input (``2025-08-25T08:00+08:00`` for WITA, a pandas
``datetime64[ns, Asia/Makassar]`` index) is converted to UTC on the way in; naive input is taken as UTC.
"""
from __future__ import annotations

from typing import Any, overload

import numpy as np
import pandas as pd

__all__ = ["naive_utc", "iso_utc", "parse_timestamp"]


@overload
def naive_utc(t: pd.DatetimeIndex) -> pd.DatetimeIndex: ...


@overload
def naive_utc(t: Any) -> pd.Timestamp: ...


def naive_utc(t: Any) -> pd.Timestamp | pd.DatetimeIndex:
    """A time or a time index as naive UTC.

    Parameters
    ----------
    t
        A :class:`pandas.DatetimeIndex` (returned as an index), or anything :class:`pandas.Timestamp` accepts
        (an ISO 8601 string, ``datetime``, ``numpy.datetime64``, a Timestamp; NaT stays NaT).

    Returns
    -------
    pandas.Timestamp or pandas.DatetimeIndex
        Time-zone-aware values converted to UTC with the zone dropped; naive values unchanged (already UTC).
    """
    if isinstance(t, pd.DatetimeIndex):
        return t.tz_convert("UTC").tz_localize(None) if t.tz is not None else t
    ts = pd.Timestamp(t)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def iso_utc(t: Any) -> str | None:
    """ISO 8601 text of a time in UTC with the zone written out (``2025-08-25T03:00:00Z``); None for None/NaT.

    Naive values are UTC (the package convention); aware values are converted. Text read by people and by other
    systems (``alerts.json``, reports) must say its zone: the city works in WITA (UTC+8).
    """
    if t is None:
        return None
    ts = pd.Timestamp(t)
    if ts is pd.NaT:
        return None
    return naive_utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: Any, what: str) -> pd.Timestamp:
    """``value`` as a :class:`pandas.Timestamp`; a :class:`hydro.errors.ConfigError` naming ``what`` when it is no
    date or date-time (unparseable, or NaT).

    Parameters
    ----------
    value : str, datetime-like
        A date or date-time (ISO 8601 strings, ``datetime``, ``numpy.datetime64``, ``Timestamp``).
    what : str
        What the value is, for the message (e.g. ``"start"``, ``"reference time"``).

    A number (``20250825``, which pandas would read as nanoseconds since 1970) and the words ``now`` and
    ``today`` (the machine's local clock, not UTC) are refused too.
    """
    import numbers

    from hydro.errors import ConfigError

    if isinstance(value, (numbers.Number, np.number)) and not isinstance(value, bool):
        # pandas reads a number as nanoseconds since 1970 (20250825 -> 1970-01-01 00:00:00.020250825)
        raise ConfigError(f"{what} {value!r} is a number, not a date or date-time: write it as ISO 8601 text "
                          f"(e.g. 2025-08-25T00:00)")
    if isinstance(value, str) and value.strip().lower() in ("now", "today"):
        # pandas gives the machine's local wall clock, which the package would then read as UTC
        raise ConfigError(f"{what} {value!r}: give the date or date-time explicitly in ISO 8601 UTC "
                          f"(e.g. 2025-08-25T00:00Z)")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{what} {value!r} is not a date or date-time (ISO 8601, e.g. 2025-08-25T00:00): "
                          f"{exc}") from None
    if pd.isna(ts):
        raise ConfigError(f"{what} {value!r} is not a date or date-time (ISO 8601, e.g. 2025-08-25T00:00)")
    try:
        # every time axis of the package is datetime64[ns]: a later date_range/astype failed with pandas'
        # OutOfBoundsDatetime (a traceback, exit 1) or wrapped around silently
        naive_utc(ts).as_unit("ns")
    except (ValueError, OverflowError):
        raise ConfigError(f"{what} {value!r} is outside the time range the package supports "
                          f"({pd.Timestamp.min:%Y-%m-%d} … {pd.Timestamp.max:%Y-%m-%d} UTC)") from None
    return ts

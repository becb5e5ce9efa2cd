"""hydro.times.naive_utc: the package's one time convention (naive UTC)."""
import datetime as dt

import numpy as np
import pandas as pd

from hydro.times import naive_utc


def test_aware_timestamp_converted_to_utc_and_zone_dropped():
    # 08:00 WITA (UTC+8) is 00:00 UTC
    ts = naive_utc("2025-08-25T08:00+08:00")
    assert ts == pd.Timestamp("2025-08-25T00:00") and ts.tzinfo is None
    assert naive_utc(pd.Timestamp("2025-08-25T08:00", tz="Asia/Makassar")) == pd.Timestamp("2025-08-25T00:00")
    assert naive_utc(dt.datetime(2025, 8, 25, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=-3)))) == \
        pd.Timestamp("2025-08-25T04:30")


def test_naive_input_is_taken_as_utc_and_nat_passes():
    assert naive_utc("2025-08-25T08:00") == pd.Timestamp("2025-08-25T08:00")
    assert naive_utc(np.datetime64("2025-08-25T08:00")) == pd.Timestamp("2025-08-25T08:00")
    assert pd.isna(naive_utc(pd.NaT))


def test_index_stays_an_index():
    idx = pd.date_range("2025-08-25T08:00", periods=3, freq="h", tz="Asia/Makassar")
    out = naive_utc(idx)
    assert isinstance(out, pd.DatetimeIndex) and out.tz is None
    assert list(out) == list(pd.date_range("2025-08-25T00:00", periods=3, freq="h"))
    naive = pd.date_range("2025-08-25", periods=2, freq="D")
    assert naive_utc(naive) is naive


def test_iso_utc_writes_the_zone_and_converts_aware_times():
    from hydro.times import iso_utc

    assert iso_utc(pd.Timestamp("2025-08-25T03:00")) == "2025-08-25T03:00:00Z"
    assert iso_utc("2025-08-25T11:00+08:00") == "2025-08-25T03:00:00Z"
    assert iso_utc(np.datetime64("2025-08-25T03:00")) == "2025-08-25T03:00:00Z"
    assert iso_utc(None) is None and iso_utc(pd.NaT) is None

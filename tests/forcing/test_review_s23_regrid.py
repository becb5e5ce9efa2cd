"""Review rev23 (regridding and PET): tests that fail on the original code and pass with fix.diff."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pyproj import CRS

from hydro.errors import InputDataError
from hydro.forcing.grid import grid_of, regrid_weights
from hydro.forcing.pet import pet_from_temperature

SPHERE = "+proj=longlat +R=6371000 +no_defs"


def _latlon(lon, lat):
    return xr.DataArray(np.zeros((len(lat), len(lon))), dims=("lat", "lon"), coords={"lat": lat, "lon": lon})


# ------------------------------------------------------------------ conservative weights on lat/lon grids
def _fine_to_coarse(crs):
    # source: 0.5° cells, rows 58..62 N (centres 61.75, 61.25, …, 58.25: descending), lon 100..104
    sx, sy = np.arange(100.25, 104.0, 0.5), np.arange(61.75, 58.0, -0.5)
    # target: 2° cells, rows 58..60 and 60..62 N, lon 100..102 and 102..104
    tx, ty = np.array([101.0, 103.0]), np.array([59.0, 61.0])
    S, T = grid_of(_latlon(sx, sy), "src", crs=crs), grid_of(_latlon(tx, ty), "tgt", crs=crs)
    W = regrid_weights(S, T, "conservative", "test")
    v = np.zeros((sy.size, sx.size))
    v[0] = 10.0  # 10 mm on the northernmost source row only (61.5..62 N)
    return sx, sy, tx, ty, v, (W @ v.ravel()).reshape(ty.size, tx.size)


def test_conservative_lat_lon_weights_are_fractions_of_area_not_of_degrees():
    """On a sphere a lat/lon cell's area is R² Δλ (sin φ1 − sin φ0). The target cell 60..62 N takes the 10 mm
    of the source row 61.5..62 N over (sin 62 − sin 61.5)/(sin 62 − sin 60) of its area:
    sin 62 = 0.882948, sin 61.5 = 0.878817, sin 60 = 0.866025 → 0.004130/0.016922 = 0.24409 → 2.4409 mm.
    The original weights use the degree fraction 0.5/2 = 0.25 → 2.5 mm (2.4 % of the volume created)."""
    sx, sy, tx, ty, v, out = _fine_to_coarse(SPHERE)
    s = lambda d: np.sin(np.deg2rad(d))  # noqa: E731
    expected = 10.0 * (s(62.0) - s(61.5)) / (s(62.0) - s(60.0))
    assert expected == pytest.approx(2.4409, abs=1e-4)
    np.testing.assert_allclose(out[1], expected, rtol=1e-12)
    np.testing.assert_allclose(out[0], 0.0, atol=0.0)
    # the areal total (value × spherical cell area, R = 1) is kept exactly
    area = lambda lat0, lat1, dlon: np.deg2rad(dlon) * (s(lat1) - s(lat0))  # noqa: E731
    src_total = sum(v[i, j] * area(sy[i] - 0.25, sy[i] + 0.25, 0.5) for i in range(sy.size) for j in range(sx.size))
    tgt_total = sum(out[i, j] * area(ty[i] - 1.0, ty[i] + 1.0, 2.0) for i in range(ty.size) for j in range(tx.size))
    assert tgt_total == pytest.approx(src_total, rel=1e-12)


def test_conservative_wgs84_weights_follow_the_ellipsoid_area():
    """EPSG:4326 (WGS84 ellipsoid): the area fraction differs from the sphere's (above) by < 2e-4 relative
    (e² = 0.00669); the degree fraction 0.25 is 2.4 % off."""
    *_, out = _fine_to_coarse("EPSG:4326")
    s = lambda d: np.sin(np.deg2rad(d))  # noqa: E731
    sphere = 10.0 * (s(62.0) - s(61.5)) / (s(62.0) - s(60.0))  # 2.4409 mm
    np.testing.assert_allclose(out[1], sphere, rtol=5e-4)


# ------------------------------------------------------------------ same CRS with another axis order
@pytest.mark.parametrize("src_crs", ["OGC:CRS84", CRS.from_cf({"grid_mapping_name": "latitude_longitude"})])
def test_lon_lat_crs_equivalent_to_the_target_gets_exact_overlaps(src_crs):
    """A source in OGC:CRS84 (lon/lat axis order) or a CF latitude_longitude grid mapping and a target in EPSG:4326
    (lat/lon order) are the same grid (x is always the longitude here). Source 1° columns, 10 mm in 101..102 E;
    target cell 100.86..101.26 E (0.4° wide) lies 0.26/0.4 = 0.65 inside it → 6.5 mm exactly. The original took
    the cross-CRS 5 × 5 sampling: samples at 100.90, 100.98, 101.06, 101.14, 101.22 → 3/5 → 6.0 mm."""
    sx, sy = np.arange(100.5, 105.0, 1.0), np.array([0.5, 1.5])
    tx, ty = 101.06 + 0.4 * (np.arange(5) - 2), np.array([0.7, 1.1])
    S = grid_of(_latlon(sx, sy), "src", crs=src_crs)
    T = grid_of(_latlon(tx, ty), "tgt", crs="EPSG:4326")
    W = regrid_weights(S, T, "conservative", "test")
    v = np.zeros((sy.size, sx.size))
    v[:, 1] = 10.0
    out = (W @ v.ravel()).reshape(ty.size, tx.size)
    np.testing.assert_allclose(out[:, 2], 6.5, rtol=1e-12)
    # the others: 100.06..100.46 and 100.46..100.86 → 0; 101.26..101.66, 101.66..102.06 → 10 and 0.34/0.4·10 = 8.5
    np.testing.assert_allclose(out[0], [0.0, 0.0, 6.5, 10.0, 8.5], rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ pet_from_temperature input checks
def _temperature(time_dim="time"):
    # FAO-56 example 8: 20° S on 3 September → Ra = 32.2 MJ m-2 d-1; the label 2001-09-04 00:00 covers 3 September
    t = pd.DatetimeIndex(["2001-09-04"])
    return xr.DataArray(np.full((1, 2, 2), 288.15), dims=(time_dim, "lat", "lon"),
                        coords={time_dim: t, "lat": [-20.0, -20.5], "lon": [116.0, 116.5]},
                        attrs={"units": "K"}, name="t2m")


def test_pet_drops_a_size_one_ensemble_dimension():
    """A temperature with a size-1 ``number`` dimension (as prepare accepts) was a raw ValueError from transpose.
    Oudin at 20 S, 15 °C (288.15 K): PE = Ra/λ·(T + 5)/100 = 32.2/2.45 × 0.20 = 2.6286 mm/d (Ra ± 0.05 → ± 0.004)."""
    T = _temperature().expand_dims(number=[0])
    pe = pet_from_temperature(T)
    assert pe.dims == ("time", "lat", "lon")
    assert float(pe.sel(lat=-20.0).isel(time=0, lon=0)) == pytest.approx(2.6286, abs=0.005)
    # Hargreaves with tmax carrying the extra dimension: Tmin 10, Tmax 20 °C → Tmean 15 °C
    # ET0 = 0.0023 × 0.408 × 32.2 × (15 + 17.8) × √10 = 0.0023 × 13.1376 × 32.8 × 3.16228 = 3.1341 mm/d
    tmin, tmax = _temperature() - 5.0, (_temperature() + 5.0).expand_dims(number=[0])
    tmin.attrs, tmax.attrs = {"units": "K"}, {"units": "K"}
    et = pet_from_temperature(tmin=tmin, tmax=tmax, method="hargreaves")
    assert float(et.sel(lat=-20.0).isel(time=0, lon=0)) == pytest.approx(3.1341, abs=0.006)


def test_pet_without_a_time_dimension_is_an_input_error():
    """ERA5 from the new CDS names its time dimension ``valid_time``: that was a raw KeyError('time')."""
    with pytest.raises(InputDataError, match="no time dimension"):
        pet_from_temperature(_temperature("valid_time"))
    with pytest.raises(InputDataError, match="no time dimension"):
        pet_from_temperature(_temperature().isel(time=0))


def test_pet_with_a_longer_extra_dimension_is_an_input_error():
    T = xr.concat([_temperature(), _temperature()], dim="number")
    with pytest.raises(InputDataError, match="number"):
        pet_from_temperature(T)


def test_unknown_pet_method_names_the_methods():
    """method="penman" with tmean said "method 'penman' needs tmin and tmax" (as if it existed)."""
    with pytest.raises(InputDataError, match="expected 'oudin' or 'hargreaves'"):
        pet_from_temperature(_temperature(), method="penman")

"""The embedded default: a synthetic, Balikpapan-like coastal catchment generated from a seed.

No real Balikpapan DEM is public in a form we can ship, so :func:`balikpapan_dem` builds a
realistic stand-in with the figures of the design notes (balikpapan.md §1, §4, §7):

* hilly Tertiary terrain rising to ~100-150 m inland, ~85 % hilly / 15 % flat;
* rivers draining south to the Makassar Strait coast at sea level: a long western river to the
  bay (Wain-like, ~26 km on land, longer than the real Wain's 18.3 km), a short straight city river
  (Ampal-like, ~7 km; it drains ~55 km2 at its gauge at 90 m cells and ~69 km2 at 30 m, about twice
  the real DAS Ampal's 28 km2) through a low-lying urban plain (1-5 m), and an eastern river
  (Manggar-like, ~27 km, the real Manggar Baru 15.0 km; balikpapan.md section 4) with a reservoir
  valley (flat water surface at the spill level 13.4 m, dam just downstream);
* the sea south of a wavy coastline is nodata (an outlet for the terrain engine);
* georeferenced in UTM 50S (EPSG:32750) around the city (~1.27 S, 116.83 E).

Everything is deterministic for a given ``seed`` and ``resolution_m``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from hydro.errors import InputDataError

__all__ = ["balikpapan_dem", "balikpapan_features", "BalikpapanFeatures", "CRS", "DEFAULT_SEED", "balikpapan_population",
           "balikpapan_roads", "BALIKPAPAN_POPULATION"]

CRS = "EPSG:32750"
DEFAULT_SEED = 20260125
#: south-west corner of the domain (UTM 50S metres) and its size
_X0, _Y0 = 468_000.0, 9_848_000.0
_WIDTH, _HEIGHT = 36_000.0, 30_000.0
#: reservoir (Manggar-like) water level at spill [m]
RESERVOIR_LEVEL_M = 13.4


@dataclass(frozen=True)
class BalikpapanFeatures:
    """Named places of the synthetic catchment (UTM 50S metres)."""

    river_mouths: dict[str, tuple[float, float]] = field(default_factory=dict)
    gauges: dict[str, tuple[float, float]] = field(default_factory=dict)
    reservoir_outlet: tuple[float, float] = (0.0, 0.0)
    reservoir_centre: tuple[float, float] = (0.0, 0.0)
    urban_plain_bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    coastline_y: float = 0.0


# river centrelines: control points as fractions of (width, height), head first
_RIVERS = {
    "wain": [(0.08, 0.92), (0.12, 0.70), (0.10, 0.45), (0.16, 0.22), (0.13, 0.04)],
    "ampal": [(0.45, 0.30), (0.46, 0.20), (0.445, 0.10), (0.45, 0.02)],
    "sepinggan": [(0.60, 0.40), (0.61, 0.20), (0.60, 0.03)],
    "manggar": [(0.86, 0.95), (0.84, 0.75), (0.80, 0.55), (0.83, 0.35), (0.80, 0.18), (0.82, 0.03)],
}
_RESERVOIR = dict(river="manggar", centre=(0.815, 0.56), radius=(0.045, 0.07), dam_y=0.47)


def _coast_y(x_frac: np.ndarray, rng_phase: float) -> np.ndarray:
    """Coastline as a fraction of the height (sea below), wavy, with a bay in the west."""
    base = 0.06 + 0.015 * np.sin(2 * np.pi * (x_frac * 2.3 + rng_phase)) + 0.008 * np.sin(2 * np.pi * x_frac * 7.1)
    bay = 0.10 * np.exp(-(((x_frac - 0.05) / 0.07) ** 2))  # Balikpapan Bay reaches inland in the west
    return base + bay


def _band_noise(ny: int, nx: int, rng: np.random.Generator, wavelength_cells: float) -> np.ndarray:
    """Gaussian random field band-limited around one wavelength [cells], unit standard deviation."""
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    k = np.sqrt(kx * kx + ky * ky)
    k0 = 1.0 / wavelength_cells
    amp = np.exp(-0.5 * (np.log(np.maximum(k, 1e-12) / k0) / 0.45) ** 2)
    amp[0, 0] = 0.0
    spec = amp * (rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape))
    field_ = np.fft.irfft2(spec, s=(ny, nx))
    return field_ / field_.std()


def _rasterize_rivers(ny: int, nx: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """River cells (label per river) and bed elevation along each river (m)."""
    label = np.zeros((ny, nx), np.int16)
    bed = np.full((ny, nx), np.nan, np.float32)
    head_elev = {"wain": 60.0, "ampal": 22.0, "sepinggan": 25.0, "manggar": 40.0}
    for n, (name, pts) in enumerate(_RIVERS.items(), start=1):
        p = np.asarray(pts, float)
        seg = np.linspace(0, 1, len(p))
        t = np.linspace(0, 1, 4000)
        xs = np.interp(t, seg, p[:, 0])
        ys = np.interp(t, seg, p[:, 1])
        # meanders
        xs = xs + 0.006 * np.sin(2 * np.pi * t * rng.uniform(5, 9) + rng.uniform(0, 6))
        cols = np.clip((xs * nx).astype(int), 0, nx - 1)
        rows = np.clip(((1 - ys) * ny).astype(int), 0, ny - 1)
        # bed falls from the head elevation to -1 m at the mouth (concave profile)
        z = head_elev[name] * (1 - t) ** 1.6 - 1.0
        for r, c, zz in zip(rows, cols, z):
            if label[r, c] == 0 or zz < bed[r, c]:
                label[r, c] = n
                bed[r, c] = zz
    return label, bed


def balikpapan_dem(resolution_m: float = 30.0, seed: int = DEFAULT_SEED) -> xr.DataArray:
    """Generate the synthetic Balikpapan-like coastal catchment DEM.

    Parameters
    ----------
    resolution_m : float, default 30
        Cell size [m] (square). The default gives 1200 x 1000 = 1.2 M cells over 36 x 30 km.
    seed : int
        Random seed: the same seed and resolution always give the same DEM.

    Returns
    -------
    xarray.DataArray
        ``elevation`` [m] (float32), sea = NaN, CRS EPSG:32750, attributes ``seed`` and
        ``resolution_m``.
    """
    from scipy import ndimage

    from hydro.io.raster import from_array

    if not (5.0 <= resolution_m <= 1000.0):
        raise InputDataError(f"resolution_m must be between 5 and 1000 m, got {resolution_m}")
    nx = int(round(_WIDTH / resolution_m))
    ny = int(round(_HEIGHT / resolution_m))
    rng = np.random.default_rng(seed)
    yy = 1.0 - (np.arange(ny) + 0.5) / ny  # fraction of height, 1 at the north edge
    xx = (np.arange(nx) + 0.5) / nx
    X, Y = np.meshgrid(xx, yy)

    coast = _coast_y(xx, rng.uniform(0, 1))[None, :]
    inland_km = np.clip((Y - coast) * _HEIGHT / 1000.0, 0, None)
    # hills: a base rising inland plus band-limited relief (wavelengths 6 km, 1.2 km, 500 m, 150 m)
    bands = [(6000.0, 22.0), (1200.0, 16.0), (500.0, 8.0), (150.0, 1.5)]
    relief = sum(a * _band_noise(ny, nx, rng, max(wl / resolution_m, 2.5)) for wl, a in bands)
    ramp = 1 - np.exp(-inland_km / 2.5)
    base = 70.0 * (1 - np.exp(-inland_km / 7.0))
    hills = base + ramp * (25.0 + relief)
    fine = _band_noise(ny, nx, rng, max(300.0 / resolution_m, 2.5))
    # urban coastal plain around the city river (low, gentle)
    plain = np.exp(-((X - 0.50) / 0.14) ** 2) * np.exp(-(inland_km / 2.0) ** 2)
    z = hills * (1 - 0.95 * plain) + plain * (1.0 + 0.8 * inland_km + 0.15 * fine)
    # beach: near the coastline elevation drops to ~0.5 m
    z = np.minimum(z, 0.5 + 4.0 * inland_km + 0.2 * np.abs(fine))
    z = np.clip(z, 0.2, 150.0)

    # rivers: carve valleys around the centrelines
    label, bed = _rasterize_rivers(ny, nx, rng)
    dist, (ir, ic) = ndimage.distance_transform_edt(label == 0, return_indices=True)
    dist_m = dist * resolution_m
    bed_near = bed[ir, ic]
    width_m = np.where(label[ir, ic] == 2, 250.0, 450.0)  # floodplain half-width
    valley = bed_near + np.maximum(0.0, z - bed_near) * (1 - np.exp(-(dist_m / width_m) ** 1.5))
    z = np.where(dist_m < 4000.0, np.minimum(z, valley), z)

    # reservoir: a flat water surface behind a dam on the eastern river
    cx, cy = _RESERVOIR["centre"]
    rx, ry = _RESERVOIR["radius"]
    inside = ((X - cx) / rx) ** 2 + ((Y - cy) / ry) ** 2 <= 1.0
    lake = inside & (z < RESERVOIR_LEVEL_M + 6.0)
    z = np.where(lake, RESERVOIR_LEVEL_M, z)
    dam = (np.abs(Y - _RESERVOIR["dam_y"]) < 250.0 / _HEIGHT) & (np.abs(X - cx) < rx * 1.3)
    z = np.where(dam, np.maximum(z, RESERVOIR_LEVEL_M + 3.0), z)
    # spillway notch where the river crosses the dam
    river_at_dam = dam & (label == list(_RIVERS).index("manggar") + 1)
    z = np.where(river_at_dam, RESERVOIR_LEVEL_M, z)

    z = np.where(Y < coast, np.nan, z).astype(np.float32)
    # integer-like SRTM texture: quantise to 0.1 m
    z = np.round(z * 10.0) / 10.0
    from affine import Affine

    transform = Affine(resolution_m, 0.0, _X0, 0.0, -resolution_m, _Y0 + ny * resolution_m)
    da = from_array(z.astype(np.float32), transform, CRS, name="elevation")
    da.attrs.update(
        long_name="synthetic Balikpapan-like ground elevation",
        seed=int(seed),
        resolution_m=float(resolution_m),
        comment="generated by hydro.datasets.balikpapan_dem (synthetic: not a survey)",
    )
    return da


def balikpapan_features(resolution_m: float = 30.0) -> BalikpapanFeatures:
    """Named points of the synthetic catchment (river mouths, gauges, reservoir, urban plain)."""
    def xy(fx: float, fy: float) -> tuple[float, float]:
        return (_X0 + fx * _WIDTH, _Y0 + fy * _HEIGHT)

    mouths = {name: xy(*pts[-1]) for name, pts in _RIVERS.items()}
    gauges = {
        "ampal_outlet": xy(0.448, 0.085),
        "wain_lower": xy(0.16, 0.25),
        "sepinggan_outlet": xy(0.605, 0.10),
        "manggar_dam": xy(0.815, 0.45),
        "manggar_lower": xy(0.805, 0.20),
    }
    return BalikpapanFeatures(
        river_mouths=mouths,
        gauges=gauges,
        reservoir_outlet=xy(_RESERVOIR["centre"][0], _RESERVOIR["dam_y"]),
        reservoir_centre=xy(*_RESERVOIR["centre"]),
        urban_plain_bounds=(_X0 + 0.36 * _WIDTH, _Y0 + 0.0, _X0 + 0.56 * _WIDTH, _Y0 + 0.16 * _HEIGHT),
        coastline_y=_Y0 + 0.06 * _HEIGHT,
    )


def synthetic_dem(shape: tuple[int, int] = (4000, 4000), resolution_m: float = 30.0, seed: int = 0, quantum_m: float = 1.0) -> xr.DataArray:
    """A generic hilly DEM for benchmarks: band-limited relief on a regional slope, SRTM-like 1 m steps.

    Parameters
    ----------
    shape : (ny, nx)
    resolution_m : float
        Cell size [m].
    seed : int
    quantum_m : float
        Elevations are rounded to this step [m] (1 m like SRTM; 0 keeps floats).

    Returns
    -------
    xarray.DataArray
        Elevation [m] (float32) in EPSG:32750, no nodata.
    """
    from affine import Affine

    from hydro.io.raster import from_array

    ny, nx = shape
    rng = np.random.default_rng(seed)
    bands = [(20000.0, 120.0), (6000.0, 60.0), (1200.0, 25.0), (300.0, 6.0), (90.0, 1.0)]
    z = sum(a * _band_noise(ny, nx, rng, max(wl / resolution_m, 2.5)) for wl, a in bands)
    rows = np.arange(ny)[:, None]
    z = z + 0.004 * resolution_m * (ny - rows)  # regional slope of 0.4 % towards the south
    z = z - z.min() + 1.0
    if quantum_m > 0:
        z = np.round(z / quantum_m) * quantum_m
    transform = Affine(resolution_m, 0.0, _X0, 0.0, -resolution_m, _Y0 + ny * resolution_m)
    return from_array(z.astype(np.float32), transform, CRS, name="elevation")


#: Balikpapan population, mid-2023 estimate (balikpapan.md section 1) [S]
BALIKPAPAN_POPULATION = 738_532


def balikpapan_population(resolution_m: float = 300.0, seed: int = DEFAULT_SEED) -> xr.DataArray:
    """A synthetic population-count raster (people per cell) for the embedded catchment.

    738,532 people [S] spread over land below 60 m, densest on the coastal plain and along the lower
    valleys (a Gaussian city centre on the plain plus smaller settlements at the river mouths) [A].
    UTM 50S, ``resolution_m`` cells, NaN over the sea. ``seed``: the seed of the embedded DEM the people
    live on (:func:`balikpapan_dem`; its coastline moves with the seed).
    """
    dem = balikpapan_dem(resolution_m, seed=seed)
    x = dem["x"].values[None, :]
    y = dem["y"].values[:, None]
    feats = balikpapan_features(resolution_m)
    x0, y0, x1, y1 = feats.urban_plain_bounds
    w = 3.0 * np.exp(-(((x - 0.5 * (x0 + x1)) / 4000.0) ** 2 + ((y - 0.5 * (y0 + y1)) / 3000.0) ** 2) / 2)
    for mx, my in feats.river_mouths.values():
        w = w + np.exp(-(((x - mx) / 1500.0) ** 2 + ((y - my - 1500.0) / 1500.0) ** 2) / 2)
    land = np.isfinite(dem.values) & (dem.values < 60.0)
    w = np.where(land, w, 0.0)
    counts = BALIKPAPAN_POPULATION * w / w.sum()
    out = dem.copy(data=np.where(np.isfinite(dem.values), counts, np.nan).astype(np.float32))
    out.name = "population"
    out.attrs = {"units": "1", "long_name": "people per cell (synthetic)"}
    return out


def balikpapan_roads(resolution_m: float = 30.0) -> list[np.ndarray]:
    """Synthetic main roads of the embedded catchment (UTM 50S polylines, metres) [A]: the coast road across the
    plain (a Jl. Jenderal Sudirman analogue), and roads up the Ampal (MT Haryono analogue) and Sepinggan valleys."""
    feats = balikpapan_features(resolution_m)
    x0, y0, x1, y1 = feats.urban_plain_bounds
    coast = feats.coastline_y + 900.0
    ax, _ = feats.river_mouths["ampal"]
    sx, _ = feats.river_mouths["sepinggan"]
    return [
        np.array([[x0 - 4000.0, coast + 300.0], [0.5 * (x0 + x1), coast], [x1 + 6000.0, coast + 200.0]]),
        np.array([[ax + 250.0, coast], [ax + 400.0, coast + 3000.0], [ax + 150.0, coast + 7000.0]]),
        np.array([[sx - 300.0, coast], [sx - 200.0, coast + 5000.0]]),
    ]

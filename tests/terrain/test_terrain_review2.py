"""Terrain layer, review 2: outlet snapping by distance from the point, nodata on every output grid, true cell
areas on projected CRSs that are not true to scale (Web Mercator)."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from pyproj import Geod, Transformer

import hydro.terrain as T
from hydro.errors import InputDataError
from hydro.io.raster import from_array
from tests.terrain.helpers import grid

CELL = 10.0
X0, Y0 = 500000.0, 9850000.0
WGS84 = Geod(ellps="WGS84")


def _outlet_network(shape=(5, 5), cell=CELL, crs="EPSG:32750", x0=X0, top=None):
    """Every cell an outlet (code 0): a valid network whose cells have no upstream neighbours."""
    ny, nx = shape
    top = Y0 + cell * ny if top is None else top
    fdir = from_array(np.zeros(shape, np.uint8), Affine(cell, 0, x0, 0, -cell, top), crs, name="flow_direction")
    return fdir, T.flow_network(fdir)


def _centre(r, c, cell=CELL, x0=X0, top=Y0 + 5 * CELL):
    return x0 + cell * (c + 0.5), top - cell * (r + 0.5)


# -- 2. snapping -----------------------------------------------------------------------------------------------
def test_snap_measures_from_the_point_not_from_its_cell_centre():
    fdir, net = _outlet_network()
    st = np.zeros((5, 5), bool)
    st[2, 1] = st[2, 3] = True
    area = np.full(25, 100.0)
    area[2 * 5 + 1] = 1e6  # the west candidate drains much more
    cx, cy = _centre(2, 2)
    point = (cx + 4.0, cy)  # inside cell (2, 2), 6 m from the centre of (2, 3), 14 m from (2, 1)
    # both candidates are 10 m from the centre of the point's cell: the old code tied them and took (2, 1)
    assert net.snap([point], 15.0, st, area)[0] == 2 * 5 + 3
    # catchments() uses the same rule and reports the snapped outlet
    lab = T.catchments(fdir, [point], stream_mask=fdir.copy(data=st.astype(np.int8)), snap_distance_m=15.0)
    assert (lab.attrs["outlet_x"][0], lab.attrs["outlet_y"][0]) == _centre(2, 3)


def test_snap_max_distance_is_from_the_point():
    _, net = _outlet_network()
    cx, cy = _centre(2, 2)
    far = np.zeros((5, 5), bool)
    far[2, 4] = True
    # 15.1 m from the point (20 m from its cell centre): within 16 m
    assert net.snap([(cx + 4.9, cy)], 16.0, far)[0] == 2 * 5 + 4
    near = np.zeros((5, 5), bool)
    near[2, 3] = True
    # 14.9 m from the point (10 m from its cell centre): not within 12 m
    with pytest.raises(InputDataError, match="no stream cell within 12.0 m"):
        net.snap([(cx - 4.9, cy)], 12.0, near)
    assert net.snap([(cx - 4.9, cy)], 15.0, near)[0] == 2 * 5 + 3
    with pytest.raises(InputDataError, match="max_distance_m"):
        net.snap([(cx, cy)], -1.0, near)


def test_snap_tie_rule_larger_area_then_smaller_index():
    _, net = _outlet_network()
    st = np.zeros((5, 5), bool)
    st[2, 2] = st[2, 3] = True
    point = (X0 + 3 * CELL, _centre(2, 2)[1])  # on the edge between (2, 2) and (2, 3): 5 m from both centres
    area = np.full(25, 100.0)
    area[2 * 5 + 2] = 500.0
    assert net.snap([point], 6.0, st, area)[0] == 2 * 5 + 2  # larger upstream area
    area[2 * 5 + 2] = 100.0
    area[2 * 5 + 3] = 500.0
    assert net.snap([point], 6.0, st, area)[0] == 2 * 5 + 3
    # equal areas: the smaller flat index (the old code took the cell the point's floor falls in, (2, 3))
    assert net.snap([point], 6.0, st, np.full(25, 100.0))[0] == 2 * 5 + 2


def test_snap_on_web_mercator_uses_true_metres():
    fwd = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    inv = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    x0, top = fwd.transform(10.0, 60.0)
    cell = 20.0  # projected metres; about 10 m on the ground at 60 N
    _, net = _outlet_network(crs="EPSG:3857", cell=cell, x0=x0, top=top)
    st = np.zeros((5, 5), bool)
    st[2, 4] = True
    px, py = x0 + cell * 2.5, top - cell * 2.5
    sx, sy = x0 + cell * 4.5, py
    lon, lat = inv.transform([px, sx], [py, sy])
    true = WGS84.inv(lon[0], lat[0], lon[1], lat[1])[2]
    assert true == pytest.approx(20.0, rel=0.01)  # 40 projected metres
    assert net.snap([(px, py)], true + 0.01, st)[0] == 2 * 5 + 4
    with pytest.raises(InputDataError, match="no stream cell"):
        net.snap([(px, py)], true - 0.01, st)


# -- 3. nodata on every output grid ------------------------------------------------------------------------------
EXPECTED_NODATA = {"elevation": np.nan, "filled_elevation": np.nan, "flow_direction": 255, "accumulation": np.nan,
                   "upstream_area": np.nan, "streams": -1, "strahler_order": -1, "hand": np.nan}


def _same(a, b):
    return (np.isnan(a) and np.isnan(b)) if isinstance(b, float) and np.isnan(b) else a == b


@pytest.fixture
def terrain():
    z = np.add.outer(np.arange(8.0), np.arange(8.0)).astype(np.float32)
    z[3, 4] = np.nan
    return T.analyse(grid(z), 300.0)


def test_analyse_outputs_carry_nodata(terrain):
    for name, nodata in EXPECTED_NODATA.items():
        da = terrain[name]
        assert da.rio.nodata is not None and _same(da.rio.nodata, nodata), name
        assert _same(da.values[3, 4], nodata), name  # the nodata cell holds it
        assert not np.any([_same(v, nodata) for v in np.delete(da.values.ravel(), 3 * 8 + 4)]), name
    lab = T.catchments(terrain.flow_direction, [_centre(7, 7, top=Y0 + 80)])
    assert lab.rio.nodata == -1 and lab.values[3, 4] == -1
    acc = T.flow_accumulation(terrain.flow_direction, weights=np.ones(64))
    assert np.isnan(acc.rio.nodata)


def test_geotiff_and_netcdf_written_from_outputs_have_nodata(terrain, tmp_path):
    for name, nodata in EXPECTED_NODATA.items():
        path = tmp_path / f"{name}.tif"
        terrain[name].rio.to_raster(path)
        with rasterio.open(path) as src:
            assert src.nodata is not None and _same(src.nodata, float(nodata)), name
            masked = src.read(1, masked=True)
        assert masked.mask[3, 4] and int(masked.mask.sum()) == 1, name
    path = tmp_path / "terrain.nc"
    terrain.to_netcdf(path)
    with xr.open_dataset(path, mask_and_scale=False) as back:
        for name, nodata in EXPECTED_NODATA.items():
            assert _same(back[name].attrs["_FillValue"], nodata), name
    with xr.open_dataset(path) as back:
        assert int(back["flow_direction"].isnull().sum()) == 1 and np.isnan(back["streams"].values[3, 4])


# -- 4. true cell areas ------------------------------------------------------------------------------------------
def _geodesic_cell_areas(crs, transform, shape):
    inv = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    ny, nx = shape
    out = np.empty(shape)
    for r in range(ny):
        for c in range(nx):
            xs = [transform.c + transform.a * (c + dc) for dc in (0, 1, 1, 0)]
            ys = [transform.f + transform.e * (r + dr) for dr in (0, 0, 1, 1)]
            lon, lat = inv.transform(xs, ys)
            out[r, c] = abs(WGS84.polygon_area_perimeter(lon, lat)[0])
    return out


def _single_outlet_fdir(shape, transform, crs):
    """Every cell flows south, the last row east, to one outlet in the SE corner."""
    fd = np.full(shape, 4, np.uint8)
    fd[-1, :] = 1
    fd[-1, -1] = 0
    return from_array(fd, transform, crs, name="flow_direction")


@pytest.mark.parametrize("lat, ratio, tol", [(60.0, 0.25, 1e-2), (-1.2, 0.9933, 5e-4)])
def test_web_mercator_upstream_area_is_the_true_area(lat, ratio, tol):
    # EPSG:3857 maps WGS84 coordinates with spherical formulas: its cells are cos(lat)**2 smaller on the ground,
    # and 0.67 % smaller than dx * dy even on the equator (the meridional radius of WGS84 there is a * (1 - e2))
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(116.8, lat)
    transform = Affine(1000.0, 0, x, 0, -1000.0, y)
    shape = (6, 7)
    fdir = _single_outlet_fdir(shape, transform, "EPSG:3857")
    true = _geodesic_cell_areas("EPSG:3857", transform, shape)
    up = T.upstream_area(fdir)
    assert float(up.values[-1, -1]) == pytest.approx(true.sum(), rel=1e-5)
    assert float(up.values[-1, -1]) / (42 * 1e6) == pytest.approx(ratio, rel=tol)  # the old code gave 1.0
    net = T.flow_network(fdir)
    np.testing.assert_allclose(net.cell_area_m2.reshape(shape), true, rtol=1e-5)
    g = net.geometry
    assert not g.planar and g.dy_rows_m is not None
    # D8 step lengths are true lengths: N-S = geodesic height of the row, E-W = its width
    inv = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    lon, lat_ = inv.transform([x + 500.0, x + 500.0], [y, y - 1000.0])
    assert net.step_length_m[0] == pytest.approx(WGS84.inv(lon[0], lat_[0], lon[1], lat_[1])[2], rel=1e-6)
    lon, lat_ = inv.transform([x + 1000.0 * 5, x + 1000.0 * 6], [y - 5500.0, y - 5500.0])
    assert net.step_length_m[5 * 7 + 5] == pytest.approx(WGS84.inv(lon[0], lat_[0], lon[1], lat_[1])[2], rel=1e-6)
    # the D8 kernel gets, per row, distances in the true E-W : N-S : diagonal proportions
    ew, ns, diag = g.d8_distances()
    np.testing.assert_allclose(ew / ns, g.dx_m / g.dy_rows_m, rtol=1e-12)
    np.testing.assert_allclose(diag / ns, np.hypot(g.dx_m, g.dy_rows_m) / g.dy_rows_m, rtol=1e-12)


def test_utm_and_equal_area_keep_dx_dy():
    shape = (6, 7)
    t = Affine(30.0, 0, 468000.0, 0, -30.0, 9849000.0)
    up = T.upstream_area(_single_outlet_fdir(shape, t, "EPSG:32750"))
    assert float(up.values[-1, -1]) == 42 * 900.0
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3035", always_xy=True).transform(10.0, 52.0)
    g = T.grid_geometry(from_array(np.zeros(shape, np.float32), Affine(100.0, 0, x, 0, -100.0, y), "EPSG:3035"))
    assert g.planar and np.all(g.area_m2 == 1e4)


def test_utm_far_outside_its_zone_keeps_dx_dy_with_a_logged_warning(caplog):
    # zone 50 (central meridian 117 E) used at 108 E: cell sizes 2.4 % off, not by row only
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32750", always_xy=True).transform(108.0, -1.2)
    da = from_array(np.zeros((4, 4), np.float32), Affine(30.0, 0, x, 0, -30.0, y), "EPSG:32750")
    with caplog.at_level("WARNING", logger="hydro.terrain.grid"):
        g = T.grid_geometry(da)
    assert g.planar and np.all(g.area_m2 == 900.0)
    assert "distorts cell sizes by up to 2.4 %" in caplog.text and "reproject" in caplog.text

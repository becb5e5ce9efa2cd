"""People and road length in flooded cells: hand-derived cases, CRS handling, the embedded layers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from rasterio.transform import from_origin

from hydro.errors import InputDataError
from hydro.flood.exposure import people_affected, read_roads, roads_affected_km


def _map(values, x0=500000.0, y0=9850040.0, res=10.0, crs="EPSG:32750"):
    a = np.asarray(values, dtype=np.float32)
    da = xr.DataArray(a, dims=("y", "x"), coords={"y": y0 - res * (np.arange(a.shape[0]) + 0.5),
                                                  "x": x0 + res * (np.arange(a.shape[1]) + 0.5)})
    return da.rio.write_crs(crs).rio.write_transform(from_origin(x0, y0, res, res))


def test_people_in_flooded_cells_by_hand():
    depth = _map([[0.5, 0.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 0.0],
                  [0.0, 0.0, 0.2, 0.05],
                  [0.0, 0.0, np.nan, 0.0]])
    # population on a 20 m grid: the four 20 m cells hold 40, 8, 100, 60 people
    pop = _map([[40.0, 8.0], [100.0, 60.0]], res=20.0)
    # flooded (> 0.1 m): cell (0,0) in pop cell (0,0): 40/4 = 10; cell (2,2) in pop cell (1,1): 60/4 = 15
    assert people_affected(depth, pop, 0.1) == pytest.approx(25.0)
    assert people_affected(depth, pop, 0.0) == pytest.approx(25.0 + 60 / 4)  # the 0.05 m cell joins
    with pytest.raises(InputDataError, match="CRS"):
        people_affected(depth, xr.DataArray(pop.values, dims=("y", "x")), 0.1)


def test_people_on_a_finer_population_grid_are_counted_cell_by_cell():
    depth = _map([[0.5, 0.0],
                  [0.0, 0.3]], res=30.0)
    # population on a 10 m grid: 9 cells per map cell; people only off the map cells' centres
    pop = np.zeros((6, 6))
    pop[0, 0] = 7.0   # map cell (0,0), flooded
    pop[2, 1] = 5.0   # map cell (0,0), flooded
    pop[1, 1] = 0.0   # the centre cell of map cell (0,0): sampling it saw nobody
    pop[0, 4] = 11.0  # map cell (0,1), dry
    pop[5, 5] = 3.0   # map cell (1,1), flooded
    got = people_affected(depth, _map(pop, res=10.0), 0.1)
    assert got == pytest.approx(15.0)  # 7 + 5 + 3 (the old centre sampling gave 0)
    assert people_affected(depth, _map(pop, res=10.0), 0.4) == pytest.approx(12.0)


def test_road_length_over_flooded_cells_by_hand():
    depth = _map([[0.0, 0.0, 0.0, 0.0],
                  [0.3, 0.3, 0.0, 0.3],
                  [0.0, 0.0, 0.0, 0.0]])
    y = 9850040.0 - 15.0  # along the middle of row 1
    road = np.array([[500000.0, y], [500040.0, y]])
    assert roads_affected_km(depth, [road], 0.1) == pytest.approx(0.030)  # 3 of 4 cells, 10 m each
    diagonal = np.array([[500000.0, 9850040.0], [500030.0, 9850010.0]])  # through cells (0,0), (1,1), (2,2)
    # one cell crossed diagonally: 14.14 m, within one piece (1/20 cell diagonal) per cell-edge crossing
    assert roads_affected_km(depth, [diagonal], 0.1) == pytest.approx(np.hypot(10, 10) / 1000.0, abs=2 * 0.5 * np.sqrt(2) / 1000.0)
    outside = np.array([[400000.0, y], [400100.0, y]])
    assert roads_affected_km(depth, [outside], 0.1) == 0.0


def test_geojson_roads_in_lon_lat_are_projected(tmp_path):
    from pyproj import Geod

    lon = [116.85, 116.86]
    lat = [-1.27, -1.27]
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "LineString", "coordinates": list(zip(lon, lat))}}]}))
    [line] = read_roads(path, "EPSG:32750")
    utm_len = float(np.hypot(*(line[1] - line[0])))
    geod_len = Geod(ellps="WGS84").line_length(lon, lat)
    assert utm_len == pytest.approx(geod_len, rel=1e-3)  # UTM scale factor ~0.9996
    bad = tmp_path / "points.geojson"
    bad.write_text(json.dumps({"type": "Point", "coordinates": [116.8, -1.2]}))
    with pytest.raises(InputDataError, match="LineString"):
        read_roads(bad, "EPSG:32750")


def test_embedded_population_totals_the_city():
    from hydro.datasets import BALIKPAPAN_POPULATION, balikpapan_population

    pop = balikpapan_population(600.0)
    assert float(pop.sum()) == pytest.approx(BALIKPAPAN_POPULATION, rel=1e-5)
    assert pop.rio.crs.to_epsg() == 32750


@pytest.mark.parametrize("x_offset", [0.0, 10.0, 17.5])
def test_people_on_a_coarser_grid_of_another_size_are_conserved(x_offset):
    """1 km2 flooded at 10 m cells under 25 m population cells (sizes that do not divide) whose columns hold
    200, 0, 200, 0, ... people: each population column counts with the share of its width under the flood
    (sampling densities at map-cell centres gave up to +-44 % depending on the offset of the grids)."""
    west = 500000.0 - 250.0 + x_offset
    counts = np.tile(np.where(np.arange(50) % 2 == 0, 200.0, 0.0), (50, 1))
    pop = _map(counts, x0=west, y0=9850000.0 + 250.0, res=25.0)
    edges = west - 500000.0 + 25.0 * np.arange(51)  # population column edges, metres east of the map's west edge

    def expected(east_m):  # 40 full population rows (1000 m / 25 m) times each column's flooded width share
        share = np.clip(np.minimum(edges[1:], east_m) - np.maximum(edges[:-1], 0.0), 0.0, None) / 25.0
        return 40.0 * float(np.sum(counts[0] * share))

    depth = _map(np.ones((100, 100)), x0=500000.0, y0=9850000.0, res=10.0)
    assert people_affected(depth, pop, 0.1) == pytest.approx(expected(1000.0), rel=1e-12)
    half = np.zeros((100, 100))
    half[:, :41] = 1.0  # the west 410 m only: the edge cuts population cells
    assert people_affected(_map(half, x0=500000.0, y0=9850000.0, res=10.0), pop, 0.1) == pytest.approx(
        expected(410.0), rel=1e-12)


def test_people_on_a_finer_grid_are_split_where_their_cells_straddle():
    """4 m population cells (1 person each) under 10 m map cells: a flooded block of 3 x 2 map cells holds
    600 m2 / 16 m2 = 37.5 people (cells straddling the block's edges count with their flooded share)."""
    depth = np.zeros((6, 6))
    depth[1:4, 2:4] = 1.0
    pop = np.ones((15, 15))
    got = people_affected(_map(depth, res=10.0), _map(pop, res=4.0), 0.1)
    assert got == pytest.approx(37.5, rel=1e-12)


def test_people_on_a_population_grid_in_another_crs():
    """WorldPop-style counts on a 0.0005 degree grid (EPSG:4326) under a 30 m UTM 50S map: 0.01 people per m2
    everywhere (counts = density x true cell area): the flooded area times the density, within 0.5 %."""
    from hydro.terrain.grid import grid_geometry

    lon0, lat0, res = 116.80, -1.20, 0.0005
    n = 120
    pop = xr.DataArray(np.zeros((n, n)), dims=("y", "x"),
                       coords={"y": lat0 - res * (np.arange(n) + 0.5), "x": lon0 + res * (np.arange(n) + 0.5)})
    pop = pop.rio.write_crs("EPSG:4326").rio.write_transform(from_origin(lon0, lat0, res, res))
    pop = pop.copy(data=np.repeat(0.01 * grid_geometry(pop).area_m2[:, None], n, axis=1))
    from pyproj import Transformer

    x0, y0 = Transformer.from_crs("EPSG:4326", "EPSG:32750", always_xy=True).transform(lon0 + 0.01, lat0 - 0.01)
    depth = np.zeros((60, 60))
    depth[10:50, 5:45] = 0.5  # 40 x 40 cells of 30 m: 1.44 km2
    got = people_affected(_map(depth, x0=x0, y0=y0, res=30.0), pop, 0.1)
    assert got == pytest.approx(0.01 * 1600 * 900.0, rel=5e-3)


def test_road_lengths_are_metres_on_degree_and_web_mercator_maps():
    """A 0.02 degree east-west road at 1.27 S: its geodesic length whether the map is in degrees or in Web
    Mercator (the plane length there is 1.0002 x at this latitude, 2 x at 60 degrees; degrees were summed as if
    they were metres)."""
    from pyproj import Geod, Transformer

    geod_km = Geod(ellps="WGS84").line_length([116.85, 116.87], [-1.27, -1.27]) / 1000.0
    deg = _map(np.ones((40, 40)), x0=116.84, y0=-1.26, res=0.001, crs="EPSG:4326")
    road = np.array([[116.85, -1.27], [116.87, -1.27]])
    assert roads_affected_km(deg, [road], 0.1) == pytest.approx(geod_km, rel=1e-6)
    tf = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    (mx0, mx1), (my0, my1) = tf.transform([116.84, 116.88], [-1.26, -1.30])
    merc = _map(np.ones((40, 40)), x0=mx0, y0=my0, res=(mx1 - mx0) / 40, crs="EPSG:3857")
    line = np.column_stack(tf.transform(road[:, 0], road[:, 1]))
    assert roads_affected_km(merc, [line], 0.1) == pytest.approx(geod_km, rel=1e-6)
    # 60 degrees north: Web Mercator doubles plane lengths; the reported length stays the geodesic one
    (nx0, nx1), (ny0, ny1) = tf.transform([10.0, 10.04], [60.02, 59.98])
    north = _map(np.ones((80, 40)), x0=nx0, y0=ny0, res=(nx1 - nx0) / 40, crs="EPSG:3857")
    line = np.column_stack(tf.transform([10.01, 10.03], [60.0, 60.0]))
    want = Geod(ellps="WGS84").line_length([10.01, 10.03], [60.0, 60.0]) / 1000.0
    assert roads_affected_km(north, [line], 0.1) == pytest.approx(want, rel=1e-4)


def test_road_length_on_a_coarsened_map_follows_its_coordinates():
    # a 10 m map with rows 2-3 flooded, coarsened x2: 20 m cells, row 1 flooded (y 9850000..9850020). A road along
    # y = 9850010 over the 40 m width lies over flooded cells for 40 m. With the stale 10 m GeoTransform rioxarray
    # keeps after coarsen(), the road's cells were looked up at 10 m: row 3 of a 2-row map (0 m).
    fine = np.zeros((4, 4))
    fine[2:4, :] = 0.5
    coarse = _map(fine).coarsen(y=2, x=2).mean()
    assert coarse.rio.transform().a == 10.0  # the stale stored GeoTransform this test is about
    road = np.array([[500000.0, 9850010.0], [500040.0, 9850010.0]])
    assert roads_affected_km(coarse, [road], 0.1) == pytest.approx(0.040, abs=0.002)


def test_roads_in_a_named_projected_crs_are_transformed(tmp_path):
    """Before: a GeoJSON in Web Mercator naming its CRS was taken as already in UTM 50S (coordinates off by
    ~13,000 km, no road ever flooded)."""
    import json

    from pyproj import CRS, Transformer

    lon, lat = [116.80, 116.81], [-1.25, -1.25]
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32750", always_xy=True)
    mx, my = to_merc.transform(lon, lat)
    ux, uy = to_utm.transform(lon, lat)
    for crs_member in ({"crs_wkt": CRS.from_epsg(3857).to_wkt()},
                       {"crs": {"type": "name", "properties": {"name": "EPSG:3857"}}}):
        doc = {"type": "FeatureCollection", **crs_member, "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "LineString",
                                                              "coordinates": [[mx[0], my[0]], [mx[1], my[1]]]}}]}
        path = tmp_path / "roads.geojson"
        path.write_text(json.dumps(doc))
        [line] = read_roads(path, "EPSG:32750")
        np.testing.assert_allclose(line[:, 0], ux, atol=1e-3)
        np.testing.assert_allclose(line[:, 1], uy, atol=1e-3)
    doc["crs"] = {"type": "name", "properties": {"name": "EPSG:not-a-code"}}
    path.write_text(json.dumps(doc))
    with pytest.raises(InputDataError, match="CRS"):
        read_roads(path, "EPSG:32750")

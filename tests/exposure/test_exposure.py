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
    with pytest.raises(InputDataError, match="reproject"):
        people_affected(depth, pop.rio.write_crs("EPSG:32650"), 0.1)


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

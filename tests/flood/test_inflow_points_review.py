"""Mass-balance review: water handed from the routing to the 2-D flood run (hydro.flood.example.domain_inflow_points).

The 2-D run gets the routed discharge at every point domain_inflow_points returns, and the transfer check
``routing_to_flood_2d`` compares the routed volume at the SAME points with the 2-D point inflow, so a point that
brings in no water from outside (or water already given at another point) creates water while every balance says
closed. Expected point sets are derived by hand from the small grids below.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from hydro.flood.example import domain_inflow_points


def _grid(up: np.ndarray, codes: np.ndarray | None = None) -> xr.Dataset:
    ny, nx = up.shape
    coords = {"y": (ny - 1 - np.arange(ny)) * 10.0, "x": np.arange(nx) * 10.0}
    ds = xr.Dataset({"upstream_area": (("y", "x"), up)}, coords=coords)
    if codes is not None:
        ds["flow_direction"] = (("y", "x"), codes.astype(np.uint8))
    return ds


def test_a_river_at_a_corner_of_the_domain_enters_once():
    # one river (9 km2) crossing the north-east corner cell: it is the maximum of the north edge AND of the east
    # edge; it was returned twice, so the 2-D run received its routed hydrograph twice (transfer still "closed")
    up = np.zeros((5, 7))
    up[0, 6] = 9e6
    pts = domain_inflow_points(_grid(up), (0, 0, 60, 40), edges=("north", "east"), min_area_m2=5e6)
    assert pts == [(60.0, 40.0, 9e6)]


def test_a_river_that_drains_out_of_the_domain_is_no_inflow():
    # north edge: a 8 km2 river at column 2 flows north (code 64), out of the domain: its routed discharge is rain
    # that fell on the domain (which the 2-D run rains itself) - no inflow. A 6 km2 river at column 5 flows south
    # (code 4) into the domain: the only inflow.
    up = np.zeros((5, 7))
    up[0, 2], up[0, 5] = 8e6, 6e6
    codes = np.full((5, 7), 4)
    codes[0, 2] = 64
    pts = domain_inflow_points(_grid(up, codes), (0, 0, 60, 40), edges=("north",), min_area_m2=5e6)
    assert pts == [(50.0, 40.0, 6e6)]


def test_a_river_reentering_the_domain_is_given_once():
    # grid 5 x 8, domain = columns 1..7 (x 10..70). River A (6 km2) enters at the north edge (row 0, col 2), turns
    # west, leaves through column 0 and re-enters at the west edge (row 2, col 1) as B (9 km2 = A + 3 km2 outside).
    # B's routed discharge holds A's water: only B is an inflow (A and B both given = A's water twice).
    up = np.zeros((5, 8))
    codes = np.full((5, 8), 4)
    up[0, 2], codes[0, 2] = 6e6, 4    # A -> (1, 2)
    up[1, 2], codes[1, 2] = 6.05e6, 16  # -> (1, 1)
    up[1, 1], codes[1, 1] = 6.1e6, 16   # -> (1, 0), outside the domain
    up[1, 0], codes[1, 0] = 6.2e6, 4    # -> (2, 0)
    up[2, 0], codes[2, 0] = 8e6, 1      # -> (2, 1) = B on the west edge
    up[2, 1], codes[2, 1] = 9e6, 1      # B -> (2, 2), into the domain
    pts = domain_inflow_points(_grid(up, codes), (10, 0, 70, 40), edges=("north", "west"), min_area_m2=5e6)
    assert pts == [(10.0, 20.0, 9e6)]

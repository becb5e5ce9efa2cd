"""Tests written for surviving mutants (mutation-testing review, session 20); expected values by hand."""
from __future__ import annotations

import numpy as np
import xarray as xr

from hydro.terrain import flow_direction, streams

from .helpers import grid


def test_d8_tie_goes_to_the_first_neighbour_in_esri_order():
    # the centre (10 m) has two equally steep lower neighbours: E and W at 9 m (slope 0.1 on 10 m cells);
    # the documented tie rule (first in ESRI order E, SE, S, ...) gives E = code 1, not W = 16
    z = np.array([[20, 20, 20],
                  [9, 10, 9],
                  [20, 20, 20]], float)
    fd = flow_direction(grid(z)).values
    assert int(fd[1, 1]) == 1
    # S (code 4) and N (64) tie: S comes first
    assert int(flow_direction(grid(z.T)).values[1, 1]) == 4
    # SE (2) and NW (32) tie, the E/W/N/S neighbours higher: SE
    z = np.array([[9, 20, 20],
                  [20, 10, 20],
                  [20, 20, 9]], float)
    assert int(flow_direction(grid(z)).values[1, 1]) == 2


def test_stream_threshold_is_inclusive():
    # "cells whose upstream area is at least threshold_m2": a cell exactly at the threshold is a stream
    a = xr.DataArray(np.array([[100.0, 200.0, 300.0]]), dims=("y", "x"))
    s = streams(a, 200.0)
    assert s.values.tolist() == [[0, 1, 1]]

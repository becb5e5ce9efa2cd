"""Condition a DEM and derive its drainage network, catchment and HAND (writes CF NetCDF).

    python examples/01_condition_dem.py [DEM.tif] [--out outputs/example_terrain.nc]

Without a DEM it uses the embedded synthetic Balikpapan catchment at 90 m.
"""
import argparse
from pathlib import Path

import numpy as np

import hydro.terrain as T
from hydro.datasets import balikpapan_dem, balikpapan_features
from hydro.io import open_dem, write_netcdf

ap = argparse.ArgumentParser()
ap.add_argument("dem", nargs="?")
ap.add_argument("--out", default="outputs/example_terrain.nc")
args = ap.parse_args()

dem = open_dem(args.dem) if args.dem else balikpapan_dem(resolution_m=90.0)
ds = T.analyse(dem, stream_threshold_m2=1e6)
net = T.flow_network(ds.flow_direction)
print(f"{dem.shape[0]} x {dem.shape[1]} cells, {ds.filled_elevation.attrs['cells_raised']} raised by filling")
print(f"largest outlet drains {net.upstream_area_m2()[net.outlets].max() / 1e6:.1f} km2; "
      f"max Strahler order {int(ds.strahler_order.max())}")
if not args.dem:
    gauge = balikpapan_features().gauges["ampal_outlet"]
    cat = T.catchments(net, {"ampal": gauge}, stream_mask=ds.streams, snap_distance_m=500, like=ds.flow_direction)
    ds["catchment"] = cat
    print(f"Ampal-like catchment at its gauge: {(cat.values == 1).sum() * 90 * 90 / 1e6:.1f} km2")
print(f"HAND: median {np.nanmedian(ds.hand.values):.1f} m")
print("wrote", write_netcdf(ds, Path(args.out), title="example terrain analysis"))

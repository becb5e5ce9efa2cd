"""Routing on real DEMs (../shared/data/dem): steady state and volume balance on real networks."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.routing import RoutingNetwork, RoutingParameters


def _network(path, with_terrain=False):
    from hydro.io import open_dem
    from hydro.terrain import analyse, flow_network

    terrain = analyse(open_dem(path), stream_threshold_m2=1e6)
    net = flow_network(terrain["flow_direction"])
    rn = RoutingNetwork.build(net, terrain["filled_elevation"].values, RoutingParameters(channel_threshold_m2=1e6), 3600.0)
    return (net, rn, terrain) if with_terrain else (net, rn)


def test_steady_discharge_matches_pyflwdir_upstream_area(shared_dem):
    """Side by side with a peer: steady Q / rate equals pyflwdir's upstream area on the same D8 grid."""
    pyflwdir = pytest.importorskip("pyflwdir")
    net, rn, terrain = _network(shared_dem("topotoolbox_bigtujunga_srtm30m_utm11.tif"), with_terrain=True)
    area = rn.from_grid(net.cell_area_m2)
    for _ in range(110):
        out = rn.step(area * 1.0 / 3.6e6)
    d8 = terrain["flow_direction"].values.copy()
    d8[d8 == 255] = 247  # pyflwdir's D8 nodata
    flw = pyflwdir.from_array(d8, ftype="d8", transform=terrain.rio.transform(), latlon=False, check_ftype=True)
    upa = flw.upstream_area(unit="m2").ravel()
    # pyflwdir accumulates in float32 (relative error up to ~1e-5 on the largest areas)
    np.testing.assert_allclose(out["q_mean"] * 3.6e6, rn.from_grid(upa), rtol=2e-5)


@pytest.mark.parametrize("name, steps", [("pysheds_dem_fortworth_3s.tif", 260), ("topotoolbox_bigtujunga_srtm30m_utm11.tif", 110)])
def test_steady_state_equals_upstream_area_times_rate_on_real_dems(shared_dem, name, steps):
    """1 mm/h on every cell: Q at steady state = upstream area x rate (geographic Fort Worth grid:
    cell areas vary by row; Big Tujunga: 30 m SRTM in UTM)."""
    net, rn = _network(shared_dem(name))
    area = rn.from_grid(net.cell_area_m2)
    lateral = area * 1.0 / 3.6e6
    vol_in = vol_out = 0.0
    s0 = rn.reach_storage_m3()
    for _ in range(steps):
        out = rn.step(lateral)
        vol_in += lateral.sum() * 3600.0
        vol_out += out["outflow_m3"]
        assert out["nonconverged"] == 0
    expected = rn.from_grid(net.accumulate(net.cell_area_m2)) / 3.6e6
    np.testing.assert_allclose(out["q_mean"], expected, rtol=1e-8)
    assert abs(vol_in - vol_out - (rn.reach_storage_m3() - s0)) <= 1e-9 * vol_in


def test_storm_and_recession_conserve_volume_on_big_tujunga(shared_dem):
    net, rn = _network(shared_dem("topotoolbox_bigtujunga_srtm30m_utm11.tif"))
    area = rn.from_grid(net.cell_area_m2)
    rng = np.random.default_rng(3)
    peak_seen = 0.0
    for t in range(36):
        rate = 20.0 * np.exp(-(((t - 6) / 3.0) ** 2)) * rng.uniform(0.5, 1.5, rn.nvalid)  # mm/h
        lateral = rate * area / 3.6e6
        s0 = rn.reach_storage_m3()
        out = rn.step(lateral)
        vin = lateral.sum() * 3600.0
        assert abs(vin - out["outflow_m3"] - (rn.reach_storage_m3() - s0)) <= 1e-9 * max(vin, out["outflow_m3"], s0)
        assert np.all(out["q_max"] >= out["q_mean"] * (1 - 1e-12))
        peak_seen = max(peak_seen, out["q_mean"].max())
    # recession: the largest outlet discharge has passed its peak and decreases
    assert rn.q.max() < peak_seen

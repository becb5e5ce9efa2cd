"""`hydro flood` writes its five map files as one group: a failure part way (disk full at the hazard GeoTIFF)
left the new NetCDF files and depth GeoTIFF beside the previous run's hazard map and polygons."""
from __future__ import annotations

import errno

from click.testing import CliRunner

from hydro.cli import cli

NAMES = ["hand_flood.nc", "plain_extent.geojson", "plain_flood.nc", "plain_flood_max.nc", "plain_hazard.tif",
         "plain_max_depth.tif"]


def _run(out, *extra):
    res = CliRunner().invoke(cli, ["flood", "--resolution-m", "1000", "--duration-h", "1", "--output-dir", str(out),
                                   *extra])
    return res.exit_code, res.output


def test_a_failed_write_keeps_the_previous_maps(tmp_path, monkeypatch):
    out = tmp_path / "maps"
    code, output = _run(out)
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == NAMES
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    import hydro.flood.products as products

    real = products.write_cog

    def full(da, path, *a, **k):
        if "hazard" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(da, path, *a, **k)

    monkeypatch.setattr(products, "write_cog", full)
    code, output = _run(out, "--duration-h", "2")  # another run: its files differ from the first one's
    assert code == 73, output
    assert "No space left on device" in output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no mix, no staging folder left


def test_maps_replace_an_earlier_run_whole(tmp_path):
    out = tmp_path / "maps"
    assert _run(out)[0] == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    code, output = _run(out, "--duration-h", "2")
    assert code == 0, output
    second = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(second) == NAMES
    assert second["plain_flood.nc"] != first["plain_flood.nc"]

"""`hydro run-catchment --state-out` writes the warm state in the same all-or-nothing group as the outputs: the
state used to be written after the outputs were published, so a failed state write left the new outputs beside
the previous run's state (the next warm start continued from the wrong run). The reruns here use twice the rain,
so their files differ from the first run's."""
from __future__ import annotations

import errno
from pathlib import Path

import xarray as xr

from tests.cli import test_review_s22_cli as s22
from tests.cli.test_review_s22_cli import invoke, one_line, snapshot

catchment_inputs = s22.catchment_inputs  # the module-scoped fixture (terrain.nc, p.nc of a 1 km grid)


def _argv(inputs, out, state, rain="p.nc"):
    return ["run-catchment", inputs / "terrain.nc", "--precipitation", inputs / rain, "--outlets", "1",
            "--output-dir", out, "--state-out", state]


def _disk_full_at(monkeypatch, name_part: str) -> None:
    """Writing a NetCDF file whose name holds ``name_part`` fails with ENOSPC (the tmp path of these tests holds
    "state" in its folder names: only the file name is matched)."""
    real = xr.Dataset.to_netcdf

    def full(self, path=None, *args, **kwargs):
        if name_part in Path(str(path)).name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full)


def _double_rain(inputs, tmp_path):
    """The forcing with twice the rain: another run whose outputs and state differ from the first."""
    with xr.open_dataset(inputs / "p.nc") as ds:
        ds = ds.load()
    ds["precipitation"] = ds["precipitation"] * 2.0
    ds.to_netcdf(tmp_path / "p2.nc")
    return tmp_path / "p2.nc"


def test_failed_state_write_keeps_previous_outputs_and_state(catchment_inputs, tmp_path, monkeypatch):
    out, state = tmp_path / "out", tmp_path / "states" / "state.nc"
    code, output = invoke(*_argv(catchment_inputs, out, state))
    assert code == 0, output
    before = snapshot(out)
    state_before = state.read_bytes()
    assert sorted(before) == ["run_gauges.nc", "run_grid.nc", "run_water_balance.nc"]
    p2 = _double_rain(catchment_inputs, tmp_path)
    _disk_full_at(monkeypatch, "state.nc")  # the disk fills up at the state, after every product was written
    code, output = invoke(*_argv(catchment_inputs, out, state, p2))
    assert code == 73, output
    assert "No space left on device" in one_line(output)
    assert snapshot(out) == before  # the outputs were replaced before the state failed
    assert state.read_bytes() == state_before
    assert not [p.name for d in (out, state.parent) for p in d.iterdir() if ".tmp-" in p.name]


def test_failed_output_write_keeps_previous_state(catchment_inputs, tmp_path, monkeypatch):
    out, state = tmp_path / "out", tmp_path / "state.nc"
    code, output = invoke(*_argv(catchment_inputs, out, state))
    assert code == 0, output
    state_before = state.read_bytes()
    p2 = _double_rain(catchment_inputs, tmp_path)
    _disk_full_at(monkeypatch, "water_balance")
    code, output = invoke(*_argv(catchment_inputs, out, state, p2))
    assert code == 73, output
    assert state.read_bytes() == state_before


def test_rerun_with_more_rain_changes_outputs_and_state(catchment_inputs, tmp_path):
    """The reruns above are other runs: without a failure, both the outputs and the state change."""
    out, state = tmp_path / "out", tmp_path / "state.nc"
    assert invoke(*_argv(catchment_inputs, out, state))[0] == 0
    before, state_before = snapshot(out), state.read_bytes()
    code, output = invoke(*_argv(catchment_inputs, out, state, _double_rain(catchment_inputs, tmp_path)))
    assert code == 0, output
    after = snapshot(out)
    assert after["run_gauges.nc"] != before["run_gauges.nc"] and state.read_bytes() != state_before


def test_state_written_with_outputs(catchment_inputs, tmp_path):
    out, state = tmp_path / "out", tmp_path / "new" / "dir" / "state.nc"
    code, output = invoke(*_argv(catchment_inputs, out, state))
    assert code == 0, output
    assert f"state: {state}" in output
    with xr.open_dataset(state) as ds:
        assert "channel_discharge" in ds and "hydro_state_valid_time" in ds.attrs

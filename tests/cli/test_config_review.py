"""Model-config validation found by an operations review (2026-12-06): times with zones, durations, encoding and the
line numbers in messages. Pure config checks (no run), plus one `validate-config` exit code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hydro.config import load_config
from hydro.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
BASE = (REPO / "models" / "balikpapan.toml").read_text(encoding="utf-8")


def _with(tmp_path: Path, old: str, new: str) -> Path:
    assert old in BASE, old
    p = tmp_path / "model.toml"
    p.write_text(BASE.replace(old, new, 1), encoding="utf-8")
    # the DEM and data paths are relative to the config file: point them back to the repository
    return p


def _start_line() -> str:
    return next(line for line in BASE.splitlines() if line.strip().startswith("start"))


@pytest.mark.parametrize("given, utc", [("2025-08-25T00:00Z", "2025-08-25T00:00:00"),
                                         ("2025-08-25T08:00+08:00", "2025-08-25T00:00:00"),
                                         ("2025-08-25T08:00", "2025-08-25T08:00:00")])
def test_forcing_start_with_a_zone_is_converted_to_utc(tmp_path, given, utc):
    cfg = load_config(_with(tmp_path, _start_line(), f'start = "{given}"'))
    assert cfg.forcing.start == utc


def test_forcing_start_with_a_zone_name_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"forcing\.start.*ISO 8601.*\+08:00"):
        load_config(_with(tmp_path, _start_line(), 'start = "2025-08-25T08:00 WITA"'))


def test_bad_model_step_is_a_config_error_naming_the_key(tmp_path):
    line = next(x for x in BASE.splitlines() if x.strip().startswith("model_step"))
    with pytest.raises(ConfigError, match=r"routing\.model_step.*not a duration"):
        load_config(_with(tmp_path, line, 'model_step = "30 mins please"'))
    with pytest.raises(ConfigError, match="not a multiple"):
        load_config(_with(tmp_path, line, 'model_step = "25min"'))


def test_config_that_is_not_utf8_is_a_config_error(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes(BASE.replace("Balikpapan", "Balikpapan \xe9", 1).encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)
    out = subprocess.run([sys.executable, "-m", "hydro.cli", "validate-config", str(p)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 78, out.stderr
    assert "Traceback" not in out.stderr


def test_error_line_points_at_the_right_array_table(tmp_path):
    lines = BASE.splitlines()
    heads = [i for i, x in enumerate(lines) if x.strip() == "[[gauges]]"]
    assert len(heads) >= 2
    j = next(i for i in range(heads[1], len(lines)) if lines[i].strip().startswith("y "))
    bad = list(lines)
    bad[j] = 'y = "north of the bridge"'
    p = tmp_path / "model.toml"
    p.write_text("\n".join(bad) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert f"model.toml:{j + 1}: gauges.1.y" in str(err.value)


def test_unknown_key_inside_an_array_table_lists_the_allowed_keys(tmp_path):
    """A typo inside the second [[gauges]] names its line and the keys a gauge takes."""
    lines = BASE.splitlines()
    heads = [i for i, x in enumerate(lines) if x.strip() == "[[gauges]]"]
    j = next(i for i in range(heads[1], len(lines)) if lines[i].strip().startswith("warning_levels_m3s"))
    bad = list(lines)
    bad[j] = bad[j].replace("warning_levels_m3s", "warning_level_m3s")
    p = tmp_path / "model.toml"
    p.write_text("\n".join(bad) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    assert f"model.toml:{j + 1}: gauges.1.warning_level_m3s: unknown key (allowed: " in msg, msg
    allowed = msg.split("(allowed: ")[1].split(")")[0].split(", ")
    assert "warning_levels_m3s" in allowed and "upstream_area_km2" in allowed and "id" in allowed


def test_runoff_parameter_step_reaches_the_runoff_model(tmp_path):
    """X2/X3 values at the configured parameter step: '1h' values at a 30 min model step act as X3*2^(1/4), '1D'
    values as X3*48^(1/4); a non-duration is a configuration error."""
    from hydro.forecast.hydrology import build_model
    from hydro.terrain import analyse
    from hydro.datasets import balikpapan_dem

    base = 'parameter_step = "1h"'
    assert load_config(_with(tmp_path, base, base)).runoff.parameter_step == "1h"
    with pytest.raises(ConfigError, match=r"parameter_step"):
        load_config(_with(tmp_path, base, 'parameter_step = "hourly"'))
    cfg0 = load_config(_with(tmp_path, base, base))
    terrain = analyse(balikpapan_dem(150.0, seed=cfg0.dem.seed), cfg0.terrain.stream_threshold_km2 * 1e6)
    x3o = {}
    for step in ("1h", "1D"):
        cfg = load_config(_with(tmp_path, base, f'parameter_step = "{step}"'))
        assert cfg.routing.model_step == "30min"
        model = build_model(cfg, terrain)
        x3o[step] = float(model.runoff._x3o[0])
    assert x3o["1h"] == pytest.approx(60.0 * 2.0 ** 0.25, rel=1e-12)
    assert x3o["1D"] == pytest.approx(60.0 * 48.0 ** 0.25, rel=1e-12)

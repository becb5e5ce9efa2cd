"""A small copy of the embedded Balikpapan project (150 m DEM, 48 k cells) for forecast tests."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def make_project(root: Path, *, resolution_m: float = 150.0, allocation: bool = False, report: bool = False,
                 members: int = 0, extra: str = "") -> Path:
    """``root/models/small.toml`` + ``root/inputs/forcing`` (+ allocation inputs): returns the config path."""
    (root / "models").mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "inputs" / "forcing", root / "inputs" / "forcing", dirs_exist_ok=True)
    text = (REPO / "models" / "balikpapan.toml").read_text()
    text = re.sub(r"resolution_m = [0-9.]+", f"resolution_m = {resolution_m}", text)
    text = text.replace("[flood]\nenabled = true", "[flood]\nenabled = false")
    if not allocation:
        text = text.replace("[allocation]\nenabled = true", "[allocation]\nenabled = false")
    else:
        shutil.copy(REPO / "models" / "balikpapan_water.toml", root / "models" / "balikpapan_water.toml")
        shutil.copytree(REPO / "inputs" / "allocation", root / "inputs" / "allocation", dirs_exist_ok=True)
    text = text.replace("[outputs]\n", f"[outputs]\nreport = {'true' if report else 'false'}\n")
    text = text.replace("[ensemble]\nmembers = 0", f"[ensemble]\nmembers = {members}")
    text += extra
    cfg = root / "models" / "small.toml"
    cfg.write_text(text)
    return cfg


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")

"""Doc-walk review (s23): statements of docs/*.md checked against the code and the tests they name.

The docs are read from the tree that holds the imported ``hydro`` package (``<tree>/docs``).
"""
import inspect
import re
from pathlib import Path

import pytest

import hydro

TREE = Path(hydro.__file__).resolve().parents[1]
DOCS = TREE / "docs"

pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ not beside the hydro package")


def _paragraph(text: str, start: str) -> str:
    i = text.index(start)
    j = text.find("\n\n", i)
    return text[i:j if j > 0 else None]


def test_operations_doc_counts_the_bad_inputs_of_the_corpus():
    # the corpus file, as collected by pytest: 39 test_bad_input[...] cases (+ 2 other tests = 41 collected)
    src = (TREE / "tests" / "forecast" / "test_bad_inputs.py").read_text()
    assert "CASES" in src
    from tests.forecast.test_bad_inputs import CASES
    assert len(CASES) == 39
    text = (DOCS / "operations.md").read_text()
    m = re.search(r"`tests/forecast/test_bad_inputs\.py` holds (\d+) bad inputs", text)
    assert m is not None
    assert int(m.group(1)) == 39  # was 38


def test_operations_doc_run_id_names_the_settings_it_leaves_out():
    # hydro run's id leaves [ensemble] and [forecast] (but hand_threshold_m, flooded_area_alert_km2) out
    from hydro.config import EnsembleConfig, load_config
    from hydro.forecast.pipeline import run_id_for

    cfg = load_config(TREE / "models" / "balikpapan.toml")
    other = cfg.model_copy(update={"ensemble": EnsembleConfig(members=cfg.ensemble.members + 3)})
    assert run_id_for(other) == run_id_for(cfg)          # the behaviour (unchanged)
    para = _paragraph((DOCS / "operations.md").read_text(), "**Run id and folder**")
    assert "[ensemble]" in para and "[forecast]" in para  # the doc said "the resolved configuration" only


def test_allocation_doc_names_every_cli_allocate_parameter():
    from hydro.allocation import cli_allocate

    names = [p for p, v in inspect.signature(cli_allocate).parameters.items() if v.kind is not v.VAR_KEYWORD]
    assert names == ["network_path", "output_path", "start", "steps", "inflows", "explain"]
    text = (DOCS / "allocation.md").read_text()
    m = re.search(r"hydro\.allocation\.cli_allocate\(([^)]*)\)", text)
    assert m is not None
    documented = [a.strip().split("=")[0] for a in m.group(1).split(",") if a.strip() not in ("*", "")]
    assert documented == names  # the doc omitted inflows= and explain= (--no-explain)

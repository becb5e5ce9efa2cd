"""A calibration: the lumped GR-type model against the synthetic catchment in inputs/calibration
(known true parameters), reproducible with a seed; writes simulated series and scores.

    python examples/04_calibration.py
"""
from pathlib import Path

from hydro.calibrate import run_calibration

cfg = Path(__file__).resolve().parents[1] / "models" / "calibration_example.toml"
res = run_calibration(cfg)
result = res.get("result")
print("scores:", getattr(result, "scores", {k: v for k, v in res.items() if k != "paths"}))
for kind, path in res["paths"].items():
    print(kind, path)

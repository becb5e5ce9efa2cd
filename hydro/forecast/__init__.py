"""Orchestration of model runs: `hydro run` and the nightly forecast (run ids, atomic run folders, manifests)."""
from hydro.forecast.pipeline import RunResult, run_model

__all__ = ["run_model", "RunResult"]

"""The nightly forecast with a neighbour's border-flow file as an upstream inflow.

Kutai Kartanegara publishes its discharge at the agreed border point KKR-WAIN-1 (inputs/exchange/, the
hydro-exchange-1.0 profile, one file per night). This script checks the first night's file like any
untrusted input, runs two nights of `hydro forecast` (25 and 26 August 2025: the second warm-starts
from the state the first saved), shows the alerts and our own exchange file, and shows what happens
on a night whose inputs are not published yet (27 August: exit 75 in the CLI, retry later).

    python examples/05_nightly_forecast.py [--resolution-m 90] [--out outputs/example_forecast]
"""
import argparse
import json
from pathlib import Path

from hydro.config import ExchangeInflowConfig, load_config
from hydro.errors import InputNotReadyError
from hydro.exchange import validate_exchange
from hydro.forecast.nightly import run_forecast

REPO = Path(__file__).resolve().parents[1]
ap = argparse.ArgumentParser()
ap.add_argument("--resolution-m", type=float, default=90.0, help="cell size of the embedded DEM")
ap.add_argument("--out", default="outputs/example_forecast")
args = ap.parse_args()

neighbour = REPO / "inputs" / "exchange" / "kukar_20250825T0000Z_border_discharge.nc"
problems = validate_exchange(neighbour, expected_ids=["KKR-WAIN-1"])
print(f"neighbour file {neighbour.name}: {'valid' if not problems else [str(p) for p in problems]}")

base = load_config(REPO / "models" / "balikpapan.toml")
cfg = base.model_copy(update={
    "dem": base.dem.model_copy(update={"resolution_m": args.resolution_m}),
    "flood": base.flood.model_copy(update={"enabled": False}),   # the nightly job maps floods with HAND
    "exchange": base.exchange.model_copy(update={"inflows": [ExchangeInflowConfig(
        file="../inputs/exchange/kukar_{reference_time:%Y%m%dT%H%MZ}_border_discharge.nc", point="KKR-WAIN-1")]}),
})
object.__setattr__(cfg, "_source_path", REPO / "models" / "balikpapan.toml")

for night in ("2025-08-25T00:00Z", "2025-08-26T00:00Z", "2025-08-27T00:00Z"):
    try:
        r = run_forecast(cfg, night, output_root=args.out)
    except InputNotReadyError as exc:
        print(f"{night}: not ready, retry later (exit 75): {exc}")
        continue
    ws = r.manifest["warm_start"]
    print(f"{night}: {r.run_id} warm start level {ws['level']} ({ws['source']})")
    alerts = json.loads((r.run_dir / "alerts.json").read_text())
    for a in alerts["alerts"]:
        print("  ALERT", a["message"])
    inflow = r.manifest["facts"]["water_balance"]["inflow"]
    print(f"  neighbour inflow over the forecast: {inflow / 1e6:.2f} Mm3")
    for f in sorted((r.run_dir / "exchange").glob("*.nc")):
        print("  our border flows:", f)
    print("  report:", r.run_dir / "report.html")

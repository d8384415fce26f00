"""Every bench of spec 60-quality against PostgreSQL, in turn, then one table
of their figures (what `make bench` runs).

    .venv/bin/python -m bench.all [--quick]

--quick runs each with smaller counts (a smoke test of the scripts, not figures).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import ROOT

BENCHES = {
    "read_api": [],
    "promo_codes": [],
    "activation": [],
    "orders": [],
    "webhook_latency": [],
    "idle_orders": [],
    "tunnel_latency": [],
}
QUICK = {
    "read_api": ["--seconds", "3", "--rounds", "1"],
    "promo_codes": ["--count", "20000"],
    "activation": ["--seconds", "3"],
    "orders": ["--count", "100"],
    "webhook_latency": ["--contracts", "5", "--orders", "5"],
    "idle_orders": ["--count", "200"],
    "tunnel_latency": ["--count", "10", "--warmup", "2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    table: list[str] = []
    failed: list[str] = []
    for name, options in BENCHES.items():
        options = QUICK[name] if args.quick else options
        print(f"== bench.{name} {' '.join(options)}", flush=True)
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", f"bench.{name}", *options],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        print(run.stdout + run.stderr[-3000:], flush=True)
        figures = [line for line in run.stdout.splitlines() if line.startswith(f"{name} ")]
        table.extend(figures)
        if run.returncode != 0 or not figures:
            failed.append(name)
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    print("\n== Every figure (ratios are to the bar of spec 60-quality)")
    for line in table:
        print(line)
    if failed:
        raise SystemExit(f"benches that failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

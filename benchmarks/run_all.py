"""Run every benchmark and print one table: goal | measured (median, p95) | ratio to the goal.

Each benchmark runs in its own process with ``--json`` (and ``--quick`` when given here) and
prints, as its last line, one JSON object whose ``goals`` list this script reads: per goal a
name, the goal in words, the measured value (median unless said otherwise), its p95 where
there is one, the unit, the limit and ``ratio_to_goal`` (measured / limit: at most 1 is met).
The machine's load is printed beside the figures (ratios are measured within one run of each
benchmark, ours against the floor beneath it, so both sides see the same load).

Run:  .venv/bin/python benchmarks/run_all.py [--quick] [--only completion,inbox] [--json]
``--quick`` runs the whole set at reduced sizes in under 15 minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: Benchmark name → script (each takes --json and --quick).
BENCHMARKS: dict[str, str] = {
    "completion": "bench_completion.py",
    "state": "bench_state_growth.py",
    "throughput": "bench_throughput.py",
    "audit_chain": "bench_audit_chain.py",
    "audit": "bench_audit.py",
    "inbox": "bench_inbox.py",
    "import": "bench_oparl.py",
    "reminders": "bench_reminders.py",
    "under_load": "bench_under_load.py",
}


def run_one(name: str, quick: bool, timeout: float) -> dict[str, Any]:
    script = HERE / BENCHMARKS[name]
    if not script.exists():
        return {"error": f"{script.name} fehlt"}
    command = [sys.executable, str(script), "--json", *(["--quick"] if quick else [])]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"nach {timeout:.0f} s abgebrochen", "seconds": timeout}
    seconds = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    try:
        figures = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        figures = None
    if not isinstance(figures, dict):
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": f"keine JSON-Zeile (Exit {done.returncode}): {' | '.join(tail)}", "seconds": seconds}
    figures["seconds"] = seconds
    figures["exit"] = done.returncode
    return figures


def _number(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.2f}{unit and ' ' + unit}"
    return f"{value:g}{unit and ' ' + unit}" if isinstance(value, (int, float)) else str(value)


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [("Benchmark", "Ziel", "gemessen", "p95", "Verhältnis", "")]
    for name, figures in results.items():
        if "error" in figures:
            rows.append((name, "-", figures["error"], "", "", "FEHLER"))
            continue
        for goal in figures.get("goals", []):
            ratio = goal.get("ratio_to_goal")
            met = ratio is not None and ratio <= 1
            rows.append((f"{name}: {goal.get('name', '')}", str(goal.get("goal", "")),
                         _number(goal.get("measured"), goal.get("unit", "")),
                         _number(goal.get("p95"), goal.get("unit", "")),
                         "-" if ratio is None else f"{ratio:.2f}", "erfüllt" if met else "NICHT erfüllt"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes (< 15 minutes in all)")
    parser.add_argument("--only", default="", help="comma-separated names: " + ", ".join(BENCHMARKS))
    parser.add_argument("--timeout", type=float, default=0,
                        help="seconds per benchmark (default 240 with --quick, else 3600)")
    parser.add_argument("--json", action="store_true", help="last line: every benchmark's figures as JSON")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unbekannt: {', '.join(unknown)}")
    timeout = args.timeout or (240 if args.quick else 3600)
    results: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    for name in names:
        load = os.getloadavg()[0]
        print(f"… {name} (Last vorher {load:.2f})", file=sys.stderr, flush=True)
        results[name] = run_one(name, args.quick, timeout)
        results[name]["load_before"] = load
    print(f"ratsflow benchmarks{' (--quick)' if args.quick else ''}: {len(names)} in "
          f"{time.monotonic() - started:.0f} s on {os.cpu_count()} cores; load (1 min) now "
          f"{os.getloadavg()[0]:.2f}")
    for line in table(results):
        print(line)
    for name, figures in results.items():
        print(f"  {name}: {figures.get('seconds', 0):.0f} s, Last vorher {figures['load_before']:.2f}")
    if args.json:
        print(json.dumps(results))
    failed = [n for n, f in results.items() if "error" in f
              or any((g.get("ratio_to_goal") or 0) > 1 for g in f.get("goals", []))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

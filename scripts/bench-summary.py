#!/usr/bin/env python3
"""Prints the mean of every criterion benchmark under target/criterion as a Markdown table."""
import json, pathlib, sys
root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
rows = []
for est in sorted(root.glob("**/new/estimates.json")):
    bench = est.parent.parent.relative_to(root).as_posix()
    e = json.loads(est.read_text())
    mean, ci = e["mean"]["point_estimate"], e["mean"]["confidence_interval"]
    rows.append((bench, mean, ci["lower_bound"], ci["upper_bound"]))
print("| benchmark | mean | 95% CI |")
print("|---|---:|---|")
for bench, mean, lo, hi in rows:
    unit = lambda ns: f"{ns/1000:.2f} µs" if ns >= 10_000 else f"{ns:.0f} ns"
    print(f"| {bench} | {unit(mean)} | {unit(lo)} – {unit(hi)} |")

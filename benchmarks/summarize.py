"""Markdown table of a pytest-benchmark JSON: per group, each implementation's median and its speed-up
over the slowest one (the reference / eager baseline).

    pytest benchmarks/ --benchmark-only --benchmark-json=bench.json
    python benchmarks/summarize.py bench.json
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def table(data: dict) -> str:
    groups: dict[str, list] = defaultdict(list)
    for b in data["benchmarks"]:
        median = b["stats"]["median"]
        scale = b.get("extra_info", {}).get("scale_to_frames")  # per-frame baselines scaled to the batch
        if scale:
            median *= scale
        groups[b["group"] or b["name"]].append((b["name"].split("[")[-1].rstrip("]") if "[" in b["name"] else b["name"],
                                                median, bool(scale)))
    machine = data.get("machine_info", {})
    lines = [f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, {machine.get('cpu', {}).get('count', '?')} "
             f"cores; torch threads as configured. Medians.", "",
             "| benchmark | implementation | median | speed-up vs slowest |", "|---|---|---|---|"]
    for group, rows in groups.items():
        slowest = max(m for _, m, _ in rows)
        for name, median, scaled in sorted(rows, key=lambda r: r[1]):
            note = " (×frames)" if scaled else ""
            lines.append(f"| {group} | {name}{note} | {_fmt(median)} | {slowest / median:,.1f}× |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python benchmarks/summarize.py BENCH.json")
    with open(sys.argv[1]) as f:
        print(table(json.load(f)))

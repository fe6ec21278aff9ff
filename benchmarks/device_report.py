"""Collects what ``benchmarks/device_check.sh`` measured in ``OUT`` into ``device_check.json`` and a
short markdown table ``device_check.md``: ``python benchmarks/device_report.py OUT MODE``."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def main() -> None:
    out, mode = Path(sys.argv[1]), sys.argv[2]
    stages = [json.loads(line) for line in (out / "stages.jsonl").read_text().splitlines() if line.strip()]
    devices = (out / "devices.txt").read_text().strip() if (out / "devices.txt").exists() else "unknown"
    ppo = load(out / "ppo.json")
    grids = {p.stem.split("_", 1)[1]: load(p) for p in sorted(out.glob("gridworld_*.json"))}
    study = load(out / "study.json")
    report = {"mode": mode, "devices": devices, "stages": stages, "ppo": ppo, "gridworld": grids, "study": study}
    (out / "device_check.json").write_text(json.dumps(report, indent=1))

    lines = [f"# device check ({mode})", "", f"Devices: `{devices}`", "", "| stage | rc | seconds | limit s |"]
    lines.append("|---|---:|---:|---:|")
    for s in stages:
        rc = "skipped" if s.get("skipped") else ("timeout" if s.get("timed_out") else s["rc"])
        lines.append(f"| {s['stage']} | {rc} | {s.get('seconds', '-')} | {s.get('limit_s', '-')} |")
    lines += ["", "| measurement | size | env steps/s (wall) |", "|---|---|---:|"]
    for r in (ppo or {}).get("results", []):
        runs = r["ours"]["runs"]
        wall = sorted(t[0] for t in runs)[len(runs) // 2]
        label = f"PPO CartPole ({ppo['total_timesteps']:,} steps per seed)"
        lines.append(f"| {label} | {r['seeds']} seeds | {r['steps'] / wall:,.0f} |")
    for size, g in grids.items():
        for label, v in ((g or {}).get("results") or {}).items():
            lines.append(f"| gridworld {label} | {size} envs | {v['steps_per_second']:,.0f} |")
    for r in (study or {}).get("results", []):
        size = f"{r['seeds']} seeds x 32 envs"
        lines.append(f"| study program (GRU PPO + E3B x count) | {size} | {r['steps_per_second']:,.0f} |")
    (out / "device_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""A 16-trial sweep run grouped (one vmapped program) against the same trials one at a time.

4 learning rates x 2 entropy coefficients x 2 seeds of PPO on CartPole. Both sides go through
``jaxrl.sweep.run_sweep`` in this process: "grouped" is the sweep as written (all 16 trials differ only
in vmappable fields and seeds, so one group, one compilation); "one at a time" is the same file with
``max_group_size: 1`` (16 groups, each compiled and run on its own, as 16 separate runs would be).
Wall time includes compilation, as a user waiting for a sweep sees it.

    python benchmarks/sweep_grouping.py                 # default budget; appends to benchmarks/RESULTS.md
    python benchmarks/sweep_grouping.py --quick --no-record
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import jaxrl.run
from jaxrl.report import git_revision
from jaxrl.sweep import parse_plan, run_sweep

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _compile_each_group(config, trials, run):
    """Run a group as a separate run would: without the process's cache of compiled programs."""
    jaxrl.run._PROGRAM_CACHE.clear()
    return jaxrl.run.run_trials(config, trials, run)

SWEEP = """\
name: {name}
base:
  env: CartPole-v1
  total_timesteps: {total_timesteps}
  num_envs: {num_envs}
  num_steps: {num_steps}
  update_epochs: 4
  num_minibatches: 4
run:
  log_every: {log_every}
  checkpoint_every: 1000
axes:
  - grid:
      learning_rate: [1.0e-4, 2.5e-4, 5.0e-4, 1.0e-3]
      ent_coef: [0.0, 0.01]
seeds: 2
"""


def _final_returns(sweep_dir: Path) -> dict[str, float]:
    finals = {}
    for path in sorted(sweep_dir.rglob("metrics.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        finals[str(path.parent.relative_to(sweep_dir))] = rows[-1]["episode_return_mean"]
    return finals


def _machine() -> str:
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    devices = ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()}))
    return f"{cpu}, {os.cpu_count()} cores visible, jax {jax.__version__} on {devices}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total-timesteps", type=int, default=32_768)
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="8192 steps per trial")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    total = 8192 if args.quick else args.total_timesteps
    num_updates = total // (args.num_envs * args.num_steps)
    sizes = dict(total_timesteps=total, num_envs=args.num_envs, num_steps=args.num_steps, log_every=num_updates)

    grouped_plan = parse_plan(SWEEP.format(name="grouped", **sizes), "grouped.yaml")
    single_plan = parse_plan(SWEEP.format(name="single", **sizes) + "max_group_size: 1\n", "single.yaml")
    assert len(grouped_plan.groups) == 1 and len(single_plan.groups) == 16 == len(single_plan.trials)
    load_before = os.getloadavg()[0]

    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        variants = (
            ("grouped (1 program)", grouped_plan, None),
            ("one at a time (16 programs)", single_plan, _compile_each_group),
        )
        for label, plan, runner in variants:
            start = time.perf_counter()
            result = run_sweep(plan, out_root=tmp, progress=False, log=lambda s: None, runner=runner)
            timings[label] = time.perf_counter() - start
            assert result.count("done") == 16, result.statuses
            print(f"{label}: {timings[label]:.1f} s")
        grouped_final = _final_returns(Path(tmp) / "grouped")
        single_final = _final_returns(Path(tmp) / "single")
    load_after = os.getloadavg()[0]

    grouped, single = timings.values()
    ratio = single / grouped
    max_diff = max(abs(grouped_final[k] - single_final[k]) for k in grouped_final)
    steps = 16 * num_updates * args.num_envs * args.num_steps
    print(f"one at a time / grouped = {ratio:.2f}x; final returns differ by at most {max_diff:.3g}")

    if args.no_record:
        return
    command = "python benchmarks/sweep_grouping.py" + (" --quick" if args.quick else "")
    section = f"""
## Sweep grouping: 16 trials as one vmapped program vs one at a time

{datetime.date.today().isoformat()}, commit {git_revision(short=True)}, `{command}`.
Machine: {_machine()}; load average {load_before:.1f} before, {load_after:.1f} after (a shared machine).
PPO on CartPole-v1, 4 learning rates x 2 entropy coefficients x 2 seeds, {total} steps per trial
(num_envs={args.num_envs}, num_steps={args.num_steps}, {num_updates} updates); wall time includes compilation.

| run | wall time | env steps/s (all trials) |
|---|---:|---:|
| grouped: 1 group of 16 (one compiled program) | {grouped:.1f} s | {steps / grouped:,.0f} |
| one at a time: 16 groups of 1 (`max_group_size: 1`) | {single:.1f} s | {steps / single:,.0f} |

Ratio (one at a time / grouped): **{ratio:.2f}x**. Largest difference in a trial's final
`episode_return_mean` between the two: {max_diff:.3g} (the same seeds and hyperparameters; vmapping may
change floating-point reduction order).
"""
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n")
    with open(RESULTS, "a") as f:
        f.write(section)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()

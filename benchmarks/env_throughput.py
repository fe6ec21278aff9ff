"""Environment steps per second: our CartPole-v1 against gymnax's and gymnasium's, in one run.

Each JAX environment is rolled out the same way: ``num_envs`` copies under ``jax.vmap``, ``num_steps``
steps in one jitted ``lax.scan``, uniformly random actions drawn inside the scan, auto-reset on. The
final state and a sum over rewards, episode ends and observations are returned so that nothing is
optimised away. gymnasium's numpy-vectorised
``CartPoleVectorEnv`` (``gym.make_vec(..., vectorization_mode="vector_entry_point")``) is stepped from
Python with random actions drawn by numpy. Wall-clock and process CPU time are both recorded (CPU time
is the steadier measure on a shared machine). Timings start after a warm-up call (the compile), wait with
``block_until_ready``, and the contenders are measured in turns (round-robin) so that a change in the
machine's load hits all of them alike; the median over repeats is reported.

    python benchmarks/env_throughput.py             # 1024 envs x 128 steps (about a minute on 2 cores)
    python benchmarks/env_throughput.py --full      # 4096 envs x 256 steps, the recorded setting
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

import envs


def make_jax_rollout(env: Any, params: Any, num_envs: int, num_steps: int) -> Callable[[jax.Array], Any]:
    """A jitted rollout of ``num_envs x num_steps`` random-action steps. It returns the final state and a
    sum over every step's reward, episode-end flags and observation, so that no part of the step can be
    optimised away (our CartPole's reward is a constant: a sum of rewards alone would let XLA drop the
    physics)."""
    batched_reset = jax.vmap(env.reset, in_axes=(0, None))
    batched_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def rollout(key: jax.Array) -> tuple[jax.Array, Any]:
        key_reset, key_steps = jax.random.split(key)
        _, state = batched_reset(jax.random.split(key_reset, num_envs), params)

        def body(carry, key_t):
            state, total = carry
            key_action, key_step = jax.random.split(key_t)
            actions = jax.random.randint(key_action, (num_envs,), 0, 2)
            obs, state, reward, terminated, truncated, _ = batched_step(
                jax.random.split(key_step, num_envs), state, actions, params
            )
            # Everything a learner reads: rewards, episode ends and observations.
            total = total + reward.sum() + (terminated | truncated).sum() + obs.sum()
            return (state, total), None

        (state, total), _ = jax.lax.scan(
            body, (state, jnp.float32(0)), jax.random.split(key_steps, num_steps)
        )
        return total, state

    return jax.jit(rollout)


def jax_contender(
    env: Any, params: Any, num_envs: int, num_steps: int
) -> tuple[Callable[[int], None], float]:
    """``(run(seed), compile_seconds)``."""
    rollout = make_jax_rollout(env, params, num_envs, num_steps)
    start = time.perf_counter()
    jax.block_until_ready(rollout(jax.random.key(0)))
    compile_seconds = time.perf_counter() - start
    return (lambda seed: jax.block_until_ready(rollout(jax.random.key(seed)))), compile_seconds


def gymnasium_contender(num_envs: int, num_steps: int) -> tuple[Callable[[int], None], float]:
    vec = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")

    def run(seed: int) -> None:
        rng = np.random.default_rng(seed)
        vec.reset(seed=seed)
        for _ in range(num_steps):
            vec.step(rng.integers(0, 2, num_envs))

    start = time.perf_counter()
    run(0)
    return run, time.perf_counter() - start


def machine() -> dict[str, Any]:
    cpu_model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu_model = next(
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    try:
        gymnax_version = importlib.metadata.version("gymnax")
    except importlib.metadata.PackageNotFoundError:
        gymnax_version = None
    return {
        "cpu": cpu_model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
        "gymnax": gymnax_version,
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "load_average_1min_before": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--full", action="store_true", help="the recorded setting: 4096 envs x 256 steps")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-gymnasium", action="store_true")
    parser.add_argument("--json", type=str, default=None, help="also write the results to this file")
    args = parser.parse_args()
    if args.full:
        args.num_envs, args.num_steps = 4096, 256
    if args.num_envs <= 0 or args.num_steps <= 0 or args.repeats <= 0:
        parser.error("--num-envs, --num-steps and --repeats must be positive")

    info = machine()
    contenders: dict[str, tuple[Callable[[int], None], float]] = {}
    env, params = envs.make("CartPole-v1")
    contenders["ours (envs CartPole-v1, jit+vmap)"] = jax_contender(
        env, params, args.num_envs, args.num_steps
    )
    import gymnax  # a core dependency

    gymnax_env, gymnax_params = gymnax.make("CartPole-v1")
    contenders["gymnax CartPole-v1 (jit+vmap)"] = jax_contender(
        gymnax_env, gymnax_params, args.num_envs, args.num_steps
    )
    if not args.skip_gymnasium:
        contenders["gymnasium CartPoleVectorEnv (numpy)"] = gymnasium_contender(args.num_envs, args.num_steps)

    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for repeat in range(args.repeats):
        for name, (run, _) in contenders.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            run(repeat + 1)
            wall[name].append(time.perf_counter() - start_wall)
            cpu[name].append(time.process_time() - start_cpu)

    steps = args.num_envs * args.num_steps
    results = {
        name: {
            "median_seconds": statistics.median(wall[name]),
            "steps_per_second": steps / statistics.median(wall[name]),
            "best_steps_per_second": steps / min(wall[name]),
            "steps_per_cpu_second": steps / statistics.median(cpu[name]),
            "compile_seconds": contenders[name][1],
        }
        for name in contenders
    }
    info["load_average_1min_after"] = os.getloadavg()[0]

    print(f"\n{args.num_envs} envs x {args.num_steps} steps, median of {args.repeats} (round-robin)")
    print(json.dumps(info, indent=1))
    print("\n| implementation | steps/s (median) | steps/s (best) | steps per CPU-second | first call s |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['steps_per_second']:,.0f} | {r['best_steps_per_second']:,.0f} | "
            f"{r['steps_per_cpu_second']:,.0f} | {r['compile_seconds']:.2f} |"
        )
    ours = results["ours (envs CartPole-v1, jit+vmap)"]
    for name, r in results.items():
        if not name.startswith("ours"):
            print(
                f"ours / {name.split(' ')[0]}: {ours['steps_per_second'] / r['steps_per_second']:.2f}x "
                f"(median wall), {ours['best_steps_per_second'] / r['best_steps_per_second']:.2f}x (best wall), "
                f"{ours['steps_per_cpu_second'] / r['steps_per_cpu_second']:.2f}x (CPU time)"
            )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                {"num_envs": args.num_envs, "num_steps": args.num_steps, "machine": info, "results": results},
                out,
            )


if __name__ == "__main__":
    main()

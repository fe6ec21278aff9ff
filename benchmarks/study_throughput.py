"""Environment steps per second of the exploration study's training program: recurrent PPO (GRU)
with the E3B x global-count bonus on ``MultiRoom-N4-Lava``, 32 envs x 64 steps, 4 epochs x 4
minibatches, seeds vmapped in one compiled program (experiments/global_vs_episodic.py's settings,
plus ``network="gru"``).

Times ``--updates`` updates per chunk (one compiled call of the trainer's ``update_fn`` under
``vmap``) after a warm-up call; wall-clock and process CPU time, median of ``--repeats``.

    taskset -c 1 python benchmarks/study_throughput.py --seeds 2 --updates 5
    python benchmarks/study_throughput.py --seeds 64 256 1024 --updates 10 --json out.json   # accelerator
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp

import envs
from jaxrl.ppo import PPOConfig, make_train


def study_config(num_contexts: int = -1, gru_size: int = 128) -> PPOConfig:
    env, params = envs.make("MultiRoom-N4-Lava")
    present = set(env.observation_space(params).spaces)
    return PPOConfig(
        env="MultiRoom-N4-Lava",
        env_kwargs={"num_contexts": num_contexts, "context_seed": 0},
        total_timesteps=10_000_000,
        num_envs=32,
        num_steps=64,
        num_minibatches=4,
        update_epochs=4,
        learning_rate=5e-4,
        hidden_sizes=(128, 128),
        activation="relu",
        network="gru",
        gru_size=gru_size,
        obs_keys=tuple(k for k in ("glyphs_crop", "position", "inventory") if k in present),
        bonus="e3b*count",
        bonus_kwargs={
            "key": "position",
            "obs_keys": tuple(k for k in ("glyphs_crop", "position") if k in present),
            "embed_dim": 32,
        },
        bonus_coef=0.01,
    )


def measure(seeds: int, updates: int, repeats: int, num_contexts: int = -1) -> dict:
    config = study_config(num_contexts)
    trainer = make_train(config, updates_per_chunk=updates)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(seeds)])
    hparams = jax.tree.map(lambda x: jnp.stack([x] * seeds), config.hyperparams())
    start = time.perf_counter()
    state = jax.block_until_ready(jax.jit(jax.vmap(trainer.init_fn))(keys, hparams))
    update = jax.jit(jax.vmap(lambda s: trainer.update_fn(s, num_updates=updates))).lower(state).compile()
    state, _ = jax.block_until_ready(update(state))  # warm-up
    compile_s = time.perf_counter() - start
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        state, metrics = jax.block_until_ready(update(state))
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    steps = seeds * updates * config.batch_size
    return {
        "seeds": seeds,
        "updates": updates,
        "env_steps": steps,
        "compile_and_first_call_s": compile_s,
        "steps_per_second": steps / statistics.median(wall),
        "steps_per_cpu_second": steps / statistics.median(cpu),
        "wall_s": wall,
        "cpu_s": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[2])
    parser.add_argument("--updates", type=int, default=5, help="updates per timed call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    info = {
        "machine": platform.processor() or platform.machine(),
        "cores": sorted(os.sched_getaffinity(0)),
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(info), flush=True)
    print("| seeds | env steps/s (wall) | env steps per CPU-second | compile + first call s |")
    print("|---|---:|---:|---:|")
    results = []
    for seeds in args.seeds:
        r = measure(seeds, args.updates, args.repeats)
        results.append(r)
        print(
            f"| {seeds} | {r['steps_per_second']:,.0f} | {r['steps_per_cpu_second']:,.0f} | "
            f"{r['compile_and_first_call_s']:.1f} |",
            flush=True,
        )
        if args.json:  # written after every size, so a stage cut short keeps what it measured
            with open(args.json, "w") as f:
                json.dump({**info, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()

"""PPO training throughput on CartPole-v1, classic small setting (4 envs x 128 steps, 4 epochs,
4 minibatches, lr 2.5e-4), for 1, 16 and 64 vmapped seeds. Compile time is reported apart.

The reference, PureJaxRL's own ``ppo.py``, is timed the same way in the same process and the ratio
is printed. Its copy is ``benchmarks/purejaxrl/ppo.py`` (Apache-2.0, with its attribution and the
few marked changes gymnax 1.0 needs); it needs ``distrax`` (``pip install distrax``), which the
project itself does not. ``--reference PATH`` times another file with PureJaxRL's interface
(``make_train(config)`` returning ``train(rng)``, config keys LR, NUM_ENVS, ...); ``--no-reference``
times ours alone.

Both programs are compiled first; then ``--repeats`` runs of each are timed in turns (ours, reference,
ours, ...), so that a change in the machine's load hits both alike. Wall-clock and process CPU time
are recorded; on a shared machine CPU time is the steadier measure. The table gives medians and the
ratio of medians, with the range of the per-turn ratios.

    taskset -c 0 python benchmarks/ppo_throughput.py --seeds 1 16 64 [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp

from jaxrl.ppo import PPOConfig, make_train

REFERENCE_CONFIG = {
    "LR": 2.5e-4,
    "NUM_ENVS": 4,
    "NUM_STEPS": 128,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "ACTIVATION": "tanh",
    "ENV_NAME": "CartPole-v1",
    "ANNEAL_LR": True,
    "DEBUG": False,
}


def compile_program(fn, *args):
    """(compile seconds, a thunk that runs the compiled program once to completion)."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_time = time.perf_counter() - start
    return compile_time, lambda: jax.block_until_ready(compiled(*args))


def timed(run) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def seed_keys(seeds: int) -> jax.Array:
    return jnp.stack([jax.random.PRNGKey(s) for s in range(seeds)])


def ours(total_timesteps: int, seeds: int):
    config = PPOConfig(env="CartPole-v1", total_timesteps=total_timesteps)
    trainer = make_train(config, updates_per_chunk=config.num_updates)
    hparams = jax.tree.map(lambda x: jnp.stack([x] * seeds), config.hyperparams())
    return compile_program(jax.vmap(trainer.train), seed_keys(seeds), hparams)


DEFAULT_REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "purejaxrl", "ppo.py")


def reference(path: str, total_timesteps: int, seeds: int):
    # PureJaxRL's ppo.py imports its wrappers as a top-level module from its own folder.
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("reference_ppo", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as error:
        raise SystemExit(
            f"the reference {path} needs {error.name!r}, which the project does not install: "
            f"`pip install {error.name}` (or pass --no-reference)"
        ) from error
    train = module.make_train({**REFERENCE_CONFIG, "TOTAL_TIMESTEPS": total_timesteps})
    return compile_program(jax.vmap(train), seed_keys(seeds))


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = sorted(os.sched_getaffinity(0))
    return (
        f"{model}; cores this process may use: {cores}; {jax.device_count()} {jax.default_backend()} "
        f"device(s), jax {jax.__version__}; load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each program, in turns")
    parser.add_argument("--reference", default=DEFAULT_REFERENCE, help="PureJaxRL-style ppo.py to time side by side")
    parser.add_argument("--no-reference", action="store_true", help="time ours alone")
    parser.add_argument("--json", help="also write the raw timings here")
    args = parser.parse_args()
    if args.no_reference:
        args.reference = None
    print(f"machine: {machine()}; steps per seed: {args.total_timesteps}")
    print(
        "| seeds | ours: steps/CPU-s | ours: steps/s wall | ours: compile s | reference: steps/CPU-s | "
        "reference: steps/s wall | reference: compile s | ratio (CPU) | per-turn range | ratio (wall) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    raw = []
    for seeds in args.seeds:
        steps = seeds * args.total_timesteps
        contenders = {"ours": ours(args.total_timesteps, seeds)}
        if args.reference:
            contenders["reference"] = reference(args.reference, args.total_timesteps, seeds)
        times = {name: [] for name in contenders}
        for _ in range(args.repeats):
            for name, (_, run) in contenders.items():
                times[name].append(timed(run))
        cells, record = [], {"seeds": seeds, "steps": steps}
        for name, (compile_time, _) in contenders.items():
            wall = statistics.median(t[0] for t in times[name])
            cpu = statistics.median(t[1] for t in times[name])
            cells += [f"{steps / cpu:,.0f}", f"{steps / wall:,.0f}", f"{compile_time:.1f}"]
            record[name] = {"compile_s": compile_time, "runs": times[name]}
        if args.reference:
            per_turn = [r[1] / o[1] for o, r in zip(times["ours"], times["reference"], strict=True)]
            cpu_ratio = statistics.median(t[1] for t in times["reference"]) / statistics.median(
                t[1] for t in times["ours"]
            )
            wall_ratio = statistics.median(t[0] for t in times["reference"]) / statistics.median(
                t[0] for t in times["ours"]
            )
            cells += [f"**{cpu_ratio:.2f}**", f"{min(per_turn):.2f}-{max(per_turn):.2f}", f"{wall_ratio:.2f}"]
        else:
            cells += ["-"] * 7
        print(f"| {seeds} | " + " | ".join(cells) + " |", flush=True)
        raw.append(record)
        if args.json:  # after every row, so a run cut short keeps what it measured
            with open(args.json, "w") as f:
                json.dump({"machine": machine(), "total_timesteps": args.total_timesteps, "results": raw}, f, indent=1)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

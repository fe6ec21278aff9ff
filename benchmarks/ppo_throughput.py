"""PPO training throughput on CartPole-v1, classic small setting (4 envs x 128 steps, 4 epochs,
4 minibatches, lr 2.5e-4), for 1, 16 and 64 vmapped seeds. Compile time is reported apart.

With ``--reference PATH`` a single-file JAX PPO with PureJaxRL's interface (``make_train(config)``
returning ``train(rng)``, config keys LR, NUM_ENVS, ...) is timed the same way in the same process,
and the ratio is printed. The reference's code is not part of this repository: point at your own
copy. On jaxlib's CPU backend, flax's orthogonal initialiser under ``vmap`` (a batched QR) can
deadlock; give the reference ``jaxrl.networks.orthogonal`` (same values) if its vmapped runs hang.

    python benchmarks/ppo_throughput.py --total-timesteps 500000 --seeds 1 16 64 [--reference ppo.py]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import time

import jax
import jax.numpy as jnp

from jaxrl.ppo import PPOConfig, make_train


def time_compiled(fn, *args) -> tuple[float, float]:
    """(compile seconds, run seconds) of ``jax.jit(fn)(*args)``."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_time = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return compile_time, time.perf_counter() - start


def ours(total_timesteps: int, seeds: int) -> tuple[float, float]:
    config = PPOConfig(env="CartPole-v1", total_timesteps=total_timesteps)
    trainer = make_train(config, updates_per_chunk=config.num_updates)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(seeds)])
    hparams = jax.tree.map(lambda x: jnp.stack([x] * seeds), config.hyperparams())
    return time_compiled(jax.vmap(trainer.train), keys, hparams)


def reference(path: str, total_timesteps: int, seeds: int) -> tuple[float, float]:
    spec = importlib.util.spec_from_file_location("reference_ppo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = {
        "LR": 2.5e-4,
        "NUM_ENVS": 4,
        "NUM_STEPS": 128,
        "TOTAL_TIMESTEPS": total_timesteps,
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
    train = module.make_train(config)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(seeds)])
    return time_compiled(jax.vmap(train), keys)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--reference", help="path to a PureJaxRL-style ppo.py to time side by side")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {jax.device_count()} {jax.default_backend()} "
        f"device(s), jax {jax.__version__}; steps per seed: {args.total_timesteps}"
    )
    print(
        "| seeds | ours: env steps/s | ours: compile s | reference: env steps/s | reference: compile s | ratio |"
    )
    print("|---|---|---|---|---|---|")
    for seeds in args.seeds:
        compile_ours, run_ours = ours(args.total_timesteps, seeds)
        sps_ours = seeds * args.total_timesteps / run_ours
        row = f"| {seeds} | {sps_ours:,.0f} | {compile_ours:.1f} |"
        print(row, "(reference running)" if args.reference else "", flush=True)
        if args.reference:
            compile_ref, run_ref = reference(args.reference, args.total_timesteps, seeds)
            sps_ref = seeds * args.total_timesteps / run_ref
            row += f" {sps_ref:,.0f} | {compile_ref:.1f} | {sps_ours / sps_ref:.2f} |"
        else:
            row += " - | - | - |"
        print(row, flush=True)


if __name__ == "__main__":
    main()

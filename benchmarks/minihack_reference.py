"""Reference throughput of the real MiniHack, for the JAX gridworld benchmark to compare against.

    python benchmarks/minihack_reference.py [--env-id MiniHack-MultiRoom-N4-v0] [--num-steps 2000]

Random-action environment steps per second of plain gymnasium MiniHack (the study's observation
keys), in one process and in gymnasium's ``AsyncVectorEnv`` with 2 worker processes, and of the same
task through our batched adapter (``envs.make("minihack:...")``) inside a jitted ``lax.scan``. Episodes
are reset as they end, so the figures include MiniHack's resets (costly for the MiniGrid-based
tasks, which compile a new level description at every reset). Other benchmarks import
`minihack_steps_per_second`.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
import warnings
from typing import Any

import numpy as np

DEFAULT_ENV_ID = "MiniHack-MultiRoom-N4-v0"
# The observations the exploration study uses (glyphs, crop, bottom-line statistics, message).
STUDY_OBSERVATION_KEYS = ("glyphs", "glyphs_crop", "blstats", "message")


def make_minihack_env(env_id: str, observation_keys: tuple[str, ...] = STUDY_OBSERVATION_KEYS) -> Any:
    """A plain gymnasium MiniHack environment (module-level so worker processes can unpickle it)."""
    import gymnasium as gym
    import minihack  # noqa: F401  registers the MiniHack ids

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(env_id, observation_keys=observation_keys)


def minihack_steps_per_second(
    env_id: str = DEFAULT_ENV_ID,
    num_steps: int = 2000,
    vector: bool = False,
    num_workers: int = 2,
    seed: int = 0,
) -> float:
    """Random-action steps per second of the real MiniHack, counting every environment's steps.

    ``vector=False``: one environment in this process. ``vector=True``: ``num_workers`` environments
    in gymnasium's ``AsyncVectorEnv`` (one process each, spawned so that a parent that already runs
    JAX is safe). Construction and the first reset are not timed."""
    import gymnasium as gym

    if num_steps <= 0:
        raise ValueError(f"num_steps must be positive, got {num_steps}")
    rng = np.random.default_rng(seed)
    if not vector:
        env = make_minihack_env(env_id)
        env.reset(seed=seed)
        num_actions = int(env.action_space.n)
        actions = rng.integers(0, num_actions, num_steps)
        start = time.perf_counter()
        for action in actions:
            _, _, terminated, truncated, _ = env.step(int(action))
            if terminated or truncated:
                env.reset()
        elapsed = time.perf_counter() - start
        env.close()
        return num_steps / elapsed

    if num_workers <= 0:
        raise ValueError(f"num_workers must be positive, got {num_workers}")
    env_fns = [functools.partial(make_minihack_env, env_id) for _ in range(num_workers)]
    vec_env = gym.vector.AsyncVectorEnv(env_fns, context="spawn")
    try:
        vec_env.reset(seed=seed)
        num_actions = int(vec_env.single_action_space.n)
        num_calls = max(1, num_steps // num_workers)
        actions = rng.integers(0, num_actions, (num_calls, num_workers))
        start = time.perf_counter()
        for batch in actions:
            vec_env.step(batch)  # auto-resets finished environments on the next call
        elapsed = time.perf_counter() - start
    finally:
        vec_env.close()
    return num_calls * num_workers / elapsed


def adapter_steps_per_second(
    env_id: str = DEFAULT_ENV_ID, num_steps: int = 2000, num_envs: int = 2, num_workers: int = 0
) -> float:
    """Random-action steps per second of the same task through ``envs.make("minihack:...")``, stepped
    in a jitted ``lax.scan`` as the PPO trainer steps it (compilation not timed)."""
    import jax

    import envs

    env, params = envs.make(
        f"minihack:{env_id}", num_envs=num_envs, num_workers=num_workers,
        observation_keys=("glyphs", "glyphs_crop", "position", "message", "blstats"),
    )
    num_actions = env.action_space(params).n
    length = max(1, num_steps // num_envs)

    @jax.jit
    def rollout(carry, key):
        def body(carry, step_key):
            obs, state = carry
            key_action, key_step = jax.random.split(step_key)
            action = jax.random.randint(key_action, (num_envs,), 0, num_actions)
            obs, state, reward, *_ = env.step(key_step, state, action, params)
            return (obs, state), reward

        return jax.lax.scan(body, carry, jax.random.split(key, length))

    carry = env.reset(jax.random.PRNGKey(0), params)
    carry, _ = jax.block_until_ready(rollout(carry, jax.random.PRNGKey(1)))  # compile and warm up
    start = time.perf_counter()
    jax.block_until_ready(rollout(carry, jax.random.PRNGKey(2)))
    elapsed = time.perf_counter() - start
    env.close()
    return length * num_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default=DEFAULT_ENV_ID)
    parser.add_argument("--num-steps", type=int, default=2000)
    args = parser.parse_args()
    print(f"{args.env_id}, {args.num_steps} random-action steps, load average {os.getloadavg()[0]:.1f}, "
          f"{os.cpu_count()} CPUs")
    single = minihack_steps_per_second(args.env_id, args.num_steps, vector=False)
    print(f"real MiniHack, one process:                 {single:8.0f} steps/s")
    vector = minihack_steps_per_second(args.env_id, args.num_steps, vector=True)
    print(f"real MiniHack, AsyncVectorEnv (2 workers):  {vector:8.0f} steps/s")
    adapter = adapter_steps_per_second(args.env_id, args.num_steps)
    print(f"envs.make('minihack:...'), 2 envs, jitted:  {adapter:8.0f} steps/s")


if __name__ == "__main__":
    main()

"""Policy evaluation: the return of complete episodes under the stochastic or the greedy policy."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.ppo import PPOConfig, make_env, make_network
from jaxrl.rollout import RolloutState, collect_rollout


def evaluate_policy(
    config: PPOConfig,
    params: Any,
    key: jax.Array,
    num_episodes: int = 32,
    greedy: bool = False,
    max_steps: int | None = None,
) -> dict[str, np.ndarray]:
    """Run ``num_episodes`` environments until each has finished one episode and return, per episode,
    ``episode_return``, ``episode_length`` and ``success``. ``max_steps`` defaults to the time limit."""
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be a positive integer, got {num_episodes!r}")
    config = PPOConfig(**{**config.__dict__, "num_envs": num_episodes})
    env, env_params = make_env(config)
    network, carry_size = make_network(config, env, env_params)
    horizon = int(max_steps or env_params.max_steps_in_episode)

    @jax.jit
    def run(key):
        key_reset, key_rollout = jax.random.split(key)
        obs, env_state = env.reset(key_reset, env_params)
        state = RolloutState(
            env_state,
            obs,
            jnp.ones(num_episodes, bool),
            network.initial_carry(num_episodes, carry_size),
            None,
        )
        _, batch = collect_rollout(
            key_rollout,
            state,
            params,
            env=env,
            env_params=env_params,
            network=network,
            num_steps=horizon,
            greedy=greedy,
        )
        done = batch.stats["episode_done"]
        first = jnp.argmax(done, axis=0)  # the step at which each environment's first episode ended
        pick = lambda x: x[first, jnp.arange(num_episodes)]
        return {
            "episode_return": pick(batch.stats["episode_return"]),
            "episode_length": pick(batch.stats["episode_length"]),
            "success": pick(batch.stats["success"]),
            "finished": done.any(axis=0),
        }

    result = jax.device_get(run(key))
    if not result["finished"].all():
        raise RuntimeError(
            f"{(~result['finished']).sum()} evaluation episodes did not finish in {horizon} steps"
        )
    return {k: np.asarray(v) for k, v in result.items() if k != "finished"}

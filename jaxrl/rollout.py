"""Rollout collection shared by every on-policy algorithm.

A rollout is a ``lax.scan`` of ``num_steps`` steps over a batch of environments. It records what the
update needs: observations, actions, log-probabilities, values, rewards, the two kinds of episode end,
the episode-start flags that reset a recurrent state, and the carry *after* each step so that the value
of ``info["final_observation"]`` can be computed afterwards in one batched pass.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces


@struct.dataclass
class RolloutState:
    env_state: Any
    obs: Any
    episode_start: jax.Array  # [N] the current obs is the first of its episode
    carry: jax.Array  # [N, H] recurrent state before reading ``obs`` ([N, 0] for feed-forward nets)
    bonus_state: Any  # exploration-bonus state, or None


class Transition(NamedTuple):
    obs: Any
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array  # extrinsic
    intrinsic: jax.Array  # raw exploration bonus (zeros without a bonus)
    terminated: jax.Array
    truncated: jax.Array
    episode_start: jax.Array
    final_obs: Any  # s_{t+1} before any auto-reset
    carry_after: jax.Array
    stats: dict[str, jax.Array]  # finished-episode statistics from EpisodeStatistics


def env_action(action: jax.Array, action_space: spaces.Space) -> jax.Array:
    """The action the environment receives: Gaussian samples are clipped to a bounded Box (the
    unclipped sample is what the log-probability is computed on)."""
    if isinstance(action_space, spaces.Box):
        return jnp.clip(action, action_space.low, action_space.high)
    return action


def collect_rollout(
    key: jax.Array,
    state: RolloutState,
    params: Any,
    *,
    env: Any,
    env_params: Any,
    network: Any,
    num_steps: int,
    bonus: Any = None,
    greedy: bool = False,
    info_keys: tuple[str, ...] = (),
) -> tuple[RolloutState, Transition]:
    """Step ``env`` (already vectorised and wrapped in EpisodeStatistics) for ``num_steps`` steps.

    ``info_keys`` names per-step ``info`` entries to keep in ``Transition.stats`` as well (evaluation
    reads, for example, the trial wrapper's ``inner_episode``); training keeps none."""
    action_space = env.action_space(env_params)

    def step(carry, step_key):
        rs: RolloutState = carry
        key_action, key_env = jax.random.split(step_key)
        add_time = lambda x: x[None]
        new_carry, dist, value = network.apply(
            params, rs.carry, jax.tree.map(add_time, rs.obs), rs.episode_start[None]
        )
        dist = jax.tree.map(lambda x: x[0], dist)
        value = value[0]
        action = dist.mode() if greedy else dist.sample(key_action)
        log_prob = dist.log_prob(action)
        obs, env_state, reward, terminated, truncated, info = env.step(
            key_env, rs.env_state, env_action(action, action_space), env_params
        )
        done = jnp.logical_or(terminated, truncated)
        final_obs = info["final_observation"]
        if bonus is not None:
            intrinsic, bonus_state = bonus.step(rs.bonus_state, rs.obs, action, final_obs, done)
        else:
            intrinsic, bonus_state = jnp.zeros_like(reward), rs.bonus_state
        stats = {
            "episode_return": info["episode_return"],
            "episode_length": info["episode_length"].astype(jnp.float32),
            "episode_done": info["episode_done"],
            "success": jnp.asarray(info.get("success", jnp.zeros_like(reward)), jnp.float32),
            **{name: info[name] for name in info_keys},
        }
        transition = Transition(
            obs=rs.obs,
            action=action,
            log_prob=log_prob,
            value=value,
            reward=reward,
            intrinsic=intrinsic,
            terminated=terminated,
            truncated=truncated,
            episode_start=rs.episode_start,
            final_obs=final_obs,
            carry_after=new_carry,
            stats=stats,
        )
        return RolloutState(env_state, obs, done, new_carry, bonus_state), transition

    return jax.lax.scan(step, state, jax.random.split(key, num_steps))


def bootstrap_values(params: Any, network: Any, batch: Transition) -> jax.Array:
    """``V(s_{t+1})`` for every step, from the pre-reset ``final_obs`` and the carry after step t.

    For steps that did not end an episode this is the value the rollout computes at t+1; for a
    truncated episode it is the value the agent bootstraps from."""
    num_steps, num_envs = batch.reward.shape
    flat = lambda x: x.reshape((1, num_steps * num_envs, *x.shape[2:]))
    carry = batch.carry_after.reshape((num_steps * num_envs, batch.carry_after.shape[-1]))
    no_start = jnp.zeros((1, num_steps * num_envs), bool)
    _, _, values = network.apply(params, carry, jax.tree.map(flat, batch.final_obs), no_start)
    return values.reshape((num_steps, num_envs))


def summarize_episodes(stats: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Sums and counts over the episodes that finished in a rollout (means are formed by the caller
    after summing over a chunk of updates, so that averages weight every episode equally)."""
    done = stats["episode_done"].astype(jnp.float32)
    return {
        "episodes": done.sum(),
        "episode_return_sum": (stats["episode_return"] * done).sum(),
        "episode_length_sum": (stats["episode_length"] * done).sum(),
        "success_sum": (stats["success"] * done).sum(),
    }

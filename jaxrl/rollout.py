"""Rollout collection shared by every on-policy algorithm.

A rollout is a ``lax.scan`` of ``num_steps`` steps over a batch of environments. It records what the
update needs: observations, actions, log-probabilities, values, rewards, the two kinds of episode end,
the episode-start flags that reset a recurrent state, and the carry *after* each step so that the value
of ``info["final_observation"]`` can be computed afterwards in one batched pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

import envs
from envs import spaces
from jaxrl.distributions import Categorical, DiagGaussian


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
    noise = rollout_noise(key, num_steps, env, action_space, network)
    env_step = _keyed_env_step(env, env_params)

    def step(carry, noise_t):
        rs: RolloutState = carry
        add_time = lambda x: x[None]
        new_carry, dist, value = network.apply(
            params, rs.carry, jax.tree.map(add_time, rs.obs), rs.episode_start[None]
        )
        dist = jax.tree.map(lambda x: x[0], dist)
        value = value[0]
        action = dist.mode() if greedy else sample_action(dist, noise_t["action"])
        log_prob = dist.log_prob(action)
        obs, env_state, reward, terminated, truncated, info = env_step(
            noise_t["env"], rs.env_state, env_action(action, action_space)
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

    return jax.lax.scan(step, state, noise)


def rollout_noise(key: jax.Array, num_steps: int, env: Any, action_space: spaces.Space, network: Any) -> dict:
    """Every random number of a rollout that does not depend on its state, drawn before the scan.

    On XLA's CPU backend each threefry call inside a loop body is a small loop of its own (rolled for
    compile time), so a rollout step that splits keys and samples inside the scan pays for several of
    them per step. The keys are the ones the per-step code would derive (``split(key, num_steps)``,
    then ``(key_action, key_env)`` from each, then ``VecEnv``'s ``split(key_env, num_envs)``), and a
    categorical or Gaussian head's noise is the draw its ``sample(key_action)`` would make, so the
    rollout is the one that draws inside the scan would give (bit for bit with a categorical head; a
    Gaussian head's ``mean + std * noise`` may round differently in the last bit once fused)."""
    pairs = jax.vmap(jax.random.split)(jax.random.split(key, num_steps))
    key_action, key_env = pairs[:, 0], pairs[:, 1]
    if isinstance(env, envs.VecEnv):
        key_env = jax.vmap(lambda k: jax.random.split(k, env.num_envs))(key_env)
    head = getattr(network, "head", None)
    num_envs = getattr(env, "num_envs", None)
    action = {"key": key_action}
    if num_envs is not None and head == "categorical" and isinstance(action_space, spaces.Discrete):
        shape = (num_envs, int(action_space.n))
        action = {"gumbel": jax.vmap(lambda k: jax.random.gumbel(k, shape, jnp.float32))(key_action)}
    elif num_envs is not None and head == "gaussian" and isinstance(action_space, spaces.Box):
        shape = (num_envs, *action_space.shape)
        action = {"normal": jax.vmap(lambda k: jax.random.normal(k, shape, jnp.float32))(key_action)}
    return {"action": action, "env": key_env}


def sample_action(dist: Any, noise: dict) -> jax.Array:
    """``dist.sample(key)`` from the noise ``rollout_noise`` drew for it (the same numbers)."""
    if "gumbel" in noise and isinstance(dist, Categorical):
        return jnp.argmax(noise["gumbel"] + dist.logits, axis=-1).astype(jnp.int32)
    if "normal" in noise and isinstance(dist, DiagGaussian):
        return dist.mean + jnp.exp(dist.log_std) * noise["normal"]
    if "key" not in noise:
        raise TypeError(f"rollout noise {sorted(noise)} does not fit a {type(dist).__name__} head")
    return dist.sample(noise["key"])


def _keyed_env_step(env: Any, env_params: Any) -> Callable:
    """``env.step`` taking the keys ``rollout_noise`` drew: per-environment keys for a ``VecEnv``
    (its own split then happens once per rollout, outside the scan), the one key otherwise."""
    if isinstance(env, envs.VecEnv):
        inner = jax.vmap(env._env.step, in_axes=(0, 0, 0, None))
        return lambda keys, state, action: inner(keys, state, action, env_params)
    return lambda key, state, action: env.step(key, state, action, env_params)


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

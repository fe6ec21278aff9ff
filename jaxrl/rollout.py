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
    (its own split then happens once per rollout, outside the scan), the one key otherwise.

    Under a further ``vmap`` (seeds or hyperparameters batched over whole runs) a ``VecEnv`` step is
    taken as one batch of ``runs x num_envs`` environments rather than a ``vmap`` of batches: the
    environment's sparse auto-reset (`envs.core.reset_where`) stays a real ``cond`` on "some episode
    ended" and resets only the rows that ended, where a nested ``vmap`` would turn that ``cond`` into a
    ``select`` and compute the reset for every run at every step. The numbers are the same (each row
    is the same function of its own key, state and action)."""
    if not isinstance(env, envs.VecEnv):
        return lambda key, state, action: env.step(key, state, action, env_params)
    # A custom_vmap function must not close over tracers, and env_params built inside a jitted
    # function are tracers: its array leaves are arguments, its other leaves (Python numbers) stay
    # closed over so that they remain static.
    leaves, treedef = jax.tree.flatten(env_params)
    is_array = [isinstance(x, jax.Array) for x in leaves]
    array_leaves = [x for x, a in zip(leaves, is_array, strict=True) if a]

    def inner(keys: jax.Array, state: Any, action: jax.Array, params_arrays: list) -> Any:
        it = iter(params_arrays)
        params = jax.tree.unflatten(treedef, [next(it) if a else x for x, a in zip(leaves, is_array, strict=True)])
        return jax.vmap(env._env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)

    @jax.custom_batching.custom_vmap
    def step(keys: jax.Array, state: Any, action: jax.Array, params_arrays: list) -> Any:
        return inner(keys, state, action, params_arrays)

    @step.def_vmap
    def merged(axis_size: int, in_batched: Any, keys: jax.Array, state: Any, action: jax.Array, params_arrays):
        params_batched = in_batched[3]
        args = jax.tree.map(
            lambda x, batched: x if batched else jnp.broadcast_to(x, (axis_size, *jnp.shape(x))),
            (keys, state, action),
            tuple(in_batched[:3]),
        )
        if any(params_batched):  # environment parameters that differ per run: a plain vmap
            axes = [0 if b else None for b in params_batched]
            out = jax.vmap(inner, in_axes=(0, 0, 0, axes))(*args, params_arrays)
            return out, jax.tree.map(lambda _: True, out)
        flat = jax.tree.map(lambda x: x.reshape((axis_size * x.shape[1], *x.shape[2:])), args)
        out = jax.tree.map(lambda x: x.reshape((axis_size, -1, *x.shape[1:])), step(*flat, params_arrays))
        return out, jax.tree.map(lambda _: True, out)

    return lambda keys, state, action: step(keys, state, action, array_leaves)


def bootstrap_values(params: Any, network: Any, batch: Transition) -> jax.Array:
    """``V(s_{t+1})`` for every step, from the pre-reset ``final_obs`` and the carry after step t.

    For steps that did not end an episode this is the value the rollout computed at t+1 (same
    observation, same carry, no reset), so it is taken from there; only the last step and the steps
    that ended an episode (whose ``s_{t+1}`` is the pre-reset observation, which a truncated episode
    bootstraps from) are valued here, the latter gathered in chunks of ``done_chunk_size`` rows.
    Equal, up to float rounding, to a second forward pass over every step (`tests/test_ppo.py`)."""
    num_steps, num_envs = batch.reward.shape
    no_start = lambda n: jnp.zeros((1, n), bool)

    def values_of(carry: jax.Array, obs: Any) -> jax.Array:
        _, _, values = network.apply(params, carry, jax.tree.map(lambda x: x[None], obs), no_start(carry.shape[0]))
        return values[0]

    last = values_of(batch.carry_after[-1], jax.tree.map(lambda x: x[-1], batch.final_obs))
    if num_steps == 1:
        return last[None]
    rows = (num_steps - 1) * num_envs
    next_values = batch.value[1:].reshape(rows)
    done = jnp.logical_or(batch.terminated, batch.truncated)[:-1].reshape(rows)
    obs = jax.tree.map(lambda x: x[:-1].reshape((rows, *x.shape[2:])), batch.final_obs)
    carry = batch.carry_after[:-1].reshape((rows, batch.carry_after.shape[-1]))
    chunk = done_chunk_size(num_steps, num_envs)
    rank = jnp.cumsum(done) - 1  # the index of each done row among the done rows
    count = done.sum()

    def value_chunk(state):
        start, next_values = state
        slot = jnp.where(done & (rank >= start) & (rank < start + chunk), rank - start, chunk)
        index = jnp.full((chunk,), rows, jnp.int32).at[slot].set(jnp.arange(rows, dtype=jnp.int32), mode="drop")
        pick = lambda x: x.at[index].get(mode="clip")  # padding slots read the last row and are dropped
        values = values_of(pick(carry), jax.tree.map(pick, obs))
        return start + chunk, next_values.at[index].set(values, mode="drop")

    _, next_values = jax.lax.while_loop(lambda state: state[0] < count, value_chunk, (jnp.int32(0), next_values))
    return jnp.concatenate([next_values.reshape(num_steps - 1, num_envs), last[None]])


def done_chunk_size(num_steps: int, num_envs: int) -> int:
    """Rows per chunk when valuing the episode ends of a rollout: a sixteenth of it (at least one row
    per environment), so that one chunk usually holds every end and the pass costs a sixteenth."""
    return max(num_envs, -(-(num_steps - 1) * num_envs // 16))


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

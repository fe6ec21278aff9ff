"""Wrappers: vectorisation, episode statistics and observation flattening.

Each wrapper is itself an `Environment`, so wrappers compose and stay pure functions of
``(key, state, action, params)``. Adapters to other libraries live in `envs.adapters`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs import spaces
from envs.core import Environment


class Wrapper(Environment):
    """Delegates everything to the wrapped environment."""

    def __init__(self, env: Environment):
        self._env = env

    @property
    def unwrapped(self) -> Environment:
        return getattr(self._env, "unwrapped", self._env)

    def __getattr__(self, name: str) -> Any:
        if name == "_env":
            raise AttributeError(name)
        return getattr(self._env, name)

    @property
    def default_params(self) -> Any:
        return self._env.default_params

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, Any]:
        return self._env.reset(key, params)

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        return self._env.step(key, state, action, params)

    def action_space(self, params: Any = None) -> spaces.Space:
        return self._env.action_space(params)

    def observation_space(self, params: Any = None) -> spaces.Space:
        return self._env.observation_space(params)

    @property
    def name(self) -> str:
        return self._env.name


class VecEnv(Wrapper):
    """``num_envs`` copies stepped with ``jax.vmap``; keys are split per environment, params shared."""

    def __init__(self, env: Environment, num_envs: int):
        super().__init__(env)
        if int(num_envs) <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        self.num_envs = int(num_envs)

    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, Any]:
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self._env.reset, in_axes=(0, None))(keys, params)

    @partial(jax.jit, static_argnums=(0,))
    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self._env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)


@struct.dataclass
class EpisodeStatisticsState:
    env_state: Any
    episode_return: jax.Array
    episode_length: jax.Array


class EpisodeStatistics(Wrapper):
    """Tracks the return and length of the running episode.

    On every step ``info`` gets ``episode_return``, ``episode_length`` and ``episode_done``; the first
    two are the finished episode's totals where ``episode_done`` is true and must be ignored elsewhere
    (aggregate with ``episode_done`` as a mask). ``success`` is passed through when the environment
    reports one. ``batch_shape`` is for environments that are batched already (host adapters).
    """

    def __init__(self, env: Environment, batch_shape: tuple[int, ...] = ()):
        super().__init__(env)
        self.batch_shape = tuple(batch_shape)

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, EpisodeStatisticsState]:
        obs, env_state = self._env.reset(key, params)
        zero = jnp.zeros(self.batch_shape, jnp.float32)
        return obs, EpisodeStatisticsState(env_state, zero, jnp.zeros(self.batch_shape, jnp.int32))

    def step(self, key: jax.Array, state: EpisodeStatisticsState, action: Any, params: Any = None):
        obs, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, params
        )
        done = jnp.logical_or(terminated, truncated)
        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        info = {
            **info,
            "episode_return": episode_return,
            "episode_length": episode_length,
            "episode_done": done,
        }
        new_state = EpisodeStatisticsState(
            env_state,
            jnp.where(done, 0.0, episode_return),
            jnp.where(done, 0, episode_length),
        )
        return obs, new_state, reward, terminated, truncated, info


def flatten_observation(obs: Any) -> jax.Array:
    """Concatenate every leaf of an observation pytree into one float32 vector (per batch element
    when called under ``vmap``)."""
    leaves = jax.tree.leaves(obs)
    return jnp.concatenate([jnp.ravel(leaf).astype(jnp.float32) for leaf in leaves])


class FlattenObservation(Wrapper):
    """Turns a pytree observation into one float32 vector (``info["final_observation"]`` too)."""

    def reset(self, key: jax.Array, params: Any = None):
        obs, state = self._env.reset(key, params)
        return flatten_observation(obs), state

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        info = {**info, "final_observation": flatten_observation(info["final_observation"])}
        return flatten_observation(obs), state, reward, terminated, truncated, info

    def observation_space(self, params: Any = None) -> spaces.Box:
        inner = self._env.observation_space(params)
        leaves = list(inner.spaces.values()) if isinstance(inner, spaces.Dict) else [inner]
        size = 0
        lows, highs = [], []
        for space in leaves:
            if isinstance(space, spaces.Dict):
                raise NotImplementedError("nested Dict spaces are not flattened")
            n = int(np.prod(space.shape)) if space.shape else 1
            size += n
            if isinstance(space, spaces.Discrete):
                lows.append(np.zeros(n)), highs.append(np.full(n, space.n - 1))
            else:
                # numpy for concrete bounds; jnp where they are traced (a space built from traced params)
                xp = np if isinstance(space.low, np.ndarray) and isinstance(space.high, np.ndarray) else jnp
                lows.append(xp.ravel(space.low)), highs.append(xp.ravel(space.high))
        if isinstance(inner, spaces.Dict):
            # Dict observations are flattened in sorted key order (the pytree order).
            order = sorted(range(len(leaves)), key=lambda i: list(inner.spaces)[i])
            lows, highs = [lows[i] for i in order], [highs[i] for i in order]
        concrete = all(isinstance(bound, np.ndarray) for bound in lows + highs)
        concatenate = np.concatenate if concrete else jnp.concatenate
        return spaces.Box(concatenate(lows), concatenate(highs), (size,), jnp.float32)

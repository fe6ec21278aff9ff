"""Adapters between our environments and other libraries.

- ``envs.make("gymnax:<id>")`` wraps a gymnax 1.0 environment (optional extra: ``pip install
  'jaxrl-research[gymnax]'``) as an `Environment` with our spaces. Its ``reset`` and ``step`` are
  gymnax's own (same signature, same auto-reset and ``info["final_observation"]``), with the reward cast
  to float32 and ``terminated``/``truncated`` to bool.
- ``to_gymnasium(env, params)`` gives a ``gymnasium.Env`` for code outside JAX: it keeps a JAX key and
  state on the host, calls the jitted ``reset``/``step`` and returns numpy values. It does not reset
  by itself: at the end of an episode it returns that episode's last observation, and the caller calls
  ``reset`` as gymnasium requires.
- ``to_gymnasium_vector(env, params, num_envs)`` gives a ``gymnasium.vector.VectorEnv`` stepped with
  ``jax.vmap``. Its autoreset mode is ``AutoresetMode.SAME_STEP`` (``metadata["autoreset_mode"]``),
  which is what our ``step`` does: where an episode ends the returned observation is already the first
  one of the next episode, the finished episode's last observation is in ``info["final_obs"]`` (an
  object array holding None for the sub-environments that did not finish) and ``info["_final_obs"]``
  marks which sub-environments finished.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs import spaces
from envs.core import Environment
from envs.registry import register_prefix

GYMNAX_INSTALL_HINT = "pip install 'jaxrl-research[gymnax]'"


# --------------------------------------------------------------------------------------------------
# gymnax


def from_gymnax_space(space: Any) -> spaces.Space:
    """Convert a gymnax space (Discrete, Box, Dict) into ours."""
    kind = type(space).__name__
    if kind == "Discrete":
        return spaces.Discrete(space.n, dtype=space.dtype)
    if kind == "Box":
        shape = (space.shape,) if isinstance(space.shape, int) else tuple(space.shape)
        return spaces.Box(np.asarray(space.low), np.asarray(space.high), shape, space.dtype)
    if kind == "Dict":
        return spaces.Dict({name: from_gymnax_space(sub) for name, sub in space.spaces.items()})
    raise NotImplementedError(f"gymnax space {kind} has no counterpart in envs.spaces")


class GymnaxEnvironment(Environment):
    """A gymnax environment seen as one of ours (``envs.make("gymnax:<id>")``)."""

    def __init__(self, gymnax_env: Any, env_id: str):
        self.gymnax_env = gymnax_env
        self.env_id = env_id

    @property
    def default_params(self) -> Any:
        return self.gymnax_env.default_params

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, Any]:
        return self.gymnax_env.reset(key, params)

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        obs, state, reward, terminated, truncated, info = self.gymnax_env.step(key, state, action, params)
        reward = jnp.asarray(reward, jnp.float32)
        return obs, state, reward, jnp.asarray(terminated, bool), jnp.asarray(truncated, bool), info

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        return self.gymnax_env.reset_env(key, params)

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any):
        obs, state, reward, terminated, info = self.gymnax_env.step_env(key, state, action, params)
        return obs, state, jnp.asarray(reward, jnp.float32), jnp.asarray(terminated, bool), info

    def is_truncated(self, state: Any, params: Any) -> jax.Array:
        return self.gymnax_env.is_truncated(state, params)

    def action_space(self, params: Any = None) -> spaces.Space:
        return from_gymnax_space(self.gymnax_env.action_space(params or self.default_params))

    def observation_space(self, params: Any = None) -> spaces.Space:
        return from_gymnax_space(self.gymnax_env.observation_space(params or self.default_params))

    @property
    def name(self) -> str:
        return f"gymnax:{self.env_id}"


def make_gymnax(env_id: str, **kwargs: Any) -> tuple[GymnaxEnvironment, Any]:
    """``envs.make("gymnax:<id>", **kwargs)``: kwargs go to ``gymnax.make``."""
    try:
        import gymnax
    except ModuleNotFoundError as error:
        if error.name != "gymnax":
            raise  # gymnax is installed but something it imports is not: say what
        raise ImportError(
            f"'gymnax:{env_id}' needs the optional gymnax package: {GYMNAX_INSTALL_HINT}"
        ) from error
    if env_id not in gymnax.registered_envs:
        raise ValueError(
            f"unknown gymnax environment {env_id!r}; gymnax has: {', '.join(gymnax.registered_envs)}"
        )
    gymnax_env, params = gymnax.make(env_id, **kwargs)
    return GymnaxEnvironment(gymnax_env, env_id), params


register_prefix("gymnax", make_gymnax)


# --------------------------------------------------------------------------------------------------
# gymnasium


def to_gymnasium_space(space: spaces.Space) -> gymnasium.spaces.Space:
    """Convert one of our spaces into a gymnasium space. Float bounds at the dtype's largest finite
    value become infinite, as gymnasium's own spaces write unbounded dimensions."""
    if isinstance(space, spaces.Discrete):
        return gymnasium.spaces.Discrete(space.n)
    if isinstance(space, spaces.Box):
        dtype = np.dtype(space.dtype)
        low, high = np.array(space.low, dtype=dtype), np.array(space.high, dtype=dtype)
        if np.issubdtype(dtype, np.floating):
            largest = np.finfo(dtype).max
            low[low <= -largest], high[high >= largest] = -np.inf, np.inf
        return gymnasium.spaces.Box(low, high, space.shape, dtype)
    if isinstance(space, spaces.Dict):
        return gymnasium.spaces.Dict({name: to_gymnasium_space(sub) for name, sub in space.spaces.items()})
    raise NotImplementedError(f"no gymnasium counterpart for {space!r}")


def _to_numpy(tree: Any, space: Any) -> Any:
    """Observations as numpy arrays with the dtype of the matching gymnasium space."""
    if isinstance(space, gymnasium.spaces.Dict):
        return {name: _to_numpy(tree[name], sub) for name, sub in space.spaces.items()}
    return np.asarray(tree, dtype=space.dtype)


def _to_jax_action(action: Any, space: spaces.Space) -> Any:
    if isinstance(space, spaces.Dict):
        return {name: _to_jax_action(action[name], sub) for name, sub in space.spaces.items()}
    return jnp.asarray(action, dtype=space.dtype)


def _info_to_numpy(info: dict[str, Any]) -> dict[str, Any]:
    return {k: jax.tree.map(np.asarray, v) for k, v in info.items() if k != "final_observation"}


class GymnasiumEnv(gymnasium.Env):
    """One of our environments as a ``gymnasium.Env``; build it with `to_gymnasium`."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, env: Environment, params: Any = None, seed: int = 0):
        self.env = env
        self.params = env.default_params if params is None else params
        self.observation_space = to_gymnasium_space(env.observation_space(self.params))
        self.action_space = to_gymnasium_space(env.action_space(self.params))
        self._our_action_space = env.action_space(self.params)
        self._key = jax.random.key(seed)
        self._state: Any = None
        self._reset = jax.jit(env.reset)
        self._step = jax.jit(env.step)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.key(seed)
        self._key, key = jax.random.split(self._key)
        obs, self._state = self._reset(key, self.params)
        return _to_numpy(obs, self.observation_space), {}

    def step(self, action: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        self._key, key = jax.random.split(self._key)
        action = _to_jax_action(action, self._our_action_space)
        _, self._state, reward, terminated, truncated, info = self._step(
            key, self._state, action, self.params
        )
        # The observation the step produced, before our auto-reset: gymnasium users reset themselves.
        obs = _to_numpy(info["final_observation"], self.observation_space)
        return obs, float(reward), bool(terminated), bool(truncated), _info_to_numpy(info)

    def __repr__(self) -> str:
        return f"GymnasiumEnv({self.env.name})"


class GymnasiumVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` copies of one of our environments as a ``gymnasium.vector.VectorEnv`` (autoreset
    mode SAME_STEP); build it with `to_gymnasium_vector`."""

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, env: Environment, params: Any = None, num_envs: int = 1, seed: int = 0):
        if int(num_envs) <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        self.env = env
        self.params = env.default_params if params is None else params
        self.num_envs = int(num_envs)
        self.single_observation_space = to_gymnasium_space(env.observation_space(self.params))
        self.single_action_space = to_gymnasium_space(env.action_space(self.params))
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._our_action_space = env.action_space(self.params)
        self._key = jax.random.key(seed)
        self._state: Any = None
        self._reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
        self._step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None and not isinstance(seed, int | np.integer):
            raise ValueError(f"seed must be one int for all sub-environments, or None; got {seed!r}")
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.key(int(seed))
        self._key, key = jax.random.split(self._key)
        obs, self._state = self._reset(jax.random.split(key, self.num_envs), self.params)
        return _to_numpy(obs, self.observation_space), {}

    def step(self, actions: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        self._key, key = jax.random.split(self._key)
        actions = _to_jax_action(actions, self._our_action_space)
        obs, self._state, reward, terminated, truncated, info = self._step(
            jax.random.split(key, self.num_envs), self._state, actions, self.params
        )
        terminated, truncated = np.asarray(terminated), np.asarray(truncated)
        done = terminated | truncated
        infos: dict[str, Any] = {}
        for name, value in _info_to_numpy(info).items():
            infos[name], infos["_" + name] = value, np.ones(self.num_envs, bool)
        if done.any():
            # gymnasium's SAME_STEP convention: an object array, None where the episode goes on.
            final = _to_numpy(info["final_observation"], self.observation_space)
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                final_obs[i] = jax.tree.map(lambda leaf, i=i: leaf[i], final)
            infos["final_obs"], infos["_final_obs"] = final_obs, done
        return _to_numpy(obs, self.observation_space), np.asarray(reward), terminated, truncated, infos

    def __repr__(self) -> str:
        return f"GymnasiumVectorEnv({self.env.name}, num_envs={self.num_envs})"


def to_gymnasium(env: Environment, params: Any = None, seed: int = 0) -> GymnasiumEnv:
    """A ``gymnasium.Env`` stepping ``env`` on the host (numpy in, numpy out).

    ``reset(seed=s)`` restarts the JAX key from ``s``; ``reset()`` without a seed continues the key
    sequence. ``step`` returns the observation of the step just taken even when the episode ended there;
    the caller must ``reset`` next (stepping on without it silently starts the next episode).
    """
    return GymnasiumEnv(env, params, seed)


def to_gymnasium_vector(
    env: Environment, params: Any = None, num_envs: int = 1, seed: int = 0
) -> GymnasiumVectorEnv:
    """A ``gymnasium.vector.VectorEnv`` of ``num_envs`` copies of ``env`` batched with ``jax.vmap``,
    autoreset mode SAME_STEP (see the module docstring). ``reset(seed=s)`` takes one int (or None) and
    derives every sub-environment's key from it."""
    return GymnasiumVectorEnv(env, params, num_envs, seed)

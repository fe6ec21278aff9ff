"""Adapters between our environments and other libraries.

- ``envs.make("gymnax:<id>")`` wraps a gymnax 1.0 environment (gymnax is a dependency: our spaces
  subclass its spaces) as an `Environment` with our spaces. Its ``reset`` and ``step`` are gymnax's own
  (same signature, same auto-reset and ``info["final_observation"]``), with the reward cast to float32
  and ``terminated``/``truncated`` to bool.
- ``to_gymnasium(env, params)`` gives a ``gymnasium.Env`` for code outside JAX: it keeps a JAX key and
  state on the host, calls the jitted ``reset``/``step`` and returns numpy values. It does not reset
  by itself: at the end of an episode it returns that episode's last observation, and the caller calls
  ``reset`` as gymnasium requires.
- ``to_gymnasium_vector(env, params, num_envs)`` gives a ``gymnasium.vector.VectorEnv`` stepped with
  ``jax.vmap``, in either of gymnasium 1.2's autoreset modes (``metadata["autoreset_mode"]``):

  - ``AutoresetMode.SAME_STEP`` (default; what our ``step`` does): where an episode ends the returned
    observation is already the first one of the next episode; the finished episode's last observation
    is in ``info["final_obs"]`` (an object array holding None for the sub-environments that did not
    finish), that step's infos in ``info["final_info"]`` (a dict of arrays, each with its ``"_name"``
    mask), and ``info["_final_obs"]``/``info["_final_info"]`` mark which sub-environments finished.
    As in gymnasium's ``SyncVectorEnv``, the top-level infos of those sub-environments are masked out.
  - ``AutoresetMode.NEXT_STEP``: the ending step returns the episode's last observation; the next
    step ignores that sub-environment's action and returns the first observation of its next episode
    with reward 0 and both flags false. gymnasium's vector observation wrappers need this mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs import spaces
from envs.core import Environment
from envs.registry import register_prefix

# --------------------------------------------------------------------------------------------------
# gymnax


def from_gymnax_space(space: Any) -> spaces.Space:
    """Convert a gymnax space (Discrete, Box, Dict) into ours."""
    kind = type(space).__name__
    if kind == "Discrete":
        return spaces.Discrete(space.n, dtype=space.dtype)
    if kind == "Box":
        shape = (space.shape,) if isinstance(space.shape, int) else tuple(space.shape)
        # The bounds as gymnax gives them: under jit they may be traced (gymnax builds them with jnp).
        return spaces.Box(space.low, space.high, shape, space.dtype)
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


def _autoreset_mode(mode: AutoresetMode | str) -> AutoresetMode:
    try:
        mode = AutoresetMode(mode)
    except ValueError:
        mode = None
    if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP):
        raise ValueError(
            f"autoreset_mode must be AutoresetMode.SAME_STEP or AutoresetMode.NEXT_STEP, got {mode!r} "
            "(DISABLED is not offered: our environments reset themselves)"
        )
    return mode


def _where_rows(mask: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leaf-wise: row ``i`` of ``on_true`` where ``mask[i]``, else of ``on_false`` (leaves batched on axis 0)."""
    return jax.tree.map(
        lambda a, b: jnp.where(mask.reshape(mask.shape + (1,) * (jnp.ndim(a) - 1)), a, b), on_true, on_false
    )


def _split_rows(keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Each sub-environment's key split in two: ``(next keys, keys to use now)``."""
    pairs = jax.vmap(jax.random.split)(keys)
    return pairs[:, 0], pairs[:, 1]


class GymnasiumVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` copies of one of our environments as a ``gymnasium.vector.VectorEnv``; build it with
    `to_gymnasium_vector` (which documents the autoreset modes, seeds and ``reset_mask``)."""

    def __init__(
        self,
        env: Environment,
        params: Any = None,
        num_envs: int = 1,
        seed: int = 0,
        autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
    ):
        if int(num_envs) <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        self.env = env
        self.params = env.default_params if params is None else params
        self.num_envs = int(num_envs)
        self.autoreset_mode = _autoreset_mode(autoreset_mode)
        self.metadata = {"autoreset_mode": self.autoreset_mode, "render_modes": []}
        self.single_observation_space = to_gymnasium_space(env.observation_space(self.params))
        self.single_action_space = to_gymnasium_space(env.action_space(self.params))
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._our_action_space = env.action_space(self.params)
        self._keys = self._seed_keys(seed, jax.random.split(jax.random.key(0), self.num_envs))
        self._state: Any = None
        self._obs: Any = None
        # NEXT_STEP: the sub-environments whose episode ended on the last step; the next step only
        # shows them the first observation of their next episode (our step has already reset them).
        self._autoreset = np.zeros(self.num_envs, bool)
        self._pending_obs: Any = None

        def masked_reset(keys: jax.Array, mask: jax.Array, state: Any, obs: Any, params: Any):
            next_keys, reset_keys = _split_rows(keys)
            new_obs, new_state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, params)
            return (
                _where_rows(mask, next_keys, keys),
                _where_rows(mask, new_obs, obs),
                _where_rows(mask, new_state, state),
            )

        def full_reset(keys: jax.Array, params: Any):
            next_keys, reset_keys = _split_rows(keys)
            obs, state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, params)
            return next_keys, obs, state

        def step(keys: jax.Array, state: Any, actions: Any, params: Any):
            next_keys, step_keys = _split_rows(keys)
            out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(step_keys, state, actions, params)
            return (next_keys, *out)

        self._full_reset = jax.jit(full_reset)
        self._masked_reset = jax.jit(masked_reset)
        self._step = jax.jit(step)
        self._where_rows = jax.jit(_where_rows)

    def _seed_keys(self, seed: int | Sequence[int | None] | None, keys: jax.Array) -> jax.Array:
        """Keys for ``seed`` as gymnasium reads it: None keeps ``keys``, an int ``s`` seeds the
        sub-environments with ``s, s + 1, ...``, a list gives one seed (or None) per sub-environment."""
        if seed is None:
            return keys
        if isinstance(seed, int | np.integer):
            seeds: list[int | None] = [int(seed) + i for i in range(self.num_envs)]
        elif isinstance(seed, Sequence) and not isinstance(seed, str):
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"a list of seeds needs one per sub-environment ({self.num_envs}), got {len(seeds)}")
            if any(s is not None and not isinstance(s, int | np.integer) for s in seeds):
                raise ValueError(f"seeds must be ints or None, got {seeds!r}")
        else:
            raise ValueError(
                f"seed must be an int, a list of ints (or None) per sub-environment, or None; got {seed!r}"
            )
        rows = [keys[i] if s is None else jax.random.key(int(s)) for i, s in enumerate(seeds)]
        return jnp.stack(rows)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every sub-environment, or with ``options={"reset_mask": mask}`` only those where
        ``mask`` (a bool array of shape ``(num_envs,)``) holds. The options dict is not modified."""
        mask = None if options is None else options.get("reset_mask")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise ValueError(
                    f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), "
                    f"got dtype {mask.dtype} and shape {mask.shape}"
                )
            if self._state is None and not mask.all():
                raise ValueError("the first reset must reset every sub-environment (reset_mask all true)")
        super().reset(seed=None)  # gymnasium's bookkeeping; the randomness is in our keys
        self._keys = self._seed_keys(seed, self._keys)
        if mask is None or self._state is None:
            self._keys, self._obs, self._state = self._full_reset(self._keys, self.params)
            self._autoreset[:] = False
        else:
            self._keys, self._obs, self._state = self._masked_reset(
                self._keys, jnp.asarray(mask), self._state, self._obs, self.params
            )
            self._autoreset[mask] = False
        return _to_numpy(self._obs, self.observation_space), {}

    def step(self, actions: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        actions = _to_jax_action(actions, self._our_action_space)
        keys, obs, state, reward, terminated, truncated, info = self._step(
            self._keys, self._state, actions, self.params
        )
        terminated, truncated, reward = np.asarray(terminated), np.asarray(truncated), np.asarray(reward)
        done = terminated | truncated
        step_info = _info_to_numpy(info)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            return self._step_next(keys, obs, state, reward, terminated, truncated, done, info, step_info)
        self._keys, self._obs, self._state = keys, obs, state
        # SAME_STEP, as gymnasium's SyncVectorEnv: where an episode ended the observation starts the next
        # one, the step's own infos move to info["final_info"] and its observation to info["final_obs"].
        infos = _masked_infos(step_info, ~done)
        if done.any():
            final = _to_numpy(info["final_observation"], self.observation_space)
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                final_obs[i] = jax.tree.map(lambda leaf, i=i: leaf[i], final)
            infos["final_obs"], infos["_final_obs"] = final_obs, done
            infos["final_info"], infos["_final_info"] = _masked_infos(step_info, done), done
        return _to_numpy(obs, self.observation_space), reward, terminated, truncated, infos

    def _step_next(self, keys, obs, state, reward, terminated, truncated, done, info, step_info):
        """NEXT_STEP: an ending step returns the episode's last observation; the step after it ignores
        the action and returns the next episode's first observation with reward 0 and no flags."""
        waiting = self._autoreset
        if waiting.any():
            stay = jnp.asarray(waiting)
            # Those sub-environments were reset by the previous step: they do not move now.
            keys = self._where_rows(stay, self._keys, keys)
            state = self._where_rows(stay, self._state, state)
            obs = self._where_rows(stay, self._pending_obs, obs)
            shown = self._where_rows(stay, self._pending_obs, info["final_observation"])
            reward = np.where(waiting, 0.0, reward).astype(reward.dtype)
            terminated, truncated, done = terminated & ~waiting, truncated & ~waiting, done & ~waiting
        else:
            shown = info["final_observation"]
        self._keys, self._state, self._obs = keys, state, obs
        self._pending_obs = obs  # used only where an episode ended now
        self._autoreset = done.copy()
        infos = _masked_infos(step_info, ~waiting)
        return _to_numpy(shown, self.observation_space), reward, terminated, truncated, infos

    def __repr__(self) -> str:
        return f"GymnasiumVectorEnv({self.env.name}, num_envs={self.num_envs}, {self.autoreset_mode})"


def _masked_infos(step_info: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """gymnasium's vector info layout: each entry with a ``"_<name>"`` bool array saying which
    sub-environments it holds a value for."""
    infos: dict[str, Any] = {}
    for name, value in step_info.items():
        infos[name], infos["_" + name] = value, mask.copy()
    return infos


def to_gymnasium(env: Environment, params: Any = None, seed: int = 0) -> GymnasiumEnv:
    """A ``gymnasium.Env`` stepping ``env`` on the host (numpy in, numpy out).

    ``reset(seed=s)`` restarts the JAX key from ``s``; ``reset()`` without a seed continues the key
    sequence. ``step`` returns the observation of the step just taken even when the episode ended there;
    the caller must ``reset`` next (stepping on without it silently starts the next episode).
    """
    return GymnasiumEnv(env, params, seed)


def to_gymnasium_vector(
    env: Environment,
    params: Any = None,
    num_envs: int = 1,
    seed: int = 0,
    autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
) -> GymnasiumVectorEnv:
    """A ``gymnasium.vector.VectorEnv`` of ``num_envs`` copies of ``env`` batched with ``jax.vmap``.

    ``autoreset_mode`` is gymnasium's (``metadata["autoreset_mode"]``): ``SAME_STEP`` (the default, what
    our ``step`` does) or ``NEXT_STEP`` (what gymnasium's vector observation wrappers, such as
    ``gymnasium.wrappers.vector.FlattenObservation`` and ``NormalizeObservation``, require). See the
    module docstring for what each returns.

    Sub-environment ``i`` has its own JAX key: ``seed`` (here or in ``reset``) is read as gymnasium reads
    it: an int ``s`` gives the keys ``jax.random.key(s + i)``, a list gives one seed per sub-environment
    (None keeps that one's key), None continues the keys. Each reset or step of a sub-environment
    splits its key and uses the second half. ``reset(options={"reset_mask": mask})`` resets only the
    sub-environments where ``mask`` holds.
    """
    return GymnasiumVectorEnv(env, params, num_envs, seed, autoreset_mode)

"""The environment base class: the gymnax 1.0 functional API.

An environment is a stateless object whose methods are pure functions of
``(key, state, action, params)``. ``step`` auto-resets: when an episode ends (terminated or
truncated) it returns the first observation of the next episode and puts the last observation of the
finished one in ``info["final_observation"]``, so that agents can bootstrap through truncation.
Termination (the task ended) and truncation (the time limit) are kept apart.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp
from flax import struct

from envs.spaces import Space


@struct.dataclass
class EnvState:
    time: jax.Array


@struct.dataclass
class EnvParams:
    max_steps_in_episode: int = 1


TState = TypeVar("TState", bound=EnvState)
TParams = TypeVar("TParams", bound=EnvParams)


def select_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leaf-wise ``where(pred, on_true, on_false)`` for two pytrees of the same structure."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class Environment(Generic[TState, TParams]):
    """Base class. Subclasses implement ``reset_env``, ``step_env`` and the spaces.

    ``reset`` and ``step`` are jitted with the environment as a static argument. Two environments of
    the same class with equal (hashable) attributes compare equal, so every ``envs.make`` of the same
    task shares one compiled function; an environment holding unhashable state (a host simulator)
    falls back to identity.
    """

    def _identity(self) -> tuple | None:
        try:
            items = tuple(sorted(vars(self).items()))
            hash(items)
        except TypeError:
            return None
        return (type(self), items)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not type(self):
            return False
        mine = self._identity()
        return mine is not None and mine == other._identity()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        identity = self._identity()
        return hash(identity) if identity is not None else id(self)

    @property
    def default_params(self) -> TParams:
        return EnvParams()  # type: ignore[return-value]

    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key: jax.Array, params: TParams | None = None) -> tuple[Any, TState]:
        if params is None:
            params = self.default_params
        return self.reset_env(key, params)

    @partial(jax.jit, static_argnums=(0,))
    def step(
        self, key: jax.Array, state: TState, action: Any, params: TParams | None = None
    ) -> tuple[Any, TState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        if params is None:
            params = self.default_params
        key_step, key_reset = jax.random.split(key)
        obs_step, state_step, reward, terminated, info = self.step_env(key_step, state, action, params)
        terminated = jnp.asarray(terminated, dtype=bool)
        # As in gymnasium's TimeLimit, both flags may be set on the same step; agents bootstrap only
        # when ``truncated & ~terminated``.
        truncated = jnp.asarray(self.is_truncated(state_step, params), dtype=bool)
        done = jnp.logical_or(terminated, truncated)
        obs_reset, state_reset = self.reset_env(key_reset, params)
        state = select_tree(done, state_reset, state_step)
        obs = select_tree(done, obs_reset, obs_step)
        info = {**info, "final_observation": obs_step}
        return obs, state, jnp.asarray(reward, jnp.float32), terminated, truncated, info

    def reset_env(self, key: jax.Array, params: TParams) -> tuple[Any, TState]:
        raise NotImplementedError

    def step_env(
        self, key: jax.Array, state: TState, action: Any, params: TParams
    ) -> tuple[Any, TState, jax.Array, jax.Array, dict[str, Any]]:
        """One transition without reset: ``(obs, state, reward, terminated, info)``."""
        raise NotImplementedError

    def is_truncated(self, state: TState, params: TParams) -> jax.Array:
        """The time limit: ``state.time`` counts steps taken in this episode."""
        return state.time >= params.max_steps_in_episode

    def action_space(self, params: TParams | None = None) -> Space:
        raise NotImplementedError

    def observation_space(self, params: TParams | None = None) -> Space:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def num_actions(self) -> int:
        return self.action_space(self.default_params).n  # type: ignore[attr-defined]

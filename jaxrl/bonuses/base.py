"""The interface every exploration bonus implements, and the pieces bonuses share.

A bonus is a frozen dataclass of static configuration (key names, table and network sizes); all that
changes during training lives in its state, a pytree of arrays kept in the runner state, so a bonus is
jit-able and its state can be vmapped over seeds. The PPO rollout (a ``lax.scan`` over time with N
parallel environments) calls

- ``init(key, obs_example, num_actions, num_envs)`` once, with ONE environment's observation;
- ``step(state, obs, action, next_obs, done)`` once per environment step with batched ``[N, ...]``
  arrays: ``obs`` is s_t, ``action`` a_t, ``next_obs`` s_{t+1} (the pre-reset final observation where
  the episode ended) and ``done`` is ``terminated | truncated``. It returns the raw bonus ``[N]`` float32
  paired with a_t (no normalisation, no coefficient) and the new state. Episodic bonuses compute the
  bonus first, then reset their memory where ``done``; global bonuses update their statistics here;
- ``update(state, batch)`` once per PPO update with the rollout (``"obs"``, ``"action"``,
  ``"next_obs"``, ``"done"``, each ``[T, N, ...]``). Learned parts train here with their own optax
  optimiser held in the state. It returns the new state and scalar metrics.

Normalisation by a running standard deviation and the intrinsic coefficient are applied by the caller
(see `jaxrl.bonuses.normalizer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

BonusState = Any
Batch = Mapping[str, Any]


class Bonus(Protocol):
    """A frozen dataclass holding static configuration; see the module docstring for the contract."""

    def init(self, key: jax.Array, obs_example: Any, num_actions: int, num_envs: int) -> BonusState: ...

    def step(
        self, state: BonusState, obs: Any, action: jax.Array, next_obs: Any, done: jax.Array
    ) -> tuple[jax.Array, BonusState]: ...

    def update(self, state: BonusState, batch: Batch) -> tuple[BonusState, dict[str, jax.Array]]: ...


@struct.dataclass
class EmptyState:
    """State of a bonus that keeps nothing (a pytree with no leaves)."""


@dataclass(frozen=True)
class NoBonus:
    """The zero bonus: lets "no exploration bonus" go through the same code path as the others."""

    def init(self, key: jax.Array, obs_example: Any, num_actions: int, num_envs: int) -> EmptyState:
        return EmptyState()

    def step(
        self, state: EmptyState, obs: Any, action: jax.Array, next_obs: Any, done: jax.Array
    ) -> tuple[jax.Array, EmptyState]:
        return jnp.zeros(jnp.shape(done), jnp.float32), state

    def update(self, state: EmptyState, batch: Batch) -> tuple[EmptyState, dict[str, jax.Array]]:
        return state, {}


# --------------------------------------------------------------------------------------------------
# Observation selection


def as_key_tuple(keys: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Normalises an ``obs_keys`` option: None (every leaf), one key, or a sequence of keys."""
    if keys is None:
        return None
    if isinstance(keys, str):
        return (keys,)
    keys = tuple(keys)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise ValueError(f"obs_keys must be None, a key name or a non-empty sequence of names, got {keys!r}")
    return keys


def select_observation(obs: Any, keys: tuple[str, ...] | None) -> Any:
    """The part of ``obs`` named by ``keys`` (all of it when ``keys`` is None), as a list of leaves.

    Raises ValueError when keys are named but the observation is not a dict, or lacks one of them.
    """
    if keys is None:
        return jax.tree.leaves(obs)
    if not isinstance(obs, Mapping):
        raise ValueError(
            f"observation keys {keys} were given but the observation is a {type(obs).__name__}, not a dict;"
            " use key/obs_keys=None for array observations"
        )
    missing = [k for k in keys if k not in obs]
    if missing:
        raise ValueError(f"observation has no key(s) {missing}; it has {sorted(obs)}")
    return [leaf for k in keys for leaf in jax.tree.leaves(obs[k])]


def flat_features(obs: Any, keys: tuple[str, ...] | None, batch_ndim: int) -> jax.Array:
    """Selected leaves flattened and concatenated as float32 ``[*batch, F]`` (like
    ``envs.flatten_observation``, for ``batch_ndim`` leading batch axes)."""
    leaves = select_observation(obs, keys)
    batch_shape = jnp.shape(leaves[0])[:batch_ndim]
    return jnp.concatenate(
        [jnp.reshape(leaf, batch_shape + (-1,)).astype(jnp.float32) for leaf in leaves], axis=-1
    )


def merge_time_and_envs(tree: Any) -> Any:
    """``[T, N, ...]`` leaves to ``[T * N, ...]``."""
    return jax.tree.map(lambda x: jnp.reshape(x, (-1,) + jnp.shape(x)[2:]), tree)


# --------------------------------------------------------------------------------------------------
# Networks


class MLP(nn.Module):
    """Dense layers with ReLU between them (none after the last)."""

    features: tuple[int, ...]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, width in enumerate(self.features):
            x = nn.Dense(width, name=f"dense_{i}")(x)
            if i < len(self.features) - 1:
                x = nn.relu(x)
        return x


def as_int_tuple(value: int | Sequence[int], name: str) -> tuple[int, ...]:
    """Validates a tuple of positive layer widths (lists from a CLI or YAML become tuples)."""
    values = (value,) if isinstance(value, int) else tuple(value)
    if not all(isinstance(v, int) and v > 0 for v in values):
        raise ValueError(f"{name} must be positive integers, got {value!r}")
    return values


def require_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")

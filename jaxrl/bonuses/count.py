"""Global count bonus b = 1 / sqrt(N(psi(s_{t+1}))), N counted over all environments and the whole run.

psi(s) is one observation key ("position", "message", "glyphs_crop", ...) or the whole observation
(``key=None``), mapped to a slot of a fixed-size count table:

- ``bounds=(B_0, ..., B_{L-1})`` gives an exact mixed-radix index for integer vectors with
  ``0 <= v_i < B_i`` (for a position in a W x H grid: ``bounds=(W, H)`` in the order of the position's
  components); values outside are clipped to the edge. Needs ``prod(bounds) <= table_size``.
- otherwise a 32-bit hash (a murmur3-style mix of every element and its index) modulo ``table_size``.
  Distinct states can then share a slot: n distinct states in a table of m slots give about
  n (n - 1) / (2 m) colliding pairs. For every position of a 79 x 21 map (n = 1659) that is about 21
  pairs at the default m = 65536 and about 336 at m = 4096; a collision only makes two states share a
  count. Float leaves are hashed by their bit pattern (exact-state counting).

Order within one step (documented contract): all N visits of the step are added to the table first,
then each environment reads its count, so N >= 1 and two environments reaching the same state at the
same step both see a count that includes both visits. The first state of every episode (s_0, seen as
``obs`` at the first step after a reset) is counted too, so every state the agent stands in is counted
once per visit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.bonuses.base import Batch, select_observation

_MIX_1 = np.uint32(0x85EBCA6B)
_MIX_2 = np.uint32(0xC2B2AE35)
_GOLDEN = np.uint32(0x9E3779B1)
_INDEX_SALT = np.uint32(0x27D4EB2F)


def _fmix32(h: jax.Array) -> jax.Array:
    """murmur3's 32-bit finaliser: a bijection on uint32 that spreads every input bit."""
    h = h ^ (h >> 16)
    h = h * _MIX_1
    h = h ^ (h >> 13)
    h = h * _MIX_2
    return h ^ (h >> 16)


def _as_uint32(leaf: jax.Array, batch_ndim: int) -> jax.Array:
    batch_shape = leaf.shape[:batch_ndim]
    if jnp.issubdtype(leaf.dtype, jnp.floating):
        leaf = jax.lax.bitcast_convert_type(leaf.astype(jnp.float32), jnp.uint32)
    return jnp.reshape(leaf.astype(jnp.uint32), batch_shape + (-1,))


def state_values(obs: Any, key: str | None, batch_ndim: int) -> jax.Array:
    """The values psi(s) that a count bonus keys on, as uint32 ``[*batch, L]``."""
    leaves = select_observation(obs, None if key is None else (key,))
    return jnp.concatenate([_as_uint32(leaf, batch_ndim) for leaf in leaves], axis=-1)


def hash_values(values: jax.Array, table_size: int) -> jax.Array:
    """Slot in ``[0, table_size)`` for each uint32 vector ``values[..., :]`` (int32)."""
    positions = jnp.arange(values.shape[-1], dtype=jnp.uint32)
    per_element = _fmix32(values * _GOLDEN + _fmix32(positions * _INDEX_SALT + np.uint32(1)))
    h = _fmix32(jnp.sum(per_element, axis=-1, dtype=jnp.uint32))
    return (h % np.uint32(table_size)).astype(jnp.int32)


def exact_index(values: jax.Array, bounds: tuple[int, ...]) -> jax.Array:
    """Mixed-radix index of integer vectors with ``0 <= v_i < bounds[i]`` (clipped), int32."""
    index = jnp.zeros(values.shape[:-1], jnp.int32)
    for i, bound in enumerate(bounds):
        component = jnp.clip(values[..., i].astype(jnp.int32), 0, bound - 1)
        index = index * bound + component
    return index


@dataclass(frozen=True)
class StateIndexer:
    """Maps observations to count-table slots (shared by the global and the episodic count)."""

    key: str | None
    table_size: int
    bounds: tuple[int, ...] | None

    def validate(self, obs_example: Any) -> None:
        values = state_values(obs_example, self.key, batch_ndim=0)
        if self.bounds is not None:
            if values.shape[-1] != len(self.bounds):
                raise ValueError(
                    f"bounds has {len(self.bounds)} entries but observation key {self.key!r} has"
                    f" {values.shape[-1]} values"
                )
            if int(np.prod(self.bounds)) > self.table_size:
                raise ValueError(f"table_size={self.table_size} is smaller than prod(bounds={self.bounds})")

    def __call__(self, obs: Any, batch_ndim: int = 1) -> jax.Array:
        values = state_values(obs, self.key, batch_ndim)
        if self.bounds is not None:
            return exact_index(values, self.bounds)
        return hash_values(values, self.table_size)


def make_indexer(key: str | None, table_size: int, bounds: Sequence[int] | None) -> StateIndexer:
    """Validates the count options (shared by every count-based bonus) and builds the indexer."""
    if key is not None and not isinstance(key, str):
        raise ValueError(f"key must be an observation key name or None, got {key!r}")
    if not (isinstance(table_size, int) and table_size > 0):
        raise ValueError(f"table_size must be a positive integer, got {table_size!r}")
    if bounds is not None:
        bounds = tuple(bounds)
        if not bounds or not all(isinstance(b, int) and b > 0 for b in bounds):
            raise ValueError(f"bounds must be positive integers, got {bounds!r}")
    return StateIndexer(key, table_size, bounds)


@struct.dataclass
class CountState:
    counts: jax.Array  # int32 [table_size], shared by all environments
    first_step: jax.Array  # bool [N]: the next step is the first of an episode (its obs is s_0)


@dataclass(frozen=True)
class CountBonus:
    """Global count bonus 1/sqrt(N(psi(s_{t+1}))); see the module docstring."""

    key: str | None = "position"
    """Observation key psi counts ("position", "message", ...); None: the whole observation."""
    table_size: int = 1 << 16
    """Slots of the count table (states hash into it unless bounds are given)."""
    bounds: tuple[int, ...] | None = None
    """Exact index for integer vectors with 0 <= v_i < bounds[i] (e.g. (W, H) for a position); None: hash."""

    def __post_init__(self) -> None:
        indexer = make_indexer(self.key, self.table_size, self.bounds)
        object.__setattr__(self, "bounds", indexer.bounds)

    @property
    def indexer(self) -> StateIndexer:
        return StateIndexer(self.key, self.table_size, self.bounds)

    def init(self, key: jax.Array, obs_example: Any, num_actions: int, num_envs: int) -> CountState:
        self.indexer.validate(obs_example)
        return CountState(
            counts=jnp.zeros((self.table_size,), jnp.int32), first_step=jnp.ones((num_envs,), bool)
        )

    def step(
        self, state: CountState, obs: Any, action: jax.Array, next_obs: Any, done: jax.Array
    ) -> tuple[jax.Array, CountState]:
        done = jnp.asarray(done, bool)
        start_slots = self.indexer(obs)
        next_slots = self.indexer(next_obs)
        counts = state.counts.at[start_slots].add(state.first_step.astype(jnp.int32))
        counts = counts.at[next_slots].add(1)
        bonus = jax.lax.rsqrt(counts[next_slots].astype(jnp.float32))
        return bonus, CountState(counts=counts, first_step=done)

    def update(self, state: CountState, batch: Batch) -> tuple[CountState, dict[str, jax.Array]]:
        return state, {"count_states_seen": jnp.sum(state.counts > 0).astype(jnp.float32)}

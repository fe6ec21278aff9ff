"""Episodic count bonus on psi(s_{t+1}), counted within the current episode of each environment.

``mode="first_visit"`` (the paper's choice): 1 if s_{t+1} is new in this episode, else 0.
``mode="inverse_sqrt"`` (the RIDE / AGAC variant): 1 / sqrt(N_e(psi(s_{t+1}))).

psi and the count table are those of the global count (`jaxrl.bonuses.count`: ``key``, ``table_size``,
``bounds``, and the same note on hash collisions, which here can make a new state look visited).
Each environment has its own table ``[N, table_size]``. A reset must not cost O(N * table_size) per
step, so every slot carries the episode number that wrote it: a slot written in an earlier episode
reads as 0, and ending an episode is incrementing that environment's episode number.

The first state of each episode (``obs`` at the first step after a reset) is counted as visited, so
staying in place at the first step gives N_e = 2. Memory is reset after the bonus is computed, where
``done``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.bonuses.base import Batch
from jaxrl.bonuses.count import StateIndexer, make_indexer

EPISODIC_MODES = ("first_visit", "inverse_sqrt")


@struct.dataclass
class EpisodicCountState:
    counts: jax.Array  # int32 [N, table_size]: valid only where stamps == episode
    stamps: jax.Array  # int32 [N, table_size]: the episode number that last wrote the slot
    episode: jax.Array  # int32 [N]: episode number of each environment
    first_step: jax.Array  # bool [N]


def _visit(
    state: EpisodicCountState, slots: jax.Array, mask: jax.Array
) -> tuple[EpisodicCountState, jax.Array]:
    """Adds one visit of ``slots`` [N] where ``mask``; returns the new state and the episodic counts."""
    rows = jnp.arange(slots.shape[0])
    current = state.stamps[rows, slots] == state.episode
    count = jnp.where(current, state.counts[rows, slots], 0) + mask.astype(jnp.int32)
    counts = state.counts.at[rows, slots].set(jnp.where(mask, count, state.counts[rows, slots]))
    stamps = state.stamps.at[rows, slots].set(jnp.where(mask, state.episode, state.stamps[rows, slots]))
    return state.replace(counts=counts, stamps=stamps), count


@dataclass(frozen=True)
class EpisodicCountBonus:
    """Per-episode count of psi(s_{t+1}): first-visit indicator or 1/sqrt(N_e)."""

    key: str | None = "position"
    """Observation key psi counts ("position", "message", ...); None: the whole observation."""
    table_size: int = 4096
    """Slots of the count table (states hash into it unless bounds are given)."""
    bounds: tuple[int, ...] | None = None
    """Exact index for integer vectors with 0 <= v_i < bounds[i] (e.g. (W, H) for a position); None: hash."""
    mode: str = "first_visit"
    """first_visit: 1 for a state new in this episode, else 0; inverse_sqrt: 1/sqrt(N_e)."""

    def __post_init__(self) -> None:
        indexer = make_indexer(self.key, self.table_size, self.bounds)
        object.__setattr__(self, "bounds", indexer.bounds)
        if self.mode not in EPISODIC_MODES:
            raise ValueError(f"mode must be one of {EPISODIC_MODES}, got {self.mode!r}")

    @property
    def indexer(self) -> StateIndexer:
        return StateIndexer(self.key, self.table_size, self.bounds)

    def init(self, key: jax.Array, obs_example: Any, num_actions: int, num_envs: int) -> EpisodicCountState:
        self.indexer.validate(obs_example)
        table = (num_envs, self.table_size)
        return EpisodicCountState(
            counts=jnp.zeros(table, jnp.int32),
            stamps=jnp.full(table, -1, jnp.int32),
            episode=jnp.zeros((num_envs,), jnp.int32),
            first_step=jnp.ones((num_envs,), bool),
        )

    def episodic_counts(
        self, state: EpisodicCountState, obs: Any, next_obs: Any, done: jax.Array
    ) -> tuple[jax.Array, EpisodicCountState]:
        """N_e(psi(s_{t+1})) including this visit ``[N]`` int32, and the state after the step."""
        done = jnp.asarray(done, bool)
        state, _ = _visit(state, self.indexer(obs), state.first_step)
        state, count = _visit(state, self.indexer(next_obs), jnp.ones_like(state.first_step))
        state = state.replace(episode=state.episode + done.astype(jnp.int32), first_step=done)
        return count, state

    def step(
        self, state: EpisodicCountState, obs: Any, action: jax.Array, next_obs: Any, done: jax.Array
    ) -> tuple[jax.Array, EpisodicCountState]:
        count, state = self.episodic_counts(state, obs, next_obs, done)
        if self.mode == "first_visit":
            return (count == 1).astype(jnp.float32), state
        return jax.lax.rsqrt(count.astype(jnp.float32)), state

    def update(
        self, state: EpisodicCountState, batch: Batch
    ) -> tuple[EpisodicCountState, dict[str, jax.Array]]:
        return state, {}

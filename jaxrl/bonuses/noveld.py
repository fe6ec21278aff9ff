"""NovelD (Zhang et al. 2021): b_t = max(n(s_{t+1}) - c * n(s_t), 0) * 1[N_e(s_{t+1}) == 1].

n is the RND novelty (prediction error, see `jaxrl.bonuses.rnd`) and N_e the episodic count of
`jaxrl.bonuses.episodic_count` (first-visit indicator on ``key``; ``key=None`` counts exact whole
observations, as the NovelD paper does). c = ``scale`` = 0.1 by default as in the authors' code
(0.5 was also tried). The RND predictor trains in ``update`` exactly as for the RND bonus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.bonuses.base import Batch
from jaxrl.bonuses.episodic_count import EpisodicCountBonus, EpisodicCountState
from jaxrl.bonuses.rnd import RNDBonus, RNDState


def noveld_formula(
    novelty_next: jax.Array, novelty: jax.Array, first_visit: jax.Array, scale: float | jax.Array
) -> jax.Array:
    """max(n(s') - c n(s), 0) * 1[first visit of s' in this episode]."""
    return jnp.maximum(novelty_next - scale * novelty, 0.0) * first_visit.astype(jnp.float32)


@struct.dataclass
class NovelDState:
    rnd: RNDState
    episodic: EpisodicCountState


@dataclass(frozen=True)
class NovelDBonus:
    """NovelD; RND options (obs_keys ... squared) and episodic-count options (key, table_size, bounds)."""

    scale: float = 0.1
    """c in max(n(s') - c n(s), 0)."""
    obs_keys: tuple[str, ...] | None = None
    """Observation keys fed to the network (None: all leaves, flattened)."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of the RND target and predictor MLPs."""
    output_dim: int = 64
    """Output size of the RND networks."""
    learning_rate: float = 1e-4
    """Adam learning rate of the bonus's own network."""
    train_steps: int = 1
    """Full-batch training steps of the bonus's network per PPO update."""
    squared: bool = False
    """Squared RND prediction error instead of its L2 norm."""
    key: str | None = "position"
    """Observation key of the episodic first-visit count; None: the whole observation."""
    table_size: int = 4096
    """Slots of the count table (states hash into it unless bounds are given)."""
    bounds: tuple[int, ...] | None = None
    """Exact index for integer vectors with 0 <= v_i < bounds[i] (e.g. (W, H) for a position); None: hash."""

    def __post_init__(self) -> None:
        if not self.scale >= 0:
            raise ValueError(f"scale (NovelD's c) must be non-negative, got {self.scale!r}")
        # Building the parts validates (and normalises) their options.
        rnd, episodic = self.rnd, self.episodic
        for name in ("obs_keys", "hidden"):
            object.__setattr__(self, name, getattr(rnd, name))
        object.__setattr__(self, "bounds", episodic.bounds)

    @property
    def rnd(self) -> RNDBonus:
        return RNDBonus(
            self.obs_keys, self.hidden, self.output_dim, self.learning_rate, self.train_steps, self.squared
        )

    @property
    def episodic(self) -> EpisodicCountBonus:
        return EpisodicCountBonus(self.key, self.table_size, self.bounds, mode="first_visit")

    def init(self, key: jax.Array, obs_example: Any, num_actions: int, num_envs: int) -> NovelDState:
        return NovelDState(
            rnd=self.rnd.init(key, obs_example, num_actions, num_envs),
            episodic=self.episodic.init(key, obs_example, num_actions, num_envs),
        )

    def step(
        self, state: NovelDState, obs: Any, action: jax.Array, next_obs: Any, done: jax.Array
    ) -> tuple[jax.Array, NovelDState]:
        novelty = self.rnd.novelty(state.rnd, obs)
        novelty_next = self.rnd.novelty(state.rnd, next_obs)
        first_visit, episodic = self.episodic.step(state.episodic, obs, action, next_obs, done)
        bonus = noveld_formula(novelty_next, novelty, first_visit, self.scale)
        return bonus, state.replace(episodic=episodic)

    def update(self, state: NovelDState, batch: Batch) -> tuple[NovelDState, dict[str, jax.Array]]:
        rnd, metrics = self.rnd.update(state.rnd, batch)
        return state.replace(rnd=rnd), metrics

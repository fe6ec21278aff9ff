"""Combination of two bonuses: an episodic one and a global one.

``mode="product"``: b = b_first * b_second (the paper's robust choice: E3B x RND, E3B x count).
``mode="sum"``: b = b_first + sum_weight * b_second (beta weights the second, global, term).
Both parts see every step and every update; their metrics are merged (prefixed where names clash).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
from flax import struct

from jaxrl.bonuses.base import Batch, Bonus

COMBINE_MODES = ("product", "sum")


@struct.dataclass
class CombinedState:
    first: Any
    second: Any


@dataclass(frozen=True)
class CombinedBonus:
    first: Bonus
    second: Bonus
    mode: str = "product"
    sum_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in COMBINE_MODES:
            raise ValueError(f"mode must be one of {COMBINE_MODES}, got {self.mode!r}")

    def init(self, key: jax.Array, obs_example: Any, num_actions: int, num_envs: int) -> CombinedState:
        first_key, second_key = jax.random.split(key)
        return CombinedState(
            first=self.first.init(first_key, obs_example, num_actions, num_envs),
            second=self.second.init(second_key, obs_example, num_actions, num_envs),
        )

    def step(
        self, state: CombinedState, obs: Any, action: jax.Array, next_obs: Any, done: jax.Array
    ) -> tuple[jax.Array, CombinedState]:
        first_bonus, first = self.first.step(state.first, obs, action, next_obs, done)
        second_bonus, second = self.second.step(state.second, obs, action, next_obs, done)
        if self.mode == "product":
            bonus = first_bonus * second_bonus
        else:
            bonus = first_bonus + self.sum_weight * second_bonus
        return bonus, CombinedState(first=first, second=second)

    def update(self, state: CombinedState, batch: Batch) -> tuple[CombinedState, dict[str, jax.Array]]:
        first, first_metrics = self.first.update(state.first, batch)
        second, second_metrics = self.second.update(state.second, batch)
        metrics = dict(first_metrics)
        for name, value in second_metrics.items():
            metrics[f"second_{name}" if name in metrics else name] = value
        return CombinedState(first=first, second=second), metrics

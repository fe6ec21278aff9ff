"""Sparse MountainCar (the dynamics of ``envs.classic.mountain_car``) with BARFI's energy heuristic.

The primary reward is sparse: +1 on the step that reaches the goal (``position >= 0.5``), 0 otherwise;
the horizon is 2000 steps. The heuristic reward, in ``info["r_aux"]``, is computed from the state the
action was taken in:

- ``"good"`` (energy pumping): +1 when the action accelerates along the current velocity (push right
  while moving right, push left while moving left), else -1. At zero velocity no action counts as
  along it.
- ``"misleading"``: the good heuristic inverted (+1 for braking against the velocity), which pays the
  car for draining its energy. The paper sheet allows "scaled or inverted"; inverted is the one that
  misleads (a scaled copy still points the right way).
- ``"none"``: zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.barfi.gridworld import heuristic_index
from envs.classic.mountain_car import MountainCar, MountainCarParams, MountainCarState


@struct.dataclass
class BarfiMountainCarParams(MountainCarParams):
    heuristic: int = 1  # index into envs.barfi.gridworld.HEURISTICS
    max_steps_in_episode: int = 2000


def energy_pumping(state: MountainCarState, action: jax.Array) -> jax.Array:
    """+1 when ``action`` accelerates along the velocity, else -1."""
    along = ((action == 2) & (state.velocity > 0)) | ((action == 0) & (state.velocity < 0))
    return jnp.where(along, 1.0, -1.0).astype(jnp.float32)


class BarfiMountainCar(MountainCar):
    @property
    def default_params(self) -> BarfiMountainCarParams:
        return BarfiMountainCarParams()

    def step_env(self, key, state: MountainCarState, action, params: BarfiMountainCarParams):
        pump = energy_pumping(state, action)
        r_aux = jnp.select([params.heuristic == 1, params.heuristic == 2], [pump, -pump], 0.0)
        obs, next_state, _, terminated, info = super().step_env(key, state, action, params)
        reward = terminated.astype(jnp.float32)
        return obs, next_state, reward, terminated, {**info, "r_aux": r_aux.astype(jnp.float32)}

    @property
    def name(self) -> str:
        return "BARFI-MountainCar"


def make_barfi_mountain_car(
    heuristic: str = "good", max_steps_in_episode: int = 2000
) -> tuple[BarfiMountainCar, BarfiMountainCarParams]:
    if max_steps_in_episode <= 0:
        raise ValueError(f"max_steps_in_episode must be positive, got {max_steps_in_episode}")
    params = BarfiMountainCarParams(
        heuristic=heuristic_index(heuristic), max_steps_in_episode=max_steps_in_episode
    )
    return BarfiMountainCar(), params

"""MountainCar-v0 with the dynamics of gymnasium's ``MountainCarEnv``.

A car in a valley accelerates left (0), not at all (1) or right (2); the velocity and position are
clipped, the left wall is inelastic (the velocity is zeroed when the car hits it), the reward is -1 per
step and the episode terminates when the car reaches ``position >= 0.5`` with
``velocity >= goal_velocity``. The start position is uniform in [-0.6, -0.4] with zero velocity; the
time limit is 200 steps. Observations are float32 ``[position, velocity]``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces
from envs.core import Environment


@struct.dataclass
class MountainCarState:
    position: jax.Array
    velocity: jax.Array
    time: jax.Array


@struct.dataclass
class MountainCarParams:
    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.5
    goal_velocity: float = 0.0
    force: float = 0.001
    gravity: float = 0.0025
    max_steps_in_episode: int = 200


class MountainCar(Environment[MountainCarState, MountainCarParams]):
    @property
    def default_params(self) -> MountainCarParams:
        return MountainCarParams()

    def step_env(self, key, state: MountainCarState, action, params: MountainCarParams):
        velocity = (
            state.velocity + (action - 1) * params.force + jnp.cos(3 * state.position) * (-params.gravity)
        )
        velocity = jnp.clip(velocity, -params.max_speed, params.max_speed)
        position = jnp.clip(state.position + velocity, params.min_position, params.max_position)
        # The wall on the left is inelastic.
        velocity = jnp.where((position == params.min_position) & (velocity < 0), 0.0, velocity)
        terminated = (position >= params.goal_position) & (velocity >= params.goal_velocity)
        state = MountainCarState(
            position=position.astype(jnp.float32),
            velocity=velocity.astype(jnp.float32),
            time=state.time + 1,
        )
        return self.get_obs(state), state, jnp.float32(-1.0), terminated, {}

    def reset_env(self, key, params: MountainCarParams):
        position = jax.random.uniform(key, (), jnp.float32, minval=-0.6, maxval=-0.4)
        state = MountainCarState(position, jnp.zeros((), jnp.float32), jnp.int32(0))
        return self.get_obs(state), state

    def get_obs(self, state: MountainCarState) -> jax.Array:
        return jnp.stack([state.position, state.velocity]).astype(jnp.float32)

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(3)

    def observation_space(self, params=None) -> spaces.Box:
        params = params or self.default_params
        low = [params.min_position, -params.max_speed]
        high = [params.max_position, params.max_speed]
        return spaces.Box(low, high, (2,), jnp.float32)

    @property
    def name(self) -> str:
        return "MountainCar-v0"


def make_mountain_car(
    goal_velocity: float = 0.0, max_steps_in_episode: int = 200
) -> tuple[MountainCar, MountainCarParams]:
    """``goal_velocity`` is gymnasium's argument of the same name: the speed the car must have at the
    goal for the episode to terminate."""
    params = MountainCarParams(goal_velocity=float(goal_velocity), max_steps_in_episode=max_steps_in_episode)
    if max_steps_in_episode <= 0:
        raise ValueError(f"max_steps_in_episode must be positive, got {max_steps_in_episode}")
    if not math.isfinite(goal_velocity) or goal_velocity > params.max_speed:
        raise ValueError(
            f"goal_velocity must be a finite number <= max_speed={params.max_speed} (else the goal can "
            f"never be reached), got {goal_velocity}"
        )
    return MountainCar(), params

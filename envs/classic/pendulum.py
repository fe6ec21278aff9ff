"""Pendulum-v1 with the dynamics of gymnasium's ``PendulumEnv``.

The action is a torque in a float32 ``Box(-2, 2, (1,))`` (clipped to that range before use); the
reward is ``-(angle_normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2)`` computed from the state
before the step; the angular velocity is clipped to [-8, 8]. There is no termination, only the
200-step time limit. The start state is uniform in theta in [-pi, pi], theta_dot in [-1, 1].
Observations are float32 ``[cos theta, sin theta, theta_dot]``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces
from envs.core import Environment


@struct.dataclass
class PendulumState:
    theta: jax.Array
    theta_dot: jax.Array
    time: jax.Array


@struct.dataclass
class PendulumParams:
    max_speed: float = 8.0
    max_torque: float = 2.0
    dt: float = 0.05
    g: float = 10.0
    m: float = 1.0
    l: float = 1.0  # noqa: E741  (gymnasium's name for the pendulum's length)
    max_steps_in_episode: int = 200


def angle_normalize(x: jax.Array) -> jax.Array:
    """Wrap an angle into [-pi, pi), as gymnasium does."""
    return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


class Pendulum(Environment[PendulumState, PendulumParams]):
    @property
    def default_params(self) -> PendulumParams:
        return PendulumParams()

    def step_env(self, key, state: PendulumState, action, params: PendulumParams):
        u = jnp.clip(jnp.reshape(action, (-1,))[0], -params.max_torque, params.max_torque)
        costs = angle_normalize(state.theta) ** 2 + 0.1 * state.theta_dot**2 + 0.001 * u**2
        theta_dot = (
            state.theta_dot
            + (3 * params.g / (2 * params.l) * jnp.sin(state.theta) + 3.0 / (params.m * params.l**2) * u)
            * params.dt
        )
        theta_dot = jnp.clip(theta_dot, -params.max_speed, params.max_speed)
        theta = state.theta + theta_dot * params.dt
        state = PendulumState(
            theta=theta.astype(jnp.float32), theta_dot=theta_dot.astype(jnp.float32), time=state.time + 1
        )
        return self.get_obs(state), state, (-costs).astype(jnp.float32), jnp.asarray(False), {}

    def reset_env(self, key, params: PendulumParams):
        high = jnp.array([jnp.pi, 1.0], jnp.float32)
        theta, theta_dot = jax.random.uniform(key, (2,), jnp.float32, minval=-high, maxval=high)
        state = PendulumState(theta, theta_dot, jnp.int32(0))
        return self.get_obs(state), state

    def get_obs(self, state: PendulumState) -> jax.Array:
        return jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot]).astype(jnp.float32)

    def action_space(self, params=None) -> spaces.Box:
        params = params or self.default_params
        return spaces.Box(-params.max_torque, params.max_torque, (1,), jnp.float32)

    def observation_space(self, params=None) -> spaces.Box:
        params = params or self.default_params
        high = [1.0, 1.0, params.max_speed]
        return spaces.Box([-h for h in high], high, (3,), jnp.float32)

    @property
    def name(self) -> str:
        return "Pendulum-v1"


def make_pendulum(g: float = 10.0, max_steps_in_episode: int = 200) -> tuple[Pendulum, PendulumParams]:
    """``g`` is gymnasium's argument of the same name: the acceleration of gravity."""
    if max_steps_in_episode <= 0:
        raise ValueError(f"max_steps_in_episode must be positive, got {max_steps_in_episode}")
    if not math.isfinite(g) or g < 0:
        raise ValueError(f"g (gravity) must be a finite non-negative number, got {g}")
    return Pendulum(), PendulumParams(g=float(g), max_steps_in_episode=max_steps_in_episode)

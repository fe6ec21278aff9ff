"""CartPole-v1 with the dynamics of gymnasium's ``CartPoleEnv`` (Euler integration, reward 1 per
step, termination when the pole or cart leave their bounds, time limit 500)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces
from envs.core import Environment


@struct.dataclass
class CartPoleState:
    x: jax.Array
    x_dot: jax.Array
    theta: jax.Array
    theta_dot: jax.Array
    time: jax.Array


@struct.dataclass
class CartPoleParams:
    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length
    force_mag: float = 10.0
    tau: float = 0.02
    theta_threshold_radians: float = 12 * 2 * jnp.pi / 360
    x_threshold: float = 2.4
    max_steps_in_episode: int = 500


class CartPole(Environment[CartPoleState, CartPoleParams]):
    @property
    def default_params(self) -> CartPoleParams:
        return CartPoleParams()

    def step_env(self, key, state: CartPoleState, action, params: CartPoleParams):
        total_mass = params.masspole + params.masscart
        polemass_length = params.masspole * params.length
        force = jnp.where(action == 1, params.force_mag, -params.force_mag)
        costheta, sintheta = jnp.cos(state.theta), jnp.sin(state.theta)
        temp = (force + polemass_length * state.theta_dot**2 * sintheta) / total_mass
        thetaacc = (params.gravity * sintheta - costheta * temp) / (
            params.length * (4.0 / 3.0 - params.masspole * costheta**2 / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        state = CartPoleState(
            x=state.x + params.tau * state.x_dot,
            x_dot=state.x_dot + params.tau * xacc,
            theta=state.theta + params.tau * state.theta_dot,
            theta_dot=state.theta_dot + params.tau * thetaacc,
            time=state.time + 1,
        )
        terminated = (
            (state.x < -params.x_threshold)
            | (state.x > params.x_threshold)
            | (state.theta < -params.theta_threshold_radians)
            | (state.theta > params.theta_threshold_radians)
        )
        return self.get_obs(state), state, jnp.float32(1.0), terminated, {}

    def reset_env(self, key, params: CartPoleParams):
        x, x_dot, theta, theta_dot = jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05)
        state = CartPoleState(x, x_dot, theta, theta_dot, jnp.int32(0))
        return self.get_obs(state), state

    def get_obs(self, state: CartPoleState) -> jax.Array:
        return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot]).astype(jnp.float32)

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params=None) -> spaces.Box:
        params = params or self.default_params
        largest = float(jnp.finfo(jnp.float32).max)
        # A list, not a jnp array: concrete params then give concrete (checked) bounds, even under jit.
        high = [params.x_threshold * 2, largest, params.theta_threshold_radians * 2, largest]
        return spaces.Box([-h for h in high], high, (4,), jnp.float32)

    @property
    def name(self) -> str:
        return "CartPole-v1"


def make_cartpole(max_steps_in_episode: int = 500) -> tuple[CartPole, CartPoleParams]:
    if max_steps_in_episode <= 0:
        raise ValueError(f"max_steps_in_episode must be positive, got {max_steps_in_episode}")
    return CartPole(), CartPoleParams(max_steps_in_episode=max_steps_in_episode)

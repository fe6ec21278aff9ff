"""CartPole-v1 (the dynamics of ``envs.classic.cartpole``) with BARFI's PD-controller heuristics.

The primary reward is +1 per step (horizon 500). A PD controller on the pole angle pushes right when
``kp * theta + kd * theta_dot > 0``. The heuristic reward, in ``info["r_aux"]``, is computed from the
state the action was taken in:

- ``"good"``: +1 when the action matches the PD controller, else 0.
- ``"misleading"``: -1 when the action matches the PD controller, else 0.
- ``"none"``: zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.barfi.gridworld import heuristic_index
from envs.classic.cartpole import CartPole, CartPoleParams, CartPoleState


@struct.dataclass
class BarfiCartPoleParams(CartPoleParams):
    heuristic: int = 1  # index into envs.barfi.gridworld.HEURISTICS
    kp: float = 1.0
    kd: float = 0.5


def pd_action(state: CartPoleState, params: BarfiCartPoleParams) -> jax.Array:
    """The PD controller's action on the pole angle: 1 (push right) when the pole falls to the right."""
    return (params.kp * state.theta + params.kd * state.theta_dot > 0).astype(jnp.int32)


class BarfiCartPole(CartPole):
    @property
    def default_params(self) -> BarfiCartPoleParams:
        return BarfiCartPoleParams()

    def step_env(self, key, state: CartPoleState, action, params: BarfiCartPoleParams):
        matches = (action == pd_action(state, params)).astype(jnp.float32)
        r_aux = jnp.select([params.heuristic == 1, params.heuristic == 2], [matches, -matches], 0.0)
        obs, next_state, reward, terminated, info = super().step_env(key, state, action, params)
        return obs, next_state, reward, terminated, {**info, "r_aux": r_aux.astype(jnp.float32)}

    @property
    def name(self) -> str:
        return "BARFI-CartPole"


def make_barfi_cartpole(
    heuristic: str = "good", max_steps_in_episode: int = 500
) -> tuple[BarfiCartPole, BarfiCartPoleParams]:
    if max_steps_in_episode <= 0:
        raise ValueError(f"max_steps_in_episode must be positive, got {max_steps_in_episode}")
    params = BarfiCartPoleParams(
        heuristic=heuristic_index(heuristic), max_steps_in_episode=max_steps_in_episode
    )
    return BarfiCartPole(), params

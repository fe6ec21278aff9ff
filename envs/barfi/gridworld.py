"""The continuous GridWorld of BARFI (Gupta et al., NeurIPS 2023).

The agent lives in [0, 1]^2 and starts at (0.125, 0.125). Each of the four actions (0 up, 1 down,
2 left, 3 right) moves it in ``num_substeps`` sub-steps of ``substep_size`` (4 x 0.045, about 0.2 per
step, clipped to the walls); with probability ``random_action_prob`` the action is replaced by a uniform
random one. Reaching the goal square [0.75, 0.99]^2 at any sub-step ends the episode with +100; every
step costs 0.1; the horizon is 50 steps.

The heuristic reward comes separately in ``info["r_aux"]`` (the primary reward is the returned reward):

- ``"good"``: minus the squared Euclidean distance from the position after the step to the goal (the
  centre of the goal square). The authors' code has an indexing slip that makes this depend on x only;
  this is the intended Euclidean distance.
- ``"misleading"``: +50 for each sub-step that ends inside the centre square [0.4, 0.6]^2, which pays
  the agent for loitering there instead of going to the goal.
- ``"none"``: zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces
from envs.core import Environment

HEURISTICS = ("none", "good", "misleading")

# Unit moves for the actions up, down, left, right.
_MOVES = jnp.array([[0.0, 1.0], [0.0, -1.0], [-1.0, 0.0], [1.0, 0.0]], jnp.float32)


@struct.dataclass
class GridWorldState:
    position: jax.Array  # (2,) float32
    time: jax.Array


@struct.dataclass
class GridWorldParams:
    heuristic: int = 1  # index into HEURISTICS; an array leaf, so it can be a vmapped batch axis
    start: tuple[float, float] = struct.field(pytree_node=False, default=(0.125, 0.125))
    goal_low: float = 0.75
    goal_high: float = 0.99
    centre_low: float = 0.4
    centre_high: float = 0.6
    substep_size: float = 0.045
    num_substeps: int = struct.field(pytree_node=False, default=4)
    random_action_prob: float = 0.1
    goal_reward: float = 100.0
    step_cost: float = 0.1
    centre_bonus: float = 50.0
    max_steps_in_episode: int = 50


def in_square(position: jax.Array, low: float, high: float) -> jax.Array:
    return jnp.all((position >= low) & (position <= high), axis=-1)


def good_heuristic(position: jax.Array, params: GridWorldParams) -> jax.Array:
    """Minus the squared distance from ``position`` to the centre of the goal square."""
    goal = 0.5 * (params.goal_low + params.goal_high)
    return -jnp.sum((position - goal) ** 2, axis=-1)


class GridWorld(Environment[GridWorldState, GridWorldParams]):
    @property
    def default_params(self) -> GridWorldParams:
        return GridWorldParams()

    def step_env(self, key, state: GridWorldState, action, params: GridWorldParams):
        random_action = jax.random.randint(key, (), 0, 4)
        take_random = jax.random.uniform(jax.random.fold_in(key, 1)) < params.random_action_prob
        action = jnp.where(take_random, random_action, action)
        move = _MOVES[action] * params.substep_size

        def substep(carry, _):
            position, reached = carry
            position = jnp.where(reached, position, jnp.clip(position + move, 0.0, 1.0))
            reached = reached | in_square(position, params.goal_low, params.goal_high)
            in_centre = in_square(position, params.centre_low, params.centre_high) & ~reached
            return (position, reached), in_centre

        (position, reached), in_centre = jax.lax.scan(
            substep, (state.position, jnp.bool_(False)), None, length=params.num_substeps
        )
        reward = jnp.where(reached, params.goal_reward, 0.0) - params.step_cost
        r_aux = jnp.select(
            [params.heuristic == 1, params.heuristic == 2],
            [good_heuristic(position, params), params.centre_bonus * jnp.sum(in_centre)],
            0.0,
        ).astype(jnp.float32)
        state = GridWorldState(position=position, time=state.time + 1)
        return self.get_obs(state), state, reward.astype(jnp.float32), reached, {"r_aux": r_aux}

    def reset_env(self, key, params: GridWorldParams):
        state = GridWorldState(position=jnp.asarray(params.start, jnp.float32), time=jnp.int32(0))
        return self.get_obs(state), state

    def get_obs(self, state: GridWorldState) -> jax.Array:
        return state.position.astype(jnp.float32)

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(4)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (2,), jnp.float32)

    @property
    def name(self) -> str:
        return "BARFI-GridWorld"


def heuristic_index(heuristic: str) -> int:
    if heuristic not in HEURISTICS:
        raise ValueError(f"heuristic must be one of {HEURISTICS}, got {heuristic!r}")
    return HEURISTICS.index(heuristic)


def make_gridworld(
    heuristic: str = "good", max_steps_in_episode: int = 50
) -> tuple[GridWorld, GridWorldParams]:
    if max_steps_in_episode <= 0:
        raise ValueError(f"max_steps_in_episode must be positive, got {max_steps_in_episode}")
    params = GridWorldParams(heuristic=heuristic_index(heuristic), max_steps_in_episode=max_steps_in_episode)
    return GridWorld(), params

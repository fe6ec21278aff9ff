"""Hidden-goal gridworld trials for meta-RL (see ``papers/meta_rl.md``).

One environment episode is one **trial**: a small maze whose goal cell is drawn at the trial's start
and is not shown to the agent. The trial holds ``num_episodes`` inner **episodes**; each starts the
agent at the fixed start cell (top-left) and ends when the agent steps onto the goal (reward 1) or
after ``max_episode_steps`` steps (reward 0). The first episode of a trial has to search; an agent
that remembers where the goal was can walk straight to it in the later ones.

Inner episodes are marked in ``info`` exactly as in `envs.meta.bandits`: ``info["episode_boundary"]`` on the
step that ends one (the trial's last step included), ``info["inner_episode"]`` the index of the inner
episode the step belonged to, and ``info["reached_goal"]``. The trial ends, after its last inner
episode, with ``terminated=True`` (the trial's length is part of the task; see `envs.meta.bandits`).
``params.max_steps_in_episode``, the core's time limit on a trial, is set by the factory to the
longest possible trial (``num_episodes * max_episode_steps``), so by default it fires only together
with ``terminated``, when every inner episode of a trial ran out of time.

The structure switch ``resample="episode"`` redraws the goal at every inner-episode start, so that
nothing learnt in one episode helps in the next; ``"none"`` (default) keeps it for the whole trial.

Observation: the one-hot position of the agent, ``float32[size * size]`` (row-major). Actions: 0 up,
1 right, 2 down, 3 left; a move into a wall or off the grid leaves the agent where it is.

Layouts (``"#"`` wall, ``"."`` free, start at the top-left): ``"open"`` (no walls, any size >= 2) and
``"maze"`` (the fixed mazes below, sizes 5 and 7). The goal is drawn uniformly among the free cells
other than the start.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs import spaces
from envs.core import Environment

MAZES = {
    5: (
        ".....",
        ".###.",
        "...#.",
        ".#.#.",
        ".#...",
    ),
    7: (
        "...#...",
        ".#.#.#.",
        ".#...#.",
        ".###.#.",
        "...#...",
        "##.#.##",
        ".......",
    ),
}
LAYOUTS = ("maze", "open")
GRID_RESAMPLE = ("none", "episode")
# (row, column) moves for actions 0 up, 1 right, 2 down, 3 left.
MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]], dtype=np.int32)


def layout_walls(size: int, layout: str) -> np.ndarray:
    """The ``[size, size]`` boolean wall map of a named layout."""
    if layout == "open":
        return np.zeros((size, size), dtype=bool)
    return np.array([[c == "#" for c in row] for row in MAZES[size]], dtype=bool)


@struct.dataclass
class GoalTrialsState:
    position: jax.Array  # [2] (row, column)
    goal: jax.Array  # [2]
    episode_index: jax.Array  # inner episode of the next step
    episode_time: jax.Array  # steps already taken in the current inner episode
    time: jax.Array  # steps already taken in the trial


@struct.dataclass
class GoalTrialsParams:
    walls: jax.Array  # [size, size] bool
    max_episode_steps: int = struct.field(pytree_node=False, default=30)
    num_episodes: int = struct.field(pytree_node=False, default=5)
    resample: str = struct.field(pytree_node=False, default="none")
    max_steps_in_episode: int = 150  # the longest trial, num_episodes * max_episode_steps (docstring)

    @property
    def size(self) -> int:
        return int(self.walls.shape[0])


START = (0, 0)


class GoalTrials(Environment[GoalTrialsState, GoalTrialsParams]):
    @property
    def default_params(self) -> GoalTrialsParams:
        return GoalTrialsParams(walls=jnp.asarray(layout_walls(7, "maze")))

    def sample_goal(self, key: jax.Array, params: GoalTrialsParams) -> jax.Array:
        """A free cell other than the start, uniformly."""
        candidates = ~params.walls.reshape(-1)
        candidates = candidates.at[START[0] * params.size + START[1]].set(False)
        cell = jax.random.categorical(key, jnp.where(candidates, 0.0, -jnp.inf))
        return jnp.stack([cell // params.size, cell % params.size]).astype(jnp.int32)

    def reset_env(self, key: jax.Array, params: GoalTrialsParams) -> tuple[jax.Array, GoalTrialsState]:
        zero = jnp.zeros((), jnp.int32)
        start = jnp.asarray(START, jnp.int32)
        state = GoalTrialsState(start, self.sample_goal(key, params), zero, zero, zero)
        return self._obs(state.position, params), state

    def step_env(self, key: jax.Array, state: GoalTrialsState, action: jax.Array, params: GoalTrialsParams):
        target = state.position + jnp.asarray(MOVES)[jnp.asarray(action, jnp.int32)]
        inside = jnp.all((target >= 0) & (target < params.size))
        clipped = jnp.clip(target, 0, params.size - 1)
        free = inside & ~params.walls[clipped[0], clipped[1]]
        position = jnp.where(free, target, state.position)
        reached = jnp.all(position == state.goal)
        episode_time = state.episode_time + 1
        boundary = reached | (episode_time >= params.max_episode_steps)
        episode_index = state.episode_index + boundary.astype(jnp.int32)
        trial_over = episode_index >= params.num_episodes
        if params.resample == "episode":
            goal = jnp.where(boundary, self.sample_goal(key, params), state.goal)
        else:
            goal = state.goal
        new_state = GoalTrialsState(
            position=jnp.where(boundary, jnp.asarray(START, jnp.int32), position),
            goal=goal,
            episode_index=episode_index,
            episode_time=jnp.where(boundary, 0, episode_time),
            time=state.time + 1,
        )
        info = {"episode_boundary": boundary, "inner_episode": state.episode_index, "reached_goal": reached}
        return self._obs(new_state.position, params), new_state, reached.astype(jnp.float32), trial_over, info

    def _obs(self, position: jax.Array, params: GoalTrialsParams) -> jax.Array:
        cell = position[0] * params.size + position[1]
        return jax.nn.one_hot(cell, params.size * params.size, dtype=jnp.float32)

    def action_space(self, params: GoalTrialsParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(4)

    def observation_space(self, params: GoalTrialsParams | None = None) -> spaces.Box:
        params = params or self.default_params
        return spaces.Box(0.0, 1.0, (params.size * params.size,), jnp.float32)

    @property
    def name(self) -> str:
        return "GoalTrials"


def make_goal_trials(
    size: int = 7,
    layout: str = "maze",
    max_episode_steps: int = 30,
    num_episodes: int = 5,
    resample: str = "none",
) -> tuple[GoalTrials, GoalTrialsParams]:
    """The raw goal-trials environment and its parameters, with every argument value checked."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "maze" and size not in MAZES:
        raise ValueError(f"layout='maze' needs size in {sorted(MAZES)}, got size={size}; use layout='open'")
    if int(size) < 2:
        raise ValueError(f"size must be at least 2, got {size}")
    if int(max_episode_steps) < 1:
        raise ValueError(f"max_episode_steps must be positive, got {max_episode_steps}")
    if int(num_episodes) < 1:
        raise ValueError(f"num_episodes must be positive, got {num_episodes}")
    if resample not in GRID_RESAMPLE:
        raise ValueError(f"resample must be one of {GRID_RESAMPLE}, got {resample!r}")
    params = GoalTrialsParams(
        walls=jnp.asarray(layout_walls(int(size), layout)),
        max_episode_steps=int(max_episode_steps),
        num_episodes=int(num_episodes),
        resample=resample,
        max_steps_in_episode=int(num_episodes) * int(max_episode_steps),
    )
    return GoalTrials(), params

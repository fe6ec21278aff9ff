"""NetHack-like sight and memory (``sight=True``) on hand-made maps: what is in sight, what is
remembered, and what the 9 x 9 crop shows; the ray tree of line of sight against a direct walk."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from env_conformance import check_environment

import envs
from envs.gridworld import GridEnv, GridTask, tables
from envs.gridworld.sight import ray_steps

CHARS = {
    "-": tables.WALL, "|": tables.WALL, ".": tables.FLOOR, "+": tables.DOOR_CLOSED, "d": tables.DOORWAY,
    "#": tables.CORRIDOR, ">": tables.GOAL, "}": tables.LAVA, " ": tables.ROCK, "@": tables.FLOOR,
    "(": tables.KEY,
}


def make_env(rows: tuple[str, ...], sight: bool = True, dark: bool = False) -> GridEnv:
    grid = np.array([[CHARS[c] for c in row] for row in rows], np.uint8)
    ys, xs = np.nonzero(np.array([[c == "@" for c in row] for row in rows]))
    start = np.array([xs[0], ys[0]], np.int32)
    task = GridTask(
        name="SightTest",
        height=grid.shape[0],
        width=grid.shape[1],
        generate=lambda key: (jnp.asarray(grid), jnp.asarray(start)),
        dark=dark,
    )
    return GridEnv(task, sight=sight)


def walk(env: GridEnv, *moves: int):
    """Reset, then the moves; returns the observation and state after each (reset first)."""
    obs, state = env.reset(jax.random.key(0), env.default_params)
    out = [(obs, state)]
    step = jax.jit(env.step_env)
    for i, move in enumerate(moves):
        obs, state, *_ = step(jax.random.key(i), state, jnp.int32(move), env.default_params)
        out.append((obs, state))
    return out


def shown(obs, x: int, y: int) -> int:
    return int(obs["glyphs"][y, x])


# Two lit rooms sharing a wall with a closed door (MultiRoom's layout); the goal behind the door is
# inside the agent's 9 x 9 crop.
TWO_ROOMS = (
    "---------",
    "|...|...|",
    "|.@.+.>.|",
    "|...|...|",
    "---------",
)


def test_goal_behind_a_closed_door_is_hidden_until_the_door_opens() -> None:
    env = make_env(TWO_ROOMS)
    (obs, _), (_, _), (obs_open, state_open), (obs_in, _), (obs_back, _) = walk(
        env, tables.E, tables.E, tables.E, tables.W
    )
    # The room the agent is in is seen whole, its walls and door included; the next room is not.
    for x in range(0, 5):
        for y in range(0, 5):
            assert shown(obs, x, y) != tables.ROCK, (x, y)
    assert shown(obs, 4, 2) == tables.DOOR_CLOSED
    assert shown(obs, 6, 2) == tables.ROCK and shown(obs, 8, 2) == tables.ROCK
    crop = np.asarray(obs["glyphs_crop"])
    assert not np.any(crop == tables.GOAL) and crop[4, 4] == tables.AGENT
    # Walking into the door opens it (the agent stays at (3, 2)): through the open door the goal, on
    # the straight line, is in sight, but the corners of the next room are not.
    assert int(state_open.grid[2, 4]) == tables.DOOR_OPEN and state_open.position.tolist() == [3, 2]
    assert shown(obs_open, 6, 2) == tables.GOAL and np.any(np.asarray(obs_open["glyphs_crop"]) == tables.GOAL)
    assert shown(obs_open, 7, 1) == tables.ROCK and shown(obs_open, 7, 3) == tables.ROCK
    # In the doorway the whole next room is in sight.
    for x in range(4, 9):
        for y in range(0, 5):
            assert shown(obs_in, x, y) != tables.ROCK, (x, y)
    # Memory: back in the first room, the corner (7, 1) is out of sight (the wall (4, 1) is in the way)
    # but still shown.
    assert shown(obs_back, 7, 1) == tables.FLOOR and shown(obs_back, 6, 2) == tables.GOAL


# A lit room, a doorway, a dark corridor and a second lit room with a doorway.
CORRIDOR = (
    "-----     -----",
    "|...|     |...|",
    "|.@.d#####d.>.|",
    "|...|     |...|",
    "-----     -----",
)


def test_dark_corridor_is_seen_only_next_to_the_agent_and_a_lit_room_through_its_doorway() -> None:
    env = make_env(CORRIDOR)
    steps = walk(env, tables.E, tables.E, tables.E, tables.E, tables.E)
    (obs0, _), (obs1, _), (obs2, _), (obs3, _), (obs4, _), (obs5, _) = steps
    # From inside the room: the doorway is seen, the dark corridor beyond it is not.
    assert shown(obs0, 4, 2) == tables.DOORWAY and shown(obs0, 5, 2) == tables.ROCK
    # In the doorway (4, 2): the first corridor cell, next to the agent, is seen; the second is not.
    assert shown(obs2, 5, 2) == tables.CORRIDOR and shown(obs2, 6, 2) == tables.ROCK
    assert shown(obs3, 6, 2) == tables.CORRIDOR and shown(obs3, 7, 2) == tables.ROCK
    # Corridor cells stay remembered behind the agent.
    assert shown(obs5, 5, 2) == tables.CORRIDOR
    # From the dark corridor, the lit room's floor and goal are in sight through its doorway, on the
    # line of the corridor; the lit wall next to the doorway is not (the cell beside it towards the agent
    # is dark rock: NetHack's "no walls at the end of dark hallways").
    assert shown(obs3, 12, 2) == tables.GOAL and shown(obs3, 11, 2) == tables.FLOOR
    assert shown(obs3, 10, 1) == tables.ROCK
    # Corridor cells between the agent and the doorway that were never next to it stay unseen.
    assert shown(obs5, 9, 2) == tables.ROCK


def test_reset_clears_memory_and_dark_tasks_see_only_neighbours() -> None:
    env = make_env(TWO_ROOMS)
    (_, _), *_, (obs_in, state_in) = walk(env, tables.E, tables.E, tables.E)
    assert shown(obs_in, 7, 1) == tables.FLOOR
    obs, state = env.reset(jax.random.key(5), env.default_params)
    assert shown(obs, 7, 1) == tables.ROCK and int(state.seen.sum()) < int(state_in.seen.sum())
    # Auto-reset (the goal ends the episode) also starts a fresh memory.
    step = jax.jit(env.step)
    for i, move in enumerate([tables.E, tables.E, tables.E, tables.E, tables.E]):
        obs, state, _, terminated, _, _ = step(jax.random.key(i), state, jnp.int32(move), env.default_params)
    assert bool(terminated) and state.position.tolist() == [2, 2] and shown(obs, 7, 1) == tables.ROCK
    # A dark level: sight and the old dark rule agree (the 3 x 3 cells around the agent, remembered).
    dark_sight, dark_plain = make_env(TWO_ROOMS, dark=True), make_env(TWO_ROOMS, sight=False, dark=True)
    moves = (tables.E, tables.S, tables.E)
    for (a, _), (b, _) in zip(walk(dark_sight, *moves), walk(dark_plain, *moves), strict=True):
        np.testing.assert_array_equal(np.asarray(a["glyphs"]), np.asarray(b["glyphs"]))
    assert shown(a, 6, 2) == tables.ROCK and shown(a, 4, 4) == tables.WALL


def test_lava_does_not_block_sight_but_walls_do() -> None:
    """MultiRoom-Lava's room walls are lava: in NetHack the lit level is seen across them."""
    env = make_env(
        (
            "}}}}}}}}}",
            "}...}...}",
            "}.@.}.>.}",
            "}...}...}",
            "}}}}}}}}}",
        )
    )
    obs = walk(env)[0][0]
    assert shown(obs, 6, 2) == tables.GOAL and shown(obs, 7, 3) == tables.FLOOR
    obs = walk(make_env(TWO_ROOMS))[0][0]
    assert shown(obs, 6, 2) == tables.ROCK


def test_without_sight_the_whole_map_is_shown() -> None:
    obs = walk(make_env(TWO_ROOMS, sight=False))[0][0]
    assert shown(obs, 6, 2) == tables.GOAL and shown(obs, 7, 1) == tables.FLOOR


def _blocked_by_walking(opaque: np.ndarray, hero: tuple[int, int]) -> np.ndarray:
    """Direct computation: for every cell follow `ray_steps` to the agent one cell at a time and look
    for an opaque cell strictly between."""
    h, w = opaque.shape
    steps = ray_steps(h, w)
    hx, hy = hero
    out = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            cx, cy, n = x, y, 0
            while (cx, cy) != (hx, hy):
                sx, sy = steps[cy - hy + h - 1, cx - hx + w - 1]
                cx, cy = cx - sx, cy - sy
                n += 1
                assert n <= max(h, w), "a ray must reach the agent"
                if (cx, cy) != (hx, hy) and opaque[cy, cx]:
                    out[y, x] = True
                    break
    return out


def test_pointer_jumping_matches_walking_each_ray() -> None:
    """The jitted line of sight (pointer jumping) equals walking every ray cell by cell, on random
    maps with the agent anywhere."""
    rng = np.random.default_rng(0)
    h, w = 13, 17
    empty = (jnp.zeros((h, w), jnp.uint8), jnp.zeros(2, jnp.int32))
    task = GridTask(name="RayTest", height=h, width=w, generate=lambda key: empty)
    env = GridEnv(task, sight=True)
    in_sight = jax.jit(env._in_sight)
    for _ in range(6):
        grid = np.where(rng.random((h, w)) < 0.25, tables.WALL, tables.FLOOR).astype(np.uint8)
        hero = (int(rng.integers(w)), int(rng.integers(h)))
        grid[hero[1], hero[0]] = tables.FLOOR
        opaque = grid == tables.WALL
        blocked = _blocked_by_walking(opaque, hero)
        seen = np.asarray(in_sight(jnp.asarray(grid), jnp.asarray(hero, jnp.int32)))
        xs, ys = np.meshgrid(np.arange(w), np.arange(h))
        near = (abs(xs - hero[0]) <= 1) & (abs(ys - hero[1]) <= 1)
        clear = ~blocked & ~opaque
        # Floor cells: in sight exactly when their ray is clear (or they are next to the agent).
        np.testing.assert_array_equal(seen & ~opaque, (clear | near) & ~opaque)
    # Rays in an empty room: straight lines along rows, columns and diagonals.
    steps = ray_steps(5, 5)
    assert steps[4 + 0, 4 + 3].tolist() == [1, 0] and steps[4 + 3, 4 + 0].tolist() == [0, 1]
    assert steps[4 - 2, 4 - 2].tolist() == [-1, -1] and steps[4 + 1, 4 + 3].tolist() == [1, 0]
    assert steps[4 + 2, 4 + 3].tolist() == [1, 1]


def test_sight_jit_vmap_and_determinism() -> None:
    env, params = envs.make("MultiRoom-N4-Lava", sight=True, area="25x25")
    keys = jax.random.split(jax.random.key(0), 4)
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    assert state.seen.shape == (4, env.task.height, env.task.width)
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    actions = jnp.zeros(4, jnp.int32)
    a = step(keys, state, actions, params)
    b = step(keys, state, actions, params)
    np.testing.assert_array_equal(np.asarray(a[0]["glyphs"]), np.asarray(b[0]["glyphs"]))
    # Unseen cells are rock: a sighted map shows at most what the plain one does.
    plain_env, _ = envs.make("MultiRoom-N4-Lava", area="25x25")
    plain = jax.vmap(plain_env.get_obs)(state.replace(seen=jnp.ones((4, 1, 1), bool)))
    sighted = np.asarray(obs["glyphs"])
    assert np.all((sighted == np.asarray(plain["glyphs"])) | (sighted == tables.ROCK))


def test_sight_argument_is_checked() -> None:
    with pytest.raises(ValueError, match="sight"):
        envs.make("KeyRoom-S5", sight="yes")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["MultiRoom-N4-Lava", "Corridor-R3", "KeyRoom-S5"])
def test_conformance_with_sight(name: str) -> None:
    check_environment(name, {"sight": True})

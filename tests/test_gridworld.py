"""Rules of the gridworld engine and its tasks: walls, doors, keys, lava, goal, messages, observations,
contexts, factory arguments, registrations against MiniHack, rendering, and conformance."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.core import reset_where
from envs.gridworld import TASKS, GridEnv, GridParams, GridTask, context_cells, render, tables
from envs.gridworld.layout import covered

ROOT = Path(__file__).resolve().parents[1]

# --- a hand-made map and an environment whose action i is command i ---------------------------------
CHARS = {
    "#": tables.WALL, ".": tables.FLOOR, "+": tables.DOOR_CLOSED, "L": tables.DOOR_LOCKED,
    "|": tables.DOOR_OPEN, "}": tables.LAVA, ">": tables.GOAL, "(": tables.KEY, " ": tables.ROCK,
    "d": tables.DOORWAY, "@": tables.FLOOR,
}
MAP = (
    "#######",
    "#..+..#",
    "#.#####",
    "#.L.}>#",
    "#(.|..#",
    "#######",
)


def parse(rows: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    grid = np.array([[CHARS[c] for c in row] for row in rows], np.uint8)
    ys, xs = np.nonzero(np.array([[c == "@" for c in row] for row in rows]))
    start = np.array([xs[0], ys[0]] if len(xs) else [1, 1], np.int32)
    return grid, start


GRID, _ = parse(MAP)
TEST_TASK = GridTask(
    name="RulesTest",
    height=GRID.shape[0],
    width=GRID.shape[1],
    generate=lambda key: (jnp.asarray(GRID), jnp.array([1, 1], jnp.int32)),
    actions=tuple(range(13)),
    has_inventory=True,
)
ENV = GridEnv(TEST_TASK)
STEP = jax.jit(ENV.step_env)


def at(x: int, y: int, *, params: GridParams | None = None, has_key: bool = False, grid=None):
    _, state = ENV.reset(jax.random.key(0), ENV.default_params)
    state = state.replace(position=jnp.array([x, y], jnp.int32), has_key=jnp.asarray(has_key))
    if grid is not None:
        state = state.replace(grid=jnp.asarray(grid))
    return state


def act(state, *commands: int, params: GridParams | None = None):
    """Apply commands in turn; return the last (obs, state, reward, terminated, info)."""
    params = params or ENV.default_params
    out = None
    for i, command in enumerate(commands):
        out = STEP(jax.random.key(i), state, jnp.int32(command), params)
        state = out[1]
    return out


def tile(state, x: int, y: int) -> int:
    return int(state.grid[y, x])


def test_walls_block_and_frozen_penalty() -> None:
    obs, state, reward, terminated, _ = act(at(1, 1), tables.N)
    assert state.position.tolist() == [1, 1] and int(obs["message"]) == tables.MSG_WALL
    assert float(reward) == 0.0 and not bool(terminated)
    params = ENV.default_params.replace(frozen_step_penalty=-0.01)
    _, _, reward, _, _ = act(at(1, 1), tables.W, params=params)
    assert float(reward) == pytest.approx(-0.01)
    obs, state, reward, _, _ = act(at(1, 1), tables.E)  # a free move takes game time: no penalty
    assert state.position.tolist() == [2, 1] and int(obs["message"]) == tables.MSG_NONE


def test_goal_gives_reward_one_and_success() -> None:
    obs, state, reward, terminated, info = act(at(4, 4), tables.NE)
    assert state.position.tolist() == [5, 3]
    assert float(reward) == 1.0 and bool(terminated) and bool(info["success"])
    assert int(obs["message"]) == tables.MSG_GOAL


def test_lava_ends_episode_as_failure() -> None:
    obs, state, reward, terminated, info = act(at(4, 4), tables.N)
    assert bool(terminated) and not bool(info["success"]) and float(reward) == 0.0
    assert int(obs["message"]) == tables.MSG_LAVA
    params = ENV.default_params.replace(death_penalty=1.0)
    _, _, reward, _, _ = act(at(4, 4), tables.N, params=params)
    assert float(reward) == -1.0


def test_closed_door_opens_and_diagonals_through_doors_are_blocked() -> None:
    obs, state, _, _, _ = act(at(2, 1), tables.E)
    assert tile(state, 3, 1) == tables.DOOR_OPEN and state.position.tolist() == [2, 1]
    assert int(obs["message"]) == tables.MSG_DOOR_OPENS
    _, state, _, _, _ = act(state, tables.E)
    assert state.position.tolist() == [3, 1]
    # The open door at (3, 4): no diagonal step in or out; orthogonal steps pass.
    obs, state, _, _, _ = act(at(2, 3, grid=GRID.copy()), tables.SE)
    assert state.position.tolist() == [2, 3] and int(obs["message"]) == tables.MSG_DIAGONAL_IN
    obs, state, _, _, _ = act(at(3, 4), tables.NE)
    assert state.position.tolist() == [3, 4] and int(obs["message"]) == tables.MSG_DIAGONAL_OUT
    _, state, _, _, _ = act(at(2, 4), tables.E)
    assert state.position.tolist() == [3, 4]
    # A door opened diagonally (NetHack's autoopen works diagonally) and a door that sticks.
    grid = GRID.copy()
    grid[2, 3] = tables.DOOR_CLOSED
    _, state, _, _, _ = act(at(2, 3, grid=grid), tables.NE)
    assert tile(state, 3, 2) == tables.DOOR_OPEN
    stuck = ENV.default_params.replace(open_success_prob=0.0)
    obs, state, _, _, _ = act(at(2, 1), tables.E, params=stuck)
    assert tile(state, 3, 1) == tables.DOOR_CLOSED and int(obs["message"]) == tables.MSG_DOOR_STUCK


def test_locked_door_needs_a_kick_or_the_key() -> None:
    obs, state, _, _, _ = act(at(1, 3), tables.E)
    assert tile(state, 2, 3) == tables.DOOR_LOCKED and int(obs["message"]) == tables.MSG_DOOR_LOCKED
    obs, state, _, _, _ = act(at(1, 3), tables.OPEN, tables.E)
    assert tile(state, 2, 3) == tables.DOOR_LOCKED and int(obs["message"]) == tables.MSG_DOOR_LOCKED
    # KICK asks for a direction; the next move is the direction, and a kick breaks the door open.
    obs, state, _, _, _ = act(at(1, 3), tables.KICK)
    assert int(obs["message"]) == tables.MSG_ASK_DIRECTION and tile(state, 2, 3) == tables.DOOR_LOCKED
    obs, state, _, _, _ = act(state, tables.E)
    assert tile(state, 2, 3) == tables.DOORWAY and int(obs["message"]) == tables.MSG_KICK_OPEN
    assert state.position.tolist() == [1, 3]
    _, state, _, _, _ = act(state, tables.E)
    assert state.position.tolist() == [2, 3]
    failing = ENV.default_params.replace(kick_success_prob=0.0)
    obs, state, _, _, _ = act(at(1, 3), tables.KICK, tables.E, params=failing)
    assert tile(state, 2, 3) == tables.DOOR_LOCKED and int(obs["message"]) == tables.MSG_WHAMM
    obs, _, _, _, _ = act(at(1, 3), tables.KICK, tables.W)
    assert int(obs["message"]) == tables.MSG_OUCH
    obs, state, _, _, _ = act(at(1, 3), tables.KICK, tables.PICKUP)
    assert int(obs["message"]) == tables.MSG_NEVER_MIND and int(state.pending) == -1
    # The key: APPLY without it does nothing; with it the adjacent locked door opens.
    obs, state, _, _, _ = act(at(1, 3), tables.APPLY)
    assert tile(state, 2, 3) == tables.DOOR_LOCKED and int(obs["message"]) == tables.MSG_NOTHING_TO_APPLY
    # MiniHack reports "Never mind." on the unlocking step (its wrapper unlocks and opens the door, then
    # NLE declines NetHack's prompt for the agent's APPLY); the step takes game time (no frozen penalty).
    penalised = ENV.default_params.replace(frozen_step_penalty=-0.01)
    obs, state, reward, _, _ = act(at(1, 3, has_key=True), tables.APPLY, params=penalised)
    assert tile(state, 2, 3) == tables.DOOR_OPEN and int(obs["message"]) == tables.MSG_NEVER_MIND
    assert tables.MESSAGES[int(obs["message"])] == "Never mind." and float(reward) == 0.0
    # With the key and no door next to the agent: the same declined prompt, a frozen step.
    obs, state, reward, _, _ = act(at(1, 1, has_key=True), tables.APPLY, params=penalised)
    assert int(obs["message"]) == tables.MSG_NEVER_MIND and float(reward) == pytest.approx(-0.01)


def test_key_pickup_and_inventory() -> None:
    obs, state, _, _, _ = act(at(1, 3), tables.S)
    assert state.position.tolist() == [1, 4] and int(obs["message"]) == tables.MSG_SEE_KEY
    assert obs["inventory"].tolist() == [0]
    obs, state, _, _, _ = act(state, tables.PICKUP)
    assert bool(state.has_key) and obs["inventory"].tolist() == [1]
    assert int(obs["message"]) == tables.MSG_PICKUP_KEY and tile(state, 1, 4) == tables.FLOOR
    obs, _, _, _, _ = act(state, tables.PICKUP)
    assert int(obs["message"]) == tables.MSG_NOTHING_TO_PICKUP
    # Walk to the locked door with the key and open it by applying the key.
    obs, state, _, _, _ = act(state, tables.N, tables.APPLY, tables.E, tables.E)
    assert state.position.tolist() == [3, 3]


def test_observation_glyphs_and_crop() -> None:
    obs = ENV.get_obs(at(1, 3))
    glyphs = np.asarray(obs["glyphs"])
    expected = GRID.copy()
    expected[expected == tables.DOOR_LOCKED] = tables.DOOR_CLOSED  # locked doors look closed
    expected[3, 1] = tables.AGENT
    np.testing.assert_array_equal(glyphs, expected)
    padded = np.pad(expected, 4, constant_values=tables.ROCK)
    np.testing.assert_array_equal(np.asarray(obs["glyphs_crop"]), padded[3 : 3 + 9, 1 : 1 + 9])
    assert obs["position"].tolist() == [1, 3] and obs["position"].dtype == jnp.int32
    assert ENV.observation_space(ENV.default_params).contains(obs)


def test_dark_task_shows_only_what_was_seen() -> None:
    env, params = envs.make("MazeWalk-9x9")
    obs, state = env.reset(jax.random.key(3), params)
    glyphs, grid = np.asarray(obs["glyphs"]), np.asarray(state.grid)
    x, y = state.position.tolist()
    seen = np.zeros_like(grid, bool)
    seen[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] = True
    expected = np.where(seen, grid, tables.ROCK)
    expected[y, x] = tables.AGENT
    np.testing.assert_array_equal(glyphs, expected)


def test_contexts_fix_the_set_of_layouts() -> None:
    env, _ = envs.make("KeyRoom-S5")
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))  # one compile: contexts are params leaves

    def layouts(num_contexts: int, count: int = 40, context_seed: int = 0) -> set[bytes]:
        _, params = envs.make("KeyRoom-S5", num_contexts=num_contexts, context_seed=context_seed)
        _, states = reset(jax.random.split(jax.random.key(1), count), params)
        grids, positions = np.asarray(states.grid), np.asarray(states.position)
        return {g.tobytes() + p.tobytes() for g, p in zip(grids, positions, strict=True)}

    assert len(layouts(1)) == 1
    three = layouts(3)
    assert 1 < len(three) <= 3
    assert layouts(3, context_seed=7) != three
    assert len(layouts(10)) <= 10
    assert len(layouts(-1)) >= 35


def test_factory_refuses_invalid_arguments() -> None:
    for kwargs, word in [
        ({"num_contexts": 0}, "num_contexts"),
        ({"num_contexts": -2}, "num_contexts"),
        ({"context_seed": -1}, "context_seed"),
        ({"max_steps_in_episode": 0}, "max_steps_in_episode"),
        ({"death_penalty": -1.0}, "death_penalty"),
    ]:
        with pytest.raises(ValueError, match=word):
            envs.make("MultiRoom-N4", **kwargs)
    env, params = envs.make("MultiRoom-N6-Lava", num_contexts=5, context_seed=3, death_penalty=0.5)
    assert (params.num_contexts, params.context_seed, params.death_penalty) == (5, 3, 0.5)
    assert params.max_steps_in_episode == 240


# MiniHack's time limits and action counts (minihack/envs/{minigrid,keyroom,corridor,mazewalk}.py).
EXPECTED = {
    "MultiRoom-N2": (40, 8), "MultiRoom-N4": (120, 8), "MultiRoom-N6": (240, 8), "MultiRoom-N10": (360, 8),
    "MultiRoom-N4-Locked": (120, 10), "MultiRoom-N6-Lava-OpenDoor": (240, 8),
    "MultiRoom-N10-Lava-OpenDoor": (360, 8), "KeyRoom-S5": (200, 10), "KeyRoom-S15": (400, 10),
    "LavaCrossingS19N17": (100, 8), "SimpleCrossingS9N1": (100, 8), "Corridor-R5": (1000, 11),
    "MazeWalk-9x9": (200, 8), "MazeWalk-45x19": (1000, 8),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_time_limits_and_actions_match_minihack(name: str) -> None:
    env, params = envs.make(name)
    assert (params.max_steps_in_episode, env.action_space(params).n) == EXPECTED[name]


def test_registered_names_match_minihack() -> None:
    """Every MiniHack id of these families (without monsters, fixed maps) is registered here, and
    ours are MiniHack's except the documented extra KeyRoom-S10."""
    pytest.importorskip("minihack")
    import gymnasium as gym

    families = ("MultiRoom", "KeyRoom", "LavaCrossing", "SimpleCrossing", "Corridor", "MazeWalk")
    skip = ("Monster", "Extreme", "Fixed", "Battle")
    theirs = {
        name.removeprefix("MiniHack-").removesuffix("-v0")
        for name in gym.registry
        if name.startswith("MiniHack-") and any(f in name for f in families)
    }
    theirs = {name for name in theirs if not any(s in name for s in skip)}
    ours = set(TASKS)
    assert theirs - ours == set(), f"MiniHack tasks not registered: {sorted(theirs - ours)}"
    assert ours - theirs == {"KeyRoom-S10"}


def test_batched_reset_generates_exactly_the_done_rows() -> None:
    """Under vmap, ``step`` generates levels only for done rows, in chunks; with more done rows than a
    chunk holds (40 rows, chunks of 8) every done row must equal the plain ``reset`` of its key."""
    env, params = envs.make("KeyRoom-S5")
    keys = jax.random.split(jax.random.key(2), 40)
    done = jnp.asarray(np.random.default_rng(0).random(40) < 0.7)
    expected = jax.jit(jax.vmap(env.reset_env, in_axes=(0, None)))(keys, params)
    rows = np.asarray(done)
    # Written into given values (what ``step`` does): done rows reset, the others kept as they were.
    current = jax.jit(jax.vmap(env.reset_env, in_axes=(0, None)))(jax.random.split(jax.random.key(3), 40), params)
    into = jax.jit(jax.vmap(reset_where(env.reset_env), in_axes=(0, 0, None, 0)))(done, keys, params, current)
    for got, want, kept in zip(*(jax.tree.leaves(t) for t in (into, expected, current)), strict=True):
        np.testing.assert_array_equal(np.asarray(got)[rows], np.asarray(want)[rows])
        np.testing.assert_array_equal(np.asarray(got)[~rows], np.asarray(kept)[~rows])
    # Large batch (chunks of 16 rows): few done rows go in chunks of 8, many in chunks of 16.
    big_keys = jax.random.split(jax.random.key(4), 256)
    big_current = jax.tree.map(lambda x: jnp.concatenate([x] * 7)[:256], current)
    big_expected = jax.jit(jax.vmap(env.reset_env, in_axes=(0, None)))(big_keys, params)
    big_reset = jax.jit(jax.vmap(reset_where(env.reset_env), in_axes=(0, 0, None, 0)))
    for fraction in (0.02, 0.6, 1.0):
        big_done = jnp.asarray(np.random.default_rng(1).random(256) < fraction)
        got_tree = big_reset(big_done, big_keys, params, big_current)
        big_rows = np.asarray(big_done)
        for got, want, kept in zip(*(jax.tree.leaves(t) for t in (got_tree, big_expected, big_current)), strict=True):
            np.testing.assert_array_equal(np.asarray(got)[big_rows], np.asarray(want)[big_rows])
            np.testing.assert_array_equal(np.asarray(got)[~big_rows], np.asarray(kept)[~big_rows])
    # Unbatched: a plain select.
    single = reset_where(env.reset_env)(done[0], keys[0], params, jax.tree.map(lambda x: x[0], current))
    source = expected if rows[0] else current
    for got, want in zip(jax.tree.leaves(single), jax.tree.leaves(source), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want)[0])


def coverage(
    height: int, width: int, x0: jax.Array, y0: jax.Array, x1: jax.Array, y1: jax.Array
) -> jax.Array:
    """Reference for ``layout.covered``: ``int32[H, W]``, how many of the rectangles
    ``[x0, x1) x [y0, y1)`` cover each cell, by a 2-D difference array."""
    empty = (x1 <= x0) | (y1 <= y0)
    x0, x1 = jnp.where(empty, 0, x0), jnp.where(empty, 0, x1)
    ys = jnp.concatenate([y0, y0, y1, y1])
    xs = jnp.concatenate([x0, x1, x0, x1])
    ones = jnp.ones_like(x0)
    signs = jnp.concatenate([ones, -ones, -ones, ones])
    diff = jnp.zeros((height + 1, width + 1), jnp.int32).at[ys, xs].add(signs, mode="drop")
    return jnp.cumsum(jnp.cumsum(diff, axis=0), axis=1)[:height, :width]


def test_covered_equals_coverage() -> None:
    """The elementwise rectangle test used to paint rooms agrees with the difference-array count."""
    rng = np.random.default_rng(0)
    # Corners from 0 (`coverage` wraps negative indices; generators never make them), some rectangles
    # empty, some reaching past the map.
    x0, y0 = rng.integers(0, 14, (2, 8))
    x1, y1 = x0 + rng.integers(-1, 8, 8), y0 + rng.integers(-1, 8, 8)
    args = tuple(jnp.asarray(a, jnp.int32) for a in (x0, y0, x1, y1))
    np.testing.assert_array_equal(
        np.asarray(covered(10, 12, *args)), np.asarray(coverage(10, 12, *args)) > 0
    )


def test_render_rgb_ascii_and_gif(tmp_path) -> None:
    env, params = envs.make("KeyRoom-S5")
    _, state = env.reset(jax.random.key(0), params)
    image = env.render(state, params)
    assert image.shape == (7 * render.TILE, 7 * render.TILE, 3) and image.dtype == np.uint8
    text = env.render(state, params, mode="ascii")
    lines = text.split("\n")
    x, y = state.position.tolist()
    assert len(lines) == 7 and lines[y][x] == "@" and text.count("(") == 1 and text.count(">") == 1
    with pytest.raises(ValueError, match="mode"):
        env.render(state, params, mode="svg")
    moves = [tables.N, tables.E, tables.S]
    path = render.episode_gif(env, params, jax.random.key(1), moves, tmp_path / "e.gif")
    from PIL import Image

    with Image.open(path) as gif:
        assert gif.n_frames == 4


def test_context_cells_refuses_bad_cells() -> None:
    _, params = envs.make("MultiRoom-N2")
    for cells, argument in (([], "cells"), ([(0, 1)], "num_contexts"), ([(3, -1)], "context_seed")):
        with pytest.raises(ValueError, match=argument):
            context_cells(params, cells)


def test_default_time_limit_is_minihacks() -> None:
    # (The conformance checks of every registered task are in test_env_conformance.py.)
    assert envs.make("KeyRoom-S5")[1].max_steps_in_episode == 200


def test_contexts_are_a_vmappable_batch_axis() -> None:
    """``num_contexts`` and ``context_seed`` are array leaves of the params: one compiled program runs a
    batch of |C| cells (`context_cells`, params vmapped) and gives, bitwise, what separate environments
    give."""
    env, _ = envs.make("MultiRoom-N2", sight=True)
    cells = [(-1, 0), (1, 0), (3, 7), (3, 8), (5, 7)]
    made = [envs.make("MultiRoom-N2", sight=True, num_contexts=c, context_seed=s)[1] for c, s in cells]
    num_envs, num_steps = 4, 40

    def rollout(key: jax.Array, params: GridParams):
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

        def body(carry, key_t):
            obs, state = carry
            key_a, key_s = jax.random.split(key_t)
            actions = jax.random.randint(key_a, (num_envs,), 0, env.action_space(params).n)
            obs, state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key_s, num_envs), state, actions, params
            )
            return (obs, state), (obs["glyphs"], reward, terminated, truncated, info["context"], state.grid)

        return obs["glyphs"], jax.lax.scan(body, (obs, state), jax.random.split(key, num_steps))[1]

    key = jax.random.key(3)
    separate = jax.jit(rollout)  # params are traced arguments: one compile for every cell
    expected = [jax.device_get(separate(key, params)) for params in made]
    batch = context_cells(made[0], cells)
    batched = jax.device_get(jax.jit(jax.vmap(rollout, in_axes=(None, 0)))(key, batch))
    for i, (cell, want) in enumerate(zip(cells, expected, strict=True)):
        got = jax.tree.map(lambda x, i=i: x[i], batched)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"cell {cell}")
    # The cells differ: the contexts drawn lie in each cell's range, and the fixed sets differ by seed.
    contexts = [np.asarray(want[1][4]) for want in expected]
    assert np.all(contexts[0] == -1) and np.all(contexts[1] == 0)
    assert set(np.unique(contexts[2])) <= {0, 1, 2} and set(np.unique(contexts[4])) <= {0, 1, 2, 3, 4}
    first_glyphs = [want[0].tobytes() for want in expected]
    assert first_glyphs[2] != first_glyphs[3], "context_seed 7 and 8 gave the same levels"


def test_gallery_script_writes_png_and_text(tmp_path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gridworld_gallery", ROOT / "experiments" / "gridworld_gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    gallery.main(["--tasks", "MultiRoom-N2,MazeWalk-9x9", "--levels", "1", "--out", str(tmp_path)])
    text = (tmp_path / "levels.txt").read_text()
    assert "MultiRoom-N2, level 0" in text and text.count("@") == 2  # one agent per level
    assert ">" in text.split("MazeWalk-9x9")[1]  # the dark maze is shown revealed, goal included
    assert (tmp_path / "levels.png").stat().st_size > 0
    with pytest.raises(SystemExit):
        gallery.main(["--tasks", "NoSuchTask", "--out", str(tmp_path)])


def test_info_reports_the_episode_context() -> None:
    """``info["context"]`` is the index of the fixed level seed the episode's level came from (-1 for a
    fresh level); the same index always gives the same level."""
    env, params = envs.make("KeyRoom-S5", num_contexts=3)
    keys = jax.random.split(jax.random.key(0), 64)
    _, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    contexts = np.asarray(states.context)
    assert set(contexts.tolist()) == {0, 1, 2}
    grids = np.asarray(states.grid)
    for c in range(3):
        same = grids[contexts == c]
        assert all(np.array_equal(g, same[0]) for g in same)
    *_, info = jax.jit(env.step_env)(keys[0], jax.tree.map(lambda x: x[0], states), jnp.int32(0), params)
    assert int(info["context"]) == int(contexts[0])
    fresh_env, fresh = envs.make("KeyRoom-S5")
    _, state = fresh_env.reset(keys[0], fresh)
    assert int(state.context) == -1


def test_key_task_progress_flags_in_info() -> None:
    """key_seen, key_picked_up, door_unlocked and door_entered: set on the step they happen, kept until
    the episode ends."""
    _, state, _, _, info = act(at(1, 3), tables.S)
    assert bool(info["key_seen"]) and not bool(info["key_picked_up"])
    _, state, _, _, info = act(state, tables.PICKUP)
    assert bool(info["key_picked_up"]) and not bool(info["door_unlocked"])
    _, state, _, _, info = act(state, tables.N, tables.APPLY)
    assert bool(info["door_unlocked"]) and not bool(info["door_entered"]) and bool(info["key_picked_up"])
    _, state, _, _, info = act(state, tables.E)
    assert state.position.tolist() == [2, 3] and bool(info["door_entered"])
    # Walking through a door that was not unlocked (a closed one, opened by walking into it) is not
    # "entering" the unlocked door.
    _, state, _, _, info = act(at(1, 1), tables.E, tables.E, tables.E)
    assert state.position.tolist() == [3, 1] and not bool(info["door_entered"])
    # The key out of the 9 x 9 crop is not seen (a 3 x 13 map with the key 10 cells away).
    rows = ("@.........(.>",)
    grid = np.array([[tables.KEY if c == "(" else tables.GOAL if c == ">" else tables.FLOOR for c in rows[0]]])
    task = GridTask(
        name="FarKey", height=1, width=13, generate=lambda key: (jnp.asarray(grid), jnp.array([0, 0], jnp.int32)),
        actions=tables.APPLY_ACTIONS, has_inventory=True,
    )
    env = GridEnv(task)
    obs, state = env.reset(jax.random.key(0), env.default_params)
    assert int(state.progress) & tables.KEY_SEEN == 0
    step = jax.jit(env.step_env)
    for _ in range(6):
        obs, state, _, _, info = step(jax.random.key(0), state, jnp.int32(tables.E), env.default_params)
    assert state.position.tolist() == [6, 0] and bool(info["key_seen"])
    # Tasks without a key report the context only.
    env, params = envs.make("MultiRoom-N2")
    _, state = env.reset(jax.random.key(0), params)
    *_, info = env.step_env(jax.random.key(0), state, jnp.int32(0), params)
    assert set(info) == {"success", "context"}

"""Every generated gridworld level is solvable: a breadth-first search over the map, doors and keys
(numpy, on levels from a vmapped jitted reset) reaches the goal from the start in every one.

Default suite (to stay fast: compiling each task's reset dominates): 1,000 levels of one task per
generator (MultiRoom-N4-Locked, KeyRoom-S5, LavaCrossingS11N5, Corridor-R5, MazeWalk-9x9).
``-m slow`` runs 1,000 levels of every registered task (39 tasks, about 3 CPU-minutes).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import envs
from envs.gridworld import TASKS, tables

WALKABLE = [
    tables.FLOOR, tables.CORRIDOR, tables.DOORWAY, tables.GOAL, tables.STAIR_UP, tables.KEY, tables.DOOR_OPEN,
    tables.DOOR_CLOSED,  # moving into a closed door opens it
]
DOORS = [tables.DOOR_OPEN, tables.DOOR_CLOSED, tables.DOOR_LOCKED]  # never entered or left diagonally


def _shift(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``out[..., y, x] = a[..., y - dy, x - dx]`` (False outside)."""
    out = np.zeros_like(a)
    h, w = a.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = a[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def reachable(grids: np.ndarray, starts: np.ndarray, locked_passable: np.ndarray) -> np.ndarray:
    """Cells reachable from ``starts`` (``[B, 2]`` x, y) on tile maps ``[B, H, W]`` under the engine's
    movement rules (8 moves, no diagonal steps into or out of doors; lava, walls and rock block; locked
    doors pass where ``locked_passable[b]``)."""
    walkable = np.isin(grids, WALKABLE) | ((grids == tables.DOOR_LOCKED) & locked_passable[:, None, None])
    door = np.isin(grids, DOORS)
    reach = np.zeros(grids.shape, bool)
    reach[np.arange(len(grids)), starts[:, 1], starts[:, 0]] = True
    while True:
        grown = reach.copy()
        for dx, dy in tables.DIRECTIONS:
            source = reach if dx == 0 or dy == 0 else reach & ~door
            step = _shift(source, int(dx), int(dy)) & walkable
            if dx != 0 and dy != 0:
                step &= ~door
            grown |= step
        if np.array_equal(grown, reach):
            return reach
        reach = grown


def solvable(grids: np.ndarray, starts: np.ndarray, can_kick: bool) -> np.ndarray:
    """Per level: the goal is reachable (picking up a key first where locked doors need one)."""
    batch = np.arange(len(grids))
    locked = np.full(len(grids), can_kick)
    reach = reachable(grids, starts, locked)
    has_key = np.any(reach & (grids == tables.KEY), axis=(1, 2))
    reach = reachable(grids, starts, locked | has_key)
    goal = grids == tables.GOAL
    assert np.all(goal.sum(axis=(1, 2)) == 1), "every level has exactly one goal"
    assert np.all(~np.isin(grids[batch, starts[:, 1], starts[:, 0]], [tables.LAVA, tables.WALL, tables.ROCK]))
    return np.any(reach & goal, axis=(1, 2))


def generate_levels(name: str, num: int, seed: int = 0, **kwargs: object) -> tuple[np.ndarray, np.ndarray, object]:
    env, params = envs.make(name, **kwargs)
    keys = jax.random.split(jax.random.key(seed), num)
    _, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    return np.asarray(states.grid), np.asarray(states.position), env


def check_solvable(name: str, num: int, **kwargs: object) -> None:
    grids, starts, env = generate_levels(name, num, **kwargs)
    can_kick = tables.KICK in env.task.actions
    ok = solvable(grids, starts, can_kick)
    bad = np.flatnonzero(~ok)
    assert bad.size == 0, f"{name}: {bad.size}/{num} levels unsolvable, e.g. level {bad[0]}:\n" + (
        envs.gridworld.render_ascii(grids[bad[0]])
    )
    if name.startswith("MultiRoom"):  # N rooms joined by N - 1 doors
        rooms = int(name.split("-")[1][1:])
        np.testing.assert_array_equal(np.isin(grids, DOORS).sum(axis=(1, 2)), rooms - 1)
    # Distinct levels: the generator really draws new layouts.
    assert len({g.tobytes() for g in grids}) >= min(num // 4, 30), f"{name}: too few distinct levels"


# One task per generator in the default suite (variants share their generator).
SMALL = ["MultiRoom-N4-Locked", "KeyRoom-S5", "LavaCrossingS11N5", "Corridor-R5", "MazeWalk-9x9"]


@pytest.mark.parametrize("name", SMALL)
def test_small_tasks_solvable(name: str) -> None:
    check_solvable(name, 1000)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_solvable_1000(name: str) -> None:
    check_solvable(name, 1000)


def test_multiroom_paper_area_solvable_and_fits_nethack_rows() -> None:
    """MultiRoom on MiniGrid's 25 x 25 area (MiniHack 0.1.5 to 1.0.0): N6's rooms of up to 10 are the
    ones that could be taller than NetHack's 21 rows; every level fits the 21 x 25 map, centred."""
    check_solvable("MultiRoom-N6", 1000, area="25x25")
    grids, _, env = generate_levels("MultiRoom-N6", 300, seed=1, area="25x25")
    assert grids.shape[1:] == (21, 25) and (env.task.height, env.task.width) == (21, 25)
    rows = np.flatnonzero(np.any(grids != tables.ROCK, axis=(0, 2)))
    assert rows.min() >= 0 and rows.max() <= 20
    used = np.any(grids != tables.ROCK, axis=2)  # [levels, rows]
    first, last = used.argmax(1), 20 - used[:, ::-1].argmax(1)
    np.testing.assert_array_less(np.abs(first - (20 - last)), 2)  # centred: margins differ by at most 1
    with pytest.raises(ValueError, match="area"):
        envs.make("MultiRoom-N10", area="25x25")
    with pytest.raises(ValueError, match="area"):
        envs.make("MultiRoom-N4", area="80x24")
    default_env, _ = envs.make("MultiRoom-N4")
    assert (default_env.task.height, default_env.task.width) == (21, 76)


def test_bfs_detects_unsolvable() -> None:
    """The search itself: a wall or lava line, a locked door without key or kick, and a door entered
    diagonally all block; a key or a kick opens the locked door."""
    F, Wl, L, G, D, K = tables.FLOOR, tables.WALL, tables.LAVA, tables.GOAL, tables.DOOR_LOCKED, tables.KEY
    Op = tables.DOOR_OPEN
    start = np.array([[0, 0]])
    wall = np.array([[F, Wl, G], [F, Wl, F], [F, L, F]])
    assert not solvable(wall[None], start, can_kick=False)[0]
    locked = np.array([[F, D, G], [F, Wl, F]])
    assert not solvable(locked[None], start, can_kick=False)[0]
    assert solvable(locked[None], start, can_kick=True)[0]
    with_key = np.array([[F, D, G], [K, Wl, F]])
    assert solvable(with_key[None], start, can_kick=False)[0]
    diagonal_only = np.array([[F, Wl, Wl], [Wl, Op, Wl], [Wl, Wl, G]])
    assert not solvable(diagonal_only[None], start, can_kick=False)[0]
    straight = np.array([[F, Op, G]])
    assert solvable(straight[None], start, can_kick=False)[0]

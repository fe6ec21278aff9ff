"""Corridor's NetHack corridors: ``dig_corridor``'s walk, ``join``'s doors, ``makecorridors``'s extra
corridors and dead ends (solvability over many levels is in test_gridworld_solvable)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from test_gridworld_solvable import generate_levels, reachable

from envs.gridworld import corridor, tables
from envs.gridworld.layout import paint_rooms

H, W = corridor.HEIGHT, corridor.WIDTH
PASSABLE = [tables.FLOOR, tables.CORRIDOR, tables.DOORWAY, tables.DOOR_OPEN, tables.DOOR_CLOSED,
            tables.DOOR_LOCKED, tables.GOAL, tables.STAIR_UP]


def _dig(grid, org, dest, nxcor=False, seed=0):
    args = (jnp.asarray(grid), jnp.asarray(org), jnp.asarray(dest), jnp.asarray(nxcor), jnp.asarray(True))
    return jax.jit(corridor._dig)(jnp.uint32(seed), *args)


def test_dig_reaches_its_target_through_rock_and_around_walls() -> None:
    grid = np.zeros((H, W), np.uint8)
    grid[5:12, 20] = tables.WALL  # a wall across the straight line
    for seed in range(5):
        out, ok = _dig(grid, [10, 8], [30, 9], seed=seed)
        out = np.asarray(out)
        assert bool(ok)
        dug = out == tables.CORRIDOR
        assert dug[8, 10] and dug[9, 30] and not np.any(dug & (grid == tables.WALL))
        # One connected path of corridor squares from the start to the target (8-connected).
        walls = np.where(dug, tables.CORRIDOR, tables.WALL)[None]
        reach = reachable(walls, np.array([[10, 8]]), np.array([False]))
        assert reach[0, 9, 30]
    # Anything but rock or corridor in the way, where it cannot turn, ends the dig: a failure.
    boxed = np.full((H, W), tables.WALL, np.uint8)
    boxed[8, 10:15] = tables.ROCK
    out, ok = _dig(boxed, [10, 8], [30, 8])
    assert not bool(ok) and np.all(np.asarray(out)[8, 10:15] == tables.CORRIDOR)


def test_extra_corridors_give_up_and_leave_dead_ends() -> None:
    """nxcor corridors stop with probability 1/35 per square: over many long digs most fail, keeping
    what they dug."""
    grid = np.zeros((H, W), np.uint8)
    results = [_dig(grid, [2, 3], [70, 17], nxcor=True, seed=s) for s in range(40)]
    failed = [np.asarray(g) for g, ok in results if not bool(ok)]
    assert len(failed) > 20  # (34/35)^~80 squares: about 9 in 10 fail
    assert any(np.sum(g == tables.CORRIDOR) > 3 for g in failed)


def test_join_puts_doors_on_facing_walls_and_connects_them() -> None:
    lo = jnp.array([[3, 4], [40, 10]])
    hi = jnp.array([[8, 7], [45, 13]])
    grid = paint_rooms(H, W, lo - 1, hi - lo + 3, tables.WALL)
    join = jax.jit(corridor._join)
    out, joined = join(jnp.uint32(1), grid, lo, hi, 0, 1, jnp.asarray(False), jnp.asarray(True))
    out = np.asarray(out)
    assert bool(joined)
    doors = np.isin(out, [tables.DOORWAY, tables.DOOR_OPEN, tables.DOOR_CLOSED, tables.DOOR_LOCKED])
    ys, xs = np.nonzero(doors)
    assert sorted(xs.tolist()) == [9, 39]  # room 0's right wall, room 1's left wall
    start = np.array([[4, 5]])
    walkable = np.where(np.isin(out, PASSABLE), tables.FLOOR, tables.WALL)[None]
    reach = reachable(walkable, start, np.array([True]))
    assert reach[0, 11, 41]


def _dead_ends(grid: np.ndarray) -> int:
    """Corridor squares with exactly one passable neighbour (of 8)."""
    passable = np.isin(grid, PASSABLE)
    padded = np.pad(passable, 1)
    shifts = [(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dx, dy) != (0, 0)]
    neighbours = sum(padded[1 + dy : 1 + dy + H, 1 + dx : 1 + dx + W] for dx, dy in shifts)
    return int(np.sum((grid == tables.CORRIDOR) & (neighbours == 1)))


def test_corridor_levels_have_extra_joins_and_dead_ends() -> None:
    """NetHack's levels: more doors than a chain of R - 1 corridors needs (extra joins), and dead ends
    in many levels; every level is different."""
    grids, starts, _ = generate_levels("Corridor-R5", 200, seed=1)
    doors = np.isin(grids, [tables.DOORWAY, tables.DOOR_OPEN, tables.DOOR_CLOSED, tables.DOOR_LOCKED]).sum((1, 2))
    dead = np.array([_dead_ends(g) for g in grids])
    assert doors.mean() > 2 * 4 + 1
    assert np.mean(dead > 0) > 0.3
    # The stairs: up in one room, down in another, both on floor inside rooms.
    assert np.all(grids[np.arange(len(grids)), starts[:, 1], starts[:, 0]] == tables.STAIR_UP)
    assert np.all((grids == tables.GOAL).sum((1, 2)) == 1)

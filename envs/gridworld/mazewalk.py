"""MazeWalk: find the stairs down in a random maze.

MiniHack's ``MiniHackMazeWalk``: a ``w x h`` area of solid stone inside walls, carved by NetHack's
MAZEWALK (a randomised depth-first walk that jumps two cells at a time, so passages lie on odd
coordinates and the maze has no loops), the stairs down on a random floor cell and the agent on
another. The maze is unlit: the agent sees its 8 neighbours and remembers what it has seen, so
``glyphs`` shows the explored part only. ``MazeWalk-Mapped-*`` is premapped (the whole maze shown).

Time limits as MiniHack: 200 steps for 9x9, 1000 for 15x15 and 45x19. Our walk starts from a random
cell (NetHack's starts from the des-file coordinate); both give uniform-ish spanning trees of the
same lattice.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from envs.gridworld.hash_rng import fold, rand_int, random_cell, split, uniform
from envs.gridworld.rules import GridTask
from envs.gridworld.tables import FLOOR, GOAL, ROCK, WALL

SIZES = {"9x9": (9, 9, 200), "15x15": (15, 15, 1000), "45x19": (45, 19, 1000)}
_STEPS = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], np.int32)


def generate(key: jax.Array, w: int, h: int):
    cells_x, cells_y = (w + 1) // 2, (h + 1) // 2
    num_cells = cells_x * cells_y
    k_start, k_walk, k_goal, k_agent = split(key, 4)
    xs, ys = jnp.arange(w + 2)[None, :], jnp.arange(h + 2)[:, None]
    border = (xs == 0) | (xs == w + 1) | (ys == 0) | (ys == h + 1)
    grid = jnp.where(border, WALL, ROCK).astype(jnp.uint8)

    first = rand_int(k_start, 0, jnp.array([cells_x, cells_y]), (2,))
    visited = jnp.zeros((cells_y, cells_x), bool).at[first[1], first[0]].set(True)
    stack = jnp.zeros((num_cells, 2), jnp.int32).at[0].set(first)
    grid = grid.at[2 * first[1] + 1, 2 * first[0] + 1].set(jnp.uint8(FLOOR))

    def body(t, carry):
        grid, visited, stack, depth = carry
        top = stack[jnp.maximum(depth - 1, 0)]
        nxt = top[None, :] + jnp.asarray(_STEPS)
        ok = (nxt[:, 0] >= 0) & (nxt[:, 0] < cells_x) & (nxt[:, 1] >= 0) & (nxt[:, 1] < cells_y)
        ok = ok & ~visited[jnp.clip(nxt[:, 1], 0, cells_y - 1), jnp.clip(nxt[:, 0], 0, cells_x - 1)]
        ok = ok & (depth > 0)
        choice = jnp.argmax(jnp.where(ok, uniform(fold(k_walk, t), (4,)), -1.0))
        advance = jnp.any(ok)
        cell = nxt[choice]
        # Carve the cell and the wall between (on no advance, re-carve the top cell: a no-op).
        cx, cy = jnp.where(advance, cell, top)
        grid = grid.at[2 * cy + 1, 2 * cx + 1].set(jnp.uint8(FLOOR))
        grid = grid.at[top[1] + cy + 1, top[0] + cx + 1].set(jnp.uint8(FLOOR))
        visited = visited.at[cy, cx].set(True)
        stack = stack.at[jnp.minimum(depth, num_cells - 1)].set(jnp.where(advance, cell, stack[depth - 1]))
        depth = jnp.where(advance, depth + 1, depth - 1)
        return grid, visited, stack, depth

    # Each step pushes one new cell or pops one: 2 * num_cells - 2 steps finish the walk.
    grid, *_ = jax.lax.fori_loop(0, 2 * num_cells - 2, body, (grid, visited, stack, jnp.int32(1)))
    floor = grid == FLOOR
    goal = random_cell(k_goal, floor)
    start = random_cell(k_agent, floor & ((xs != goal[0]) | (ys != goal[1])))
    return grid.at[goal[1], goal[0]].set(jnp.uint8(GOAL)), start


def make_task(size: str, mapped: bool = False) -> GridTask:
    w, h, max_steps = SIZES[size]
    return GridTask(
        name=f"MazeWalk-{'Mapped-' if mapped else ''}{size}",
        height=h + 2,
        width=w + 2,
        generate=partial(generate, w=w, h=h),
        max_steps=max_steps,
        dark=not mapped,
    )


TASKS = [make_task(size) for size in SIZES] + [make_task(size, mapped=True) for size in SIZES]

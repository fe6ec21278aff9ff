"""LavaCrossing and SimpleCrossing: cross rivers of lava (or walls) through one opening each.

Generated as MiniGrid's ``CrossingEnv._gen_grid`` (which MiniHack's ``MiniGridHack`` converts): an
``S x S`` map with walls around, the agent at (1, 1) (MiniHack marks it with stairs up), the goal at
(S-2, S-2); ``N`` rivers drawn without replacement among the vertical lines x = 2, 4, ..., S-3 and the
horizontal lines y = 2, 4, ..., S-3; then a path is a random order of "cross the next vertical river"
and "cross the next horizontal river" moves, and each move opens one random cell of the river it
crosses, within the band the path is in. Lava kills (failure); walls just block.

MiniHack registers LavaCrossing S9N1, S9N2, S9N3, S11N5, S19N13, S19N17 and SimpleCrossing S9N1,
S9N2, S9N3, S11N5, all with MiniHack's default navigation time limit of 100 steps. (With MiniGrid
>= 3 MiniHack's crossing tasks fail to build, because MiniHack passes a width and height besides the
size; MiniGrid < 3 ignored them, giving the ``S x S`` map used here.)
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from envs.gridworld.hash_rng import fold, permutation, rand_int, split
from envs.gridworld.rules import GridTask
from envs.gridworld.tables import FLOOR, GOAL, LAVA, STAIR_UP, WALL

LAVA_SIZES = ("S9N1", "S9N2", "S9N3", "S11N5", "S19N13", "S19N17")
SIMPLE_SIZES = ("S9N1", "S9N2", "S9N3", "S11N5")
MAX_STEPS = 100


def generate(key: jax.Array, size: int, num_crossings: int, obstacle: int):
    k_rivers, k_path, k_open = split(key, 3)
    lines = np.arange(2, size - 2, 2)  # candidate river coordinates
    num_lines = len(lines)
    num_crossings = min(num_crossings, 2 * num_lines)  # S19N17 asks for 17 of 16 rivers: all of them
    # Which rivers: a random subset of the 2 * num_lines candidates (vertical first, then horizontal).
    rank = jnp.argsort(permutation(k_rivers, 2 * num_lines))
    chosen = rank < num_crossings
    vertical, horizontal = chosen[:num_lines], chosen[num_lines:]
    xs, ys = jnp.arange(size)[None, :], jnp.arange(size)[:, None]
    inside = (xs >= 1) & (xs <= size - 2) & (ys >= 1) & (ys <= size - 2)
    on_vertical = jnp.any((xs[..., None] == lines) & vertical, axis=-1)
    on_horizontal = jnp.any((ys[..., None] == lines) & horizontal, axis=-1)
    grid = jnp.where(inside, jnp.where(on_vertical | on_horizontal, obstacle, FLOOR), WALL).astype(jnp.uint8)

    # Sorted river coordinates with the borders: limits[k] is the k-th boundary (unused ones at size-1).
    limits_v = jnp.concatenate(
        [
            jnp.zeros(1, jnp.int32),
            jnp.sort(jnp.where(vertical, lines, size - 1)),
            jnp.full(1, size - 1, jnp.int32),
        ]
    )
    limits_h = jnp.concatenate(
        [
            jnp.zeros(1, jnp.int32),
            jnp.sort(jnp.where(horizontal, lines, size - 1)),
            jnp.full(1, size - 1, jnp.int32),
        ]
    )
    num_v = jnp.sum(vertical)
    # The path: num_v horizontal moves (crossing vertical rivers) and the rest vertical, shuffled.
    moves = (jnp.arange(num_crossings) < num_v)[permutation(k_path, num_crossings)]

    def body(t, carry):
        grid, band_x, band_y = carry
        across = moves[t]  # True: cross the next vertical river
        rx = rand_int(fold(k_open, 2 * t), limits_v[band_x] + 1, limits_v[band_x + 1])
        ry = rand_int(fold(k_open, 2 * t + 1), limits_h[band_y] + 1, limits_h[band_y + 1])
        x = jnp.where(across, limits_v[band_x + 1], rx)
        y = jnp.where(across, ry, limits_h[band_y + 1])
        grid = grid.at[y, x].set(jnp.uint8(FLOOR))
        return grid, band_x + across, band_y + (~across)

    grid, _, _ = jax.lax.fori_loop(0, num_crossings, body, (grid, jnp.int32(0), jnp.int32(0)))
    grid = grid.at[1, 1].set(jnp.uint8(STAIR_UP)).at[size - 2, size - 2].set(jnp.uint8(GOAL))
    return grid, jnp.array([1, 1], jnp.int32)


def parse(name: str) -> tuple[int, int]:
    size, crossings = name[1:].split("N")
    return int(size), int(crossings)


def make_task(kind: str, name: str) -> GridTask:
    size, crossings = parse(name)
    return GridTask(
        name=f"{kind}Crossing{name}",
        height=size,
        width=size,
        generate=partial(
            generate, size=size, num_crossings=crossings, obstacle=LAVA if kind == "Lava" else WALL
        ),
        max_steps=MAX_STEPS,
    )


TASKS = [make_task("Lava", n) for n in LAVA_SIZES] + [make_task("Simple", n) for n in SIMPLE_SIZES]

"""KeyRoom: the goal is in a small locked room inside a larger one; pick up the key, apply it to the door.

MiniHack's ``key_and_door_tmp.des``: a lit room of ``RS x RS`` floor cells holds a subroom of
``SS x SS`` floor cells at a random place (the subroom's walls may coincide with the outer walls), with
one locked door at a random place on a random subroom wall that faces the outer room's floor, the
stairs down (goal) at a random cell of the subroom, and a key at a random cell of the outer room
outside the subroom; the agent starts at a random outer-room cell (not the key's). The actions are the
8 moves, PICKUP and APPLY (autopickup is off, as in MiniHack). The map is the outer room with its
walls, ``(RS + 2) x (RS + 2)``.

MiniHack registers S5 (SS = 2, 200 steps) and S15 (SS = 5, 400 steps), each also ``-Dark`` (unlit
rooms: the agent sees only its neighbours and remembers them). ``KeyRoom-S10`` is used in the paper's
code but registered outside MiniHack; we infer SS = 3 and 300 steps (between S5's and S15's).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from envs.gridworld.hash_rng import rand_int, random_cell, split
from envs.gridworld.rules import GridTask
from envs.gridworld.tables import APPLY_ACTIONS, DOOR_LOCKED, FLOOR, GOAL, KEY, WALL

# name -> (room size RS, subroom size SS, time limit)
SIZES = {"S5": (5, 2, 200), "S10": (10, 3, 300), "S15": (15, 5, 400)}


def generate(key: jax.Array, room_size: int, subroom_size: int):
    side = room_size + 2
    k_box, k_door, k_goal, k_key, k_agent = split(key, 5)
    xs, ys = jnp.arange(side)[None, :], jnp.arange(side)[:, None]
    # The subroom's walls: a (SS + 2)-square box anywhere inside the outer walls' square.
    bx, by = rand_int(k_box, 0, room_size - subroom_size + 1, (2,))
    far = subroom_size + 1
    in_box = (xs >= bx) & (xs <= bx + far) & (ys >= by) & (ys <= by + far)
    in_sub = (xs > bx) & (xs < bx + far) & (ys > by) & (ys < by + far)
    inner = (xs >= 1) & (xs <= room_size) & (ys >= 1) & (ys <= room_size)
    outer_floor = inner & ~in_box
    grid = jnp.where(outer_floor | in_sub, FLOOR, WALL).astype(jnp.uint8)

    # Door: a non-corner cell of the box whose outward neighbour is outer-room floor.
    def shifted(mask, dx, dy):  # mask evaluated at (x + dx, y + dy); False outside the map
        return jnp.pad(mask, 1)[1 + dy : 1 + dy + side, 1 + dx : 1 + dx + side]

    along_x = (xs > bx) & (xs < bx + far)
    along_y = (ys > by) & (ys < by + far)
    door_ok = (
        ((xs == bx) & along_y & shifted(outer_floor, -1, 0))
        | ((xs == bx + far) & along_y & shifted(outer_floor, 1, 0))
        | ((ys == by) & along_x & shifted(outer_floor, 0, -1))
        | ((ys == by + far) & along_x & shifted(outer_floor, 0, 1))
    )
    door = random_cell(k_door, door_ok)
    goal = random_cell(k_goal, in_sub)
    key_cell = random_cell(k_key, outer_floor)
    not_key = (xs != key_cell[0]) | (ys != key_cell[1])
    start = random_cell(k_agent, outer_floor & not_key)
    grid = grid.at[door[1], door[0]].set(jnp.uint8(DOOR_LOCKED))
    grid = grid.at[goal[1], goal[0]].set(jnp.uint8(GOAL)).at[key_cell[1], key_cell[0]].set(jnp.uint8(KEY))
    return grid, start


def make_task(size: str, dark: bool = False) -> GridTask:
    room_size, subroom_size, max_steps = SIZES[size]
    return GridTask(
        name=f"KeyRoom-{'Dark-' if dark else ''}{size}",
        height=room_size + 2,
        width=room_size + 2,
        generate=partial(generate, room_size=room_size, subroom_size=subroom_size),
        actions=APPLY_ACTIONS,
        max_steps=max_steps,
        dark=dark,
        has_inventory=True,
    )


TASKS = [make_task(size) for size in SIZES] + [make_task(size, dark=True) for size in ("S5", "S15")]

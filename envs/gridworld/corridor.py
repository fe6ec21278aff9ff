"""Corridor: rooms joined by corridors; the goal (stairs down) is in one room, the agent in another.

MiniHack's ``corridor{2,3,5}.des``: R lit rooms of random size at random places on NetHack's 21 x 79
map, joined by NetHack's RANDOM_CORRIDORS; one room has the stairs up (the agent's start), another the
stairs down (the goal). Actions: the 8 moves, OPEN, KICK and SEARCH; time limit 1000.

Our generator is a simplification of NetHack's (documented difference):

- the map is cut into R vertical bands of equal width and one room is placed in each (outer size
  5..16 by 4..7, i.e. NetHack's random-room sizes of 3..14 by 2..5 floor cells), at a random place in
  its band; rooms are joined in a chain, each neighbouring pair by one corridor from a door on the
  right wall of one to a door on the left wall of the next, turning once at a random column
  (horizontal, vertical, horizontal). NetHack places rooms anywhere, digs wandering corridors, adds
  extra joins and dead ends, and hides 1/8 of doors and 1% of corridor squares (SEARCH finds them);
  we have no secret doors or corridors, so SEARCH does nothing.
- door states as NetHack's ``dosdoor``: 2/3 empty doorways; otherwise open (1/5), locked (4/5 x 1/6)
  or closed. Locked doors are kicked open.
- the start and goal rooms are two distinct rooms drawn uniformly; start and goal cells uniform in them.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from envs.gridworld.engine import (
    CORRIDOR,
    DOOR_CLOSED,
    DOOR_LOCKED,
    DOOR_OPEN,
    DOORWAY,
    GOAL,
    NAVIGATE_ACTIONS,
    STAIR_UP,
    WALL,
    GridTask,
    covered,
    paint_rooms,
    rand_int,
    split,
    uniform,
)

HEIGHT, WIDTH = 21, 79
ROOMS = {"R2": 2, "R3": 3, "R5": 5}
MAX_STEPS = 1000


def _door_tiles(key: jax.Array, n: int) -> jax.Array:
    u = uniform(key, (3, n))
    has_door, is_open, is_locked = u[0] < 1 / 3, u[1] < 1 / 5, u[2] < 1 / 6
    kind = jnp.where(is_open, DOOR_OPEN, jnp.where(is_locked, DOOR_LOCKED, DOOR_CLOSED))
    return jnp.where(has_door, kind, DOORWAY).astype(jnp.uint8)


def generate(key: jax.Array, num_rooms: int):
    keys = split(key, 9)
    band = (WIDTH - 2) // num_rooms
    band_start = 1 + band * jnp.arange(num_rooms)
    # Room sizes (outer, walls included); a room keeps one free column at its band's left edge so that
    # neighbouring rooms are at least 2 columns apart (room for a corridor).
    width = rand_int(keys[0], 5, min(17, band), (num_rooms,))
    height = rand_int(keys[1], 4, 8, (num_rooms,))
    left = band_start + 1 + rand_int(keys[2], 0, band - 1 - width + 1, (num_rooms,))
    top = 1 + rand_int(keys[3], 0, HEIGHT - 2 - height + 1, (num_rooms,))
    tops, sizes = jnp.stack([left, top], 1), jnp.stack([width, height], 1)
    grid = paint_rooms(HEIGHT, WIDTH, tops, sizes, WALL)

    # Corridors between room i (door on its right wall) and room i + 1 (door on its left wall).
    right = left + width - 1
    door_a_y = top[:-1] + rand_int(keys[4], 1, height[:-1] - 1, (num_rooms - 1,))
    door_b_y = top[1:] + rand_int(keys[5], 1, height[1:] - 1, (num_rooms - 1,))
    door_a_x, door_b_x = right[:-1], left[1:]
    turn_x = rand_int(keys[6], door_a_x + 1, door_b_x, (num_rooms - 1,))
    ya, yb, xa, xb, xm = door_a_y, door_b_y, door_a_x, door_b_x, turn_x
    # Three segments per corridor as rectangles [x0, x1) x [y0, y1).
    corridor = covered(
        HEIGHT,
        WIDTH,
        jnp.concatenate([xa + 1, xm, xm]),
        jnp.concatenate([ya, jnp.minimum(ya, yb), yb]),
        jnp.concatenate([xm + 1, xm + 1, xb]),
        jnp.concatenate([ya + 1, jnp.maximum(ya, yb) + 1, yb + 1]),
    )
    grid = jnp.where(corridor, jnp.uint8(CORRIDOR), grid)
    doors = _door_tiles(keys[7], 2 * (num_rooms - 1))
    grid = grid.at[jnp.concatenate([door_a_y, door_b_y]), jnp.concatenate([door_a_x, door_b_x])].set(doors)

    # Start and goal in two different rooms.
    k_start_room, k_goal_room, k_start, k_goal = split(keys[8], 4)
    start_room = rand_int(k_start_room, 0, num_rooms)
    goal_room = rand_int(k_goal_room, 0, num_rooms - 1)
    goal_room = goal_room + (goal_room >= start_room)
    start = (
        jnp.stack([left[start_room], top[start_room]])
        + 1
        + rand_int(k_start, 0, jnp.stack([width[start_room], height[start_room]]) - 2, (2,))
    )
    goal = (
        jnp.stack([left[goal_room], top[goal_room]])
        + 1
        + rand_int(k_goal, 0, jnp.stack([width[goal_room], height[goal_room]]) - 2, (2,))
    )
    grid = grid.at[start[1], start[0]].set(jnp.uint8(STAIR_UP)).at[goal[1], goal[0]].set(jnp.uint8(GOAL))
    return grid, start


def make_task(name: str) -> GridTask:
    return GridTask(
        name=f"Corridor-{name}",
        height=HEIGHT,
        width=WIDTH,
        generate=partial(generate, num_rooms=ROOMS[name]),
        actions=NAVIGATE_ACTIONS,
        max_steps=MAX_STEPS,
    )


TASKS = [make_task(name) for name in ROOMS]

"""MultiRoom: a chain of rooms joined by doors; the goal is in the last room.

Levels are generated the way MiniGrid's ``MultiRoomEnv._gen_grid`` does on the 76 x 21 area MiniHack's
``MiniGridHack`` asks it for: room 0 (outer size 4..max_room_size each way) is placed at a random
"entry" position; each next room is attached to an exit door on one of the three walls of the
previous room other than its entry wall (up to 8 tries, each with a fresh wall, door position, room
size and offset), must lie inside the area and must not overlap any room but its predecessor; a chain
that cannot grow is thrown away and a new one is started. The agent starts on a random floor cell of
the first room (MiniHack marks it with stairs up) and the goal (stairs down) is on a random floor cell
of the last room.

Variants (MiniHack's ``MiniGridHack`` options): ``-Lava`` (room walls are lava), ``-OpenDoor`` (doors
start open), ``-Locked`` (doors are locked; OPEN and KICK are added to the actions, a kick breaks a
door open).

Differences from MiniHack, besides those of `envs.gridworld.engine`:

- MiniGrid draws room 0's position until it fits; we draw it directly from the positions that fit
  (the same distribution). Whole chains are drawn in batches (2, 6, 10, 24 chains for N2, N4, N6,
  N10) and the first complete one is kept (the same law as MiniGrid's retry-until-complete loop);
  further batches are drawn only while none is complete, up to 96 chains (measured completion rates
  0.999, 0.85, 0.59, 0.26, so all 96 fail with probability below 1e-12); a fixed straight chain is
  the fallback.
- ``MultiRoom-N4`` has 4 rooms of size <= 5, as its name and MiniHack's docs say (MiniGrid >= 2.0's
  legacy ``MiniGrid-MultiRoom-N4-S5-v0`` id makes 6).
- MiniHack turns the empty cells between two rooms on the same map row into floor enclosed by walls
  (unreachable pockets); here they stay rock.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from envs.gridworld.engine import (
    DOOR_CLOSED,
    DOOR_LOCKED,
    DOOR_OPEN,
    GOAL,
    LAVA,
    MOVE_ACTIONS,
    MOVE_AND_KICK_ACTIONS,
    STAIR_UP,
    WALL,
    GridTask,
    fold,
    paint_rooms,
    rand_int,
    random_index,
    split,
    uniform,
)

HEIGHT, WIDTH = 21, 76
MIN_ROOM_SIZE = 4
MAX_CHAINS = 96
# Chains drawn at once, per number of rooms: enough that a batch rarely has no complete chain.
PARALLEL = {2: 2, 4: 6, 6: 10, 10: 24}
TRIES = 8
# MiniHack name -> (number of rooms, largest room size, time limit).
SIZES = {"N2": (2, 4, 40), "N4": (4, 5, 120), "N6": (6, 10, 240), "N10": (10, 10, 360)}
# MiniHack registers these combinations of ``MultiRoom-<N>[-<variant>]``.
VARIANTS = {
    "": ("N2", "N4", "N6", "N10"),
    "-OpenDoor": ("N6", "N10"),
    "-Locked": ("N2", "N4", "N6"),
    "-Lava": ("N2", "N4", "N6", "N10"),
    "-Lava-OpenDoor": ("N6", "N10"),
}


def _first_room(seed: jax.Array, max_size: int) -> tuple[jax.Array, jax.Array]:
    """Room 0 drawn from MiniGrid's proposal (sizes uniform, entry (x, y) uniform in [0, W-3]^2)
    conditioned on fitting: the conditional factorises over x and y."""
    s_sx, s_sy, s_x, s_y = split(seed, 4)
    sizes = jnp.arange(MIN_ROOM_SIZE, max_size + 1)
    fits_x = jnp.minimum(WIDTH - 2, WIDTH - sizes + 1)  # x in [0, W-3] with x + sx <= W
    fits_y = jnp.clip(jnp.minimum(WIDTH - 2, HEIGHT - sizes), 0, None)  # y in [0, W-3] with y + sy < H
    sx = sizes[random_index(s_sx, fits_x)]
    sy = sizes[random_index(s_sy, fits_y)]
    x = rand_int(s_x, 0, jnp.minimum(WIDTH - 2, WIDTH - sx + 1))
    y = rand_int(s_y, 0, HEIGHT - sy)
    return jnp.stack([x, y]), jnp.stack([sx, sy])


def _next_room(seed, tops, sizes, entry_walls, k: int, max_size):
    """Up to 8 tries to attach room k to room k-1 (the tries are drawn at once; the first that fits
    is taken, as MiniGrid's sequential tries would). Returns (ok, top, size, entry wall, door)."""
    u = uniform(seed, (7, TRIES))
    prev_top, prev_size, prev_entry = tops[k - 1], sizes[k - 1], entry_walls[k - 1]

    def draw(row, low, high):  # integers in [low, high) from one row of ``u``
        span = jnp.maximum(high - low, 1)
        return (low + jnp.minimum(jnp.floor(u[row] * span), span - 1)).astype(jnp.int32)

    # Exit wall: one of the three walls other than the previous room's entry wall.
    pick = draw(0, 0, 3)
    exit_wall = pick + (pick >= prev_entry)
    along_x = prev_top[0] + draw(1, 1, prev_size[0] - 1)
    along_y = prev_top[1] + draw(2, 1, prev_size[1] - 1)
    far_x, far_y = prev_top[0] + prev_size[0] - 1, prev_top[1] + prev_size[1] - 1
    door_x = jnp.select([exit_wall == 0, exit_wall == 2], [far_x, prev_top[0]], along_x)
    door_y = jnp.select([exit_wall == 1, exit_wall == 3], [far_y, prev_top[1]], along_y)
    entry_wall = (exit_wall + 2) % 4
    sx, sy = draw(3, MIN_ROOM_SIZE, max_size + 1), draw(4, MIN_ROOM_SIZE, max_size + 1)
    offset_y = draw(5, door_y - sy + 2, door_y)
    offset_x = draw(6, door_x - sx + 2, door_x)
    top_x = jnp.select([entry_wall == 0, entry_wall == 2], [door_x - sx + 1, door_x], offset_x)
    top_y = jnp.select([entry_wall == 1, entry_wall == 3], [door_y - sy + 1, door_y], offset_y)
    fits = (top_x >= 0) & (top_y >= 0) & (top_x + sx <= WIDTH) & (top_y + sy < HEIGHT)
    # No overlap with rooms 0 .. k-2 (MiniGrid's test, strict on one side); ``k`` is static.
    ox, oy, osx, osy = tops[: k - 1, 0], tops[: k - 1, 1], sizes[: k - 1, 0], sizes[: k - 1, 1]
    apart = (
        (top_x[:, None] + sx[:, None] < ox[None])
        | (ox[None] + osx[None] <= top_x[:, None])
        | (top_y[:, None] + sy[:, None] < oy[None])
        | (oy[None] + osy[None] <= top_y[:, None])
    )
    ok = fits & jnp.all(apart, axis=1)
    first = jnp.argmax(ok)
    return (
        jnp.any(ok),
        jnp.stack([top_x[first], top_y[first]]),
        jnp.stack([sx[first], sy[first]]),
        entry_wall[first],
        jnp.stack([door_x[first], door_y[first]]),
    )


def _chain(seed: jax.Array, num_rooms: int, max_size: int):
    """One attempt at a chain of ``num_rooms`` rooms: (complete, tops, sizes, doors)."""
    s_first, s_rest = split(seed, 2)
    top0, size0 = _first_room(s_first, max_size)
    tops = jnp.zeros((num_rooms, 2), jnp.int32).at[0].set(top0)
    sizes = jnp.full((num_rooms, 2), MIN_ROOM_SIZE, jnp.int32).at[0].set(size0)
    entry_walls = jnp.full((num_rooms,), 2, jnp.int32)  # room 0 "enters" from the left, as in MiniGrid
    doors = jnp.zeros((num_rooms, 2), jnp.int32)

    ok = jnp.asarray(True)
    # A Python loop (the number of rooms is static): XLA sees straight-line code with static indices,
    # which it fuses far better than a loop over small arrays.
    for k in range(1, num_rooms):
        placed, top, size, entry, door = _next_room(fold(s_rest, k), tops, sizes, entry_walls, k, max_size)
        placed = placed & ok
        tops = tops.at[k].set(jnp.where(placed, top, tops[k]))
        sizes = sizes.at[k].set(jnp.where(placed, size, sizes[k]))
        entry_walls = entry_walls.at[k].set(jnp.where(placed, entry, entry_walls[k]))
        doors = doors.at[k].set(jnp.where(placed, door, doors[k]))
        ok = placed
    return ok, tops, sizes, doors


def _chains(seed: jax.Array, num_rooms: int, max_size: int):
    """A batch of chains at once; the first complete one (the same law as MiniGrid's retry loop)."""
    chain = partial(_chain, num_rooms=num_rooms, max_size=max_size)
    ok, tops, sizes, doors = jax.vmap(chain)(split(seed, PARALLEL.get(num_rooms, 16)))
    first = jnp.argmax(ok)
    return jnp.any(ok), tops[first], sizes[first], doors[first]


def _fallback(num_rooms: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """A straight chain of 5 x 5 rooms sharing walls (used only if every random chain failed)."""
    tops = np.stack([np.arange(num_rooms) * 4 + 1, np.full(num_rooms, 8)], 1)
    sizes = np.full((num_rooms, 2), 5)
    doors = np.stack([tops[:, 0], tops[:, 1] + 2], 1)
    return jnp.asarray(tops, jnp.int32), jnp.asarray(sizes, jnp.int32), jnp.asarray(doors, jnp.int32)


def generate(seed: jax.Array, num_rooms: int, max_size: int, lava: bool, door: int):
    """A MultiRoom level: ``(grid uint8[21, 76], start int32[2])``."""
    s_chain, s_agent, s_goal = split(seed, 3)

    # Batches of chains while none is complete: the first batch always (the loop starts from "not
    # complete", so `_chains` is traced once), more only rarely (under vmap the loop runs again only
    # when some environment of the batch needs it).
    def cond(carry):
        batch, ok, *_ = carry
        return (~ok) & (batch < -(-MAX_CHAINS // PARALLEL.get(num_rooms, 16)))

    def body(carry):
        batch, _, tops, sizes, doors = carry
        return batch + 1, *_chains(fold(s_chain, batch), num_rooms, max_size)

    empty = jnp.zeros((num_rooms, 2), jnp.int32)
    init = (jnp.int32(0), jnp.asarray(False), empty, empty, empty)
    _, ok, tops, sizes, doors = jax.lax.while_loop(cond, body, init)
    fallback = _fallback(num_rooms)
    tops, sizes, doors = (jnp.where(ok, a, b) for a, b in zip((tops, sizes, doors), fallback, strict=True))

    grid = paint_rooms(HEIGHT, WIDTH, tops, sizes, LAVA if lava else WALL)
    grid = grid.at[doors[1:, 1], doors[1:, 0]].set(jnp.uint8(door))
    # Agent and goal on uniform floor cells of the first and the last room.
    last = num_rooms - 1
    start = tops[0] + 1 + rand_int(s_agent, 0, sizes[0] - 2, (2,))
    goal = tops[last] + 1 + rand_int(s_goal, 0, sizes[last] - 2, (2,))
    grid = grid.at[start[1], start[0]].set(jnp.uint8(STAIR_UP)).at[goal[1], goal[0]].set(jnp.uint8(GOAL))
    return grid, start


def make_task(size: str, variant: str) -> GridTask:
    num_rooms, max_size, max_steps = SIZES[size]
    lava = "Lava" in variant
    door = DOOR_OPEN if "OpenDoor" in variant else DOOR_LOCKED if "Locked" in variant else DOOR_CLOSED
    return GridTask(
        name=f"MultiRoom-{size}{variant}",
        height=HEIGHT,
        width=WIDTH,
        generate=partial(generate, num_rooms=num_rooms, max_size=max_size, lava=lava, door=door),
        actions=MOVE_AND_KICK_ACTIONS if "Locked" in variant else MOVE_ACTIONS,
        max_steps=max_steps,
    )


TASKS = [make_task(size, variant) for variant, sizes in VARIANTS.items() for size in sizes]

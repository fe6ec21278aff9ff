"""MultiRoom: a chain of rooms joined by doors; the goal is in the last room.

Two generation areas, chosen with the factory's ``area`` argument:

- ``area="25x25"``: MiniHack 0.1.5 to 1.0.0, the era of Henaff et al. (2023), whose ``MiniGridHack``
  builds the level with ``gym.make`` of gym-minigrid's ``MultiRoom`` at its own size, a 25 x 25 grid.
  MiniHack then drops the empty rows (``get_env_map``) and NetHack centres the map on its 21 rows; a
  level taller than 21 rows made NetHack panic ("reading special level with ysize too large"), so
  here such chains are redrawn (only N6's rooms of up to 10 can be that tall). The map is 21 x 25:
  the level's rows centred, its 25 columns as generated. The global-vs-episodic study uses this area.
- ``area="76x21"`` (the default): MiniHack 1.0.2 (installed here; `envs.minihack_adapter` compares
  against it), which asks MiniGrid for a 76 x 21 area (NetHack's terminal less its borders). The map
  is 21 x 76.

On either area, levels are generated the way MiniGrid's ``MultiRoomEnv._gen_grid`` does: room 0 (outer
size 4..max_room_size each way) is placed at a random
"entry" position; each next room is attached to an exit door on one of the three walls of the
previous room other than its entry wall (up to 8 tries, each with a fresh wall, door position, room
size and offset), must lie inside the area and must not overlap any room but its predecessor; a chain
that cannot grow is thrown away and a new one is started. The agent starts on a random floor cell of
the first room (MiniHack marks it with stairs up) and the goal (stairs down) is on a random floor cell
of the last room.

Variants (MiniHack's ``MiniGridHack`` options): ``-Lava`` (room walls are lava), ``-OpenDoor`` (doors
start open), ``-Locked`` (doors are locked; OPEN and KICK are added to the actions, a kick breaks a
door open).

Differences from MiniHack, besides those of `envs.gridworld.rules`:

- MiniGrid draws room 0's position until it fits; we draw it directly from the positions that fit
  (the same distribution). Whole chains are drawn in batches (2, 6, 10, 24 chains for N2, N4, N6,
  N10) and the first complete one is kept (the same law as MiniGrid's retry-until-complete loop);
  further batches are drawn only while none is complete, up to 96 chains (measured completion rates
  0.999, 0.85, 0.59, 0.26 on 76 x 21, and 0.996, 0.80, 0.26 for N2, N4, N6 on 25 x 25 with the
  21-row limit, so all 96 fail with probability below 1e-12); a fixed straight chain is the fallback.
- ``MultiRoom-N4`` has 4 rooms of size <= 5, as its name and MiniHack's docs say (MiniGrid >= 2.0's
  legacy ``MiniGrid-MultiRoom-N4-S5-v0`` id makes 6).
- MiniHack turns the empty cells between two rooms on the same map row into floor enclosed by walls
  (unreachable pockets); here they stay rock.
- ``MultiRoom-N10`` exists only with the 76 x 21 area: ten chained rooms of up to 10 almost never fit
  on 25 x 25 (gym-minigrid registered no ten-room MultiRoom).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from envs.gridworld.hash_rng import fold, rand_int, random_index, split, uniform
from envs.gridworld.layout import paint_rooms
from envs.gridworld.rules import GridEnv, GridParams, GridTask
from envs.gridworld.rules import make_factory as engine_factory
from envs.gridworld.tables import (
    DOOR_CLOSED,
    DOOR_LOCKED,
    DOOR_OPEN,
    GOAL,
    LAVA,
    MOVE_ACTIONS,
    MOVE_AND_KICK_ACTIONS,
    STAIR_UP,
    WALL,
)

HEIGHT, WIDTH = 21, 76  # the default area's map
MAP_ROWS = 21  # NetHack's map rows
# area name -> (generation height, generation width, map height, map width)
AREAS = {"76x21": (21, 76, 21, 76), "25x25": (25, 25, MAP_ROWS, 25)}
DEFAULT_AREA = "76x21"
STUDY_AREA = "25x25"  # MiniHack 0.1.5 to 1.0.0, the paper's era
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


def _first_room(seed: jax.Array, max_size: int, height: int, width: int) -> tuple[jax.Array, jax.Array]:
    """Room 0 drawn from MiniGrid's proposal (sizes uniform, entry (x, y) uniform in [0, W-3]^2)
    conditioned on fitting: the conditional factorises over x and y."""
    s_sx, s_sy, s_x, s_y = split(seed, 4)
    sizes = jnp.arange(MIN_ROOM_SIZE, max_size + 1)
    fits_x = jnp.minimum(width - 2, width - sizes + 1)  # x in [0, W-3] with x + sx <= W
    fits_y = jnp.clip(jnp.minimum(width - 2, height - sizes), 0, None)  # y in [0, W-3] with y + sy < H
    sx = sizes[random_index(s_sx, fits_x)]
    sy = sizes[random_index(s_sy, fits_y)]
    x = rand_int(s_x, 0, jnp.minimum(width - 2, width - sx + 1))
    y = rand_int(s_y, 0, jnp.minimum(width - 2, height - sy))
    return jnp.stack([x, y]), jnp.stack([sx, sy])


def _next_room(seed, tops, sizes, entry_walls, k: int, max_size, height: int, width: int):
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
    fits = (top_x >= 0) & (top_y >= 0) & (top_x + sx <= width) & (top_y + sy < height)
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


def _chain(seed: jax.Array, num_rooms: int, max_size: int, height: int, width: int, map_rows: int):
    """One attempt at a chain of ``num_rooms`` rooms: (complete, tops, sizes, doors). A chain taller
    than ``map_rows`` counts as incomplete (NetHack could not load it)."""
    s_first, s_rest = split(seed, 2)
    top0, size0 = _first_room(s_first, max_size, height, width)
    tops = jnp.zeros((num_rooms, 2), jnp.int32).at[0].set(top0)
    sizes = jnp.full((num_rooms, 2), MIN_ROOM_SIZE, jnp.int32).at[0].set(size0)
    entry_walls = jnp.full((num_rooms,), 2, jnp.int32)  # room 0 "enters" from the left, as in MiniGrid
    doors = jnp.zeros((num_rooms, 2), jnp.int32)

    ok = jnp.asarray(True)
    # A Python loop (the number of rooms is static): XLA sees straight-line code with static indices,
    # which it fuses far better than a loop over small arrays.
    for k in range(1, num_rooms):
        placed, top, size, entry, door = _next_room(
            fold(s_rest, k), tops, sizes, entry_walls, k, max_size, height, width
        )
        placed = placed & ok
        tops = tops.at[k].set(jnp.where(placed, top, tops[k]))
        sizes = sizes.at[k].set(jnp.where(placed, size, sizes[k]))
        entry_walls = entry_walls.at[k].set(jnp.where(placed, entry, entry_walls[k]))
        doors = doors.at[k].set(jnp.where(placed, door, doors[k]))
        ok = placed
    if map_rows < height:
        rows = jnp.max(tops[:, 1] + sizes[:, 1]) - jnp.min(tops[:, 1])
        ok = ok & (rows <= map_rows)
    return ok, tops, sizes, doors


def _chains(seed: jax.Array, num_rooms: int, max_size: int, height: int, width: int, map_rows: int):
    """A batch of chains at once; the first complete one (the same law as MiniGrid's retry loop)."""
    chain = partial(_chain, num_rooms=num_rooms, max_size=max_size, height=height, width=width, map_rows=map_rows)
    ok, tops, sizes, doors = jax.vmap(chain)(split(seed, PARALLEL.get(num_rooms, 16)))
    first = jnp.argmax(ok)
    return jnp.any(ok), tops[first], sizes[first], doors[first]


def _fallback(num_rooms: int, width: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """A straight chain of 5 x 5 rooms sharing walls (used only if every random chain failed)."""
    left = 1 if num_rooms * 4 + 2 <= width else 0
    tops = np.stack([np.arange(num_rooms) * 4 + left, np.full(num_rooms, 8)], 1)
    sizes = np.full((num_rooms, 2), 5)
    doors = np.stack([tops[:, 0], tops[:, 1] + 2], 1)
    return jnp.asarray(tops, jnp.int32), jnp.asarray(sizes, jnp.int32), jnp.asarray(doors, jnp.int32)


def generate(
    seed: jax.Array, num_rooms: int, max_size: int, lava: bool, door: int, area: str = DEFAULT_AREA
):
    """A MultiRoom level on ``area`` (`AREAS`): ``(grid uint8[map height, map width], start int32[2])``."""
    height, width, map_height, map_width = AREAS[area]
    s_chain, s_agent, s_goal = split(seed, 3)

    # Batches of chains while none is complete: the first batch always (the loop starts from "not
    # complete", so `_chains` is traced once), more only rarely (under vmap the loop runs again only
    # when some environment of the batch needs it).
    def cond(carry):
        batch, ok, *_ = carry
        return (~ok) & (batch < -(-MAX_CHAINS // PARALLEL.get(num_rooms, 16)))

    def body(carry):
        batch, _, tops, sizes, doors = carry
        return batch + 1, *_chains(fold(s_chain, batch), num_rooms, max_size, height, width, map_height)

    empty = jnp.zeros((num_rooms, 2), jnp.int32)
    init = (jnp.int32(0), jnp.asarray(False), empty, empty, empty)
    _, ok, tops, sizes, doors = jax.lax.while_loop(cond, body, init)
    fallback = _fallback(num_rooms, width)
    tops, sizes, doors = (jnp.where(ok, a, b) for a, b in zip((tops, sizes, doors), fallback, strict=True))
    if map_height < height:
        # MiniHack keeps the rows the level uses; NetHack centres them on its map.
        first, last = jnp.min(tops[:, 1]), jnp.max(tops[:, 1] + sizes[:, 1])
        shift = jnp.stack([0, (map_height - (last - first)) // 2 - first]).astype(jnp.int32)
        tops, doors = tops + shift, doors + shift

    grid = paint_rooms(map_height, map_width, tops, sizes, LAVA if lava else WALL)
    grid = grid.at[doors[1:, 1], doors[1:, 0]].set(jnp.uint8(door))
    # Agent and goal on uniform floor cells of the first and the last room.
    last = num_rooms - 1
    start = tops[0] + 1 + rand_int(s_agent, 0, sizes[0] - 2, (2,))
    goal = tops[last] + 1 + rand_int(s_goal, 0, sizes[last] - 2, (2,))
    grid = grid.at[start[1], start[0]].set(jnp.uint8(STAIR_UP)).at[goal[1], goal[0]].set(jnp.uint8(GOAL))
    return grid, start


def make_task(size: str, variant: str, area: str = DEFAULT_AREA) -> GridTask:
    num_rooms, max_size, max_steps = SIZES[size]
    lava = "Lava" in variant
    door = DOOR_OPEN if "OpenDoor" in variant else DOOR_LOCKED if "Locked" in variant else DOOR_CLOSED
    _, _, map_height, map_width = AREAS[area]
    return GridTask(
        name=f"MultiRoom-{size}{variant}",
        height=map_height,
        width=map_width,
        generate=partial(generate, num_rooms=num_rooms, max_size=max_size, lava=lava, door=door, area=area),
        actions=MOVE_AND_KICK_ACTIONS if "Locked" in variant else MOVE_ACTIONS,
        max_steps=max_steps,
    )


def make_factory(size: str, variant: str) -> Callable[..., tuple[GridEnv, GridParams]]:
    """The registry factory of ``MultiRoom-<size><variant>``: the engine's arguments (`make_factory`)
    and ``area`` (``"76x21"``, the default, or ``"25x25"``; see the module docstring)."""
    areas = {area: make_task(size, variant, area) for area in AREAS if not (size == "N10" and area != "76x21")}
    factories = {area: engine_factory(task) for area, task in areas.items()}

    def factory(*args: Any, area: str = DEFAULT_AREA, **kwargs: Any) -> tuple[GridEnv, GridParams]:
        if area not in factories:
            raise ValueError(
                f"area must be one of {sorted(factories)} for MultiRoom-{size}{variant}, got {area!r} "
                "(25x25: MiniHack 0.1.5 to 1.0.0; 76x21: MiniHack 1.0.2)"
            )
        return factories[area](*args, **kwargs)

    factory.__name__ = f"make_MultiRoom_{size}{variant.replace('-', '_')}"
    return factory


TASKS = [make_task(size, variant) for variant, sizes in VARIANTS.items() for size in sizes]
FACTORIES = {
    f"MultiRoom-{size}{variant}": make_factory(size, variant) for variant, sizes in VARIANTS.items() for size in sizes
}

"""Corridor: rooms joined by NetHack's corridors; the goal (stairs down) is in one room, the agent in another.

MiniHack's ``corridor{2,3,5}.des``: R lit rooms of random size at random places on NetHack's 21 x 79
map (the first holds the stairs up, the agent's start; the second the stairs down, the goal), joined
by ``RANDOM_CORRIDORS``, which runs NetHack's ``makecorridors()`` (``mklev.c``). Actions: the 8 moves,
OPEN, KICK and SEARCH; time limit 1000.

Corridors are generated as NetHack 3.6's ``makecorridors()``, ``join()`` and ``dig_corridor()``
(``sp_lev.c``) do, in the rooms' des-file order:

1. ``join(a, a + 1)`` for every a, stopping after each with probability 1/50;
2. ``join(a, a + 2)`` where a and a + 2 are not yet connected;
3. ``join(a, b)`` for every pair not yet connected, while the previous row of pairs needed one;
4. if there are more than 2 rooms, ``rn2(R) + 4`` extra joins ``join(a, b, nxcor=TRUE)`` between random
   rooms (b not a or a + 1). These dig from a door (made only where ``okdoor`` allows, else the
   corridor starts beside a blank wall), give up with probability 1/35 at every square, and do not
   start where a corridor already is: they make the dead ends and the extra loops of NetHack's levels.

``join(a, b)`` puts a door on the wall of room a facing room b (right, top, left or bottom, tested in
that order) and one on the facing wall of b, at ``finddpos``'s place (random, else the first wall cell
not next to a door, else an existing door), and digs from the square outside the first door towards
the square outside the second: ``dig_corridor``'s walk, which goes straight, turns towards the target
(with its random early turns, ``!rn2(dix - diy + 1)``), and turns aside or back where rock is not
diggable; it fails on anything but rock or corridor, off the map, or after 500 squares. A failed join
keeps what it dug (a dead end). Doors are NetHack's ``dosdoor`` states: 2/3 empty doorways; otherwise
open (1/5), locked (4/5 x 1/6) or closed. Locked doors are kicked open.

Differences from NetHack (documented):

- room placement: the map is cut into R vertical bands of equal width and each room is placed at a
  random place in its own band, the bands in a random order (so the des-file order of rooms, which
  decides who is joined to whom, is unrelated to their places, as in NetHack); room sizes are 3..14
  by 2..5 floor cells (NetHack's random rooms). NetHack's ``rnd_rect`` places rooms anywhere that fits.
- no secret doors (NetHack makes 1/8 of doors secret) and no secret corridor squares (1/100), no
  boulders in extra corridors (1/50): SEARCH does nothing here. The time limit of 1000 leaves room to
  search in MiniHack; here every door can be seen.
- levels whose rooms phases 1 to 3 left unconnected (a dig failed and nothing else joined them) are
  redrawn, so every level is solvable (NetHack keeps them; the player can dig).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from envs.gridworld.hash_rng import fold, permutation, rand_int, split, uniform
from envs.gridworld.layout import paint_rooms
from envs.gridworld.rules import GridTask
from envs.gridworld.tables import (
    CORRIDOR,
    DOOR_CLOSED,
    DOOR_LOCKED,
    DOOR_OPEN,
    DOORWAY,
    GOAL,
    NAVIGATE_ACTIONS,
    ROCK,
    STAIR_UP,
    WALL,
)

HEIGHT, WIDTH = 21, 79
ROOMS = {"R2": 2, "R3": 3, "R5": 5}
MAX_STEPS = 1000
MAX_DIG = 500  # dig_corridor's limit on squares
MAX_WALL = 14  # longest wall segment a door is placed on (floor cells of the largest room)
ATTEMPTS = 8  # levels drawn per reset until one has all rooms connected
_DOORS = np.zeros(16, bool)
_DOORS[[DOORWAY, DOOR_OPEN, DOOR_CLOSED, DOOR_LOCKED]] = True
_DIGGABLE = np.zeros(16, bool)
_DIGGABLE[[ROCK, CORRIDOR]] = True


def _tile(grid: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """The tile at (x, y), WALL outside the map (never rock, never a door)."""
    inside = (x >= 0) & (x < WIDTH) & (y >= 0) & (y < HEIGHT)
    return jnp.where(inside, grid[jnp.clip(y, 0, HEIGHT - 1), jnp.clip(x, 0, WIDTH - 1)], WALL)


def _is_door(grid, x, y):
    return jnp.asarray(_DOORS)[_tile(grid, x, y)]


def _okdoor(grid, x, y):
    """NetHack's ``okdoor``: a wall square with no door next to it (orthogonally)."""
    near_door = (
        _is_door(grid, x + 1, y) | _is_door(grid, x - 1, y) | _is_door(grid, x, y + 1) | _is_door(grid, x, y - 1)
    )
    return (_tile(grid, x, y) == WALL) & ~near_door


def _finddpos(seed, grid, xl, yl, xh, yh):
    """NetHack's ``finddpos`` on the wall segment from (xl, yl) to (xh, yh) (one of them a line)."""
    i = jnp.arange(MAX_WALL)
    length = jnp.maximum(xh - xl, yh - yl) + 1
    xs = xl + jnp.where(xh > xl, i, 0)
    ys = yl + jnp.where(yh > yl, i, 0)
    valid = i < length
    ok = valid & _okdoor(grid, xs, ys)
    door = valid & _is_door(grid, xs, ys)
    r = rand_int(seed, 0, length)
    pick = jnp.where(
        ok[r], r, jnp.where(jnp.any(ok), jnp.argmax(ok), jnp.where(jnp.any(door), jnp.argmax(door), -1))
    )
    # Nothing reasonable: NetHack takes (xl, yh).
    x = jnp.where(pick >= 0, xs[jnp.maximum(pick, 0)], xl)
    y = jnp.where(pick >= 0, ys[jnp.maximum(pick, 0)], yh)
    return x, y


def _door_tile(seed) -> jax.Array:
    """NetHack's ``dosdoor`` for an ordinary door (no secret doors here)."""
    u = uniform(seed, (3,))
    kind = jnp.where(u[1] < 1 / 5, DOOR_OPEN, jnp.where(u[2] < 1 / 6, DOOR_LOCKED, DOOR_CLOSED))
    return jnp.where(u[0] < 1 / 3, kind, DOORWAY).astype(jnp.uint8)


def _dig(seed, grid, org, dest, nxcor, active):
    """NetHack's ``dig_corridor`` from ``org`` to ``dest`` through rock; returns (grid, success)."""
    xx, yy = org[0], org[1]
    tx, ty = dest[0], dest[1]
    bad = (xx <= 0) | (yy <= 0) | (tx <= 0) | (ty <= 0) | (xx >= WIDTH - 1) | (tx >= WIDTH - 1)
    bad = bad | (yy >= HEIGHT - 1) | (ty >= HEIGHT - 1)
    dx = jnp.where(tx > xx, 1, jnp.where(ty > yy, 0, jnp.where(tx < xx, -1, 0)))
    dy = jnp.where(tx > xx, 0, jnp.where(ty > yy, 1, jnp.where(tx < xx, 0, -1)))
    RUN, OK, FAIL = 0, 1, 2
    status = jnp.where(active & ~bad, RUN, FAIL)
    status = jnp.where((status == RUN) & (xx - dx == tx) & (yy - dy == ty), OK, status)

    def diggable(grid, x, y):
        return jnp.asarray(_DIGGABLE)[_tile(grid, x, y)]

    def body(carry):
        grid, xx, yy, dx, dy, count, _ = carry
        u = uniform(fold(seed, count), (2,))
        stop = (count > MAX_DIG) | (nxcor & (u[0] < 1 / 35))
        xx, yy = xx + dx, yy + dy
        off = (xx >= WIDTH - 1) | (xx <= 0) | (yy <= 0) | (yy >= HEIGHT - 1)
        tile = _tile(grid, xx, yy)
        strange = (tile != ROCK) & (tile != CORRIDOR)
        fail = stop | off | strange
        cy, cx = jnp.clip(yy, 0, HEIGHT - 1), jnp.clip(xx, 0, WIDTH - 1)
        grid = grid.at[cy, cx].set(jnp.where(fail | (tile != ROCK), grid[cy, cx], jnp.uint8(CORRIDOR)))
        # Find the next corridor position.
        dix, diy = jnp.abs(xx - tx), jnp.abs(yy - ty)
        early_x = (dix > diy) & (diy > 0) & (jnp.floor(u[1] * (dix - diy + 1)) == 0)
        early_y = ~early_x & (diy > dix) & (dix > 0) & (jnp.floor(u[1] * (diy - dix + 1)) == 0)
        dix, diy = jnp.where(early_x, 0, dix), jnp.where(early_y, 0, diy)
        ddx = jnp.where(xx > tx, -1, 1)
        ddy = jnp.where(yy > ty, -1, 1)
        want_a = (dy != 0) & (dix > diy)
        want_b = ~want_a & (dx != 0) & (diy > dix)
        take_a = want_a & diggable(grid, xx + ddx, yy)
        take_b = want_b & diggable(grid, xx, yy + ddy)
        straight = ~take_a & ~take_b & diggable(grid, xx + dx, yy + dy)
        tdx = jnp.where(dx != 0, 0, jnp.where(tx < xx, -1, 1))
        tdy = jnp.where(dx != 0, jnp.where(ty < yy, -1, 1), 0)
        turn = ~take_a & ~take_b & ~straight & diggable(grid, xx + tdx, yy + tdy)
        back = ~take_a & ~take_b & ~straight & ~turn
        new_dx = jnp.select([take_a, take_b, straight, turn, back], [ddx, 0, dx, tdx, -tdx])
        new_dy = jnp.select([take_a, take_b, straight, turn, back], [0, ddy, dy, tdy, -tdy])
        arrived = (xx == tx) & (yy == ty)
        status = jnp.where(fail, FAIL, jnp.where(arrived, OK, RUN))
        return grid, xx, yy, new_dx, new_dy, count + 1, status

    init = (grid, xx - dx, yy - dy, dx, dy, jnp.int32(0), status)
    grid, *_, status = jax.lax.while_loop(lambda c: c[-1] == RUN, body, init)
    return grid, status == OK


def _join(seed, grid, lo, hi, a, b, nxcor, active):
    """NetHack's ``join(a, b, nxcor)`` on rooms with floor bounds ``lo`` (lx, ly) and ``hi`` (hx, hy).
    Returns (grid, joined)."""
    s_cc, s_tt, s_dig, s_door1, s_door2 = split(seed, 5)
    clx, cly, chx, chy = lo[a, 0], lo[a, 1], hi[a, 0], hi[a, 1]
    tlx, tly, thx, thy = lo[b, 0], lo[b, 1], hi[b, 0], hi[b, 1]
    right, above, left = tlx > chx, thy < cly, thx < clx
    case = jnp.where(right, 0, jnp.where(above, 1, jnp.where(left, 2, 3)))
    dx = jnp.asarray([1, 0, -1, 0])[case]
    dy = jnp.asarray([0, -1, 0, 1])[case]
    # The two walls: croom's facing troom, and troom's facing croom.
    c_xl = jnp.asarray([chx + 1, clx, clx - 1, clx])[case]
    c_xh = jnp.asarray([chx + 1, chx, clx - 1, chx])[case]
    c_yl = jnp.asarray([cly, cly - 1, cly, chy + 1])[case]
    c_yh = jnp.asarray([chy, cly - 1, chy, chy + 1])[case]
    t_xl = jnp.asarray([tlx - 1, tlx, thx + 1, tlx])[case]
    t_xh = jnp.asarray([tlx - 1, thx, thx + 1, thx])[case]
    t_yl = jnp.asarray([tly, thy + 1, tly, tly - 1])[case]
    t_yh = jnp.asarray([thy, thy + 1, thy, tly - 1])[case]
    ccx, ccy = _finddpos(s_cc, grid, c_xl, c_yl, c_xh, c_yh)
    ttx, tty = _finddpos(s_tt, grid, t_xl, t_yl, t_xh, t_yh)
    org = jnp.stack([ccx + dx, ccy + dy])
    dest = jnp.stack([ttx - dx, tty - dy])
    # Extra corridors do not start where a corridor already is.
    active = active & ~(nxcor & (_tile(grid, org[0], org[1]) != ROCK))
    first_door = active & (_okdoor(grid, ccx, ccy) | ~nxcor)
    grid = grid.at[ccy, ccx].set(jnp.where(first_door, _door_tile(s_door1), grid[ccy, ccx]))
    grid, dug = _dig(s_dig, grid, org, dest, nxcor, active)
    second_door = dug & (_okdoor(grid, ttx, tty) | ~nxcor)
    grid = grid.at[tty, ttx].set(jnp.where(second_door, _door_tile(s_door2), grid[tty, ttx]))
    return grid, dug


def _schedule(num_rooms: int) -> np.ndarray:
    """``int32[slots, 3]``: (phase, a, b) of every join makecorridors may make, in its order (phase 4's
    rooms are drawn at run time)."""
    slots = [(1, a, a + 1) for a in range(num_rooms - 1)]
    slots += [(2, a, a + 2) for a in range(num_rooms - 2)]
    slots += [(3, a, b) for a in range(num_rooms) for b in range(num_rooms)]
    if num_rooms > 2:
        slots += [(4, i, 0) for i in range(num_rooms + 3)]
    return np.asarray(slots, np.int32)


def _makecorridors(seed, grid, lo, hi, num_rooms: int):
    """NetHack's ``makecorridors()``; returns (grid, whether phases 1 to 3 connected every room)."""
    s_extra, s_slots = split(seed, 2)
    extra = rand_int(fold(s_extra, 0), 0, num_rooms) + 4

    def slot(carry, xs):
        grid, smeq, broken, running, any_join = carry
        index, row = xs
        phase, a, b = row[0], row[1], row[2]
        s_join, s_break, s_a, s_b = split(fold(s_slots, index), 4)
        # Phase 3: a new row of pairs runs only if the previous one needed a join.
        new_row = (phase == 3) & (b == 0)
        running = jnp.where(new_row, running & any_join, running)
        any_join = jnp.where(new_row, False, any_join)
        # Phase 4: random rooms (b is neither a nor a + 1).
        ra = rand_int(s_a, 0, num_rooms)
        rb = rand_int(s_b, 0, max(num_rooms - 2, 1))
        rb = rb + 2 * (rb >= ra)
        extra_active = a < extra  # phase 4's a is the extra join's number
        a, b = jnp.where(phase == 4, ra, a), jnp.clip(jnp.where(phase == 4, rb, b), 0, num_rooms - 1)
        apart = smeq[a] != smeq[b]
        active = jnp.select([phase == 1, phase == 2, phase == 3], [~broken, apart, running & apart], extra_active)
        any_join = any_join | ((phase == 3) & active)
        grid, joined = _join(s_join, grid, lo, hi, a, b, phase == 4, active)
        # NetHack relabels only the two rooms (the smaller label wins), not their whole classes.
        low = jnp.minimum(smeq[a], smeq[b])
        smeq = jnp.where(joined, smeq.at[a].set(low).at[b].set(low), smeq)
        connected = jnp.where(phase == 3, jnp.all(smeq == smeq[0]), True)
        broken = broken | ((phase == 1) & active & (uniform(s_break) < 1 / 50))
        return (grid, smeq, broken, running, any_join), connected

    schedule = jnp.asarray(_schedule(num_rooms))
    init = (grid, jnp.arange(num_rooms), jnp.asarray(False), jnp.asarray(True), jnp.asarray(True))
    (grid, smeq, *_), connected = jax.lax.scan(slot, init, (jnp.arange(len(schedule)), schedule))
    # Connected after phase 3 (equal labels imply joined rooms; phase 4 relabels along extra corridors,
    # which may lack doors).
    before_extra = np.flatnonzero(np.asarray(_schedule(num_rooms))[:, 0] <= 3)[-1]
    return grid, connected[before_extra]


def _rooms(seed, num_rooms: int):
    """Floor bounds (lx, ly) and (hx, hy) of R rooms, each in its own band of columns, bands shuffled."""
    keys = split(seed, 5)
    band = (WIDTH - 2) // num_rooms
    band_start = 1 + band * permutation(keys[4], num_rooms)
    # Outer sizes (walls included) 5..16 by 4..7; a room keeps one free column at its band's left edge
    # so that rooms in neighbouring bands are at least 2 columns apart (room for a corridor).
    width = rand_int(keys[0], 5, min(17, band), (num_rooms,))
    height = rand_int(keys[1], 4, 8, (num_rooms,))
    left = band_start + 1 + rand_int(keys[2], 0, band - 1 - width + 1, (num_rooms,))
    top = 1 + rand_int(keys[3], 0, HEIGHT - 2 - height + 1, (num_rooms,))
    lo = jnp.stack([left + 1, top + 1], 1)
    hi = jnp.stack([left + width - 2, top + height - 2], 1)
    return lo, hi


def _level(seed, num_rooms: int):
    s_rooms, s_corridors = split(seed, 2)
    lo, hi = _rooms(s_rooms, num_rooms)
    grid = paint_rooms(HEIGHT, WIDTH, lo - 1, hi - lo + 3, WALL)
    grid, connected = _makecorridors(s_corridors, grid, lo, hi, num_rooms)
    return grid, lo, hi, connected


def generate(key: jax.Array, num_rooms: int):
    s_level, s_start, s_goal = split(key, 3)

    # Draw levels until one has every room connected (almost always the first).
    def cond(carry):
        attempt, done, *_ = carry
        return ~done & (attempt < ATTEMPTS)

    def body(carry):
        attempt, *_ = carry
        grid, lo, hi, connected = _level(fold(s_level, attempt), num_rooms)
        return attempt + 1, connected, grid, lo, hi

    empty = jnp.zeros((num_rooms, 2), jnp.int32)
    init = (jnp.int32(0), jnp.asarray(False), jnp.zeros((HEIGHT, WIDTH), jnp.uint8), empty, empty)
    _, _, grid, lo, hi = jax.lax.while_loop(cond, body, init)
    # The stairs up in the des file's first room, the stairs down in its second.
    start = lo[0] + rand_int(s_start, 0, hi[0] - lo[0] + 1, (2,))
    goal = lo[1] + rand_int(s_goal, 0, hi[1] - lo[1] + 1, (2,))
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

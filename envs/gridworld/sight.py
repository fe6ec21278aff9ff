"""NetHack-like sight and memory of the gridworld (``sight=True``).

After NetHack 3.6's ``vision.c`` and ``display.c``: a cell is in sight when it is next to the agent, or when
it is lit and in line of sight; a wall or a closed door (which block sight) is in sight when it is lit, in
line of sight (its own ray is clear, or the cell next to it towards the agent is in sight), and that cell is
lit too (``vision.c``'s rule that keeps doors and walls "at the end of dark hallways" unseen). What was in
sight is remembered: ``glyphs`` and ``glyphs_crop`` show the map at every cell seen so far in the episode,
and rock (NetHack 3.6's blank ``S_stone``, also its glyph of unexplored cells) elsewhere. The map changes
only next to the agent (doors, the key), so the remembered glyph of a cell is its current tile. Lighting
follows MiniHack's levels: MultiRoom and the crossings are one lit region (``LevelGenerator``'s ``REGION ...
lit``), Corridor's rooms are lit (with their walls and doors) and its corridors dark, KeyRoom is lit and
KeyRoom-Dark and MazeWalk are dark. Lava, floor, corridors, open doors and doorways do not block sight;
rock, walls and closed or locked doors do (so in the -Lava MultiRoom tasks, whose room walls are lava, the
agent sees across them into the next rooms, as in NetHack). Simplified: line of sight is a ray tree (each
cell's ray to the agent passes through the neighbour nearest the straight line, a Bresenham-like line);
NetHack computes it with its own algorithm (``vision.c``'s ``clear_path``), and the two can differ by a cell
at the edges of what is seen. Remembered floor out of sight is drawn as floor (NetHack's ``dark_room``
option draws it darker); there is no light radius, blindness or telepathy.

Without sight (``sight=False``, the default of every factory) the whole map is shown from the start,
except in dark tasks (MazeWalk, KeyRoom-Dark), which show the cells the agent has been next to (`near`;
NetHack's memory of unlit squares).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from envs.gridworld.tables import CORRIDOR, OPAQUE


def ray_steps(height: int, width: int) -> np.ndarray:
    """``int32[2H - 1, 2W - 1, 2]``: for a cell at offset ``(dx, dy)`` from the agent (index
    ``[dy + H - 1, dx + W - 1]``), the step ``(sx, sy)`` from the cell towards the agent along its line
    of sight: one cell nearer along the longer axis, and along the shorter one too when that neighbour
    is nearer the straight line from the cell to the agent (ties: straight). Following the steps from
    any cell reaches the agent in ``max(|dx|, |dy|)`` steps (a ray tree of Bresenham-like lines)."""
    dy, dx = np.mgrid[-(height - 1) : height, -(width - 1) : width]
    major, minor = np.maximum(abs(dx), abs(dy)), np.minimum(abs(dx), abs(dy))
    # Distances (times |(dx, dy)|) of the two candidates to the line: straight |minor|, diagonal
    # |major| - |minor|.
    diagonal = major - minor < minor
    along_x = abs(dx) >= abs(dy)
    sx = np.sign(dx) * (along_x | diagonal)
    sy = np.sign(dy) * (~along_x | diagonal)
    return np.stack([sx, sy], -1).astype(np.int32)


def near(position: jax.Array, height: int, width: int) -> jax.Array:
    """``bool[H, W]``: the agent's cell and its 8 neighbours (elementwise, no scatter)."""
    rows = jnp.arange(height)[:, None]
    cols = jnp.arange(width)[None, :]
    return (jnp.abs(cols - position[0]) <= 1) & (jnp.abs(rows - position[1]) <= 1)


def shifted(values: jax.Array, dy: int, dx: int) -> jax.Array:
    """``out[r, c] = values[r - dy, c - dx]`` (zero outside the map): a static slice of the padded map."""
    height, width = values.shape
    padded = jnp.pad(values, 1)
    return padded[1 - dy : 1 - dy + height, 1 - dx : 1 - dx + width]


def toward_agent(values: jax.Array, position: jax.Array) -> jax.Array:
    """``out[r, c] = values[r + sign(y - r), c + sign(x - c)]``: each cell's neighbour one step towards the
    agent at ``position = (x, y)`` (the cell itself on the agent's row or column), by rows then columns."""
    height, width = values.shape
    rows = jnp.arange(height)[:, None]
    cols = jnp.arange(width)[None, :]
    x, y = position[0], position[1]
    values = jnp.where(rows < y, shifted(values, -1, 0), jnp.where(rows > y, shifted(values, 1, 0), values))
    return jnp.where(cols < x, shifted(values, 0, -1), jnp.where(cols > x, shifted(values, 0, 1), values))


def in_sight(grid: jax.Array, position: jax.Array, steps: np.ndarray) -> jax.Array:
    """``bool[H, W]``: the cells in sight from ``position`` in a lit task (module docstring), with the
    ray steps ``steps = ray_steps(H, W)``.

    Line of sight by pointer jumping on the ray tree of `ray_steps`: ``blocked[c]`` starts as "the
    next cell on c's ray to the agent is opaque" and doubles the length of ray it covers per round
    (``blocked[c] |= blocked[ptr[c]]; ptr[c] = ptr[ptr[c]]``), so ``ceil(log2(max(H, W)))`` rounds of
    one gather over the map (the pointer and its flag packed in one int32) decide every cell (the
    agent's own cell is never opaque). Under ``vmap`` the gathers are most of a step's cost; the
    opaque tiles are compared (not looked up in a table) and the cell next to each wall towards the
    agent is read through static shifts (`toward_agent`), not a third gather. (Measured and not kept:
    choosing each ray's first cell among 9 shifted maps instead of a gather was 2.6x slower; an int16
    packing and a flat 1-D gather were slower too.)"""
    height, width = grid.shape
    near_cells = near(position, height, width)
    x, y = position[0], position[1]
    rows = jnp.arange(height)[:, None]
    cols = jnp.arange(width)[None, :]
    opaque = functools.reduce(jnp.logical_or, [grid == tile for tile in np.flatnonzero(OPAQUE)])
    lit = grid != CORRIDOR
    steps = jax.lax.dynamic_slice(jnp.asarray(steps), (height - 1 - y, width - 1 - x, 0), (height, width, 2))
    ptr = ((rows - steps[..., 1]) * width + (cols - steps[..., 0])).reshape(-1)
    packed = (ptr << 1) | opaque.reshape(-1)[ptr].astype(jnp.int32)
    for _ in range(max(1, int(np.ceil(np.log2(max(height, width)))))):
        further = packed[packed >> 1]
        packed = (further & ~1) | ((packed | further) & 1)
    unblocked = (packed & 1).reshape(height, width) == 0
    clear = unblocked & lit & ~opaque
    # Walls and closed doors: lit, in line of sight (their ray is unblocked, or the cell next to them
    # towards the agent is in sight), and that cell lit (vision.c: no walls at the end of dark halls).
    toward_code = toward_agent(lit.astype(jnp.int32) + 2 * clear.astype(jnp.int32), position)
    edge = opaque & lit & ((toward_code & 1) != 0) & (unblocked | (toward_code >= 2))
    return near_cells | clear | edge

"""Room painting for the level generators: rectangles of tiles in one elementwise pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.gridworld.tables import FLOOR, ROCK


def covered(height: int, width: int, x0: jax.Array, y0: jax.Array, x1: jax.Array, y1: jax.Array) -> jax.Array:
    """``bool[H, W]``: the cells inside any of the (few, statically many) rectangles
    ``[x0, x1) x [y0, y1)``. One elementwise pass with a row and a column test per rectangle: for a
    handful of rectangles this is far cheaper on CPU than a 2-D difference array's scatters and
    cumulative sums (which were most of a MultiRoom level's generation time)."""
    rows = jnp.arange(height)[:, None]
    cols = jnp.arange(width)[None, :]
    inside = jnp.zeros((height, width), bool)
    for i in range(x0.shape[0]):
        in_rows = (rows >= y0[i]) & (rows < y1[i])
        in_cols = (cols >= x0[i]) & (cols < x1[i])
        inside = inside | (in_rows & in_cols)
    return inside


def paint_rooms(height: int, width: int, tops: jax.Array, sizes: jax.Array, wall_tile: int) -> jax.Array:
    """Rooms (outer rectangles with ``tops`` (x, y) and ``sizes`` (w, h), walls included) on rock."""
    x0, y0 = tops[:, 0], tops[:, 1]
    x1, y1 = x0 + sizes[:, 0], y0 + sizes[:, 1]
    outer = covered(height, width, x0, y0, x1, y1)
    inner = covered(height, width, x0 + 1, y0 + 1, x1 - 1, y1 - 1)
    return jnp.where(inner, FLOOR, jnp.where(outer, wall_tile, ROCK)).astype(jnp.uint8)

"""The hash RNG of level generation: a cheap counter-based generator on uint32 seeds.

The core's ``step`` runs ``reset`` where episodes end (and under ``vmap`` the level generator is on the hot
path); threefry would dominate it. Generators draw from a uint32 seed through an integer hash (Wellons'
lowbias32), a handful of integer ops per number: `fold` and `split` derive seeds, `uniform`,
`rand_int`, `random_index`, `random_cell` and `permutation` draw from them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_GOLDEN = 0x9E3779B9


def hash32(x: jax.Array) -> jax.Array:
    x = jnp.asarray(x).astype(jnp.uint32)
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def fold(seed: jax.Array, data: jax.Array | int) -> jax.Array:
    """A new seed from ``seed`` and ``data`` (like ``jax.random.fold_in``)."""
    return hash32(seed ^ hash32(jnp.asarray(data).astype(jnp.uint32) * jnp.uint32(_GOLDEN) + jnp.uint32(1)))


def split(seed: jax.Array, num: int) -> jax.Array:
    """``num`` independent seeds."""
    return fold(seed, jnp.arange(num, dtype=jnp.uint32))


def uniform(seed: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
    """Floats uniform in [0, 1) (24 bits)."""
    size = int(np.prod(shape)) if shape else 1
    bits = fold(seed, jnp.arange(size, dtype=jnp.uint32) + jnp.uint32(0x51ED27))
    return ((bits >> 8).astype(jnp.float32) * (1.0 / (1 << 24))).reshape(shape)


def rand_int(seed: jax.Array, low: jax.Array, high: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
    """Uniform integers in ``[low, high)`` with traced bounds (``low`` when the range is empty)."""
    span = jnp.maximum(high - low, 1)
    return (low + jnp.minimum(jnp.floor(uniform(seed, shape) * span), span - 1)).astype(jnp.int32)


def random_index(seed: jax.Array, weights: jax.Array) -> jax.Array:
    """An index drawn with probability proportional to the non-negative ``weights`` (1-D)."""
    cumulative = jnp.cumsum(weights.astype(jnp.float32))
    return jnp.argmax(cumulative > uniform(seed) * cumulative[-1]).astype(jnp.int32)


def random_cell(seed: jax.Array, mask: jax.Array) -> jax.Array:
    """A uniformly drawn ``(x, y)`` among the true cells of ``mask`` (``(0, 0)`` if there are none)."""
    flat = random_index(seed, mask.reshape(-1))
    return jnp.stack([flat % mask.shape[1], flat // mask.shape[1]]).astype(jnp.int32)


def permutation(seed: jax.Array, num: int) -> jax.Array:
    """A uniformly random permutation of ``0 .. num-1``."""
    return jnp.argsort(uniform(seed, (num,))).astype(jnp.int32)


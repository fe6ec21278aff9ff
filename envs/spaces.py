"""Observation and action spaces: `Discrete`, `Box` and `Dict`, each with `sample` and `contains`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class Space:
    """A set of values with a fixed shape and dtype."""

    shape: tuple[int, ...]
    dtype: Any

    def sample(self, key: jax.Array) -> Any:
        raise NotImplementedError

    def contains(self, x: Any) -> jax.Array:
        raise NotImplementedError


class Discrete(Space):
    """Integers 0 .. n-1."""

    def __init__(self, n: int, dtype: Any = jnp.int32):
        if int(n) <= 0:
            raise ValueError(f"Discrete space needs n > 0, got n={n}")
        self.n = int(n)
        self.shape = ()
        self.dtype = dtype

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, self.shape, 0, self.n).astype(self.dtype)

    def contains(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.logical_and(x >= 0, x < self.n)

    def __repr__(self) -> str:
        return f"Discrete({self.n})"


class Box(Space):
    """A (possibly unbounded) box of reals or integers."""

    def __init__(self, low: Any, high: Any, shape: Sequence[int] | None = None, dtype: Any = jnp.float32):
        self.dtype = dtype
        if shape is None:
            shape = np.broadcast_shapes(np.shape(low), np.shape(high))
        self.shape = tuple(int(s) for s in shape)
        self.low = np.broadcast_to(np.asarray(low, dtype=np.dtype(dtype)), self.shape)
        self.high = np.broadcast_to(np.asarray(high, dtype=np.dtype(dtype)), self.shape)
        if np.any(self.low > self.high):
            raise ValueError("Box needs low <= high everywhere")

    def sample(self, key: jax.Array) -> jax.Array:
        if jnp.issubdtype(self.dtype, jnp.integer):
            high = self.high.astype(np.int64) + 1
            return jax.random.randint(key, self.shape, self.low, high).astype(self.dtype)
        # Unbounded dimensions are sampled from a standard normal, as gymnasium does.
        low = jnp.asarray(self.low, jnp.float32)
        high = jnp.asarray(self.high, jnp.float32)
        bounded = jnp.isfinite(low) & jnp.isfinite(high)
        k_uniform, k_normal = jax.random.split(key)
        uniform = jax.random.uniform(
            k_uniform, self.shape, minval=jnp.where(bounded, low, 0.0), maxval=jnp.where(bounded, high, 1.0)
        )
        normal = jax.random.normal(k_normal, self.shape)
        return jnp.where(bounded, uniform, normal).astype(self.dtype)

    def contains(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all(jnp.logical_and(x >= self.low, x <= self.high))

    def __repr__(self) -> str:
        return f"Box(shape={self.shape}, dtype={np.dtype(self.dtype).name})"


class Dict(Space):
    """A dictionary of named sub-spaces; samples and observations are dicts with the same keys."""

    def __init__(self, spaces: Mapping[str, Space]):
        self.spaces = dict(spaces)
        self.shape = ()
        self.dtype = None

    def sample(self, key: jax.Array) -> dict[str, jax.Array]:
        keys = jax.random.split(key, len(self.spaces))
        return {name: space.sample(k) for (name, space), k in zip(self.spaces.items(), keys, strict=True)}

    def contains(self, x: Any) -> jax.Array:
        if not isinstance(x, Mapping) or set(x) != set(self.spaces):
            return jnp.asarray(False)
        result = jnp.asarray(True)
        for name, space in self.spaces.items():
            result = result & space.contains(x[name])
        return result

    def __getitem__(self, name: str) -> Space:
        return self.spaces[name]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {v}" for k, v in self.spaces.items())
        return f"Dict({inner})"

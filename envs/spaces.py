"""Observation and action spaces: `Discrete`, `Box` and `Dict`, each with `sample` and `contains`.

Each class subclasses gymnax's own (``gymnax.environments.spaces``), so code written for gymnax accepts
our environments: gymnax's ``FlattenObservationWrapper`` checks ``isinstance(space, spaces.Box)``
against gymnax's class. On top of gymnax's behaviour ours have a ``shape`` tuple and ``dtype``
everywhere, ``contains`` that also checks the shape (and the keys of a dict), and unbounded float
dimensions sampled from a standard normal (as gymnasium does) instead of an infinite uniform.

Spaces can be built inside ``jax.jit``: when a bound is a traced value (a parameter passed to a jitted
function, or a ``jnp`` array built under the trace) it is kept as a ``jnp`` array and ``low <= high`` is
not checked; concrete bounds are numpy arrays and are checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces as gymnax_spaces


class Space(gymnax_spaces.Space):
    """A set of values with a fixed shape and dtype."""

    shape: tuple[int, ...]
    dtype: Any

    def sample(self, key: jax.Array) -> Any:
        raise NotImplementedError

    def contains(self, x: Any) -> jax.Array:
        raise NotImplementedError


class Discrete(gymnax_spaces.Discrete, Space):
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


def _bound(value: Any, dtype: Any, shape: tuple[int, ...]) -> tuple[Any, bool]:
    """``(bound broadcast to shape, concrete)``: a numpy array, or a ``jnp`` array if ``value`` is traced."""
    try:
        return np.broadcast_to(np.asarray(value, dtype=np.dtype(dtype)), shape), True
    except jax.errors.TracerArrayConversionError:
        return jnp.broadcast_to(jnp.asarray(value, dtype=dtype), shape), False


class Box(gymnax_spaces.Box, Space):
    """A (possibly unbounded) box of reals or integers. ``low`` and ``high`` are broadcast to ``shape``."""

    def __init__(self, low: Any, high: Any, shape: Sequence[int] | None = None, dtype: Any = jnp.float32):
        self.dtype = dtype
        if shape is None:
            shape = np.broadcast_shapes(np.shape(low), np.shape(high))
        self.shape = tuple(int(s) for s in shape)
        self.low, concrete_low = _bound(low, dtype, self.shape)
        self.high, concrete_high = _bound(high, dtype, self.shape)
        if concrete_low and concrete_high and np.any(self.low > self.high):
            raise ValueError("Box needs low <= high everywhere")

    def sample(self, key: jax.Array) -> jax.Array:
        if jnp.issubdtype(self.dtype, jnp.integer):
            if isinstance(self.high, np.ndarray):
                high = self.high.astype(np.int64) + 1  # randint's bound is exclusive
            else:  # traced: stay in the dtype (the dtype's largest value is then never drawn)
                high = jnp.minimum(self.high, jnp.iinfo(self.dtype).max - 1) + 1
            return jax.random.randint(key, self.shape, self.low, high).astype(self.dtype)
        # Unbounded dimensions are sampled from a standard normal, as gymnasium does.
        low = jnp.asarray(self.low, jnp.float32)
        high = jnp.asarray(self.high, jnp.float32)
        bounded = jnp.isfinite(low) & jnp.isfinite(high)
        k_uniform, k_normal = jax.random.split(key)
        # A convex combination, not low + (high - low) * u: high - low overflows for bounds near the
        # float32 limit (CartPole's velocities), and the clip absorbs rounding.
        u = jax.random.uniform(k_uniform, self.shape)
        low, high = jnp.where(bounded, low, 0.0), jnp.where(bounded, high, 1.0)
        uniform = jnp.clip(low * (1.0 - u) + high * u, low, high)
        normal = jax.random.normal(k_normal, self.shape)
        return jnp.where(bounded, uniform, normal).astype(self.dtype)

    def contains(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all(jnp.logical_and(x >= self.low, x <= self.high))

    def __repr__(self) -> str:
        return f"Box(shape={self.shape}, dtype={np.dtype(self.dtype).name})"


class Dict(gymnax_spaces.Dict, Space):
    """A dictionary of named sub-spaces; samples and observations are dicts with the same keys."""

    def __init__(self, spaces: Mapping[str, Space]):
        self.spaces = dict(spaces)
        self.num_spaces = len(self.spaces)
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

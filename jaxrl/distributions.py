"""Action distributions for the policy heads: categorical, diagonal Gaussian and Beta.

Each is a small pytree with ``sample``, ``log_prob``, ``entropy`` and ``mode`` (the action used for
greedy evaluation: argmax, the mean, and the Beta's mean as CaRL evaluates).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from jax.scipy.special import betaln, digamma


@struct.dataclass
class Categorical:
    logits: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.categorical(key, self.logits).astype(jnp.int32)

    def log_prob(self, action: jax.Array) -> jax.Array:
        log_p = jax.nn.log_softmax(self.logits)
        return jnp.take_along_axis(log_p, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        log_p = jax.nn.log_softmax(self.logits)
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)


@struct.dataclass
class DiagGaussian:
    mean: jax.Array
    log_std: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        return self.mean + jnp.exp(self.log_std) * jax.random.normal(key, self.mean.shape)

    def log_prob(self, action: jax.Array) -> jax.Array:
        z = (action - self.mean) * jnp.exp(-self.log_std)
        return jnp.sum(-0.5 * z**2 - self.log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)

    def entropy(self) -> jax.Array:
        return jnp.sum(self.log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e), axis=-1) * jnp.ones(
            self.mean.shape[:-1]
        )

    def mode(self) -> jax.Array:
        return self.mean


@struct.dataclass
class Beta:
    """A Beta distribution on each action dimension, rescaled from (0, 1) to (low, high)."""

    alpha: jax.Array
    beta: jax.Array
    low: jax.Array
    high: jax.Array

    def _to_unit(self, action: jax.Array) -> jax.Array:
        x = (action - self.low) / (self.high - self.low)
        return jnp.clip(x, 1e-6, 1 - 1e-6)

    def sample(self, key: jax.Array) -> jax.Array:
        x = jax.random.beta(key, self.alpha, self.beta)
        return self.low + (self.high - self.low) * x

    def log_prob(self, action: jax.Array) -> jax.Array:
        x = self._to_unit(action)
        log_pdf = (
            (self.alpha - 1) * jnp.log(x) + (self.beta - 1) * jnp.log1p(-x) - betaln(self.alpha, self.beta)
        )
        return jnp.sum(log_pdf - jnp.log(self.high - self.low), axis=-1)

    def entropy(self) -> jax.Array:
        a, b = self.alpha, self.beta
        unit = betaln(a, b) - (a - 1) * digamma(a) - (b - 1) * digamma(b) + (a + b - 2) * digamma(a + b)
        return jnp.sum(unit + jnp.log(self.high - self.low), axis=-1)

    def mode(self) -> jax.Array:
        """The mean (not the density's mode), which is what CaRL evaluates with."""
        return self.low + (self.high - self.low) * self.alpha / (self.alpha + self.beta)

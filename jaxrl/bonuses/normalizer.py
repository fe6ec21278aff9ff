"""Running standard deviation of the intrinsic reward, and the scaling the PPO rollout applies.

The authors' code divides the intrinsic reward by a running standard deviation (no mean subtraction),
but its moment update counts T rows of a [T, B] batch while summing T x B entries. Here every entry of
every batch counts once: batches are merged with the parallel formulas of Chan et al. (1979),

    delta = mean_b - mean_a,  n = n_a + n_b,
    mean = mean_a + delta * n_b / n,
    M2 = M2_a + M2_b + delta^2 * n_a * n_b / n,  var = M2 / n  (population variance, numpy's default),

so after any stream of batches ``std()`` equals ``numpy.std`` of all the entries seen. The count is a
float32 (exact to 2^24 entries; beyond that its relative error stays ~1e-7).

The intrinsic coefficient is an ordinary (traced) argument of `scale_bonus`, so it can be a vmapped
hyperparameter; only the normalisation switch is static.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningMoments:
    count: jax.Array  # float32 scalar: number of entries seen
    mean: jax.Array
    var: jax.Array  # population variance

    @classmethod
    def init(cls) -> RunningMoments:
        zero = jnp.zeros((), jnp.float32)
        return cls(count=zero, mean=zero, var=zero)

    def update(self, x: jax.Array) -> RunningMoments:
        """Merges every entry of ``x`` (any shape, e.g. [T, N]) into the statistics."""
        x = jnp.ravel(x).astype(jnp.float32)
        batch_count = jnp.float32(x.size)
        batch_mean = jnp.mean(x)
        batch_var = jnp.var(x)
        total = self.count + batch_count
        delta = batch_mean - self.mean
        mean = self.mean + delta * batch_count / total
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + jnp.square(delta) * self.count * batch_count / total
        )
        return RunningMoments(count=total, mean=mean, var=m2 / total)

    def std(self) -> jax.Array:
        return jnp.sqrt(self.var)


def scale_bonus(
    bonus: jax.Array,
    moments: RunningMoments,
    coef: float | jax.Array,
    normalize: bool = True,
    min_std: float = 1e-8,
) -> tuple[jax.Array, RunningMoments]:
    """``coef * bonus / running_std`` for a rollout's raw bonuses (e.g. [T, N]).

    The moments are updated with this batch first (so the first batch is scaled by its own std), and
    always, so the std can be logged when ``normalize`` is off. Where the std is still below
    ``min_std`` (all bonuses so far equal) the bonus is left unscaled rather than blown up.
    """
    moments = moments.update(bonus)
    if normalize:
        std = moments.std()
        bonus = jnp.where(std > min_std, bonus / jnp.maximum(std, min_std), bonus)
    return coef * bonus, moments

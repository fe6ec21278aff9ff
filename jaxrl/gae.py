"""Truncation-aware generalised advantage estimation.

``next_values[t]`` is the value of the state reached by the transition at ``t``: for an episode that
ended by time-limit truncation it is the value of ``info["final_observation"]`` (the agent keeps
bootstrapping: the episode was cut, not finished); for a termination it is multiplied by zero. The
advantage trace is cut at every episode end, of either kind.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def truncation_aware_gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    gamma: jax.Array | float,
    gae_lambda: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and returns for time-major ``[T, ...]`` arrays.

    ``done = terminated | truncated`` marks where the trace is cut. Returns ``(advantages, returns)``
    with ``returns = advantages + values``.
    """
    not_terminated = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - done.astype(jnp.float32)
    deltas = rewards + gamma * next_values * not_terminated - values

    def backward(advantage_next, inputs):
        delta, continues = inputs
        advantage = delta + gamma * gae_lambda * continues * advantage_next
        return advantage, advantage

    # Unrolled: on a CPU each loop iteration costs a few dispatches, more than its arithmetic here.
    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(values[0]), (deltas, not_done), reverse=True, unroll=min(16, len(values))
    )
    return advantages, advantages + values

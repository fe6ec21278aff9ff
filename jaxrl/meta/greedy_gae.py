"""Generalised advantage estimation for the greedy (exploitation-only) meta-RL objective.

The return of an inner episode counts only that episode's rewards: the value target and the advantage
trace are cut at every inner-episode boundary (``info["episode_boundary"]``, the step that ends an
inner episode, whether it reached a goal or ran out of time) and at every trial end. Inside an
episode, rewards are discounted by ``gamma_step``, which sets the credit-assignment horizon
(``gamma_step=0`` is the short-horizon ablation).

With ``greedy=False`` only trial ends cut the trace, which is the usual RL-squared objective (the
return of the whole trial), for comparison.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def greedy_gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    episode_boundary: jax.Array,
    trial_done: jax.Array,
    gamma_step: jax.Array | float,
    lam: jax.Array | float,
    greedy: bool = True,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and returns for time-major ``[T, ...]`` arrays.

    ``next_values[t]`` is the value of the state the transition at ``t`` reached; it is used only
    where no cut happens (so it may be anything at a cut). Returns ``(advantages, returns)`` with
    ``returns = advantages + values``.
    """
    cut = trial_done.astype(bool)
    if greedy:
        cut = cut | episode_boundary.astype(bool)
    continues = 1.0 - cut.astype(jnp.float32)
    deltas = rewards + gamma_step * next_values * continues - values

    def backward(advantage_next, inputs):
        delta, keep = inputs
        advantage = delta + gamma_step * lam * keep * advantage_next
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(values[0]), (deltas, continues), reverse=True)
    return advantages, advantages + values

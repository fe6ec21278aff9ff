"""The clipped PPO objective, shared by every PPO variant."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def ppo_loss(
    dist,
    values: jax.Array,
    actions: jax.Array,
    old_log_probs: jax.Array,
    old_values: jax.Array,
    advantages: jax.Array,
    returns: jax.Array,
    *,
    clip_eps: jax.Array | float,
    vf_coef: jax.Array | float,
    ent_coef: jax.Array | float,
    normalize_advantages: bool = True,
    clip_value_loss: bool = True,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Returns ``(total_loss, terms)``; ``terms`` holds the scalar loss terms and diagnostics."""
    log_probs = dist.log_prob(actions)
    log_ratio = log_probs - old_log_probs
    ratio = jnp.exp(log_ratio)
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = jnp.maximum(-advantages * ratio, -advantages * jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps))
    policy_loss = policy_loss.mean()

    value_loss_unclipped = (values - returns) ** 2
    if clip_value_loss:
        values_clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
        value_loss = 0.5 * jnp.maximum(value_loss_unclipped, (values_clipped - returns) ** 2).mean()
    else:
        value_loss = 0.5 * value_loss_unclipped.mean()

    entropy = dist.entropy().mean()
    total = policy_loss + vf_coef * value_loss - ent_coef * entropy
    terms = {
        "loss": total,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        # The low-variance estimator of KL(old || new) (Schulman's k3).
        "approx_kl": jnp.mean((ratio - 1) - log_ratio),
        "clip_fraction": jnp.mean((jnp.abs(ratio - 1) > clip_eps).astype(jnp.float32)),
    }
    return total, terms

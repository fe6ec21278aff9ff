"""REINFORCE with an entropy bonus (BARFI's inner learner): a linear softmax policy on state features,
Monte-Carlo returns under a given reward and discount, no baseline, RMSprop.

The objective, maximised, is the per-step mean over the batch of
``log pi(a_t | s_t) * G_t + entropy_coef * H(pi(. | s_t))``; its gradient is the REINFORCE estimate.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

RMS_DECAY = 0.99  # PyTorch's RMSprop default (the authors' code is PyTorch)
RMS_EPS = 1e-8  # PyTorch's default too; outer gradients are small (~1e-5), so a larger eps would damp them


class Batch(NamedTuple):
    """Episodes of fixed length T; leaves ``(..., T, ...)``; ``alive`` marks the steps taken."""

    obs: jax.Array
    action: jax.Array
    r_primary: jax.Array
    r_aux: jax.Array
    alive: jax.Array


def init_policy(num_features: int, num_actions: int) -> jax.Array:
    """Linear softmax policy weights, zero: the uniform policy."""
    return jnp.zeros((num_features, num_actions), jnp.float32)


def log_policy(theta: jax.Array, features: jax.Array) -> jax.Array:
    return jax.nn.log_softmax(features @ theta, axis=-1)


def reinforce_objective(
    theta: jax.Array,
    features: jax.Array,
    actions: jax.Array,
    returns: jax.Array,
    alive: jax.Array,
    entropy_coef: float | jax.Array,
) -> jax.Array:
    """Per-step mean of log pi(a|s) * G + entropy_coef * entropy over the alive steps."""
    log_probs = log_policy(theta, features)
    chosen = jnp.take_along_axis(log_probs, actions[..., None], axis=-1)[..., 0]
    entropy = -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)
    mask = alive.astype(jnp.float32)
    per_step = chosen * returns + entropy_coef * entropy
    return jnp.sum(per_step * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def rmsprop() -> optax.GradientTransformation:
    """RMSprop's scaling; the learning rate is applied by the caller so that it can be a batch axis."""
    return optax.scale_by_rms(decay=RMS_DECAY, eps=RMS_EPS)


def ascent_step(params: Any, grads: Any, opt_state: Any, learning_rate: float | jax.Array) -> tuple[Any, Any]:
    """One RMSprop step *up* the gradient (differentiable, so it can sit inside an unroll)."""
    updates, opt_state = rmsprop().update(grads, opt_state, params)
    params = jax.tree.map(lambda p, u: p + learning_rate * u, params, updates)
    return params, opt_state


def collect_episodes(
    env: Any, env_params: Any, theta: jax.Array, key: jax.Array, num_episodes: int, horizon: int, features_fn
) -> Batch:
    """``num_episodes`` episodes of the policy, each from a reset, as a Batch of leaves ``(E, T, ...)``.

    Steps after the episode ended are marked not alive (the environment auto-resets; those steps are
    ignored)."""
    key_reset, key_steps = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key_reset, num_episodes), env_params)

    def step(carry, key):
        obs, state, alive = carry
        key_action, key_env = jax.random.split(key)
        action = jax.random.categorical(key_action, features_fn(obs) @ theta)
        next_obs, state, r_primary, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(key_env, num_episodes), state, action, env_params
        )
        transition = Batch(obs, action, r_primary, info["r_aux"], alive)
        alive = alive & ~(terminated | truncated)
        return (next_obs, state, alive), transition

    alive = jnp.ones((num_episodes,), bool)
    _, batch = jax.lax.scan(step, (obs, state, alive), jax.random.split(key_steps, horizon))
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), batch)

"""PPO as BARFI's second inner learner: the linear softmax policy of ``reinforce`` on the same state
features, a linear value head (critic) on those features, GAE advantages under the inner reward and
discount, and a few epochs of the clipped surrogate with an entropy bonus over minibatches of episodes.

The policy takes RMSprop steps (``reinforce.ascent_step``, learning rate ``actor_lr``) as REINFORCE
does. The critic takes plain gradient steps on the masked squared error: for a linear critic that
converges at a rate set by the features, not by the scale of the returns, which differs by two orders
of magnitude between reward modes (RMSprop would move each weight by about the learning rate per step,
too slowly for returns in the hundreds or thousands).

Advantages are not standardised by default (``normalise``; ``BarfiConfig.ppo_normalise_advantages``).
Standardising makes the inner update invariant to the reward's scale, and under a misleading heuristic
that dominates the reward, r_phi = r_p + phi_2 * r_aux with a nearly constant r_p (the -0.1 step cost
while the goal is never reached) is nearly a rescaling of r_aux: the standardised advantages, and so
the inner update, hardly depend on phi_2, and the outer gradient on phi_2 is about zero with an
inconsistent sign. Measured once (a one-off diagnostic, not in the repository) on batches of a
loitering policy (PPO on the naive sum, 8 seeds; first-order estimate): with
standardised advantages v . d/dphi_2 grad J_phi was -0.014..0.003 with mixed signs; without, it was
negative (-4.5..-13) on every loitering seed, as with REINFORCE (-6..-23). The quick GridWorld run with
standardised advantages left phi_2 at about 1.0 and did not recover.

Episodes end at the horizon (collection length = the environment's time limit); the value after the
last step of an episode is taken as zero, whether it terminated or was cut at the horizon, because the
objective is the finite-horizon return that REINFORCE and the outer objective use, and the features
carry no time.

The outer gradient with PPO (our inference; the paper sheet gives REINFORCE only): the inner objective
handed to ``implicit_outer_gradient`` and to the unroll is ``inner_objective`` below, the clipped
surrogate with ``theta_old`` fixed at the current policy, plus the entropy bonus, on the buffer's
episodes. Evaluated at ``theta = theta_old`` its gradient is the advantage-weighted policy gradient
(tested), so its stationary points are those of PPO's update. It is differentiable in the blend through
the advantages: the blended rewards and the learned discount gamma_phi enter GAE, while the critic's
values are held fixed (``stop_gradient``). What this approximates:

- the critic's dependence on the blend (the critic is fitted to blended returns, so it moves with phi)
  is dropped;
- the Hessian is that of the surrogate at fixed ``theta_old``: it has the term
  ``A * grad log pi grad log pi^T`` from the probability ratio, and ignores how the advantages (and the
  state distribution) change with theta, like the REINFORCE surrogate's Hessian does;
- PPO's inner update takes several clipped minibatch steps per batch, so its fixed point is only
  approximately a stationary point of the surrogate; the implicit function theorem is applied as if it
  were one, as it is for REINFORCE;
- the buffer's older batches came from earlier policies; the surrogate treats every batch as collected by
  ``theta_old`` (the current policy), as the REINFORCE objective treats them as on-policy;
- the unrolled estimator differentiates through ``unroll_steps`` full-buffer steps of this surrogate
  with ``theta_old`` fixed at the unroll's start (PPO epochs on the buffer; the clip can act after the
  first step), not through the minibatch updates of the inner learner.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.barfi.reinforce import ascent_step, log_policy
from jaxrl.gae import truncation_aware_gae


def init_critic(num_features: int) -> jax.Array:
    return jnp.zeros((num_features,), jnp.float32)


def critic_values(critic: jax.Array, features: jax.Array) -> jax.Array:
    return features @ critic


def masked_mean(x: jax.Array, alive: jax.Array) -> jax.Array:
    mask = alive.astype(jnp.float32)
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def episode_advantages(
    rewards: jax.Array,
    values: jax.Array,
    alive: jax.Array,
    gamma: float | jax.Array,
    gae_lambda: float | jax.Array,
    normalise: bool,
) -> tuple[jax.Array, jax.Array]:
    """GAE along the last (time) axis of fixed-length episodes: ``(advantages, value_targets)``.

    The value after an episode's last alive step is zero (see the module docstring). Differentiable in
    ``rewards`` and ``gamma``; zero where not alive. With ``normalise`` the advantages are standardised
    over the alive steps (the value targets are not).
    """
    rewards = jnp.where(alive, rewards, 0.0)
    values = jnp.where(alive, values, 0.0)
    next_alive = jnp.concatenate([alive[..., 1:], jnp.zeros_like(alive[..., :1])], axis=-1)
    next_values = jnp.concatenate([values[..., 1:], jnp.zeros_like(values[..., :1])], axis=-1)
    ended = ~next_alive  # the last alive step of an episode, and every step after it
    time_major = lambda x: jnp.moveaxis(x, -1, 0)
    advantages, targets = truncation_aware_gae(
        time_major(rewards),
        time_major(values),
        time_major(next_values),
        time_major(ended),
        time_major(ended),
        gamma,
        gae_lambda,
    )
    advantages = jnp.where(alive, jnp.moveaxis(advantages, 0, -1), 0.0)
    targets = jnp.where(alive, jnp.moveaxis(targets, 0, -1), 0.0)
    if normalise:
        mean = masked_mean(advantages, alive)
        std = jnp.sqrt(masked_mean((advantages - mean) ** 2, alive))
        advantages = jnp.where(alive, (advantages - mean) / (std + 1e-8), 0.0)
    return advantages, targets


def chosen_log_probs(theta: jax.Array, features: jax.Array, actions: jax.Array) -> jax.Array:
    return jnp.take_along_axis(log_policy(theta, features), actions[..., None], axis=-1)[..., 0]


def clipped_surrogate(
    theta: jax.Array,
    old_log_probs: jax.Array,
    features: jax.Array,
    actions: jax.Array,
    advantages: jax.Array,
    alive: jax.Array,
    clip_eps: float | jax.Array,
    entropy_coef: float | jax.Array,
) -> jax.Array:
    """PPO's clipped surrogate plus the entropy bonus, maximised; per-step mean over the alive steps.

    (``jaxrl.losses.ppo_loss`` averages over every entry of its arrays, including the padding steps
    after an episode ended, and standardises advantages inside; hence this masked form.)
    """
    log_probs = log_policy(theta, features)
    chosen = jnp.take_along_axis(log_probs, actions[..., None], axis=-1)[..., 0]
    ratio = jnp.exp(chosen - old_log_probs)
    surrogate = jnp.minimum(ratio * advantages, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * advantages)
    entropy = -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)
    return masked_mean(surrogate + entropy_coef * entropy, alive)


def value_loss(critic: jax.Array, features: jax.Array, targets: jax.Array, alive: jax.Array) -> jax.Array:
    return 0.5 * masked_mean((critic_values(critic, features) - targets) ** 2, alive)


def inner_objective(
    theta: jax.Array,
    theta_old: jax.Array,
    critic: jax.Array,
    features: jax.Array,
    actions: jax.Array,
    rewards: jax.Array,
    alive: jax.Array,
    gamma: jax.Array,
    gae_lambda: jax.Array,
    clip_eps: jax.Array,
    entropy_coef: jax.Array,
    normalise: bool,
) -> jax.Array:
    """The PPO inner objective as a differentiable function of theta and of the rewards and discount
    (hence of the blend); the critic's values and ``theta_old``'s probabilities are constants."""
    values = jax.lax.stop_gradient(critic_values(critic, features))
    advantages, _ = episode_advantages(rewards, values, alive, gamma, gae_lambda, normalise)
    old_log_probs = jax.lax.stop_gradient(chosen_log_probs(theta_old, features, actions))
    return clipped_surrogate(theta, old_log_probs, features, actions, advantages, alive, clip_eps, entropy_coef)


def ppo_update(
    theta: jax.Array,
    theta_opt: Any,
    critic: jax.Array,
    key: jax.Array,
    features: jax.Array,
    actions: jax.Array,
    rewards: jax.Array,
    alive: jax.Array,
    gamma: jax.Array,
    *,
    gae_lambda: jax.Array,
    clip_eps: jax.Array,
    entropy_coef: jax.Array,
    actor_lr: jax.Array,
    critic_lr: jax.Array,
    epochs: int,
    minibatches: int,
    normalise: bool,
) -> tuple[jax.Array, Any, jax.Array, dict[str, jax.Array]]:
    """One PPO update on a batch of episodes (leading axis E): advantages from the critic before the
    update, then ``epochs`` passes over ``minibatches`` shuffled minibatches of whole episodes, each an
    RMSprop ascent step of the clipped surrogate for the policy and a gradient step of the value loss
    for the critic. Returns ``(theta, theta_opt, critic, metrics)``."""
    advantages, targets = episode_advantages(
        rewards, critic_values(critic, features), alive, gamma, gae_lambda, normalise
    )
    old_log_probs = chosen_log_probs(theta, features, actions)
    data = (features, actions, old_log_probs, advantages, targets, alive)
    num_episodes = actions.shape[0]
    size = num_episodes // minibatches

    def epoch(carry, key):
        order = jax.random.permutation(key, num_episodes)
        shuffled = jax.tree.map(lambda x: x[order].reshape(minibatches, size, *x.shape[1:]), data)

        def minibatch_step(carry, mb):
            theta, theta_opt, critic = carry
            feats, acts, old, adv, tgt, live = mb
            grads = jax.grad(clipped_surrogate)(theta, old, feats, acts, adv, live, clip_eps, entropy_coef)
            theta, theta_opt = ascent_step(theta, grads, theta_opt, actor_lr)
            critic = critic - critic_lr * jax.grad(value_loss)(critic, feats, tgt, live)
            return (theta, theta_opt, critic), None

        return jax.lax.scan(minibatch_step, carry, shuffled)[0], None

    (theta, theta_opt, critic), _ = jax.lax.scan(epoch, (theta, theta_opt, critic), jax.random.split(key, epochs))
    metrics = {"value_loss": value_loss(critic, features, targets, alive)}
    return theta, theta_opt, critic, metrics

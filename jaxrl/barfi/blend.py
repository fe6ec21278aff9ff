"""The learned reward blend, the learned discount, their regularisers, and potential-based shaping.

BARFI's blended reward on state features f(s):

    r_phi(s) = phi_1(s) + r_p + phi_2(s) * r_aux,   [phi_1(s), phi_2(s)] = f(s) @ W + c,

started at W = 0, c = (0, 1), so that r_phi begins as the naive sum r_p + r_aux. With no features
(``num_features=0``) this is the paper's state-independent form (b1 - 1) + r_p + b3 * r_aux with
b1 = c_1 + 1 and b3 = c_2. The learned discount is gamma_phi = sigmoid(psi), psi0 = 4.6 (about 0.99).
The regularisers (``blend_regulariser``) are placed as in the authors' code.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

PSI_INIT = 4.6


@struct.dataclass
class BlendParams:
    weights: jax.Array  # (num_features, 2): the linear head for [phi_1, phi_2]
    bias: jax.Array  # (2,)
    psi: jax.Array  # (): gamma_phi = sigmoid(psi)


def init_blend(num_features: int, psi: float = PSI_INIT) -> BlendParams:
    """The blend that equals the naive sum r_p + r_aux with gamma_phi = sigmoid(psi)."""
    return BlendParams(
        weights=jnp.zeros((num_features, 2), jnp.float32),
        bias=jnp.array([0.0, 1.0], jnp.float32),
        psi=jnp.asarray(psi, jnp.float32),
    )


def blend_heads(blend: BlendParams, features: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(phi_1(s), phi_2(s))`` for features of shape ``(..., num_features)``."""
    heads = features @ blend.weights + blend.bias
    return heads[..., 0], heads[..., 1]


def blend_reward(blend: BlendParams, features: jax.Array, r_primary: jax.Array, r_aux: jax.Array) -> jax.Array:
    phi_1, phi_2 = blend_heads(blend, features)
    return phi_1 + r_primary + phi_2 * r_aux


def learned_discount(blend: BlendParams) -> jax.Array:
    return jax.nn.sigmoid(blend.psi)


def parameter_norm(x: jax.Array) -> jax.Array:
    """The Euclidean (Frobenius) norm of an array, with gradient 0 at 0 (where the norm has no gradient;
    the blend's weights start at 0, and ``jnp.linalg.norm`` would give NaN there)."""
    squared = jnp.sum(x**2)
    nonzero = squared > 0
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, squared, 1.0)), 0.0)


def blend_regulariser(blend: BlendParams, gamma_l2: jax.Array, reward_l2: jax.Array) -> jax.Array:
    """``gamma_L2 * gamma_phi + reward_L2 * (||W|| + ||c||)``: subtracted from the outer objective.

    Where the authors' code puts them (``BarfiNeumann.outer_Neumann``): the discount term is on the
    discount's *output* gamma_phi ("don't want gamma param to go to zero; want gamma output to go to
    zero"), so it favours shorter horizons; the reward term is ``utils.L2_reg(align_rewards)``, the sum
    over the blend head's parameter tensors (weights and bias) of each tensor's norm -- the norm, not
    its square, and on the parameters, not on the head's outputs. Penalising the bias pulls phi_2's
    constant part from its start at 1 toward 0 (and phi_1's toward 0).
    """
    reward_norm = parameter_norm(blend.weights) + parameter_norm(blend.bias)
    return gamma_l2 * learned_discount(blend) + reward_l2 * reward_norm


def potential_shaped_reward(
    r_primary: jax.Array, potential: jax.Array, alive: jax.Array, gamma: float | jax.Array
) -> jax.Array:
    """``r_p + gamma * Phi_{t+1} - Phi_t`` along the last (time) axis; Phi_t = 0 once the episode is over.

    ``potential[..., t]`` is Phi at step t (BARFI's baseline uses Phi = r_aux observed at step t).
    The discounted sum telescopes: sum_t gamma^t shaped_t = sum_t gamma^t r_p,t - Phi_0.
    """
    potential = jnp.where(alive, potential, 0.0)
    next_potential = jnp.concatenate([potential[..., 1:], jnp.zeros_like(potential[..., :1])], axis=-1)
    return jnp.where(alive, r_primary + gamma * next_potential - potential, 0.0)


def discounted_returns(rewards: jax.Array, alive: jax.Array, gamma: float | jax.Array) -> jax.Array:
    """Monte-Carlo returns G_t = r_t + gamma * G_{t+1} along the last axis; zero where not alive.

    Differentiable in ``rewards`` and ``gamma`` (the outer gradient goes through both).
    """
    rewards = jnp.where(alive, rewards, 0.0)
    moved = jnp.moveaxis(rewards, -1, 0)

    def backward(carry, reward):
        ret = reward + gamma * carry
        return ret, ret

    _, returns = jax.lax.scan(backward, jnp.zeros_like(moved[0]), moved, reverse=True)
    return jnp.where(alive, jnp.moveaxis(returns, 0, -1), 0.0)

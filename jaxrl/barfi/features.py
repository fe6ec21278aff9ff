"""State features shared by the linear policy and the reward blend, one map per BARFI domain.

GridWorld and MountainCar: a Fourier basis cos(pi * c . s) over the state scaled to [0, 1]^2, all
c in {0..order}^2 (order 3: 16 features). CartPole: the scaled state and a constant (5 features), on
which a linear policy can express the PD controller of the heuristic.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp


def fourier_basis(scaled_state: jax.Array, order: int) -> jax.Array:
    dims = scaled_state.shape[-1]
    coefficients = jnp.array(list(itertools.product(range(order + 1), repeat=dims)), jnp.float32)
    return jnp.cos(jnp.pi * scaled_state @ coefficients.T)


def gridworld_features(obs: jax.Array, order: int = 3) -> jax.Array:
    return fourier_basis(obs, order)


def mountain_car_features(obs: jax.Array, order: int = 3) -> jax.Array:
    low = jnp.array([-1.2, -0.07], jnp.float32)
    high = jnp.array([0.6, 0.07], jnp.float32)
    return fourier_basis((obs - low) / (high - low), order)


def cartpole_features(obs: jax.Array) -> jax.Array:
    scale = jnp.array([2.4, 3.0, 0.21, 3.0], jnp.float32)
    scaled = obs / scale
    return jnp.concatenate([scaled, jnp.ones_like(scaled[..., :1])], axis=-1)


FEATURES: dict[str, Callable[[jax.Array], jax.Array]] = {
    "BARFI-GridWorld": gridworld_features,
    "BARFI-MountainCar": mountain_car_features,
    "BARFI-CartPole": cartpole_features,
}


def features_for(env_name: str) -> Callable[[jax.Array], jax.Array]:
    if env_name not in FEATURES:
        raise ValueError(f"no BARFI feature map for {env_name!r}; known: {sorted(FEATURES)}")
    return FEATURES[env_name]

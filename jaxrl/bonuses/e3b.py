"""E3B, Exploration via Elliptical Episodic Bonuses (Henaff et al. 2022): an episodic bonus.

b_t = phi(s_t)^T C^{-1} phi(s_t), with C = lambda I + sum of phi phi^T over the earlier steps of this
episode. Per environment the inverse C^{-1} ``[N, d, d]`` starts at I / lambda (lambda = ``ridge`` =
0.1) and after each step takes the Sherman-Morrison update with u = C^{-1} phi:

    C^{-1} <- C^{-1} - u u^T / (1 + phi . u)

The bonus paired with a_t is computed from s_t (not s_{t+1}); at the first step of an episode it is 0
(phi(s_0) still enters C), and C^{-1} is reset where the episode ends, never at a learner batch.

phi is a small MLP on the selected observation features, trained only through an inverse-dynamics
model: an MLP with one hidden layer of 256 on [phi(s_t), phi(s_{t+1})] predicts a_t with a
cross-entropy loss, optimised with its own Adam (1e-4 as in the authors' code). The authors' phi is a
1024-dimensional copy of the policy trunk; 64 dimensions are the default here (32 to 256 work in the
JAX ports the paper sheet knows of).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.bonuses.base import (
    MLP,
    Batch,
    as_int_tuple,
    as_key_tuple,
    flat_features,
    merge_time_and_envs,
    require_positive,
)


@struct.dataclass
class EmbeddingState:
    params: Any  # {"embed": ..., "inverse": ...}
    opt_state: Any


@dataclass(frozen=True)
class InverseDynamicsEmbedding:
    """phi(s) trained by predicting a_t from [phi(s_t), phi(s_{t+1})]; reusable by other bonuses."""

    obs_keys: tuple[str, ...] | None = None
    hidden: tuple[int, ...] = (256,)
    embed_dim: int = 64
    inverse_hidden: int = 256
    learning_rate: float = 1e-4
    train_steps: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "obs_keys", as_key_tuple(self.obs_keys))
        object.__setattr__(self, "hidden", as_int_tuple(self.hidden, "hidden"))
        for name in ("embed_dim", "inverse_hidden", "train_steps"):
            as_int_tuple(getattr(self, name), name)
        require_positive("learning_rate", self.learning_rate)

    @property
    def optimizer(self) -> optax.GradientTransformation:
        return optax.adam(self.learning_rate)

    def _embed_net(self) -> MLP:
        return MLP(self.hidden + (self.embed_dim,))

    @staticmethod
    def _num_actions(params: Any) -> int:
        # The action count is fixed at init; read it back from the output layer's shape (static).
        return params["inverse"]["params"]["dense_1"]["kernel"].shape[-1]

    def init(self, key: jax.Array, obs_example: Any, num_actions: int) -> EmbeddingState:
        if not (isinstance(num_actions, int) and num_actions > 1):
            raise ValueError(f"num_actions must be an integer > 1 for inverse dynamics, got {num_actions!r}")
        features = flat_features(obs_example, self.obs_keys, batch_ndim=0)[None]
        embed_key, inverse_key = jax.random.split(key)
        pair = jnp.zeros((1, 2 * self.embed_dim), jnp.float32)
        params = {
            "embed": self._embed_net().init(embed_key, features),
            "inverse": MLP((self.inverse_hidden, num_actions)).init(inverse_key, pair),
        }
        return EmbeddingState(params=params, opt_state=self.optimizer.init(params))

    def embed(self, params: Any, obs: Any, batch_ndim: int = 1) -> jax.Array:
        """phi for a batch of observations: ``[*batch, embed_dim]``."""
        return self._embed_net().apply(params["embed"], flat_features(obs, self.obs_keys, batch_ndim))

    def inverse_logits(self, params: Any, obs: Any, next_obs: Any) -> jax.Array:
        pair = jnp.concatenate([self.embed(params, obs), self.embed(params, next_obs)], axis=-1)
        return MLP((self.inverse_hidden, self._num_actions(params))).apply(params["inverse"], pair)

    def update(self, state: EmbeddingState, batch: Batch) -> tuple[EmbeddingState, dict[str, jax.Array]]:
        obs = merge_time_and_envs(batch["obs"])
        next_obs = merge_time_and_envs(batch["next_obs"])
        actions = jnp.reshape(batch["action"], (-1,)).astype(jnp.int32)

        def loss_fn(params: Any) -> tuple[jax.Array, jax.Array]:
            logits = self.inverse_logits(params, obs, next_obs)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, actions).mean()
            return loss, jnp.mean(jnp.argmax(logits, axis=-1) == actions)

        def train_step(
            carry: tuple[Any, Any], _: None
        ) -> tuple[tuple[Any, Any], tuple[jax.Array, jax.Array]]:
            params, opt_state = carry
            (loss, accuracy), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (loss, accuracy)

        (params, opt_state), (losses, accuracies) = jax.lax.scan(
            train_step, (state.params, state.opt_state), None, length=self.train_steps
        )
        metrics = {"inverse_dynamics_loss": losses[0], "inverse_dynamics_accuracy": accuracies[0]}
        return EmbeddingState(params=params, opt_state=opt_state), metrics


def sherman_morrison_step(inverse: jax.Array, phi: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Elliptical bonus phi^T A^{-1} phi ``[N]`` and the inverse of A + phi phi^T ``[N, d, d]``."""
    u = jnp.einsum("nij,nj->ni", inverse, phi)
    bonus = jnp.sum(phi * u, axis=-1)
    inverse = inverse - u[:, :, None] * u[:, None, :] / (1.0 + bonus)[:, None, None]
    return bonus, inverse


@struct.dataclass
class E3BState:
    embedding: EmbeddingState
    inverse_covariance: jax.Array  # [N, d, d]
    first_step: jax.Array  # bool [N]


@dataclass(frozen=True)
class E3BBonus:
    """E3B; see the module docstring. ``ridge`` is lambda."""

    obs_keys: tuple[str, ...] | None = None
    """Observation keys fed to the network (None: all leaves, flattened)."""
    hidden: tuple[int, ...] = (256,)
    """Hidden widths of the embedding MLP phi."""
    embed_dim: int = 64
    """Size of the embedding phi(s)."""
    inverse_hidden: int = 256
    """Hidden width of the inverse-dynamics model."""
    learning_rate: float = 1e-4
    """Adam learning rate of the bonus's own network."""
    train_steps: int = 1
    """Full-batch training steps of the bonus's network per PPO update."""
    ridge: float = 0.1
    """lambda: C starts at lambda I."""

    def __post_init__(self) -> None:
        embedding = self.embedding
        object.__setattr__(self, "obs_keys", embedding.obs_keys)
        object.__setattr__(self, "hidden", embedding.hidden)
        require_positive("ridge", self.ridge)

    @property
    def embedding(self) -> InverseDynamicsEmbedding:
        return InverseDynamicsEmbedding(
            self.obs_keys,
            self.hidden,
            self.embed_dim,
            self.inverse_hidden,
            self.learning_rate,
            self.train_steps,
        )

    def _initial_inverse(self, num_envs: int) -> jax.Array:
        eye = jnp.eye(self.embed_dim, dtype=jnp.float32) / self.ridge
        return jnp.broadcast_to(eye, (num_envs, self.embed_dim, self.embed_dim))

    def init(self, key: jax.Array, obs_example: Any, num_actions: int, num_envs: int) -> E3BState:
        return E3BState(
            embedding=self.embedding.init(key, obs_example, num_actions),
            inverse_covariance=self._initial_inverse(num_envs),
            first_step=jnp.ones((num_envs,), bool),
        )

    def step(
        self, state: E3BState, obs: Any, action: jax.Array, next_obs: Any, done: jax.Array
    ) -> tuple[jax.Array, E3BState]:
        done = jnp.asarray(done, bool)
        phi = self.embedding.embed(state.embedding.params, obs)
        bonus, inverse = sherman_morrison_step(state.inverse_covariance, phi)
        bonus = jnp.where(state.first_step, 0.0, bonus)
        inverse = jnp.where(done[:, None, None], self._initial_inverse(done.shape[0]), inverse)
        return bonus, state.replace(inverse_covariance=inverse, first_step=done)

    def update(self, state: E3BState, batch: Batch) -> tuple[E3BState, dict[str, jax.Array]]:
        embedding, metrics = self.embedding.update(state.embedding, batch)
        return state.replace(embedding=embedding), {f"e3b_{k}": v for k, v in metrics.items()}

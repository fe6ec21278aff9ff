"""Random Network Distillation (Burda et al. 2019): a global bonus.

A fixed, randomly initialised target network f and a trained predictor g map the selected observation
features to ``output_dim`` numbers. The bonus paired with a_t is the prediction error on the NEXT
observation, ||g(s_{t+1}) - f(s_{t+1})||: the plain L2 norm as in the authors' code, or its square
(``squared=True``) as the paper writes it. The predictor is trained in ``update`` on the rollout's next
observations with a mean-squared error and its own Adam optimiser.
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
class RNDState:
    target_params: Any
    predictor_params: Any
    opt_state: Any


@dataclass(frozen=True)
class RNDBonus:
    """RND bonus from s_{t+1}; see the module docstring."""

    obs_keys: tuple[str, ...] | None = None
    """Observation keys fed to the network (None: all leaves, flattened)."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of the target and predictor MLPs."""
    output_dim: int = 64
    """Output size of the target and predictor."""
    learning_rate: float = 1e-4
    """Adam learning rate of the bonus's own network."""
    train_steps: int = 1
    """Full-batch training steps of the bonus's network per PPO update."""
    squared: bool = False
    """Squared prediction error (the paper) instead of its L2 norm (the authors' code)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "obs_keys", as_key_tuple(self.obs_keys))
        object.__setattr__(self, "hidden", as_int_tuple(self.hidden, "hidden"))
        as_int_tuple(self.output_dim, "output_dim")
        as_int_tuple(self.train_steps, "train_steps")
        require_positive("learning_rate", self.learning_rate)

    @property
    def network(self) -> MLP:
        return MLP(self.hidden + (self.output_dim,))

    @property
    def optimizer(self) -> optax.GradientTransformation:
        return optax.adam(self.learning_rate)

    def init(self, key: jax.Array, obs_example: Any, num_actions: int, num_envs: int) -> RNDState:
        features = flat_features(obs_example, self.obs_keys, batch_ndim=0)[None]
        target_key, predictor_key = jax.random.split(key)
        predictor_params = self.network.init(predictor_key, features)
        return RNDState(
            target_params=self.network.init(target_key, features),
            predictor_params=predictor_params,
            opt_state=self.optimizer.init(predictor_params),
        )

    def _errors(self, predictor_params: Any, target_params: Any, features: jax.Array) -> jax.Array:
        target = jax.lax.stop_gradient(self.network.apply(target_params, features))
        return self.network.apply(predictor_params, features) - target

    def novelty(self, state: RNDState, obs: Any, batch_ndim: int = 1) -> jax.Array:
        """Prediction error for each observation of a batch (``batch_ndim`` leading axes)."""
        features = flat_features(obs, self.obs_keys, batch_ndim)
        errors = self._errors(state.predictor_params, state.target_params, features)
        squared_norm = jnp.sum(jnp.square(errors), axis=-1)
        return squared_norm if self.squared else jnp.sqrt(squared_norm)

    def step(
        self, state: RNDState, obs: Any, action: jax.Array, next_obs: Any, done: jax.Array
    ) -> tuple[jax.Array, RNDState]:
        return self.novelty(state, next_obs), state

    def update(self, state: RNDState, batch: Batch) -> tuple[RNDState, dict[str, jax.Array]]:
        features = flat_features(merge_time_and_envs(batch["next_obs"]), self.obs_keys, batch_ndim=1)

        def loss_fn(predictor_params: Any) -> jax.Array:
            return jnp.mean(jnp.square(self._errors(predictor_params, state.target_params, features)))

        def train_step(carry: tuple[Any, Any], _: None) -> tuple[tuple[Any, Any], jax.Array]:
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(
            train_step, (state.predictor_params, state.opt_state), None, length=self.train_steps
        )
        new_state = state.replace(predictor_params=params, opt_state=opt_state)
        return new_state, {"rnd_loss": losses[0]}

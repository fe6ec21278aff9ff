"""A PPO written the way gymnax clients write it (PureJaxRL's ``ppo.py`` shape), run on our environments.

This is client code, not ours: it knows nothing of ``jaxrl`` and sees an environment only through the
gymnax 1.0 API and gymnax's own wrappers (``gymnax.wrappers.purerl.FlattenObservationWrapper`` and
``LogWrapper``). Like PureJaxRL's ``ppo.py`` it is one ``make_train(config) -> train(rng)`` with the
same upper-case config keys, builds its network from ``env.observation_space(params).shape`` and
``env.action_space(params).n`` inside the jitted ``train``, and treats ``terminated | truncated`` as
``done`` (the edit every gymnax 1.0 user makes for the 6-value step). The only lines that know our
package are the ``envs.make`` call and, for dict observations, ``envs.FlattenObservation`` (gymnax's
flatten wrapper takes Box observations only).

It is written here from the algorithm (PureJaxRL's code itself is not copied into this repository);
the tests in ``tests/test_gymnax_clients.py`` run it, and ``benchmarks/`` may import it as a
reference of the same shape.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.linen.initializers import constant, orthogonal
from flax.training.train_state import TrainState
from gymnax.wrappers.purerl import FlattenObservationWrapper, LogWrapper

import envs


class ActorCritic(nn.Module):
    """Two separate tanh MLPs (64, 64): logits and a value."""

    action_dim: int
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        act = nn.relu if self.activation == "relu" else nn.tanh
        hidden = dict(kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))
        actor = act(nn.Dense(64, **hidden)(x))
        actor = act(nn.Dense(64, **hidden)(actor))
        logits = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01), bias_init=constant(0.0))(actor)
        critic = act(nn.Dense(64, **hidden)(x))
        critic = act(nn.Dense(64, **hidden)(critic))
        value = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0))(critic)
        return logits, jnp.squeeze(value, axis=-1)


class Transition(NamedTuple):
    done: jax.Array
    action: jax.Array
    value: jax.Array
    reward: jax.Array
    log_prob: jax.Array
    obs: jax.Array
    info: dict[str, jax.Array]


def make_env(config: dict[str, Any]) -> tuple[Any, Any]:
    env, env_params = envs.make(config["ENV_NAME"], **config.get("ENV_KWARGS", {}))
    if isinstance(env.observation_space(env_params), envs.spaces.Dict):
        env = envs.FlattenObservation(env)  # gymnax's wrapper below flattens Box observations only
    return LogWrapper(FlattenObservationWrapper(env)), env_params


def make_train(config: dict[str, Any]):
    config = dict(config)
    config["NUM_UPDATES"] = int(config["TOTAL_TIMESTEPS"]) // config["NUM_STEPS"] // config["NUM_ENVS"]
    config["MINIBATCH_SIZE"] = config["NUM_ENVS"] * config["NUM_STEPS"] // config["NUM_MINIBATCHES"]
    env, env_params = make_env(config)

    def learning_rate(count: jax.Array) -> jax.Array:
        updates_done = count // (config["NUM_MINIBATCHES"] * config["UPDATE_EPOCHS"])
        return config["LR"] * (1.0 - updates_done / config["NUM_UPDATES"])

    def train(rng: jax.Array) -> dict[str, Any]:
        network = ActorCritic(env.action_space(env_params).n, activation=config["ACTIVATION"])
        rng, init_rng = jax.random.split(rng)
        params = network.init(init_rng, jnp.zeros(env.observation_space(env_params).shape))
        lr = learning_rate if config["ANNEAL_LR"] else config["LR"]
        tx = optax.chain(optax.clip_by_global_norm(config["MAX_GRAD_NORM"]), optax.adam(lr, eps=1e-5))
        train_state = TrainState.create(apply_fn=network.apply, params=params, tx=tx)

        rng, reset_rng = jax.random.split(rng)
        reset_keys = jax.random.split(reset_rng, config["NUM_ENVS"])
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, env_params)

        def update_step(runner_state, _):
            def env_step(runner_state, _):
                train_state, env_state, last_obs, rng = runner_state
                rng, action_rng, step_rng = jax.random.split(rng, 3)
                logits, value = network.apply(train_state.params, last_obs)
                action = jax.random.categorical(action_rng, logits)
                log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
                step_keys = jax.random.split(step_rng, config["NUM_ENVS"])
                obs, env_state, reward, terminated, truncated, info = jax.vmap(
                    env.step, in_axes=(0, 0, 0, None)
                )(step_keys, env_state, action, env_params)
                done = jnp.logical_or(terminated, truncated)
                info = {k: v for k, v in info.items() if k != "final_observation"}
                transition = Transition(done, action, value, reward, log_prob, last_obs, info)
                return (train_state, env_state, obs, rng), transition

            runner_state, traj = jax.lax.scan(env_step, runner_state, None, config["NUM_STEPS"])
            train_state, env_state, last_obs, rng = runner_state
            _, last_value = network.apply(train_state.params, last_obs)

            def gae_step(carry, t: Transition):
                gae, next_value = carry
                not_done = 1.0 - t.done
                delta = t.reward + config["GAMMA"] * next_value * not_done - t.value
                gae = delta + config["GAMMA"] * config["GAE_LAMBDA"] * not_done * gae
                return (gae, t.value), gae

            _, advantages = jax.lax.scan(
                gae_step, (jnp.zeros_like(last_value), last_value), traj, reverse=True
            )
            targets = advantages + traj.value

            def update_epoch(update_state, _):
                train_state, rng = update_state

                def loss_fn(params, batch):
                    t, gae, target = batch
                    logits, value = network.apply(params, t.obs)
                    log_probs = jax.nn.log_softmax(logits)
                    log_prob = jnp.take_along_axis(log_probs, t.action[:, None], axis=-1)[:, 0]
                    value_clipped = t.value + jnp.clip(value - t.value, -config["CLIP_EPS"], config["CLIP_EPS"])
                    value_loss = 0.5 * jnp.maximum(
                        jnp.square(value - target), jnp.square(value_clipped - target)
                    ).mean()
                    ratio = jnp.exp(log_prob - t.log_prob)
                    gae = (gae - gae.mean()) / (gae.std() + 1e-8)
                    clipped = jnp.clip(ratio, 1.0 - config["CLIP_EPS"], 1.0 + config["CLIP_EPS"])
                    actor_loss = -jnp.minimum(ratio * gae, clipped * gae).mean()
                    entropy = -(jnp.exp(log_probs) * log_probs).sum(-1).mean()
                    total = actor_loss + config["VF_COEF"] * value_loss - config["ENT_COEF"] * entropy
                    return total, (value_loss, actor_loss, entropy)

                def update_minibatch(train_state, batch):
                    (total, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(train_state.params, batch)
                    return train_state.apply_gradients(grads=grads), (total, *aux)

                rng, perm_rng = jax.random.split(rng)
                batch_size = config["MINIBATCH_SIZE"] * config["NUM_MINIBATCHES"]
                permutation = jax.random.permutation(perm_rng, batch_size)
                batch = jax.tree.map(
                    lambda x: x.reshape((batch_size,) + x.shape[2:]), (traj, advantages, targets)
                )
                minibatches = jax.tree.map(
                    lambda x: jnp.take(x, permutation, axis=0).reshape(
                        (config["NUM_MINIBATCHES"], -1) + x.shape[1:]
                    ),
                    batch,
                )
                train_state, losses = jax.lax.scan(update_minibatch, train_state, minibatches)
                return (train_state, rng), losses

            (train_state, rng), losses = jax.lax.scan(
                update_epoch, (train_state, rng), None, config["UPDATE_EPOCHS"]
            )
            metric = {**traj.info, "loss": jax.tree.map(jnp.mean, losses)}
            return (train_state, env_state, last_obs, rng), metric

        rng, run_rng = jax.random.split(rng)
        runner_state = (train_state, env_state, obs, run_rng)
        runner_state, metrics = jax.lax.scan(update_step, runner_state, None, config["NUM_UPDATES"])
        return {"runner_state": runner_state, "metrics": metrics}

    return train


def mean_returned_episode_return(metrics: dict[str, Any]) -> np.ndarray:
    """Per update: the mean return of the episodes that ended during it (NaN if none did)."""
    ended = np.asarray(metrics["returned_episode"])
    returns = np.asarray(metrics["returned_episode_returns"])
    axes = tuple(range(1, ended.ndim))
    count = ended.sum(axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (returns * ended).sum(axis=axes) / count, np.nan)


CARTPOLE_CONFIG: dict[str, Any] = {
    "LR": 2.5e-4,
    "NUM_ENVS": 4,
    "NUM_STEPS": 128,
    "TOTAL_TIMESTEPS": 5e5,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "ACTIVATION": "tanh",
    "ENV_NAME": "CartPole-v1",
    "ANNEAL_LR": True,
}

"""PPO learning checks on the CPU (slow marker; CI runs them as a separate step)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.ppo import PPOConfig, make_train

pytestmark = pytest.mark.slow


def train_seeds(config: PPOConfig, num_seeds: int, updates_per_chunk: int) -> dict:
    """All seeds as one vmapped program; metrics stacked ``[seed, chunk]``."""
    trainer = make_train(config, updates_per_chunk=updates_per_chunk)
    hparams = jax.tree.map(lambda x: jnp.stack([x] * num_seeds), config.hyperparams())
    keys = jnp.stack([jax.random.PRNGKey(seed) for seed in range(num_seeds)])
    _, metrics = jax.jit(jax.vmap(trainer.train))(keys, hparams)
    return jax.device_get(metrics)


def per_episode(metrics: dict, key: str, last_chunks: int) -> np.ndarray:
    window = slice(-last_chunks, None)
    return metrics[key][:, window].sum(1) / np.maximum(metrics["episodes"][:, window].sum(1), 1)


def test_cartpole_reaches_475_in_500k_steps_for_4_of_5_seeds():
    config = PPOConfig(env="CartPole-v1", total_timesteps=500_000)  # the classic setting
    metrics = train_seeds(config, num_seeds=5, updates_per_chunk=8)  # 976 updates = 122 chunks
    returns = per_episode(metrics, "episode_return_sum", last_chunks=12)  # the last ~10% of training
    print("CartPole mean return over the last 10% of training per seed:", returns)
    assert (returns >= 475).sum() >= 4, returns


def test_recurrent_agent_solves_the_memory_task_and_feed_forward_cannot():
    def success(network: str) -> np.ndarray:
        config = PPOConfig(
            env="MemoryCorridor",
            env_kwargs={"length": 5},
            network=network,
            num_envs=16,
            num_steps=32,
            num_minibatches=4,
            total_timesteps=200_000,
            learning_rate=1e-3,
            gru_size=32,
            hidden_sizes=(32,),
        )
        metrics = train_seeds(config, num_seeds=3, updates_per_chunk=10)
        return per_episode(metrics, "success_sum", last_chunks=5)

    recurrent, feed_forward = success("gru"), success("mlp")
    print("memory task success: gru", recurrent, "mlp", feed_forward)
    assert (recurrent >= 0.95).all(), recurrent
    assert (feed_forward <= 0.6).all(), feed_forward  # chance is 0.5: the cue is gone by the end


def test_pendulum_gaussian_head_reaches_minus_700_within_1m_steps():
    config = PPOConfig(
        env="Pendulum-v1",
        num_envs=16,
        num_steps=128,
        update_epochs=10,
        num_minibatches=32,
        learning_rate=1e-3,
        gamma=0.95,
        gae_lambda=0.95,
        ent_coef=0.0,
        clip_value_loss=False,
        total_timesteps=1_000_000,
    )
    metrics = train_seeds(config, num_seeds=3, updates_per_chunk=12)
    returns = per_episode(metrics, "episode_return_sum", last_chunks=4)
    print("Pendulum mean return at the end of training per seed:", returns)
    assert (returns >= -700).all(), returns

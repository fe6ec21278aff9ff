"""Rollout collection: the episode statistics summed in the scan's carry equal the per-step ones."""

from __future__ import annotations

import jax
import numpy as np

from jaxrl.ppo import PPOConfig, make_train
from jaxrl.rollout import collect_rollout, summarize_episodes


def test_episode_sums_in_the_carry_equal_the_sums_of_per_step_statistics():
    config = PPOConfig(env="CartPole-v1", num_envs=4, num_steps=8, total_timesteps=64)
    trainer = make_train(config)
    state = trainer.init(jax.random.PRNGKey(0))

    def rollout(episode_sums: bool):
        return collect_rollout(
            jax.random.PRNGKey(3),
            state.rollout,
            state.params,
            env=trainer.env,
            env_params=trainer.env_params,
            network=trainer.network,
            num_steps=200,  # several CartPole episodes per environment with a fresh policy
            episode_sums=episode_sums,
        )

    _, per_step = jax.jit(lambda: rollout(False))()
    _, summed = jax.jit(lambda: rollout(True))()
    expected = summarize_episodes(per_step.stats)
    assert float(expected["episodes"]) >= 8, "the rollout must finish several episodes"
    assert set(summed.stats) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(summed.stats[name], value, rtol=1e-6, err_msg=name)
    np.testing.assert_array_equal(summed.reward, per_step.reward)  # the same rollout otherwise

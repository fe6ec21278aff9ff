"""RL-squared learns to explore and then exploit on hidden-goal maze trials (``papers/meta_rl.md``):
with memory across the trial, structure (the goal fixed for the trial) and the greedy objective, the
agent reaches the goal in episode 5 of a trial in at most 70% of the steps it needs in episode 1.

Slow (a few minutes on a 2-core CPU): ``pytest -m slow tests/test_rl2_learning.py``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.meta.evaluate import evaluate_goal_trials, evaluate_seeds
from jaxrl.meta.rl2 import RL2Config, make_train

SEEDS = 3
MAX_STEPS_RATIO = 0.7
CONFIG = RL2Config(
    env="GoalTrials-5x5",
    env_kwargs={"layout": "maze", "max_episode_steps": 20, "num_episodes": 5},
    total_timesteps=192_000,
    num_envs=32,
    num_steps=100,
    update_epochs=4,
    num_minibatches=4,
    learning_rate=1e-3,
    ent_coef=0.01,
    gamma=0.95,  # gamma_step: credit inside an inner episode only (greedy objective)
    gae_lambda=0.95,
    hidden_sizes=(64, 64),
    gru_size=64,
    memory="trial",
    objective="greedy",
)


@pytest.mark.slow
def test_memory_and_structure_reach_the_goal_faster_in_episode_5():
    trainer = make_train(CONFIG, updates_per_chunk=CONFIG.num_updates)
    keys = jax.random.split(jax.random.key(0), SEEDS)
    hparams = jax.tree.map(lambda x: jnp.broadcast_to(x, (SEEDS,)), CONFIG.hyperparams())
    state, _ = jax.jit(jax.vmap(trainer.train))(keys, hparams)
    record = evaluate_seeds(evaluate_goal_trials, trainer, state.params, jax.random.key(123), 256)
    steps = record["episode_steps"].mean(axis=1)  # [seeds, episodes], over fresh trials
    ratio = steps[:, -1] / steps[:, 0]
    print("steps by episode per seed:", np.round(steps, 2), "ratio:", np.round(ratio, 3))
    print("success by episode:", np.round(record["episode_reached"].mean(axis=1), 3))
    assert np.all(ratio <= MAX_STEPS_RATIO), f"episode-5 / episode-1 steps per seed: {ratio}"

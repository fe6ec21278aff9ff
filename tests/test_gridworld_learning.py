"""PPO learns the JAX gridworld tasks on the CPU (slow marker; the recorded run with curves is
``experiments/gridworld_learning.py``, results in ``results/gridworld_learning/summary.md``)."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxrl.ppo import PPOConfig, make_train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import gridworld_learning  # noqa: E402

pytestmark = pytest.mark.slow


def final_success(config: PPOConfig, num_seeds: int, num_chunks: int = 20) -> np.ndarray:
    """Per seed: successes / episodes over the last 10% of training. One compiled program is run once
    per seed (on a CPU this beats vmapping seeds for convolutional policies, whose per-seed kernels
    become a slow grouped convolution under ``vmap``)."""
    trainer = make_train(config, updates_per_chunk=max(1, config.num_updates // num_chunks))
    train = jax.jit(trainer.train)
    finals = []
    for seed in range(num_seeds):
        _, metrics = train(jax.random.PRNGKey(seed), config.hyperparams())
        metrics = jax.device_get(metrics)
        last = slice(-max(1, len(metrics["episodes"]) // 10), None)
        finals.append(metrics["success_sum"][last].sum() / max(metrics["episodes"][last].sum(), 1))
    return np.asarray(finals)


def test_ppo_solves_multiroom_n2():
    config = gridworld_learning.CONFIGS["MultiRoom-N2"]  # the recorded experiment's config
    success = final_success(config, num_seeds=2)
    print("MultiRoom-N2 final success per seed:", success)
    assert (success >= 0.9).all(), success


def test_ppo_solves_keyroom_s5():
    config = gridworld_learning.CONFIGS["KeyRoom-S5"]  # the recorded experiment's config
    success = final_success(config, num_seeds=2)
    print("KeyRoom-S5 final success per seed:", success)
    assert (success >= 0.9).all(), success

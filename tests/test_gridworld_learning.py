"""PPO learns the JAX gridworld tasks on the CPU (slow marker; the recorded run with curves is
``experiments/gridworld_learning.py``, results in ``results/gridworld_learning/summary.md``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from jaxrl.ppo import PPOConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import gridworld_learning  # noqa: E402

pytestmark = pytest.mark.slow


def final_success(config: PPOConfig, num_seeds: int) -> np.ndarray:
    """Per seed: successes / episodes over the last 10% of training, as the experiment computes it (one
    compiled program run once per seed)."""
    return gridworld_learning.final_success(gridworld_learning.train_seeds(config, num_seeds, vmap_seeds=False))


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

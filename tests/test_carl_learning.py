"""CaRL (papers/carl.md): PPO with the simple reward and a Beta head learns to drive in ``Driving-v0``,
judged on held-out routes with the mean of its Beta distribution (results/carl/learning.md).

The fast tests check that the evaluation routes are really held out; the learning check is slow."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import carl_learning  # noqa: E402
import carl_minibatch  # noqa: E402

import envs  # noqa: E402
from envs.driving.world import route_key  # noqa: E402


def test_held_out_keys_are_the_routes_the_environment_draws():
    """`held_out_route_keys` mirrors how ``Driving-v0`` with ``num_contexts=1`` picks its route."""
    _, params = envs.make("Driving-v0", num_contexts=1, context_seed=0)
    keys = np.asarray(carl_minibatch.held_out_route_keys(500, 3))
    for j in range(3):
        drawn = route_key(jax.random.PRNGKey(j), params.replace(context_seed=500 + j))
        np.testing.assert_array_equal(np.asarray(drawn), keys[j])


def test_check_held_out_refuses_overlap_and_fresh_routes():
    carl_minibatch.check_held_out({"num_contexts": 1000, "context_seed": 0}, 16, 10_000)
    with pytest.raises(ValueError, match="also training routes"):  # training level 0 is held-out route 0
        carl_minibatch.check_held_out({"num_contexts": 1000, "context_seed": 10_000}, 16, 10_000)
    with pytest.raises(ValueError, match="finite route set"):
        carl_minibatch.check_held_out({"num_contexts": -1}, 16, 10_000)


@pytest.mark.slow
def test_ppo_simple_reward_reaches_route_completion_0_8_on_held_out_routes():
    """The recorded configuration, 3 seeds as one program: the mean over seeds of each policy's route
    completion on 32 held-out routes reaches 0.8 (results/carl/learning.md)."""
    config = carl_learning.learning_config()
    rows = carl_learning.train_and_evaluate(config, [config.learning_rate] * carl_learning.TEST_SEEDS, num_evals=3)
    final = [row for row in rows if row["steps"] == rows[-1]["steps"]]
    assert len(final) == carl_learning.TEST_SEEDS
    assert np.mean([row["route_completion"] for row in final]) >= 0.8, final

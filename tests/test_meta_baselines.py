"""Bandit baselines (Thompson sampling, UCB1, greedy, oracle, random) and the exploration measures,
checked against direct numpy computations on a fixed bandit."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from envs.meta.bandits import make_structured_bandit
from jaxrl.meta import baseline_policy, distinct_arms, exploration_flags, run_baseline

MEANS = (0.2, 0.5, 0.8, 0.3, 0.1)
NUM_TRIALS = 256  # one shape for every run, so each policy compiles once


@pytest.fixture(scope="module")
def fixed_bandit():
    _, params = make_structured_bandit(
        num_arms=5, prior="fixed", fixed_means=MEANS, pulls_per_episode=20, num_episodes=2
    )
    play = lambda name: run_baseline(baseline_policy(name, params), jax.random.key(0), NUM_TRIALS, params)
    names = ("thompson", "ucb1", "greedy", "oracle", "random")
    runs = {name: jax.tree.map(np.asarray, play(name)) for name in names}
    return params, runs


def numpy_choice(name: str, counts: np.ndarray, sums: np.ndarray) -> int:
    """UCB1 and greedy written out directly (untried arms first, lowest index on ties)."""
    if np.any(counts == 0):
        return int(np.argmax(counts == 0))
    means = sums / counts
    if name == "greedy":
        return int(np.argmax(means))
    return int(np.argmax(means + np.sqrt(2.0 * np.log(counts.sum()) / counts)))


def test_regret_matches_numpy(fixed_bandit):
    """Every baseline's regret is the direct ``max(mu) - mu[arm]``, accumulated; the deterministic
    baselines choose exactly what the numpy version chooses given the same rewards."""
    params, runs = fixed_bandit
    means = np.asarray(MEANS, np.float32)
    for name, run in runs.items():
        regret = means.max() - means[run["arms"]]
        np.testing.assert_allclose(run["regret"], regret, atol=1e-6, err_msg=name)
        cumulative = np.cumsum(regret, axis=1, dtype=np.float64)
        np.testing.assert_allclose(run["cumulative_regret"], cumulative, rtol=1e-5, atol=1e-5, err_msg=name)
        assert np.all(run["best_arm"] == 2)
        assert set(np.unique(run["rewards"])) <= {0.0, 1.0}
    assert np.all(runs["oracle"]["arms"] == 2) and np.all(runs["oracle"]["cumulative_regret"] == 0)
    for name in ("ucb1", "greedy"):
        for trial in range(8):
            arms, rewards = runs[name]["arms"][trial], runs[name]["rewards"][trial]
            counts, sums = np.zeros(5), np.zeros(5)
            for t in range(len(arms)):
                assert arms[t] == numpy_choice(name, counts, sums), (name, trial, t)
                counts[arms[t]] += 1
                sums[arms[t]] += rewards[t]


def test_thompson_and_ucb_beat_random(fixed_bandit):
    """Expected regret over many trials: Thompson sampling and UCB1 well below uniform random (whose
    expected regret is T * (0.8 - mean(MEANS)) = 40 * 0.42 = 16.8)."""
    _, runs = fixed_bandit
    final = {name: run["cumulative_regret"][:, -1].mean() for name, run in runs.items()}
    assert abs(final["random"] - 16.8) < 1.0, final
    assert final["thompson"] < 0.5 * final["random"], final
    assert final["ucb1"] < 0.75 * final["random"], final
    # Thompson sampling concentrates on the best arm in the second half of the trial
    assert (runs["thompson"]["arms"][:, 20:] == 2).mean() > 0.7


def test_gaussian_thompson_on_structured_trials():
    """Gaussian rewards on the one-good-arm prior: Thompson sampling (known noise) has far less regret
    than uniform random, whose expected regret per pull is 0.9 - (0.9 + 4 * 0.2) / 5 = 0.56. Trial i
    is the environment reset with key split i (the agent's trials are the same)."""
    env, params = make_structured_bandit(
        num_arms=5, reward_dist="gaussian", reward_std=0.5, pulls_per_episode=30, num_episodes=1
    )
    key = jax.random.key(1)
    ts = run_baseline(baseline_policy("thompson", params), key, 128, params)
    assert float(ts["cumulative_regret"][:, -1].mean()) < 0.5 * 0.56 * 30
    _, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, 128), params)
    np.testing.assert_array_equal(ts["best_arm"][:, 0], np.argmax(states.means, axis=1))


def test_reset_each_episode(fixed_bandit):
    """Statistics forgotten at every inner-episode start: greedy pulls every arm once again."""
    params, _ = fixed_bandit
    policy = baseline_policy("greedy", params)
    run = run_baseline(policy, jax.random.key(2), NUM_TRIALS, params, reset_each_episode=True)
    arms = np.asarray(run["arms"]).reshape(NUM_TRIALS, 2, 20)
    np.testing.assert_array_equal(arms[:, :, :5], np.broadcast_to(np.arange(5), (NUM_TRIALS, 2, 5)))


def test_exploration_measures(fixed_bandit):
    _, runs = fixed_bandit
    arms, rewards = runs["random"]["arms"][:16], runs["random"]["rewards"][:16]
    explored, defined = jax.vmap(lambda a, r: exploration_flags(a, r, 5))(arms, rewards)
    distinct = jax.vmap(lambda a: distinct_arms(a, 5))(arms)
    for trial in range(16):
        counts, sums = np.zeros(5), np.zeros(5)
        for t in range(arms.shape[1]):
            tried = counts > 0
            assert bool(defined[trial, t]) == tried.any()
            if tried.any():
                means = np.where(tried, sums / np.maximum(counts, 1), -np.inf)
                best = set(np.flatnonzero(means == means.max()))
                assert bool(explored[trial, t]) == (arms[trial, t] not in best), (trial, t)
            counts[arms[trial, t]] += 1
            sums[arms[trial, t]] += rewards[trial, t]
        assert int(distinct[trial]) == len(set(arms[trial].tolist()))

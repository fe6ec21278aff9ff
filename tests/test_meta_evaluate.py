"""Evaluation of RL-squared policies on fresh trials (`jaxrl.meta.evaluate`): the recorded regret is
the regret of the arms pulled on the bandits that `run_baseline` meets for the same key, and the gridworld
measures match a direct numpy reading of the same rollout."""

from __future__ import annotations

import jax
import numpy as np

from envs.meta.bandits import make_structured_bandit
from jaxrl.meta.evaluate import (
    BANDIT_INFO_KEYS,
    GOAL_INFO_KEYS,
    bandit_metrics,
    goal_trials_metrics,
    rollout_trials,
)
from jaxrl.meta.rl2 import RL2Config, make_train

NUM_TRIALS = 6
SMALL = dict(num_envs=2, num_minibatches=1, num_steps=8, total_timesteps=16, gru_size=8, hidden_sizes=(16,))


def test_bandit_record_matches_baseline_trials():
    kwargs = {"pulls_per_episode": 3, "num_episodes": 2}
    # feed-forward (memory="none"): the record does not depend on the network, and it compiles faster
    trainer = make_train(RL2Config(env="StructuredBandit-K5", env_kwargs=kwargs, memory="none", **SMALL))
    params = trainer.init(jax.random.key(0)).params
    key = jax.random.key(3)

    @jax.jit
    def evaluate(p):
        record = rollout_trials(trainer, p, key, NUM_TRIALS, BANDIT_INFO_KEYS)
        return record, bandit_metrics(record, 5)

    record, metrics = jax.tree.map(np.asarray, evaluate(params))
    # The same trials as `run_baseline` with this key: trial i is reset with split(key, N)[i].
    _, bandit_params = make_structured_bandit(5, **kwargs)
    means = np.stack([_means(k, bandit_params) for k in jax.random.split(key, NUM_TRIALS)])
    np.testing.assert_array_equal(metrics["best_arm"], means.argmax(1)[:, None].repeat(6, 1))
    # Regret is max(mu) - mu[arm] of the trial's means.
    expected = means.max(1)[:, None] - np.take_along_axis(means, metrics["arms"], axis=1)
    np.testing.assert_allclose(metrics["regret"], expected, atol=1e-6)
    np.testing.assert_allclose(metrics["cumulative_regret"], np.cumsum(expected, axis=1), atol=1e-5)
    assert np.all(np.asarray(record["valid"]))  # a bandit trial fills the horizon exactly
    np.testing.assert_array_equal(metrics["explored"], numpy_explored(metrics["arms"], metrics["rewards"]))
    distinct = [len(set(row)) for row in metrics["arms"]]
    np.testing.assert_array_equal(metrics["distinct_arms"], distinct)


def numpy_explored(arms: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """A pull explores when some arm was tried and the pulled arm's empirical mean (-inf if untried) is
    below the best empirical mean."""
    explored = np.zeros(arms.shape, bool)
    for i in range(arms.shape[0]):
        counts, sums = np.zeros(5), np.zeros(5)
        for t, (arm, reward) in enumerate(zip(arms[i], rewards[i], strict=True)):
            means = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
            explored[i, t] = counts.sum() > 0 and means[arm] < means.max()
            counts[arm] += 1
            sums[arm] += reward
    return explored


def _means(trial_key: jax.Array, params) -> np.ndarray:
    from envs.meta.bandits import StructuredBandit

    return np.asarray(StructuredBandit().reset_env(trial_key, params)[1].means)


def test_goal_trials_measures_against_numpy():
    kwargs = {"max_episode_steps": 6, "num_episodes": 3}
    trainer = make_train(RL2Config(env="GoalTrials-5x5", env_kwargs=kwargs, memory="trial", **SMALL))
    params = trainer.init(jax.random.key(0)).params

    @jax.jit
    def evaluate(p):
        record = rollout_trials(trainer, p, jax.random.key(5), NUM_TRIALS, GOAL_INFO_KEYS)
        return record, goal_trials_metrics(record, 3)

    record, metrics = jax.tree.map(np.asarray, evaluate(params))
    cells = record["obs"]["obs"].argmax(-1)
    for i in range(NUM_TRIALS):
        end = int(np.argmax(record["trial_done"][i]))  # the step that ends the first trial
        assert record["trial_done"][i].any() and record["valid"][i, : end + 1].all()
        assert not record["valid"][i, end + 1 :].any()
        episode = record["inner_episode"][i, : end + 1]
        reached = record["reached_goal"][i, : end + 1]
        for e in range(3):
            steps = int((episode == e).sum())
            assert metrics["episode_steps"][i, e] == steps
            assert metrics["episode_reached"][i, e] == reached[episode == e].any()
            # an episode ends at the goal or at the step limit, never otherwise
            assert steps == 6 or (metrics["episode_reached"][i, e] and reached[episode == e][-1])
        first = set(cells[i, : end + 1][episode == 0].tolist())
        assert 0 in first  # the start cell
        assert metrics["distinct_cells_first"][i] == len(first) + int(metrics["episode_reached"][i, 0])

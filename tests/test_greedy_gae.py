"""The greedy-objective GAE: no advantage or return crosses an inner-episode boundary."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxrl.meta import greedy_gae

T, N = 24, 3


def loop_gae(rewards, values, next_values, boundary, trial_done, gamma, lam, greedy=True):
    """Direct per-environment backward loop."""
    advantages = np.zeros_like(rewards)
    for env in range(rewards.shape[1]):
        running = 0.0
        for t in reversed(range(rewards.shape[0])):
            cut = trial_done[t, env] or (greedy and boundary[t, env])
            bootstrap = 0.0 if cut else gamma * next_values[t, env]
            delta = rewards[t, env] + bootstrap - values[t, env]
            running = delta + (0.0 if cut else gamma * lam * running)
            advantages[t, env] = running
    return advantages, advantages + values


def random_batch(seed):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, N)).astype(np.float32)
    values = rng.normal(size=(T, N)).astype(np.float32)
    next_values = rng.normal(size=(T, N)).astype(np.float32)
    boundary = rng.random((T, N)) < 0.25
    trial_done = boundary & (rng.random((T, N)) < 0.4)
    return rewards, values, next_values, boundary, trial_done


gae = jax.jit(greedy_gae, static_argnames="greedy")


@pytest.mark.parametrize("greedy", [True, False])
@pytest.mark.parametrize("gamma, lam", [(0.9, 0.95), (0.0, 0.95), (1.0, 1.0)])
def test_matches_loop(greedy, gamma, lam):
    batch = random_batch(0)
    advantages, returns = gae(*batch, gamma, lam, greedy=greedy)
    expected_adv, expected_ret = loop_gae(*batch, gamma, lam, greedy=greedy)
    np.testing.assert_allclose(advantages, expected_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(returns, expected_ret, rtol=1e-5, atol=1e-5)


def test_no_advantage_crosses_an_episode_boundary():
    """Changing anything after an inner-episode boundary (rewards, values) leaves every advantage up to
    the boundary unchanged under the greedy objective, and changes them without it."""
    rewards, values, next_values, _, _ = random_batch(1)
    boundary = np.zeros((T, N), bool)
    boundary[9] = True  # an inner episode ends at t = 9; the trial goes on
    trial_done = np.zeros((T, N), bool)
    altered = [x.copy() for x in (rewards, values, next_values)]
    for x in altered:
        x[10:] += 5.0
    altered[2][9] += 5.0  # even the value of the next episode's first state
    for greedy, same in ((True, True), (False, False)):
        before, _ = gae(rewards, values, next_values, boundary, trial_done, 0.99, 0.95, greedy=greedy)
        after, _ = gae(*altered, boundary, trial_done, 0.99, 0.95, greedy=greedy)
        assert np.allclose(before[:10], after[:10]) == same
    # with gamma_step = 0 the advantage is the one-step r - V everywhere
    advantages, returns = gae(rewards, values, next_values, boundary, trial_done, 0.0, 0.95)
    np.testing.assert_allclose(advantages, rewards - values, atol=1e-6)
    np.testing.assert_allclose(returns, rewards, atol=1e-6)


def test_episode_return_is_discounted_sum_within_episode():
    """With lambda = 1 and zero values, the return at each step is the gamma_step-discounted sum of the
    rewards left in its own inner episode."""
    rewards = np.arange(1, 9, dtype=np.float32)[:, None]
    boundary = np.zeros((8, 1), bool)
    boundary[[2, 7]] = True
    zeros = np.zeros_like(rewards)
    _, returns = gae(rewards, zeros, zeros, boundary, np.zeros_like(boundary), 0.5, 1.0)
    expected = [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3, 4 + 0.5 * 5 + 0.25 * 6 + 0.125 * 7 + 0.0625 * 8]
    np.testing.assert_allclose(returns[:4, 0], expected, rtol=1e-6)

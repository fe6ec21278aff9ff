"""Our classic-control environments against gymnasium's, side by side.

From the same state and action both must give the same next observation, reward, ``terminated`` and
``truncated`` (to 1e-5). Hundreds of random states over the whole valid range (plus the edge cases:
MountainCar at the left wall, near the goal; Pendulum actions outside [-2, 2]; steps at the time limit)
are stepped in one vmapped call on our side and one by one in gymnasium. Whole episodes are then run to
the time limit in both, with gymnasium's state set to ours before every step (float32 and float64
would otherwise drift apart over hundreds of steps of chaotic dynamics).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import jax
import numpy as np
import pytest

import envs
from envs.classic.cartpole import CartPoleState
from envs.classic.mountain_car import MountainCarState
from envs.classic.pendulum import PendulumState

NUM_STATES = 400
TOLERANCE = 1e-5


def _time_limit_wrapper(env: gym.Env) -> gym.wrappers.TimeLimit:
    while not isinstance(env, gym.wrappers.TimeLimit):
        env = env.env
    return env


def _gym_step(gym_env: gym.Env, state: np.ndarray, elapsed: int, action: Any) -> tuple:
    """Step gymnasium's environment from ``state`` after ``elapsed`` steps of the episode."""
    gym_env.reset(seed=0)  # clears CartPole's steps_beyond_terminated
    gym_env.unwrapped.state = np.asarray(state, np.float64)
    _time_limit_wrapper(gym_env)._elapsed_steps = elapsed
    return gym_env.step(action)


def _random_states(name: str, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(states, actions)``: states as float32 rows in gymnasium's ``env.state`` layout."""
    if name == "CartPole-v1":
        high = np.array([2.4, 3.0, 0.2094, 3.5])
        states = rng.uniform(-high, high, (n, 4))
        actions = rng.integers(0, 2, n)
    elif name == "MountainCar-v0":
        states = np.stack([rng.uniform(-1.2, 0.6, n), rng.uniform(-0.07, 0.07, n)], axis=1)
        states[: n // 10, 0] = -1.2  # at the left wall (inelastic collision when moving left)
        states[n // 10 : n // 5, 0] = rng.uniform(0.45, 0.6, n // 5 - n // 10)  # around the goal
        actions = rng.integers(0, 3, n)
    else:
        states = np.stack([rng.uniform(-4 * np.pi, 4 * np.pi, n), rng.uniform(-8.0, 8.0, n)], axis=1)
        actions = rng.uniform(-3.0, 3.0, (n, 1))  # a third outside [-2, 2]: both must clip
    return states.astype(np.float32), actions


def _our_state(name: str, rows: np.ndarray, time: np.ndarray) -> Any:
    columns = [np.asarray(c, np.float32) for c in rows.T]
    time = np.asarray(time, np.int32)
    if name == "CartPole-v1":
        return CartPoleState(*columns, time=time)
    if name == "MountainCar-v0":
        return MountainCarState(*columns, time=time)
    return PendulumState(*columns, time=time)


def _gym_action(name: str, action: Any) -> Any:
    return np.asarray(action, np.float32) if name == "Pendulum-v1" else int(action)


@pytest.mark.parametrize("name", ["CartPole-v1", "MountainCar-v0", "Pendulum-v1"])
def test_one_step_matches_gymnasium(name: str) -> None:
    rng = np.random.default_rng(0)
    env, params = envs.make(name)
    limit = int(params.max_steps_in_episode)
    states, actions = _random_states(name, rng, NUM_STATES)
    # Steps already taken in the episode; one in four is the last step before the time limit.
    elapsed = np.where(rng.random(NUM_STATES) < 0.25, limit - 1, rng.integers(0, limit - 1, NUM_STATES))

    keys = jax.random.split(jax.random.key(0), NUM_STATES)
    our_actions = actions.astype(np.float32) if name == "Pendulum-v1" else actions.astype(np.int32)
    _, _, reward, terminated, truncated, info = jax.device_get(
        jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))(
            keys, _our_state(name, states, elapsed), our_actions, params
        )
    )
    our_obs = info["final_observation"]  # the step's observation, before our auto-reset

    gym_env = gym.make(name)
    results = [
        _gym_step(gym_env, s, int(t), _gym_action(name, a))
        for s, t, a in zip(states, elapsed, actions, strict=True)
    ]
    gym_obs = np.stack([r[0] for r in results])
    assert gym_obs.dtype == our_obs.dtype == np.float32
    np.testing.assert_allclose(our_obs, gym_obs, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(reward, [r[1] for r in results], rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(terminated, [r[2] for r in results])
    np.testing.assert_array_equal(truncated, [r[3] for r in results])
    # The draws exercise what they are meant to: time limits, and terminations where the task has them.
    assert truncated.sum() > NUM_STATES // 8
    if name != "Pendulum-v1":
        assert 0 < terminated.sum() < NUM_STATES
    if name == "MountainCar-v0":
        assert np.any((our_obs[:, 0] == np.float32(-1.2)) & (our_obs[:, 1] == 0)), "wall collision not hit"


def _policy(name: str, obs: np.ndarray, rng: np.random.Generator) -> Any:
    if name == "CartPole-v1":  # a balancing controller, so that the episode lasts until the time limit
        x, x_dot, theta, theta_dot = obs
        return int(theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot > 0)
    if name == "MountainCar-v0":
        return int(rng.integers(0, 3))
    return rng.uniform(-2.0, 2.0, (1,)).astype(np.float32)


@pytest.mark.parametrize("name", ["CartPole-v1", "MountainCar-v0", "Pendulum-v1"])
def test_episode_to_time_limit_matches_gymnasium(name: str) -> None:
    rng = np.random.default_rng(1)
    env, params = envs.make(name)
    gym_env = gym.make(name)
    gym_obs, _ = gym_env.reset(seed=1)
    # Start ours from gymnasium's initial state (rounded to float32), and gymnasium from the same.
    start = np.asarray(gym_env.unwrapped.state, np.float32)
    state = _our_state(name, start[None], np.zeros(1))
    state = jax.tree.map(lambda x: x[0], state)
    key = jax.random.key(0)
    step = jax.jit(env.step)
    obs = np.asarray(env.get_obs(state))
    np.testing.assert_allclose(obs, gym_obs, atol=TOLERANCE)
    limit = int(params.max_steps_in_episode)
    for t in range(1, limit + 1):
        action = _policy(name, obs, rng)
        gym_env.unwrapped.state = np.array([np.float64(getattr(state, f)) for f in _fields(name)])
        gym_obs, gym_reward, gym_terminated, gym_truncated, _ = gym_env.step(action)
        key, step_key = jax.random.split(key)
        _, state, reward, terminated, truncated, info = step(step_key, state, np.asarray(action), params)
        obs = np.asarray(info["final_observation"])
        np.testing.assert_allclose(obs, gym_obs, atol=TOLERANCE, err_msg=f"step {t}")
        np.testing.assert_allclose(float(reward), gym_reward, atol=TOLERANCE, err_msg=f"step {t}")
        assert bool(terminated) == gym_terminated is False, f"unexpected termination at step {t}"
        assert bool(truncated) == gym_truncated == (t == limit), f"truncation at step {t}"
    assert int(state.time) == 0, "the episode ended at the time limit, so the state was reset"


def _fields(name: str) -> list[str]:
    return {
        "CartPole-v1": ["x", "x_dot", "theta", "theta_dot"],
        "MountainCar-v0": ["position", "velocity"],
        "Pendulum-v1": ["theta", "theta_dot"],
    }[name]


@pytest.mark.parametrize("name", ["CartPole-v1", "MountainCar-v0", "Pendulum-v1"])
def test_reset_distribution_matches_gymnasium(name: str) -> None:
    """Our reset draws from gymnasium's distribution: uniform on the same box, fixed dims fixed."""
    env, params = envs.make(name)
    n = 4000
    reset_state_row = jax.jit(jax.vmap(lambda k: _state_row(name, env.reset(k, params)[1])))
    ours = np.asarray(reset_state_row(jax.random.split(jax.random.key(0), n)))
    gym_env = gym.make(name).unwrapped
    gym_env.reset(seed=0)
    theirs = []
    for _ in range(n):
        gym_env.reset()
        theirs.append(np.asarray(gym_env.state, np.float64))
    theirs = np.stack(theirs)
    low, high = theirs.min(0), theirs.max(0)
    spread = high - low
    fixed = spread == 0
    np.testing.assert_array_equal(ours[:, fixed], np.broadcast_to(low[fixed], ours[:, fixed].shape))
    # Uniform on the same box: the extremes agree (to 1% of the range; with 4000 draws the gap to the
    # bound is about 0.03%), and so do the mean and the standard deviation.
    margin = 0.01 * spread[~fixed]
    np.testing.assert_array_less(np.abs(ours.min(0)[~fixed] - low[~fixed]), margin)
    np.testing.assert_array_less(np.abs(ours.max(0)[~fixed] - high[~fixed]), margin)
    std_error = spread[~fixed] / np.sqrt(12 * n)
    np.testing.assert_array_less(np.abs(ours.mean(0)[~fixed] - theirs.mean(0)[~fixed]), 6 * std_error)
    np.testing.assert_allclose(ours.std(0)[~fixed], theirs.std(0)[~fixed], rtol=0.05)


def _state_row(name: str, state: Any) -> jax.Array:
    return jax.numpy.stack([getattr(state, f) for f in _fields(name)])

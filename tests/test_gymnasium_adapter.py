"""``envs.to_gymnasium`` and ``envs.to_gymnasium_vector``: our environments seen from gymnasium."""

import warnings

import gymnasium as gym
import jax
import numpy as np
import pytest
from env_conformance import DictToy
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import envs


@pytest.mark.parametrize("name", ["CartPole-v1", "MountainCar-v0", "Pendulum-v1"])
def test_check_env_passes(name: str) -> None:
    env = envs.to_gymnasium(*envs.make(name))
    assert isinstance(env, gym.Env)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advisory warnings (infinite bounds, Pendulum's torque range)
        check_env(env, skip_render_check=True)
    # The spaces are gymnasium's own for these environments.
    native = gym.make(name)
    assert env.observation_space == native.observation_space
    assert env.action_space == native.action_space


def test_check_env_passes_for_dict_observations() -> None:
    env = envs.to_gymnasium(DictToy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"position", "one_hot"} and env.observation_space.contains(obs)


def test_single_env_returns_the_last_observation_and_does_not_reset() -> None:
    env, params = envs.make("CartPole-v1")
    gym_env = envs.to_gymnasium(env, params.replace(max_steps_in_episode=200), seed=0)
    obs, _ = gym_env.reset(seed=5)
    np.testing.assert_array_equal(obs, gym_env.reset(seed=5)[0])  # seeded resets are reproducible
    terminated = False
    for _ in range(200):
        obs, reward, terminated, truncated, _ = gym_env.step(1)  # always push right: the pole falls
        assert isinstance(reward, float) and obs.dtype == np.float32
        if terminated or truncated:
            break
    assert terminated and not truncated
    # The returned observation is the failing state, not the first observation of a new episode.
    assert abs(obs[0]) > 2.4 or abs(obs[2]) > 12 * 2 * np.pi / 360
    obs, _ = gym_env.reset()
    assert np.all(np.abs(obs) <= 0.05)

    gym_env = envs.to_gymnasium(env, params.replace(max_steps_in_episode=3))
    gym_env.reset(seed=0)
    flags = [gym_env.step(t % 2)[2:4] for t in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


def test_vector_env_same_step_autoreset_matches_our_functions() -> None:
    """The vector adapter does what the pure functions do with the key sequence it documents."""
    num_envs, limit, seed = 4, 6, 11
    env, params = envs.make("CartPole-v1")
    params = params.replace(max_steps_in_episode=limit)
    vec = envs.to_gymnasium_vector(env, params, num_envs=num_envs)
    assert isinstance(vec, gym.vector.VectorEnv)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert vec.observation_space.shape == (num_envs, 4) and vec.single_action_space == gym.spaces.Discrete(2)

    obs, _ = vec.reset(seed=seed)
    key = jax.random.key(seed)
    key, reset_key = jax.random.split(key)
    ref_obs, ref_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_envs), params)
    np.testing.assert_array_equal(obs, ref_obs)
    batched_step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    rng = np.random.default_rng(0)
    finished = 0
    for _ in range(3 * limit):
        actions = rng.integers(0, 2, num_envs)
        assert vec.action_space.contains(actions)
        obs, reward, terminated, truncated, info = vec.step(actions)
        key, step_key = jax.random.split(key)
        ref_obs, ref_state, ref_reward, ref_terminated, ref_truncated, ref_info = batched_step(
            jax.random.split(step_key, num_envs), ref_state, actions.astype(np.int32), params
        )
        np.testing.assert_array_equal(obs, ref_obs)
        np.testing.assert_array_equal(reward, ref_reward)
        np.testing.assert_array_equal(terminated, ref_terminated)
        np.testing.assert_array_equal(truncated, ref_truncated)
        assert vec.observation_space.contains(obs)
        done = terminated | truncated
        if not done.any():
            assert "final_obs" not in info
            continue
        finished += int(done.sum())
        np.testing.assert_array_equal(info["_final_obs"], done)
        for i in range(num_envs):
            if done[i]:  # SAME_STEP: obs[i] already starts the next episode; final_obs[i] ended this one
                np.testing.assert_array_equal(info["final_obs"][i], ref_info["final_observation"][i])
                assert np.all(np.abs(obs[i]) <= 0.05)
            else:
                assert info["final_obs"][i] is None
    assert finished >= num_envs  # every environment finished at least one episode (limit 6, 18 steps)


def test_vector_env_continuous_actions() -> None:
    vec = envs.to_gymnasium_vector(*envs.make("Pendulum-v1"), num_envs=3, seed=0)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (3, 3) and obs.dtype == np.float32
    obs, reward, terminated, truncated, _ = vec.step(np.full((3, 1), 2.0, np.float32))
    assert reward.shape == (3,) and reward.dtype == np.float32 and not terminated.any()
    with pytest.raises(ValueError, match="seed must be one int"):
        vec.reset(seed=[1, 2, 3])

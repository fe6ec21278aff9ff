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


def _row_keys(seeds: list[int]) -> list[jax.Array]:
    return [jax.random.key(s) for s in seeds]


def _split(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The adapter's convention: (the sub-environment's next key, the key used now)."""
    pair = jax.random.split(key)
    return pair[0], pair[1]


def test_vector_env_same_step_autoreset_matches_our_functions() -> None:
    """SAME_STEP: the adapter does what the pure functions do with the per-sub-environment keys it
    documents, and lays out final_obs/final_info as gymnasium's SyncVectorEnv does."""
    num_envs, limit, seed = 4, 6, 11
    env, params = envs.make("BARFI-CartPole")  # its info has an entry (r_aux) to follow into final_info
    params = params.replace(max_steps_in_episode=limit)
    vec = envs.to_gymnasium_vector(env, params, num_envs=num_envs)
    assert isinstance(vec, gym.vector.VectorEnv)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert vec.observation_space.shape == (num_envs, 4) and vec.single_action_space == gym.spaces.Discrete(2)

    obs, _ = vec.reset(seed=seed)
    reset = jax.jit(env.reset)
    step = jax.jit(env.step)
    keys, states = _row_keys([seed + i for i in range(num_envs)]), []
    for i in range(num_envs):
        keys[i], use = _split(keys[i])
        ref_obs, state = reset(use, params)
        states.append(state)
        np.testing.assert_array_equal(obs[i], ref_obs)
    rng = np.random.default_rng(0)
    finished = 0
    for _ in range(3 * limit):
        actions = rng.integers(0, 2, num_envs)
        assert vec.action_space.contains(actions)
        obs, reward, terminated, truncated, info = vec.step(actions)
        assert vec.observation_space.contains(obs)
        done = terminated | truncated
        for i in range(num_envs):
            keys[i], use = _split(keys[i])
            ref = step(use, states[i], int(actions[i]), params)
            ref_obs, states[i], ref_reward, ref_term, ref_trunc, ref_info = ref
            np.testing.assert_array_equal(obs[i], ref_obs)
            assert (reward[i], terminated[i], truncated[i]) == (ref_reward, ref_term, ref_trunc)
            if done[i]:  # obs[i] already starts the next episode; final_obs[i] ended this one
                np.testing.assert_array_equal(info["final_obs"][i], ref_info["final_observation"])
                assert info["final_info"]["r_aux"][i] == ref_info["r_aux"]
                assert np.all(np.abs(obs[i]) <= 0.05)
            else:
                assert info["r_aux"][i] == ref_info["r_aux"]
        np.testing.assert_array_equal(info["_r_aux"], ~done)  # as SyncVectorEnv: the reset's (empty) info
        if not done.any():
            assert "final_obs" not in info and "final_info" not in info
            continue
        finished += int(done.sum())
        for name in ("_final_obs", "_final_info"):
            np.testing.assert_array_equal(info[name], done)
        np.testing.assert_array_equal(info["final_info"]["_r_aux"], done)
        assert all(info["final_obs"][i] is None for i in np.flatnonzero(~done))
    assert finished >= num_envs  # every environment finished at least one episode (limit 6, 18 steps)


def test_vector_env_next_step_autoreset_matches_our_functions() -> None:
    """NEXT_STEP: the ending step shows the last observation, the next one the reset observation with
    reward 0, ignoring the action; a sub-environment that waits does not use its key."""
    num_envs, limit, seed = 3, 4, 2
    env, params = envs.make("CartPole-v1")
    params = params.replace(max_steps_in_episode=limit)
    vec = envs.to_gymnasium_vector(env, params, num_envs=num_envs, autoreset_mode=AutoresetMode.NEXT_STEP)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, _ = vec.reset(seed=seed)
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    keys, states, pending = _row_keys([seed + i for i in range(num_envs)]), [], [None] * num_envs
    for i in range(num_envs):
        keys[i], use = _split(keys[i])
        states.append(reset(use, params)[1])
    rng = np.random.default_rng(1)
    waits = 0
    for _ in range(3 * limit):
        actions = rng.integers(0, 2, num_envs)
        obs, reward, terminated, truncated, info = vec.step(actions)
        for i in range(num_envs):
            if pending[i] is not None:  # the previous step ended an episode: show the reset
                np.testing.assert_array_equal(obs[i], pending[i])
                assert (reward[i], terminated[i], truncated[i]) == (0.0, False, False)
                pending[i], waits = None, waits + 1
                continue
            keys[i], use = _split(keys[i])
            ref = step(use, states[i], int(actions[i]), params)
            next_obs, states[i], ref_reward, ref_term, ref_trunc, ref_info = ref
            np.testing.assert_array_equal(obs[i], ref_info["final_observation"])
            assert (reward[i], terminated[i], truncated[i]) == (ref_reward, ref_term, ref_trunc)
            if ref_term or ref_trunc:
                pending[i] = next_obs
    assert waits >= num_envs and "final_obs" not in info


def test_vector_env_seed_lists_and_reset_mask() -> None:
    env, params = envs.make("CartPole-v1")
    vec = envs.to_gymnasium_vector(env, params, num_envs=3)
    # An int s means seeds s, s + 1, ... as in gymnasium.
    np.testing.assert_array_equal(vec.reset(seed=[7, 8, 9])[0], vec.reset(seed=7)[0])
    # None in a list keeps that sub-environment's key sequence.
    twin = envs.to_gymnasium_vector(env, params, num_envs=3)
    vec.reset(seed=0), twin.reset(seed=0)
    obs, _ = vec.reset(seed=[None, 5, None])
    twin_obs, _ = twin.reset()
    np.testing.assert_array_equal(obs[[0, 2]], twin_obs[[0, 2]])
    np.testing.assert_array_equal(obs[1], vec.reset(seed=5)[0][0])
    with pytest.raises(ValueError, match="one per sub-environment"):
        vec.reset(seed=[1, 2])
    with pytest.raises(ValueError, match="seed must be"):
        vec.reset(seed="7")

    # reset_mask: only the masked sub-environments reset; the others go on as if nothing happened.
    vec.reset(seed=3), twin.reset(seed=3)
    for _ in range(5):
        before, *_ = vec.step(np.array([1, 0, 1]))
        twin.step(np.array([1, 0, 1]))
    options = {"reset_mask": np.array([False, True, False])}
    obs, _ = vec.reset(seed=[None, 40, None], options=options)
    assert "reset_mask" in options  # the caller's options are not modified
    np.testing.assert_array_equal(obs[[0, 2]], before[[0, 2]])
    np.testing.assert_array_equal(obs[1], envs.to_gymnasium_vector(env, params, num_envs=1).reset(seed=40)[0][0])
    after, *_ = vec.step(np.array([0, 0, 0]))
    twin_after, *_ = twin.step(np.array([0, 0, 0]))
    np.testing.assert_array_equal(after[[0, 2]], twin_after[[0, 2]])
    assert not np.array_equal(after[1], twin_after[1])
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": np.array([1, 0, 1])})
    with pytest.raises(ValueError, match="autoreset_mode"):
        envs.to_gymnasium_vector(env, params, autoreset_mode=AutoresetMode.DISABLED)


def test_gymnasium_record_episode_statistics() -> None:
    """gymnasium's own vector RecordEpisodeStatistics counts our episodes right in NEXT_STEP mode. (In
    gymnasium 1.2 it always skips the step after an episode end, as NEXT_STEP's reset step, so with
    SAME_STEP, even on gymnasium's own SyncVectorEnv, every episode after the first is one step short.)"""
    limit, num_envs = 5, 3
    env, params = envs.make("CartPole-v1")
    params = params.replace(max_steps_in_episode=limit)
    vec = envs.to_gymnasium_vector(env, params, num_envs, autoreset_mode=AutoresetMode.NEXT_STEP)
    vec = gym.wrappers.vector.RecordEpisodeStatistics(vec)
    vec.reset(seed=0)
    episodes = []
    for _ in range(4 * limit):
        _, _, terminated, truncated, info = vec.step(np.zeros(num_envs, np.int64))  # pushing left: falls
        if "episode" in info:
            mask = info["_episode"]
            np.testing.assert_array_equal(mask, terminated | truncated)
            stats = info["episode"]
            episodes += list(zip(stats["r"][mask], stats["l"][mask], truncated[mask], strict=True))
    assert len(episodes) >= num_envs
    for ret, length, was_truncated in episodes:
        assert ret == length  # CartPole: reward 1 per step
        assert 1 <= length <= limit and (length == limit) == bool(was_truncated)


def test_gymnasium_vector_observation_wrappers() -> None:
    """gymnasium's vector observation wrappers need NEXT_STEP; they wrap our adapter in that mode."""
    vec = envs.to_gymnasium_vector(DictToy(), num_envs=2, autoreset_mode="NextStep")
    flat = gym.wrappers.vector.FlattenObservation(vec)
    obs, _ = flat.reset(seed=0)
    raw, _ = vec.reset(seed=0)
    assert obs.shape == (2, gym.spaces.flatdim(vec.single_observation_space))
    for i in range(2):
        row = {name: value[i] for name, value in raw.items()}
        np.testing.assert_array_equal(obs[i], gym.spaces.flatten(vec.single_observation_space, row))
    normalized = gym.wrappers.vector.NormalizeObservation(flat)
    normalized.reset(seed=0)
    for t in range(12):
        obs, *_ = normalized.step(np.array([t % 2, 1]))
        assert obs.shape == (2, 10) and np.all(np.isfinite(obs))
    with pytest.raises(AssertionError):  # gymnasium refuses SAME_STEP for observation wrappers
        gym.wrappers.vector.FlattenObservation(envs.to_gymnasium_vector(DictToy(), num_envs=2))


def test_vector_env_continuous_actions() -> None:
    vec = envs.to_gymnasium_vector(*envs.make("Pendulum-v1"), num_envs=3, seed=0)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (3, 3) and obs.dtype == np.float32
    obs, reward, terminated, truncated, _ = vec.step(np.full((3, 1), 2.0, np.float32))
    assert reward.shape == (3,) and reward.dtype == np.float32 and not terminated.any()

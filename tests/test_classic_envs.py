"""Conformance of the classic-control environments (and of the gymnax adapter) to the shared checks."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from env_conformance import check_environment

import envs
from envs.classic import MountainCar


@pytest.mark.parametrize(("name", "time_limit"), [("CartPole-v1", 500), ("MountainCar-v0", 200), ("Pendulum-v1", 200)])
def test_default_time_limits(name: str, time_limit: int) -> None:
    # (The conformance checks of every registered environment are in test_env_conformance.py.)
    assert envs.make(name)[1].max_steps_in_episode == time_limit


def test_gymnax_adapter_conformance() -> None:
    pytest.importorskip("gymnax")
    report = check_environment("gymnax:CartPole-v1", expected_time_limit=500)
    assert report.truncations > 0


def test_gymnax_adapter_is_gymnax_with_our_spaces_and_dtypes() -> None:
    pytest.importorskip("gymnax")
    adapted, params = envs.make("gymnax:CartPole-v1")
    native = adapted.gymnax_env
    key = jax.random.key(3)
    obs, state = adapted.reset(key, params)
    native_obs, native_state = native.reset(key, params)
    np.testing.assert_array_equal(obs, native_obs)
    action_space, observation_space = adapted.action_space(params), adapted.observation_space(params)
    assert isinstance(action_space, envs.spaces.Discrete) and action_space.n == 2
    assert isinstance(observation_space, envs.spaces.Box) and observation_space.shape == (4,)
    assert adapted.name == "gymnax:CartPole-v1"
    ours = adapted.step(key, state, 1, params)
    theirs = native.step(key, native_state, 1, params)
    np.testing.assert_array_equal(ours[0], theirs[0])
    assert ours[2].dtype == np.float32 and float(ours[2]) == float(theirs[2])
    assert ours[3].dtype == ours[4].dtype == np.bool_


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        envs.make("MountainCar-v0", max_steps_in_episode=0)
    with pytest.raises(ValueError, match="goal_velocity"):
        envs.make("MountainCar-v0", goal_velocity=0.5)
    with pytest.raises(ValueError, match="g \\(gravity\\)"):
        envs.make("Pendulum-v1", g=-1.0)


def test_unknown_gymnax_environment_is_refused() -> None:
    pytest.importorskip("gymnax")
    with pytest.raises(ValueError, match="unknown gymnax environment"):
        envs.make("gymnax:NoSuchEnv-v0")


class _ObservationInFloat16(MountainCar):
    def get_obs(self, state):
        return super().get_obs(state).astype(jnp.float16)


class _TimeNotResetToZero(MountainCar):
    def reset_env(self, key, params):
        obs, state = super().reset_env(key, params)
        return obs, state.replace(time=jnp.int32(1))


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (_ObservationInFloat16(), "dtype float16 != space float32"),
        (_TimeNotResetToZero(), "truncated should"),
    ],
)
def test_conformance_suite_catches_broken_environments(broken: MountainCar, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_environment(broken, num_envs=2)

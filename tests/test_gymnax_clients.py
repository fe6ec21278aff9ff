"""Code written for gymnax runs on our environments unchanged (issue 18): gymnax's own wrappers and a
PureJaxRL-style PPO (`purejaxrl_style_ppo`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces as gymnax_spaces
from gymnax.wrappers.purerl import FlattenObservationWrapper, LogWrapper
from purejaxrl_style_ppo import CARTPOLE_CONFIG, make_train, mean_returned_episode_return

import envs


def _rollout(env, params, num_envs: int, num_steps: int, seed: int = 0):
    """Random-action rollout of a (wrapped) environment, jitted and vmapped as gymnax clients do."""
    action_space = env.action_space(params)

    @jax.jit
    def run(key):
        key_reset, key_steps = jax.random.split(key)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key_reset, num_envs), params)

        def body(carry, key_t):
            obs, state = carry
            key_action, key_env = jax.random.split(key_t)
            actions = jax.vmap(action_space.sample)(jax.random.split(key_action, num_envs))
            env_keys = jax.random.split(key_env, num_envs)
            out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(env_keys, state, actions, params)
            return (out[0], out[1]), (out[0], *out[2:])

        return obs, jax.lax.scan(body, (obs, state), jax.random.split(key_steps, num_steps))[1]

    return _compiled(run, jax.random.key(seed))


def _compiled(fn, *args):
    """``jax.jit(fn)(*args)`` compiled without LLVM's optimisations (compiling dominates these checks)."""
    return jax.jit(fn).lower(*args).compile(compiler_options={"xla_backend_optimization_level": 0})(*args)


def test_gymnax_wrappers_on_a_classic_env() -> None:
    env, params = envs.make("CartPole-v1", max_steps_in_episode=20)
    wrapped = LogWrapper(FlattenObservationWrapper(env))
    space = wrapped.observation_space(params)
    assert isinstance(space, gymnax_spaces.Box) and tuple(space.shape) == (4,)
    # gymnax's LogWrapper against our EpisodeStatistics on the same keys and actions.
    _, (obs, reward, terminated, truncated, info) = _rollout(wrapped, params, num_envs=4, num_steps=60)
    _, (our_obs, *_, our_info) = _rollout(envs.EpisodeStatistics(env), params, num_envs=4, num_steps=60)
    np.testing.assert_array_equal(obs, our_obs)
    done = np.asarray(terminated | truncated)
    assert done.sum() >= 4 and np.asarray(truncated).any()
    np.testing.assert_array_equal(info["returned_episode"], done)
    np.testing.assert_array_equal(
        np.asarray(info["returned_episode_returns"])[done], np.asarray(our_info["episode_return"])[done]
    )
    np.testing.assert_array_equal(
        np.asarray(info["returned_episode_lengths"])[done], np.asarray(our_info["episode_length"])[done]
    )


def test_gymnax_wrappers_on_a_gridworld() -> None:
    env, params = envs.make("MultiRoom-N2")
    with pytest.raises(AssertionError, match="Only Box spaces"):  # gymnax flattens Box observations only
        FlattenObservationWrapper(env).observation_space(params)
    flat = envs.FlattenObservation(env)  # our dict -> Box flattening, then gymnax's wrappers as they are
    wrapped = LogWrapper(FlattenObservationWrapper(flat))
    space = wrapped.observation_space(params)
    assert isinstance(space, gymnax_spaces.Box) and space.shape == flat.observation_space(params).shape
    obs0, (obs, reward, terminated, truncated, info) = _rollout(wrapped, params, num_envs=2, num_steps=5)
    assert obs.shape == (5, 2, space.shape[0]) and obs.dtype == jnp.float32
    assert bool(jax.vmap(jax.vmap(space.contains))(obs).all())
    # The same observations as flattening the raw dict ones (the rollout's reset keys).
    reset_keys = jax.random.split(jax.random.split(jax.random.key(0))[0], 2)
    raw0, _ = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, params)
    np.testing.assert_array_equal(obs0, jax.vmap(envs.flatten_observation)(raw0))
    assert set(info) >= {"returned_episode", "returned_episode_returns", "returned_episode_lengths"}


@pytest.mark.parametrize(
    ("env_name", "kwargs"), [("CartPole-v1", {}), ("MultiRoom-N2", {"num_contexts": -1})]
)
def test_purejaxrl_style_ppo_runs(env_name: str, kwargs: dict) -> None:
    config = {
        **CARTPOLE_CONFIG,
        "ENV_NAME": env_name,
        "ENV_KWARGS": kwargs,
        "NUM_ENVS": 4,
        "NUM_STEPS": 16,
        "TOTAL_TIMESTEPS": 3 * 4 * 16,
        "UPDATE_EPOCHS": 2,
        "NUM_MINIBATCHES": 2,
    }
    out = _compiled(make_train(config), jax.random.key(0))
    losses = out["metrics"]["loss"]
    assert losses[0].shape == (3,)  # one row per update
    for value in jax.tree.leaves(losses):
        assert np.all(np.isfinite(np.asarray(value)))
    assert np.asarray(out["metrics"]["returned_episode"]).shape == (3, 16, 4)


@pytest.mark.slow
def test_purejaxrl_style_ppo_learns_cartpole() -> None:
    """PureJaxRL's CartPole settings, 2e5 steps: the return of finished episodes rises from about 22
    (random) to above 200."""
    out = jax.jit(make_train({**CARTPOLE_CONFIG, "TOTAL_TIMESTEPS": 2e5}))(jax.random.key(0))
    returns = mean_returned_episode_return(out["metrics"])
    assert np.nanmean(returns[:5]) < 40
    assert np.nanmean(returns[-10:]) > 200, returns[-10:]

"""Spaces, the registry and the wrappers (VecEnv, EpisodeStatistics, FlattenObservation)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from env_conformance import DictToy, check_environment

import envs
from envs import spaces

# --- spaces ---------------------------------------------------------------------------------------


def test_discrete_sample_and_contains() -> None:
    space = spaces.Discrete(4)
    samples = jax.vmap(space.sample)(jax.random.split(jax.random.key(0), 2000))
    assert samples.dtype == jnp.int32 and samples.shape == (2000,)
    assert set(np.unique(samples).tolist()) == {0, 1, 2, 3}
    assert bool(space.contains(3)) and not bool(space.contains(4)) and not bool(space.contains(-1))
    assert not bool(space.contains(jnp.zeros(2, jnp.int32)))  # wrong shape
    with pytest.raises(ValueError, match="n > 0"):
        spaces.Discrete(0)


def test_box_sample_and_contains() -> None:
    space = spaces.Box(np.array([-1.0, 0.0, -np.inf]), np.array([1.0, 5.0, np.inf]), (3,))
    samples = np.asarray(jax.vmap(space.sample)(jax.random.split(jax.random.key(0), 4000)))
    assert samples.dtype == np.float32 and samples.shape == (4000, 3)
    assert samples[:, 0].min() >= -1 and samples[:, 0].max() <= 1 and samples[:, 1].min() >= 0
    assert abs(samples[:, 1].mean() - 2.5) < 0.1  # uniform on [0, 5]
    assert abs(samples[:, 2].std() - 1.0) < 0.1  # unbounded: standard normal, as in gymnasium
    assert bool(jax.vmap(space.contains)(samples).all())
    assert not bool(space.contains(np.array([2.0, 1.0, 0.0])))
    assert not bool(space.contains(np.zeros(2)))
    integers = spaces.Box(0, 2, (1000,), jnp.int32)
    drawn = np.asarray(integers.sample(jax.random.key(1)))
    assert drawn.dtype == np.int32 and set(np.unique(drawn).tolist()) == {0, 1, 2}  # high inclusive
    with pytest.raises(ValueError, match="low <= high"):
        spaces.Box(1.0, 0.0, (2,))


def test_dict_space() -> None:
    space = spaces.Dict({"a": spaces.Discrete(3), "b": spaces.Box(0.0, 1.0, (2,))})
    sample = space.sample(jax.random.key(0))
    assert set(sample) == {"a", "b"} and bool(space.contains(sample))
    assert not bool(space.contains({"a": sample["a"]}))
    assert not bool(space.contains({"a": jnp.int32(5), "b": sample["b"]}))
    assert space["a"].n == 3


def test_spaces_are_gymnax_spaces() -> None:
    from gymnax.environments import spaces as gymnax_spaces

    assert isinstance(spaces.Discrete(2), gymnax_spaces.Discrete)
    assert isinstance(spaces.Box(0.0, 1.0, (2,)), gymnax_spaces.Box)
    assert isinstance(spaces.Dict({"a": spaces.Discrete(2)}), gymnax_spaces.Dict)


def test_box_with_traced_bounds() -> None:
    """Inside jit a bound may be traced: the Box keeps it as a jnp array and still samples and checks."""

    def fn(high: jax.Array, key: jax.Array):
        box = spaces.Box([-high, 0.0], [high, 1.0], (2,))  # a list with a tracer in it, as Pendulum's
        integers = spaces.Box(0, high.astype(jnp.int32), (500,), jnp.int32)
        sample = box.sample(key)
        drawn = integers.sample(key)
        return sample, box.contains(sample), box.contains(jnp.array([high + 1.0, 0.5])), drawn

    sample, inside, outside, drawn = jax.jit(fn)(jnp.float32(3.0), jax.random.key(0))
    assert bool(inside) and not bool(outside) and abs(float(sample[0])) <= 3.0
    assert set(np.unique(drawn).tolist()) == {0, 1, 2, 3}  # high inclusive, as with concrete bounds
    # Concrete bounds are still numpy arrays and still checked.
    assert isinstance(spaces.Box(0.0, 1.0, (2,)).high, np.ndarray)


def test_box_sample_with_bounds_at_the_float32_limit() -> None:
    # CartPole's velocity bounds are +-float32 max: high - low overflows, the samples must not.
    space = envs.make("CartPole-v1")[0].observation_space()
    samples = jax.vmap(space.sample)(jax.random.split(jax.random.key(0), 1000))
    assert bool(jnp.isfinite(samples).all()) and bool(jax.vmap(space.contains)(samples).all())


# --- registry -------------------------------------------------------------------------------------


def test_registry_lists_and_refuses() -> None:
    names = envs.registered()
    assert {"CartPole-v1", "MountainCar-v0", "Pendulum-v1"} <= set(names) and names == sorted(names)
    with pytest.raises(ValueError, match="Did you mean.*CartPole-v1") as error:
        envs.make("CartPole-v2")
    assert "Pendulum-v1" in str(error.value)  # the message lists what is registered
    with pytest.raises(ValueError, match="unexpected keyword argument.*'gravity'"):
        envs.make("CartPole-v1", gravity=3.0)
    with pytest.raises(ValueError, match="unknown adapter prefix 'nope'"):
        envs.make("nope:CartPole-v1")
    with pytest.raises(ValueError, match="already registered"):
        envs.register("CartPole-v1", lambda: None)
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        envs.make("CartPole-v1", max_steps_in_episode=-3)


# --- wrappers -------------------------------------------------------------------------------------


def test_vec_env_matches_manual_vmap() -> None:
    env, params = envs.make("CartPole-v1")
    vec = envs.VecEnv(env, 5)
    obs, state = vec.reset(jax.random.key(0), params)
    assert obs.shape == (5, 4) and len(np.unique(np.asarray(obs)[:, 0])) == 5  # one key per environment
    manual_obs, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), 5), params)
    np.testing.assert_array_equal(obs, manual_obs)
    actions = jnp.array([0, 1, 0, 1, 1])
    obs2, _, reward, terminated, truncated, info = vec.step(jax.random.key(1), state, actions, params)
    step_keys = jax.random.split(jax.random.key(1), 5)
    host_state = jax.device_get(state)
    for i in (0, 4):  # the first and last environment, stepped alone
        state_i = jax.tree.map(lambda x, i=i: x[i], host_state)
        single_obs = env.step(step_keys[i], state_i, actions[i], params)[0]
        np.testing.assert_allclose(obs2[i], single_obs, rtol=1e-6)
    assert reward.shape == terminated.shape == truncated.shape == (5,)
    assert info["final_observation"].shape == (5, 4)
    with pytest.raises(ValueError, match="num_envs"):
        envs.VecEnv(env, 0)


@pytest.mark.parametrize(("name", "limit"), [("CartPole-v1", 25), ("Pendulum-v1", 7)])
def test_episode_statistics_reports_finished_episodes(name: str, limit: int) -> None:
    """At ``episode_done`` the reported return and length are the finished episode's, summed here."""
    env, params = envs.make(name)
    params = params.replace(max_steps_in_episode=limit)
    vec = envs.VecEnv(envs.EpisodeStatistics(env), 4)
    space = env.action_space(params)

    @jax.jit
    def rollout(key):
        obs, state = vec.reset(key, params)

        def body(state, key_t):
            key_action, key_step = jax.random.split(key_t)
            actions = jax.vmap(space.sample)(jax.random.split(key_action, 4))
            _, state, reward, terminated, truncated, info = vec.step(key_step, state, actions, params)
            return state, (reward, terminated | truncated, info)

        return jax.lax.scan(body, state, jax.random.split(key, 60))[1]

    reward, done, info = jax.device_get(rollout(jax.random.key(0)))
    np.testing.assert_array_equal(info["episode_done"], done)
    assert done.sum() >= 4
    running_return, running_length = np.zeros(4), np.zeros(4, int)
    for t in range(60):
        running_return += reward[t]
        running_length += 1
        for i in np.flatnonzero(done[t]):
            assert info["episode_length"][t, i] == running_length[i]
            np.testing.assert_allclose(info["episode_return"][t, i], running_return[i], rtol=1e-5)
        running_return[done[t]], running_length[done[t]] = 0.0, 0
    if name == "Pendulum-v1":  # no termination: every episode is exactly the time limit long
        assert np.all(info["episode_length"][done] == limit)
    else:  # random CartPole episodes end by termination, with lengths that vary
        assert len(np.unique(info["episode_length"][done])) > 1


def test_flatten_observation_of_dict_observations() -> None:
    env = DictToy()
    params = env.default_params
    flat = envs.FlattenObservation(env)
    space = flat.observation_space(params)
    assert space.shape == (params.size + 1,)
    # Leaves in sorted key order: one_hot (size floats in [0, 1]) then position (0 .. size-1).
    np.testing.assert_array_equal(space.low, np.zeros(params.size + 1))
    np.testing.assert_array_equal(space.high, np.r_[np.ones(params.size), params.size - 1])
    obs, state = flat.reset(jax.random.key(0), params)
    inner_obs, _ = env.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(obs, np.r_[inner_obs["one_hot"], inner_obs["position"]])
    assert obs.dtype == jnp.float32 and bool(space.contains(obs))
    obs, state, reward, terminated, truncated, info = flat.step(jax.random.key(1), state, 1, params)
    assert info["final_observation"].shape == (params.size + 1,)
    assert int(np.argmax(info["final_observation"][: params.size])) == int(info["final_observation"][-1])
    # A Box observation comes out unchanged.
    cartpole, cartpole_params = envs.make("CartPole-v1")
    obs, _ = envs.FlattenObservation(cartpole).reset(jax.random.key(0), cartpole_params)
    np.testing.assert_array_equal(obs, cartpole.reset(jax.random.key(0), cartpole_params)[0])


def test_flatten_observation_space_with_traced_bounds() -> None:
    class TracedBounds(envs.Environment):
        def observation_space(self, params=None):
            return spaces.Dict({"a": spaces.Box(0.0, params, (2,)), "b": spaces.Discrete(3)})

    flat = envs.FlattenObservation(TracedBounds())
    high = jax.jit(lambda p: flat.observation_space(p).high)(jnp.float32(4.0))
    np.testing.assert_array_equal(high, [4.0, 4.0, 2.0])
    assert isinstance(flat.observation_space(2.0).high, np.ndarray)


def test_conformance_suite_handles_dict_observations() -> None:
    report = check_environment(DictToy(), time_limit=6, num_envs=4)
    assert report.terminations > 0 and report.truncations > 0

"""The real MiniHack behind our API (envs/minihack_adapter.py), checked against the real package."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("minihack")

import gymnasium as gym  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import nle.nethack as nethack  # noqa: E402

import envs  # noqa: E402
from envs import minihack_adapter  # noqa: E402
from envs.minihack_adapter import STUDY_TASKS, message_id  # noqa: E402

pytestmark = pytest.mark.minihack

ALL_KEYS = ("glyphs", "glyphs_crop", "position", "message", "blstats", "message_chars")
RAW_KEYS = ("glyphs", "glyphs_crop", "blstats", "message")


def real_minihack(env_id: str, **kwargs) -> gym.Env:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(env_id, observation_keys=RAW_KEYS, **kwargs)


def copy_obs(raw: dict) -> dict:
    return {key: np.array(value) for key, value in raw.items()}  # NLE reuses its buffers


def first(tree):
    return jax.tree.map(lambda x: np.asarray(x)[0], tree)


def assert_same_as_real(ours: dict, real: dict) -> None:
    np.testing.assert_array_equal(ours["glyphs"], real["glyphs"])
    np.testing.assert_array_equal(ours["glyphs_crop"], real["glyphs_crop"])
    np.testing.assert_array_equal(ours["blstats"], real["blstats"])
    np.testing.assert_array_equal(ours["position"], real["blstats"][:2])
    np.testing.assert_array_equal(ours["message_chars"], real["message"])
    text = real["message"].tobytes().split(b"\0", 1)[0]
    assert int(ours["message"]) == message_id(text)
    assert (int(ours["message"]) == 0) == (text == b"")


def test_message_id_is_stable_and_zero_only_for_no_message():
    # A constant, so the id cannot depend on the process (as Python's str hash does).
    assert message_id("It's a wall.") == 730533
    assert message_id(b"It's a wall.\0\0garbage") == 730533
    assert message_id(np.frombuffer(b"It's a wall.\0\0\0", np.uint8)) == 730533
    assert message_id("") == 0 and message_id(np.zeros(256, np.uint8)) == 0
    assert 0 < message_id("The door opens.") < minihack_adapter.MESSAGE_ID_RANGE


def step_side_by_side(env_id: str, level_seed: int, num_steps: int, real: gym.Env, reset_real) -> list[bool]:
    """Step the adapter (one context: ``level_seed``) and the real MiniHack with the same random
    actions; every observation, reward and episode end must agree. Returns the success flag of each
    episode that ended."""
    env, params = envs.make(
        f"minihack:{env_id}", num_envs=1, seed=level_seed, num_contexts=1, observation_keys=ALL_KEYS
    )
    actions = np.random.default_rng(0).integers(0, env.action_space(params).n, num_steps)
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert_same_as_real(first(obs), copy_obs(reset_real()))
    outcomes = []
    for t, action in enumerate(actions):
        obs, state, reward, terminated, truncated, info = env.step(
            jax.random.PRNGKey(t + 1), state, jnp.array([action]), params
        )
        raw, real_reward, real_terminated, real_truncated, real_info = real.step(int(action))
        raw = copy_obs(raw)
        assert float(reward[0]) == pytest.approx(real_reward)
        assert bool(terminated[0]) == real_terminated and not real_truncated and not bool(truncated[0])
        success = int(real_info["end_status"]) == int(real.unwrapped.StepStatus.TASK_SUCCESSFUL)
        assert bool(info["success"][0]) == success
        assert_same_as_real(first(info["final_observation"]), raw)
        if real_terminated:
            outcomes.append(success)
            raw = copy_obs(reset_real())
        assert_same_as_real(first(obs), raw)
    env.close()
    return outcomes


def test_observations_match_real_minihack_through_successful_episodes():
    """The reference is seeded by MiniHack's own ``seeds=`` option."""
    level_seed = 2
    real = real_minihack("MiniHack-Room-Random-5x5-v0", seeds=[level_seed])
    outcomes = step_side_by_side("MiniHack-Room-Random-5x5-v0", level_seed, 60, real, lambda: real.reset()[0])
    assert outcomes.count(True) >= 2, "the test should cover several episodes that reach the goal"


def test_observations_match_real_minihack_through_deaths_in_multiroom_lava():
    """MiniGrid-based task: MiniHack's ``seeds=`` cannot seed its layout with MiniGrid >= 3, so the
    reference is seeded by hand as MiniHack intends (core = disp = level seed, MiniGrid's generator)."""
    from gymnasium.utils import seeding

    level_seed = 5
    real = real_minihack("MiniHack-MultiRoom-N6-Lava-v0")

    def reset_real():
        real.unwrapped.nethack.set_initial_seeds(level_seed, level_seed, False)
        real.unwrapped.minigrid_env.unwrapped.np_random, _ = seeding.np_random(level_seed)
        return real.reset()[0]

    outcomes = step_side_by_side("MiniHack-MultiRoom-N6-Lava-v0", level_seed, 20, real, reset_real)
    assert outcomes.count(False) >= 2, "random moves should walk into the lava walls several times"


def test_time_limit_is_truncation_not_termination():
    num_envs, limit = 2, 4
    env, params = envs.make("minihack:MiniHack-MultiRoom-N4-v0", num_envs=num_envs, max_episode_steps=limit)
    assert params.max_steps_in_episode == limit
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    blank = nethack.GLYPH_CMAP_OFF  # the glyph of unexplored space
    for t in range(1, 2 * limit + 1):
        obs, state, _, terminated, truncated, info = env.step(
            jax.random.PRNGKey(t), state, jnp.full((num_envs,), t % 8), params
        )
        at_limit = t % limit == 0
        assert not np.any(terminated)
        np.testing.assert_array_equal(truncated, np.full(num_envs, at_limit))
        np.testing.assert_array_equal(state.time, np.full(num_envs, 0 if at_limit else t % limit))
        final = info["final_observation"]
        if at_limit:
            # The real last state, not a blank screen; the next observation starts a new level.
            assert np.all((final["glyphs"] != blank).sum(axis=(1, 2)) > 10)
            assert np.all(np.any(final["glyphs"] != obs["glyphs"], axis=(1, 2)))
        else:
            jax.tree.map(np.testing.assert_array_equal, final, obs)

    # Why the adapter counts the limit itself: NLE ends its own limit (here the task's 120 steps) as a
    # termination with a blank screen.
    real = real_minihack("MiniHack-MultiRoom-N4-v0")
    real.reset()
    for _ in range(real.unwrapped._max_episode_steps):
        raw, _, real_terminated, real_truncated, real_info = real.step(0)
        assert not real_truncated
    assert real_terminated and not real_truncated
    assert int(real_info["end_status"]) == int(real.unwrapped.StepStatus.ABORTED)
    assert np.all(raw["glyphs"] == blank)


def test_scan_under_jit_matches_eager_steps_and_is_deterministic():
    num_envs, num_steps = 3, 10

    def run_scan(env, params, key):
        def body(carry, step_key):
            obs, state = carry
            key_action, key_step = jax.random.split(step_key)
            action = jax.random.randint(key_action, (num_envs,), 0, 8)
            obs, state, reward, terminated, truncated, info = env.step(key_step, state, action, params)
            return (obs, state), (obs, reward, terminated, truncated, info["final_observation"])

        key_reset, key_steps = jax.random.split(key)
        obs, state = env.reset(key_reset, params)
        _, trajectory = jax.lax.scan(body, (obs, state), jax.random.split(key_steps, num_steps))
        return obs, trajectory

    def run_eager(env, params, key):
        key_reset, key_steps = jax.random.split(key)
        obs, state = env.reset(key_reset, params)
        first_obs, outputs = obs, []
        for step_key in jax.random.split(key_steps, num_steps):
            key_action, key_step = jax.random.split(step_key)
            action = jax.random.randint(key_action, (num_envs,), 0, 8)
            obs, state, reward, terminated, truncated, info = env.step(key_step, state, action, params)
            outputs.append((obs, reward, terminated, truncated, info["final_observation"]))
        return first_obs, jax.tree.map(lambda *xs: np.stack(xs), *outputs)

    make = lambda: envs.make("minihack:MiniHack-Room-Random-5x5-v0", num_envs=num_envs, max_episode_steps=4)
    (env_a, params_a), (env_b, params_b) = make(), make()
    key = jax.random.PRNGKey(3)
    scan_a = jax.jit(lambda k: run_scan(env_a, params_a, k))
    scanned = scan_a(key)
    eager = run_eager(env_b, params_b, key)
    jax.tree.map(np.testing.assert_array_equal, scanned, eager)
    ends = np.asarray(scanned[1][2]) | np.asarray(scanned[1][3])
    assert np.all(ends.sum(axis=0) >= 2)  # episodes of at most 4 steps: auto-resets inside the scan

    again = scan_a(key)  # same env, same key: the same run
    jax.tree.map(np.testing.assert_array_equal, scanned, again)
    other, _ = env_a.reset(jax.random.PRNGKey(4), params_a)
    assert np.any(np.asarray(other["glyphs"]) != np.asarray(scanned[0]["glyphs"]))


def test_num_contexts_fixes_the_set_of_levels():
    # The study's controlled task; its layout comes from MiniGrid, which MiniHack's own ``seeds=``
    # option cannot seed with MiniGrid >= 3.
    def initial_levels(num_contexts):
        env, params = envs.make(
            "minihack:MiniHack-MultiRoom-N6-Lava-v0", num_envs=3, num_contexts=num_contexts, seed=11
        )
        assert params.max_steps_in_episode == 240  # MiniHack's own limit for this task
        levels = set()
        for k in (2, 3):  # keys whose context draws include both contexts
            obs, _ = env.reset(jax.random.PRNGKey(k), params)
            levels |= {np.asarray(g).tobytes() for g in obs["glyphs"]}
        env.close()
        return levels

    assert len(initial_levels(2)) == 2
    assert len(initial_levels(-1)) == 6


def test_worker_processes_give_the_same_run():
    def run(num_workers):
        env, params = envs.make(
            "minihack:MiniHack-Room-Random-5x5-v0", num_envs=2, num_workers=num_workers, max_episode_steps=3
        )
        obs, state = env.reset(jax.random.PRNGKey(5), params)
        trajectory = [obs]
        for t in range(4):
            obs, state, reward, terminated, truncated, info = env.step(
                jax.random.PRNGKey(t), state, jnp.array([t % 8, 7 - t]), params
            )
            trajectory.append((obs, reward, truncated, info["final_observation"]))
        env.close()
        return trajectory

    jax.tree.map(np.testing.assert_array_equal, run(0), run(2))


def test_all_study_tasks_can_be_created_and_reset():
    assert len(STUDY_TASKS) == 16
    for env_id in STUDY_TASKS:
        env, params = envs.make(f"minihack:{env_id}", num_envs=1)
        assert env.num_envs == 1 and env.is_batched and params.max_steps_in_episode > 0
        obs, state = env.reset(jax.random.PRNGKey(0), params)
        space = env.observation_space(params)
        for key, value in obs.items():
            assert value.shape == (1, *space[key].shape) and value.dtype == space[key].dtype, (env_id, key)
        x, y = np.asarray(obs["position"][0])
        assert nethack.glyph_is_monster(int(obs["glyphs"][0, y, x])), env_id  # the agent stands at (x, y)
        np.testing.assert_array_equal(obs["glyphs_crop"][0, 4, 4], obs["glyphs"][0, y, x])
        env.close()


def test_refuses_vmap_vecenv_and_bad_arguments():
    env, params = envs.make("minihack:MiniHack-Room-5x5-v0", num_envs=2)
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    with pytest.raises(ValueError, match="already batched"):
        jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    with pytest.raises(ValueError, match="already batched"):
        envs.VecEnv(env, 2).step(keys[0], state, jnp.zeros((2,), jnp.int32), params)
    with pytest.raises(ValueError, match="unknown MiniHack id"):
        envs.make("minihack:MiniHack-Room-5x6-v0")
    with pytest.raises(ValueError, match="num_envs"):
        envs.make("minihack:MiniHack-Room-5x5-v0", num_envs=0)
    with pytest.raises(ValueError, match="num_contexts"):
        envs.make("minihack:MiniHack-Room-5x5-v0", num_contexts=0)
    with pytest.raises(ValueError, match="max_episode_steps"):
        envs.make("minihack:MiniHack-Room-5x5-v0", max_episode_steps=0)
    with pytest.raises(ValueError, match="observation_keys"):
        envs.make("minihack:MiniHack-Room-5x5-v0", observation_keys=("glyphs", "smell"))
    with pytest.raises(ValueError, match="num_contexts"):
        envs.make("minihack:MiniHack-Room-5x5-v0", env_kwargs={"seeds": [1, 2]})


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "minihack", None)  # makes ``import minihack`` fail
    with pytest.raises(ImportError, match=r"pip install 'jaxrl-research\[minihack\]'"):
        envs.make("minihack:MiniHack-Room-5x5-v0")


def test_short_ppo_run_through_the_adapter():
    ppo = pytest.importorskip("jaxrl.ppo")
    config = ppo.PPOConfig(
        env="minihack:MiniHack-Room-5x5-v0",
        env_kwargs={"num_envs": 4, "observation_keys": ("position", "message"), "max_episode_steps": 16},
        total_timesteps=256, num_envs=4, num_steps=32, num_minibatches=1, update_epochs=1,
    )
    trainer = ppo.make_train(config)
    state = trainer.init(jax.random.PRNGKey(0))
    episodes = 0.0
    for _ in range(config.total_timesteps // (config.num_envs * config.num_steps)):
        state, metrics = trainer.update(state)
        for name in ("loss", "policy_loss", "value_loss", "entropy"):
            assert np.isfinite(float(metrics[name])), name
        episodes += float(metrics["episodes"])
    assert int(metrics["update"]) == 2
    assert episodes >= 2 * 4 * 32 / 16  # at least every time limit ended an episode

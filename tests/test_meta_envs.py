"""Meta-RL trial environments: the structured bandit, the hidden-goal gridworld trials and the
RL-squared trial wrapper (``papers/meta_rl.md``)."""

from __future__ import annotations

from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.meta.bandits import make_structured_bandit, sample_means
from envs.meta.goal_trials import MAZES, MOVES, START, layout_walls, make_goal_trials

# (The conformance checks of every registered trial environment are in test_env_conformance.py.)


# --------------------------------------------------------------------------- bandit


def test_one_good_prior():
    _, params = make_structured_bandit(num_arms=5)
    sample = jax.jit(jax.vmap(lambda k: sample_means(k, params)))
    means = np.asarray(sample(jax.random.split(jax.random.key(0), 400)))
    good = np.isclose(means, 0.9)
    assert np.all(good.sum(axis=1) == 1), "exactly one good arm per trial"
    poor = means[~good]
    assert poor.min() >= 0.1 and poor.max() <= 0.3
    # the good arm's position is uniform over the 5 arms (each about 80 of 400)
    counts = np.bincount(good.argmax(axis=1), minlength=5)
    assert counts.min() > 50, counts


def test_uniform_and_fixed_priors():
    _, params = make_structured_bandit(num_arms=4, prior="uniform")
    sample = jax.jit(jax.vmap(lambda k: sample_means(k, params)))
    means = np.asarray(sample(jax.random.split(jax.random.key(1), 300)))
    assert means.min() >= 0.0 and means.max() <= 1.0 and means.std() > 0.2
    _, params = make_structured_bandit(num_arms=3, prior="fixed", fixed_means=(0.1, 0.7, 0.4))
    np.testing.assert_allclose(sample_means(jax.random.key(2), params), [0.1, 0.7, 0.4])


def _bandit_rollout(params, key, actions):
    """Step the raw bandit through one trial with the given actions; record means and info."""
    env, _ = make_structured_bandit()

    @jax.jit
    def run(key):
        _, state = env.reset(key, params)

        def step(state, inputs):
            k, action = inputs
            means = state.means
            _, state, reward, terminated, truncated, info = env.step(k, state, action, params)
            out = dict(means=means, reward=reward, terminated=terminated, truncated=truncated, **info)
            out.pop("final_observation")
            return state, out

        return jax.lax.scan(step, state, (jax.random.split(key, len(actions)), jnp.asarray(actions)))[1]

    return jax.tree.map(np.asarray, run(key))


@pytest.mark.parametrize("resample", ["none", "episode", "step"])
def test_structure_switch_and_trial_boundaries(resample):
    pulls, episodes = 4, 3
    _, params = make_structured_bandit(
        num_arms=5, pulls_per_episode=pulls, num_episodes=episodes, prior="uniform", resample=resample
    )
    length = pulls * episodes
    actions = np.arange(2 * length) % 5  # two trials
    out = _bandit_rollout(params, jax.random.key(3), actions)
    t = np.arange(2 * length)
    np.testing.assert_array_equal(out["episode_boundary"], (t % pulls) == pulls - 1)
    np.testing.assert_array_equal(out["inner_episode"], (t % length) // pulls)
    np.testing.assert_array_equal(out["terminated"], (t % length) == length - 1)
    np.testing.assert_array_equal(out["truncated"], out["terminated"])  # the cap is the trial length
    means = out["means"]
    changed = np.any(means[1:] != means[:-1], axis=1)  # the means of pull t+1 differ from pull t's
    trial_start = (t[1:] % length) == 0
    episode_start = (t[1:] % pulls) == 0
    assert np.all(changed[trial_start]), "every trial draws new means"
    expected = {"none": trial_start, "episode": episode_start, "step": np.ones_like(trial_start)}[resample]
    np.testing.assert_array_equal(changed, expected)
    np.testing.assert_allclose(out["regret"], means.max(axis=1) - means[t, actions], atol=1e-7)
    np.testing.assert_array_equal(out["best_arm"], means.argmax(axis=1))


@pytest.mark.parametrize("reward_dist", ["bernoulli", "gaussian"])
def test_reward_distributions(reward_dist):
    means = (0.1, 0.8)
    _, params = make_structured_bandit(
        num_arms=2, prior="fixed", fixed_means=means, reward_dist=reward_dist, reward_std=0.5,
        pulls_per_episode=1000, num_episodes=1,
    )
    actions = np.arange(1000) % 2
    rewards = _bandit_rollout(params, jax.random.key(4), actions)["reward"]
    for arm, mean in enumerate(means):
        r = rewards[actions == arm]
        std = np.sqrt(mean * (1 - mean)) if reward_dist == "bernoulli" else 0.5
        assert abs(r.mean() - mean) < 4 * std / np.sqrt(len(r))
        if reward_dist == "bernoulli":
            assert set(np.unique(r)) <= {0.0, 1.0}
        else:
            assert abs(r.std() - 0.5) < 0.05


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(num_arms=1), "num_arms"),
        (dict(pulls_per_episode=0), "pulls_per_episode"),
        (dict(num_episodes=0), "num_episodes"),
        (dict(prior="two_good"), "prior"),
        (dict(reward_dist="poisson"), "reward_dist"),
        (dict(resample="trial"), "resample"),
        (dict(poor_low=0.5, poor_high=0.2), "poor_low"),
        (dict(good_mean=1.5), "good_mean"),
        (dict(reward_std=0.0), "reward_std"),
        (dict(prior="fixed", fixed_means=(0.1, 0.2)), "fixed_means"),
        (dict(fixed_means=(0.1,) * 5), "fixed_means"),
    ],
)
def test_bandit_rejects_bad_values(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        envs.make("StructuredBandit-K5", **kwargs)


# --------------------------------------------------------------------------- gridworld


def _reachable(walls: np.ndarray, start=START) -> set[tuple[int, int]]:
    size = walls.shape[0]
    seen, queue = {start}, deque([start])
    while queue:
        r, c = queue.popleft()
        for dr, dc in MOVES:
            n = (r + dr, c + dc)
            if 0 <= n[0] < size and 0 <= n[1] < size and not walls[n] and n not in seen:
                seen.add(n)
                queue.append(n)
    return seen


@pytest.mark.parametrize("size", sorted(MAZES))
def test_mazes_are_connected(size):
    walls = layout_walls(size, "maze")
    free = {(r, c) for r in range(size) for c in range(size) if not walls[r, c]}
    assert not walls[START]
    assert _reachable(walls) == free


def test_goal_prior():
    env, params = make_goal_trials(size=7, layout="maze")
    sample = jax.jit(jax.vmap(lambda k: env.sample_goal(k, params)))
    goals = np.asarray(sample(jax.random.split(jax.random.key(5), 2000)))
    walls = layout_walls(7, "maze")
    cells = {tuple(g) for g in goals}
    free = {(r, c) for r in range(7) for c in range(7) if not walls[r, c]} - {START}
    assert cells == free, "goals cover every free cell but the start, and nothing else"


def test_gridworld_rules():
    """Walls and edges block, the goal gives reward 1 and ends the inner episode, the agent restarts
    at the start cell, the goal stays for the trial, and the trial ends after its episodes."""
    env, params = make_goal_trials(size=5, layout="maze", max_episode_steps=6, num_episodes=3)
    _, state = env.reset(jax.random.key(0), params)
    state = state.replace(goal=jnp.array([0, 2], jnp.int32))
    step = lambda s, a: env.step(jax.random.key(1), s, a, params)
    obs, state, reward, terminated, truncated, info = step(state, 0)  # up: off the grid, stays
    assert tuple(np.asarray(state.position)) == (0, 0) and reward == 0 and not info["episode_boundary"]
    assert np.argmax(obs) == 0
    obs, state, reward, *_ = step(state, 1)  # right, to (0, 1)
    assert tuple(np.asarray(state.position)) == (0, 1) and np.argmax(obs) == 1
    _, state, *_ = step(state, 2)  # down into the wall at (1, 1): stays
    assert tuple(np.asarray(state.position)) == (0, 1)
    obs, state, reward, terminated, truncated, info = step(state, 1)  # onto the goal
    assert reward == 1.0 and info["reached_goal"] and info["episode_boundary"] and not terminated
    assert info["inner_episode"] == 0 and int(state.episode_index) == 1
    assert tuple(np.asarray(state.position)) == START and np.argmax(obs) == 0
    assert tuple(np.asarray(state.goal)) == (0, 2), "the goal stays for the trial"
    for t in range(6):  # episode 2 times out
        _, state, reward, terminated, _, info = step(state, 3)
        assert bool(info["episode_boundary"]) == (t == 5) and reward == 0
    for _ in range(2):  # episode 3 reaches the goal, which ends the trial
        _, state, reward, terminated, truncated, info = step(state, 1)
    assert reward == 1 and terminated and not truncated and info["inner_episode"] == 2
    assert int(state.time) == 0 and int(state.episode_index) == 0, "auto-reset to a new trial"


def test_gridworld_resample_switch():
    """With resample='episode' the goal is redrawn at every inner-episode start, and only then (with
    'none' it stays for the trial: `test_gridworld_rules`)."""
    env, params = make_goal_trials(size=5, max_episode_steps=2, num_episodes=20, resample="episode")
    _, state = env.reset(jax.random.key(6), params)
    goals = [tuple(np.asarray(state.goal))]
    for t in range(38):
        _, state, *_ = env.step(jax.random.fold_in(jax.random.key(7), t), state, 0, params)
        goals.append(tuple(np.asarray(state.goal)))
    changed = np.array([a != b for a, b in zip(goals, goals[1:], strict=False)])
    assert not np.any(changed[0::2]), "no change inside an inner episode"
    assert changed[1::2].sum() > 10, "a new goal at (almost) every inner-episode start (1/19 repeat)"


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(layout="rooms"), "layout"),
        (dict(max_episode_steps=0), "max_episode_steps"),
        (dict(num_episodes=0), "num_episodes"),
        (dict(resample="step"), "resample"),
    ],
)
def test_goal_trials_rejects_bad_values(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        envs.make("GoalTrials-7x7", **kwargs)
    with pytest.raises(ValueError, match="size"):
        make_goal_trials(size=6, layout="maze")


def _shortest_path(walls, start, goal):
    """First action of a shortest path (BFS) from start to goal, and its length."""
    size = walls.shape[0]
    parents = {goal: None}
    queue = deque([goal])
    while queue:  # BFS from the goal: follow parents from the start
        cell = queue.popleft()
        for dr, dc in MOVES:
            n = (cell[0] + dr, cell[1] + dc)
            if 0 <= n[0] < size and 0 <= n[1] < size and not walls[n] and n not in parents:
                parents[n] = cell
                queue.append(n)
    nxt = parents[start]
    action = [tuple(m) for m in MOVES.tolist()].index((nxt[0] - start[0], nxt[1] - start[1]))
    length, cell = 0, start
    while cell != goal:
        cell, length = parents[cell], length + 1
    return action, length


def _memory_agent_lengths(resample: str, num_trials: int) -> np.ndarray:
    """Steps per inner episode of a scripted agent with memory: it walks to the nearest cell it has not
    visited in this trial until it finds the goal, and then walks straight to where it found it.
    Measured with the trial wrapper's statistics."""
    env, params = envs.make("GoalTrials-5x5", num_episodes=5, max_episode_steps=30, resample=resample)
    walls = layout_walls(5, "maze")
    lengths = []
    for trial in range(num_trials):
        obs, state = env.reset(jax.random.key(100 + trial), params)
        visited, goal, stepped_to = {START}, None, None
        for t in range(params.max_steps_in_episode):
            position = divmod(int(np.argmax(obs["obs"])), 5)
            if obs["prev_reward"][0] == 1.0:  # the last step found the goal
                goal = stepped_to
            elif goal is not None and stepped_to == goal:  # the goal was not where it had been
                goal, visited = None, {position}
            if goal is not None:
                target = goal
            else:
                unvisited = (_reachable(walls) - visited) or (_reachable(walls) - {position})
                target = min(unvisited, key=lambda c: (_shortest_path(walls, position, c)[1], c))
            action, _ = _shortest_path(walls, position, target)
            stepped_to = (position[0] + MOVES[action][0], position[1] + MOVES[action][1])
            visited.add(stepped_to)
            key = jax.random.fold_in(jax.random.key(trial), t)
            obs, state, _, terminated, _, info = env.step(key, state, action, params)
            if terminated:
                lengths.append(np.asarray(info["trial_episode_lengths"]))
                break
    return np.stack(lengths)


def test_memory_pays_only_with_structure():
    """The task rewards memory exactly when the goal is fixed for the trial: a scripted agent that
    remembers needs far fewer steps in episode 5 than in episode 1 (what the learnt agent is later
    asked to show, at most 70%), and no fewer when the goal is redrawn every episode."""
    structured = _memory_agent_lengths("none", 4)
    assert structured[:, 4].mean() <= 0.7 * structured[:, 0].mean(), structured
    assert np.all(structured[:, 4] <= 8), "episode 5 walks a shortest path (the 5x5 maze's longest is 8)"
    unstructured = _memory_agent_lengths("episode", 4)
    assert unstructured[:, 4].mean() > 0.7 * unstructured[:, 0].mean(), unstructured


# --------------------------------------------------------------------------- trial wrapper


def test_trial_wrapper_extras_and_statistics():
    """Step a wrapped bandit in a Python loop with random actions and check every extra and statistic
    against bookkeeping done here."""
    pulls, episodes, arms = 3, 2, 4
    env, params = envs.make(
        "StructuredBandit-K5", pulls_per_episode=pulls, num_episodes=episodes, prior="uniform"
    )
    space = env.observation_space(params)
    rng = np.random.default_rng(0)
    obs, state = env.reset(jax.random.key(8), params)
    prev_action, prev_reward, start = None, 0.0, True
    inner, trial, episode_returns = 0.0, 0.0, []
    checked_trials = 0
    for t in range(3 * pulls * episodes):
        assert bool(space.contains(obs))
        expected_action = np.zeros(5) if prev_action is None else np.eye(5)[prev_action]
        np.testing.assert_array_equal(obs["prev_action"], expected_action)
        np.testing.assert_array_equal(obs["prev_reward"], [prev_reward])
        np.testing.assert_array_equal(obs["episode_start"], [float(start)])
        action = int(rng.integers(arms))
        key = jax.random.key(1000 + t)
        obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
        reward = float(reward)
        inner += reward
        trial += reward
        boundary = (t % pulls) == pulls - 1
        assert bool(info["episode_boundary"]) == boundary
        final = info["final_observation"]
        np.testing.assert_array_equal(final["prev_action"], np.eye(5)[action])
        np.testing.assert_array_equal(final["prev_reward"], [reward])
        if boundary:
            assert float(info["inner_episode_return"]) == inner
            assert int(info["inner_episode_length"]) == pulls
            episode_returns.append(inner)
            inner = 0.0
        trial_done = bool(terminated | truncated)
        assert bool(info["trial_done"]) == trial_done == ((t + 1) % (pulls * episodes) == 0)
        if trial_done:
            assert float(info["trial_return"]) == trial
            assert int(info["trial_length"]) == pulls * episodes
            np.testing.assert_array_equal(info["trial_episode_returns"], episode_returns)
            np.testing.assert_array_equal(info["trial_episode_lengths"], [pulls] * episodes)
            trial, episode_returns = 0.0, []
            prev_action, prev_reward, start = None, 0.0, True
            checked_trials += 1
        else:
            prev_action, prev_reward, start = action, reward, boundary
    assert checked_trials == 3


def test_trial_wrapper_vmaps_over_gridworld():
    env, params = envs.make("GoalTrials-7x7", max_episode_steps=3, num_episodes=2)
    vec = envs.VecEnv(env, 4)
    obs, state = vec.reset(jax.random.key(9), params)
    assert obs["obs"].shape == (4, 49) and obs["prev_action"].shape == (4, 4)
    assert np.all(obs["episode_start"] == 1)
    for t in range(6):
        left = jnp.full(4, 3)
        obs, state, reward, terminated, truncated, info = vec.step(jax.random.key(t), state, left, params)
    # always moving left from the start never reaches a goal: every trial is 2 episodes of 3 steps
    assert np.all(terminated) and not np.any(truncated & ~terminated)
    np.testing.assert_array_equal(info["trial_episode_lengths"], np.full((4, 2), 3))
    assert np.all(obs["episode_start"] == 1) and np.all(obs["prev_action"] == 0)


def test_split_episodes_mode():
    """The no-memory mode: every inner episode ends the environment episode and clears the extras,
    while the bandit's means persist and the trial statistics still follow whole trials."""
    env, params = envs.make("StructuredBandit-K5", pulls_per_episode=2, num_episodes=3, split_episodes=True)
    obs, state = env.reset(jax.random.key(11), params)
    means = np.asarray(state.env_state.means)
    for t in range(6):
        obs, state, reward, terminated, truncated, info = env.step(jax.random.key(t), state, t % 5, params)
        boundary = t % 2 == 1
        assert bool(terminated) == boundary and bool(info["trial_done"]) == (t == 5)
        if t < 5:
            np.testing.assert_array_equal(state.env_state.means, means)
        np.testing.assert_array_equal(obs["prev_action"].sum(), 0.0 if boundary else 1.0)
        assert float(obs["episode_start"][0]) == float(boundary)
    np.testing.assert_array_equal(info["trial_episode_lengths"], [2, 2, 2])
    with pytest.raises(ValueError, match="trial_wrapper"):
        envs.make("GoalTrials-5x5", split_episodes=True, trial_wrapper=False)

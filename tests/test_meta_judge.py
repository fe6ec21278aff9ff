"""The verdicts of the emergent-exploration study (`jaxrl.meta.judge`), each with a positive and a
negative control: scripted policies played on the real environments (no training) whose per-"seed"
scores go straight into the judgement. A positive control is a policy the measure must call exploring
(the verdict must say "reproduced"); a negative control is one it must not (the verdict must say "not
reproduced"). Both kinds exist for every claim, so no verdict is decided before the agent is seen."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

from envs.meta.bandits import make_structured_bandit
from envs.meta.goal_trials import layout_walls, make_goal_trials
from jaxrl.meta.baselines import (
    depth_first_walk,
    exploration_flags,
    first_step_towards,
    fixed_arm,
    greedy,
    run_baseline,
    run_goal_baseline,
    uniform_random,
    win_stay_lose_shift,
)
from jaxrl.meta.judge import (
    FULL,
    HORIZONS,
    MEMORIES,
    SHORT,
    STRUCTURES,
    bandit_scores,
    bootstrap_difference,
    goal_scores,
    judge_claims,
)

SEEDS, TRIALS, PULLS = 5, 64, 10
POLICIES = {"greedy": greedy, "random": uniform_random, "fixed": fixed_arm, "wsls": win_stay_lose_shift}


@functools.cache
def bandit_play(policy: str, resample: str, reset: bool) -> dict[str, np.ndarray]:
    """`bandit_scores` of a scripted policy: SEEDS x TRIALS trials of the study's bandit, ``resample``
    "none" (structure) or "step" (none), ``reset`` forgetting everything at every inner episode (what a
    memory-off agent does)."""
    _, params = make_structured_bandit(5, pulls_per_episode=PULLS, num_episodes=5, resample=resample)
    play = run_baseline(POLICIES[policy](), jax.random.key(7), SEEDS * TRIALS, params, reset_each_episode=reset)
    explored, defined = jax.vmap(exploration_flags, in_axes=(0, 0, None))(play["arms"], play["rewards"], 5)
    shape = (SEEDS, TRIALS, -1)
    return bandit_scores(np.reshape(explored, shape), np.reshape(defined, shape), np.reshape(play["regret"], shape),
                         PULLS)


@functools.cache
def goal_play(policy: str, resample: str) -> dict[str, np.ndarray]:
    _, params = make_goal_trials(5, "maze", max_episode_steps=20, num_episodes=5, resample=resample)
    play = run_goal_baseline(policy, jax.random.key(3), SEEDS * TRIALS, params)
    shape = (SEEDS, TRIALS, -1)
    return goal_scores(np.reshape(play["episode_steps"], shape), np.reshape(play["episode_reached"], shape))


def cells(full, short=None, no_structure=None, no_memory=None) -> dict:
    """The eight cells of the grid: ``full`` for the structure-and-memory cells unless ``short`` is
    given, ``no_structure`` for every structure-off cell, ``no_memory`` for the structure-on,
    memory-off ones (each ``full`` if not given)."""
    no_structure = full if no_structure is None else no_structure
    no_memory = full if no_memory is None else no_memory
    grid = {}
    for s in STRUCTURES:
        for m in MEMORIES:
            for h in HORIZONS:
                grid[(s, m, h)] = no_structure if s == "off" else (no_memory if m == "off" else full)
    grid[SHORT] = short if short is not None else full
    return grid


def verdicts(kind: str, grid: dict) -> list[bool]:
    return [v.reproduced for v in judge_claims(kind, grid)]


# ---- the bandit measures ------------------------------------------------------------------------


def test_bandit_measures_of_scripted_policies():
    explore_then_commit = bandit_play("greedy", "none", False)
    # greedy: pulls 2-5 go to untried arms (explore), 6-10 to the empirical best (exploit)
    np.testing.assert_array_equal(explore_then_commit["explore_drop"], 1.0)
    assert np.all(explore_then_commit["payoff"] > 0.2)
    np.testing.assert_array_equal(bandit_play("fixed", "none", False)["explore_drop"], 0.0)  # never explores
    assert np.all(np.abs(bandit_play("random", "none", False)["explore_drop"]) < 0.1)  # dithers evenly
    # exploring needs neither structure nor more than a one-step memory:
    np.testing.assert_array_equal(bandit_play("greedy", "step", False)["explore_drop"], 1.0)
    assert np.median(bandit_play("wsls", "none", True)["explore_drop"]) > 0.1


def test_bandit_scores_against_direct_computation():
    explored = np.zeros((1, 2, 4), bool)
    explored[0, 0, 1] = True
    defined = np.ones((1, 2, 4), bool)
    defined[:, :, 0] = False
    regret = np.array([[[0.5, 0.5, 0.0, 0.1], [0.3, 0.0, 0.0, 0.0]]])
    scores = bandit_scores(explored, defined, regret, pulls_per_episode=2)
    # first half of episode 1 = pull 0 (never defined) -> rate 0; second half = pull 1: 1 of 2
    np.testing.assert_allclose(scores["explore_early"], [0.0])
    np.testing.assert_allclose(scores["explore_late"], [0.5])
    np.testing.assert_allclose(scores["payoff"], [(0.5 + 0.5 + 0.3) / 4 - 0.1 / 4])
    with pytest.raises(ValueError, match="pulls_per_episode"):
        bandit_scores(explored, defined, regret, pulls_per_episode=5)
    with pytest.raises(ValueError, match="seeds, trials, pulls"):
        bandit_scores(explored[0], defined[0], regret[0], pulls_per_episode=2)


# ---- the bandit verdicts, each with its controls ------------------------------------------------


def test_bandit_full_cell_claim():
    assert verdicts("bandit", cells(bandit_play("greedy", "none", False)))[0]
    assert not verdicts("bandit", cells(bandit_play("random", "none", False)))[0]
    assert not verdicts("bandit", cells(bandit_play("fixed", "none", False)))[0]


def test_bandit_vanishes_without_structure():
    full = bandit_play("greedy", "none", False)
    assert verdicts("bandit", cells(full, no_structure=bandit_play("random", "step", False),
                                    no_memory=bandit_play("fixed", "none", True)))[1]
    # greedy on empirical means still explores (to no avail) when the means are redrawn every pull
    assert not verdicts("bandit", cells(full, no_structure=bandit_play("greedy", "step", False),
                                        no_memory=bandit_play("fixed", "none", True)))[1]


def test_bandit_vanishes_without_memory():
    full = bandit_play("greedy", "none", False)
    no_structure = bandit_play("random", "step", False)
    assert verdicts("bandit", cells(full, no_structure=no_structure, no_memory=bandit_play("fixed", "none", True)))[2]
    # win-stay lose-shift on a one-step memory, forgotten every episode, still explores then commits
    assert not verdicts("bandit", cells(full, no_structure=no_structure,
                                        no_memory=bandit_play("wsls", "none", True)))[2]


def test_bandit_nothing_to_vanish_is_not_a_reproduction():
    """The quick-size failure: the full cell learned nothing, so neither ablation can remove anything."""
    nothing = bandit_play("random", "none", False)
    result = verdicts("bandit", cells(nothing, no_structure=bandit_play("random", "step", False),
                                      no_memory=bandit_play("fixed", "none", True)))
    assert result == [False, False, False, False]
    # exploring that buys nothing later (greedy forgetting at every episode) is not emergent exploration
    # either, so there is again nothing to vanish
    pointless = bandit_play("greedy", "none", True)
    assert np.all(pointless["explore_drop"] == 1.0)
    result = verdicts("bandit", cells(pointless, no_structure=bandit_play("random", "step", False),
                                      no_memory=bandit_play("fixed", "none", True)))
    assert result == [False, False, False, False]


def test_bandit_short_horizon_claim():
    full = bandit_play("greedy", "none", False)
    assert verdicts("bandit", cells(full, short=full))[3]
    assert not verdicts("bandit", cells(full, short=bandit_play("random", "none", False)))[3]


# ---- the gridworld ------------------------------------------------------------------------------


def test_scripted_search_and_shortest_paths():
    walls = layout_walls(5, "maze")
    walk = depth_first_walk(walls)
    moves = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])
    position, seen = np.array([0, 0]), {(0, 0)}
    for action in walk:
        position = position + moves[action]
        assert not walls[tuple(position)]
        seen.add(tuple(position))
    assert len(seen) == int((~walls).sum())  # every free cell
    towards = first_step_towards(walls)
    for target, expected in (((4, 0), 4), ((0, 4), 4), ((2, 2), 4), ((3, 2), 5), ((4, 4), 8), ((2, 4), 6)):
        position, steps = np.array([0, 0]), 0
        while tuple(position) != target:
            position = position + moves[towards[target[0] * 5 + target[1], position[0] * 5 + position[1]]]
            steps += 1
            assert steps <= 25
        assert steps == expected


def test_goal_measures_of_scripted_policies():
    assert np.all(goal_play("sweep_return", "none")["speedup"] > 0.4)
    np.testing.assert_array_equal(goal_play("sweep", "none")["speedup"], 0.0)
    np.testing.assert_array_equal(goal_play("sweep", "none")["success_ep1"], 1.0)
    assert np.all(goal_play("sweep_return", "episode")["speedup"] < 0.0)  # returning to a moved goal costs
    steps = np.array([[[10, 5], [20, 5]]])
    scores = goal_scores(steps, np.array([[[True, True], [False, True]]]))
    np.testing.assert_allclose(scores["speedup"], [1 - 5 / 15])
    np.testing.assert_allclose(scores["success_ep1"], [0.5])
    with pytest.raises(ValueError, match="episodes >= 2"):
        goal_scores(steps[..., :1], steps[..., :1] > 0)


def test_gridworld_full_cell_and_short_horizon_claims():
    returns, sweeps = goal_play("sweep_return", "none"), goal_play("sweep", "none")
    assert verdicts("gridworld", cells(returns))[0]
    assert not verdicts("gridworld", cells(sweeps))[0]
    assert verdicts("gridworld", cells(returns, short=returns))[3]
    assert not verdicts("gridworld", cells(returns, short=sweeps))[3]


def test_gridworld_vanishing_claims():
    """Without memory or structure no policy speeds up, so these two verdicts turn on the full cell:
    reproduced when it speeds up significantly more than the ablated cells, not when it does not."""
    returns, sweeps = goal_play("sweep_return", "none"), goal_play("sweep", "none")
    no_structure = goal_play("sweep_return", "episode")
    assert verdicts("gridworld", cells(returns, no_structure=no_structure, no_memory=sweeps))[1:3] == [True, True]
    assert verdicts("gridworld", cells(sweeps, no_structure=no_structure, no_memory=sweeps))[1:3] == [False, False]


# ---- the interval of a difference ---------------------------------------------------------------


def test_bootstrap_difference():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 0.1, 10)
    point, low, high = bootstrap_difference(a, a)
    assert point == 0.0 and low < 0.0 < high
    point, low, high = bootstrap_difference(a + 1.0, a)
    assert point == pytest.approx(1.0) and 0.8 < low <= point <= high < 1.2
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_difference(a, [])


def test_judge_claims_needs_every_cell():
    grid = cells(goal_play("sweep", "none"))
    del grid[FULL]
    with pytest.raises(ValueError, match="missing"):
        judge_claims("gridworld", grid)
    with pytest.raises(ValueError, match="kind"):
        judge_claims("maze", cells(goal_play("sweep", "none")))

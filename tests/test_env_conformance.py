"""Every registered environment passes the shared conformance checks (`env_conformance`).

The tests are parametrised over ``envs.registered()``, so an environment is checked the moment it is
registered: with its defaults, or with the arguments of ``ARGUMENTS`` where its defaults would make the
check slow or cannot reach what is checked (a time limit, a termination). A name that is neither
runnable with its defaults nor in the table fails `test_every_registered_name_is_covered`. (Every
registered name's spaces inside ``jit``: `test_env_spaces_jit.py`.)
"""

from __future__ import annotations

from typing import Any

import pytest
from env_conformance import check_environment

import envs
from envs.gridworld import TASKS

# Keyword arguments of `check_environment` per name (``make_kwargs`` go to ``envs.make``); a list gives
# several checks of one name. Names not listed are checked with their defaults.
ARGUMENTS: dict[str, dict[str, Any] | list[dict[str, Any]]] = {
    # The BEV observation and the shaped reward are the largest; a small BEV keeps the compile short.
    "Driving-v0": dict(
        make_kwargs={"observation": "bev", "reward": "shaped", "bev_size": 16}, num_envs=2, time_limit=4
    ),
    # Random actions drop the pole before any affordable limit.
    "BARFI-CartPole": dict(make_kwargs={"heuristic": "misleading"}, require_truncation=False),
    "BARFI-GridWorld": dict(make_kwargs={"heuristic": "misleading"}),
    "BARFI-MountainCar": dict(make_kwargs={"heuristic": "misleading"}),
    # Every episode ends at the corridor's end after length + 1 steps whatever the actions: once with
    # terminations only, once cut by a time limit before the end.
    "MemoryCorridor": [dict(require_truncation=False), dict(time_limit=4)],
    # Short trials, so that the trial's end (a termination) is reached within the check, unwrapped.
    "StructuredBandit-K10": dict(
        make_kwargs=dict(
            trial_wrapper=False, reward_dist="gaussian", resample="step", pulls_per_episode=2, num_episodes=3
        ),
        require_truncation=False,
    ),
    # Random walks die in the dense lava before the default check limit (12 steps).
    "LavaCrossingS19N17": dict(time_limit=4),
    "MultiRoom-N2-Lava": dict(time_limit=4),
    "GoalTrials-5x5": dict(make_kwargs=dict(trial_wrapper=False, resample="episode", max_episode_steps=4)),
}

# Checks run with ``-m slow`` only. The gridworld tasks share one engine (rules, sight, observation) and
# differ in their level generators; each compiles for a while, so one task per generator runs by default
# and the other variants (sizes, lava, locked or open doors, dark, mapped: 34 names) with ``-m slow``, as
# does Corridor-R3, whose generator compiles slowest (167 s on a core at load average ~15, against
# 27-54 s for the other default gridworld tasks; it was slow-marked before too). Every other registered
# name runs by default (Driving-v0, 139 s there, was in the default suite before).
GRIDWORLD_DEFAULT = frozenset({"MultiRoom-N4", "KeyRoom-S5", "LavaCrossingS9N1", "MazeWalk-9x9"})
SLOW: frozenset[str] = frozenset(TASKS) - GRIDWORLD_DEFAULT


def _cases() -> list[Any]:
    cases = []
    for name in envs.registered():
        entry = ARGUMENTS.get(name, {})
        for i, arguments in enumerate(entry if isinstance(entry, list) else [entry]):
            marks = [pytest.mark.slow] if name in SLOW else []
            cases.append(pytest.param(name, arguments, id=f"{name}-{i}" if i else name, marks=marks))
    return cases


@pytest.mark.parametrize(("name", "arguments"), _cases())
def test_conformance(name: str, arguments: dict[str, Any]) -> None:
    report = check_environment(name, **arguments)
    assert report.episodes_finished > 0, f"{name}: no episode ended within the check"
    if not arguments.get("require_truncation", True):
        assert report.terminations > 0, f"{name}: require_truncation=False but nothing terminated"


def test_every_registered_name_is_covered() -> None:
    """A registered name is built with its defaults, or listed in ``ARGUMENTS``; the table names only
    registered environments (a renamed one would otherwise silently lose its arguments)."""
    unknown = sorted(set(ARGUMENTS) - set(envs.registered()))
    assert not unknown, f"ARGUMENTS lists unregistered names {unknown}"
    assert GRIDWORLD_DEFAULT <= set(TASKS), f"not gridworld tasks: {sorted(GRIDWORLD_DEFAULT - set(TASKS))}"
    failing = {}
    for name in envs.registered():
        if name in ARGUMENTS:
            continue
        try:
            envs.make(name)
        except Exception as error:  # noqa: BLE001  any failure means the name needs an entry
            failing[name] = f"{type(error).__name__}: {error}"
    assert not failing, f"not buildable with defaults and not in ARGUMENTS: {failing}"

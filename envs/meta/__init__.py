"""Meta-RL trial environments: structured bandits (`envs.meta.bandits`) and hidden-goal gridworld trials
(`envs.meta.goal_trials`), and the RL-squared trial wrapper (`envs.meta.trial_wrapper`).

``envs.make`` returns them inside `envs.meta.trial_wrapper.TrialWrapper` (previous action, previous reward
and episode-start flag in the observation, trial statistics in ``info``); pass ``trial_wrapper=False``
for the raw environment, ``split_episodes=True`` for the wrapper's no-memory mode (every inner episode
ends the environment episode).
"""

from __future__ import annotations

from typing import Any

from envs.meta.bandits import make_structured_bandit
from envs.meta.goal_trials import make_goal_trials
from envs.meta.trial_wrapper import TrialWrapper
from envs.registry import register


def _wrapped(env_and_params: tuple[Any, Any], trial_wrapper: bool, split_episodes: bool) -> tuple[Any, Any]:
    env, params = env_and_params
    if split_episodes and not trial_wrapper:
        raise ValueError("split_episodes=True is a mode of the trial wrapper; it needs trial_wrapper=True")
    return (TrialWrapper(env, split_episodes) if trial_wrapper else env), params


def _bandit_factory(num_arms: int):
    def factory(
        pulls_per_episode: int = 10,
        num_episodes: int = 5,
        prior: str = "one_good",
        reward_dist: str = "bernoulli",
        resample: str = "none",
        good_mean: float = 0.9,
        poor_low: float = 0.1,
        poor_high: float = 0.3,
        reward_std: float = 0.5,
        fixed_means: tuple[float, ...] | None = None,
        trial_wrapper: bool = True,
        split_episodes: bool = False,
    ) -> tuple[Any, Any]:
        env_and_params = make_structured_bandit(
            num_arms, pulls_per_episode, num_episodes, prior, reward_dist, resample,
            good_mean, poor_low, poor_high, reward_std, fixed_means,
        )
        return _wrapped(env_and_params, trial_wrapper, split_episodes)

    return factory


def _goal_trials_factory(size: int):
    def factory(
        layout: str = "maze",
        max_episode_steps: int = 30,
        num_episodes: int = 5,
        resample: str = "none",
        trial_wrapper: bool = True,
        split_episodes: bool = False,
    ) -> tuple[Any, Any]:
        env_and_params = make_goal_trials(size, layout, max_episode_steps, num_episodes, resample)
        return _wrapped(env_and_params, trial_wrapper, split_episodes)

    return factory


for _arms in (5, 10):
    register(f"StructuredBandit-K{_arms}", _bandit_factory(_arms))
for _size in (5, 7):
    register(f"GoalTrials-{_size}x{_size}", _goal_trials_factory(_size))

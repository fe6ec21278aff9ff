"""Meta-RL: bandit and goal-trial baselines, the greedy-objective advantage estimator, and the
verdicts of the emergent-exploration study (`jaxrl.meta.judge`) (``papers/meta_rl.md``)."""

from jaxrl.meta.baselines import (
    BASELINES,
    GOAL_BASELINES,
    ArmStatistics,
    baseline_policy,
    distinct_arms,
    exploration_flags,
    fixed_arm,
    greedy,
    oracle,
    run_baseline,
    run_goal_baseline,
    thompson_bernoulli,
    thompson_gaussian,
    ucb1,
    uniform_random,
    win_stay_lose_shift,
)
from jaxrl.meta.greedy_gae import greedy_gae

__all__ = [
    "BASELINES",
    "GOAL_BASELINES",
    "ArmStatistics",
    "baseline_policy",
    "distinct_arms",
    "exploration_flags",
    "fixed_arm",
    "greedy",
    "greedy_gae",
    "oracle",
    "run_baseline",
    "run_goal_baseline",
    "thompson_bernoulli",
    "thompson_gaussian",
    "ucb1",
    "uniform_random",
    "win_stay_lose_shift",
]

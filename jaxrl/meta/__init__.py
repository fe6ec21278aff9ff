"""Meta-RL: bandit baselines and the greedy-objective advantage estimator (``papers/meta_rl.md``)."""

from jaxrl.meta.baselines import (
    BASELINES,
    ArmStatistics,
    baseline_policy,
    distinct_arms,
    exploration_flags,
    greedy,
    oracle,
    run_baseline,
    thompson_bernoulli,
    thompson_gaussian,
    ucb1,
    uniform_random,
)
from jaxrl.meta.greedy_gae import greedy_gae

__all__ = [
    "BASELINES",
    "ArmStatistics",
    "baseline_policy",
    "distinct_arms",
    "exploration_flags",
    "greedy",
    "greedy_gae",
    "oracle",
    "run_baseline",
    "thompson_bernoulli",
    "thompson_gaussian",
    "ucb1",
    "uniform_random",
]

"""Bandit baselines on the same trials as the meta-RL agent: Thompson sampling, UCB1, greedy on
empirical means, uniform random and the oracle arm; plus the bandit exploration measures.

A policy is a pure function ``policy(stats, key, true_means) -> arm`` of the arm statistics gathered
so far in the trial (`ArmStatistics`); only the oracle reads ``true_means``. `run_baseline` plays a
policy on ``num_trials`` trials of `envs.bandits.StructuredBandit` in one ``vmap``-ed ``lax.scan``.
Trial ``i`` is the environment reset with ``jax.random.split(key, num_trials)[i]``, which is how an
agent's trials and the baselines' are made the same (same key, same arm means).

Regret is the pseudo-regret ``max_a mu_t(a) - mu_t(a_t)`` of the means in effect at each pull (they
change within a trial with ``resample="episode"`` or ``"step"``); ``cumulative_regret`` is its running
sum over the trial.

Tie-breaking is deterministic (lowest arm index) for UCB1 and greedy, as ``numpy.argmax`` does;
untried arms come first for both (each arm is pulled once, in index order, before the index or the
empirical mean decides).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct

from envs.bandits import BanditParams, StructuredBandit


@struct.dataclass
class ArmStatistics:
    counts: jax.Array  # [K] pulls of each arm since the last reset of the statistics
    sums: jax.Array  # [K] summed rewards of each arm

    @classmethod
    def zeros(cls, num_arms: int) -> ArmStatistics:
        return cls(jnp.zeros((num_arms,), jnp.float32), jnp.zeros((num_arms,), jnp.float32))

    def update(self, arm: jax.Array, reward: jax.Array) -> ArmStatistics:
        return ArmStatistics(self.counts.at[arm].add(1.0), self.sums.at[arm].add(reward))

    def empirical_means(self) -> jax.Array:
        """Mean reward of each arm; 0 for untried arms (mask them with ``counts > 0``)."""
        return self.sums / jnp.maximum(self.counts, 1.0)


Policy = Callable[[ArmStatistics, jax.Array, jax.Array], jax.Array]


def thompson_bernoulli(prior_alpha: float = 1.0, prior_beta: float = 1.0) -> Policy:
    """Beta-Bernoulli Thompson sampling: sample each arm's mean from its Beta posterior, pull the
    argmax. Rewards must lie in {0, 1}."""

    def policy(stats: ArmStatistics, key: jax.Array, true_means: jax.Array) -> jax.Array:
        alpha = prior_alpha + stats.sums
        beta = prior_beta + stats.counts - stats.sums
        return jnp.argmax(jax.random.beta(key, alpha, beta)).astype(jnp.int32)

    return policy


def thompson_gaussian(noise_std: float, prior_mean: float = 0.5, prior_std: float = 1.0) -> Policy:
    """Gaussian Thompson sampling with known reward noise ``noise_std`` and a Normal(prior_mean,
    prior_std**2) prior on each mean (conjugate: the posterior is Normal)."""

    def policy(stats: ArmStatistics, key: jax.Array, true_means: jax.Array) -> jax.Array:
        precision = 1.0 / prior_std**2 + stats.counts / noise_std**2
        mean = (prior_mean / prior_std**2 + stats.sums / noise_std**2) / precision
        sample = mean + jax.random.normal(key, mean.shape) / jnp.sqrt(precision)
        return jnp.argmax(sample).astype(jnp.int32)

    return policy


def ucb1(scale: float = 1.0) -> Policy:
    """UCB1 (Auer et al., 2002): each arm once, then argmax of ``mean + scale * sqrt(2 ln t / n)``
    where ``t`` counts all pulls so far. ``scale=1`` is the original, for rewards in [0, 1]."""

    def policy(stats: ArmStatistics, key: jax.Array, true_means: jax.Array) -> jax.Array:
        total = jnp.maximum(stats.counts.sum(), 1.0)
        bonus = scale * jnp.sqrt(2.0 * jnp.log(total) / jnp.maximum(stats.counts, 1.0))
        index = jnp.where(stats.counts > 0, stats.empirical_means() + bonus, jnp.inf)
        return jnp.argmax(index).astype(jnp.int32)

    return policy


def greedy() -> Policy:
    """Each arm once, then always the arm with the highest empirical mean."""

    def policy(stats: ArmStatistics, key: jax.Array, true_means: jax.Array) -> jax.Array:
        return jnp.argmax(jnp.where(stats.counts > 0, stats.empirical_means(), jnp.inf)).astype(jnp.int32)

    return policy


def oracle() -> Policy:
    """The arm with the highest true mean (zero regret): the reference that regret is measured to."""

    def policy(stats: ArmStatistics, key: jax.Array, true_means: jax.Array) -> jax.Array:
        return jnp.argmax(true_means).astype(jnp.int32)

    return policy


def uniform_random() -> Policy:
    """An arm uniformly at random (the floor every baseline must beat)."""

    def policy(stats: ArmStatistics, key: jax.Array, true_means: jax.Array) -> jax.Array:
        return jax.random.randint(key, (), 0, stats.counts.shape[0]).astype(jnp.int32)

    return policy


BASELINES = ("thompson", "ucb1", "greedy", "oracle", "random")


def baseline_policy(name: str, params: BanditParams) -> Policy:
    """A baseline by name, set up for the bandit ``params``: Thompson sampling is Beta-Bernoulli or
    Gaussian (with the true noise) after ``params.reward_dist``, and UCB1's bonus is scaled by the
    reward noise for Gaussian rewards."""
    gaussian = params.reward_dist == "gaussian"
    if name == "thompson":
        return thompson_gaussian(params.reward_std) if gaussian else thompson_bernoulli()
    if name == "ucb1":
        return ucb1(params.reward_std if gaussian else 1.0)
    if name == "greedy":
        return greedy()
    if name == "oracle":
        return oracle()
    if name == "random":
        return uniform_random()
    raise ValueError(f"unknown baseline {name!r}; known: {BASELINES}")


def run_baseline(
    policy: Policy,
    key: jax.Array,
    num_trials: int,
    params: BanditParams,
    reset_each_episode: bool = False,
) -> dict[str, jax.Array]:
    """Play ``policy`` on ``num_trials`` bandit trials; every output is ``[num_trials, T]`` with ``T``
    the trial length: ``arms``, ``rewards``, ``regret``, ``cumulative_regret``, ``best_arm`` and
    ``episode_boundary``. ``reset_each_episode`` forgets the statistics at every inner-episode start
    (the right prior for ``resample="episode"``)."""
    env = StructuredBandit()
    num_steps = params.trial_length

    def play_trial(trial_key: jax.Array) -> dict[str, jax.Array]:
        _, env_state = env.reset_env(trial_key, params)
        key_steps = jax.random.fold_in(trial_key, 1)

        def step(carry, step_key):
            stats, state = carry
            key_policy, key_env = jax.random.split(step_key)
            arm = policy(stats, key_policy, state.means)
            _, state, reward, _, info = env.step_env(key_env, state, arm, params)
            stats = stats.update(arm, reward)
            if reset_each_episode:
                forget = lambda zero, kept: jnp.where(info["episode_boundary"], zero, kept)
                stats = jax.tree.map(forget, ArmStatistics.zeros(params.num_arms), stats)
            record = {
                "arms": arm,
                "rewards": reward,
                "regret": info["regret"],
                "best_arm": info["best_arm"],
                "episode_boundary": info["episode_boundary"],
            }
            return (stats, state), record

        carry = (ArmStatistics.zeros(params.num_arms), env_state)
        _, record = jax.lax.scan(step, carry, jax.random.split(key_steps, num_steps))
        record["cumulative_regret"] = jnp.cumsum(record["regret"])
        return record

    return jax.vmap(play_trial)(jax.random.split(key, num_trials))


def exploration_flags(arms: jax.Array, rewards: jax.Array, num_arms: int) -> tuple[jax.Array, jax.Array]:
    """Per pull of one trial (``[T]`` arrays; ``vmap`` for many): whether it explored, i.e. went to an
    arm that was not among the current empirical best (highest empirical mean over the arms tried so
    far; an untried arm is never among them), and whether that question is defined (some arm tried).
    The exploration rate over the first ``n`` pulls is ``explored[:n].sum() / defined[:n].sum()``."""

    def step(stats: ArmStatistics, inputs):
        arm, reward = inputs
        means = jnp.where(stats.counts > 0, stats.empirical_means(), -jnp.inf)
        defined = stats.counts.sum() > 0
        explored = defined & (means[arm] < jnp.max(means))
        return stats.update(arm, reward), (explored, defined)

    _, (explored, defined) = jax.lax.scan(step, ArmStatistics.zeros(num_arms), (arms, rewards))
    return explored, defined


def distinct_arms(arms: jax.Array, num_arms: int) -> jax.Array:
    """How many different arms a trial (``[T]``; ``vmap`` for many) pulled."""
    return (jnp.zeros((num_arms,), bool).at[arms].set(True)).sum()

"""Bandit baselines on the same trials as the meta-RL agent: Thompson sampling, UCB1, greedy on
empirical means, uniform random and the oracle arm, and two controls (win-stay lose-shift, one fixed
arm); plus the bandit exploration measures; and two scripted searches of the goal trials (the end of
this file).

A policy is a pure function ``policy(stats, key, true_means) -> arm`` of the arm statistics gathered
so far in the trial (`ArmStatistics`); only the oracle reads ``true_means``. `run_baseline` plays a
policy on ``num_trials`` trials of `envs.meta.bandits.StructuredBandit` in one ``vmap``-ed ``lax.scan``.
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
import numpy as np
from flax import struct

from envs.meta.bandits import BanditParams, StructuredBandit
from envs.meta.goal_trials import MOVES, GoalTrials, GoalTrialsParams


@struct.dataclass
class ArmStatistics:
    counts: jax.Array  # [K] pulls of each arm since the last reset of the statistics
    sums: jax.Array  # [K] summed rewards of each arm
    last_arm: jax.Array  # the previous pull's arm (-1 before the first), for one-step-memory policies
    last_reward: jax.Array  # the previous pull's reward

    @classmethod
    def zeros(cls, num_arms: int) -> ArmStatistics:
        zeros = jnp.zeros((num_arms,), jnp.float32)
        return cls(zeros, zeros, jnp.asarray(-1, jnp.int32), jnp.asarray(0.0, jnp.float32))

    def update(self, arm: jax.Array, reward: jax.Array) -> ArmStatistics:
        return ArmStatistics(
            self.counts.at[arm].add(1.0),
            self.sums.at[arm].add(reward),
            jnp.asarray(arm, jnp.int32),
            jnp.asarray(reward, jnp.float32),
        )

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


def win_stay_lose_shift(win_above: float = 0.5) -> Policy:
    """The best-known one-step-memory policy (Robbins 1952): a random arm first; then the same arm
    after a reward above ``win_above``, otherwise a different arm uniformly at random. It reads only
    the previous arm and reward, so it is a policy a feed-forward agent on the trial wrapper's inputs
    can represent (with ``run_baseline(..., reset_each_episode=True)``: forgotten at every episode)."""

    def policy(stats: ArmStatistics, key: jax.Array, true_means: jax.Array) -> jax.Array:
        num_arms = stats.counts.shape[0]
        key_first, key_shift = jax.random.split(key)
        first = jax.random.randint(key_first, (), 0, num_arms)
        other = (stats.last_arm + jax.random.randint(key_shift, (), 1, num_arms)) % num_arms
        choice = jnp.where(stats.last_reward > win_above, stats.last_arm, other)
        return jnp.where(stats.last_arm < 0, first, choice).astype(jnp.int32)

    return policy


def fixed_arm(arm: int = 0) -> Policy:
    """Always the same arm: never explores (a negative control for the exploration measures)."""

    def policy(stats: ArmStatistics, key: jax.Array, true_means: jax.Array) -> jax.Array:
        return jnp.asarray(arm, jnp.int32)

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


# Scripted policies on the hidden-goal gridworld trials (`envs.meta.goal_trials`): references for
# the gridworld measures and controls for the verdicts of `jaxrl.meta.judge`.
GOAL_BASELINES = ("sweep", "sweep_return")


def depth_first_walk(walls: np.ndarray, start: tuple[int, int] = (0, 0)) -> list[int]:
    """The actions (0 up, 1 right, 2 down, 3 left) of a depth-first search of the free cells from
    ``start``, neighbours tried in action order, backtracking steps included, until every free cell
    has been visited."""
    walls = np.asarray(walls, bool)
    size = walls.shape[0]
    visited, stack, actions = {start}, [start], []
    free = int((~walls).sum())
    while len(visited) < free and stack:
        row, col = stack[-1]
        for action, (dr, dc) in enumerate(MOVES):
            nxt = (row + int(dr), col + int(dc))
            if 0 <= nxt[0] < size and 0 <= nxt[1] < size and not walls[nxt] and nxt not in visited:
                visited.add(nxt)
                stack.append(nxt)
                actions.append(action)
                break
        else:
            stack.pop()
            if stack:
                back = (stack[-1][0] - row, stack[-1][1] - col)
                actions.append(int(np.flatnonzero((MOVES == back).all(1))[0]))
    return actions


def first_step_towards(walls: np.ndarray) -> np.ndarray:
    """``[cells, cells]`` table: the first action of a shortest path from cell ``c`` (second index) to
    cell ``g`` (first index), row-major cell indices; 0 where ``c == g`` or ``g`` is unreachable."""
    walls = np.asarray(walls, bool)
    size = walls.shape[0]
    table = np.zeros((size * size, size * size), np.int32)
    for goal in range(size * size):
        if walls.flat[goal]:
            continue
        frontier, seen = [divmod(goal, size)], {divmod(goal, size)}
        while frontier:  # breadth-first from the goal: a cell's action leads to its parent
            nxt_frontier = []
            for row, col in frontier:
                for action, (dr, dc) in enumerate(MOVES):
                    cell = (row - int(dr), col - int(dc))  # moving by `action` from `cell` reaches (row, col)
                    if 0 <= cell[0] < size and 0 <= cell[1] < size and not walls[cell] and cell not in seen:
                        seen.add(cell)
                        table[goal, cell[0] * size + cell[1]] = action
                        nxt_frontier.append(cell)
            frontier = nxt_frontier
    return table


def run_goal_baseline(name: str, key: jax.Array, num_trials: int, params: GoalTrialsParams) -> dict[str, jax.Array]:
    """Play a scripted policy on ``num_trials`` goal trials (trial ``i`` reset with
    ``jax.random.split(key, num_trials)[i]``); ``episode_steps`` and ``episode_reached``,
    ``[num_trials, num_episodes]`` as in `jaxrl.meta.evaluate.evaluate_goal_trials`.

    - ``"sweep"``: the depth-first walk (`depth_first_walk`) from the start in every episode, whatever
      happened before: a search that never uses an earlier episode;
    - ``"sweep_return"``: the same search until the goal has been reached once in the trial, then in
      every later episode the shortest path to where it was (what memory of the goal can buy); if the
      remembered cell holds no goal (it moved), it forgets it and walks the search from where it is."""
    if name not in GOAL_BASELINES:
        raise ValueError(f"unknown goal-trials baseline {name!r}; known: {GOAL_BASELINES}")
    walls = np.asarray(params.walls)
    size, num_episodes = walls.shape[0], int(params.num_episodes)
    walk = jnp.asarray((depth_first_walk(walls) + [0] * int(params.max_episode_steps))[: params.max_episode_steps])
    towards = jnp.asarray(first_step_towards(walls))
    env = GoalTrials()
    num_steps = int(params.max_steps_in_episode)

    def play_trial(trial_key: jax.Array) -> dict[str, jax.Array]:
        _, state = env.reset_env(trial_key, params)

        def step(carry, step_key):
            state, memory = carry
            cell = state.position[0] * size + state.position[1]
            memory = jnp.where(memory == cell, -1, memory)  # standing on the remembered cell: no goal here
            action = walk[state.episode_time]
            if name == "sweep_return":
                action = jnp.where(memory >= 0, towards[jnp.maximum(memory, 0), cell], action)
            _, new_state, _, _, info = env.step_env(step_key, state, action, params)
            goal = state.goal[0] * size + state.goal[1]
            memory = jnp.where(info["reached_goal"], goal, memory)
            return (new_state, memory), (info["inner_episode"], info["reached_goal"])

        carry = (state, jnp.asarray(-1, jnp.int32))
        _, (episode, reached) = jax.lax.scan(step, carry, jax.random.split(jax.random.fold_in(trial_key, 1), num_steps))
        in_episode = episode[:, None] == jnp.arange(num_episodes)
        return {"episode_steps": in_episode.sum(0), "episode_reached": (in_episode & reached[:, None]).any(0)}

    return jax.vmap(play_trial)(jax.random.split(key, num_trials))

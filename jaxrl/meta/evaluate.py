"""Evaluation of trained RL-squared policies on fresh trials (``papers/meta_rl.md``).

`rollout_trials` plays a trained policy (the trainer's network and parameters, sampling its actions as
in training) on ``num_trials`` fresh trials, one per environment, from the trial's start to its end,
with the recurrent state handled exactly as in training (`jaxrl.rollout.collect_rollout`: reset
wherever the environment's episode ends, i.e. at trial ends with ``memory="trial"`` and at every
inner episode with ``memory="episode"``). Trial ``i`` is the environment reset with
``jax.random.split(key, num_trials)[i]``, as in `jaxrl.meta.baselines.run_baseline`, so a policy and
the baselines given the same key meet the same bandits (the same arm means; the reward draws differ);
the policy's and the environment's step keys come from ``jax.random.fold_in(key, 1)``.

Every function here is pure and unjitted: ``jax.jit(jax.vmap(fn, in_axes=(None, 0, None, None)))``
evaluates all seeds of a vmapped training run in one program (`evaluate_seeds`).

- `evaluate_bandit`: per pull ``arms``, ``rewards``, ``regret``, ``cumulative_regret``, ``explored``
  and ``defined`` (`jaxrl.meta.baselines.exploration_flags`), and per trial ``distinct_arms``;
- `evaluate_goal_trials`: per inner episode ``episode_steps`` (steps taken; ``max_episode_steps``
  when the goal was not reached) and ``episode_reached``, per trial ``distinct_cells_first``
  (cells visited in episode 1, the start and the goal, if reached, included), and per step the
  agent's ``cell``, ``action``, ``inner_episode``, ``reached_goal`` and ``valid``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.meta.baselines import distinct_arms, exploration_flags
from jaxrl.ppo import Trainer, make_env
from jaxrl.rollout import RolloutState, collect_rollout

TRIAL_INFO_KEYS = ("episode_boundary", "inner_episode", "trial_done")


def rollout_trials(
    trainer: Trainer,
    params: Any,
    key: jax.Array,
    num_trials: int,
    info_keys: tuple[str, ...] = (),
) -> dict[str, jax.Array]:
    """One trial per environment, ``[num_trials, T]`` per-step arrays with ``T`` the longest trial
    (``env_params.max_steps_in_episode`` of the trial environment): ``action``, ``reward``, ``obs``
    and ``final_obs`` (pytrees), the trial wrapper's ``episode_boundary``, ``inner_episode`` and
    ``trial_done``, the requested ``info_keys``, and ``valid`` (the step belongs to the first trial;
    a trial that ends early is followed by steps of the next one, which are not valid)."""
    env, env_params = make_env(dataclasses.replace(trainer.config, num_envs=num_trials))
    network = trainer.network
    horizon = int(env_params.max_steps_in_episode)
    carry_size = trainer.config.gru_size if trainer.config.network == "gru" else 0
    obs, env_state = env.reset(key, env_params)  # VecEnv: trial i from split(key, num_trials)[i]
    key_rollout = jax.random.fold_in(key, 1)
    state = RolloutState(
        env_state, obs, jnp.ones(num_trials, bool), network.initial_carry(num_trials, carry_size), None
    )
    keys = tuple(dict.fromkeys(TRIAL_INFO_KEYS + tuple(info_keys)))
    _, batch = collect_rollout(
        key_rollout, state, params, env=env, env_params=env_params, network=network,
        num_steps=horizon, info_keys=keys,
    )
    ended_before = jnp.cumsum(batch.stats["trial_done"], axis=0) - batch.stats["trial_done"]
    record = {
        "action": batch.action,
        "reward": batch.reward,
        "obs": batch.obs,
        "final_obs": batch.final_obs,
        "valid": ended_before == 0,
        **{name: batch.stats[name] for name in keys},
    }
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), record)  # trial-major


def evaluate_bandit(trainer: Trainer, params: Any, key: jax.Array, num_trials: int) -> dict[str, jax.Array]:
    """The bandit record of `run_baseline` (``arms``, ``rewards``, ``regret``, ``cumulative_regret``,
    ``[num_trials, T]``) for a trained policy, plus ``explored``/``defined`` and ``distinct_arms``."""
    record = rollout_trials(trainer, params, key, num_trials, info_keys=BANDIT_INFO_KEYS)
    return bandit_metrics(record, int(trainer.env.action_space(trainer.env_params).n))


BANDIT_INFO_KEYS = ("regret", "best_arm")


def bandit_metrics(record: dict[str, jax.Array], num_arms: int) -> dict[str, jax.Array]:
    """`evaluate_bandit`'s measures from a `rollout_trials` record (with ``BANDIT_INFO_KEYS``)."""
    arms = record["action"].astype(jnp.int32)
    explored, defined = jax.vmap(exploration_flags, in_axes=(0, 0, None))(arms, record["reward"], num_arms)
    return {
        "arms": arms,
        "rewards": record["reward"],
        "regret": record["regret"],
        "cumulative_regret": jnp.cumsum(record["regret"], axis=1),
        "best_arm": record["best_arm"],
        "explored": explored,
        "defined": defined,
        "distinct_arms": jax.vmap(distinct_arms, in_axes=(0, None))(arms, num_arms),
    }


def evaluate_goal_trials(
    trainer: Trainer, params: Any, key: jax.Array, num_trials: int
) -> dict[str, jax.Array]:
    """Per inner episode ``episode_steps`` and ``episode_reached`` (``[num_trials, num_episodes]``) and
    per trial ``distinct_cells_first`` (``[num_trials]``) of a trained policy on the goal trials."""
    record = rollout_trials(trainer, params, key, num_trials, info_keys=GOAL_INFO_KEYS)
    return goal_trials_metrics(record, int(trainer.env_params.num_episodes))


GOAL_INFO_KEYS = ("reached_goal",)


def goal_trials_metrics(record: dict[str, jax.Array], num_episodes: int) -> dict[str, jax.Array]:
    """`evaluate_goal_trials`'s measures from a `rollout_trials` record (with ``GOAL_INFO_KEYS``)."""
    index = jnp.arange(num_episodes)
    in_episode = record["valid"][..., None] & (record["inner_episode"][..., None] == index)  # [N, T, E]
    episode_steps = in_episode.sum(axis=1)
    episode_reached = (in_episode & record["reached_goal"][..., None]).any(axis=1)
    # The agent's cell before every step of episode 1; the step onto the goal ends the episode (and
    # the environment shows the start cell next), so the goal is counted from ``reached`` instead.
    first = in_episode[..., 0]
    visited = (record["obs"]["obs"] * first[..., None]).max(axis=1) > 0.5
    distinct_cells_first = visited.sum(axis=1) + episode_reached[:, 0].astype(jnp.int32)
    return {
        "episode_steps": episode_steps,
        "episode_reached": episode_reached,
        "distinct_cells_first": distinct_cells_first,
        # per step, for measures read afterwards (`jaxrl.meta.judge`): the cell before the step
        # (row-major index), the action, the inner episode, whether the step reached the goal, and
        # whether it belongs to the first trial
        "cell": jnp.argmax(record["obs"]["obs"], axis=-1).astype(jnp.int32),
        "action": record["action"].astype(jnp.int32),
        "inner_episode": record["inner_episode"].astype(jnp.int32),
        "reached_goal": record["reached_goal"],
        "valid": record["valid"],
    }


def evaluate_seeds(
    evaluate: Callable[..., dict[str, jax.Array]],
    trainer: Trainer,
    seed_params: Any,
    key: jax.Array,
    num_trials: int,
) -> dict[str, np.ndarray]:
    """``evaluate`` on every seed of a vmapped run (``seed_params`` with a leading seed axis), all
    on the same trials, as one compiled program; numpy arrays ``[num_seeds, ...]``."""
    run = jax.jit(jax.vmap(lambda p: evaluate(trainer, p, key, num_trials)))
    return jax.tree.map(np.asarray, run(seed_params))


def exploration_rate(explored: np.ndarray, defined: np.ndarray, early_pulls: int) -> np.ndarray:
    """Fraction of the first ``early_pulls`` pulls of each trial (where defined) that went to an arm
    other than the current empirical best, pooled over the trials (last axis: pulls; second to last:
    trials)."""
    explored = np.asarray(explored)[..., :early_pulls].sum(axis=(-2, -1))
    defined = np.asarray(defined)[..., :early_pulls].sum(axis=(-2, -1))
    return explored / np.maximum(defined, 1)

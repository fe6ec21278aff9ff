"""RL-squared: recurrent PPO on meta-RL trials, trained on the greedy objective (``papers/meta_rl.md``).

This is `jaxrl.ppo` (its networks, rollout, loss and update) run on a trial environment
(``StructuredBandit-K5``, ``GoalTrials-7x7``, ...: one environment episode is one trial, wrapped by
`envs.meta.trial_wrapper.TrialWrapper`, so the observation carries the previous action, previous reward
and the episode-start flag). RL-squared adds only the choice of three switches:

- ``memory="trial"`` (default): a GRU whose hidden state is carried across the inner episodes of a
  trial and reset only at trial boundaries, which are the environment's episode ends, where the PPO's
  recurrent network resets anyway. ``memory="episode"``: the hidden state is reset at every inner
  episode (the trial wrapper's ``split_episodes`` mode reports each inner episode's end as an
  environment episode end and clears the extras there). ``memory="none"``: a feed-forward policy, also
  on ``split_episodes``.
- ``objective="greedy"`` (default): no credit crosses an inner-episode boundary (`greedy_gae`);
  inside an episode rewards are discounted by ``gamma_step``, which is ``PPOConfig.gamma`` (vmappable).
  ``objective="trial"``: the usual RL-squared objective, the return of the whole trial (PPO's own
  GAE; only with ``memory="trial"``). With ``split_episodes`` the inner episodes' ends are
  terminations, so PPO's own GAE is already the greedy one.
- the short horizon: ``gamma`` (= ``gamma_step``) 0 or small.

Greedy with memory takes its advantage estimator into PPO: ``make_train(config,
updates_per_chunk, advantage_fn=fn)`` with ``fn(batch, rewards, next_values, hparams) -> (advantages,
returns)`` used in place of ``truncation_aware_gae`` (see `greedy_advantages`).
"""

from __future__ import annotations

import dataclasses

import jax

import envs
from envs.meta.trial_wrapper import TrialWrapper
from jaxrl.meta.greedy_gae import greedy_gae
from jaxrl.ppo import HyperParams, PPOConfig, Trainer, make_train
from jaxrl.rollout import Transition

MEMORY = ("trial", "episode", "none")
OBJECTIVES = ("greedy", "trial")


def greedy_advantages(
    batch: Transition, rewards: jax.Array, next_values: jax.Array, hparams: HyperParams
) -> tuple[jax.Array, jax.Array]:
    """The greedy objective's advantages and returns for a PPO rollout batch (time-major).

    The inner episodes' ends are read from the final observations, whose ``episode_start`` flag the
    trial wrapper sets to ``info["episode_boundary"]``; trials end where the environment's episodes
    end."""
    boundary = batch.final_obs["episode_start"][..., 0] > 0.5
    trial_done = batch.terminated | batch.truncated
    gamma_step, lam = hparams.gamma, hparams.gae_lambda
    return greedy_gae(rewards, batch.value, next_values, boundary, trial_done, gamma_step, lam)


def rl2_config(config: PPOConfig, memory: str = "trial") -> PPOConfig:
    """The PPO configuration of a memory condition: the network and the trial wrapper's mode."""
    if memory not in MEMORY:
        raise ValueError(f"memory must be one of {MEMORY}, got {memory!r}")
    env_kwargs = {**config.env_kwargs, "split_episodes": memory != "trial"}
    network = "mlp" if memory == "none" else "gru"
    return dataclasses.replace(config, network=network, env_kwargs=env_kwargs)


def make_rl2_train(
    config: PPOConfig,
    memory: str = "trial",
    objective: str = "greedy",
    updates_per_chunk: int = 1,
) -> Trainer:
    """A PPO trainer for one cell of the memory x objective grid (module docstring). ``config.env``
    must be a trial environment; ``config.gamma`` is ``gamma_step``."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective == "trial" and memory != "trial":
        raise ValueError(
            f"objective='trial' needs memory='trial' (got memory={memory!r}): without memory across inner "
            f"episodes there is nothing for cross-episode credit to reach"
        )
    ppo_config = rl2_config(config, memory)
    env, _ = envs.make(ppo_config.env, **ppo_config.env_kwargs)
    if not isinstance(env, TrialWrapper):
        raise ValueError(f"env={config.env!r} is not a trial environment wrapped in TrialWrapper")
    if objective == "greedy" and memory == "trial":
        trainer = make_train(ppo_config, updates_per_chunk, advantage_fn=greedy_advantages)
    else:
        trainer = make_train(ppo_config, updates_per_chunk)
    return trainer

"""RL-squared: recurrent PPO on meta-RL trials, trained on the greedy objective (``papers/meta_rl.md``).

`RL2Config` is PPO's machinery (`jaxrl.ppo.PPOBase`: its networks, rollout, loss and update) run on a
trial environment (``StructuredBandit-K5``, ``GoalTrials-7x7``, ...: one environment episode is one
trial, wrapped by `envs.meta.trial_wrapper.TrialWrapper`, so the observation carries the previous action,
previous reward and the episode-start flag). RL-squared adds three switches of its own:

- ``memory="trial"`` (default): a GRU whose hidden state is carried across the inner episodes of a
  trial and reset only at trial boundaries, which are the environment's episode ends, where the PPO's
  recurrent network resets anyway. ``memory="episode"``: the hidden state is reset at every inner
  episode (the trial wrapper's ``split_episodes`` mode reports each inner episode's end as an
  environment episode end and clears the extras there). ``memory="none"``: a feed-forward policy, also
  on ``split_episodes``.
- ``objective="greedy"`` (default): no credit crosses an inner-episode boundary (`greedy_gae`);
  inside an episode rewards are discounted by ``gamma_step``, which is the config's ``gamma``
  (vmappable). ``objective="standard"``: the usual RL-squared objective, the return of the whole trial
  (PPO's own GAE; only with ``memory="trial"``). With ``split_episodes`` the inner episodes' ends are
  terminations, so PPO's own GAE is already the greedy one.
- the horizon: ``gamma`` (= ``gamma_step``) 0 or small, and the trial's length, ``episodes_per_trial``
  inner episodes of ``steps_per_episode`` steps (0: the environment's own).

`make_train(config)` builds the PPO configuration of these switches (`RL2Config.ppo_config`) and PPO's
trainer with the greedy advantage estimator where the objective asks for it. RL-squared is registered
as the algorithm ``"rl2"``.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Literal

import jax

import envs
from envs import registry as env_registry
from envs.meta.trial_wrapper import TrialWrapper
from jaxrl.algorithms import Algorithm, algorithm_config, register
from jaxrl.meta.greedy_gae import greedy_gae
from jaxrl.ppo import PPOBase, PPOConfig, Trainer, evaluate, metric_rows
from jaxrl.ppo import make_train as make_ppo_train
from jaxrl.rollout import Transition

MEMORY = ("trial", "episode", "none")
OBJECTIVES = ("greedy", "standard")
# The factory argument that sets an inner episode's length, per family of trial environments.
STEPS_KWARGS = ("pulls_per_episode", "max_episode_steps")


@algorithm_config
class RL2Config(PPOBase):
    """RL-squared: PPO's fields (``gamma`` is ``gamma_step``) and the meta-RL switches."""

    env: str = "StructuredBandit-K5"
    """A trial environment (see `jaxrl list envs`: StructuredBandit-K*, GoalTrials-*)."""
    memory: Literal["trial", "episode", "none"] = "trial"
    """trial: a GRU carried across the trial's inner episodes; episode: reset at every inner episode;
    none: a feed-forward policy."""
    objective: Literal["greedy", "standard"] = "greedy"
    """greedy: no credit crosses an inner-episode boundary; standard: the return of the whole trial."""
    episodes_per_trial: int = 0
    """Inner episodes per trial (0: the environment's own, or env_kwargs num_episodes)."""
    steps_per_episode: int = 0
    """Steps (pulls) per inner episode (0: the environment's own, or its env_kwargs)."""

    def ppo_config(self) -> PPOConfig:
        """The PPO configuration of these switches: the network, and the trial wrapper's mode and
        length in ``env_kwargs``."""
        if self.memory not in MEMORY:
            raise ValueError(f"memory must be one of {MEMORY}, got {self.memory!r}")
        env_kwargs = {**self.env_kwargs, "split_episodes": self.memory != "trial"}
        if self.episodes_per_trial:
            env_kwargs["num_episodes"] = self.episodes_per_trial
        if self.steps_per_episode:
            env_kwargs[self._steps_kwarg()] = self.steps_per_episode
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(PPOBase)}
        network = "mlp" if self.memory == "none" else "gru"
        return PPOConfig(**{**shared, "env_kwargs": env_kwargs, "network": network})

    def _steps_kwarg(self) -> str:
        factory = env_registry._REGISTRY.get(self.env)
        names = inspect.signature(factory).parameters if factory is not None else {}
        for name in STEPS_KWARGS:
            if name in names:
                return name
        raise ValueError(f"steps_per_episode: {self.env!r} takes none of {STEPS_KWARGS}; leave it 0")

    def validate(self) -> None:
        """Refuse impossible settings with a message that names the field."""
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.objective == "standard" and self.memory != "trial":
            raise ValueError(
                f"objective='standard' needs memory='trial' (got memory={self.memory!r}): without memory across "
                f"inner episodes there is nothing for cross-episode credit to reach"
            )
        for name in ("episodes_per_trial", "steps_per_episode"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (the environment's own) or positive, got {getattr(self, name)}")
        self.ppo_config().validate()


def greedy_advantages(
    batch: Transition, rewards: jax.Array, next_values: jax.Array, hparams: object
) -> tuple[jax.Array, jax.Array]:
    """The greedy objective's advantages and returns for a PPO rollout batch (time-major).

    The inner episodes' ends are read from the final observations, whose ``episode_start`` flag the
    trial wrapper sets to ``info["episode_boundary"]``; trials end where the environment's episodes
    end."""
    boundary = batch.final_obs["episode_start"][..., 0] > 0.5
    trial_done = batch.terminated | batch.truncated
    gamma_step, lam = hparams.gamma, hparams.gae_lambda
    return greedy_gae(rewards, batch.value, next_values, boundary, trial_done, gamma_step, lam)


def make_train(config: RL2Config, updates_per_chunk: int = 1) -> Trainer:
    """PPO's trainer for one cell of the memory x objective grid (module docstring). Its ``config`` is
    the PPO configuration (`RL2Config.ppo_config`); its ``init_fn`` takes ``RL2Config.HyperParams``."""
    config.validate()
    ppo_config = config.ppo_config()
    env, _ = envs.make(ppo_config.env, **ppo_config.env_kwargs)
    if not isinstance(env, TrialWrapper):
        raise ValueError(f"env={config.env!r} is not a trial environment wrapped in TrialWrapper")
    greedy_with_memory = config.objective == "greedy" and config.memory == "trial"
    advantage_fn = greedy_advantages if greedy_with_memory else None
    return make_ppo_train(ppo_config, updates_per_chunk, advantage_fn=advantage_fn)


def _evaluate(config: RL2Config, *args, **kwargs) -> dict:
    return evaluate(config.ppo_config(), *args, **kwargs)


ALGORITHM = register(
    Algorithm(
        name="rl2",
        config_cls=RL2Config,
        make_train=make_train,
        metric_rows=metric_rows,
        finite_leaves=lambda state: state.params,
        description="RL-squared: recurrent PPO on meta-RL trials, greedy or standard objective.",
        evaluate=_evaluate,
    )
)

"""The RL-squared trial wrapper: what a memory-based meta-RL agent sees, and trial statistics.

Wraps a trial environment (`envs.meta.bandits`, `envs.meta.goal_trials`: one environment episode is
one trial of ``params.num_episodes`` inner episodes, marked by ``info["episode_boundary"]`` and
``info["inner_episode"]``). The observation becomes a dict:

- ``"obs"``: the wrapped environment's observation (a dict observation is merged in instead);
- ``"prev_action"``: one-hot of the previous action in this trial, ``float32[num_actions]``, zeros on
  the trial's first step;
- ``"prev_reward"``: the previous reward in this trial, ``float32[1]``, zero on the first step;
- ``"episode_start"``: ``float32[1]``, one on the first step of every inner episode (the first of the
  trial included), i.e. when the previous step ended an inner episode.

The previous action and reward are carried across inner-episode boundaries (the reward that ended an
episode is how the agent learns that it found the goal) and cleared at the trial's end, where the
recurrent state of the agent is reset too. ``info["final_observation"]`` is augmented as the
observation that would follow without any reset: the step's action and reward, and
``episode_start`` equal to ``info["episode_boundary"]`` (so a trainer that keeps only final
observations still knows where inner episodes ended).

``split_episodes=True`` is the no-memory ablation for agents that forget everything at episode ends:
every inner episode's end is reported as ``terminated=True`` and the extras are cleared there, as at a
trial's start, while the hidden task (the bandit's means, the goal) still persists into the next
inner episode of the trial. ``info["trial_done"]`` and the trial statistics still follow the trials.

Statistics added to ``info`` on every step (aggregate with the flag named as the mask):

- ``inner_episode_return`` / ``inner_episode_length``: the finished inner episode's totals, valid where
  ``info["episode_boundary"]``;
- ``trial_return`` / ``trial_length`` / ``trial_episode_returns`` / ``trial_episode_lengths``
  (``[num_episodes]``, indexed by inner episode): the finished trial's totals, valid where
  ``info["trial_done"]`` (``terminated | truncated``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces
from envs.core import Environment
from envs.wrappers import Wrapper


@struct.dataclass
class TrialState:
    env_state: Any
    prev_action: jax.Array  # int32, -1 at a trial's start
    prev_reward: jax.Array
    episode_start: jax.Array  # bool: the next step is the first of an inner episode
    inner_return: jax.Array
    inner_length: jax.Array
    trial_return: jax.Array
    trial_length: jax.Array
    episode_returns: jax.Array  # [num_episodes] of the running trial
    episode_lengths: jax.Array  # [num_episodes]


class TrialWrapper(Wrapper):
    """Adds the previous action, previous reward and episode-start flag to the observation and keeps
    per-episode and per-trial statistics (module docstring). Needs a ``Discrete`` action space."""

    def __init__(self, env: Environment, split_episodes: bool = False):
        super().__init__(env)
        if not isinstance(env.action_space(env.default_params), spaces.Discrete):
            raise ValueError("TrialWrapper needs a Discrete action space")
        self.split_episodes = bool(split_episodes)

    def _augment(
        self, obs: Any, prev_action: jax.Array, prev_reward: jax.Array, start: jax.Array, params: Any
    ) -> dict:
        num_actions = self._env.action_space(params).n
        extras = {
            "prev_action": jax.nn.one_hot(prev_action, num_actions, dtype=jnp.float32),  # -1 -> zeros
            "prev_reward": jnp.reshape(prev_reward, (1,)).astype(jnp.float32),
            "episode_start": jnp.reshape(start, (1,)).astype(jnp.float32),
        }
        base = dict(obs) if isinstance(obs, dict) else {"obs": obs}
        return {**base, **extras}

    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key: jax.Array, params: Any = None) -> tuple[dict, TrialState]:
        params = self.default_params if params is None else params
        obs, env_state = self._env.reset(key, params)
        state = self._fresh_state(env_state, params)
        return self._augment(obs, state.prev_action, state.prev_reward, state.episode_start, params), state

    def _fresh_state(self, env_state: Any, params: Any) -> TrialState:
        zero_f, zero_i = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        return TrialState(
            env_state=env_state,
            prev_action=jnp.full((), -1, jnp.int32),
            prev_reward=zero_f,
            episode_start=jnp.ones((), bool),
            inner_return=zero_f,
            inner_length=zero_i,
            trial_return=zero_f,
            trial_length=zero_i,
            episode_returns=jnp.zeros((params.num_episodes,), jnp.float32),
            episode_lengths=jnp.zeros((params.num_episodes,), jnp.int32),
        )

    @partial(jax.jit, static_argnums=(0,))
    def step(self, key: jax.Array, state: TrialState, action: Any, params: Any = None):
        params = self.default_params if params is None else params
        obs, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, params
        )
        action = jnp.asarray(action, jnp.int32)
        boundary = jnp.asarray(info["episode_boundary"], bool)
        trial_done = terminated | truncated
        index = jnp.clip(info["inner_episode"], 0, params.num_episodes - 1)
        inner_return = state.inner_return + reward
        inner_length = state.inner_length + 1
        episode_returns = jnp.where(
            boundary, state.episode_returns.at[index].set(inner_return), state.episode_returns
        )
        episode_lengths = jnp.where(
            boundary, state.episode_lengths.at[index].set(inner_length), state.episode_lengths
        )
        trial_return = state.trial_return + reward
        trial_length = state.trial_length + 1
        info = {
            **info,
            "final_observation": self._augment(info["final_observation"], action, reward, boundary, params),
            "trial_done": trial_done,
            "inner_episode_return": inner_return,
            "inner_episode_length": inner_length,
            "trial_return": trial_return,
            "trial_length": trial_length,
            "trial_episode_returns": episode_returns,
            "trial_episode_lengths": episode_lengths,
        }
        running = TrialState(
            env_state=env_state,
            prev_action=action,
            prev_reward=reward,
            episode_start=boundary,
            inner_return=jnp.where(boundary, 0.0, inner_return),
            inner_length=jnp.where(boundary, 0, inner_length),
            trial_return=trial_return,
            trial_length=trial_length,
            episode_returns=episode_returns,
            episode_lengths=episode_lengths,
        )
        # The wrapped env has already reset itself at the trial's end; only our records restart.
        fresh = self._fresh_state(env_state, params)
        new_state = jax.tree.map(lambda new, run: jnp.where(trial_done, new, run), fresh, running)
        if self.split_episodes:  # forget the extras at every inner episode's end, too
            terminated = terminated | boundary
            new_state = new_state.replace(
                prev_action=jnp.where(boundary, -1, new_state.prev_action),
                prev_reward=jnp.where(boundary, 0.0, new_state.prev_reward),
            )
        s = new_state
        obs = self._augment(obs, s.prev_action, s.prev_reward, s.episode_start, params)
        return obs, new_state, reward, terminated, truncated, info

    def observation_space(self, params: Any = None) -> spaces.Dict:
        params = self.default_params if params is None else params
        inner = self._env.observation_space(params)
        base = dict(inner.spaces) if isinstance(inner, spaces.Dict) else {"obs": inner}
        num_actions = self._env.action_space(params).n
        return spaces.Dict(
            {
                **base,
                "prev_action": spaces.Box(0.0, 1.0, (num_actions,), jnp.float32),
                "prev_reward": spaces.Box(-jnp.inf, jnp.inf, (1,), jnp.float32),
                "episode_start": spaces.Box(0.0, 1.0, (1,), jnp.float32),
            }
        )

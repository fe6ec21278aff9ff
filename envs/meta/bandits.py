"""Structured K-armed bandit trials for meta-RL (see ``papers/meta_rl.md``).

One environment episode is one **trial**: a bandit whose arm means are drawn from a prior at the
trial's start. A trial holds ``num_episodes`` inner **episodes** of ``pulls_per_episode`` pulls each.
Inner episodes are marked in ``info``; the trainer sees only the trial as its episode:

- ``info["episode_boundary"]`` is true on the pull that ends an inner episode (the trial's last pull
  included), ``info["inner_episode"]`` is the index of the inner episode the pull belonged to;
- the trial's end is reported as ``terminated=True``. A trial's length is part of the task (the
  objective is the reward collected within the trial and nothing after it; the Bayes-optimal amount
  of exploration depends on the pulls left), so there is nothing to bootstrap from past it, and a
  recurrent agent whose state resets at the trial's end could not do so anyway. It is therefore a
  termination, not a time-limit truncation.
- ``params.max_steps_in_episode`` is the core's generic time limit (truncation) on the trial. The
  factory sets it to the trial length, so by default it only ever fires on the trial's last pull,
  together with ``terminated`` (and agents bootstrap only on ``truncated & ~terminated``); set it
  lower to cut trials short.

The prior (``prior``):

- ``"one_good"`` (default): one arm, chosen uniformly, has mean ``good_mean`` (0.9); the others have
  means drawn uniformly from ``[poor_low, poor_high]`` ([0.1, 0.3]). Finding the good arm is what
  exploration is for, and once a pull of it has been seen the rest of the trial can exploit it;
- ``"uniform"``: every mean uniform on ``[0, 1]`` (the classical Bernoulli bandit prior);
- ``"fixed"``: the means given in ``fixed_means`` (for tests and for baselines on a known bandit).

Rewards are Bernoulli(mean) (``reward_dist="bernoulli"``) or Normal(mean, ``reward_std``**2)
(``"gaussian"``).

The structure switch ``resample`` says when the means are redrawn from the prior inside a trial:
``"none"`` (fixed for the whole trial: the history informs the future, structure is present),
``"episode"`` (redrawn at every inner-episode start) or ``"step"`` (redrawn after every pull). With
``"episode"`` or ``"step"`` the history carries no information across the resampling points.

The observation is a constant ``zeros((1,))``: a bandit has no state to observe. Use
`envs.meta.trial_wrapper.TrialWrapper` (applied by ``envs.make`` unless ``trial_wrapper=False``) to give the
agent its previous action, previous reward and the episode-boundary flag.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces
from envs.core import Environment

PRIORS = ("one_good", "uniform", "fixed")
REWARD_DISTS = ("bernoulli", "gaussian")
BANDIT_RESAMPLE = ("none", "episode", "step")


@struct.dataclass
class BanditState:
    means: jax.Array  # [K] means in effect for the next pull
    episode_index: jax.Array  # inner episode of the next pull
    episode_time: jax.Array  # pulls already made in the current inner episode
    time: jax.Array  # pulls already made in the trial


@struct.dataclass
class BanditParams:
    good_mean: float = 0.9
    poor_low: float = 0.1
    poor_high: float = 0.3
    reward_std: float = 0.5
    num_arms: int = struct.field(pytree_node=False, default=5)
    pulls_per_episode: int = struct.field(pytree_node=False, default=10)
    num_episodes: int = struct.field(pytree_node=False, default=5)
    prior: str = struct.field(pytree_node=False, default="one_good")
    reward_dist: str = struct.field(pytree_node=False, default="bernoulli")
    resample: str = struct.field(pytree_node=False, default="none")
    fixed_means: tuple[float, ...] = struct.field(pytree_node=False, default=())
    max_steps_in_episode: int = 50  # the trial length, pulls_per_episode * num_episodes (docstring)

    @property
    def trial_length(self) -> int:
        return self.pulls_per_episode * self.num_episodes


def sample_means(key: jax.Array, params: BanditParams) -> jax.Array:
    """Arm means for one trial (or one resampling point) from ``params.prior``."""
    k = params.num_arms
    if params.prior == "fixed":
        return jnp.asarray(params.fixed_means, jnp.float32)
    if params.prior == "uniform":
        return jax.random.uniform(key, (k,))
    key_good, key_poor = jax.random.split(key)
    good_arm = jax.random.randint(key_good, (), 0, k)
    poor = jax.random.uniform(key_poor, (k,), minval=params.poor_low, maxval=params.poor_high)
    return jnp.where(jnp.arange(k) == good_arm, params.good_mean, poor).astype(jnp.float32)


class StructuredBandit(Environment[BanditState, BanditParams]):
    @property
    def default_params(self) -> BanditParams:
        return BanditParams()

    def reset_env(self, key: jax.Array, params: BanditParams) -> tuple[jax.Array, BanditState]:
        zero = jnp.zeros((), jnp.int32)
        return self._obs(), BanditState(sample_means(key, params), zero, zero, zero)

    def step_env(self, key: jax.Array, state: BanditState, action: jax.Array, params: BanditParams):
        key_reward, key_resample = jax.random.split(key)
        action = jnp.asarray(action, jnp.int32)
        mean = state.means[action]
        if params.reward_dist == "bernoulli":
            reward = jax.random.bernoulli(key_reward, mean).astype(jnp.float32)
        else:
            reward = mean + params.reward_std * jax.random.normal(key_reward)
        episode_time = state.episode_time + 1
        boundary = episode_time >= params.pulls_per_episode
        episode_index = state.episode_index + boundary.astype(jnp.int32)
        trial_over = episode_index >= params.num_episodes
        if params.resample == "none":
            resample = jnp.asarray(False)
        elif params.resample == "episode":
            resample = boundary
        else:
            resample = jnp.asarray(True)
        means = jnp.where(resample, sample_means(key_resample, params), state.means)
        info = {
            "episode_boundary": boundary,
            "inner_episode": state.episode_index,
            "regret": jnp.max(state.means) - mean,
            "best_arm": jnp.argmax(state.means).astype(jnp.int32),
        }
        new_state = BanditState(
            means=means,
            episode_index=episode_index,
            episode_time=jnp.where(boundary, 0, episode_time),
            time=state.time + 1,
        )
        return self._obs(), new_state, reward, trial_over, info

    def _obs(self) -> jax.Array:
        return jnp.zeros((1,), jnp.float32)

    def action_space(self, params: BanditParams | None = None) -> spaces.Discrete:
        params = params or self.default_params
        return spaces.Discrete(params.num_arms)

    def observation_space(self, params: BanditParams | None = None) -> spaces.Box:
        return spaces.Box(0.0, 0.0, (1,), jnp.float32)

    @property
    def name(self) -> str:
        return "StructuredBandit"


def make_structured_bandit(
    num_arms: int = 5,
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
) -> tuple[StructuredBandit, BanditParams]:
    """The raw bandit trial environment and its parameters, with every argument value checked."""
    if int(num_arms) < 2:
        raise ValueError(f"num_arms must be at least 2, got {num_arms}")
    if int(pulls_per_episode) < 1:
        raise ValueError(f"pulls_per_episode must be positive, got {pulls_per_episode}")
    if int(num_episodes) < 1:
        raise ValueError(f"num_episodes must be positive, got {num_episodes}")
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    if reward_dist not in REWARD_DISTS:
        raise ValueError(f"reward_dist must be one of {REWARD_DISTS}, got {reward_dist!r}")
    if resample not in BANDIT_RESAMPLE:
        raise ValueError(f"resample must be one of {BANDIT_RESAMPLE}, got {resample!r}")
    if not 0.0 <= poor_low <= poor_high <= 1.0:
        raise ValueError(
            f"need 0 <= poor_low <= poor_high <= 1, got poor_low={poor_low}, poor_high={poor_high}"
        )
    if not 0.0 <= good_mean <= 1.0:
        raise ValueError(f"good_mean must lie in [0, 1], got {good_mean}")
    if reward_std <= 0.0:
        raise ValueError(f"reward_std must be positive, got {reward_std}")
    if prior == "fixed":
        if fixed_means is None or len(fixed_means) != int(num_arms):
            raise ValueError(f"prior='fixed' needs num_arms={num_arms} fixed_means, got {fixed_means}")
        if reward_dist == "bernoulli" and not all(0.0 <= m <= 1.0 for m in fixed_means):
            raise ValueError(f"fixed_means must lie in [0, 1] for Bernoulli rewards, got {fixed_means}")
        if resample != "none":
            raise ValueError(f"resample={resample!r} redraws the same fixed means; use resample='none'")
    elif fixed_means is not None:
        raise ValueError(f"fixed_means is only used with prior='fixed', got prior={prior!r}")
    params = BanditParams(
        good_mean=float(good_mean),
        poor_low=float(poor_low),
        poor_high=float(poor_high),
        reward_std=float(reward_std),
        num_arms=int(num_arms),
        pulls_per_episode=int(pulls_per_episode),
        num_episodes=int(num_episodes),
        prior=prior,
        reward_dist=reward_dist,
        resample=resample,
        fixed_means=tuple(float(m) for m in fixed_means) if fixed_means is not None else (),
        max_steps_in_episode=int(pulls_per_episode) * int(num_episodes),
    )
    return StructuredBandit(), params

"""Proximal policy optimisation, feed-forward or recurrent, read top to bottom.

    trainer = make_train(PPOConfig(env="CartPole-v1"))
    state = trainer.init(jax.random.PRNGKey(0))
    state, metrics = trainer.update(state)        # one compiled chunk of updates
    state, metrics = trainer.train(jax.random.PRNGKey(0))   # the whole run as one call

Fields declared ``vmappable(...)`` (their names are ``PPOConfig.VMAPPABLE``) are read from a
``HyperParams`` pytree carried in the runner state, so ``jax.vmap(trainer.init_fn)(keys, hparams)`` runs
many seeds and hyperparameters as one program. Every other field is static: it fixes shapes or code
paths. PPO is registered as the algorithm ``"ppo"`` (`jaxrl.algorithms`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

import envs
from envs import spaces
from jaxrl.algorithms import Algorithm, algorithm_config, register, vmappable
from jaxrl.algorithms.protocol import json_value
from jaxrl.gae import truncation_aware_gae
from jaxrl.losses import ppo_loss
from jaxrl.networks import FeedForwardActorCritic, RecurrentActorCritic, default_head, describe_observation
from jaxrl.rollout import RolloutState, bootstrap_values, collect_rollout, summarize_episodes


@algorithm_config
class PPOBase:
    """The fields of PPO's optimisation and networks, shared by the algorithms built on PPO's machinery
    (`jaxrl.meta.rl2.RL2Config`). Defaults are the classic CartPole setting (PureJaxRL / CleanRL).
    Fields declared ``vmappable(...)`` may differ between the trials of one compiled program; the
    others are static."""

    env: str = "CartPole-v1"
    """Environment name: see `jaxrl list envs` (also gymnax:<id> and minihack:<id>)."""
    env_kwargs: dict[str, int | float | bool | str] = dataclasses.field(default_factory=dict)
    """Keyword arguments for envs.make, as KEY VALUE pairs (e.g. num_contexts 10)."""
    total_timesteps: int = 500_000
    """Environment steps per trial (all environments together)."""
    num_envs: int = 4
    """Parallel environments."""
    num_steps: int = 128
    """Steps per environment in each rollout; a batch is num_envs * num_steps."""
    update_epochs: int = 4
    """Passes over each batch."""
    num_minibatches: int = 4
    """Minibatches per epoch."""
    learning_rate: float = vmappable(2.5e-4)
    """Adam learning rate [vmappable]."""
    ent_coef: float = vmappable(0.01)
    """Entropy bonus coefficient [vmappable]."""
    vf_coef: float = vmappable(0.5)
    """Value loss coefficient [vmappable]."""
    clip_eps: float = vmappable(0.2)
    """PPO clipping range for the ratio (and the value, with clip_value_loss) [vmappable]."""
    gamma: float = vmappable(0.99)
    """Discount factor [vmappable]."""
    gae_lambda: float = vmappable(0.95)
    """GAE lambda [vmappable]."""
    max_grad_norm: float = vmappable(0.5)
    """Global gradient-norm clipping [vmappable]."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run."""
    normalize_advantages: bool = True
    """Normalise advantages per minibatch."""
    clip_value_loss: bool = True
    """Clip the value loss around the old values, as PPO2 does."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the actor's and critic's hidden layers (gru: the first is the layer before the GRU)."""
    activation: Literal["tanh", "relu", "gelu"] = "tanh"
    """Activation of the hidden layers."""
    gru_size: int = 128
    """GRU state size (recurrent network)."""

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size


@algorithm_config
class PPOConfig(PPOBase):
    """PPO hyperparameters: `PPOBase`'s, the network's kind and the exploration bonus."""

    bonus_coef: float = vmappable(0.0)
    """Weight of the (normalised) exploration bonus added to the reward [vmappable]."""
    network: Literal["mlp", "gru"] = "mlp"
    """Feed-forward actor-critic or a GRU (recurrent) one."""
    action_head: Literal["auto", "categorical", "gaussian", "beta"] = "auto"
    """Action distribution; auto: categorical for Discrete, gaussian for Box actions."""
    obs_keys: tuple[str, ...] = ()
    """Dict observations: the keys the policy reads (empty: all)."""
    bonus: str = "none"
    """Exploration bonus: see `jaxrl list bonuses`; two combine as 'a*b' (product) or 'a+b' (sum)."""
    bonus_kwargs: dict[str, int | float | bool | str] = dataclasses.field(default_factory=dict)
    """Options of the bonus, as KEY VALUE pairs (e.g. key position); `jaxrl list bonuses` lists them."""
    normalize_bonus: bool = True
    """Divide the bonus by a running estimate of its standard deviation."""

    def validate(self) -> None:
        """Refuse impossible settings with a message that names the field."""
        positive = [
            "total_timesteps",
            "num_envs",
            "num_steps",
            "update_epochs",
            "num_minibatches",
            "gru_size",
        ]
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.num_updates < 1:
            raise ValueError(
                f"total_timesteps={self.total_timesteps} is less than one batch "
                f"(num_envs * num_steps = {self.batch_size})"
            )
        if self.network == "gru":
            if self.num_envs % self.num_minibatches:
                raise ValueError(
                    f"recurrent PPO draws minibatches over environments: num_envs={self.num_envs} must be "
                    f"divisible by num_minibatches={self.num_minibatches}"
                )
        elif self.batch_size % self.num_minibatches:
            raise ValueError(
                f"the batch of num_envs * num_steps = {self.batch_size} does not divide into "
                f"num_minibatches={self.num_minibatches}"
            )
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{field.name} must be a finite number, got {value}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.learning_rate < 0 or self.clip_eps <= 0 or self.max_grad_norm <= 0:
            raise ValueError("learning_rate must be >= 0, clip_eps and max_grad_norm > 0")
        if not self.hidden_sizes:
            raise ValueError("hidden_sizes needs at least one layer")



HyperParams = PPOConfig.HyperParams  # the pytree of PPOConfig.VMAPPABLE (float32 leaves)


@struct.dataclass
class RunnerState:
    params: Any
    opt_state: Any
    rollout: RolloutState
    bonus_norm: Any  # running moments of the intrinsic reward
    key: jax.Array
    update_idx: jax.Array
    hparams: HyperParams


@dataclasses.dataclass(frozen=True)
class Trainer:
    config: PPOConfig
    env: Any
    env_params: Any
    network: Any
    bonus: Any
    init_fn: Callable[..., RunnerState]  # (key, hparams) -> RunnerState; pure, vmap it
    update_fn: Callable[..., tuple[RunnerState, dict]]  # (state, num_updates) -> one chunk; pure
    updates_per_chunk: int

    @property
    def chunk_lengths(self) -> list[int]:
        """Updates in each chunk: full chunks, then the remainder (a second compiled program)."""
        full, rest = divmod(self.config.num_updates, self.updates_per_chunk)
        return [self.updates_per_chunk] * full + ([rest] if rest else [])

    @property
    def num_chunks(self) -> int:
        return len(self.chunk_lengths)

    @property
    def steps_per_update(self) -> int:
        return self.config.batch_size

    def init(self, key: jax.Array, hparams: HyperParams | None = None) -> RunnerState:
        return jax.jit(self.init_fn)(key, hparams if hparams is not None else self.config.hyperparams())

    def update(self, state: RunnerState, num_updates: int | None = None) -> tuple[RunnerState, dict]:
        """One compiled chunk of ``num_updates`` (default ``updates_per_chunk``) updates."""
        cache = self.__dict__.setdefault("_compiled", {})
        length = num_updates or self.updates_per_chunk
        if length not in cache:
            cache[length] = jax.jit(functools.partial(self.update_fn, num_updates=length))
        return cache[length](state)

    def train(self, key: jax.Array, hparams: HyperParams | None = None) -> tuple[RunnerState, dict]:
        """The whole run as one compiled call; metrics are stacked per chunk of ``updates_per_chunk``
        updates (any remainder of updates runs after the last full chunk and is not in the metrics)."""
        full, rest = divmod(self.config.num_updates, self.updates_per_chunk)

        def run(key, hparams):
            state = self.init_fn(key, hparams)
            state, metrics = jax.lax.scan(lambda s, _: self.update_fn(s), state, None, length=full)
            if rest:
                state, _ = self.update_fn(state, num_updates=rest)
            return state, metrics

        hparams = hparams if hparams is not None else self.config.hyperparams()
        return jax.jit(run)(key, hparams)


def make_env(config: PPOConfig) -> tuple[Any, Any]:
    """The training environment: vectorised, with episode statistics. Environments that arrive
    already batched (host adapters such as ``minihack:``) are used as they are."""
    env, env_params = envs.make(config.env, **config.env_kwargs)
    batched = getattr(env, "num_envs", None)
    if batched is not None:
        if batched != config.num_envs:
            raise ValueError(
                f"{config.env} is batched with num_envs={batched} but the config asks for {config.num_envs}; "
                f"pass num_envs in env_kwargs to match"
            )
        return envs.EpisodeStatistics(env, batch_shape=(batched,)), env_params
    return envs.VecEnv(envs.EpisodeStatistics(env), config.num_envs), env_params


def make_network(config: PPOConfig, env: Any, env_params: Any):
    action_space = env.action_space(env_params)
    head = default_head(action_space) if config.action_head == "auto" else config.action_head
    if head == "categorical" and not isinstance(action_space, spaces.Discrete):
        raise ValueError(f"action_head=categorical needs a Discrete action space, got {action_space}")
    if head in ("gaussian", "beta") and not isinstance(action_space, spaces.Box):
        raise ValueError(f"action_head={head} needs a Box action space, got {action_space}")
    description = describe_observation(env.observation_space(env_params), config.obs_keys)
    common = dict(
        description=description,
        action_space=action_space,
        head=head,
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
    )
    if config.network == "gru":
        return RecurrentActorCritic(**common, gru_size=config.gru_size), config.gru_size
    if config.network == "mlp":
        return FeedForwardActorCritic(**common), 0
    raise ValueError(f"unknown network {config.network!r}; choose 'mlp' or 'gru'")


AdvantageFn = Callable[[Any, jax.Array, jax.Array, HyperParams], tuple[jax.Array, jax.Array]]


def make_train(config: PPOConfig, updates_per_chunk: int = 1, advantage_fn: AdvantageFn | None = None) -> Trainer:
    """``advantage_fn(batch, rewards, next_values, hparams) -> (advantages, returns)`` replaces the
    truncation-aware GAE (RL-squared's greedy objective uses it to cut credit at inner episodes)."""
    config.validate()
    env, env_params = make_env(config)
    network, carry_size = make_network(config, env, env_params)
    num_envs, num_steps = config.num_envs, config.num_steps
    recurrent = config.network == "gru"
    updates_per_chunk = max(1, min(updates_per_chunk, config.num_updates))
    optimizer = optax.scale_by_adam(eps=1e-5)

    bonus = None
    if config.bonus != "none":
        from jaxrl.bonuses import RunningMoments, make_bonus, scale_bonus

        bonus = make_bonus(config.bonus, **config.bonus_kwargs)

    read_keys = tuple(name for name, _, _ in network.description)

    def policy_inputs(obs: Any) -> Any:
        """The observation leaves the policy reads (minibatches carry nothing else)."""
        return {k: obs[k] for k in read_keys} if isinstance(obs, dict) else obs

    # ------------------------------------------------------------------ init
    def init_fn(key: jax.Array, hparams: HyperParams) -> RunnerState:
        key, key_env, key_net, key_bonus = jax.random.split(key, 4)
        obs, env_state = env.reset(key_env, env_params)
        carry = network.initial_carry(num_envs, carry_size)
        starts = jnp.ones((num_envs,), bool)
        add_time = lambda x: x[None]
        params = network.init(key_net, carry, jax.tree.map(add_time, obs), starts[None])
        bonus_state, bonus_norm = None, None
        if bonus is not None:
            one_obs = jax.tree.map(lambda x: x[0], obs)
            bonus_state = bonus.init(
                key_bonus,
                one_obs,
                env.action_space(env_params).n
                if isinstance(env.action_space(env_params), spaces.Discrete)
                else 0,
                num_envs,
            )
            bonus_norm = RunningMoments.init()
        rollout = RolloutState(env_state, obs, starts, carry, bonus_state)
        return RunnerState(params, optimizer.init(params), rollout, bonus_norm, key, jnp.int32(0), hparams)

    # ---------------------------------------------------------------- update
    def update_once(state: RunnerState, _) -> tuple[RunnerState, dict]:
        hp = state.hparams
        key, key_rollout, key_perm = jax.random.split(state.key, 3)
        initial_carry = state.rollout.carry
        rollout, batch = collect_rollout(
            key_rollout,
            state.rollout,
            state.params,
            env=env,
            env_params=env_params,
            network=network,
            num_steps=num_steps,
            bonus=bonus,
        )

        # Rewards: extrinsic plus the (normalised) exploration bonus.
        rewards, bonus_norm, bonus_metrics = batch.reward, state.bonus_norm, {}
        if bonus is not None:
            intrinsic, bonus_norm = scale_bonus(
                batch.intrinsic, bonus_norm, hp.bonus_coef, normalize=config.normalize_bonus
            )
            rewards = rewards + intrinsic
            bonus_state, bonus_metrics = bonus.update(
                rollout.bonus_state,
                {
                    "obs": batch.obs,
                    "action": batch.action,
                    "next_obs": batch.final_obs,
                    "done": jnp.logical_or(batch.terminated, batch.truncated),
                },
            )
            rollout = rollout.replace(bonus_state=bonus_state)
            # Raw bonus, and the part of the reward it became (coefficient x bonus / running std).
            bonus_metrics = {
                **bonus_metrics,
                "intrinsic_reward": batch.intrinsic.mean(),
                "intrinsic_reward_added": intrinsic.mean(),
            }

        next_values = bootstrap_values(state.params, network, batch)
        done = jnp.logical_or(batch.terminated, batch.truncated)
        if advantage_fn is None:
            advantages, returns = truncation_aware_gae(
                rewards, batch.value, next_values, batch.terminated, done, hp.gamma, hp.gae_lambda
            )
        else:
            advantages, returns = advantage_fn(batch, rewards, next_values, hp)

        # Learning-rate annealing is linear in the update index, as in PPO's original schedule.
        frac = 1.0 - state.update_idx / config.num_updates if config.anneal_lr else 1.0
        learning_rate = hp.learning_rate * frac
        clip = optax.clip_by_global_norm(hp.max_grad_norm)

        def loss_fn(params, mb):
            _, dist, values = network.apply(params, mb["carry"], mb["obs"], mb["episode_start"])
            return ppo_loss(
                dist,
                values,
                mb["action"],
                mb["log_prob"],
                mb["value"],
                mb["advantage"],
                mb["return"],
                clip_eps=hp.clip_eps,
                vf_coef=hp.vf_coef,
                ent_coef=hp.ent_coef,
                normalize_advantages=config.normalize_advantages,
                clip_value_loss=config.clip_value_loss,
            )

        data = {
            "obs": policy_inputs(batch.obs),
            "action": batch.action,
            "log_prob": batch.log_prob,
            "value": batch.value,
            "advantage": advantages,
            "return": returns,
            "episode_start": batch.episode_start,
        }

        def minibatches(key):
            """Every epoch's minibatches, gathered at once: ``[epochs, minibatches, ...]``. Recurrent:
            whole sequences, split over environments. Feed-forward: shuffled samples. Each epoch draws
            its own uniform permutation (``jax.random.permutation`` of that epoch's key, as one
            batched draw and sort for all epochs instead of one per epoch)."""
            keys = jax.random.split(key, config.update_epochs)
            epochs, parts = config.update_epochs, config.num_minibatches
            if recurrent:
                perm = jax.vmap(lambda k: jax.random.permutation(k, num_envs))(keys).reshape(epochs, parts, -1)
                take = lambda x: jnp.moveaxis(x[:, perm], 0, 2)  # [E, M, T, N/M, ...]
                mbs = jax.tree.map(take, data)
                mbs["carry"] = initial_carry[perm]
                return mbs
            perm = jax.vmap(lambda k: jax.random.permutation(k, config.batch_size))(keys)
            perm = perm.reshape(epochs, parts, -1)
            flat = lambda x: x.reshape((config.batch_size, *x.shape[2:]))[perm]
            mbs = jax.tree.map(flat, data)
            mbs["carry"] = jnp.zeros((*perm.shape, 1), jnp.float32)
            return mbs

        # The minibatch steps work on the parameters and Adam's moments as flat vectors: the clip and
        # Adam update are then a few fused passes over one array instead of a few per parameter leaf.
        flat_params, unravel = ravel_pytree(state.params)
        flat_loss = lambda flat, mb: loss_fn(unravel(flat), mb)
        ravel_moments = lambda s: s._replace(mu=ravel_pytree(s.mu)[0], nu=ravel_pytree(s.nu)[0])

        def sgd_step(carry, mb):
            params, opt_state = carry
            grads, terms = jax.grad(flat_loss, has_aux=True)(params, mb)
            grads, _ = clip.update(grads, clip.init(params))
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (params - learning_rate * updates, opt_state), terms

        def epoch(carry, mbs):
            return jax.lax.scan(sgd_step, carry, mbs)

        (flat_params, flat_opt_state), terms = jax.lax.scan(
            epoch, (flat_params, ravel_moments(state.opt_state)), minibatches(key_perm)
        )
        params = unravel(flat_params)
        opt_state = flat_opt_state._replace(mu=unravel(flat_opt_state.mu), nu=unravel(flat_opt_state.nu))
        metrics = {
            **jax.tree.map(jnp.mean, terms),
            **bonus_metrics,
            **summarize_episodes(batch.stats),
            "learning_rate": learning_rate,
        }
        new_state = RunnerState(params, opt_state, rollout, bonus_norm, key, state.update_idx + 1, hp)
        return new_state, metrics

    def update_fn(state: RunnerState, num_updates: int = updates_per_chunk) -> tuple[RunnerState, dict]:
        """``num_updates`` updates; metrics summed (episode counts) or averaged (losses)."""
        state, metrics = jax.lax.scan(update_once, state, None, length=num_updates)
        summed = {k: metrics[k].sum() for k in metrics if k.endswith("_sum") or k == "episodes"}
        averaged = {k: metrics[k].mean() for k in metrics if k not in summed}
        return state, {**summed, **averaged, "update": state.update_idx}

    return Trainer(config, env, env_params, network, bonus, init_fn, update_fn, updates_per_chunk)


def episode_means(metrics: dict) -> dict:
    """Per-episode means from a chunk's sums (NaN where no episode finished)."""
    episodes = metrics["episodes"]
    safe = jnp.maximum(episodes, 1)
    nan_if_none = lambda x: jnp.where(episodes > 0, x / safe, jnp.nan)
    return {
        "episode_return_mean": nan_if_none(metrics["episode_return_sum"]),
        "episode_length_mean": nan_if_none(metrics["episode_length_sum"]),
        "success_rate": nan_if_none(metrics["success_sum"]),
    }


def metric_rows(metrics: dict) -> list[dict[str, Any]]:
    """A chunk's metrics (leading axis the trials) as one row per trial: the per-episode means, the
    number of episodes, then every other metric (the sums are left out: the means stand for them)."""
    means = jax.device_get(episode_means(metrics))
    rest = [k for k in metrics if k not in means and not k.endswith("_sum") and k not in ("update", "episodes")]
    rows = []
    for i in range(len(metrics["episodes"])):
        row = {k: json_value(v[i]) for k, v in means.items()}
        row["episodes"] = int(metrics["episodes"][i])
        row.update({k: json_value(metrics[k][i]) for k in rest})
        rows.append(row)
    return rows


def evaluate(config: PPOConfig, params: Any, key: jax.Array, num_episodes: int, greedy: bool) -> dict:
    from jaxrl.evaluate import evaluate_policy

    return evaluate_policy(config, params, key, num_episodes, greedy)


ALGORITHM = register(
    Algorithm(
        name="ppo",
        config_cls=PPOConfig,
        make_train=lambda config, updates_per_chunk=1: make_train(config, updates_per_chunk),
        metric_rows=metric_rows,
        finite_leaves=lambda state: state.params,
        description="Proximal policy optimisation, feed-forward or recurrent, with optional exploration bonuses.",
        evaluate=evaluate,
    )
)

"""BARFI's bi-level training loop: an inner learner (REINFORCE, or PPO with ``inner_learner="ppo"``) on a
blended reward, and outer updates of the blend and the discount toward the primary return.

Two inner schedules (``BarfiConfig.schedule``):

- ``"replay"``, the authors' code's (``BarfiNeumann.optimize``): ``warmup_updates`` inner updates on the
  naive sum, each on one fresh episode; then ``outer_updates`` times: collect ``episodes_per_outer``
  (delta = 3) fresh on-policy episodes into a FIFO buffer of the last ``replay_buffer`` (1,000)
  episodes, one outer update, then ``inner_per_outer`` (15) inner updates, each one RMSprop step of
  REINFORCE on ``replay_batch`` (1) episode drawn uniformly from the buffer (off-policy, no importance
  weights, as in their code). The outer update takes v = grad_theta J (the primary return, gamma = 0.99)
  on the delta fresh episodes and the Hessian and mixed terms on ``hessian_batch`` (15) episodes drawn
  from the buffer without those delta. Differences from their code: their warm-up is one naive-sum
  update per 3 episodes for the first ~155 episodes followed by 165 buffer updates on the initial blend
  (ours: 150 naive-sum updates on one fresh episode each); their v batch has delta + 1 episodes (an
  off-by-one in ``sample_last``). Per-update metrics are those of the latest fresh episodes.
- ``"fresh"`` (our earlier schedule, and the one PPO needs): the same warm-up and outer/inner
  structure, but each inner update collects ``num_episodes`` fresh on-policy episodes and takes one
  RMSprop step of REINFORCE on them (or one PPO update: ``ppo_epochs`` x ``ppo_minibatches``
  clipped-surrogate steps with GAE advantages from a linear critic; see ``jaxrl.barfi.ppo``); the
  episodes also go into a small buffer (the last ``buffer_batches`` batches). An outer update takes v on
  the latest batch and the Hessian and mixed terms on the whole buffer, of the inner learner's objective
  (the REINFORCE surrogate, or PPO's clipped surrogate at theta_old = theta).

Every method gets the same budget of inner updates and environment steps; the baselines (primary
reward only, naive sum, potential-based shaping) simply skip the outer updates. All hyperparameters
in ``BarfiHyper`` (including the heuristic, the reward mode and the number of Neumann terms) are array
leaves, so ``jax.vmap(trainer.train)`` runs seeds x heuristics x methods of one family in one program:

    trainer = make_train(BarfiConfig(env="BARFI-GridWorld", outer_gradient="implicit"))
    hyper = method_hyper("implicit", heuristic="good")
    state, metrics = jax.jit(jax.vmap(trainer.train, in_axes=(0, None)))(keys, hyper)

The same run in chunks, as `jaxrl train barfi` drives it (with checkpoints and resume between chunks):
``trainer.init_fn(key, hyper)`` makes the state and runs the warm-up, and ``trainer.update_fn(state,
num_updates=n)`` runs ``n`` outer iterations (one outer update and its ``inner_per_outer`` inner
updates each). `BarfiConfig`'s fields marked ``vmappable`` (the method, the heuristic and the
learning rates) become the `BarfiHyper` of `BarfiConfig.hyperparams`; BARFI is registered as the
algorithm ``"barfi"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

import envs
from envs.barfi import HEURISTICS, heuristic_index
from envs.core import select_tree
from jaxrl.algorithms import Algorithm, algorithm_config, register, vmappable
from jaxrl.algorithms.protocol import json_value
from jaxrl.barfi.blend import (
    BlendParams,
    blend_heads,
    blend_regulariser,
    blend_reward,
    discounted_returns,
    init_blend,
    learned_discount,
    potential_shaped_reward,
)
from jaxrl.barfi.features import features_for
from jaxrl.barfi.implicit import implicit_outer_gradient, unrolled_outer_gradient
from jaxrl.barfi.ppo import init_critic, ppo_update
from jaxrl.barfi.ppo import inner_objective as ppo_inner_objective
from jaxrl.barfi.reinforce import (
    Batch,
    ascent_step,
    collect_episodes,
    init_policy,
    reinforce_objective,
    rmsprop,
)

METHODS = ("primary", "naive", "shaping", "implicit", "first_order", "unrolled")
REWARD_MODES = ("primary", "naive", "shaping", "learned")
OUTER_GRADIENTS = ("none", "implicit", "unrolled", "switch")
INNER_LEARNERS = ("reinforce", "ppo")
SCHEDULES = ("fresh", "replay")


def outer_gradient_of(method: str) -> str:
    """The program family a method runs in (the static part of its configuration)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return {"implicit": "implicit", "first_order": "implicit", "unrolled": "unrolled"}.get(method, "none")


@struct.dataclass
class BarfiHyper:
    """Array-valued settings: any of them may be a vmapped batch axis."""

    heuristic: jax.Array  # index into envs.barfi.HEURISTICS
    reward_mode: jax.Array  # index into REWARD_MODES
    neumann_terms: jax.Array  # 0: the first-order outer gradient
    unrolled: jax.Array = False  # with outer_gradient="switch": the unrolled estimator, else the implicit
    neumann_alpha: jax.Array = 1e-3
    actor_lr: jax.Array = 0.005
    reward_lr: jax.Array = 0.005
    gamma_lr: jax.Array = 0.005
    entropy_coef: jax.Array = 0.25
    gamma_l2: jax.Array = 0.0
    reward_l2: jax.Array = 0.0
    # PPO only (ignored by REINFORCE):
    critic_lr: jax.Array = 0.05  # plain gradient steps on the linear critic's squared error
    gae_lambda: jax.Array = 0.95
    ppo_clip: jax.Array = 0.2


@algorithm_config
class BarfiConfig:
    """BARFI's settings. The unmarked ones are static: they fix shapes or the structure of the compiled
    program. Those declared ``vmappable(...)`` may differ between the trials of one program; they are
    the run's `BarfiHyper` (`hyperparams`), which `make_train(config).train` takes as an argument."""

    HyperParams = BarfiHyper

    env: str = "BARFI-GridWorld"
    """A BARFI domain: BARFI-GridWorld, BARFI-CartPole or BARFI-MountainCar."""
    horizon: int | None = None
    """Episode length; None: the domain's own (50, 500, 2000)."""
    schedule: str = "fresh"
    """fresh | replay (the authors' code's; see jaxrl/barfi/train.py)."""
    num_episodes: int = 8
    """fresh: episodes per inner update."""
    replay_buffer: int = 1000
    """replay: episodes kept (FIFO)."""
    replay_batch: int = 1
    """replay: episodes per inner update, drawn from the buffer."""
    episodes_per_outer: int = 3
    """replay: fresh on-policy episodes per outer update (delta); v uses them."""
    hessian_batch: int = 15
    """replay: buffer episodes (not the latest delta) for the Hessian and mixed terms."""
    warmup_updates: int = 150
    """Inner updates on the naive sum before the first outer update."""
    outer_updates: int = 20
    """Outer iterations (one outer update, then inner_per_outer inner updates); an update of `jaxrl train`."""
    inner_per_outer: int = 15
    """Inner updates per outer iteration."""
    outer_gradient: str = "implicit"
    """none | implicit | unrolled | switch (compile both estimators and pick one per trial, so that every
    method is a batch axis of one program)."""
    neumann_max_terms: int = 5
    """The most Neumann terms the implicit gradient compiles (neumann_terms picks how many run)."""
    unroll_steps: int = 3
    """Inner steps the unrolled gradient differentiates through."""
    buffer_batches: int = 4
    """fresh: batches kept for the Hessian and mixed terms."""
    primary_gamma: float = 0.99
    """Discount of the primary return."""
    state_blend: bool = True
    """False: the state-independent scalar form (b1 - 1) + r_p + b3 * r_aux."""
    inner_learner: str = "reinforce"
    """reinforce | ppo."""
    ppo_epochs: int = 4
    """PPO only: passes over each batch."""
    ppo_minibatches: int = 2
    """PPO only: minibatches of whole episodes per pass; divides num_episodes."""
    ppo_normalise_advantages: bool = False
    """PPO only: standardise advantages over each batch's steps. Off by default: standardising divides out
    the blend's scale, so the outer gradient loses phi_2 (see jaxrl/barfi/ppo.py)."""
    method: str = vmappable("implicit")
    """primary | naive | shaping | implicit | first_order | unrolled (runs in outer_gradient's program)."""
    heuristic: str = vmappable("good")
    """The designer's auxiliary reward: none | good | misleading."""
    neumann_terms: int = vmappable(5)
    """Neumann terms of the implicit gradient (first_order: 0)."""
    neumann_alpha: float = vmappable(1e-3)
    """Step of the Neumann series."""
    actor_lr: float = vmappable(0.005)
    """Inner learner's learning rate."""
    reward_lr: float = vmappable(0.005)
    """Learning rate of the blend's reward weights."""
    gamma_lr: float = vmappable(0.005)
    """Learning rate of the learned discount."""
    entropy_coef: float = vmappable(0.25)
    """Entropy bonus of the inner learner."""
    gamma_l2: float = vmappable(0.0)
    """L2 regulariser of the learned discount."""
    reward_l2: float = vmappable(0.0)
    """L2 regulariser of the blend."""
    critic_lr: float = vmappable(0.05)
    """PPO only: step of the linear critic."""
    gae_lambda: float = vmappable(0.95)
    """PPO only: GAE lambda."""
    ppo_clip: float = vmappable(0.2)
    """PPO only: clipping range."""

    def __post_init__(self) -> None:
        if self.outer_gradient not in OUTER_GRADIENTS:
            raise ValueError(f"outer_gradient must be one of {OUTER_GRADIENTS}, got {self.outer_gradient!r}")
        if self.inner_learner not in INNER_LEARNERS:
            raise ValueError(f"inner_learner must be one of {INNER_LEARNERS}, got {self.inner_learner!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.schedule == "replay" and self.inner_learner == "ppo":
            raise ValueError('schedule="replay" trains on replayed off-policy episodes; PPO needs schedule="fresh"')
        if self.schedule == "replay" and self.replay_buffer <= self.episodes_per_outer:
            raise ValueError(
                f"replay_buffer ({self.replay_buffer}) must exceed episodes_per_outer ({self.episodes_per_outer})"
            )
        if self.ppo_minibatches > 0 and self.num_episodes % self.ppo_minibatches:
            raise ValueError(f"ppo_minibatches ({self.ppo_minibatches}) must divide num_episodes ({self.num_episodes})")
        for name in (
            "num_episodes",
            "inner_per_outer",
            "unroll_steps",
            "buffer_batches",
            "ppo_epochs",
            "ppo_minibatches",
            "replay_buffer",
            "replay_batch",
            "episodes_per_outer",
            "hessian_batch",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("warmup_updates", "outer_updates", "neumann_max_terms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        if self.horizon is not None and self.horizon <= 0:
            raise ValueError(f"horizon must be positive, got {self.horizon}")

    def validate(self) -> None:
        """What ``__post_init__`` checks, and that the method runs in this program."""
        self.__post_init__()
        if self.heuristic not in HEURISTICS:
            raise ValueError(f"heuristic must be one of {HEURISTICS}, got {self.heuristic!r}")
        family = outer_gradient_of(self.method)
        if family != "none" and self.outer_gradient not in (family, "switch"):
            raise ValueError(
                f"method={self.method!r} needs outer_gradient={family!r} (or 'switch'), got {self.outer_gradient!r}"
            )
        if self.outer_updates < 1:
            raise ValueError(f"outer_updates must be positive to train in chunks, got {self.outer_updates}")

    def hyperparams(self, **overrides: Any) -> BarfiHyper:
        """The vmappable fields (with overrides) as a `BarfiHyper`: the method as its reward mode,
        Neumann terms and estimator switch."""
        unknown = set(overrides) - self.VMAPPABLE
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not vmappable; vmappable: {sorted(self.VMAPPABLE)}")
        values = {name: overrides.get(name, getattr(self, name)) for name in self.VMAPPABLE}
        method, heuristic, terms = values.pop("method"), values.pop("heuristic"), values.pop("neumann_terms")
        return method_hyper(method, heuristic, int(terms), **values)

    @property
    def total_inner_updates(self) -> int:
        return self.warmup_updates + self.outer_updates * self.inner_per_outer

    @property
    def episodes_per_run(self) -> int:
        """Environment episodes one run collects (each at most ``horizon`` steps)."""
        if self.schedule == "replay":
            return self.warmup_updates * self.replay_batch + self.outer_updates * self.episodes_per_outer
        return self.total_inner_updates * self.num_episodes


def method_hyper(method: str, heuristic: str = "good", neumann_terms: int = 5, **overrides: float) -> BarfiHyper:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    mode = method if method in REWARD_MODES else "learned"
    terms = 0 if method == "first_order" else neumann_terms
    return BarfiHyper(
        heuristic=jnp.int32(heuristic_index(heuristic)),
        reward_mode=jnp.int32(REWARD_MODES.index(mode)),
        neumann_terms=jnp.int32(terms),
        unrolled=jnp.bool_(method == "unrolled"),
        **{k: jnp.float32(v) for k, v in overrides.items()},
    )


class RunnerState(NamedTuple):
    theta: jax.Array
    theta_opt: Any
    critic: jax.Array  # PPO's linear value head; unused (zero) with REINFORCE; outside theta
    blend: BlendParams
    blend_opt: Any
    buffer: Batch  # fresh: leaves (buffer_batches, E, T, ...), index 0 the latest; replay: (replay_buffer, T, ...)
    key: jax.Array
    buffer_head: jax.Array  # replay: the slot the next episode goes to (0 with the fresh schedule)
    buffer_filled: jax.Array  # replay: episodes stored so far, at most replay_buffer
    outer_idx: jax.Array = None  # outer iterations done (set by init_fn)
    hyper: BarfiHyper | None = None  # the run's hyperparameters (set by init_fn)

    @property
    def params(self) -> dict[str, jax.Array] | None:
        """The policy's parameters, ``{"theta": theta}`` (what a checkpoint keeps as its ``policy`` item)."""
        return None if self.theta is None else {"theta": self.theta}

    def replace(self, **changes: Any) -> RunnerState:
        """``_replace`` that also takes ``params`` (``{"theta": ...}`` or None), as `jaxrl.checkpoints`
        splits a state in two."""
        if "params" in changes:
            params = changes.pop("params")
            changes["theta"] = None if params is None else params["theta"]
        return self._replace(**changes)


class Trainer(NamedTuple):
    config: BarfiConfig
    init: Callable[[jax.Array], RunnerState]
    train: Callable[[jax.Array, BarfiHyper], tuple[RunnerState, dict[str, jax.Array]]]
    init_fn: Callable[[jax.Array, BarfiHyper], RunnerState]  # init and the warm-up; pure, vmap it
    update_fn: Callable[..., tuple[RunnerState, dict[str, jax.Array]]]  # (state, num_updates) -> chunk
    updates_per_chunk: int
    steps_per_update: int  # episodes x horizon of one outer iteration (episodes may end sooner)

    @property
    def chunk_lengths(self) -> list[int]:
        """Outer iterations in each chunk: full chunks, then the remainder."""
        full, rest = divmod(self.config.outer_updates, self.updates_per_chunk)
        return [self.updates_per_chunk] * full + ([rest] if rest else [])

    @property
    def num_chunks(self) -> int:
        return len(self.chunk_lengths)


def make_train(config: BarfiConfig, updates_per_chunk: int = 1) -> Trainer:
    env_kwargs = {} if config.horizon is None else {"max_steps_in_episode": config.horizon}
    env, base_params = envs.make(config.env, **env_kwargs)
    horizon = int(base_params.max_steps_in_episode)
    features_fn = features_for(config.env)
    obs_shape = env.observation_space(base_params).shape
    num_features = features_fn(jnp.zeros(obs_shape, jnp.float32)).shape[-1]
    num_actions = env.num_actions
    gamma_p = config.primary_gamma

    def blend_features(features: jax.Array) -> jax.Array:
        return features if config.state_blend else features[..., :0]

    def learned_returns(blend: BlendParams, batch: Batch, features: jax.Array) -> jax.Array:
        rewards = blend_reward(blend, blend_features(features), batch.r_primary, batch.r_aux)
        return discounted_returns(rewards, batch.alive, learned_discount(blend))

    def inner_rewards(
        blend: BlendParams, batch: Batch, features: jax.Array, mode: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """The inner learner's per-step rewards and discount under the reward mode."""
        primary, naive, _, learned = range(len(REWARD_MODES))
        fixed = jnp.select(
            [mode == primary, mode == naive],
            [batch.r_primary, batch.r_primary + batch.r_aux],
            potential_shaped_reward(batch.r_primary, batch.r_aux, batch.alive, gamma_p),
        )
        rewards = jnp.where(
            mode == learned, blend_reward(blend, blend_features(features), batch.r_primary, batch.r_aux), fixed
        )
        return rewards, jnp.where(mode == learned, learned_discount(blend), gamma_p)

    def learner_objective(
        theta: jax.Array,
        blend: BlendParams,
        critic: jax.Array,
        theta_old: jax.Array,
        batch: Batch,
        features: jax.Array,
        hyper: BarfiHyper,
    ) -> jax.Array:
        """The inner learner's objective under the learned blend, differentiable in theta and the blend;
        ``features`` are ``features_fn(batch.obs)``, computed once by the caller."""
        if config.inner_learner == "reinforce":
            returns = learned_returns(blend, batch, features)
            return reinforce_objective(theta, features, batch.action, returns, batch.alive, hyper.entropy_coef)
        rewards = blend_reward(blend, blend_features(features), batch.r_primary, batch.r_aux)
        return ppo_inner_objective(
            theta,
            theta_old,
            critic,
            features,
            batch.action,
            rewards,
            batch.alive,
            learned_discount(blend),
            hyper.gae_lambda,
            hyper.ppo_clip,
            hyper.entropy_coef,
            config.ppo_normalise_advantages,
        )

    def primary_objective(theta: jax.Array, batch: Batch) -> jax.Array:
        """The REINFORCE surrogate of the primary return (gamma 0.99, no entropy): its gradient is v."""
        returns = discounted_returns(batch.r_primary, batch.alive, gamma_p)
        return reinforce_objective(theta, features_fn(batch.obs), batch.action, returns, batch.alive, 0.0)

    def init(key: jax.Array) -> RunnerState:
        theta = init_policy(num_features, num_actions)
        blend = init_blend(num_features if config.state_blend else 0)
        lead = (config.buffer_batches, config.num_episodes) if config.schedule == "fresh" else (config.replay_buffer,)
        empty = Batch(
            obs=jnp.zeros((*lead, horizon, *obs_shape), jnp.float32),
            action=jnp.zeros((*lead, horizon), jnp.int32),
            r_primary=jnp.zeros((*lead, horizon), jnp.float32),
            r_aux=jnp.zeros((*lead, horizon), jnp.float32),
            alive=jnp.zeros((*lead, horizon), bool),
        )
        critic = init_critic(num_features)
        zero = jnp.int32(0)
        return RunnerState(theta, rmsprop().init(theta), critic, blend, rmsprop().init(blend), empty, key, zero, zero)

    def store(state: RunnerState, batch: Batch) -> RunnerState:
        """Put a batch of episodes (leaves ``(E, T, ...)``) into the buffer."""
        if config.schedule == "fresh":
            buffer = jax.tree.map(lambda b, x: jnp.concatenate([x[None], b[:-1]]), state.buffer, batch)
            return state._replace(buffer=buffer)
        count = batch.action.shape[0]
        slots = (state.buffer_head + jnp.arange(count)) % config.replay_buffer
        buffer = jax.tree.map(lambda b, x: b.at[slots].set(x), state.buffer, batch)
        return state._replace(
            buffer=buffer,
            buffer_head=(state.buffer_head + count) % config.replay_buffer,
            buffer_filled=jnp.minimum(state.buffer_filled + count, config.replay_buffer),
        )

    def sample_replay(state: RunnerState, key: jax.Array, count: int, skip_latest: int = 0) -> Batch:
        """``count`` episodes drawn uniformly (with replacement) from the replay buffer, leaving out the
        ``skip_latest`` most recent (as the authors' ``sample`` and ``sample_wo_last``)."""
        available = jnp.maximum(state.buffer_filled - skip_latest, 1)
        age = skip_latest + jax.random.randint(key, (count,), 0, available)
        slots = (state.buffer_head - 1 - age) % config.replay_buffer
        return jax.tree.map(lambda b: b[slots], state.buffer)

    def learn(
        state: RunnerState, batch: Batch, features: jax.Array, hyper: BarfiHyper, key: jax.Array
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        """One inner update of the learner on ``batch`` under the reward mode's reward."""
        rewards, gamma = inner_rewards(state.blend, batch, features, hyper.reward_mode)
        learner_metrics = {}
        if config.inner_learner == "reinforce":
            returns = discounted_returns(rewards, batch.alive, gamma)
            grads = jax.grad(reinforce_objective)(
                state.theta, features, batch.action, returns, batch.alive, hyper.entropy_coef
            )
            theta, theta_opt = ascent_step(state.theta, grads, state.theta_opt, hyper.actor_lr)
            critic = state.critic
        else:
            theta, theta_opt, critic, learner_metrics = ppo_update(
                state.theta,
                state.theta_opt,
                state.critic,
                key,
                features,
                batch.action,
                rewards,
                batch.alive,
                gamma,
                gae_lambda=hyper.gae_lambda,
                clip_eps=hyper.ppo_clip,
                entropy_coef=hyper.entropy_coef,
                actor_lr=hyper.actor_lr,
                critic_lr=hyper.critic_lr,
                epochs=config.ppo_epochs,
                minibatches=config.ppo_minibatches,
                normalise=config.ppo_normalise_advantages,
            )
        return state._replace(theta=theta, theta_opt=theta_opt, critic=critic), learner_metrics

    def episode_metrics(blend: BlendParams, batch: Batch, features: jax.Array) -> dict[str, jax.Array]:
        alive = batch.alive.astype(jnp.float32)
        phi_1, phi_2 = blend_heads(blend, blend_features(features))
        num_alive = jnp.maximum(alive.sum(), 1.0)
        return {
            "primary_return": jnp.mean(jnp.sum(batch.r_primary * alive, axis=-1)),
            "aux_return": jnp.mean(jnp.sum(batch.r_aux * alive, axis=-1)),
            "episode_length": jnp.mean(alive.sum(axis=-1)),
            "gamma_phi": learned_discount(blend),
            "phi_1": jnp.sum(phi_1 * alive) / num_alive,
            "phi_2": jnp.sum(phi_2 * alive) / num_alive,
        }

    def fresh_update(
        state: RunnerState, hyper: BarfiHyper, num_episodes: int
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        """Collect ``num_episodes`` on-policy episodes, learn on them, and store them."""
        env_params = base_params.replace(heuristic=hyper.heuristic)
        key, key_collect = jax.random.split(state.key)
        batch = collect_episodes(env, env_params, state.theta, key_collect, num_episodes, horizon, features_fn)
        features = features_fn(batch.obs)
        # PPO's minibatch key: REINFORCE's random stream stays as it was before PPO existed.
        learned, learner_metrics = learn(state, batch, features, hyper, jax.random.fold_in(key_collect, 1))
        metrics = {**episode_metrics(state.blend, batch, features), **learner_metrics}
        return store(learned._replace(key=key), batch), metrics

    def outer_update(state: RunnerState, latest: Batch, curvature: Batch, hyper: BarfiHyper) -> RunnerState:
        """One outer step of the blend: v on ``latest``, the Hessian and mixed terms on ``curvature``
        (both leaves ``(E, T, ...)``)."""
        curvature_features = features_fn(curvature.obs)

        def inner_objective(theta: jax.Array, blend: BlendParams) -> jax.Array:
            # PPO: theta_old is the current policy (the implicit gradient evaluates at theta = theta_old).
            return learner_objective(theta, blend, state.critic, state.theta, curvature, curvature_features, hyper)

        def implicit_gradient() -> BlendParams:
            v = jax.grad(primary_objective)(state.theta, latest)
            return implicit_outer_gradient(
                inner_objective,
                state.theta,
                state.blend,
                v,
                hyper.neumann_alpha,
                hyper.neumann_terms,
                max_terms=config.neumann_max_terms,
            )

        def unrolled_gradient() -> BlendParams:
            def unroll(blend: BlendParams) -> jax.Array:
                def step(carry, _):
                    theta, opt = carry
                    grads = jax.grad(inner_objective)(theta, blend)
                    return ascent_step(theta, grads, opt, hyper.actor_lr), None

                (theta, _), _ = jax.lax.scan(step, (state.theta, state.theta_opt), None, config.unroll_steps)
                return theta

            grad_blend, _ = unrolled_outer_gradient(
                unroll, lambda theta: jax.grad(primary_objective)(theta, latest), state.blend
            )
            return grad_blend

        if config.outer_gradient == "implicit":
            grad_blend = implicit_gradient()
        elif config.outer_gradient == "unrolled":
            grad_blend = unrolled_gradient()
        else:  # "switch": both are computed (under vmap a lax.cond would run both anyway)
            grad_blend = jax.tree.map(
                lambda u, i: jnp.where(hyper.unrolled, u, i), unrolled_gradient(), implicit_gradient()
            )
        grad_reg = jax.grad(blend_regulariser)(state.blend, hyper.gamma_l2, hyper.reward_l2)
        grad_blend = jax.tree.map(lambda g, r: g - r, grad_blend, grad_reg)
        updates, blend_opt = rmsprop().update(grad_blend, state.blend_opt, state.blend)
        learning_rates = BlendParams(weights=hyper.reward_lr, bias=hyper.reward_lr, psi=hyper.gamma_lr)
        blend = jax.tree.map(lambda p, u, lr: p + lr * u, state.blend, updates, learning_rates)
        # Runs of a fixed reward (the baselines) that share the program keep their blend untouched.
        learned = hyper.reward_mode == REWARD_MODES.index("learned")
        blend, blend_opt = select_tree(learned, (blend, blend_opt), (state.blend, state.blend_opt))
        return state._replace(blend=blend, blend_opt=blend_opt)

    def fresh_outer_iteration(state: RunnerState, hyper: BarfiHyper) -> tuple[RunnerState, dict[str, jax.Array]]:
        if config.outer_gradient != "none":
            latest = jax.tree.map(lambda x: x[0], state.buffer)
            whole = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), state.buffer)
            state = outer_update(state, latest, whole, hyper)
        inner = lambda s, _: fresh_update(s, hyper, config.num_episodes)
        return jax.lax.scan(inner, state, None, config.inner_per_outer)

    def replay_outer_iteration(state: RunnerState, hyper: BarfiHyper) -> tuple[RunnerState, dict[str, jax.Array]]:
        env_params = base_params.replace(heuristic=hyper.heuristic)
        key, key_collect, key_curvature, key_replay = jax.random.split(state.key, 4)
        fresh = collect_episodes(
            env, env_params, state.theta, key_collect, config.episodes_per_outer, horizon, features_fn
        )
        state = store(state._replace(key=key), fresh)
        if config.outer_gradient != "none":
            curvature = sample_replay(state, key_curvature, config.hessian_batch, skip_latest=config.episodes_per_outer)
            state = outer_update(state, fresh, curvature, hyper)
        metrics = episode_metrics(state.blend, fresh, features_fn(fresh.obs))

        def replay_update(state: RunnerState, key: jax.Array) -> tuple[RunnerState, None]:
            batch = sample_replay(state, key, config.replay_batch)
            state, _ = learn(state, batch, features_fn(batch.obs), hyper, key)
            return state, None

        state, _ = jax.lax.scan(replay_update, state, jax.random.split(key_replay, config.inner_per_outer))
        # Every inner update of the iteration reports the iteration's fresh episodes.
        return state, jax.tree.map(lambda x: jnp.broadcast_to(x, (config.inner_per_outer,)), metrics)

    def warmup(key: jax.Array, hyper: BarfiHyper) -> tuple[RunnerState, dict[str, jax.Array]]:
        """A fresh state after the warm-up's inner updates, and their metrics."""
        state = init(key)._replace(outer_idx=jnp.int32(0), hyper=hyper)
        warmup_episodes = config.num_episodes if config.schedule == "fresh" else config.replay_batch
        inner = lambda s, _: fresh_update(s, hyper, warmup_episodes)
        return jax.lax.scan(inner, state, None, config.warmup_updates)

    def outer_iterations(state: RunnerState, num_updates: int) -> tuple[RunnerState, dict[str, jax.Array]]:
        """``num_updates`` outer iterations; metrics ``(num_updates, inner_per_outer)``."""
        iteration = fresh_outer_iteration if config.schedule == "fresh" else replay_outer_iteration
        step = lambda s, _: iteration(s, s.hyper)
        state, metrics = jax.lax.scan(step, state, None, num_updates)
        return state._replace(outer_idx=state.outer_idx + num_updates), metrics

    def init_fn(key: jax.Array, hyper: BarfiHyper) -> RunnerState:
        return warmup(key, hyper)[0]

    def update_fn(state: RunnerState, num_updates: int = updates_per_chunk) -> tuple[RunnerState, dict]:
        """``num_updates`` outer iterations; metrics averaged over their inner updates."""
        state, metrics = outer_iterations(state, num_updates)
        return state, {**jax.tree.map(jnp.mean, metrics), "update": state.outer_idx}

    def train(key: jax.Array, hyper: BarfiHyper) -> tuple[RunnerState, dict[str, jax.Array]]:
        """The whole run; metrics are per inner update, shape ``(total_inner_updates,)``."""
        state, warmup_metrics = warmup(key, hyper)
        state, main_metrics = outer_iterations(state, config.outer_updates)
        metrics = jax.tree.map(lambda w, m: jnp.concatenate([w, m.reshape(-1)]), warmup_metrics, main_metrics)
        return state, metrics

    updates_per_chunk = max(1, min(updates_per_chunk, config.outer_updates))
    fresh_episodes = config.inner_per_outer * config.num_episodes
    episodes = config.episodes_per_outer if config.schedule == "replay" else fresh_episodes
    return Trainer(config, init, train, init_fn, update_fn, updates_per_chunk, episodes * horizon)


def metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """A chunk's metrics (leading axis the trials; means over the chunk's inner updates) as rows."""
    names = [k for k in metrics if k != "update"]
    return [{k: json_value(metrics[k][i]) for k in names} for i in range(len(metrics["update"]))]


def _make_checked_train(config: BarfiConfig, updates_per_chunk: int = 1) -> Trainer:
    config.validate()
    return make_train(config, updates_per_chunk)


ALGORITHM = register(
    Algorithm(
        name="barfi",
        config_cls=BarfiConfig,
        make_train=_make_checked_train,
        metric_rows=metric_rows,
        finite_leaves=lambda state: (state.theta, state.critic, state.blend),
        description="BARFI: learn a blend of primary and heuristic rewards, and a discount, by bi-level optimisation.",
        score="primary_return",
    )
)

"""The environment base class: the gymnax 1.0 functional API.

An environment is a stateless object whose methods are pure functions of
``(key, state, action, params)``. ``step`` auto-resets: when an episode ends (terminated or
truncated) it returns the first observation of the next episode and puts the last observation of the
finished one in ``info["final_observation"]``, so that agents can bootstrap through truncation.
Termination (the task ended) and truncation (the time limit) are kept apart.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp
from flax import struct

from envs.spaces import Space


@struct.dataclass
class EnvState:
    time: jax.Array


@struct.dataclass
class EnvParams:
    max_steps_in_episode: int = 1


TState = TypeVar("TState", bound=EnvState)
TParams = TypeVar("TParams", bound=EnvParams)
# `reset_where`: the last (at most) SMALL_CHUNKS * 8 done rows get their levels generated 8 at a time.
SMALL_CHUNKS = 8


def reset_where(reset_env: Callable[[jax.Array, Any], Any]) -> Callable[[jax.Array, jax.Array, Any, Any], Any]:
    """``f(done, key, params, current)``: ``reset_env(key, params)`` where ``done`` holds and
    ``current`` elsewhere (leaf-wise), whose batched form generates levels only for the rows where
    ``done`` holds and writes them into ``current`` in place.

    A plain auto-resetting step computes a reset at every step and keeps it where an episode ended;
    under ``vmap`` that runs the reset (a level generator, say) for every environment at every step,
    and then selects between two full batches of states and observations. Here the done rows are
    gathered (in order) into chunks of ``max(8, batch // 16)`` rows while more than
    ``8 * SMALL_CHUNKS`` remain, then of 8 rows, and only those chunks are reset (two ``while_loop`` calls
    over as many chunks as needed, so any number of done rows is handled exactly); the results are scattered into
    ``current``, so a step on which no episode ends costs a sum over
    ``done`` and nothing else. The values are those of ``reset_env`` on the same keys.
    """

    @jax.custom_batching.custom_vmap
    def fn(done: jax.Array, key: jax.Array, params: Any, current: Any) -> Any:
        return select_tree(done, reset_env(key, params), current)

    @fn.def_vmap
    def rule(axis_size: int, in_batched: Any, done: jax.Array, key: jax.Array, params: Any, current: Any):
        done_batched, key_batched, params_batched, current_batched = in_batched
        current = jax.tree.map(
            lambda leaf, batched: leaf if batched else jnp.broadcast_to(leaf, (axis_size, *jnp.shape(leaf))),
            current,
            current_batched,
        )
        params_axes = jax.tree.map(lambda b: 0 if b else None, params_batched)
        any_params_batched = any(jax.tree.leaves(params_batched))
        batched_reset = jax.vmap(reset_env, in_axes=(0 if key_batched else None, params_axes))
        if not (done_batched and key_batched):
            if key_batched or any_params_batched:
                fresh = batched_reset(key, params)
            else:
                fresh = jax.tree.map(
                    lambda leaf: jnp.broadcast_to(leaf, (axis_size, *jnp.shape(leaf))), reset_env(key, params)
                )
            pred = done if done_batched else jnp.broadcast_to(done, (axis_size,))
            out = jax.tree.map(
                lambda a, b: jnp.where(pred.reshape(pred.shape + (1,) * (a.ndim - 1)), a, b), fresh, current
            )
            return out, jax.tree.map(lambda _: True, out)
        slots = min(axis_size, max(8, axis_size // 16))
        small = min(axis_size, 8)
        count = jnp.sum(done, dtype=jnp.int32)

        def take(tree: Any, axes: Any, rows: jax.Array) -> Any:
            return jax.tree.map(lambda leaf, axis: leaf if axis is None else leaf[rows], tree, axes)

        def reset_rows(out: Any) -> Any:
            # order[i]: the i-th done row (a stable compaction; the rest of ``order`` is unused).
            rank = jnp.cumsum(done, dtype=jnp.int32) - 1
            index = jnp.arange(axis_size, dtype=jnp.int32)
            order = jnp.zeros(axis_size, jnp.int32).at[jnp.where(done, rank, axis_size)].set(index, mode="drop")

            def chunk_of(size: int) -> Callable[[tuple[jax.Array, Any]], tuple[jax.Array, Any]]:
                def body(carry: tuple[jax.Array, Any]) -> tuple[jax.Array, Any]:
                    start, out = carry
                    position = start + jnp.arange(size)
                    rows = order[jnp.minimum(position, axis_size - 1)]
                    sub = batched_reset(key[rows], take(params, params_axes, rows))
                    target = jnp.where(position < count, rows, axis_size)  # out of range: dropped
                    out = jax.tree.map(lambda o, v: o.at[target].set(v.astype(o.dtype), mode="drop"), out, sub)
                    return start + size, out

                return body

            # Large chunks while many rows remain, then small ones, so that one finished episode does
            # not cost a chunk of ``batch // 16`` levels. Two loops one after the other, not a
            # ``cond`` between two loops: XLA copied the whole batch (~2 ms at 4096 MultiRoom
            # environments) on every reset through that nested form.
            carry = (jnp.int32(0), out)
            if small < slots:
                carry = jax.lax.while_loop(lambda c: count - c[0] > small * SMALL_CHUNKS, chunk_of(slots), carry)
                return jax.lax.while_loop(lambda c: c[0] < count, chunk_of(small), carry)[1]
            return jax.lax.while_loop(lambda c: c[0] < count, chunk_of(slots), carry)[1]

        out = jax.lax.cond(count > 0, reset_rows, lambda out: out, current)
        return out, jax.tree.map(lambda _: True, out)

    return fn


def select_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leaf-wise ``where(pred, on_true, on_false)`` for two pytrees of the same structure."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class Environment(Generic[TState, TParams]):
    """Base class. Subclasses implement ``reset_env``, ``step_env`` and the spaces.

    An environment whose reset is expensive (procedural level generation) sets ``sparse_reset = True``:
    under ``vmap``, ``step`` then resets only the environments whose episode ended (`reset_where`),
    with the same values as the plain auto-reset.

    ``reset`` and ``step`` are jitted with the environment as a static argument. Two environments of
    the same class with equal (hashable) attributes compare equal, so every ``envs.make`` of the same
    task shares one compiled function; an environment holding unhashable state (a host simulator)
    falls back to identity.
    """

    sparse_reset: bool = False

    def _identity(self) -> tuple | None:
        try:
            items = tuple(sorted(vars(self).items()))
            hash(items)
        except TypeError:
            return None
        return (type(self), items)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not type(self):
            return False
        mine = self._identity()
        return mine is not None and mine == other._identity()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        identity = self._identity()
        return hash(identity) if identity is not None else id(self)

    @property
    def default_params(self) -> TParams:
        return EnvParams()  # type: ignore[return-value]

    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key: jax.Array, params: TParams | None = None) -> tuple[Any, TState]:
        if params is None:
            params = self.default_params
        return self.reset_env(key, params)

    @partial(jax.jit, static_argnums=(0,))
    def step(
        self, key: jax.Array, state: TState, action: Any, params: TParams | None = None
    ) -> tuple[Any, TState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        if params is None:
            params = self.default_params
        key_step, key_reset = jax.random.split(key)
        obs_step, state_step, reward, terminated, info = self.step_env(key_step, state, action, params)
        terminated = jnp.asarray(terminated, dtype=bool)
        # As in gymnasium's TimeLimit, both flags may be set on the same step; agents bootstrap only
        # when ``truncated & ~terminated``.
        truncated = jnp.asarray(self.is_truncated(state_step, params), dtype=bool)
        done = jnp.logical_or(terminated, truncated)
        if self.sparse_reset:
            # Writes the reset rows into the stepped values (no second full batch, no select).
            obs, state = reset_where(self.reset_env)(done, key_reset, params, (obs_step, state_step))
        else:
            obs_reset, state_reset = self.reset_env(key_reset, params)
            state = select_tree(done, state_reset, state_step)
            obs = select_tree(done, obs_reset, obs_step)
        info = {**info, "final_observation": obs_step}
        return obs, state, jnp.asarray(reward, jnp.float32), terminated, truncated, info

    def reset_env(self, key: jax.Array, params: TParams) -> tuple[Any, TState]:
        raise NotImplementedError

    def step_env(
        self, key: jax.Array, state: TState, action: Any, params: TParams
    ) -> tuple[Any, TState, jax.Array, jax.Array, dict[str, Any]]:
        """One transition without reset: ``(obs, state, reward, terminated, info)``."""
        raise NotImplementedError

    def is_truncated(self, state: TState, params: TParams) -> jax.Array:
        """The time limit: ``state.time`` counts steps taken in this episode."""
        return state.time >= params.max_steps_in_episode

    def action_space(self, params: TParams | None = None) -> Space:
        raise NotImplementedError

    def observation_space(self, params: TParams | None = None) -> Space:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def num_actions(self) -> int:
        return self.action_space(self.default_params).n  # type: ignore[attr-defined]

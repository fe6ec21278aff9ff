"""Bitwise regression of sight (``sight=True``). The exploration study's tasks: random-action trajectories
(observations, rewards, episode ends, contexts) hash to the digests recorded at commit 19d1fb3, before
the engine was split and the sight update made cheaper. A change to what is seen, to the rules or to
level generation changes the digest; a change of speed alone must not. And `in_sight` against its
version at 19d1fb3 on random maps."""

from __future__ import annotations

import hashlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.gridworld import sight, tables

# sha256 of `trajectory_bytes` at commit 19d1fb3 (envs/gridworld/engine.py before the split).
DIGESTS = {
    ("MultiRoom-N4-Lava", "25x25"): "902bbc8ee3fd39e2b12ceee2aa6a056f5f014cf1c6dfcebc0fa2e24ab9650b09",
    ("MultiRoom-N6-Lava", "25x25"): "48f4c2c5d86cd997fb1cf669ae57a7d2336c4d26da06eedb33a0b2e672f5eccc",
    ("Corridor-R5", None): "dca583e1051fb349cce5b45deb3545003c2c112b9cdbf4aebb36a0af4792a252",
    ("KeyRoom-S10", None): "ef5e17ae8b2ae90d5f40d7b709a9504d81839147f2c24dbdae279b89870452ea",
}


def trajectory_bytes(name: str, area: str | None, num_envs: int = 8, num_steps: int = 96) -> bytes:
    """The bytes of a vmapped random-action rollout (3 fixed contexts, so levels repeat and resets are
    exercised) with ``sight=True``."""
    kwargs: dict[str, Any] = {"area": area} if area else {}
    env, params = envs.make(name, sight=True, num_contexts=3, context_seed=5, **kwargs)
    num_actions = env.action_space(params).n

    def rollout(key: jax.Array):
        keys = jax.random.split(key, num_envs)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)

        def body(state, key_t):
            key_a, key_s = jax.random.split(key_t)
            actions = jax.random.randint(key_a, (num_envs,), 0, num_actions)
            obs, state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key_s, num_envs), state, actions, params
            )
            return state, (obs, reward, terminated, truncated, info["context"], state.seen)

        return obs, jax.lax.scan(body, state, jax.random.split(key, num_steps))[1]

    key = jax.random.key(11)
    compiled = jax.jit(rollout).lower(key).compile(compiler_options={"xla_backend_optimization_level": 0})
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(jax.device_get(compiled(key))):
        leaf = np.asarray(leaf)
        digest.update(f"{leaf.dtype}{leaf.shape}".encode())
        digest.update(np.ascontiguousarray(leaf).tobytes())
    return digest.digest()


# Each case compiles a rollout (30-80 s on a heavily loaded core): KeyRoom-S10 (the quickest) runs by
# default, the others with -m slow; `test_in_sight_equals_the_19d1fb3_version_on_random_maps` is the
# quick check of the sight update itself.
SLOW_CASES = {("MultiRoom-N4-Lava", "25x25"), ("MultiRoom-N6-Lava", "25x25"), ("Corridor-R5", None)}


@pytest.mark.parametrize(
    ("name", "area"),
    [pytest.param(*case, marks=[pytest.mark.slow] if case in SLOW_CASES else []) for case in DIGESTS],
)
def test_sight_trajectories_are_bitwise_those_of_19d1fb3(name: str, area: str | None) -> None:
    assert hashlib.sha256(trajectory_bytes(name, area)).hexdigest() == DIGESTS[(name, area)]


def _in_sight_at_19d1fb3(grid: jax.Array, position: jax.Array, steps: np.ndarray) -> jax.Array:
    """`envs.gridworld.sight.in_sight` as it was at 19d1fb3 (three table and pointer gathers), the
    reference for the cheaper one."""
    height, width = grid.shape
    near = sight.near(position, height, width)
    x, y = position[0], position[1]
    rows = jnp.arange(height)[:, None]
    cols = jnp.arange(width)[None, :]
    opaque = jnp.asarray(tables.OPAQUE)[grid]
    lit = grid != tables.CORRIDOR
    steps = jax.lax.dynamic_slice(jnp.asarray(steps), (height - 1 - y, width - 1 - x, 0), (height, width, 2))
    ptr = ((rows - steps[..., 1]) * width + (cols - steps[..., 0])).reshape(-1)
    packed = (ptr << 1) | opaque.reshape(-1)[ptr].astype(jnp.int32)
    for _ in range(max(1, int(np.ceil(np.log2(max(height, width)))))):
        further = packed[packed >> 1]
        packed = (further & ~1) | ((packed | further) & 1)
    unblocked = (packed & 1).reshape(height, width) == 0
    clear = unblocked & lit & ~opaque
    toward = ((rows + jnp.sign(y - rows)) * width + (cols + jnp.sign(x - cols))).reshape(-1)
    toward_code = (lit.astype(jnp.int32) + 2 * clear.astype(jnp.int32)).reshape(-1)[toward]
    toward_code = toward_code.reshape(height, width)
    edge = opaque & lit & ((toward_code & 1) != 0) & (unblocked | (toward_code >= 2))
    return near | clear | edge


def test_in_sight_equals_the_19d1fb3_version_on_random_maps() -> None:
    """Every tile kind (lit and dark, opaque and clear, doors), densities from open to cluttered, the
    agent anywhere: the same cells in sight, bitwise."""
    rng = np.random.default_rng(1)
    kinds = np.array([tables.ROCK, tables.WALL, tables.CORRIDOR, tables.DOOR_CLOSED, tables.DOOR_OPEN,
                      tables.DOORWAY, tables.LAVA, tables.DOOR_LOCKED, tables.GOAL, tables.KEY], np.uint8)
    for height, width in ((9, 9), (21, 25), (7, 30)):
        steps = sight.ray_steps(height, width)
        now = jax.jit(jax.vmap(lambda g, p, steps=steps: sight.in_sight(g, p, steps)))
        before = jax.jit(jax.vmap(lambda g, p, steps=steps: _in_sight_at_19d1fb3(g, p, steps)))
        num = 192
        grids = rng.choice(kinds, (num, height, width))
        density = rng.uniform(0.05, 0.9, (num, 1, 1))
        grids = np.where(rng.random((num, height, width)) < density, grids, tables.FLOOR).astype(np.uint8)
        positions = np.stack([rng.integers(0, width, num), rng.integers(0, height, num)], -1).astype(np.int32)
        grids[np.arange(num), positions[:, 1], positions[:, 0]] = tables.FLOOR
        got, want = np.asarray(now(grids, positions)), np.asarray(before(grids, positions))
        np.testing.assert_array_equal(got, want, err_msg=f"{height} x {width}")
        assert 0.05 < want.mean() < 0.95  # neither nothing nor everything in sight

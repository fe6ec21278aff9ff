"""MemoryCorridor: a cue shown only at the first step decides which action pays at the end of a
corridor. A feed-forward policy cannot do better than chance at the end (success 0.5); a policy with
memory can solve it. The test task for recurrent agents.

Observation (float32, 4): ``[cue_is_left, cue_is_right, position / length, at_end]``; the cue entries
are zero after the first step. Actions: 0 (left) and 1 (right); in the corridor either action moves
one cell forward. At the end, the action matching the cue gives reward 1 and success, the other 0;
both terminate.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces
from envs.core import Environment


@struct.dataclass
class MemoryCorridorState:
    cue: jax.Array  # 0 (left) or 1 (right)
    position: jax.Array
    time: jax.Array


@struct.dataclass
class MemoryCorridorParams:
    length: int = struct.field(pytree_node=False, default=5)
    max_steps_in_episode: int = 50


class MemoryCorridor(Environment[MemoryCorridorState, MemoryCorridorParams]):
    @property
    def default_params(self) -> MemoryCorridorParams:
        return MemoryCorridorParams()

    def reset_env(self, key, params):
        state = MemoryCorridorState(jax.random.bernoulli(key).astype(jnp.int32), jnp.int32(0), jnp.int32(0))
        return self._obs(state, params), state

    def step_env(self, key, state, action, params):
        at_end = state.position >= params.length
        correct = action == state.cue
        reward = jnp.where(at_end & correct, 1.0, 0.0)
        new_state = state.replace(
            position=jnp.minimum(state.position + 1, params.length), time=state.time + 1
        )
        return self._obs(new_state, params), new_state, reward, at_end, {"success": at_end & correct}

    def _obs(self, state, params) -> jax.Array:
        first = state.time == 0
        cue = jnp.where(first, jax.nn.one_hot(state.cue, 2), 0.0)
        position = state.position / params.length
        return jnp.concatenate([cue, jnp.stack([position, (state.position >= params.length) * 1.0])]).astype(
            jnp.float32
        )

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (4,), jnp.float32)


def make_memory_corridor(length: int = 5, max_steps_in_episode: int = 50):
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if max_steps_in_episode <= length:
        raise ValueError(f"max_steps_in_episode must exceed length={length}, got {max_steps_in_episode}")
    return MemoryCorridor(), MemoryCorridorParams(length=length, max_steps_in_episode=max_steps_in_episode)


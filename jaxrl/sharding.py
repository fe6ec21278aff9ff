"""Data-parallel runs on the devices of one machine.

The environments of a run are split across devices along a mesh axis ``"envs"``: every per-environment
array of the rollout state is sharded on its environment axis, the parameters and optimiser state are
replicated. The update is the same jitted function; XLA partitions it (GSPMD), so each device steps
its own environments and the gradient of the loss, a mean over the whole minibatch, is summed across
devices by the compiler. The numbers equal a single-device run up to the order of float reductions.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

ENV_AXIS = "envs"


def make_mesh(num_devices: int) -> Mesh:
    """A 1-D mesh over the first ``num_devices`` local devices (0 means all of them)."""
    available = jax.local_devices()
    num_devices = num_devices or len(available)
    if num_devices > len(available):
        raise ValueError(
            f"asked for {num_devices} devices but only {len(available)} are available "
            f"(on CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N)"
        )
    return Mesh(available[:num_devices], (ENV_AXIS,))


def runner_state_shardings(state: Any, mesh: Mesh, num_envs: int, env_axis: int = 1) -> Any:
    """Shardings for a runner state whose ``rollout`` leaves carry the environment axis at
    ``env_axis`` (1 when trials are vmapped in front of it). Everything else is replicated."""
    if num_envs % mesh.size:
        raise ValueError(f"num_envs={num_envs} must be divisible by the number of devices ({mesh.size})")
    replicated = NamedSharding(mesh, PartitionSpec())

    def for_rollout_leaf(x):
        if x.ndim > env_axis and x.shape[env_axis] == num_envs:
            spec = [None] * env_axis + [ENV_AXIS]
            return NamedSharding(mesh, PartitionSpec(*spec))
        return replicated

    shardings = jax.tree.map(lambda _: replicated, state)
    return shardings.replace(rollout=jax.tree.map(for_rollout_leaf, state.rollout))

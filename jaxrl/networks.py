"""Actor-critic networks (flax.linen): an observation encoder for arrays and dicts, a feed-forward
actor-critic and a GRU actor-critic whose hidden state resets at episode starts.

Both networks return ``(carry, dist_params, value)``; the feed-forward one passes a placeholder carry
through so that rollouts and updates are written once for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from envs import spaces
from jaxrl.distributions import Beta, Categorical, DiagGaussian

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu}


def orthogonal(scale: float = 1.0):
    """Orthogonal initialisation whose batched (vmapped) form draws the matrices one at a time.

    ``flax``'s orthogonal initialiser takes a QR decomposition. Under ``vmap`` (seeds batched in one
    program) that becomes jaxlib's batched CPU QR kernel, which was seen to deadlock on a 2-thread
    pool. The custom batching rule maps the unbatched initialiser over the batch instead: same values,
    no batched QR.
    """
    base = nn.initializers.orthogonal(scale)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        @jax.custom_batching.custom_vmap
        def sample(key):
            return base(key, shape, dtype)

        @sample.def_vmap
        def sample_batched(axis_size, in_batched, key):
            if not in_batched[0]:
                return sample(key), False
            return jax.lax.map(sample, key), True

        return sample(key)

    return init


def _dense(features: int, scale: float = np.sqrt(2), name: str | None = None) -> nn.Dense:
    return nn.Dense(features, kernel_init=orthogonal(scale), bias_init=nn.initializers.zeros, name=name)


def _mlp(x: jax.Array, sizes: Sequence[int], activation: str) -> jax.Array:
    """Dense layers ``dense_0, dense_1, ...``, each followed by the activation. Called inside a compact
    method, so the layers belong to the calling module (``actor/dense_0``)."""
    act = ACTIVATIONS[activation]
    for i, size in enumerate(sizes):
        x = act(_dense(size, name=f"dense_{i}")(x))
    return x


def describe_observation(
    space: spaces.Space, keys: Sequence[str] = ()
) -> tuple[tuple[str, tuple[int, ...], int], ...]:
    """A static description of the observation leaves the policy reads (all, or the dict ``keys``):
    ``(name, shape, vocab)`` where ``vocab > 0`` marks an integer map to embed."""
    if isinstance(space, spaces.Dict):
        missing = [k for k in keys if k not in space.spaces]
        if missing:
            raise ValueError(
                f"obs_keys {missing} are not observation keys; available: {sorted(space.spaces)}"
            )
        items = sorted((k, v) for k, v in space.spaces.items() if not keys or k in keys)
    elif keys:
        raise ValueError(f"obs_keys={list(keys)} given but the observation is not a dict")
    else:
        items = [("obs", space)]
    description = []
    for name, leaf in items:
        vocab = 0
        if (
            isinstance(leaf, spaces.Box)
            and np.issubdtype(np.dtype(leaf.dtype), np.integer)
            and len(leaf.shape) >= 2
        ):
            vocab = int(np.max(leaf.high)) + 1
        description.append((name, tuple(leaf.shape), vocab))
    return tuple(description)


class ObservationEncoder(nn.Module):
    """Integer maps (glyph grids) are embedded (big maps then pass a strided conv); every other leaf
    is flattened to floats. The features are concatenated."""

    description: tuple[tuple[str, tuple[int, ...], int], ...]
    embed_dim: int = 8
    conv_channels: int = 16

    @nn.compact
    def __call__(self, obs: Any) -> jax.Array:
        features = []
        for name, shape, vocab in self.description:
            leaf = obs[name] if isinstance(obs, dict) else obs
            batch_shape = leaf.shape[: leaf.ndim - len(shape)]
            if vocab > 0:
                x = nn.Embed(vocab, self.embed_dim, name=f"embed_{name}")(leaf.astype(jnp.int32))
                x = x.reshape((-1, *shape, self.embed_dim))
                if x.ndim == 4 and max(shape) > 12:
                    # A big map ([B, H, W, C]) is shrunk by a strided conv; a small one (a 9x9 crop)
                    # goes to the MLP as its flattened embedding, which trains several times
                    # faster on CPU, where a conv's gradient inside the update's loop is slow.
                    x = nn.relu(nn.Conv(self.conv_channels, (3, 3), strides=2, name=f"conv_{name}")(x))
                x = x.reshape((*batch_shape, -1))
            else:
                x = leaf.astype(jnp.float32).reshape((*batch_shape, -1))
            features.append(x)
        return jnp.concatenate(features, axis=-1)


class PolicyHead(nn.Module):
    """Maps features to the parameters of the action distribution: ``logits`` (categorical), ``mean``
    and ``log_std`` (gaussian) or ``alpha_beta`` (beta)."""

    action_space: Any
    head: str  # "categorical" | "gaussian" | "beta"

    @nn.compact
    def __call__(self, x: jax.Array):
        if self.head == "categorical":
            return Categorical(_dense(self.action_space.n, 0.01, name="logits")(x))
        dim = int(np.prod(self.action_space.shape))
        if self.head == "gaussian":
            mean = _dense(dim, 0.01, name="mean")(x)
            log_std = self.param("log_std", nn.initializers.zeros, (dim,))
            return DiagGaussian(mean, jnp.broadcast_to(log_std, mean.shape))
        if self.head == "beta":
            raw = _dense(2 * dim, 0.01, name="alpha_beta")(x)
            alpha, beta = jnp.split(nn.softplus(raw) + 1.0, 2, axis=-1)
            low = jnp.asarray(self.action_space.low, jnp.float32)
            high = jnp.asarray(self.action_space.high, jnp.float32)
            return Beta(alpha, beta, jnp.broadcast_to(low, alpha.shape), jnp.broadcast_to(high, alpha.shape))
        raise ValueError(f"unknown action head {self.head!r}")


class Actor(nn.Module):
    """The policy: an MLP (``dense_0, dense_1, ...``) and the distribution's ``head``."""

    action_space: Any
    head: str
    hidden_sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, x: jax.Array):
        return PolicyHead(self.action_space, self.head, name="head")(_mlp(x, self.hidden_sizes, self.activation))


class Critic(nn.Module):
    """The value function: an MLP (``dense_0, dense_1, ...``) and a linear ``value`` output."""

    hidden_sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return _dense(1, 1.0, name="value")(_mlp(x, self.hidden_sizes, self.activation))[..., 0]


class FeedForwardActorCritic(nn.Module):
    """Separate ``actor`` and ``critic`` MLPs over a shared observation ``encoder``. Parameters:
    ``encoder/{embed_<key>, conv_<key>}`` (integer maps only), ``actor/dense_<i>``,
    ``actor/head/{logits | mean, log_std | alpha_beta}``, ``critic/dense_<i>``, ``critic/value``."""

    description: tuple
    action_space: Any
    head: str
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, carry: jax.Array, obs: Any, episode_start: jax.Array):
        x = ObservationEncoder(self.description, name="encoder")(obs)
        dist = Actor(self.action_space, self.head, self.hidden_sizes, self.activation, name="actor")(x)
        value = Critic(self.hidden_sizes, self.activation, name="critic")(x)
        return carry, dist, value

    @staticmethod
    def initial_carry(batch_size: int, hidden_size: int) -> jax.Array:
        # A width-1 placeholder (checkpointers refuse zero-size arrays); the network ignores it.
        return jnp.zeros((batch_size, 1), jnp.float32)


class RecurrentActorCritic(nn.Module):
    """Encoder -> dense -> GRU -> actor and critic MLPs. Inputs are time-major ``[T, B, ...]``; the
    carry is reset to zeros wherever ``episode_start`` is true, before the step that reads that input.
    Parameters: ``encoder``, ``torso`` (the dense layer before the GRU), ``gru``, then ``actor`` and
    ``critic`` as in the feed-forward network over ``hidden_sizes[1:]``.
    """

    description: tuple
    action_space: Any
    head: str
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    gru_size: int = 128

    @nn.compact
    def __call__(self, carry: jax.Array, obs: Any, episode_start: jax.Array):
        act = ACTIVATIONS[self.activation]
        features = ObservationEncoder(self.description, name="encoder")(obs)
        x = act(_dense(self.hidden_sizes[0], name="torso")(features))

        def gru_step(cell, h, inputs):
            x_t, start_t = inputs
            h = jnp.where(start_t[:, None], jnp.zeros_like(h), h)
            h, y = cell(h, x_t)
            return h, y

        scan = nn.scan(
            gru_step, variable_broadcast="params", split_rngs={"params": False}, in_axes=0, out_axes=0
        )
        carry, y = scan(nn.GRUCell(self.gru_size, name="gru"), carry, (x, episode_start))
        dist = Actor(self.action_space, self.head, self.hidden_sizes[1:], self.activation, name="actor")(y)
        value = Critic(self.hidden_sizes[1:], self.activation, name="critic")(y)
        return carry, dist, value

    @staticmethod
    def initial_carry(batch_size: int, hidden_size: int) -> jax.Array:
        return jnp.zeros((batch_size, hidden_size), jnp.float32)


def default_head(action_space: spaces.Space) -> str:
    if isinstance(action_space, spaces.Discrete):
        return "categorical"
    if isinstance(action_space, spaces.Box):
        return "gaussian"
    raise ValueError(f"no default policy head for action space {action_space}")

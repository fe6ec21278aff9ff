"""The actor-critic networks name their parameters for what they are (actor, critic, encoder)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from jaxrl.networks import actor_critic, orthogonal
from jaxrl.ppo import PPOConfig, make_env, make_network


def _param_paths(config: PPOConfig) -> set[str]:
    env, env_params = make_env(config)
    network, carry_size = make_network(config, env, env_params)
    obs, _ = env.reset(jax.random.PRNGKey(0), env_params)
    recurrent = config.network == "gru"
    obs = jax.tree.map(lambda x: x[None], obs) if recurrent else obs  # time-major [T, B, ...]
    carry = network.initial_carry(config.num_envs, carry_size)
    start = jnp.ones((1, config.num_envs) if recurrent else (config.num_envs,), bool)
    params = jax.eval_shape(network.init, jax.random.PRNGKey(0), carry, obs, start)
    leaves = jax.tree_util.tree_flatten_with_path(params["params"])[0]
    return {"/".join(str(k.key) for k in path) for path, _ in leaves}


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            dict(env="CartPole-v1", hidden_sizes=(16, 8)),
            {"actor/dense_0", "actor/dense_1", "actor/head/logits", "critic/dense_0", "critic/dense_1", "critic/value"},
        ),
        (
            dict(env="Pendulum-v1", hidden_sizes=(16,)),
            {"actor/dense_0", "actor/head/mean", "critic/dense_0", "critic/value"},
        ),
        (
            dict(env="MemoryCorridor", network="gru", gru_size=8, hidden_sizes=(16, 8)),
            {"torso", "gru/ir", "actor/dense_0", "actor/head/logits", "critic/dense_0", "critic/value"},
        ),
    ],
)
def test_parameters_are_named_actor_critic_encoder(overrides, expected):
    paths = _param_paths(PPOConfig(num_envs=2, **overrides))
    layers = {p.rsplit("/", 1)[0] for p in paths}
    assert expected <= layers, sorted(layers)
    assert not any("Dense_" in p for p in paths), sorted(paths)
    assert all(p.split("/")[0] in ("encoder", "torso", "gru", "actor", "critic") for p in paths), sorted(paths)
    if overrides["env"] == "Pendulum-v1":
        assert "actor/head/log_std" in paths


def test_integer_maps_are_embedded_inside_the_encoder():
    paths = _param_paths(PPOConfig(env="MultiRoom-N2", num_envs=2, hidden_sizes=(16,)))
    assert any(p.startswith("encoder/embed_") for p in paths), sorted(paths)
    assert {"actor/dense_0/kernel", "critic/value/kernel"} <= paths


class _SeparateTowers(nn.Module):
    """The actor and critic as two plain ``nn.Dense`` stacks (the layout before they were fused)."""

    action_space: object
    head: str
    hidden_sizes: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        actor = _ActorTower(self.action_space, self.head, self.hidden_sizes, name="actor")(x)
        return actor, _CriticTower(self.hidden_sizes, name="critic")(x)


class _ActorTower(nn.Module):
    action_space: object
    head: str
    hidden_sizes: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        for i, size in enumerate(self.hidden_sizes):
            x = nn.tanh(nn.Dense(size, kernel_init=orthogonal(np.sqrt(2)), name=f"dense_{i}")(x))
        return _Head(self.action_space, self.head, name="head")(x)


class _Head(nn.Module):
    action_space: object
    head: str

    @nn.compact
    def __call__(self, x):
        if self.head == "categorical":
            return nn.Dense(self.action_space.n, kernel_init=orthogonal(0.01), name="logits")(x), None
        dim = int(np.prod(self.action_space.shape))
        mean = nn.Dense(dim, kernel_init=orthogonal(0.01), name="mean")(x)
        return mean, self.param("log_std", nn.initializers.zeros, (dim,))


class _CriticTower(nn.Module):
    hidden_sizes: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        for i, size in enumerate(self.hidden_sizes):
            x = nn.tanh(nn.Dense(size, kernel_init=orthogonal(np.sqrt(2)), name=f"dense_{i}")(x))
        return nn.Dense(1, kernel_init=orthogonal(1.0), name="value")(x)[..., 0]


class _Fused(nn.Module):
    action_space: object
    head: str
    hidden_sizes: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        return actor_critic(x, self.action_space, self.head, self.hidden_sizes, "tanh")


@pytest.mark.parametrize(
    "env_name, head, hidden_sizes",
    [
        ("CartPole-v1", "categorical", (64, 64)),
        ("Pendulum-v1", "gaussian", (16, 8)),
        ("CartPole-v1", "categorical", ()),
    ],
)
def test_fused_actor_critic_has_the_separate_towers_parameters_and_outputs(env_name, head, hidden_sizes):
    """The fused actor-critic (one matmul per layer) initialises exactly the parameters two separate
    ``nn.Dense`` towers of the same names would, and computes their outputs up to float rounding."""
    env, env_params = envs.make(env_name)
    space = env.action_space(env_params)
    x = jax.random.normal(jax.random.PRNGKey(1), (32, 7))
    fused, separate = _Fused(space, head, hidden_sizes), _SeparateTowers(space, head, hidden_sizes)
    params = fused.init(jax.random.PRNGKey(0), x)
    reference = separate.init(jax.random.PRNGKey(0), x)
    assert jax.tree.structure(params) == jax.tree.structure(reference)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    # Different parameters (trained ones are not orthogonal, biases not zero), same function.
    params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(2), p.shape), params)
    dist, value = fused.apply(params, x)
    (out, log_std), ref_value = separate.apply(params, x)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5, atol=1e-6)
    if head == "categorical":
        np.testing.assert_allclose(dist.logits, out, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(dist.mean, out, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(dist.log_std, jnp.broadcast_to(log_std, out.shape))

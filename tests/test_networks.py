"""The actor-critic networks name their parameters for what they are (actor, critic, encoder)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

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

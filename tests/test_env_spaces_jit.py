"""Every registered environment's spaces work inside ``jax.jit`` and are gymnax's space classes (issue 18)."""

from __future__ import annotations

import pytest
from env_conformance import check_spaces_under_jit

import envs

GYMNAX_NAMES = ["gymnax:CartPole-v1", "gymnax:Pendulum-v1", "gymnax:Acrobot-v1"]


@pytest.mark.parametrize("name", envs.registered() + GYMNAX_NAMES)
def test_spaces_work_under_jit(name: str) -> None:
    check_spaces_under_jit(name)


def test_flattened_spaces_work_under_jit() -> None:
    # Our FlattenObservation turns a dict observation space into one Box, inside jit too.
    env, params = envs.make("MultiRoom-N2")
    check_spaces_under_jit(envs.FlattenObservation(env), params)

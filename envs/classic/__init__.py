"""Classic-control environments with the dynamics of their gymnasium originals."""

from envs.classic.cartpole import CartPole, CartPoleParams, make_cartpole
from envs.registry import register

register("CartPole-v1", make_cartpole)

__all__ = ["CartPole", "CartPoleParams", "make_cartpole"]

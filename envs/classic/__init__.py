"""Classic-control environments with the dynamics of their gymnasium originals."""

from envs.classic.cartpole import CartPole, CartPoleParams, make_cartpole
from envs.classic.mountain_car import MountainCar, MountainCarParams, make_mountain_car
from envs.classic.pendulum import Pendulum, PendulumParams, make_pendulum
from envs.registry import register

register("CartPole-v1", make_cartpole)
register("MountainCar-v0", make_mountain_car)
register("Pendulum-v1", make_pendulum)

__all__ = [
    "CartPole",
    "CartPoleParams",
    "MountainCar",
    "MountainCarParams",
    "Pendulum",
    "PendulumParams",
    "make_cartpole",
    "make_mountain_car",
    "make_pendulum",
]

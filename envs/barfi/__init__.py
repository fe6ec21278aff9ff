"""The domains of BARFI (behaviour alignment via reward function optimisation).

Each returns its primary reward as the reward and its heuristic reward in ``info["r_aux"]``; the
keyword ``heuristic`` picks ``"good"``, ``"misleading"`` or ``"none"``. The heuristic is an array leaf of
the params (its index in ``HEURISTICS``), so the three can be a vmapped batch axis of one program.
"""

from envs.barfi.cartpole import BarfiCartPole, BarfiCartPoleParams, make_barfi_cartpole, pd_action
from envs.barfi.gridworld import HEURISTICS, GridWorld, GridWorldParams, heuristic_index, make_gridworld
from envs.barfi.mountain_car import (
    BarfiMountainCar,
    BarfiMountainCarParams,
    energy_pumping,
    make_barfi_mountain_car,
)
from envs.registry import register

register("BARFI-GridWorld", make_gridworld)
register("BARFI-CartPole", make_barfi_cartpole)
register("BARFI-MountainCar", make_barfi_mountain_car)

__all__ = [
    "HEURISTICS",
    "BarfiCartPole",
    "BarfiCartPoleParams",
    "BarfiMountainCar",
    "BarfiMountainCarParams",
    "GridWorld",
    "GridWorldParams",
    "energy_pumping",
    "heuristic_index",
    "make_barfi_cartpole",
    "make_barfi_mountain_car",
    "make_gridworld",
    "pd_action",
]

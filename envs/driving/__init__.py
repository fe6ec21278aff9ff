"""A small 2-D driving world in JAX for CaRL's reward study (`papers/carl.md`)."""

from envs.driving.controller import scripted_action
from envs.driving.env import BEV_CHANNELS, Driving, DrivingState, make_driving, run_episode
from envs.driving.rewards import INFRACTIONS, PENALTY_FACTORS, driving_score, shaped_reward, simple_reward
from envs.driving.world import DrivingParams
from envs.registry import register

register("Driving-v0", make_driving)

__all__ = [
    "BEV_CHANNELS",
    "INFRACTIONS",
    "PENALTY_FACTORS",
    "Driving",
    "DrivingParams",
    "DrivingState",
    "driving_score",
    "make_driving",
    "run_episode",
    "scripted_action",
    "shaped_reward",
    "simple_reward",
]

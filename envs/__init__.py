"""Pure-functional environments with the gymnax 1.0 API.

    import envs
    env, params = envs.make("CartPole-v1")
    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
"""

from envs import spaces
from envs.adapters import to_gymnasium, to_gymnasium_vector  # also registers the "gymnax:" prefix
from envs.core import Environment, EnvParams, EnvState
from envs.registry import make, register, register_prefix, registered
from envs.wrappers import EpisodeStatistics, FlattenObservation, VecEnv, Wrapper, flatten_observation

# Importing these modules registers their environments.
from envs import classic  # noqa: E402,F401  isort: skip
from envs import memory  # noqa: E402,F401  isort: skip
from envs import driving  # noqa: E402,F401  isort: skip
from envs import minihack_adapter  # noqa: E402,F401  isort: skip
from envs import barfi  # noqa: E402,F401  isort: skip
from envs import meta  # noqa: E402,F401  isort: skip
from envs import gridworld  # noqa: E402,F401  isort: skip

__all__ = [
    "Environment",
    "EnvParams",
    "EnvState",
    "EpisodeStatistics",
    "FlattenObservation",
    "VecEnv",
    "Wrapper",
    "flatten_observation",
    "make",
    "register",
    "register_prefix",
    "registered",
    "spaces",
    "to_gymnasium",
    "to_gymnasium_vector",
]

"""The config class of a sweep's ``algorithm:``.

One function, so that the sweep reaches the algorithms through one door: it knows PPO only until the
algorithm registry (``jaxrl.algorithms``) lands, and is then pointed at it.
"""

from __future__ import annotations

DEFAULT_ALGORITHM = "ppo"
KNOWN_ALGORITHMS = ("ppo",)


def config_class(name: str) -> type:
    """The frozen config dataclass of algorithm ``name``; ValueError listing the known ones."""
    if name == "ppo":
        from jaxrl.ppo import PPOConfig

        return PPOConfig
    raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(KNOWN_ALGORITHMS)}")

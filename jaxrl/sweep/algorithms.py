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


def make_train(config: object) -> object:
    """The trainer of ``config`` (its algorithm's ``make_train``), for reading a trial's checkpoint."""
    from jaxrl.ppo import PPOConfig
    from jaxrl.ppo import make_train as make_ppo_train

    if isinstance(config, PPOConfig):
        return make_ppo_train(config)
    raise ValueError(f"no trainer known for {type(config).__name__}; known algorithms: {', '.join(KNOWN_ALGORITHMS)}")

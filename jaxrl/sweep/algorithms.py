"""The config class and trainer of a sweep's ``algorithm:``, from the algorithm registry.

One door from the sweep to the algorithms (``jaxrl.algorithms``), so a newly registered algorithm is
sweepable the moment it is registered.
"""

from __future__ import annotations

from typing import Any

DEFAULT_ALGORITHM = "ppo"


def config_class(name: str) -> type:
    """The frozen config dataclass of algorithm ``name``; ValueError listing the registered ones."""
    from jaxrl.algorithms import get

    return get(name).config_cls


def make_train(config: Any) -> Any:
    """The trainer of ``config`` (its algorithm's ``make_train``), for reading a trial's checkpoint."""
    from jaxrl.algorithms import for_config

    return for_config(config).make_train(config, 1)

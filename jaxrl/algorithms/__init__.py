"""The algorithm registry: `get(name)`, `registered()`, `for_config(config)`, `register(algorithm)`.

The built-in algorithms are imported when first asked for, so that importing this package (as every
config module does, for `vmappable`) pulls in no algorithm. A new algorithm is a module that defines
its config and ``make_train`` and calls `register` (see ``docs/adding_an_algorithm.md``).
"""

from __future__ import annotations

import importlib
from typing import Any

from jaxrl.algorithms.protocol import Algorithm, Trainer, algorithm_config, vmappable, vmappable_names

# name -> the module whose import registers it
_BUILTIN = {"ppo": "jaxrl.ppo", "rl2": "jaxrl.meta.rl2", "barfi": "jaxrl.barfi.train"}
_REGISTRY: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    """Add an algorithm under its name (registering the same one again is harmless)."""
    known = _REGISTRY.get(algorithm.name)
    if known is not None and known.config_cls is not algorithm.config_cls:
        raise ValueError(f"an algorithm named {algorithm.name!r} is already registered ({known.config_cls})")
    _REGISTRY[algorithm.name] = algorithm
    return algorithm


def _load_builtins() -> None:
    for module in _BUILTIN.values():
        importlib.import_module(module)


def registered() -> list[str]:
    """The names `get` accepts, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get(name: str) -> Algorithm:
    """The algorithm registered as ``name``; a ValueError listing the known names otherwise."""
    if name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _REGISTRY:
        raise ValueError(f"unknown algorithm {name!r}; registered: {', '.join(registered())}")
    return _REGISTRY[name]


def for_config(config: Any) -> Algorithm:
    """The algorithm whose config class ``config`` is (exactly: a subclass is another algorithm)."""
    _load_builtins()
    for algorithm in _REGISTRY.values():
        if type(config) is algorithm.config_cls:
            return algorithm
    raise TypeError(
        f"{type(config).__name__} is not the config of a registered algorithm "
        f"({', '.join(f'{a.name}: {a.config_cls.__name__}' for a in _REGISTRY.values())})"
    )


__all__ = [
    "Algorithm",
    "Trainer",
    "algorithm_config",
    "for_config",
    "get",
    "register",
    "registered",
    "vmappable",
    "vmappable_names",
]

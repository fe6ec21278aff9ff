"""Name-based construction: ``envs.make(name, **kwargs) -> (env, params)``.

A registered factory takes keyword arguments and returns ``(env, params)``. Names with a prefix
(``gymnax:``, ``minihack:``) are routed to adapters that import their optional package lazily.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

Factory = Callable[..., tuple[Any, Any]]

_REGISTRY: dict[str, Factory] = {}
_PREFIXES: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    """Register ``factory(**kwargs) -> (env, params)`` under ``name``."""
    if name in _REGISTRY:
        raise ValueError(f"environment {name!r} is already registered")
    _REGISTRY[name] = factory


def register_prefix(prefix: str, factory: Factory) -> None:
    """Route ``"<prefix>:<id>"`` to ``factory(id, **kwargs)``."""
    _PREFIXES[prefix] = factory


def registered() -> list[str]:
    """The registered environment names, sorted, without the adapter prefixes."""
    return sorted(_REGISTRY)


def _check_kwargs(name: str, factory: Factory, kwargs: dict[str, Any]) -> None:
    signature = inspect.signature(factory)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return
    accepted = [p for p in signature.parameters if p != "env_id"]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ValueError(
            f"{name!r} got unexpected keyword argument(s) {unknown}; it accepts {accepted or 'none'}"
        )


def make(name: str, **kwargs: Any) -> tuple[Any, Any]:
    """Build an environment and its default parameters.

    Raises ``ValueError`` naming the registered environments for an unknown name, and naming the
    argument for an unknown or invalid keyword argument.
    """
    if ":" in name:
        prefix, env_id = name.split(":", 1)
        if prefix not in _PREFIXES:
            raise ValueError(f"unknown adapter prefix {prefix!r} in {name!r}; known: {sorted(_PREFIXES)}")
        factory = _PREFIXES[prefix]
        _check_kwargs(name, factory, kwargs)
        return factory(env_id, **kwargs)
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"unknown environment {name!r}.{hint} Registered: {', '.join(registered())}; "
            f"adapters: {', '.join(p + ':<id>' for p in sorted(_PREFIXES))}"
        )
    factory = _REGISTRY[name]
    _check_kwargs(name, factory, kwargs)
    return factory(**kwargs)

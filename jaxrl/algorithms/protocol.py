"""The protocol every algorithm implements, and the per-field marks of its config.

A config is a frozen dataclass decorated with `algorithm_config`. Each field says in its own
declaration whether it may differ between the trials of one compiled program:

    @algorithm_config
    class MyConfig:
        num_envs: int = 4                          # static: fixes a shape
        learning_rate: float = vmappable(2.5e-4)   # a batch axis: read from the hyperparameter pytree

`algorithm_config` derives from those marks ``MyConfig.VMAPPABLE`` (the names) and
``MyConfig.HyperParams`` (a `flax.struct` pytree with one float32 leaf per marked field), and gives the
class ``hyperparams(**overrides)``. An `Algorithm` then ties a config class to its ``make_train`` and
to the way a chunk's metrics become per-trial rows; `jaxrl.algorithms` registers it by name.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

VMAPPABLE_MARK = "vmappable"


def vmappable(default: Any) -> Any:
    """A config field that may differ between the trials of one compiled program (a batch axis)."""
    return dataclasses.field(default=default, metadata={VMAPPABLE_MARK: True})


def vmappable_names(cls: type) -> tuple[str, ...]:
    """The marked fields of a config class, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get(VMAPPABLE_MARK))


def _hyperparams(self: Any, **overrides: Any) -> Any:
    """The vmappable fields as a pytree of float32 scalars, with optional overrides."""
    unknown = set(overrides) - self.VMAPPABLE
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not vmappable; vmappable: {sorted(self.VMAPPABLE)}")
    names = vmappable_names(type(self))
    return self.HyperParams(**{n: jnp.asarray(overrides.get(n, getattr(self, n)), jnp.float32) for n in names})


def json_value(x: Any) -> Any:
    """One trial's metric as JSON: a float (None where not finite) or a list."""
    x = float(x) if np.ndim(x) == 0 else np.asarray(x).tolist()
    return None if isinstance(x, float) and not math.isfinite(x) else x


def algorithm_config(cls: type) -> type:
    """``dataclass(frozen=True)`` plus ``VMAPPABLE``, ``HyperParams`` and ``hyperparams()`` derived from
    the fields marked `vmappable` (a class that defines its own ``HyperParams`` and ``hyperparams``
    keeps them: BARFI's turns its method into several leaves)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    names = vmappable_names(cls)
    cls.VMAPPABLE = frozenset(names)
    if "HyperParams" not in cls.__dict__:  # a class may name its own pytree (with its own hyperparams())
        namespace = {"__annotations__": dict.fromkeys(names, jax.Array), "__module__": cls.__module__}
        cls.HyperParams = struct.dataclass(type(f"{cls.__name__}HyperParams", (), namespace))
    if "hyperparams" not in cls.__dict__:
        cls.hyperparams = _hyperparams
    return cls


class Trainer(Protocol):
    """What `make_train(config, updates_per_chunk)` gives: pure functions to vmap and jit."""

    init_fn: Callable[..., Any]  # (key, hparams) -> runner state
    update_fn: Callable[..., tuple[Any, dict]]  # (state, num_updates=...) -> (state, chunk metrics)

    @property
    def chunk_lengths(self) -> list[int]: ...  # updates in each chunk, in order

    @property
    def steps_per_update(self) -> int: ...  # environment steps one update collects (a row's "step")


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One entry of the registry: everything `jaxrl train`, `jaxrl sweep`, `jaxrl report` and resume
    need to know about an algorithm."""

    name: str
    config_cls: type
    make_train: Callable[[Any, int], Trainer]
    """``(config, updates_per_chunk) -> Trainer``."""
    metric_rows: Callable[[dict[str, Any]], list[dict[str, Any]]]
    """A chunk's metrics (numpy, leading axis the trials) -> one JSON-ready row per trial."""
    finite_leaves: Callable[[Any], Any]
    """The part of a runner state (leading axis the trials) that must stay finite: a trial whose
    leaves or whose row's ``loss`` turn NaN or inf is marked failed."""
    description: str = ""
    score: str = "episode_return_mean"
    """The row field shown on the progress bar and at the end of `jaxrl train`."""
    evaluate: Callable[..., dict[str, Any]] | None = None
    """``(config, params, key, num_episodes, greedy) -> per-episode arrays`` for `jaxrl eval`; None
    where evaluation has no meaning for the algorithm."""

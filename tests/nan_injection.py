"""NaN injection shared by the NaN-handling tests: a registered algorithm whose update turns the
parameters (or the loss) of chosen trials NaN, as a diverging run would."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

import jaxrl.algorithms as algorithms


def inject_nan(
    monkeypatch: Any, name: str, is_bad: Callable[[Any, Any, dict], jax.Array], into: str = "params"
) -> Callable:
    """For this test, algorithm ``name``'s update writes NaN into ``into`` ("params" or "loss") of the
    trials where ``is_bad(state, new_state, metrics)`` holds. Returns the original ``make_train``."""
    algorithm = algorithms.get(name)
    original = algorithm.make_train

    def make_train_with_nan(config, updates_per_chunk=1):
        trainer = original(config, updates_per_chunk)

        def update_fn(state, num_updates=updates_per_chunk):
            new_state, metrics = trainer.update_fn(state, num_updates=num_updates)
            bad = is_bad(state, new_state, metrics)
            if into == "loss":
                metrics["loss"] = jnp.where(bad, jnp.nan, metrics["loss"])
            else:
                params = jax.tree.map(lambda x: jnp.where(bad, jnp.nan, x), new_state.params)
                new_state = new_state.replace(params=params)
            return new_state, metrics

        if hasattr(trainer, "_replace"):  # BARFI's trainer is a NamedTuple, PPO's a dataclass
            return trainer._replace(update_fn=update_fn)
        return dataclasses.replace(trainer, update_fn=update_fn)

    monkeypatch.setitem(algorithms._REGISTRY, name, dataclasses.replace(algorithm, make_train=make_train_with_nan))
    return original

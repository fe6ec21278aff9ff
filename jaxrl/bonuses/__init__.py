"""Exploration bonuses behind one interface (`jaxrl.bonuses.base.Bonus`), built by name.

    from jaxrl.bonuses import make_bonus
    bonus = make_bonus("e3b*count", key="position", embed_dim=32)
    state = bonus.init(key, obs_example, num_actions, num_envs)
    raw, state = bonus.step(state, obs, action, next_obs, done)   # inside the rollout scan
    state, metrics = bonus.update(state, batch)                    # once per PPO update

A spec is one registered name or two joined by ``*`` (product) or ``+`` (first + sum_weight * second,
the episodic term first). Options go to every part that has a field of that name; ``<name>__<option>``
(e.g. ``rnd__learning_rate=1e-3``) goes to one part only. Adding a bonus: one file and one entry in
``BONUSES`` (see docs/adding_a_bonus.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxrl.bonuses.base import Bonus, NoBonus
from jaxrl.bonuses.combine import CombinedBonus
from jaxrl.bonuses.count import CountBonus
from jaxrl.bonuses.e3b import E3BBonus
from jaxrl.bonuses.episodic_count import EpisodicCountBonus
from jaxrl.bonuses.normalizer import RunningMoments, scale_bonus
from jaxrl.bonuses.noveld import NovelDBonus
from jaxrl.bonuses.rnd import RNDBonus

BONUSES: dict[str, type] = {
    "none": NoBonus,
    "count": CountBonus,
    "episodic_count": EpisodicCountBonus,
    "rnd": RNDBonus,
    "noveld": NovelDBonus,
    "e3b": E3BBonus,
}

_OPERATORS = {"*": "product", "+": "sum"}


def _split_spec(spec: str) -> tuple[list[str], str | None]:
    if not isinstance(spec, str):
        raise ValueError(f"a bonus spec must be a string, got {spec!r}")
    for symbol, mode in _OPERATORS.items():
        if symbol in spec:
            parts = [part.strip() for part in spec.split(symbol)]
            if len(parts) != 2 or any(op in part for part in parts for op in _OPERATORS):
                raise ValueError(f"bonus spec {spec!r}: combine exactly two bonuses with one '*' or '+'")
            return parts, mode
    return [spec.strip()], None


def make_bonus(spec: str, **options: Any) -> Bonus:
    """Builds the bonus named by ``spec`` ("none", "count", "e3b", "e3b*rnd", "e3b+count", ...)."""
    names, mode = _split_spec(spec)
    unknown = [name for name in names if name not in BONUSES]
    if unknown:
        raise ValueError(f"unknown bonus {unknown[0]!r} in spec {spec!r}; known bonuses: {sorted(BONUSES)}")
    if mode is not None and names[0] == names[1]:
        raise ValueError(f"bonus spec {spec!r} combines {names[0]!r} with itself")

    combine_options = {}
    if "sum_weight" in options:
        if mode != "sum":
            raise ValueError(f"sum_weight only applies to a '+' combination, not to {spec!r}")
        combine_options["sum_weight"] = options.pop("sum_weight")

    per_part: dict[str, dict[str, Any]] = {name: {} for name in names}
    fields = {name: {f.name for f in dataclasses.fields(BONUSES[name])} for name in names}
    for option, value in options.items():
        scope, _, field = option.partition("__")
        if field:
            if scope not in per_part:
                raise ValueError(f"option {option!r} names bonus {scope!r}, which is not in spec {spec!r}")
            targets = [scope] if field in fields[scope] else []
        else:
            field = option
            targets = [name for name in names if field in fields[name]]
        if not targets:
            accepted = sorted(set().union(*fields.values()) | ({"sum_weight"} if mode == "sum" else set()))
            raise ValueError(f"bonus {spec!r} has no option {option!r}; its options: {accepted}")
        for name in targets:
            per_part[name][field] = value

    parts = [BONUSES[name](**per_part[name]) for name in names]
    if mode is None:
        return parts[0]
    return CombinedBonus(parts[0], parts[1], mode=mode, **combine_options)


__all__ = [
    "BONUSES",
    "Bonus",
    "CombinedBonus",
    "CountBonus",
    "E3BBonus",
    "EpisodicCountBonus",
    "NoBonus",
    "NovelDBonus",
    "RNDBonus",
    "RunningMoments",
    "make_bonus",
    "scale_bonus",
]

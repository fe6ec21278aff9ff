"""A sweep file expanded into trials, and the trials folded into groups that run as one program.

Precedence of the settings of one trial, lowest first: the config's defaults, ``base:``, the chosen
size's ``base:``, its labelled point's overrides, its axes' values. A key may be set by a point or
by an axis, not by both (the file would say two things about one trial).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jaxrl.config_io import coerce, field_types
from jaxrl.sweep.algorithms import DEFAULT_ALGORITHM, config_class
from jaxrl.sweep.source import Source, SweepError, load_yaml

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "algorithm",
    "base",
    "run",
    "axes",
    "points",
    "seeds",
    "resources",
    "max_group_size",
    "sizes",
    "default_size",
    "experiment",
)
# What a size may set: the mappings are merged into the file's, the others replace the file's.
SIZE_MERGED_KEYS = ("base", "run", "experiment")
SIZE_REPLACED_KEYS = ("axes", "seeds", "max_group_size")
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")
MAX_NAME_LENGTH = 120
SWEEP_OWNED_RUN_KEYS = ("out", "num_seeds", "seed", "resume", "overwrite", "progress")
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"


@dataclasses.dataclass(frozen=True)
class Fields:
    """What a sweep may set: config fields (with their types) and which of them are vmappable."""

    config_name: str
    config_types: dict[str, Any]
    vmappable: frozenset[str]

    def check_key(self, key: Any, source: Source, *path: Any) -> None:
        if not isinstance(key, str):
            raise source.error(f"config key must be a string, got {key!r}", *path)
        field, _, entry = key.partition(".")
        if field == "seed":
            raise source.error("'seed' is not a config key: list the seeds under the top-level 'seeds:'", *path)
        if field not in self.config_types:
            raise source.error(
                f"unknown config key {field!r}; {self.config_name} fields are: {', '.join(sorted(self.config_types))}",
                *path,
            )
        if entry:
            tp = self.config_types[field]
            if not (tp is dict or typing.get_origin(tp) in (dict, Mapping)):
                raise source.error(f"{key!r}: only dict fields take a dotted key, and {field!r} is not one", *path)

    def coerce(self, key: str, value: Any, source: Source, *path: Any) -> Any:
        if "." in key:
            return value
        try:
            return coerce(value, self.config_types[key])
        except TypeError as exc:
            raise source.error(f"{key}: {exc}", *path) from None

    def is_vmappable(self, key: str) -> bool:
        return key in self.vmappable


def apply_overrides(config: Any, overrides: Mapping[str, Any]) -> Any:
    """`config` with `overrides` applied; ``field.entry`` keys update one entry of a dict field."""
    plain = {k: v for k, v in overrides.items() if "." not in k}
    for key, value in overrides.items():
        if "." in key:
            field, _, entry = key.partition(".")
            merged = dict(plain.get(field, getattr(config, field)) or {})
            merged[entry] = value
            plain[field] = merged
    return dataclasses.replace(config, **plain)


def _validate(config: Any) -> None:
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()


@dataclasses.dataclass(frozen=True)
class Trial:
    name: str  # "[<point>/]<config_name>/seed=<seed>", also its directory under runs/<sweep>/
    config_name: str  # the axes' values ("base" when none)
    seed: int
    overrides: dict[str, Any]  # every override of this trial (point and axes), static and vmappable
    vmapped: dict[str, float]  # the vmappable part: what the runner receives as TrialSpec.overrides
    point: str | None = None  # the label of its point (`points:`), None when the file has none


@dataclasses.dataclass(frozen=True)
class Group:
    index: int
    label: str  # the static overrides, "num_envs=8" ("base" when none)
    config: Any  # the config with the static overrides; vmappable fields at their base values
    trials: tuple[Trial, ...]

    @property
    def batch_axes(self) -> list[str]:
        keys = sorted({k for t in self.trials for k in t.vmapped})
        return keys + (["seed"] if len({t.seed for t in self.trials}) > 1 else [])


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    name: str  # the folder under the output root: the file's name, "-<size>" appended when sized
    source_path: str
    source_text: str
    base_config: Any
    run_kwargs: dict[str, Any]
    resources: dict[str, float]
    groups: tuple[Group, ...]
    algorithm: str = DEFAULT_ALGORITHM
    size: str | None = None
    points: tuple[str, ...] = ()
    experiment: dict[str, Any] = dataclasses.field(default_factory=dict)  # read by experiment scripts

    @property
    def trials(self) -> list[Trial]:
        return [t for g in self.groups for t in g.trials]


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, bool | int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return re.sub(r"[/\\\s]+", "-", text)


def config_name(overrides: Mapping[str, Any]) -> str:
    """The folder name of a set of overrides: ``k=v,k=v`` (a digest when too long; "base" when none)."""
    if not overrides:
        return "base"
    name = ",".join(f"{k}={_format_value(v)}" for k, v in overrides.items())
    if len(name) > MAX_NAME_LENGTH:
        digest = hashlib.sha1(json.dumps(overrides, sort_keys=True, default=str).encode()).hexdigest()
        name = f"cfg-{digest[:10]}"
    return name


def _expand_axes(axes: Any, fields: Fields, source: Source, at: tuple) -> list[tuple[dict[str, Any], dict[str, tuple]]]:
    """Points of the sweep's axes (``axes`` found at path ``at``): (overrides, path of each key)."""
    if axes is None:
        return [({}, {})]
    if isinstance(axes, dict):
        blocks: list[tuple[str, Any, tuple]] = [("grid", axes, at)]
    elif isinstance(axes, list):
        blocks = []
        for i, block in enumerate(axes):
            if not isinstance(block, dict) or len(block) != 1:
                raise source.error(
                    "each entry of 'axes' is one of {grid: {...}}, {zip: {...}}, {list: [...]} or {key: [values]}",
                    *at,
                    i,
                )
            ((kind, body),) = block.items()
            if kind in ("grid", "zip", "list"):
                blocks.append((kind, body, at + (i, kind)))
            else:
                blocks.append(("grid", {kind: body}, at + (i,)))
    else:
        raise source.error("'axes' must be a list of blocks or a mapping of key: [values]", *at)

    block_points: list[list[tuple[dict[str, Any], dict[str, tuple]]]] = []
    key_origin: dict[str, tuple] = {}

    def claim(key: str, path: tuple) -> None:
        fields.check_key(key, source, *path)
        if key in key_origin:
            raise source.error(
                f"key {key!r} appears in two axes (first at line {source.line(*key_origin[key])})", *path
            )
        key_origin[key] = path

    for kind, body, path in blocks:
        if kind in ("grid", "zip"):
            if not isinstance(body, dict) or not body:
                raise source.error(f"'{kind}' takes a non-empty mapping of key: [values]", *path)
            values: dict[str, list] = {}
            for key, vals in body.items():
                claim(key, path + (key,))
                if not isinstance(vals, list) or not vals:
                    raise source.error(f"{key}: an axis needs a non-empty list of values, got {vals!r}", *path, key)
                values[key] = [fields.coerce(key, v, source, *path, key, j) for j, v in enumerate(vals)]
            if kind == "zip":
                lengths = {k: len(v) for k, v in values.items()}
                if len(set(lengths.values())) > 1:
                    raise source.error(f"'zip' lists must have equal lengths, got {lengths}", *path)
                combos = list(zip(*values.values(), strict=True))
            else:
                combos = list(itertools.product(*values.values()))
            origins = {k: path + (k,) for k in values}
            block_points.append([(dict(zip(values, c, strict=True)), origins) for c in combos])
        else:  # list
            if not isinstance(body, list) or not body:
                raise source.error("'list' takes a non-empty list of {key: value} points", *path)
            points = []
            keys_in_block: set[str] = set()
            for j, point in enumerate(body):
                if not isinstance(point, dict) or not point:
                    raise source.error("each point of a 'list' is a non-empty mapping", *path, j)
                for key in point:
                    fields.check_key(key, source, *path, j, key)
                    if key not in keys_in_block and key in key_origin:
                        raise source.error(
                            f"key {key!r} appears in two axes (first at line {source.line(*key_origin[key])})",
                            *path,
                            j,
                            key,
                        )
                keys_in_block.update(point)
                coerced = {k: fields.coerce(k, v, source, *path, j, k) for k, v in point.items()}
                points.append((coerced, {k: path + (j, k) for k in point}))
            for key in keys_in_block:
                key_origin[key] = path
            block_points.append(points)

    expanded = []
    for combo in itertools.product(*block_points):
        overrides: dict[str, Any] = {}
        origins: dict[str, tuple] = {}
        for point, point_origins in combo:
            overrides.update(point)
            origins.update(point_origins)
        expanded.append((overrides, origins))
    return expanded


def _parse_seeds(seeds: Any, source: Source, at: tuple) -> list[int]:
    if seeds is None:
        return [0]
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise source.error(f"seeds: a count must be at least 1, got {seeds}", *at)
        return list(range(seeds))
    if isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        if len(set(seeds)) != len(seeds):
            raise source.error(f"seeds: repeated seed in {seeds}", *at)
        return list(seeds)
    raise source.error(f"seeds: give a count (3) or a non-empty list of integers ([0, 7]), got {seeds!r}", *at)


def _parse_points(
    points: Any, fields: Fields, source: Source
) -> list[tuple[str | None, dict[str, Any], dict[str, tuple]]]:
    """The labelled points: (label, overrides, path of each key); one unlabelled point when none."""
    if points is None:
        return [(None, {}, {})]
    if not isinstance(points, dict) or not points:
        raise source.error(
            "'points' is a non-empty mapping of label: {overrides}, e.g. {simple: {env_kwargs.reward: simple}}",
            "points",
        )
    parsed = []
    for label, body in points.items():
        if not isinstance(label, str) or not re.fullmatch(NAME_PATTERN, label):
            raise source.error(
                f"points: a label uses letters, digits, '.', '_' and '-', got {label!r}", "points", label
            )
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise source.error(f"points.{label}: give a mapping of config overrides, got {body!r}", "points", label)
        for key in body:
            fields.check_key(key, source, "points", label, key)
        overrides = {k: fields.coerce(k, v, source, "points", label, k) for k, v in body.items()}
        parsed.append((label, overrides, {k: ("points", label, k) for k in body}))
    return parsed


def _choose_size(data: dict, size: str | None, source: Source) -> tuple[str | None, dict]:
    """The size to use (``size``, else the file's ``default_size``) and its overlay; SweepError for an
    unknown one, or for a sized file given no size."""
    sizes = data.get("sizes")
    if sizes is None:
        if size is not None:
            raise source.error(f"--size {size}: this sweep file has no 'sizes:'")
        if "default_size" in data:
            raise source.error("default_size needs a 'sizes:' section", "default_size")
        return None, {}
    if not isinstance(sizes, dict) or not sizes:
        raise source.error("'sizes' is a non-empty mapping of size name: {overlay}", "sizes")
    for name, overlay in sizes.items():
        if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
            raise source.error(
                f"sizes: a size name uses letters, digits, '.', '_' and '-', got {name!r}", "sizes", name
            )
        if overlay is not None and not isinstance(overlay, dict):
            raise source.error(f"sizes.{name}: give a mapping, got {overlay!r}", "sizes", name)
        for key in overlay or {}:
            if key not in SIZE_MERGED_KEYS + SIZE_REPLACED_KEYS:
                raise source.error(
                    f"sizes.{name}: unknown key {key!r}; a size sets "
                    f"{', '.join(SIZE_MERGED_KEYS + SIZE_REPLACED_KEYS)}",
                    "sizes",
                    name,
                    key,
                )
    if size is None:
        size = data.get("default_size")
        if size is None:
            raise source.error(f"this sweep has sizes {', '.join(sizes)}: choose one with --size", "sizes")
        if size not in sizes:
            raise source.error(f"default_size {size!r} is not one of the sizes {', '.join(sizes)}", "default_size")
    elif size not in sizes:
        raise source.error(f"unknown size {size!r}; this sweep has sizes {', '.join(sizes)}", "sizes")
    return size, sizes[size] or {}


def _section(data: dict, overlay: dict, size: str | None, key: str) -> tuple[Any, tuple]:
    """The file's section ``key`` as the size leaves it, and the path where it is written."""
    if key in overlay:
        return overlay[key], ("sizes", size, key)
    return data.get(key), (key,)


def load_plan(
    path: str | Path, config_cls: type | None = None, run_cls: type | None = None, size: str | None = None
) -> SweepPlan:
    """Parse and check a sweep file and expand it into groups of trials. Raises SweepError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SweepError(f"{path}: cannot read the sweep file: {exc.strerror}") from None
    return parse_plan(text, str(path), config_cls=config_cls, run_cls=run_cls, size=size)


def parse_plan(
    text: str,
    filename: str,
    config_cls: type | None = None,
    run_cls: type | None = None,
    size: str | None = None,
) -> SweepPlan:
    """The plan of sweep file ``text`` (named ``filename`` in errors) at ``size``. Raises SweepError."""
    data, source = load_yaml(text, filename)
    if data is None or data == {}:
        raise source.error(
            "the sweep file is empty; it needs at least 'base:' (the config fields of every trial), "
            "see sweeps/example_cartpole.yaml"
        )
    if not isinstance(data, dict):
        raise source.error("a sweep file is a mapping with keys " + ", ".join(TOP_LEVEL_KEYS))
    experiment = data.get("experiment")
    if isinstance(experiment, str):
        raise source.error(
            f"this file describes an experiment read by {experiment}, not a `jaxrl sweep`; "
            f"run `python {experiment} --quick` (or without --quick for the full size)",
            "experiment",
        )
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise source.error(f"unknown top-level key {key!r}; allowed: {', '.join(TOP_LEVEL_KEYS)}", key)

    name = data.get("name", Path(filename).stem)
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise source.error(f"name: use letters, digits, '.', '_' and '-', got {name!r}", "name")

    algorithm = data.get("algorithm", DEFAULT_ALGORITHM)
    if config_cls is None:
        if not isinstance(algorithm, str):
            raise source.error(f"algorithm: give a name such as ppo, got {algorithm!r}", "algorithm")
        try:
            config_cls = config_class(algorithm)
        except ValueError as exc:
            raise source.error(f"algorithm: {exc}", "algorithm") from None
    if run_cls is None:
        from jaxrl.run import RunConfig

        run_cls = RunConfig

    size, overlay = _choose_size(data, size, source)
    fields = Fields(
        config_cls.__name__, field_types(config_cls), frozenset(getattr(config_cls, "VMAPPABLE", frozenset()))
    )

    base_values: dict[str, Any] = {}
    for section, at in ((data.get("base"), ("base",)), (overlay.get("base"), ("sizes", size, "base"))):
        section = section or {}
        if not isinstance(section, dict):
            raise source.error("'base' must be a mapping of config fields", *at)
        for key, value in section.items():
            fields.check_key(key, source, *at, key)
            base_values[key] = fields.coerce(key, value, source, *at, key)
    try:
        base_config = apply_overrides(config_cls(), base_values)
        _validate(base_config)
    except (ValueError, TypeError) as exc:
        at = ("sizes", size, "base") if overlay.get("base") else ("base",)
        raise source.error(f"invalid base config: {exc}", *at) from None

    run_kwargs: dict[str, Any] = {}
    run_types = field_types(run_cls)
    first_run_path: tuple = ("run",)
    for section, at in ((data.get("run"), ("run",)), (overlay.get("run"), ("sizes", size, "run"))):
        section = section or {}
        if not isinstance(section, dict):
            raise source.error("'run' must be a mapping of RunConfig fields", *at)
        for key, value in section.items():
            if key in SWEEP_OWNED_RUN_KEYS:
                raise source.error(f"run.{key} is set by the sweep itself; remove it", *at, key)
            if key not in run_types:
                raise source.error(
                    f"unknown run key {key!r}; RunConfig fields are: {', '.join(sorted(run_types))}", *at, key
                )
            try:
                run_kwargs[key] = coerce(value, run_types[key])
            except TypeError as exc:
                raise source.error(f"run.{key}: {exc}", *at, key) from None
            first_run_path = first_run_path if len(first_run_path) > 1 else (*at, key)
    try:
        run_cls(**run_kwargs)
    except (TypeError, ValueError) as exc:
        raise source.error(f"invalid run settings: {exc}", *first_run_path) from None

    resources = data.get("resources") or {}
    if not isinstance(resources, dict):
        raise source.error("'resources' must be a mapping like {num_cpus: 1, num_gpus: 0}", "resources")
    for key, value in resources.items():
        if key not in RESOURCE_KEYS:
            raise source.error(f"unknown resource {key!r}; allowed: {', '.join(RESOURCE_KEYS)}", "resources", key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise source.error(f"resources.{key} must be a number >= 0, got {value!r}", "resources", key)
    resources = {"num_cpus": 1, "num_gpus": 0, **resources}

    max_group_size, at = _section(data, overlay, size, "max_group_size")
    if max_group_size is not None and (
        isinstance(max_group_size, bool) or not isinstance(max_group_size, int) or max_group_size < 1
    ):
        raise source.error(f"max_group_size must be a positive integer, got {max_group_size!r}", *at)

    experiment_settings: dict[str, Any] = {}
    for section, at in ((experiment, ("experiment",)), (overlay.get("experiment"), ("sizes", size, "experiment"))):
        if section is None:
            continue
        if not isinstance(section, dict):
            raise source.error("'experiment' is a mapping of settings read by the experiment script", *at)
        experiment_settings.update(section)

    seeds_value, seeds_at = _section(data, overlay, size, "seeds")
    seeds = _parse_seeds(seeds_value, source, seeds_at)
    axes_value, axes_at = _section(data, overlay, size, "axes")
    axis_points = _expand_axes(axes_value, fields, source, axes_at)
    labelled = _parse_points(data.get("points"), fields, source)

    groups: dict[str, tuple[Any, list[Trial]]] = {}
    names: set[tuple[str | None, str]] = set()
    for label, point_overrides, point_origins in labelled:
        for axis_overrides, axis_origins in axis_points:
            both = sorted(set(point_overrides) & set(axis_overrides))
            if both:
                raise source.error(
                    f"points.{label} sets {both[0]!r}, which an axis also sets "
                    f"(line {source.line(*axis_origins[both[0]])}): set it in one place",
                    *point_origins[both[0]],
                )
            overrides = {**point_overrides, **axis_overrides}
            origins = {**point_origins, **axis_origins}
            name_of_config = config_name(axis_overrides)
            try:
                config = apply_overrides(base_config, overrides)
                _validate(config)
            except (ValueError, TypeError) as exc:
                first = next(iter(origins.values()), axes_at)
                where = f"{label}/{name_of_config}" if label else name_of_config
                raise source.error(f"invalid config {where}: {exc}", *first) from None
            if (label, name_of_config) in names:
                raise source.error(f"two points of the sweep give the same config {name_of_config}", *axes_at)
            names.add((label, name_of_config))
            static = {k: v for k, v in overrides.items() if not fields.is_vmappable(k)}
            vmapped = {k: v for k, v in overrides.items() if fields.is_vmappable(k)}
            group_label = config_name(static)
            if group_label not in groups:
                groups[group_label] = (apply_overrides(base_config, static), [])
            prefix = f"{label}/" if label else ""
            for seed in seeds:
                groups[group_label][1].append(
                    Trial(f"{prefix}{name_of_config}/seed={seed}", name_of_config, seed, overrides, vmapped, label)
                )

    split: list[Group] = []
    for group_label, (config, trials) in groups.items():
        chunk_size = max_group_size or len(trials)
        chunks = [trials[i : i + chunk_size] for i in range(0, len(trials), chunk_size)]
        for c, chunk in enumerate(chunks):
            chunk_label = group_label if len(chunks) == 1 else f"{group_label} [part {c + 1}/{len(chunks)}]"
            split.append(Group(len(split), chunk_label, config, tuple(chunk)))
    return SweepPlan(
        name=f"{name}-{size}" if size else name,
        source_path=filename,
        source_text=text,
        base_config=base_config,
        run_kwargs=run_kwargs,
        resources=resources,
        groups=tuple(split),
        algorithm=algorithm,
        size=size,
        points=tuple(label for label, _, _ in labelled if label is not None),
        experiment=experiment_settings,
    )

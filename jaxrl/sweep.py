"""Sweeps: a YAML file expanded into trials, folded into vmapped groups, run locally or on Ray.

A sweep file (see ``sweeps/example_cartpole.yaml``)::

    name: example_cartpole        # optional; the file's stem by default. Trials go to runs/<name>/
    base:                         # PPOConfig fields shared by every trial
      env: CartPole-v1
      total_timesteps: 20000
    run:                          # RunConfig fields (log_every, checkpoint_every, ...)
      log_every: 1
    axes:                         # combined as a cartesian product, block after block
      - grid:                     # cartesian product of these lists
          learning_rate: [1.0e-3, 3.0e-4]
          ent_coef: [0.0, 0.01]
      - zip:                      # lists of equal length, taken together
          num_envs: [4, 8]
          num_steps: [64, 32]
      - network: [mlp, gru]       # one key and its list: a one-key grid
      - list:                     # explicit points
          - {hidden_sizes: [64, 64]}
          - {hidden_sizes: [32], activation: relu}
    seeds: 3                      # seeds 0, 1, 2; or an explicit list [0, 7, 11]
    resources: {num_cpus: 1, num_gpus: 0}   # per group, for --backend ray
    max_group_size: 64            # optional: split larger groups (device memory)

``axes`` may also be a plain mapping, read as one ``grid``. Keys ``env_kwargs.<name>`` (and
``bonus_kwargs.<name>``) set one entry of a dict field.

Trials that differ only in their seed and in fields of ``PPOConfig.VMAPPABLE`` form one group and run
as one compiled, vmapped program (``jaxrl.run.run_trials``); groups run one after another
(``backend="local"``) or as Ray tasks (``backend="ray"``). Each trial lives in
``runs/<sweep>/<config>/seed=<n>/``; a trial whose ``status.json`` says done is never run again, so a
stopped or killed sweep started again runs only what is unfinished (and ``run.resume`` lets a half-run
group continue from its checkpoint). A failed trial is recorded with its error; by default it is not
retried (``retry_failed=True`` retries it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import itertools
import json
import re
import signal
import sys
import threading
import time
import traceback
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import tyro
import yaml

from jaxrl.run_folder import CONFIG_FILE, STATUS_FILE, read_status, write_status

TOP_LEVEL_KEYS = ("name", "description", "base", "run", "axes", "seeds", "resources", "max_group_size")
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")
MAX_NAME_LENGTH = 120
SWEEP_OWNED_RUN_KEYS = ("out", "num_seeds", "seed", "resume", "overwrite", "progress")
LOCK_FILE = ".lock"
PLAN_FILE = "sweep_plan.json"

TrialRunner = Callable[..., Mapping[str, Any]]


class SweepError(ValueError):
    """An invalid sweep file or an inconsistent sweep directory; the message names the file and line."""


# ---------------------------------------------------------------------------------------------------
# YAML with line numbers


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` (no dot) as a float, as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


@dataclasses.dataclass
class _Source:
    """The parsed file and the line of every mapping key and sequence item, by path."""

    path: str
    lines: dict[tuple, int]

    def line(self, *path: Any) -> int:
        path_t = tuple(path)
        while path_t and path_t not in self.lines:
            path_t = path_t[:-1]
        return self.lines.get(path_t, 1)

    def error(self, message: str, *path: Any) -> SweepError:
        return SweepError(f"{self.path}:{self.line(*path)}: {message}")


def _load_yaml(text: str, filename: str) -> tuple[Any, _Source]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise SweepError(f"{filename}:{line}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SweepError(f"{filename}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    source = _Source(filename, {(): 1})
    if node is not None:
        _record_lines(node, (), source)
    return data, source


def _record_lines(node: yaml.Node, path: tuple, source: _Source) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise SweepError(f"{source.path}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
            source.lines[path + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, path + (key,), source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            source.lines[path + (i,)] = item.start_mark.line + 1
            _record_lines(item, path + (i,), source)


# ---------------------------------------------------------------------------------------------------
# Config fields and value checking


def _training_api() -> tuple[type, type, type, TrialRunner]:
    """(PPOConfig, RunConfig, TrialSpec, run_trials), imported late: parsing a file needs no JAX."""
    from jaxrl.ppo import PPOConfig
    from jaxrl.run import RunConfig, TrialSpec, run_trials

    return PPOConfig, RunConfig, TrialSpec, run_trials


def _field_types(cls: type) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: accept any value, the config's own checks still run
        hints = {}
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def _coerce(value: Any, tp: Any) -> Any:
    """`value` converted to field type `tp` (int -> float, list -> tuple), or TypeError."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        if value not in args:
            raise TypeError(f"must be one of {list(args)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _coerce(value, option)
            except TypeError:
                continue
        raise TypeError(f"got {value!r}, which matches none of {tp}")
    if tp is type(None):
        if value is not None:
            raise TypeError(f"must be null, got {value!r}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError(f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise TypeError(f"must be a string, got {value!r}")
        return value
    if origin is tuple or tp is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError(f"must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        if args and len(args) != len(value):
            raise TypeError(f"must have {len(args)} entries, got {value!r}")
        return tuple(_coerce(v, a) for v, a in zip(args, value, strict=True)) if args else tuple(value)
    if origin is dict or tp is dict or origin is Mapping:
        if not isinstance(value, dict):
            raise TypeError(f"must be a mapping, got {value!r}")
        return dict(value)
    return value


@dataclasses.dataclass(frozen=True)
class _Fields:
    """What a sweep may set: config fields (with their types) and which of them are vmappable."""

    config_types: dict[str, Any]
    vmappable: frozenset[str]

    def check_key(self, key: Any, source: _Source, *path: Any) -> None:
        if not isinstance(key, str):
            raise source.error(f"config key must be a string, got {key!r}", *path)
        field, _, entry = key.partition(".")
        if field == "seed":
            raise source.error(
                "'seed' is not a config key: list the seeds under the top-level 'seeds:'", *path
            )
        if field not in self.config_types:
            raise source.error(
                f"unknown config key {field!r}; PPOConfig fields are: {', '.join(sorted(self.config_types))}",
                *path,
            )
        if entry:
            tp = self.config_types[field]
            if not (tp is dict or typing.get_origin(tp) in (dict, Mapping)):
                raise source.error(
                    f"{key!r}: only dict fields take a dotted key, and {field!r} is not one", *path
                )

    def coerce(self, key: str, value: Any, source: _Source, *path: Any) -> Any:
        if "." in key:
            return value
        try:
            return _coerce(value, self.config_types[key])
        except TypeError as exc:
            raise source.error(f"{key}: {exc}", *path) from None

    def is_vmappable(self, key: str) -> bool:
        return key in self.vmappable


def _apply(config: Any, overrides: Mapping[str, Any]) -> Any:
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


# ---------------------------------------------------------------------------------------------------
# The plan: trials and groups


@dataclasses.dataclass(frozen=True)
class Trial:
    name: str  # "<config_name>/seed=<seed>", also its directory under runs/<sweep>/
    config_name: str
    seed: int
    overrides: dict[str, Any]  # every axis value of this trial, static and vmappable
    vmapped: dict[str, float]  # the vmappable part: what the runner receives as TrialSpec.overrides


@dataclasses.dataclass(frozen=True)
class Group:
    index: int
    label: str  # the static overrides, "num_envs=8" ("base" when none)
    config: Any  # PPOConfig with the static overrides; vmappable fields at their base values
    trials: tuple[Trial, ...]

    @property
    def batch_axes(self) -> list[str]:
        keys = sorted({k for t in self.trials for k in t.vmapped})
        return keys + (["seed"] if len({t.seed for t in self.trials}) > 1 else [])


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    name: str
    source_path: str
    source_text: str
    base_config: Any
    run_kwargs: dict[str, Any]
    resources: dict[str, float]
    groups: tuple[Group, ...]

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


def _config_name(overrides: Mapping[str, Any]) -> str:
    if not overrides:
        return "base"
    name = ",".join(f"{k}={_format_value(v)}" for k, v in overrides.items())
    if len(name) > MAX_NAME_LENGTH:
        digest = hashlib.sha1(json.dumps(overrides, sort_keys=True, default=str).encode()).hexdigest()
        name = f"cfg-{digest[:10]}"
    return name


def _expand_axes(
    axes: Any, fields: _Fields, source: _Source
) -> list[tuple[dict[str, Any], dict[str, tuple]]]:
    """Points of the sweep: (overrides, path of each key for error messages)."""
    if axes is None:
        return [({}, {})]
    if isinstance(axes, dict):
        blocks: list[tuple[str, Any, tuple]] = [("grid", axes, ("axes",))]
    elif isinstance(axes, list):
        blocks = []
        for i, block in enumerate(axes):
            if not isinstance(block, dict) or len(block) != 1:
                raise source.error(
                    "each entry of 'axes' is one of {grid: {...}}, {zip: {...}}, {list: [...]} "
                    "or {key: [values]}",
                    "axes",
                    i,
                )
            ((kind, body),) = block.items()
            if kind in ("grid", "zip", "list"):
                blocks.append((kind, body, ("axes", i, kind)))
            else:
                blocks.append(("grid", {kind: body}, ("axes", i)))
    else:
        raise source.error("'axes' must be a list of blocks or a mapping of key: [values]", "axes")

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
                    raise source.error(
                        f"{key}: an axis needs a non-empty list of values, got {vals!r}", *path, key
                    )
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
                            f"key {key!r} appears in two axes "
                            f"(first at line {source.line(*key_origin[key])})",
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


def _parse_seeds(seeds: Any, source: _Source) -> list[int]:
    if seeds is None:
        return [0]
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise source.error(f"seeds: a count must be at least 1, got {seeds}", "seeds")
        return list(range(seeds))
    if (
        isinstance(seeds, list)
        and seeds
        and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        if len(set(seeds)) != len(seeds):
            raise source.error(f"seeds: repeated seed in {seeds}", "seeds")
        return list(seeds)
    raise source.error(
        f"seeds: give a count (3) or a non-empty list of integers ([0, 7]), got {seeds!r}", "seeds"
    )


def load_plan(path: str | Path, config_cls: type | None = None, run_cls: type | None = None) -> SweepPlan:
    """Parse and check a sweep file and expand it into groups of trials. Raises SweepError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SweepError(f"{path}: cannot read the sweep file: {exc.strerror}") from None
    return parse_plan(text, str(path), config_cls=config_cls, run_cls=run_cls)


def parse_plan(
    text: str, filename: str, config_cls: type | None = None, run_cls: type | None = None
) -> SweepPlan:
    if config_cls is None or run_cls is None:
        default_config, default_run, _, _ = _training_api()
        config_cls = config_cls or default_config
        run_cls = run_cls or default_run
    data, source = _load_yaml(text, filename)
    if data is None or data == {}:
        raise source.error(
            "the sweep file is empty; it needs at least 'base:' (the PPOConfig fields of every trial), "
            "see sweeps/example_cartpole.yaml"
        )
    if not isinstance(data, dict):
        raise source.error("a sweep file is a mapping with keys " + ", ".join(TOP_LEVEL_KEYS))
    if "experiment" in data:
        raise source.error(
            f"this file describes an experiment read by {data['experiment']}, not a `jaxrl sweep` of PPO runs; "
            f"run `python {data['experiment']} --quick` (or without --quick for the full size)",
            "experiment",
        )
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise source.error(f"unknown top-level key {key!r}; allowed: {', '.join(TOP_LEVEL_KEYS)}", key)

    name = data.get("name", Path(filename).stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise source.error(f"name: use letters, digits, '.', '_' and '-', got {name!r}", "name")

    fields = _Fields(_field_types(config_cls), frozenset(getattr(config_cls, "VMAPPABLE", frozenset())))

    base = data.get("base") or {}
    if not isinstance(base, dict):
        raise source.error("'base' must be a mapping of config fields", "base")
    for key in base:
        fields.check_key(key, source, "base", key)
    base_values = {k: fields.coerce(k, v, source, "base", k) for k, v in base.items()}
    try:
        base_config = _apply(config_cls(), base_values)
        _validate(base_config)
    except (ValueError, TypeError) as exc:
        raise source.error(f"invalid base config: {exc}", "base") from None

    run_kwargs = data.get("run") or {}
    if not isinstance(run_kwargs, dict):
        raise source.error("'run' must be a mapping of RunConfig fields", "run")
    run_types = _field_types(run_cls)
    for key, value in run_kwargs.items():
        if key in SWEEP_OWNED_RUN_KEYS:
            raise source.error(f"run.{key} is set by the sweep itself; remove it", "run", key)
        if key not in run_types:
            raise source.error(
                f"unknown run key {key!r}; RunConfig fields are: {', '.join(sorted(run_types))}", "run", key
            )
        try:
            run_kwargs[key] = _coerce(value, run_types[key])
        except TypeError as exc:
            raise source.error(f"run.{key}: {exc}", "run", key) from None
    try:
        run_cls(**run_kwargs)
    except (TypeError, ValueError) as exc:
        raise source.error(f"invalid run settings: {exc}", "run", *list(run_kwargs)[:1]) from None

    resources = data.get("resources") or {}
    if not isinstance(resources, dict):
        raise source.error("'resources' must be a mapping like {num_cpus: 1, num_gpus: 0}", "resources")
    for key, value in resources.items():
        if key not in RESOURCE_KEYS:
            raise source.error(
                f"unknown resource {key!r}; allowed: {', '.join(RESOURCE_KEYS)}", "resources", key
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise source.error(f"resources.{key} must be a number >= 0, got {value!r}", "resources", key)
    resources = {"num_cpus": 1, "num_gpus": 0, **resources}

    max_group_size = data.get("max_group_size")
    if max_group_size is not None and (not isinstance(max_group_size, int) or max_group_size < 1):
        raise source.error(
            f"max_group_size must be a positive integer, got {max_group_size!r}", "max_group_size"
        )

    seeds = _parse_seeds(data.get("seeds"), source)
    points = _expand_axes(data.get("axes"), fields, source)

    groups: dict[str, tuple[Any, list[Trial]]] = {}
    names: dict[str, tuple] = {}
    for overrides, origins in points:
        static = {k: v for k, v in overrides.items() if not fields.is_vmappable(k)}
        vmapped = {k: v for k, v in overrides.items() if fields.is_vmappable(k)}
        try:
            config = _apply(base_config, overrides)
            _validate(config)
        except (ValueError, TypeError) as exc:
            first = next(iter(origins.values()), ("axes",))
            raise source.error(f"invalid config {_config_name(overrides)}: {exc}", *first) from None
        config_name = _config_name(overrides)
        if config_name in names:
            raise source.error(f"two points of the sweep give the same config {config_name}", "axes")
        names[config_name] = tuple(overrides)
        label = _config_name(static)
        if label not in groups:
            groups[label] = (_apply(base_config, static), [])
        for seed in seeds:
            groups[label][1].append(
                Trial(f"{config_name}/seed={seed}", config_name, seed, overrides, vmapped)
            )

    split: list[Group] = []
    for label, (config, trials) in groups.items():
        size = max_group_size or len(trials)
        chunks = [trials[i : i + size] for i in range(0, len(trials), size)]
        for c, chunk in enumerate(chunks):
            chunk_label = label if len(chunks) == 1 else f"{label} [part {c + 1}/{len(chunks)}]"
            split.append(Group(len(split), chunk_label, config, tuple(chunk)))
    return SweepPlan(name, filename, text, base_config, run_kwargs, resources, tuple(split))


# ---------------------------------------------------------------------------------------------------
# Trial status on disk


def _config_record(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def _check_and_write_plan(plan: SweepPlan, sweep_dir: Path) -> None:
    """Refuse to reuse a trial directory for a different configuration; record the plan."""
    trials = {
        t.name: {
            "group": g.index,
            "config_name": t.config_name,
            "seed": t.seed,
            "overrides": t.overrides,
            "config": _config_record(_apply(g.config, t.vmapped)),
        }
        for g in plan.groups
        for t in g.trials
    }
    trials = json.loads(json.dumps(trials, default=str))
    plan_file = sweep_dir / PLAN_FILE
    if plan_file.exists():
        try:
            previous = json.loads(plan_file.read_text()).get("trials", {})
        except ValueError:
            previous = {}
        for name, record in trials.items():
            old = previous.get(name)
            if (
                old is not None
                and old["config"] != record["config"]
                and read_status(sweep_dir / name) is not None
            ):
                changed = sorted(k for k in record["config"] if old["config"].get(k) != record["config"][k])
                raise SweepError(
                    f"{sweep_dir / name} was run with a different configuration "
                    f"(changed: {', '.join(changed)}); "
                    f"give the sweep a new 'name:' or remove {sweep_dir}"
                )
        trials = {**previous, **trials}
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "sweep.yaml").write_text(plan.source_text)
    tmp = sweep_dir / (PLAN_FILE + ".tmp")
    tmp.write_text(json.dumps({"name": plan.name, "source": plan.source_path, "trials": trials}, indent=1))
    tmp.replace(plan_file)


# ---------------------------------------------------------------------------------------------------
# Running a group (in this process or in a Ray worker)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def trial_locks(specs: Sequence[Any], log: Callable[[str], None] = print):
    """Hold an exclusive ``flock`` on ``<trial>/.lock`` of every trial while it runs, so that a task of
    an earlier run that is still going (a killed driver's Ray task) and a rerun never write one trial at
    once: the rerun waits for it. The OS drops the lock when its holder ends, even by ``kill -9``."""
    handles = []
    try:
        for spec in sorted(specs, key=lambda s: str(s.out_dir)):
            folder = Path(spec.out_dir)
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(folder / LOCK_FILE, "a")  # noqa: SIM115 - held until the group ends
            handles.append(handle)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"waiting for {folder}: a task of an earlier run of this sweep still writes it")
                fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        for handle in handles:
            handle.close()


def run_group(
    runner: TrialRunner, config: Any, specs: Sequence[Any], run_config: Any
) -> dict[str, tuple[str, str | None]]:
    """Run one group with `runner` and make sure every trial ends with a status.json.

    The trials are locked while they run (``trial_locks``); a trial that an earlier run's task finished
    while this one waited for its lock is not run again. An exception from the runner fails the trials
    of this group that it left unfinished, with the error and traceback, and is not re-raised, so the
    other groups go on. KeyboardInterrupt and SystemExit pass through: a stopped sweep leaves the trial
    unfinished, to be resumed.
    """
    with trial_locks(specs):
        todo = [spec for spec in specs if read_status(Path(spec.out_dir)) is None]
        outcomes: Mapping[str, Any] = {}
        if todo:
            try:
                outcomes = runner(config, todo, run_config) or {}
            except Exception as exc:  # noqa: BLE001 - recorded per trial, the sweep goes on
                trace = traceback.format_exc()
                for spec in todo:
                    if read_status(Path(spec.out_dir)) is None:
                        write_status(Path(spec.out_dir), "failed", _error_text(exc), traceback=trace)
        results: dict[str, tuple[str, str | None]] = {}
        for spec in specs:
            out_dir = Path(spec.out_dir)
            status = read_status(out_dir)
            if status is None:
                outcome = outcomes.get(spec.name)
                if outcome is None:
                    write_status(out_dir, "failed", "the trial runner returned no outcome for this trial")
                else:
                    write_status(out_dir, outcome.status, outcome.error)
                status = read_status(out_dir)
            results[spec.name] = (status["status"], status.get("error"))
    return results


def _check_started_trials(jobs: list[tuple[Group, list[Any]]], run_config: Any) -> None:
    """Refuse, before running anything, to continue a started trial with settings that change it."""
    for group, specs in jobs:
        wanted = _config_record(group.config)
        for spec in specs:
            path = Path(spec.out_dir) / CONFIG_FILE
            if not path.exists():
                continue
            try:
                record = json.loads(path.read_text())
            except ValueError as exc:
                raise SweepError(
                    f"{path} is not valid JSON ({exc}); remove {path.parent} to run that trial again"
                ) from None
            saved = record.get("config") or {}
            changed = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
            if record.get("seed", spec.seed) != spec.seed:
                changed.append("seed")
            overrides = json.loads(json.dumps(spec.overrides, default=str))
            if (record.get("overrides") or {}) != overrides:
                changed.append("overrides")
            saved_run = record.get("run") or {}
            for key in ("log_every",):
                if key in saved_run and saved_run[key] != getattr(run_config, key, saved_run[key]):
                    changed.append(f"run.{key}")
            if changed:
                raise SweepError(
                    f"{path.parent} was started with other settings (changed: {', '.join(changed)}); "
                    f"give the sweep a new 'name:' or remove {path.parent}"
                )


# ---------------------------------------------------------------------------------------------------
# The sweep


@dataclasses.dataclass
class SweepResult:
    sweep_dir: Path
    statuses: dict[str, str]  # trial name -> "done" | "failed" (after this run)
    ran: list[str]  # trials run by this call
    skipped: list[str]  # trials already finished before this call

    def count(self, status: str) -> int:
        return sum(s == status for s in self.statuses.values())


def format_plan(plan: SweepPlan, sweep_dir: Path | None = None) -> str:
    """The trials of a plan by group, with their current status if `sweep_dir` is given."""
    lines = [f"sweep {plan.name}: {len(plan.trials)} trials in {len(plan.groups)} groups"]
    if sweep_dir is not None:
        lines[0] += f" (out: {sweep_dir})"
    for group in plan.groups:
        axes = ", ".join(group.batch_axes) or "nothing"
        lines.append(f"group {group.index} [{group.label}]: {len(group.trials)} trials, vmapped over {axes}")
        for trial in group.trials:
            state = ""
            if sweep_dir is not None:
                status = read_status(sweep_dir / trial.name)
                started = (sweep_dir / trial.name / "metrics.jsonl").exists()
                state = status["status"] if status else ("started" if started else "pending")
            lines.append(f"  {trial.name:<60} {state}".rstrip())
    return "\n".join(lines)


def run_sweep(
    plan_or_path: SweepPlan | str | Path,
    *,
    backend: Literal["local", "ray"] = "local",
    address: str | None = None,
    out_root: str | Path = "runs",
    runner: TrialRunner | None = None,
    retry_failed: bool = False,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    run_overrides: Mapping[str, Any] | None = None,
) -> SweepResult:
    """Run every unfinished trial of a sweep, group after group (local) or as Ray tasks (ray).

    `runner(config, trial_specs, run_config) -> {name: outcome}` runs one group; by default
    ``jaxrl.run.run_trials``. Tests pass a cheap fake with the same contract. ``run_overrides``
    replaces fields of the file's ``run:`` section (the command line's logger options).
    """
    _, run_cls, spec_cls, default_runner = _training_api()
    runner = runner or default_runner
    plan = plan_or_path if isinstance(plan_or_path, SweepPlan) else load_plan(plan_or_path)
    sweep_dir = Path(out_root) / plan.name
    run_fields = {f.name for f in dataclasses.fields(run_cls)}
    run_kwargs = {**plan.run_kwargs, **(run_overrides or {})}
    if "resume" in run_fields:
        run_kwargs["resume"] = True
    if "progress" in run_fields:
        run_kwargs["progress"] = progress
    run_config = run_cls(**run_kwargs)

    jobs: list[tuple[Group, list[Any]]] = []
    skipped: list[str] = []
    retried: list[Path] = []
    for group in plan.groups:
        pending = []
        for trial in group.trials:
            status = read_status(sweep_dir / trial.name)
            if status is None or (retry_failed and status["status"] == "failed"):
                if status is not None:
                    retried.append(sweep_dir / trial.name / STATUS_FILE)
                pending.append(spec_cls(trial.name, trial.seed, dict(trial.vmapped), sweep_dir / trial.name))
            else:
                skipped.append(trial.name)
        if pending:
            jobs.append((group, pending))
    _check_started_trials(jobs, run_config)  # before anything is written
    _check_and_write_plan(plan, sweep_dir)
    for path in retried:
        path.unlink()
    log(
        f"sweep {plan.name}: {len(plan.trials)} trials, {len(skipped)} already finished, "
        f"{sum(len(p) for _, p in jobs)} to run in {len(jobs)} groups ({backend}) -> {sweep_dir}"
    )

    resources = dict(plan.resources)
    if num_cpus is not None:
        resources["num_cpus"] = num_cpus
    if num_gpus is not None:
        resources["num_gpus"] = num_gpus

    if backend == "local":
        results = _run_local(jobs, runner, run_config, log)
    elif backend == "ray":
        results = _run_ray(jobs, runner, run_config, resources, address, log)
    else:
        raise SweepError(f"unknown backend {backend!r}; choose 'local' or 'ray'")

    statuses = {}
    for trial in plan.trials:
        status = read_status(sweep_dir / trial.name)
        statuses[trial.name] = status["status"] if status else "unfinished"
    result = SweepResult(sweep_dir, statuses, sorted(results), skipped)
    log(f"sweep {plan.name}: {result.count('done')} done, {result.count('failed')} failed -> {sweep_dir}")
    for name, (status, error) in sorted(results.items()):
        if status == "failed":
            log(f"  failed: {name}: {error}")
    return result


def _describe(group: Group, specs: list[Any]) -> str:
    axes = ", ".join(group.batch_axes) or "nothing"
    return f"group {group.index} [{group.label}] ({len(specs)} trials, vmapped over {axes})"


def _run_local(jobs, runner, run_config, log) -> dict[str, tuple[str, str | None]]:
    results: dict[str, tuple[str, str | None]] = {}
    for i, (group, specs) in enumerate(jobs):
        log(f"[{i + 1}/{len(jobs)}] {_describe(group, specs)}")
        start = time.perf_counter()
        outcome = run_group(runner, group.config, specs, run_config)
        failed = sum(s == "failed" for s, _ in outcome.values())
        log(f"[{i + 1}/{len(jobs)}] finished in {time.perf_counter() - start:.1f} s, {failed} failed")
        results.update(outcome)
    return results


def _run_ray(jobs, runner, run_config, resources, address, log) -> dict[str, tuple[str, str | None]]:
    try:
        import ray
    except ImportError:
        raise SweepError("--backend ray needs Ray: pip install 'jaxrl-research[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        # No address: a fresh local cluster on this machine ("local" never joins one found in /tmp/ray).
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=True)
    refs: dict[Any, tuple[Group, list[Any]]] = {}
    pending: list[Any] = []
    try:
        with _sigterm_as_exit():
            remote_group = ray.remote(run_group)
            options: dict[str, Any] = {"num_cpus": resources["num_cpus"], "num_gpus": resources["num_gpus"]}
            if resources.get("memory"):
                options["memory"] = resources["memory"]
            if 0 < resources["num_gpus"] < 1:
                # Several groups share a GPU: JAX must not grab most of its memory up front.
                options["runtime_env"] = {"env_vars": {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}}
            for group, specs in jobs:
                ref = remote_group.options(name=f"sweep-group-{group.index}", **options).remote(
                    runner, group.config, specs, run_config
                )
                refs[ref] = (group, specs)
                pending.append(ref)
                log(f"submitted {_describe(group, specs)}")
            results: dict[str, tuple[str, str | None]] = {}
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    group, specs = refs[ref]
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a crashed worker fails its group only
                        for spec in specs:
                            if read_status(Path(spec.out_dir)) is None:
                                write_status(Path(spec.out_dir), "failed", _error_text(exc))
                        outcome = {s.name: ("failed", _error_text(exc)) for s in specs}
                    failed = sum(s == "failed" for s, _ in outcome.values())
                    log(
                        f"finished group {group.index} [{group.label}], {failed} failed, "
                        f"{len(pending)} groups left"
                    )
                    results.update(outcome)
            return results
    finally:
        # A stopped driver (Ctrl-C, SIGTERM, an error) stops its tasks: none keeps writing after it.
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass
        if started_here:
            ray.shutdown()


@contextlib.contextmanager
def _sigterm_as_exit():
    """Turn SIGTERM into SystemExit while the block runs, so that ``finally`` clauses (cancelling Ray
    tasks) run when the driver is terminated; Python's default SIGTERM skips them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------------------
# Command line


def sweep(
    path: tyro.conf.Positional[Path],
    backend: Literal["local", "ray"] = "local",
    address: str | None = None,
    dry_run: bool = False,
    out_root: Path = Path("runs"),
    retry_failed: bool = False,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    progress: bool = True,
    tensorboard: bool = False,
    wandb: bool = False,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_group: str | None = None,
) -> int:
    """Run a sweep file: every unfinished trial, vmapped groups one after another or as Ray tasks.

    Args:
        path: the sweep file (sweeps/<study>.yaml).
        backend: "local" runs the groups in this process; "ray" runs each group as a Ray task.
        address: Ray cluster to join (e.g. 10.0.0.1:6379 or "auto"); without it Ray starts a local cluster.
        dry_run: list the trials and their groups (and status) without running anything.
        out_root: trials are written under <out_root>/<sweep name>/<config>/seed=<n>/.
        retry_failed: run failed trials again (by default they stay recorded as failed).
        num_cpus: CPUs requested per group on Ray (overrides the file's resources).
        num_gpus: GPUs requested per group on Ray (fractions share a GPU).
        progress: show progress bars.
        tensorboard: TensorBoard events in each trial's folder (also on with the file's run.tensorboard).
        wandb: one Weights & Biases run per trial (also on with the file's run.wandb).
        wandb_project: W&B project (default: the file's run.wandb_project, else jaxrl).
        wandb_entity: W&B entity (default: the file's, else your default entity).
        wandb_group: W&B group for every trial (default: <sweep>/<config>, grouping the seeds).

    Returns the exit status: 0 when every trial is done, 1 when some failed, 2 for an invalid file.
    """
    logger_options = dict(
        tensorboard=tensorboard or None,
        wandb=wandb or None,
        wandb_project=wandb_project,
        wandb_entity=wandb_entity,
        wandb_group=wandb_group,
    )
    try:
        plan = load_plan(path)
        if dry_run:
            print(format_plan(plan, Path(out_root) / plan.name))
            return 0
        result = run_sweep(
            plan,
            backend=backend,
            address=address,
            out_root=out_root,
            retry_failed=retry_failed,
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            progress=progress,
            run_overrides={k: v for k, v in logger_options.items() if v is not None},
        )
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only output folder, a full disk
        print(f"error: cannot write {exc.filename or out_root}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 1 if result.count("failed") else 0


def sweep_main(argv: Sequence[str] | None = None) -> int:
    """`jaxrl sweep ...`: parse `argv` (sys.argv[1:] if None) and run `sweep`; returns the exit status."""
    return tyro.cli(sweep, args=argv, prog="jaxrl sweep")


if __name__ == "__main__":
    sys.exit(sweep_main())

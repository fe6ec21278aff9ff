"""The command line: ``jaxrl train {ppo,rl2,barfi} ...``, ``jaxrl eval --run DIR``, ``jaxrl sweep FILE``,
``jaxrl report DIR``, ``jaxrl list envs|bonuses``. Each subcommand is a tyro CLI over its dataclasses
(or function), with a one-line help per option; booleans are ``--flag/--no-flag``."""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from collections.abc import Callable, Iterable
from pathlib import Path

import tyro

from jaxrl import algorithms
from jaxrl.checkpoints import CheckpointError
from jaxrl.ppo import PPOConfig
from jaxrl.run import (
    RunConfig,
    TrainingError,
    algorithm_of_record,
    config_from_dict,
    load_run_config,
    load_run_record,
    train_run,
)

USAGE = """usage: jaxrl {train,eval,sweep,report,list} ...

  jaxrl train ppo --env CartPole-v1 --total-timesteps 500000 --num-seeds 4 --out runs/cartpole
  jaxrl train rl2 --env StructuredBandit-K5 --memory trial --objective greedy --out runs/bandit
  jaxrl train barfi --env BARFI-GridWorld --method implicit --heuristic misleading --out runs/barfi
  jaxrl eval --run runs/cartpole [--episodes 32] [--greedy]
  jaxrl sweep sweeps/example_cartpole.yaml [--dry-run] [--backend local|ray]
  jaxrl report runs/example_cartpole
  jaxrl list envs|bonuses

Run `jaxrl <command> --help` for the options of a command."""

DEFAULT_ALGORITHM = "ppo"  # `jaxrl train --env ...` (options without a name) trains PPO


def train_usage() -> str:
    names = algorithms.registered()
    lines = [f"usage: jaxrl train {{{','.join(names)}}} [OPTIONS]", ""]
    lines += [f"  {name:6s} {algorithms.get(name).description}" for name in names]
    lines += [
        "",
        "  jaxrl train ppo --env CartPole-v1 --num-seeds 4 --out runs/cartpole",
        "",
        f"Options without an algorithm's name train {DEFAULT_ALGORITHM}. "
        "Run `jaxrl train NAME --help` for an algorithm's options.",
    ]
    return "\n".join(lines)

LIST_USAGE = """usage: jaxrl list {envs,bonuses}

  jaxrl list envs       the environment names envs.make accepts (and its name prefixes)
  jaxrl list bonuses    the exploration bonuses, with their options"""


@dataclasses.dataclass(frozen=True)
class TrainArgs:
    config: PPOConfig = PPOConfig()
    run: RunConfig = RunConfig()


def train_args_class(algorithm: algorithms.Algorithm) -> type:
    """`TrainArgs` with the algorithm's config class in place of PPO's."""
    if algorithm.config_cls is PPOConfig:
        return TrainArgs
    fields = [
        ("config", algorithm.config_cls, dataclasses.field(default=algorithm.config_cls())),
        ("run", RunConfig, dataclasses.field(default=RunConfig())),
    ]
    return dataclasses.make_dataclass(f"Train{algorithm.config_cls.__name__}Args", fields, frozen=True)


@dataclasses.dataclass(frozen=True)
class EvalArgs:
    run: str
    """A run folder written by `jaxrl train`."""
    episodes: int = 32
    """Episodes per seed."""
    greedy: bool = False
    """Act with the mode of the policy (argmax / mean) instead of sampling."""
    seed: int = 12345
    """Seed of the evaluation episodes (seed + i for the run's i-th seed)."""


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _is_help(argv: list[str]) -> bool:
    return any(a in ("-h", "--help") for a in argv)


# ---------------------------------------------------------------------------------------------------
# `--flag True` (the spelling before tyro's --flag/--no-flag), accepted for one release


def bool_flags(*sources: type | Callable) -> set[str]:
    """The ``--flag`` names (hyphenated) of the boolean fields of dataclasses, or parameters of
    functions, that tyro turns into ``--flag/--no-flag``."""
    names = set()
    for source in sources:
        hints = typing.get_type_hints(source, include_extras=False)
        if dataclasses.is_dataclass(source):
            fields: Iterable[str] = (f.name for f in dataclasses.fields(source))
        else:
            fields = inspect.signature(source).parameters
        names.update(name.replace("_", "-") for name in fields if hints.get(name) is bool)
    return names


def upgrade_bool_flags(argv: list[str], flags: set[str]) -> list[str]:
    """Rewrite ``--flag True`` / ``--flag=false`` into ``--flag`` / ``--no-flag``, with a deprecation
    message on stderr; anything else is left for tyro to parse (and to refuse)."""
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        name, eq, value = token.partition("=")
        flag = name[2:].replace("_", "-") if name.startswith("--") else ""
        if flag in flags:
            if not eq and i + 1 < len(argv) and argv[i + 1].lower() in ("true", "false"):
                value, i = argv[i + 1], i + 1
            if value.lower() in ("true", "false"):
                new = f"--{flag}" if value.lower() == "true" else f"--no-{flag}"
                print(
                    f"warning: `{name} {value}` is deprecated and will be refused in the next release; "
                    f"write `{new}`",
                    file=sys.stderr,
                )
                token = new
        out.append(token)
        i += 1
    return out


# ---------------------------------------------------------------------------------------------------
# Commands


def _os_error(err: OSError) -> str:
    """An OSError (a read-only folder, a full disk) as one line naming the file."""
    return f"cannot write {err.filename or 'a file'}: {err.strerror or err}"


TRAIN_DESCRIPTION = "Train {name}: --num-seeds seeds of one configuration as one compiled program. {description}"

# Saved RunConfig fields a resume takes from config.json when not given (progress is not one of them).
RESUMED_RUN_FIELDS = ("num_seeds", "seed", "log_every", "checkpoint_every", "tensorboard", "devices")


def _train_args(algorithm: algorithms.Algorithm, argv: list[str]) -> TrainArgs:
    """Parse `jaxrl train NAME` options. On ``--resume`` the options not given come from the run's
    ``config.json`` (not from the defaults), so that a resume continues the run it names."""
    args_cls = train_args_class(algorithm)
    cli = dict(
        args=argv,
        prog=f"jaxrl train {algorithm.name}",
        description=TRAIN_DESCRIPTION.format(name=algorithm.name, description=algorithm.description),
        config=(tyro.conf.OmitArgPrefixes,),
    )
    args = tyro.cli(args_cls, **cli)
    if not args.run.resume or not (Path(args.run.out) / "config.json").is_file():
        return args
    record = load_run_record(Path(args.run.out))
    saved = algorithm_of_record(record)
    if saved.name != algorithm.name:
        raise ValueError(f"cannot resume {args.run.out} with {algorithm.name}: it is a {saved.name} run")
    saved_run = {k: v for k, v in record.get("run", {}).items() if k in RESUMED_RUN_FIELDS}
    try:
        defaults = args_cls(
            config_from_dict(record["config"], algorithm.config_cls),
            dataclasses.replace(RunConfig(**saved_run), resume=True),
        )
    except (TypeError, ValueError) as err:
        raise ValueError(f"{Path(args.run.out) / 'config.json'}: {err}") from None
    return tyro.cli(args_cls, **cli, default=defaults)


def train_main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(train_usage())
        return 0
    if argv and argv[0].startswith("-"):
        argv = [DEFAULT_ALGORITHM, *argv]
    if not argv or argv[0] not in algorithms.registered():
        names = ", ".join(algorithms.registered())
        given = f" (got {argv[0]!r})" if argv else ""
        return _fail(f"`jaxrl train` needs an algorithm: one of {names}{given}, e.g. `jaxrl train ppo`")
    algorithm = algorithms.get(argv[0])
    try:
        args = _train_args(algorithm, upgrade_bool_flags(argv[1:], bool_flags(algorithm.config_cls, RunConfig)))
        outcomes = train_run(args.config, args.run)
    except (ValueError, FileNotFoundError, FileExistsError, TrainingError, ImportError, CheckpointError) as err:
        return _fail(str(err))
    except OSError as err:
        return _fail(_os_error(err))
    failed = {k: o.error for k, o in outcomes.items() if o.status != "done"}
    for name, outcome in outcomes.items():
        row = outcome.final_metrics or {}
        print(f"{name}: {outcome.status}, step {row.get('step')}, {algorithm.score} {row.get(algorithm.score)}")
    print(f"metrics: {Path(args.run.out) / 'metrics.jsonl'}")
    if failed:
        return _fail(f"{len(failed)} trial(s) failed: {failed}")
    return 0


def eval_main(argv: list[str]) -> int:
    import jax
    import numpy as np

    from jaxrl.checkpoints import restore_policy

    args = tyro.cli(
        EvalArgs,
        args=upgrade_bool_flags(argv, bool_flags(EvalArgs)),
        prog="jaxrl eval",
        description="Evaluate the latest checkpoint of a run folder, every seed.",
    )
    run_dir = Path(args.run)
    if not run_dir.is_dir():
        return _fail(f"run folder {run_dir} does not exist")
    if args.episodes < 1:
        return _fail(f"--episodes must be at least 1, got {args.episodes}")
    try:
        config = load_run_config(run_dir)
        record = load_run_record(run_dir)
        algorithm = algorithm_of_record(record)
        if algorithm.evaluate is None:
            return _fail(f"{run_dir} is a {algorithm.name} run: `jaxrl eval` has no evaluation for {algorithm.name}")
        num_seeds = len(record.get("trials") or []) or int(record.get("run", {}).get("num_seeds", 1))
        trainer = algorithm.make_train(config, 1)
        like = jax.eval_shape(
            jax.vmap(trainer.init_fn),
            jax.numpy.zeros((num_seeds, 2), jax.numpy.uint32),
            jax.tree.map(lambda x: jax.numpy.stack([x] * num_seeds), config.hyperparams()),
        )
        step, params, meta = restore_policy(run_dir / "checkpoints", like.params)
    except (FileNotFoundError, ValueError, CheckpointError) as err:
        return _fail(str(err))
    mode = "greedy" if args.greedy else "stochastic"
    names = meta.get("trials") or [f"seed {i}" for i in range(num_seeds)]
    failed = meta.get("failed") or {}
    all_returns = []
    for i in range(num_seeds):
        result = algorithm.evaluate(
            config, jax.tree.map(lambda x: x[i], params), jax.random.PRNGKey(args.seed + i), args.episodes, args.greedy
        )
        returns = result["episode_return"]
        all_returns.append(returns)
        note = f" [failed in training: {failed[names[i]]['error']}]" if names[i] in failed else ""
        print(
            f"seed {i}: return {returns.mean():.2f} +- {returns.std():.2f} over {args.episodes} {mode} "
            f"episodes (success {result['success'].mean():.2f}){note}"
        )
    returns = np.concatenate(all_returns)
    print(
        f"all: return mean {returns.mean():.2f}, std {returns.std():.2f}, min {returns.min():.2f}, "
        f"max {returns.max():.2f} (checkpoint at {step} environment steps)"
    )
    return 0


def sweep_main(argv: list[str]) -> int:
    from jaxrl import sweep

    return sweep.sweep_main(upgrade_bool_flags(argv, bool_flags(sweep.sweep)))


def report_main(argv: list[str]) -> int:
    from jaxrl import report

    return report.report_main(argv)


def list_main(argv: list[str]) -> int:
    if _is_help(argv):
        print(LIST_USAGE)
        return 0
    if len(argv) != 1 or argv[0] not in ("envs", "bonuses"):
        return _fail(f"`jaxrl list` takes `envs` or `bonuses`, got {' '.join(argv) or 'nothing'}\n{LIST_USAGE}")
    print(list_envs() if argv[0] == "envs" else list_bonuses())
    return 0


def list_envs() -> str:
    import envs
    from envs import registry

    lines = ["Environments (`--env NAME`, `envs.make(NAME)`):", *(f"  {name}" for name in envs.registered())]
    prefixes = sorted(getattr(registry, "_PREFIXES", {}))
    if prefixes:
        lines += ["Adapters (`--env PREFIX:ID`):", *(f"  {p}:<id>" for p in prefixes)]
    return "\n".join(lines)


def list_bonuses() -> str:
    from jaxrl.bonuses import BONUSES

    lines = ["Exploration bonuses (`--bonus NAME`, or two as 'a*b' / 'a+b'; options via `--bonus-kwargs KEY VALUE`):"]
    for name, cls in BONUSES.items():
        doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        lines.append(f"  {name}: {doc}")
        docs = field_docstrings(cls)
        for field in dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ():
            if field.init and not field.name.startswith("_"):
                default = field.default if field.default is not dataclasses.MISSING else "(required)"
                help_text = f"  {docs[field.name]}" if field.name in docs else ""
                lines.append(f"      {field.name}={default!r}{help_text}")
    return "\n".join(lines)


def field_docstrings(cls: type) -> dict[str, str]:
    """The docstring under each field of a class and of its bases (the convention tyro reads), by field
    name; a subclass's docstring wins."""
    import ast
    import textwrap

    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__[1:]):
        if base is not object:
            docs.update(field_docstrings(base))
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return docs
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


COMMANDS = {"train": train_main, "eval": eval_main, "sweep": sweep_main, "report": report_main, "list": list_main}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        return _fail(f"unknown command {command!r}\n{USAGE}")
    return COMMANDS[command](rest)


if __name__ == "__main__":
    sys.exit(main())

"""The command line: ``jaxrl train ppo ...``, ``jaxrl eval --run DIR``, ``jaxrl sweep FILE``,
``jaxrl report DIR``. Each subcommand is a tyro CLI over its dataclasses."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import tyro

from jaxrl.checkpoints import CheckpointError
from jaxrl.ppo import PPOConfig
from jaxrl.run import RunConfig, TrainingError, config_from_dict, load_run_record, train_run

USAGE = """usage: jaxrl {train,eval,sweep,report} ...

  jaxrl train ppo --env CartPole-v1 --total-timesteps 500000 --num-seeds 4 --out runs/cartpole
  jaxrl eval --run runs/cartpole [--episodes 32] [--greedy]
  jaxrl sweep sweeps/example_cartpole.yaml [--dry-run] [--backend local|ray]
  jaxrl report runs/example_cartpole

Run `jaxrl <command> --help` for the options of a command."""

ALGORITHMS = ("ppo",)


@dataclasses.dataclass(frozen=True)
class TrainArgs:
    config: PPOConfig = PPOConfig()
    run: RunConfig = RunConfig()


@dataclasses.dataclass(frozen=True)
class EvalArgs:
    run: str
    """A run folder written by `jaxrl train`."""
    episodes: int = 32
    greedy: bool = False
    """Act with the mode of the policy (argmax / mean) instead of sampling."""
    seed: int = 12345


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _os_error(err: OSError) -> str:
    """An OSError (a read-only folder, a full disk) as one line naming the file."""
    return f"cannot write {err.filename or 'a file'}: {err.strerror or err}"


# Saved RunConfig fields a resume takes from config.json when not given (progress is not one of them).
RESUMED_RUN_FIELDS = ("num_seeds", "seed", "log_every", "checkpoint_every", "tensorboard", "devices")


def _train_args(argv: list[str]) -> TrainArgs:
    """Parse `jaxrl train ppo` options. On ``--resume`` the options not given come from the run's
    ``config.json`` (not from the defaults), so that a resume continues the run it names."""
    config = (tyro.conf.OmitArgPrefixes, tyro.conf.FlagConversionOff)
    args = tyro.cli(TrainArgs, args=argv, prog="jaxrl train ppo", config=config)
    if not args.run.resume or not (Path(args.run.out) / "config.json").is_file():
        return args
    record = load_run_record(Path(args.run.out))
    saved_run = {k: v for k, v in record.get("run", {}).items() if k in RESUMED_RUN_FIELDS}
    try:
        defaults = TrainArgs(
            config_from_dict(record["config"]), dataclasses.replace(RunConfig(**saved_run), resume=True)
        )
    except (TypeError, ValueError) as err:
        raise ValueError(f"{Path(args.run.out) / 'config.json'}: {err}") from None
    return tyro.cli(TrainArgs, args=argv, prog="jaxrl train ppo", config=config, default=defaults)


def train_main(argv: list[str]) -> int:
    if not argv or argv[0] not in ALGORITHMS:
        return _fail(
            f"`jaxrl train` needs an algorithm: one of {', '.join(ALGORITHMS)}, e.g. `jaxrl train ppo`"
        )
    try:
        args = _train_args(argv[1:])
        outcomes = train_run(args.config, args.run)
    except (ValueError, FileNotFoundError, FileExistsError, TrainingError, ImportError, CheckpointError) as err:
        return _fail(str(err))
    except OSError as err:
        return _fail(_os_error(err))
    failed = {k: o.error for k, o in outcomes.items() if o.status != "done"}
    for name, outcome in outcomes.items():
        row = outcome.final_metrics or {}
        print(
            f"{name}: {outcome.status}, step {row.get('step')}, "
            f"episode_return_mean {row.get('episode_return_mean')}"
        )
    print(f"metrics: {Path(args.run.out) / 'metrics.jsonl'}")
    if failed:
        return _fail(f"{len(failed)} trial(s) failed: {failed}")
    return 0


def eval_main(argv: list[str]) -> int:
    import jax
    import numpy as np

    from jaxrl.checkpoints import restore_policy
    from jaxrl.evaluate import evaluate_policy
    from jaxrl.ppo import make_train
    from jaxrl.run import load_run_config

    args = tyro.cli(EvalArgs, args=argv, prog="jaxrl eval", config=(tyro.conf.FlagConversionOff,))
    run_dir = Path(args.run)
    if not run_dir.is_dir():
        return _fail(f"run folder {run_dir} does not exist")
    if args.episodes < 1:
        return _fail(f"--episodes must be at least 1, got {args.episodes}")
    try:
        config = load_run_config(run_dir)
        record = load_run_record(run_dir)
        num_seeds = len(record.get("trials") or []) or int(record.get("run", {}).get("num_seeds", 1))
        trainer = make_train(config)
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
        result = evaluate_policy(
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

    return sweep.sweep_main(argv)


def report_main(argv: list[str]) -> int:
    from jaxrl import report

    return report.report_main(argv)


COMMANDS = {"train": train_main, "eval": eval_main, "sweep": sweep_main, "report": report_main}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        return _fail(f"unknown command {command!r}\n{USAGE}")
    return COMMANDS[command](rest)


if __name__ == "__main__":
    sys.exit(main())

"""`jaxrl sweep FILE`: the command line of a sweep."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import tyro

from jaxrl.sweep.driver import format_plan, run_sweep
from jaxrl.sweep.plan import load_plan
from jaxrl.sweep.source import SweepError


def sweep(
    path: tyro.conf.Positional[Path],
    size: str | None = None,
    backend: Literal["local", "ray"] = "local",
    address: str | None = None,
    dry_run: bool = False,
    out_root: Path = Path("runs"),
    retry_failed: bool = False,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    progress: bool = True,
    compilation_cache: str | None = None,
    tensorboard: bool = False,
    wandb: bool = False,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_group: str | None = None,
) -> int:
    """Run a sweep file: every unfinished trial, vmapped groups one after another or as Ray tasks.

    Args:
        path: the sweep file (sweeps/<study>.yaml).
        size: one of the file's named sizes (quick, medium, full, ...); trials go to <name>-<size>/.
        backend: "local" runs the groups in this process; "ray" runs each group as a Ray task.
        address: Ray cluster to join (e.g. 10.0.0.1:6379 or "auto"); without it Ray starts a local cluster.
        dry_run: list the trials and their groups (and status) without running anything.
        out_root: trials are written under <out_root>/<sweep name>/[<label>/]<config>/seed=<n>/.
        retry_failed: run failed trials again (by default they stay recorded as failed).
        num_cpus: CPUs requested per group on Ray (overrides the file's resources).
        num_gpus: GPUs requested per group on Ray (fractions share a GPU).
        progress: show progress bars.
        compilation_cache: JAX's persistent compilation cache folder (default
            $JAXRL_COMPILATION_CACHE, else ~/.cache/jaxrl/jax_compilation_cache; "off" turns it off).
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
        plan = load_plan(path, size=size)
        if dry_run:
            print(format_plan(plan, Path(out_root) / plan.name))
            return 0
        from jaxrl.compile_cache import enable_compilation_cache

        enable_compilation_cache(compilation_cache)
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

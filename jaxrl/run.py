"""The training run: many trials of one configuration as one vmapped program, with a progress bar,
``metrics.jsonl`` per trial, orbax checkpoints, resume and NaN handling.

A *trial* is a seed plus overrides of vmappable hyperparameters. ``run_trials`` runs a group of trials
that share every static field; `jaxrl train` calls it with one trial per seed, and sweeps call it once
per group.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxrl.checkpoints import Checkpointer, has_checkpoint
from jaxrl.loggers import check_loggers_installed, close_loggers, open_trial_loggers
from jaxrl.ppo import PPOConfig, episode_means, make_train
from jaxrl.sharding import make_mesh, runner_state_shardings

TIMING_FIELDS = ("sps", "wall_time")  # the only metrics fields that differ between identical runs
LOSS_FIELDS = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How a run is driven from the host; none of these change the numbers it produces."""

    out: str = "runs/default"
    """The run folder: config.json, metrics.jsonl, status.json, checkpoints/ (and tensorboard/, wandb/)."""
    num_seeds: int = 1
    """Seeds trained together as one vmapped program: seed, seed + 1, ..."""
    seed: int = 0
    """The first seed."""
    log_every: int = 10
    """Updates per compiled chunk, which is one row of metrics.jsonl."""
    checkpoint_every: int = 10
    """Chunks between checkpoints (the last chunk is always saved)."""
    resume: bool = False
    """Continue the run in --out from its latest checkpoint."""
    progress: bool = True
    """Show a progress bar."""
    tensorboard: bool = False
    """Write TensorBoard events, one folder per trial (needs the tensorboard extra)."""
    devices: int = 1
    """Shard the environments over this many local devices (0: all of them)."""
    wandb: bool = False
    """Log every trial as a Weights & Biases run (needs the wandb extra; WANDB_MODE=offline works)."""
    wandb_project: str = "jaxrl"
    """W&B project."""
    wandb_entity: str | None = None
    """W&B entity (team or user); None: your default entity."""
    wandb_group: str | None = None
    """W&B group for every trial; None: the run folder's name (a sweep: <sweep>/<config>)."""


@dataclasses.dataclass(frozen=True)
class TrialSpec:
    name: str
    seed: int
    overrides: dict[str, float]
    out_dir: Path


@dataclasses.dataclass
class TrialOutcome:
    status: str  # "done" | "failed"
    error: str | None = None
    final_metrics: dict[str, Any] | None = None


class TrainingError(RuntimeError):
    """Raised when every trial of a run failed (for example NaN in a loss)."""


def config_to_dict(config: PPOConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, Any]) -> PPOConfig:
    fields = {f.name for f in dataclasses.fields(PPOConfig)}
    unknown = set(data) - fields
    if unknown:
        raise ValueError(f"unknown PPOConfig field(s) {sorted(unknown)}")
    data = dict(data)
    for name in ("hidden_sizes", "obs_keys"):
        if name in data:
            data[name] = tuple(data[name])
    return PPOConfig(**data)


def load_run_config(run_dir: Path) -> PPOConfig:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a run folder written by `jaxrl train`?")
    return config_from_dict(json.loads(path.read_text())["config"])


def _json_value(x: Any) -> Any:
    x = float(x) if np.ndim(x) == 0 else np.asarray(x).tolist()
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _group_dir(trials: list[TrialSpec]) -> Path:
    """Where a group keeps its checkpoints: the run folder when all trials share one, else a hidden
    folder named after the group under the trials' common parent."""
    dirs = sorted({Path(t.out_dir).absolute() for t in trials})
    if len(dirs) == 1:
        return dirs[0]
    names = "|".join(sorted(t.name for t in trials))
    return Path(os.path.commonpath(dirs)) / f".group-{hashlib.sha1(names.encode()).hexdigest()[:10]}"


class _MetricsFiles:
    """One ``metrics.jsonl`` per output folder, appended and flushed every chunk."""

    def __init__(self, trials: list[TrialSpec], keep_until_update: int | None):
        self._files: dict[Path, Any] = {}
        for out_dir in {t.out_dir for t in trials}:
            path = Path(out_dir) / "metrics.jsonl"
            lines = path.read_text().splitlines() if path.exists() else []
            if keep_until_update is None:
                lines = []
            else:  # resume: rows written after the checkpoint are produced again
                lines = [ln for ln in lines if json.loads(ln)["update"] <= keep_until_update]
            path.write_text("".join(ln + "\n" for ln in lines))
            self._files[Path(out_dir)] = path.open("a")

    def write(self, out_dir: Path, row: dict[str, Any]) -> None:
        f = self._files[Path(out_dir)]
        f.write(json.dumps(row) + "\n")
        f.flush()

    def close(self) -> None:
        for f in self._files.values():
            f.close()


def _write_status(out_dir: Path, outcomes: list[tuple[str, TrialOutcome]]) -> None:
    failed = {name: o.error for name, o in outcomes if o.status == "failed"}
    status = {
        "status": "failed" if failed else "done",
        "error": "; ".join(f"{k}: {v}" for k, v in failed.items()) or None,
        "trials": {name: o.status for name, o in outcomes},
    }
    (Path(out_dir) / "status.json").write_text(json.dumps(status, indent=2))


_PROGRAM_CACHE: collections.OrderedDict[tuple, tuple[Any, dict]] = collections.OrderedDict()
_PROGRAM_CACHE_SIZE = 8


def _programs_for(config: PPOConfig, updates_per_chunk: int) -> tuple[Any, dict]:
    """The trainer and its compiled programs for a configuration, kept for the process's later runs
    of the same configuration (a resume, a repeated run, sweep groups split by size), so that they
    do not compile again. Least recently used entries are dropped."""
    key = (make_train, json.dumps(config_to_dict(config), sort_keys=True, default=str), updates_per_chunk)
    if key in _PROGRAM_CACHE:
        _PROGRAM_CACHE.move_to_end(key)
    else:
        _PROGRAM_CACHE[key] = (make_train(config, updates_per_chunk=updates_per_chunk), {})
        while len(_PROGRAM_CACHE) > _PROGRAM_CACHE_SIZE:
            _PROGRAM_CACHE.popitem(last=False)
    return _PROGRAM_CACHE[key]


def run_trials(config: PPOConfig, trials: list[TrialSpec], run: RunConfig) -> dict[str, TrialOutcome]:
    """Train every trial of one group as one vmapped, chunked program.

    Writes ``config.json``, ``metrics.jsonl`` and ``status.json`` into each trial's ``out_dir`` and
    checkpoints the whole group. With ``run.resume`` an existing checkpoint is continued; the result
    is bitwise the same as an uninterrupted run.
    """
    if not trials:
        raise ValueError("run_trials needs at least one trial")
    names = [t.name for t in trials]
    if len(set(names)) != len(names):
        raise ValueError(f"trial names must be unique, got {names}")
    for trial in trials:
        config.hyperparams(**trial.overrides)  # refuses non-vmappable overrides with a clear message
    check_loggers_installed(run)

    trainer, programs = _programs_for(config, run.log_every)
    num_trials = len(trials)
    keys = jnp.stack([jax.random.PRNGKey(t.seed) for t in trials])
    hparams = jax.tree.map(lambda *xs: jnp.stack(xs), *[config.hyperparams(**t.overrides) for t in trials])
    init = programs.setdefault("init", jax.jit(jax.vmap(trainer.init_fn)))
    shardings = None

    def update(state, num_updates):
        key = (num_updates, run.devices)
        if key not in programs:
            chunk_fn = jax.vmap(functools.partial(trainer.update_fn, num_updates=num_updates))
            if shardings is None:
                programs[key] = jax.jit(chunk_fn)
            else:
                programs[key] = jax.jit(chunk_fn, in_shardings=(shardings,), out_shardings=(shardings, None))
        return programs[key](state)

    group_dir = _group_dir(trials)
    checkpoint_dir = group_dir / "checkpoints"
    for trial in trials:
        Path(trial.out_dir).mkdir(parents=True, exist_ok=True)
    if has_checkpoint(checkpoint_dir) and not run.resume:
        raise FileExistsError(
            f"{checkpoint_dir} already holds checkpoints; pass --resume to continue that run "
            f"or choose another --out"
        )
    for trial in trials:
        record = {
            "config": config_to_dict(config),
            "seed": trial.seed,
            "overrides": trial.overrides,
            "trial": trial.name,
            "run": {k: v for k, v in dataclasses.asdict(run).items()},
        }
        (Path(trial.out_dir) / "config.json").write_text(json.dumps(record, indent=2, default=str))

    checkpointer = Checkpointer(checkpoint_dir)
    state = init(keys, hparams)
    start_chunk = 0
    latest = checkpointer.latest_step() if run.resume else None
    if latest is not None:
        state = checkpointer.restore(latest, state)
        start_chunk = latest
    if run.devices != 1:
        mesh = make_mesh(run.devices)
        shardings = runner_state_shardings(state, mesh, config.num_envs)
        state = jax.device_put(state, shardings)
    metrics_files = _MetricsFiles(
        trials, keep_until_update=sum(trainer.chunk_lengths[:start_chunk]) if latest is not None else None
    )
    resume_step = sum(trainer.chunk_lengths[:start_chunk]) * config.batch_size if latest is not None else None
    loggers = open_trial_loggers(run, config, trials, resume_step)

    outcomes = {t.name: TrialOutcome("done") for t in trials}
    alive = np.ones(num_trials, bool)
    chunk_lengths = trainer.chunk_lengths
    progress = tqdm(
        total=config.num_updates * config.batch_size,
        initial=sum(chunk_lengths[:start_chunk]) * config.batch_size,
        unit="step",
        unit_scale=True,
        disable=not run.progress,
        dynamic_ncols=True,
        desc=f"{config.env} x{num_trials}",
    )
    start_time = time.perf_counter()
    if run.progress and start_chunk < trainer.num_chunks:
        progress.write(f"compiling {num_trials} trial(s) of {config.env} as one program (first chunk)...")
    try:
        for chunk in range(start_chunk, trainer.num_chunks):
            chunk_start = time.perf_counter()
            steps_per_chunk = chunk_lengths[chunk] * config.batch_size
            new_state, metrics = update(state, chunk_lengths[chunk])
            metrics = jax.device_get(metrics)
            elapsed = time.perf_counter() - chunk_start
            sps = steps_per_chunk * num_trials / max(elapsed, 1e-9)
            means = jax.device_get(episode_means(metrics))
            nan_now = ~np.isfinite(metrics["loss"]) & alive
            for i in np.flatnonzero(nan_now):
                outcomes[trials[i].name] = TrialOutcome(
                    "failed",
                    f"NaN in the loss at update {int(metrics['update'][i])} "
                    f"(chunk {chunk + 1}); the last good checkpoint is kept",
                )
            alive &= ~nan_now
            for i, trial in enumerate(trials):
                if not alive[i]:
                    continue
                row = {
                    "step": int(metrics["update"][i]) * config.batch_size,
                    "update": int(metrics["update"][i]),
                    "seed": trial.seed,
                    "trial": trial.name,
                    **trial.overrides,
                }
                row.update({k: _json_value(v[i]) for k, v in means.items()})
                row["episodes"] = int(metrics["episodes"][i])
                row.update(
                    {
                        k: _json_value(metrics[k][i])
                        for k in metrics
                        if k not in row and not k.endswith("_sum") and k not in ("update", "episodes")
                    }
                )
                row.update(sps=sps / num_trials, wall_time=time.perf_counter() - start_time)
                metrics_files.write(trial.out_dir, row)
                outcomes[trial.name].final_metrics = row
                loggers[trial.name].log(row["step"], row)
            if not alive.any():
                break
            state = new_state
            last = chunk + 1 == trainer.num_chunks
            if not nan_now.any() and ((chunk + 1) % run.checkpoint_every == 0 or last):
                checkpointer.save(chunk + 1, state)
            progress.update(steps_per_chunk)
            returns = means["episode_return_mean"][alive]
            if np.isfinite(returns).any():
                progress.set_postfix(sps=f"{sps:,.0f}", ret=f"{np.nanmean(returns):.3g}", refresh=False)
    finally:
        progress.close()
        metrics_files.close()
        checkpointer.close()
        close_loggers(loggers)
    for out_dir in {t.out_dir for t in trials}:
        _write_status(out_dir, [(t.name, outcomes[t.name]) for t in trials if t.out_dir == out_dir])
    if not alive.any():
        raise TrainingError("; ".join(f"{name}: {o.error}" for name, o in outcomes.items()))
    return outcomes


def train_run(config: PPOConfig, run: RunConfig) -> dict[str, TrialOutcome]:
    """`jaxrl train`: ``run.num_seeds`` seeds (``run.seed``, ``run.seed + 1``, ...) in one folder."""
    if run.num_seeds <= 0:
        raise ValueError(f"num_seeds must be positive, got {run.num_seeds}")
    out = Path(run.out)
    if run.resume and not (out / "config.json").is_file():
        raise FileNotFoundError(f"cannot resume: {out} is not a run folder (no config.json)")
    if run.resume:
        saved = load_run_config(out)
        if saved != config:
            raise ValueError(
                f"cannot resume {out} with a different configuration; it was trained with {saved}"
            )
    trials = [TrialSpec(f"seed={run.seed + i}", run.seed + i, {}, out) for i in range(run.num_seeds)]
    return run_trials(config, trials, run)

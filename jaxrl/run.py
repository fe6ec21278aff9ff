"""The training run: many trials of one configuration as one vmapped program, with a progress bar,
``metrics.jsonl`` per trial, orbax checkpoints, resume and NaN handling.

A *trial* is a seed plus overrides of vmappable hyperparameters. ``run_trials`` runs a group of trials
that share every static field; `jaxrl train` calls it with one trial per seed, and sweeps call it once
per group. It works for every registered algorithm (`jaxrl.algorithms`): the type of the config picks
the algorithm, whose ``make_train`` gives the programs and whose ``metric_rows`` the metrics rows.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import itertools
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxrl.algorithms import Algorithm, for_config
from jaxrl.algorithms import get as get_algorithm
from jaxrl.checkpoints import Checkpointer, CheckpointError, restore_latest
from jaxrl.loggers import check_loggers_installed, close_loggers, open_trial_loggers
from jaxrl.run_folder import (
    CONFIG_FILE,
    METRICS_FILE,
    RUN_FILES,
    RunFolderError,
    holds_run,
    read_json,
    read_metrics,
    warn,
    write_json_atomic,
    write_status,
    write_text_atomic,
)
from jaxrl.sharding import make_mesh, runner_state_shardings

TIMING_FIELDS = ("sps", "wall_time")  # the only metrics fields that differ between identical runs
LOSS_FIELDS = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How a run is driven from the host. ``seed``, ``num_seeds`` and ``log_every`` change what a run
    produces (resume refuses to change them); the others do not."""

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
    overwrite: bool = False
    """Delete the run already in --out (its files only) and start over."""
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

    def __post_init__(self) -> None:
        for name in ("num_seeds", "log_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.devices, bool) or not isinstance(self.devices, int) or self.devices < 0:
            raise ValueError(f"devices must be 0 (all) or a positive integer, got {self.devices!r}")
        if self.resume and self.overwrite:
            raise ValueError("resume and overwrite exclude each other: continue the run, or start it over")


# RunConfig fields that change the numbers or the files of a run: resume refuses to change them.
RESULT_RUN_FIELDS = ("seed", "num_seeds", "log_every")


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


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, Any], config_cls: type | None = None) -> Any:
    """A config from its ``dataclasses.asdict`` form (values coerced to the fields' types);
    ``config_cls`` defaults to PPO's."""
    from jaxrl import config_io

    return config_io.config_from_dict(config_cls or get_algorithm("ppo").config_cls, data)


def load_run_record(run_dir: Path) -> dict[str, Any]:
    """The ``config.json`` of a run folder; a one-line error naming the file when it is missing or
    damaged."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a run folder written by `jaxrl train`?")
    record = read_json(path)
    if not isinstance(record.get("config"), dict):
        raise RunFolderError(f"{path} has no 'config' object; it was not written by `jaxrl train`")
    return record


def algorithm_of_record(record: dict[str, Any]) -> Algorithm:
    """The algorithm a ``config.json`` record was written by (``ppo`` for folders older than the key)."""
    return get_algorithm(record.get("algorithm", "ppo"))


def load_run_config(run_dir: Path) -> Any:
    record = load_run_record(run_dir)
    try:
        return config_from_dict(record["config"], algorithm_of_record(record).config_cls)
    except (TypeError, ValueError) as err:
        raise RunFolderError(f"{Path(run_dir) / CONFIG_FILE}: {err}") from None


def _plain(x: Any) -> Any:
    """``x`` as it reads back from JSON (tuples become lists), for comparing with a saved record."""
    return json.loads(json.dumps(x, default=str))


def group_folder(trials: list[TrialSpec]) -> Path:
    """Where a group keeps its checkpoints: the run folder when all trials share one, else a hidden
    folder named after the group under the trials' common parent."""
    dirs = sorted({Path(t.out_dir).absolute() for t in trials})
    if len(dirs) == 1:
        return dirs[0]
    names = "|".join(sorted(t.name for t in trials))
    return Path(os.path.commonpath(dirs)) / f".group-{hashlib.sha1(names.encode()).hexdigest()[:10]}"


def trial_inputs(config: Any, seeds: list[int], overrides: list[dict[str, Any]]) -> tuple[jax.Array, Any]:
    """The stacked keys and hyperparameters a group's init starts from: the one seed convention (trial
    seed s starts from ``jax.random.PRNGKey(s)``) and each trial's vmapped overrides."""
    keys = jnp.stack([jax.random.PRNGKey(seed) for seed in seeds])
    hparams = jax.tree.map(lambda *xs: jnp.stack(xs), *[config.hyperparams(**o) for o in overrides])
    return keys, hparams


def _folder_record(config: Any, trials: list[TrialSpec], run: RunConfig) -> dict[str, Any]:
    """What ``config.json`` holds for a folder with these trials (the first one's seed, overrides and
    name also at the top level, as a sweep's one-trial folders are read)."""
    return _plain(
        {
            "algorithm": for_config(config).name,
            "config": config_to_dict(config),
            "seed": trials[0].seed,
            "overrides": trials[0].overrides,
            "trial": trials[0].name,
            "trials": [{"name": t.name, "seed": t.seed, "overrides": t.overrides} for t in trials],
            "run": dataclasses.asdict(run),
        }
    )


def resume_differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The settings that differ between a saved ``config.json`` record and the one a resume would
    write, as ``"name (saved X, given Y)"``: config fields, the trials, and RESULT_RUN_FIELDS."""
    diffs = []
    if saved.get("algorithm", "ppo") != wanted.get("algorithm", "ppo"):
        diffs.append(f"algorithm (saved {saved.get('algorithm', 'ppo')!r}, given {wanted.get('algorithm')!r})")
    saved_config, wanted_config = saved.get("config", {}), wanted["config"]
    for key in sorted(set(saved_config) | set(wanted_config)):
        if saved_config.get(key) != wanted_config.get(key):
            diffs.append(f"{key} (saved {saved_config.get(key)!r}, given {wanted_config.get(key)!r})")
    saved_run = saved.get("run", {})
    for key in RESULT_RUN_FIELDS:
        if key in saved_run and saved_run[key] != wanted["run"][key]:
            diffs.append(f"{key} (saved {saved_run[key]!r}, given {wanted['run'][key]!r})")
    if "trials" in saved and saved["trials"] != wanted["trials"] and not diffs:
        names = [t["name"] for t in saved["trials"]]
        diffs.append(f"trials (saved {names}, given {[t['name'] for t in wanted['trials']]})")
    return diffs


def _folders(trials: list[TrialSpec]) -> dict[Path, list[TrialSpec]]:
    folders: dict[Path, list[TrialSpec]] = {}
    for trial in trials:
        folders.setdefault(Path(trial.out_dir), []).append(trial)
    return folders


def check_run_folders(config: Any, trials: list[TrialSpec], run: RunConfig) -> None:
    """Refuse, before anything is written, to overwrite a run (without ``overwrite``) or to resume one
    with settings that change its results. Raises FileExistsError or ValueError naming the folder."""
    for folder, folder_trials in _folders(trials).items():
        present = holds_run(folder)
        if not present:
            continue
        if not run.resume:
            if run.overwrite:
                continue
            raise FileExistsError(
                f"{folder} already holds a run ({', '.join(present)}); pass --resume to continue it, "
                f"or --overwrite to delete it and start over (or choose another --out)"
            )
        if not (folder / CONFIG_FILE).exists():
            continue  # no record to compare (killed before writing it): nothing was trained
        saved = load_run_record(folder)
        diffs = resume_differences(saved, _folder_record(config, folder_trials, run))
        if diffs:
            raise ValueError(
                f"cannot resume {folder}: {'; '.join(diffs)} differ from its {CONFIG_FILE}; "
                f"leave those options out to use the saved values, or start a new run with another --out"
            )


def _remove_run(folder: Path) -> None:
    for name in RUN_FILES:
        path = Path(folder) / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


class _MetricsFiles:
    """One ``metrics.jsonl`` per output folder, appended and flushed every chunk."""

    def __init__(self, trials: list[TrialSpec], keep_until_update: int | None):
        self._files: dict[Path, Any] = {}
        for out_dir in {t.out_dir for t in trials}:
            path = Path(out_dir) / METRICS_FILE
            rows = []
            if keep_until_update is not None:  # resume: rows written after the checkpoint come again
                rows = [r for r in read_metrics(path, repair=True) if r.get("update", 0) <= keep_until_update]
            write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))
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
    write_status(
        out_dir,
        "failed" if failed else "done",
        "; ".join(f"{k}: {v}" for k, v in failed.items()) or None,
        trials={name: o.status for name, o in outcomes},
    )


_PROGRAM_CACHE: collections.OrderedDict[tuple, tuple[Any, dict]] = collections.OrderedDict()
_PROGRAM_CACHE_SIZE = 8


def _programs_for(algorithm: Algorithm, config: Any, updates_per_chunk: int) -> tuple[Any, dict]:
    """The trainer and its compiled programs for a configuration, kept for the process's later runs
    of the same configuration (a resume, a repeated run, sweep groups split by size), so that they
    do not compile again. Least recently used entries are dropped."""
    config_key = json.dumps(config_to_dict(config), sort_keys=True, default=str)
    key = (algorithm.name, algorithm.make_train, config_key, updates_per_chunk)
    if key in _PROGRAM_CACHE:
        _PROGRAM_CACHE.move_to_end(key)
    else:
        _PROGRAM_CACHE[key] = (algorithm.make_train(config, updates_per_chunk), {})
        while len(_PROGRAM_CACHE) > _PROGRAM_CACHE_SIZE:
            _PROGRAM_CACHE.popitem(last=False)
    return _PROGRAM_CACHE[key]


@jax.jit
def _finite_per_trial(params: Any) -> jax.Array:
    """Whether every parameter of each trial (leading axis) is finite."""
    leaves = [jnp.isfinite(x).reshape(x.shape[0], -1).all(axis=1) for x in jax.tree.leaves(params)]
    return functools.reduce(jnp.logical_and, leaves)


def _finite_loss(metrics: dict[str, Any]) -> np.ndarray:
    """Per trial: whether the chunk's ``loss`` is finite (True for algorithms that report none)."""
    loss = metrics.get("loss")
    return np.ones(len(metrics["update"]), bool) if loss is None else np.isfinite(loss)


def chunk_rows(algorithm: Algorithm, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """A chunk's metrics as one row per trial (the algorithm's ``metric_rows``); tests patch this
    function to stop a run between two chunks."""
    return algorithm.metric_rows(metrics)


@jax.jit
def _select(mask: jax.Array, a: Any, b: Any) -> Any:
    """Per trial (leading axis): ``a`` where ``mask``, else ``b``."""
    return jax.tree.map(lambda x, y: jnp.where(mask.reshape((-1,) + (1,) * (x.ndim - 1)), x, y), a, b)


def _first_non_finite(
    update, state: Any, num_updates: int, bad: np.ndarray, finite_leaves: Any
) -> tuple[np.ndarray, Any]:
    """Replay a chunk one update at a time from ``state`` to find, for each ``bad`` trial, the first
    update whose loss or parameters are not finite. Returns (its number, 0 when the replay did not
    reproduce it) and the state with each bad trial at its last finite update (others unchanged)."""
    first = np.zeros(len(bad), int)
    kept, current = state, state
    for _ in range(num_updates):
        nxt, metrics = update(current, 1)
        metrics = jax.device_get(metrics)
        finite = _finite_loss(metrics) & jax.device_get(_finite_per_trial(finite_leaves(nxt)))
        broken = bad & (first == 0) & ~finite
        if broken.any():
            first[broken] = np.asarray(metrics["update"])[broken]
            kept = _select(broken, current, kept)
        if (first[bad] > 0).all():
            break
        current = nxt
    return first, kept


def _failed_record(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(meta.get("failed") or {})


def run_trials(config: Any, trials: list[TrialSpec], run: RunConfig) -> dict[str, TrialOutcome]:
    """Train every trial of one group as one vmapped, chunked program of the algorithm whose config
    ``config`` is (`jaxrl.algorithms.for_config`).

    Writes ``config.json``, ``metrics.jsonl`` and ``status.json`` into each trial's ``out_dir`` and
    checkpoints the whole group. With ``run.resume`` an existing checkpoint is continued; the result
    is bitwise the same as an uninterrupted run. A trial whose loss or parameters turn non-finite is
    marked failed, naming the first such update, and keeps its last finite parameters (every later
    checkpoint holds them); the other trials go on.
    """
    if not trials:
        raise ValueError("run_trials needs at least one trial")
    names = [t.name for t in trials]
    if len(set(names)) != len(names):
        raise ValueError(f"trial names must be unique, got {names}")
    for trial in trials:
        config.hyperparams(**trial.overrides)  # refuses non-vmappable overrides with a clear message
        if trial.overrides:
            dataclasses.replace(config, **trial.overrides).validate()
    check_loggers_installed(run)
    algorithm = for_config(config)
    if run.devices != 1 and not hasattr(config, "num_envs"):
        raise ValueError(f"devices={run.devices}: {algorithm.name} has no environments to shard; use devices=1")

    trainer, programs = _programs_for(algorithm, config, run.log_every)  # validates the config
    bonus = getattr(config, "bonus", "none")
    unused = [t.name for t in trials if bonus != "none" and t.overrides.get("bonus_coef", config.bonus_coef) == 0]
    if unused:
        warn(
            f"bonus {config.bonus!r} is computed but never added to the reward: bonus_coef is 0 "
            f"for {', '.join(unused)} (give --bonus-coef, or --bonus none)"
        )
    check_run_folders(config, trials, run)
    num_trials = len(trials)
    keys, hparams = trial_inputs(config, [t.seed for t in trials], [t.overrides for t in trials])
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

    group_dir = group_folder(trials)
    checkpoint_dir = group_dir / "checkpoints"
    folders = _folders(trials)
    if run.overwrite:
        for folder in {*folders, group_dir}:
            if holds_run(folder):
                warn(f"--overwrite: deleting the run in {folder}")
                _remove_run(folder)
    for folder, folder_trials in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        if not (run.resume and (folder / CONFIG_FILE).exists()):  # a resume keeps the checked record
            write_json_atomic(folder / CONFIG_FILE, _folder_record(config, folder_trials, run))

    state = init(keys, hparams)
    batch_size = trainer.steps_per_update
    chunk_ends = list(itertools.accumulate(trainer.chunk_lengths))  # updates done after each chunk
    outcomes = {t.name: TrialOutcome("done") for t in trials}
    failed: dict[str, dict[str, Any]] = {}  # trial name -> error, first_bad_update, last_finite_update
    start_chunk = 0
    restored = restore_latest(checkpoint_dir, state) if run.resume else None
    if restored is not None:
        step, state, meta = restored
        failed = _failed_record(meta)
        if len(failed) < num_trials:
            updates = step // batch_size
            if updates not in chunk_ends:
                raise CheckpointError(
                    f"{checkpoint_dir / str(step)} is at {step} environment steps, not the end of a chunk of "
                    f"{run.log_every} updates of {batch_size} steps: was it written with another log_every?"
                )
            start_chunk = chunk_ends.index(updates) + 1
        else:
            start_chunk = trainer.num_chunks
        state = _keep_finite_on_resume(state, trials, failed, checkpoint_dir, step, algorithm.finite_leaves)
    alive = np.array([t.name not in failed for t in trials])
    for name, record in failed.items():
        outcomes[name] = TrialOutcome("failed", record["error"])
    if run.devices != 1:
        mesh = make_mesh(run.devices)
        shardings = runner_state_shardings(state, mesh, config.num_envs)
        state = jax.device_put(state, shardings)
    done_updates = chunk_ends[start_chunk - 1] if start_chunk else 0
    metrics_files = _MetricsFiles(trials, keep_until_update=done_updates if restored is not None else None)
    checkpointer = Checkpointer(checkpoint_dir)
    resume_step = done_updates * batch_size if restored is not None else None
    loggers = open_trial_loggers(run, config, trials, resume_step)

    def run_item(updates: int) -> dict[str, Any]:
        return {"env_steps": updates * batch_size, "update": updates, "trials": names, "failed": failed}

    chunk_lengths = trainer.chunk_lengths
    progress = tqdm(
        total=sum(chunk_lengths) * batch_size,
        initial=done_updates * batch_size,
        unit="step",
        unit_scale=True,
        disable=not run.progress,
        dynamic_ncols=True,
        desc=f"{config.env} x{num_trials}",
    )
    start_time = time.perf_counter()
    if run.progress and start_chunk < trainer.num_chunks and alive.any():
        progress.write(f"compiling {num_trials} trial(s) of {config.env} as one program (first chunk)...")
    try:
        for chunk in range(start_chunk, trainer.num_chunks):
            if not alive.any():
                break
            chunk_start = time.perf_counter()
            steps_per_chunk = chunk_lengths[chunk] * batch_size
            new_state, metrics = update(state, chunk_lengths[chunk])
            metrics = jax.device_get(metrics)
            elapsed = time.perf_counter() - chunk_start
            sps = steps_per_chunk * num_trials / max(elapsed, 1e-9)
            trial_rows = chunk_rows(algorithm, metrics)
            finite = _finite_loss(metrics) & jax.device_get(_finite_per_trial(algorithm.finite_leaves(new_state)))
            nan_now = alive & ~finite
            if nan_now.any():
                first, kept = _first_non_finite(update, state, chunk_lengths[chunk], nan_now, algorithm.finite_leaves)
                for i in np.flatnonzero(nan_now):
                    bad_update = int(first[i]) if first[i] else None
                    last_good = bad_update - 1 if bad_update else chunk_ends[chunk] - chunk_lengths[chunk]
                    where = (
                        f"at update {bad_update}"
                        if bad_update
                        else f"in updates {last_good + 1}-{chunk_ends[chunk]} (not reproduced one by one)"
                    )
                    kept_text = (
                        f"its parameters after update {last_good} are kept"
                        if last_good
                        else "no update gave finite parameters (its initial ones are kept)"
                    )
                    error = f"NaN or inf in the loss or parameters {where}; {kept_text}"
                    failed[trials[i].name] = {
                        "error": error,
                        "first_bad_update": bad_update,
                        "last_finite_update": last_good,
                    }
                    outcomes[trials[i].name] = TrialOutcome("failed", error)
                new_state = _select(alive & ~nan_now, new_state, kept)
            elif not alive.all():  # failed trials keep their last finite state
                new_state = _select(alive, new_state, state)
            if shardings is not None and not (alive & ~nan_now).all():
                new_state = jax.device_put(new_state, shardings)
            alive &= ~nan_now
            for i, trial in enumerate(trials):
                if not alive[i]:
                    continue
                row = {
                    "step": int(metrics["update"][i]) * batch_size,
                    "update": int(metrics["update"][i]),
                    "seed": trial.seed,
                    "trial": trial.name,
                    **trial.overrides,
                }
                row.update({k: v for k, v in trial_rows[i].items() if k not in row})
                row.update(sps=sps / num_trials, wall_time=time.perf_counter() - start_time)
                metrics_files.write(trial.out_dir, row)
                outcomes[trial.name].final_metrics = row
                loggers[trial.name].log(row["step"], row)
            state = new_state
            if not alive.any():
                # Every trial failed: keep their last finite parameters in one more checkpoint.
                last = max(f["last_finite_update"] or 0 for f in failed.values())
                checkpointer.save(last * batch_size, state, run_item(last))
                break
            last = chunk + 1 == trainer.num_chunks
            if (chunk + 1) % run.checkpoint_every == 0 or last:
                checkpointer.save(chunk_ends[chunk] * batch_size, state, run_item(chunk_ends[chunk]))
            progress.update(steps_per_chunk)
            scores = np.array([r.get(algorithm.score) for r in trial_rows], float)[alive]
            if np.isfinite(scores).any():
                progress.set_postfix(sps=f"{sps:,.0f}", ret=f"{np.nanmean(scores):.3g}", refresh=False)
    finally:
        progress.close()
        metrics_files.close()
        checkpointer.close()
        close_loggers(loggers)
    for out_dir, folder_trials in folders.items():
        _write_status(out_dir, [(t.name, outcomes[t.name]) for t in folder_trials])
    if not alive.any():
        raise TrainingError("; ".join(f"{name}: {o.error}" for name, o in outcomes.items()))
    return outcomes


def _keep_finite_on_resume(
    state: Any,
    trials: list[TrialSpec],
    failed: dict[str, dict[str, Any]],
    checkpoint_dir: Path,
    step: int,
    finite_leaves: Any,
) -> Any:
    """A checkpoint whose parameters are not finite for a trial not yet marked failed (damaged, or
    written by an older version): mark it failed and give it its newest finite parameters from an
    older checkpoint, if one has them."""
    broken = ~np.asarray(jax.device_get(_finite_per_trial(finite_leaves(state)))) & np.array(
        [t.name not in failed for t in trials]
    )
    if not broken.any():
        return state
    found: dict[int, int] = {}
    checkpointer = Checkpointer(checkpoint_dir, max_to_keep=None)
    try:
        for older in reversed([s for s in checkpointer.all_steps() if s < step]):
            try:
                old_state, _ = checkpointer.restore(older, state)
            except Exception:  # noqa: BLE001 - an unreadable older step just cannot help
                continue
            good = (
                broken
                & ~np.isin(np.arange(len(trials)), list(found))
                & np.asarray(jax.device_get(_finite_per_trial(finite_leaves(old_state))))
            )
            state = _select(good, old_state, state)
            found.update({int(i): older for i in np.flatnonzero(good)})
    finally:
        checkpointer.close()
    for i in np.flatnonzero(broken):
        older = found.get(int(i))
        kept = (
            f"its finite parameters of checkpoint step {older} are kept"
            if older is not None
            else "no checkpoint holds finite parameters for it"
        )
        error = f"the checkpoint at step {step} holds NaN or inf parameters for this trial; {kept}"
        warn(f"{trials[i].name}: {error}")
        failed[trials[i].name] = {"error": error, "first_bad_update": None, "last_finite_update": None}
    return state


def train_run(config: Any, run: RunConfig) -> dict[str, TrialOutcome]:
    """`jaxrl train`: ``run.num_seeds`` seeds (``run.seed``, ``run.seed + 1``, ...) in one folder."""
    out = Path(run.out)
    if run.resume and not (out / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"cannot resume: {out} is not a run folder (no {CONFIG_FILE})")
    trials = [TrialSpec(f"seed={run.seed + i}", run.seed + i, {}, out) for i in range(run.num_seeds)]
    return run_trials(config, trials, run)

"""Per-trial loggers: TensorBoard event files and Weights & Biases runs, behind one small interface.

Every trial of a run (a seed of `jaxrl train`, a trial of `jaxrl sweep`) gets its own logger, so
TensorBoard and W&B can overlay seeds and compare trials. A logger takes the rows that
``metrics.jsonl`` receives and writes them under grouped tags, as CleanRL names them:

- ``charts/``: ``episodic_return``, ``episodic_length``, ``success_rate``, ``episodes``,
  ``learning_rate``, ``SPS``, ``wall_time``;
- ``losses/``: the PPO loss terms (``loss``, ``policy_loss``, ``value_loss``, ``entropy``,
  ``approx_kl``, ``clip_fraction``);
- ``bonus/``: everything else the update reports (the exploration bonus's own metrics).

The x axis is environment steps. The resolved configuration (the config with the trial's
overrides, and its seed) is logged once, as text (``config``) and as hyperparameters (TensorBoard's
hparams plugin; W&B's run config).

Where files go: a trial that owns its folder (a sweep trial, ``<sweep>/<config>/seed=<n>/``) logs
to ``<folder>/tensorboard/``; trials that share a run folder (the seeds of `jaxrl train`) log to
``<run folder>/tensorboard/seed=<n>/``. `tensorboard --logdir runs/` finds them all. W&B writes
its local files under ``<folder>/wandb/``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

CHART_TAGS = {
    "episode_return_mean": "charts/episodic_return",
    "episode_length_mean": "charts/episodic_length",
    "success_rate": "charts/success_rate",
    "episodes": "charts/episodes",
    "learning_rate": "charts/learning_rate",
    "sps": "charts/SPS",
    "wall_time": "charts/wall_time",
}
LOSS_KEYS = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")  # jaxrl.losses
NOT_LOGGED = ("step", "update", "seed", "trial")  # the x axis and the trial's identity, not metrics
HPARAM_METRICS = ("charts/episodic_return", "charts/episodic_length", "charts/success_rate")
WANDB_IDS_FILE = "wandb_run_ids.json"


def tag_for(key: str) -> str:
    """The grouped tag of a metrics-row key."""
    if key in CHART_TAGS:
        return CHART_TAGS[key]
    if key in LOSS_KEYS:
        return f"losses/{key}"
    return f"bonus/{key}"


def scalars(row: Mapping[str, Any], skip: Sequence[str] = ()) -> dict[str, float]:
    """The row's finite numbers under their grouped tags (NaN and None, e.g. an episode mean over no
    episode, are left out)."""
    out = {}
    for key, value in row.items():
        if key in NOT_LOGGED or key in skip or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[tag_for(key)] = float(value)
    return out


def flat_hparams(record: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """A nested config as ``{dotted.name: scalar}``: dicts flattened, sequences and None as text."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, bool | int | float | str):
            out[name] = value
        else:
            out[name] = json.dumps(value, default=str)
    return out


def config_markdown(record: Mapping[str, Any]) -> str:
    """The resolved config as a markdown table (how CleanRL logs its hyperparameters)."""
    rows = "\n".join(f"|{k}|{v}|" for k, v in flat_hparams(record).items())
    return f"|param|value|\n|-|-|\n{rows}"


def trial_record(config: Any, trial: Any) -> dict[str, Any]:
    """The resolved configuration of one trial: the config with the trial's overrides, and its seed."""
    resolved = {**dataclasses.asdict(config), **dict(trial.overrides)}
    return json.loads(json.dumps({**resolved, "seed": trial.seed, "trial": trial.name}, default=str))


def _owns_folder(trial: Any) -> bool:
    """A sweep trial's folder ends with the trial's name; `jaxrl train`'s seeds share the run folder."""
    parts = tuple(trial.name.split("/"))
    return Path(trial.out_dir).parts[-len(parts) :] == parts


def trial_log_dir(trial: Any) -> Path:
    """Where the trial's TensorBoard events go (see the module docstring)."""
    if _owns_folder(trial):
        return Path(trial.out_dir) / "tensorboard"
    return Path(trial.out_dir) / "tensorboard" / trial.name


def _display_names(trial: Any) -> tuple[str, str]:
    """(W&B run name, W&B group): ``<run or sweep>/<trial>`` and ``<run or sweep>[/<config>]``, so
    that the seeds of one configuration form one group."""
    out_dir = Path(trial.out_dir).absolute()
    parts = trial.name.split("/")
    base = out_dir.parents[len(parts) - 1] if _owns_folder(trial) else out_dir
    group = "/".join([base.name, *parts[:-1]])
    return f"{base.name}/{trial.name}", group


class TrialLogger(Protocol):
    def log(self, step: int, row: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


class TensorBoardLogger:
    """One event-file directory per trial. Events an earlier process wrote past ``resume_step`` (all
    of them when the trial starts afresh) are purged with TensorBoard's ``purge_step``, so rows that
    a resumed run produces again do not appear twice."""

    def __init__(
        self, log_dir: Path, record: Mapping[str, Any], skip: Sequence[str] = (), resume_step: int | None = None
    ):
        from tensorboardX import SummaryWriter
        from tensorboardX.summary import hparams

        log_dir = Path(log_dir)
        had_events = log_dir.is_dir() and any(log_dir.glob("events.out.tfevents.*"))
        purge_step = (0 if resume_step is None else resume_step + 1) if had_events else None
        self.skip = tuple(skip)
        # A resume within the same second would reuse (and truncate) the file name tensorboardX picks
        # (seconds and host); a fixed-width nanosecond suffix keeps the files apart and in order.
        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step, filename_suffix=f".{time.time_ns():020d}")
        if purge_step in (None, 0):  # a resumed trial keeps the config it logged at step 0
            self.writer.add_text("config", config_markdown(record), 0)
            for summary in hparams(flat_hparams(record), dict.fromkeys(HPARAM_METRICS, 0.0)):
                self.writer.file_writer.add_summary(summary)
            self.writer.flush()

    def log(self, step: int, row: Mapping[str, Any]) -> None:
        for tag, value in scalars(row, self.skip).items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    """One W&B run per trial, with the resolved config attached. Its run id is kept in
    ``<folder>/wandb_run_ids.json`` so that a resumed trial continues the same W&B run."""

    def __init__(
        self,
        out_dir: Path,
        name: str,
        group: str,
        record: Mapping[str, Any],
        project: str,
        entity: str | None,
        skip: Sequence[str] = (),
        resume: bool = False,
    ):
        import wandb

        out_dir = Path(out_dir)
        ids_path = out_dir / WANDB_IDS_FILE
        ids = json.loads(ids_path.read_text()) if ids_path.is_file() else {}
        run_id = ids.get(name) if resume else None
        if run_id is None:
            run_id = secrets.token_hex(4)
            ids[name] = run_id
            ids_path.write_text(json.dumps(ids, indent=1))
        self.skip = tuple(skip)
        self.run = wandb.init(
            project=project,
            entity=entity,
            group=group,
            name=name,
            id=run_id,
            resume="allow",
            config=dict(record),
            dir=str(out_dir),
            reinit="create_new",
        )

    def log(self, step: int, row: Mapping[str, Any]) -> None:
        self.run.log({"global_step": step, **scalars(row, self.skip)}, step=step)

    def close(self) -> None:
        self.run.finish()


class _Fanout:
    def __init__(self, loggers: list[TrialLogger]):
        self.loggers = loggers

    def log(self, step: int, row: Mapping[str, Any]) -> None:
        for logger in self.loggers:
            logger.log(step, row)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def check_loggers_installed(run: Any) -> None:
    """Refuse, before anything is written, a logger whose package is not installed."""
    needs = {"tensorboard": ("tensorboardX", "tensorboard"), "wandb": ("wandb", "wandb")}
    for flag, (module, extra) in needs.items():
        if getattr(run, flag, False) and importlib.util.find_spec(module) is None:
            raise ImportError(f"--{flag} needs {module}: pip install 'jaxrl-research[{extra}]'")


def open_trial_loggers(
    run: Any, config: Any, trials: Sequence[Any], resume_step: int | None = None
) -> dict[str, TrialLogger]:
    """A logger for every trial (by name), from the run config's ``tensorboard`` and ``wandb*``
    fields; a trial with neither gets one that does nothing. ``resume_step``: the environment step
    of the checkpoint a resumed run continues from (rows after it are written again)."""
    loggers: dict[str, TrialLogger] = {}
    try:
        for trial in trials:
            record = trial_record(config, trial)
            skip = tuple(trial.overrides)  # hyperparameters, in the config rather than the charts
            chosen: list[TrialLogger] = []
            loggers[trial.name] = _Fanout(chosen)
            if getattr(run, "tensorboard", False):
                chosen.append(TensorBoardLogger(trial_log_dir(trial), record, skip, resume_step))
            if getattr(run, "wandb", False):
                name, group = _display_names(trial)
                chosen.append(
                    WandbLogger(
                        Path(trial.out_dir),
                        name,
                        getattr(run, "wandb_group", None) or group,
                        record,
                        getattr(run, "wandb_project", "jaxrl"),
                        getattr(run, "wandb_entity", None),
                        skip,
                        resume=resume_step is not None,
                    )
                )
    except BaseException:
        close_loggers(loggers)
        raise
    return loggers


def close_loggers(loggers: Mapping[str, TrialLogger]) -> None:
    for logger in loggers.values():
        logger.close()

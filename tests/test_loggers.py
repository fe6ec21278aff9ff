"""TensorBoard and W&B loggers: one log per trial, grouped tags, the resolved config attached; every
check reads back the files the run wrote (TensorBoard's own EventAccumulator, W&B's offline run file)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import jax.numpy as jnp
import pytest

from jaxrl import loggers
from jaxrl.losses import ppo_loss
from jaxrl.ppo import PPOConfig, episode_means
from jaxrl.run import RunConfig, TrialSpec, run_trials, train_run

# Every run here has this config, two trials and log_every=1, so the program compiles once per process.
SMALL = dict(total_timesteps=4 * 128, num_envs=4, num_steps=32, num_minibatches=2, update_epochs=1)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _accumulator(log_dir: Path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _hparams(acc) -> dict:
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = acc.PluginTagToContent("hparams")
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    return {
        k: json.loads(json.dumps(v.string_value or v.number_value or v.bool_value))
        for k, v in data.session_start_info.hparams.items()
    }


def _scalars(acc, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_tags_cover_the_ppo_metrics():
    """Every loss term of ``ppo_loss`` and every episode mean lands in its group, not in ``bonus/``."""
    from jaxrl.distributions import Categorical

    x = jnp.zeros(4)
    _, terms = ppo_loss(
        Categorical(jnp.zeros((4, 2))),
        x,
        jnp.zeros(4, jnp.int32),
        x,
        x,
        jnp.arange(4.0),
        x,
        clip_eps=0.2,
        vf_coef=0.5,
        ent_coef=0.01,
    )
    assert set(terms) == set(loggers.LOSS_KEYS)
    sums = ("episodes", "episode_return_sum", "episode_length_sum", "success_sum")
    means = episode_means({k: jnp.ones(()) for k in sums})
    assert {loggers.tag_for(k) for k in means} <= set(loggers.CHART_TAGS.values())
    assert loggers.tag_for("rnd_loss") == "bonus/rnd_loss"
    assert loggers.scalars(
        {
            "step": 5,
            "seed": 1,
            "trial": "t",
            "loss": 1.0,
            "success_rate": None,
            "episode_return_mean": float("nan"),
            "sps": 3,
        }
    ) == {"losses/loss": 1.0, "charts/SPS": 3.0}


def test_tensorboard_one_directory_per_seed_with_grouped_tags_and_config(tmp_path):
    pytest.importorskip("tensorboardX")
    out = tmp_path / "run"
    config = PPOConfig(**SMALL)
    train_run(config, RunConfig(out=str(out), num_seeds=2, seed=3, log_every=1, progress=False, tensorboard=True))
    rows = _rows(out / "metrics.jsonl")
    assert sorted(p.name for p in (out / "tensorboard").iterdir()) == ["seed=3", "seed=4"]
    for seed in (3, 4):
        acc = _accumulator(out / "tensorboard" / f"seed={seed}")
        tags = acc.Tags()["scalars"]
        assert {"charts/episodic_return", "charts/SPS", "losses/value_loss", "losses/policy_loss"} <= set(tags)
        assert all(t.startswith(("charts/", "losses/")) for t in tags), tags  # no bonus here
        mine = [r for r in rows if r["seed"] == seed]
        assert _scalars(acc, "losses/value_loss") == [(r["step"], pytest.approx(r["value_loss"])) for r in mine]
        expected = [
            (r["step"], pytest.approx(r["episode_return_mean"])) for r in mine if r["episode_return_mean"] is not None
        ]
        assert expected and _scalars(acc, "charts/episodic_return") == expected
        text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
        assert "|learning_rate|0.00025|" in text and f"|seed|{seed}|" in text
        hparams = _hparams(acc)
        assert hparams["learning_rate"] == pytest.approx(2.5e-4)
        assert hparams["seed"] == seed and hparams["env"] == "CartPole-v1"
        assert hparams["hidden_sizes"] == "[64, 64]"


def test_tensorboard_sweep_trial_owns_its_folder_and_logs_its_overrides(tmp_path):
    pytest.importorskip("tensorboardX")
    sweep_dir = tmp_path / "sweep"
    trials = [
        TrialSpec(f"learning_rate={lr}/seed=0", 0, {"learning_rate": lr}, sweep_dir / f"learning_rate={lr}" / "seed=0")
        for lr in (1e-3, 3e-4)
    ]
    run_trials(PPOConfig(**SMALL), trials, RunConfig(log_every=1, progress=False, tensorboard=True))
    for trial in trials:
        assert loggers.trial_log_dir(trial) == trial.out_dir / "tensorboard"
        acc = _accumulator(trial.out_dir / "tensorboard")
        assert _hparams(acc)["learning_rate"] == pytest.approx(trial.overrides["learning_rate"])
        assert "charts/learning_rate" not in acc.Tags()["scalars"]  # a hyperparameter of the trial
        assert [s for s, _ in _scalars(acc, "losses/loss")] == [128, 256, 384, 512]


def test_tensorboard_resume_purges_rows_written_after_the_checkpoint(tmp_path, monkeypatch):
    """Killed after logging chunk 3 with a checkpoint at chunk 2: the resumed run writes chunk 3 again,
    and TensorBoard shows each step once, with the values of metrics.jsonl."""
    pytest.importorskip("tensorboardX")
    import jaxrl.run as run_module

    config = PPOConfig(**SMALL)
    run = RunConfig(
        out=str(tmp_path / "cut"), num_seeds=2, log_every=1, checkpoint_every=2, progress=False, tensorboard=True
    )
    original, calls = run_module.chunk_rows, {"n": 0}

    def interrupt_at_fourth_chunk(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(run_module, "chunk_rows", interrupt_at_fourth_chunk)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, run)
    monkeypatch.setattr(run_module, "chunk_rows", original)
    log_dir = tmp_path / "cut" / "tensorboard" / "seed=0"
    assert [s for s, _ in _scalars(_accumulator(log_dir), "losses/loss")] == [128, 256, 384]
    train_run(config, RunConfig(**{**run.__dict__, "resume": True}))
    acc = _accumulator(log_dir)
    rows = [r for r in _rows(tmp_path / "cut" / "metrics.jsonl") if r["seed"] == 0]
    assert _scalars(acc, "losses/loss") == [(r["step"], pytest.approx(r["loss"])) for r in rows]
    assert [s for s, _ in _scalars(acc, "losses/loss")] == [128, 256, 384, 512]
    assert len(acc.Tensors("config/text_summary")) == 1


def _wandb_records(path: Path) -> list:
    """The records of an offline W&B run file (a LevelDB-style log of ``Record`` protos, read with
    W&B's own proto definitions)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    pos, block, buf, records = 7, 32768, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            break
        buf += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST chunk of a record
            records.append(wandb_internal_pb2.Record.FromString(buf))
            buf = b""
    return records


def test_wandb_offline_one_run_per_seed_with_config_and_history(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    for name, value in {
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path / "wandb-dir"),
        "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
        "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"),
        "WANDB_SILENT": "true",
    }.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "cartpole"
    run = RunConfig(
        out=str(out), num_seeds=2, log_every=1, progress=False, wandb=True, wandb_project="proj", wandb_entity="someone"
    )
    train_run(PPOConfig(**SMALL), run)
    wandb.teardown()  # the runs' files are written by W&B's service process: wait for it
    rows = _rows(out / "metrics.jsonl")
    ids = json.loads((out / loggers.WANDB_IDS_FILE).read_text())
    files = sorted((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 2 and len(ids) == 2
    seen = set()
    for path in files:
        records = _wandb_records(path)
        (run_record,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        assert run_record.project == "proj" and run_record.entity == "someone"
        assert run_record.run_group == "cartpole" and run_record.run_id == ids[run_record.display_name]
        config = {u.key: json.loads(u.value_json) for u in run_record.config.update}
        seed = config["seed"]
        assert run_record.display_name == f"cartpole/seed={seed}"
        assert config["learning_rate"] == 2.5e-4 and config["hidden_sizes"] == [64, 64]
        history = [
            {i.nested_key[0] if i.nested_key else i.key: json.loads(i.value_json) for i in r.history.item}
            for r in records
            if r.WhichOneof("record_type") == "history"
        ]
        mine = [r for r in rows if r["seed"] == seed]
        assert [h["_step"] for h in history] == [r["step"] for r in mine] == [128, 256, 384, 512]
        assert [h["losses/value_loss"] for h in history] == pytest.approx([r["value_loss"] for r in mine])
        seen.add(seed)
    assert seen == {0, 1}


def test_missing_logger_package_is_refused_before_any_file_is_written(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ImportError, match=r"--wandb needs wandb: pip install 'jaxrl-research\[wandb\]'"):
        train_run(PPOConfig(**SMALL), RunConfig(out=str(tmp_path / "run"), progress=False, wandb=True))
    assert not (tmp_path / "run").exists()


def test_wandb_resumed_trial_continues_its_run(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    trial = TrialSpec("seed=0", 0, {}, tmp_path / "run")
    trial.out_dir.mkdir()
    run = RunConfig(wandb=True, wandb_project="proj")
    ids = []
    for resume_step in (None, 128, None):  # a run, its resume, then a new run in the same folder
        opened = loggers.open_trial_loggers(run, PPOConfig(), [trial], resume_step)
        opened["seed=0"].log(256, {"step": 256, "loss": 1.0})
        loggers.close_loggers(opened)
        ids.append(json.loads((trial.out_dir / loggers.WANDB_IDS_FILE).read_text())["run/seed=0"])
    wandb.teardown()
    assert ids[0] == ids[1] != ids[2], ids
    written = {
        r.run.run_id
        for path in (trial.out_dir / "wandb").glob("offline-run-*/run-*.wandb")
        for r in _wandb_records(path)
        if r.WhichOneof("record_type") == "run"
    }
    assert written == {ids[0], ids[2]}

"""The command line: help at every level, --flag/--no-flag booleans (and the old `--flag True` with a
deprecation message), a help line for every option, `jaxrl list`."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import tyro

from jaxrl import cli
from jaxrl.barfi.train import BarfiConfig
from jaxrl.bonuses import BONUSES
from jaxrl.meta.rl2 import RL2Config
from jaxrl.ppo import PPOConfig
from jaxrl.run import RunConfig

ROOT = Path(__file__).resolve().parents[1]


def _main(argv: list[str]) -> int:
    """`jaxrl ARGV` in this process: its exit status, whether returned or raised (tyro exits)."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--help"], "jaxrl {train,eval,sweep,report,list}"),
        (["train", "--help"], "jaxrl train {barfi,ppo,rl2}"),
        (["train", "rl2", "--help"], "--memory"),
        (["train", "barfi", "--help"], "--heuristic"),
        (["train", "ppo", "--help"], "--learning-rate"),
        (["eval", "--help"], "--greedy, --no-greedy"),
        (["sweep", "--help"], "--dry-run, --no-dry-run"),
        (["report", "--help"], "--last-fraction"),
        (["list", "--help"], "jaxrl list {envs,bonuses}"),
    ],
)
def test_help_at_every_level_exits_0(argv, expected, capsys):
    assert _main(argv) == 0
    out = capsys.readouterr().out
    assert expected in out, out


def test_help_of_the_installed_command():
    result = subprocess.run(
        [sys.executable, "-m", "jaxrl.cli", "train", "ppo", "-h"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "--anneal-lr, --no-anneal-lr" in result.stdout and "--wandb-project" in result.stdout


def test_usage_errors_exit_2(capsys):
    assert _main([]) == 2
    assert _main(["train"]) == 2
    assert "needs an algorithm" in capsys.readouterr().err
    assert _main(["list", "planets"]) == 2
    assert _main(["fly"]) == 2


def _parsed_train(argv: list[str], monkeypatch) -> cli.TrainArgs:
    seen = {}

    def fake_train_run(config, run):
        seen.update(config=config, run=run)
        return {}

    monkeypatch.setattr(cli, "train_run", fake_train_run)
    assert _main(["train", "ppo", *argv]) == 0
    return cli.TrainArgs(seen["config"], seen["run"])


def test_boolean_flags_and_their_negations(monkeypatch, capsys, tmp_path):
    args = _parsed_train(["--resume", "--no-anneal-lr", "--tensorboard", "--out", str(tmp_path)], monkeypatch)
    assert args.run.resume and args.run.tensorboard and not args.config.anneal_lr
    assert args.config.clip_value_loss and not args.run.wandb  # defaults untouched
    assert "deprecated" not in capsys.readouterr().err


def test_old_true_false_spelling_still_works_with_a_deprecation_message(monkeypatch, capsys, tmp_path):
    argv = ["--resume", "True", "--anneal-lr", "false", "--clip-value-loss=False", "--wandb=true"]
    argv += ["--out", str(tmp_path)]
    args = _parsed_train(argv, monkeypatch)
    assert args.run.resume and args.run.wandb
    assert not args.config.anneal_lr and not args.config.clip_value_loss
    err = capsys.readouterr().err
    assert "`--resume True` is deprecated" in err and "write `--resume`" in err
    assert "write `--no-anneal-lr`" in err and "write `--no-clip-value-loss`" in err


def test_bool_rewrite_leaves_everything_else_alone():
    flags = cli.bool_flags(PPOConfig, RunConfig)
    assert {"resume", "anneal-lr", "tensorboard", "wandb", "normalize-bonus"} <= flags
    assert "env" not in flags and "learning-rate" not in flags
    argv = ["--env", "True", "--resume", "--greedy", "False", "--resume", "maybe", "--anneal_lr", "True"]
    assert cli.upgrade_bool_flags(argv, flags) == [
        "--env", "True", "--resume", "--greedy", "False", "--resume", "maybe", "--anneal-lr"
    ]  # fmt: skip


def test_eval_greedy_flag_both_spellings(capsys):
    flags = cli.bool_flags(cli.EvalArgs)
    assert flags == {"greedy"}
    for argv in (["--run", "r", "--greedy"], cli.upgrade_bool_flags(["--run", "r", "--greedy", "True"], flags)):
        assert tyro.cli(cli.EvalArgs, args=argv).greedy is True
    assert tyro.cli(cli.EvalArgs, args=["--run", "r"]).greedy is False
    with pytest.raises(SystemExit):
        tyro.cli(cli.EvalArgs, args=["--run", "r", "--greedy", "maybe"])


def test_sweep_bool_flags_accept_the_old_spelling():
    from jaxrl import sweep

    flags = cli.bool_flags(sweep.sweep)
    assert {"dry-run", "retry-failed", "progress", "tensorboard", "wandb"} <= flags
    assert cli.upgrade_bool_flags(["f.yaml", "--dry-run", "True"], flags) == ["f.yaml", "--dry-run"]


@pytest.mark.parametrize("cls", [PPOConfig, RL2Config, BarfiConfig, RunConfig, cli.EvalArgs, *BONUSES.values()])
def test_every_option_has_a_help_line(cls):
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    docs = cli.field_docstrings(cls)
    assert [f for f in fields if not docs.get(f)] == []


def test_list_envs_and_bonuses(capsys):
    import envs

    assert _main(["list", "envs"]) == 0
    out = capsys.readouterr().out.split()
    assert {"CartPole-v1", "MultiRoom-N4", "Driving-v0", "gymnax:<id>", "minihack:<id>"} <= set(out)
    assert set(envs.registered()) <= set(out)
    assert _main(["list", "bonuses"]) == 0
    out = capsys.readouterr().out
    for name in BONUSES:
        assert f"  {name}: " in out
    assert "      table_size=4096" in out  # an option of episodic_count, with its default


def test_sweep_passes_logger_options_to_the_runs(tmp_path):
    from jaxrl.run import TrialOutcome
    from jaxrl.sweep import run_sweep

    path = tmp_path / "tiny.yaml"
    path.write_text("base: {total_timesteps: 1024}\nrun: {wandb_project: from-file}\nseeds: 1\n")
    seen = []

    def runner(config, trials, run):
        seen.append(run)
        return {t.name: TrialOutcome("done") for t in trials}

    overrides = {"tensorboard": True, "wandb_group": "g"}
    run_sweep(path, out_root=tmp_path / "runs", runner=runner, log=lambda _: None, run_overrides=overrides)
    (run,) = seen
    assert run.tensorboard and run.wandb_group == "g" and run.wandb_project == "from-file" and not run.wandb

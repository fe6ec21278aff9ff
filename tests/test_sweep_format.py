"""The sweep format's named sizes, labelled points and algorithm, and the one field coercion
(``jaxrl.config_io``) shared by sweep files and saved run records."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
from test_sweep import FakeRunner, _calls, _write

from jaxrl.config_io import coerce, config_from_dict
from jaxrl.ppo import PPOConfig
from jaxrl.run import config_from_dict as run_config_from_dict
from jaxrl.sweep import SweepError, load_plan, parse_plan, read_trials, run_sweep, sweep_main

SIZED = """\
name: sized
base:
  total_timesteps: 1024
  num_envs: 2
  num_steps: 16
  ent_coef: 0.1
  gamma: 0.9
points:
  calm: {ent_coef: 0.0}
  bold: {ent_coef: 0.5, num_minibatches: 2}
axes:
  - learning_rate: [0.001, 0.01]
seeds: 2
run: {log_every: 2}
sizes:
  quick:
    base: {total_timesteps: 512, gamma: 0.5}
    seeds: 1
    run: {checkpoint_every: 3}
  full: {}
"""


def _plan(text: str, size: str | None = None):
    return parse_plan(text, "study.yaml", size=size)


# ----------------------------------------------------------------------------- sizes


def test_a_size_overlays_the_base_and_replaces_seeds_and_merges_run():
    quick, full = _plan(SIZED, "quick"), _plan(SIZED, "full")
    assert quick.name == "sized-quick" and full.name == "sized-full"
    assert quick.base_config.total_timesteps == 512 and full.base_config.total_timesteps == 1024
    assert quick.base_config.gamma == 0.5 and full.base_config.gamma == 0.9
    assert quick.base_config.num_envs == 2  # not in the overlay: the file's base
    assert {t.seed for t in quick.trials} == {0} and {t.seed for t in full.trials} == {0, 1}
    assert quick.run_kwargs == {"log_every": 2, "checkpoint_every": 3} and full.run_kwargs == {"log_every": 2}


@pytest.mark.parametrize(
    "text, size, line, message",
    [
        (SIZED, "tiny", 15, "unknown size 'tiny'; this sweep has sizes quick, full"),
        (SIZED, None, 15, "this sweep has sizes quick, full: choose one with --size"),
        (SIZED.replace("sizes:", "default_size: huge\nsizes:"), None, 15, "default_size 'huge' is not one"),
        ("base: {num_envs: 2}\n", "quick", 1, "--size quick: this sweep file has no 'sizes:'"),
        (SIZED.replace("    seeds: 1", "    points: {x: {}}"), "quick", 18, "sizes.quick: unknown key 'points'"),
        (SIZED.replace("gamma: 0.5", "gama: 0.5"), "quick", 17, "unknown config key 'gama'"),
        (SIZED.replace("    seeds: 1", "    seeds: 0"), "quick", 18, "a count must be at least 1"),
    ],
)
def test_bad_sizes_are_refused_with_the_line(text, size, line, message):
    with pytest.raises(SweepError) as err:
        _plan(text, size)
    assert f"study.yaml:{line}:" in str(err.value) and message in str(err.value)


def test_default_size_is_used_without_a_size():
    assert _plan(SIZED.replace("sizes:", "default_size: quick\nsizes:")).name == "sized-quick"


# ----------------------------------------------------------------------------- labelled points


def test_points_are_crossed_with_axes_and_seeds_and_lead_the_folder_name():
    plan = _plan(SIZED, "full")
    assert plan.points == ("calm", "bold")
    assert len(plan.trials) == 2 * 2 * 2
    names = {t.name for t in plan.trials}
    assert "calm/learning_rate=0.001/seed=0" in names and "bold/learning_rate=0.01/seed=1" in names
    by_name = {t.name: t for t in plan.trials}
    assert by_name["bold/learning_rate=0.01/seed=1"].point == "bold"
    # calm differs from the base only in vmappable fields: one group; bold's num_minibatches is static.
    assert [len(g.trials) for g in plan.groups] == [4, 4]
    calm, bold = plan.groups
    assert calm.config.num_minibatches == 4 and bold.config.num_minibatches == 2
    assert {t.vmapped["ent_coef"] for t in calm.trials} == {0.0} and {t.vmapped["ent_coef"] for t in bold.trials} == {
        0.5
    }


def test_precedence_is_defaults_base_size_point_axis():
    text = SIZED.replace("calm: {ent_coef: 0.0}", "calm: {ent_coef: 0.0, gamma: 0.7, num_steps: 8}")
    text = text.replace("  - learning_rate: [0.001, 0.01]", "  - learning_rate: [0.001]\n  - num_envs: [4]")
    plan = _plan(text, "quick")
    calm = next(g for g in plan.groups if g.trials[0].point == "calm")
    trial = calm.trials[0]
    config = calm.config
    assert config.num_steps == 8 and trial.vmapped["gamma"] == 0.7  # the point over the size's base (0.5)
    assert config.num_envs == 4  # the axis over the base
    assert config.total_timesteps == 512  # the size over the base
    assert config.update_epochs == PPOConfig().update_epochs  # the defaults under everything


def test_a_key_set_by_a_point_and_an_axis_is_refused_with_both_lines():
    text = SIZED.replace("calm: {ent_coef: 0.0}", "calm: {learning_rate: 0.1}")
    message = r"study.yaml:9: points.calm sets 'learning_rate', which an axis also sets \(line 12\)"
    with pytest.raises(SweepError, match=message):
        _plan(text, "full")


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("calm: {ent_coef: 0.0}", "calm: {ent_cof: 0.0}", "unknown config key 'ent_cof'; PPOConfig fields are"),
        ("calm: {ent_coef: 0.0}", "calm: {ent_coef: fast}", "ent_coef: must be a number, got 'fast'"),
        ("calm: {ent_coef: 0.0}", "calm: 3", "points.calm: give a mapping of config overrides"),
        ("calm: {ent_coef: 0.0}", "c/m: {ent_coef: 0.0}", "a label uses letters, digits"),
        ("calm: {ent_coef: 0.0}", "calm: {num_minibatches: 3}", "invalid config calm/learning_rate=0.001"),
    ],
)
def test_bad_points_are_refused_with_the_line(old, new, message):
    with pytest.raises(SweepError) as err:
        _plan(SIZED.replace(old, new), "full")
    assert str(err.value).startswith("study.yaml:9: ") and message in str(err.value)


def test_bad_points_name_their_line():
    with pytest.raises(SweepError, match=r"^study.yaml:10: unknown config key 'num_minibtches'"):
        _plan(SIZED.replace("num_minibatches: 2", "num_minibtches: 2"), "full")


def test_labels_are_in_the_folders_status_and_plan_record_and_read_back_by_label(tmp_path):
    path = _write(tmp_path, SIZED)
    log = tmp_path / "calls.jsonl"
    result = run_sweep(path, size="quick", out_root=tmp_path / "runs", runner=FakeRunner(log), log=lambda s: None)
    sweep_dir = tmp_path / "runs" / "sized-quick"
    assert result.sweep_dir == sweep_dir and result.count("done") == 4
    for label in ("calm", "bold"):
        folder = sweep_dir / label / "learning_rate=0.01" / "seed=0"
        assert json.loads((folder / "status.json").read_text()) == {"status": "done", "error": None, "label": label}
    record = json.loads((sweep_dir / "sweep_plan.json").read_text())
    assert record["size"] == "quick" and record["trials"]["bold/learning_rate=0.001/seed=0"]["label"] == "bold"
    trials = read_trials(load_plan(path, size="quick"), tmp_path / "runs")
    bold = [t for t in trials if t.label == "bold"]
    assert len(bold) == 2 and all(t.done and len(t.rows) == 4 for t in bold)
    assert {t.config.ent_coef for t in bold} == {0.5} and {t.config.num_minibatches for t in bold} == {2}
    assert bold[0].rows[-1]["episode_return_mean"] == pytest.approx(100 * 0.001 * 4)


def test_a_stopped_sized_sweep_resumes_only_its_unfinished_trials(tmp_path):
    path = _write(tmp_path, SIZED)
    log = tmp_path / "calls.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(path, size="full", out_root=tmp_path / "runs", runner=FakeRunner(log, interrupt_after_rows=16 + 3),
                  log=lambda s: None)
    sweep_dir = tmp_path / "runs" / "sized-full"
    done_before = {t.name for t in load_plan(path, size="full").trials if (sweep_dir / t.name / "status.json").exists()}
    assert len(done_before) == 4  # the first group (calm, 4 trials) finished; bold was stopped
    result = run_sweep(path, size="full", out_root=tmp_path / "runs", runner=FakeRunner(log), log=lambda s: None)
    assert result.count("done") == 8 and set(result.skipped) == done_before
    assert _calls(log)[-1] == sorted(t for t in result.statuses if t.startswith("bold/"))
    # another size is another folder: nothing of the full size is reused or touched
    quick = run_sweep(path, size="quick", out_root=tmp_path / "runs", runner=FakeRunner(log), log=lambda s: None)
    assert quick.skipped == [] and quick.count("done") == 4


# ----------------------------------------------------------------------------- algorithm and command line


def test_algorithm_defaults_to_ppo_and_an_unknown_one_is_refused_with_the_line():
    assert _plan(SIZED, "quick").algorithm == "ppo"
    assert _plan("algorithm: ppo\n" + SIZED, "quick").base_config.__class__ is PPOConfig
    unknown = r"^study.yaml:1: algorithm: unknown algorithm 'sac'; registered: barfi, ppo, rl2"
    with pytest.raises(SweepError, match=unknown):
        _plan("algorithm: sac\n" + SIZED, "quick")


def test_cli_size_flag(tmp_path, capsys):
    path = _write(tmp_path, SIZED)
    assert sweep_main([str(path), "--size", "quick", "--dry-run", "--out-root", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "sweep sized-quick: 4 trials in 2 groups" in out and "bold/learning_rate=0.01/seed=0" in out
    assert sweep_main([str(path), "--size", "huge", "--dry-run"]) == 2
    assert "study.yaml:15: unknown size 'huge'" in capsys.readouterr().err


def test_carl_minibatch_quick_is_a_valid_sweep():
    plan = load_plan(Path(__file__).resolve().parents[1] / "sweeps" / "carl_minibatch.yaml", size="quick")
    assert plan.name == "carl_minibatch-quick" and plan.points == ("simple", "shaped")
    assert len(plan.groups) == 4 and len(plan.trials) == 12
    assert plan.experiment == {"eval_routes": 32, "eval_seed": 10_000}
    assert plan.run_kwargs["log_every"] == 2


# ----------------------------------------------------------------------------- one coercion


def test_coerce_converts_and_refuses_with_the_expected_type():
    assert coerce(1, float) == 1.0 and isinstance(coerce(1, float), float)
    assert coerce([64, 64], tuple[int, ...]) == (64, 64)
    assert coerce(None, int | None) is None and coerce(3, int | None) == 3
    with pytest.raises(TypeError, match=r"must be one of \['mlp', 'gru'\]"):
        coerce("lstm", typing.Literal["mlp", "gru"])
    for value, tp, message in [
        (True, int, "must be an integer"),
        ("x", float, "must be a number"),
        ([1, "a"], tuple[int, ...], "must be an integer"),
        (3, dict, "must be a mapping"),
    ]:
        with pytest.raises(TypeError, match=message):
            coerce(value, tp)


def test_saved_records_and_sweep_files_go_through_the_same_coercion():
    config = PPOConfig(hidden_sizes=(32, 16), learning_rate=1e-3, env_kwargs={"num_contexts": 5})
    record = json.loads(json.dumps(config.__dict__))  # tuples become lists, as config.json holds them
    assert run_config_from_dict(record) == config == config_from_dict(PPOConfig, record)
    with pytest.raises(ValueError, match=r"unknown PPOConfig field\(s\) \['lr'\]"):
        run_config_from_dict({"lr": 0.1})
    with pytest.raises(TypeError, match="PPOConfig.num_envs: must be an integer, got 'four'"):
        run_config_from_dict({"num_envs": "four"})
    with pytest.raises(SweepError, match="num_envs: must be an integer, got 'four'"):
        _plan(SIZED.replace("num_envs: 2", "num_envs: four"), "quick")

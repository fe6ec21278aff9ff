"""The algorithm protocol and registry: the per-field marks, and every registered algorithm (PPO,
RL-squared, BARFI) run through `jaxrl.run.run_trials`, deterministic, resumed bitwise after a kill,
and with a NaN in one trial failing that trial only; `jaxrl train/report/eval` for each."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from nan_injection import inject_nan

import jaxrl.run as run_module
from jaxrl import algorithms
from jaxrl.barfi.train import BarfiConfig
from jaxrl.checkpoints import Checkpointer
from jaxrl.cli import main
from jaxrl.meta.rl2 import RL2Config
from jaxrl.ppo import PPOConfig
from jaxrl.run import RunConfig, TrialSpec, run_trials

# Four updates each, as small as compiles quickly. BARFI: "naive" runs no outer gradient.
CONFIGS = {
    "ppo": PPOConfig(
        total_timesteps=64, num_envs=2, num_steps=8, num_minibatches=1, update_epochs=1, hidden_sizes=(8,)
    ),
    "rl2": RL2Config(
        steps_per_episode=2,
        episodes_per_trial=2,
        total_timesteps=32,
        num_envs=2,
        num_steps=4,
        num_minibatches=1,
        update_epochs=1,
        hidden_sizes=(8,),
        gru_size=4,
    ),
    "barfi": BarfiConfig(
        horizon=10,
        num_episodes=2,
        ppo_minibatches=1,
        warmup_updates=1,
        outer_updates=4,
        inner_per_outer=1,
        buffer_batches=1,
        outer_gradient="none",
        method="naive",
    ),
}
# A second trial that differs in one vmappable field (it is also the one the NaN test breaks).
MARKED = {"ppo": {"ent_coef": 0.02}, "rl2": {"ent_coef": 0.02}, "barfi": {"entropy_coef": 0.3}}
RUN = dict(log_every=1, checkpoint_every=2, progress=False)
TIMING = ("sps", "wall_time")


def _trials(name, out):
    return [TrialSpec("a", 0, {}, out), TrialSpec("b", 1, MARKED[name], out)]


def _rows(path):
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in path.read_text().splitlines()]


def test_registry_lists_and_refuses_by_name():
    assert algorithms.registered() == ["barfi", "ppo", "rl2"]
    for name, config in CONFIGS.items():
        assert algorithms.get(name).config_cls is type(config)
        assert algorithms.for_config(config).name == name
    with pytest.raises(ValueError, match="unknown algorithm 'sac'; registered: barfi, ppo, rl2"):
        algorithms.get("sac")
    with pytest.raises(TypeError, match="not the config of a registered algorithm"):
        algorithms.for_config(RunConfig())


def test_marks_in_the_declaration_give_vmappable_and_the_hyperparameter_pytree():
    marked = [f.name for f in dataclasses.fields(PPOConfig) if f.metadata.get("vmappable")]
    assert marked == ["learning_rate", "ent_coef", "vf_coef", "clip_eps", "gamma", "gae_lambda", "max_grad_norm",
                      "bonus_coef"]
    assert PPOConfig.VMAPPABLE == frozenset(marked)
    assert [f.name for f in dataclasses.fields(PPOConfig.HyperParams)] == marked
    hp = PPOConfig(gamma=0.5).hyperparams(learning_rate=1e-3)
    assert float(hp.gamma) == 0.5 and float(hp.learning_rate) == np.float32(1e-3) and hp.gamma.dtype == jnp.float32
    assert RL2Config.VMAPPABLE == PPOConfig.VMAPPABLE - {"bonus_coef"}
    with pytest.raises(ValueError, match=r"\['num_envs'\] are not vmappable"):
        PPOConfig().hyperparams(num_envs=8)
    # BARFI's marked fields become its BarfiHyper: the method as a reward mode and Neumann terms.
    assert {"method", "heuristic", "actor_lr"} <= BarfiConfig.VMAPPABLE and "horizon" not in BarfiConfig.VMAPPABLE
    hyper = BarfiConfig().hyperparams(method="first_order", heuristic="misleading", actor_lr=0.1)
    assert int(hyper.neumann_terms) == 0 and int(hyper.heuristic) == 2 and float(hyper.actor_lr) == np.float32(0.1)
    with pytest.raises(ValueError, match="needs outer_gradient='unrolled'"):
        dataclasses.replace(CONFIGS["barfi"], method="unrolled").validate()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_deterministic_and_resumed_bitwise_after_a_kill(name, tmp_path, monkeypatch):
    config = CONFIGS[name]
    for folder in ("first", "second"):
        outcomes = run_trials(config, _trials(name, tmp_path / folder), RunConfig(**RUN))
        assert {o.status for o in outcomes.values()} == {"done"}
    full = _rows(tmp_path / "first" / "metrics.jsonl")
    assert full == _rows(tmp_path / "second" / "metrics.jsonl")
    assert [r["update"] for r in full] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert full[0] != full[1]  # the two trials differ (seed and hyperparameter)
    record = json.loads((tmp_path / "first" / "config.json").read_text())
    assert record["algorithm"] == name and record["config"] == json.loads(json.dumps(dataclasses.asdict(config)))

    original, calls = run_module.chunk_rows, {"n": 0}

    def killed_in_chunk_4(*args):
        calls["n"] += 1
        if calls["n"] == 4:  # chunks 1-3 logged, a checkpoint after chunk 2
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(run_module, "chunk_rows", killed_in_chunk_4)
    with pytest.raises(KeyboardInterrupt):
        run_trials(config, _trials(name, tmp_path / "cut"), RunConfig(**RUN))
    monkeypatch.setattr(run_module, "chunk_rows", original)
    assert len(_rows(tmp_path / "cut" / "metrics.jsonl")) == 6
    run_trials(config, _trials(name, tmp_path / "cut"), RunConfig(**RUN, resume=True))
    assert _rows(tmp_path / "cut" / "metrics.jsonl") == full
    steps = [Checkpointer(tmp_path / d / "checkpoints").latest_step() for d in ("first", "cut")]
    assert steps[0] == steps[1] == 4 * full[0]["step"]
    trainer = algorithms.get(name).make_train(config, 1)
    hparams = jax.tree.map(lambda *xs: jnp.stack(xs), *[config.hyperparams(**t.overrides) for t in _trials(name, "")])
    like = jax.eval_shape(jax.vmap(trainer.init_fn), jnp.zeros((2, 2), jnp.uint32), hparams)
    states = [Checkpointer(tmp_path / d / "checkpoints").restore(steps[0], like)[0] for d in ("first", "cut")]
    for a, b in zip(jax.tree.leaves(states[0]), jax.tree.leaves(states[1]), strict=True):
        np.testing.assert_array_equal(a, b)


def _marked(name, state):
    """Per trial: whether it is the MARKED one (read from the hyperparameters in its state)."""
    field, value = next(iter(MARKED[name].items()))
    hyper = state.hyper if name == "barfi" else state.hparams
    return jnp.isclose(getattr(hyper, field), value)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_nan_in_one_trial_fails_it_and_the_other_goes_on(name, tmp_path, monkeypatch):
    inject_nan(monkeypatch, name, lambda state, new_state, metrics: (metrics["update"] > 2) & _marked(name, state))
    outcomes = run_trials(CONFIGS[name], _trials(name, tmp_path), RunConfig(**RUN))
    assert outcomes["a"].status == "done"
    assert outcomes["b"].status == "failed" and "at update 3; its parameters after update 2 are kept" in (
        outcomes["b"].error
    )
    rows = _rows(tmp_path / "metrics.jsonl")
    assert [(r["trial"], r["update"]) for r in rows] == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("a", 4)]
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "failed" and status["trials"] == {"a": "done", "b": "failed"}


def test_every_command_for_every_algorithm(tmp_path, capsys):
    """`jaxrl train NAME` with the tests' configs (compiled already), then `jaxrl report` and `jaxrl eval`."""
    flags = {
        "ppo": ["--total-timesteps", "64", "--num-envs", "2", "--num-steps", "8", "--num-minibatches", "1",
                "--update-epochs", "1", "--hidden-sizes", "8"],
        "rl2": ["--steps-per-episode", "2", "--episodes-per-trial", "2", "--total-timesteps", "32", "--num-envs",
                "2", "--num-steps", "4", "--num-minibatches", "1", "--update-epochs", "1", "--hidden-sizes", "8",
                "--gru-size", "4"],
        "barfi": ["--horizon", "10", "--num-episodes", "2", "--ppo-minibatches", "1", "--warmup-updates", "1",
                  "--outer-updates", "4", "--inner-per-outer", "1", "--buffer-batches", "1", "--outer-gradient",
                  "none", "--method", "naive"],
    }
    for name, argv in flags.items():
        out = tmp_path / name
        common = ["--log-every", "1", "--no-progress", "--out", str(out)]
        assert main(["train", name, *argv, *common, "--num-seeds", "2"]) == 0
        assert json.loads((out / "config.json").read_text())["algorithm"] == name
        assert main(["train", name, *common, "--resume"]) == 0  # nothing left to train: the saved settings
        assert main(["report", str(out), "--reps", "50"]) == 0
        score = algorithms.get(name).score
        assert f"Final `{score}`" in (out / "report.md").read_text()
        capsys.readouterr()
        if name == "barfi":
            assert main(["eval", "--run", str(out)]) == 2
            assert "no evaluation for barfi" in capsys.readouterr().err
        else:
            assert main(["eval", "--run", str(out), "--episodes", "2"]) == 0
            assert "all: return mean" in capsys.readouterr().out
    # Options without a name train PPO; a resume with another algorithm is refused.
    assert main(["train", *flags["ppo"], "--log-every", "1", "--no-progress", "--out", str(tmp_path / "default")]) == 0
    assert json.loads((tmp_path / "default" / "config.json").read_text())["algorithm"] == "ppo"
    assert main(["train", "rl2", "--out", str(tmp_path / "ppo"), "--resume", "--no-progress"]) == 2
    assert "it is a ppo run" in capsys.readouterr().err
    assert main(["train", "sac"]) == 2
    assert "one of barfi, ppo, rl2 (got 'sac')" in capsys.readouterr().err


def test_the_guides_example_algorithm_registers_and_trains(tmp_path, monkeypatch):
    """The code of docs/adding_an_algorithm.md, run as written: A2C registers and trains through
    run_trials (and its ratio is 1 at the gradient: one epoch over one minibatch)."""
    import re
    import sys
    import types
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "adding_an_algorithm.md").read_text()
    source = next(block for block in re.findall(r"```python\n(.*?)```", guide, re.S) if "A2CConfig" in block)
    monkeypatch.setattr(algorithms, "_REGISTRY", dict(algorithms._REGISTRY))
    module = types.ModuleType("a2c_example")
    monkeypatch.setitem(sys.modules, "a2c_example", module)  # dataclasses resolve annotations through it
    exec(compile(source, "docs/adding_an_algorithm.md", "exec"), module.__dict__)
    assert "a2c" in algorithms.registered() and "learning_rate" in module.A2CConfig.VMAPPABLE
    with pytest.raises(ValueError, match="update_epochs and num_minibatches must be 1"):
        module.make_train(module.A2CConfig(update_epochs=4))
    config = module.A2CConfig(total_timesteps=40, num_envs=4, hidden_sizes=(8,))
    outcomes = run_trials(config, [TrialSpec("a", 0, {}, tmp_path)], RunConfig(log_every=1, progress=False))
    assert outcomes["a"].status == "done"
    rows = _rows(tmp_path / "metrics.jsonl")
    assert [r["update"] for r in rows] == [1, 2] and all(r["clip_fraction"] == 0.0 for r in rows)


def test_barfi_in_chunks_is_the_whole_run():
    """BARFI's init_fn (with the warm-up) and update_fn over chunks of outer iterations give the state
    and, averaged per chunk, the per-inner-update metrics of ``train`` in one call."""
    from jaxrl.barfi.train import make_train

    config = CONFIGS["barfi"]
    trainer = make_train(config, updates_per_chunk=3)
    assert trainer.chunk_lengths == [3, 1] and trainer.steps_per_update == 2 * 10
    key, hyper = jax.random.key(7), config.hyperparams()
    whole, per_inner = jax.jit(trainer.train)(key, hyper)
    state = jax.jit(trainer.init_fn)(key, hyper)
    done = config.warmup_updates
    for length in trainer.chunk_lengths:
        state, metrics = jax.jit(lambda s, n=length: trainer.update_fn(s, num_updates=n))(state)
        inner = slice(done, done + length * config.inner_per_outer)
        for name, values in per_inner.items():
            np.testing.assert_allclose(metrics[name], np.mean(values[inner]), rtol=1e-5, atol=1e-6)
        done += length * config.inner_per_outer
    assert int(state.outer_idx) == config.outer_updates
    leaves = [jax.tree.leaves((s.theta, s.blend)) for s in (whole, state)]
    for a, b in zip(*leaves, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

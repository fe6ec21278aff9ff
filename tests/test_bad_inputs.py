"""Bad input as a new user gives it: each case is refused with a message that names what was wrong,
and changes no file. Then one test per damaged file kind that a resume repairs (a cut metrics line,
a truncated checkpoint, a checkpoint missing its metadata, NaN parameters of one seed), each ending
with the same metrics as an uninterrupted run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.cli import main
from jaxrl.ppo import PPOConfig, make_train
from jaxrl.run import TIMING_FIELDS, RunConfig, train_run

# 6 updates of 4 x 16 steps: chunks of one update, a checkpoint every second chunk.
TINY = ["--total-timesteps", "384", "--num-envs", "4", "--num-steps", "16", "--num-minibatches", "2"]
TINY_CONFIG = PPOConfig(total_timesteps=384, num_envs=4, num_steps=16, num_minibatches=2)
TINY_RUN = dict(num_seeds=2, log_every=1, checkpoint_every=2, progress=False)
BATCH = 64


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under root with a hash of its content (and every folder), to show nothing changed."""
    files = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        files[key] = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return files


def _run_cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # tyro refuses a value it cannot build a config from
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished 2-seed run of TINY_CONFIG (a template: tests copy it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    train_run(TINY_CONFIG, RunConfig(out=str(out), **TINY_RUN))
    return out


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory) -> Path:
    """The same run killed in its fifth chunk: 4 chunks logged, checkpoints at 2 and 4 updates."""
    import jaxrl.run as run_module

    out = tmp_path_factory.mktemp("killed") / "run"
    original = run_module.chunk_rows
    calls = {"n": 0}

    def interrupt_at_fifth_chunk(*args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_module, "chunk_rows", interrupt_at_fifth_chunk)
        with pytest.raises(KeyboardInterrupt):
            train_run(TINY_CONFIG, RunConfig(out=str(out), **TINY_RUN))
    return out


def _copy(template: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(template, out)
    return out


# ----------------------------------------------------------------------------------------- the table


def _sweep_file(text: str):
    def setup(tmp_path: Path) -> list[str]:
        path = tmp_path / "study.yaml"
        path.write_text(textwrap.dedent(text))
        return ["sweep", str(path), "--out-root", str(tmp_path / "runs")]

    return setup


def _train(*args: str, template: str | None = None, damage=None):
    """A `jaxrl train ppo` call on ``tmp_path/run`` (a copy of a template run, optionally damaged)."""

    def setup(tmp_path: Path, runs: dict[str, Path]) -> list[str]:
        if template is not None:
            out = _copy(runs[template], tmp_path)
            if damage is not None:
                damage(out)
        return ["train", "ppo", *TINY, "--out", str(tmp_path / "run"), "--progress", "False", *args]

    return setup


def _damage_config(out: Path) -> None:
    (out / "config.json").write_text('{"config": {"env": "CartPole-v1",')


def _truncate_every_checkpoint(out: Path) -> None:
    for path in (out / "checkpoints").rglob("*"):
        if path.is_file() and path.parent.name == "d":
            path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


CASES = {
    "checkpoint_every 0": (_train("--checkpoint-every", "0"), "checkpoint_every must be a positive integer"),
    "log_every 0": (_train("--log-every", "0"), "log_every must be a positive integer"),
    "num_seeds 0": (_train("--num-seeds", "0"), "num_seeds must be a positive integer"),
    "learning rate nan": (_train("--learning-rate", "nan"), "learning_rate must be a finite number"),
    "resume and overwrite": (_train("--resume", "True", "--overwrite", "True"), "exclude each other"),
    "death_penalty x": (
        _train("--env", "MultiRoom-N4", "--env-kwargs", "death_penalty", "x"),
        "death_penalty must be a number",
    ),
    "out holds a run": (_train(template="killed"), "already holds a run"),
    "out holds a run, how to start over": (_train(template="finished"), "--overwrite to delete it"),
    "resume with another seed": (
        _train("--resume", "True", "--seed", "7", template="killed"),
        "seed (saved 0, given 7)",
    ),
    "resume with another log_every": (
        _train("--resume", "True", "--log-every", "5", template="killed"),
        "log_every (saved 1, given 5)",
    ),
    "resume with another number of seeds": (
        _train("--resume", "True", "--num-seeds", "3", template="killed"),
        "num_seeds (saved 2, given 3)",
    ),
    "resume with another learning rate": (
        _train("--resume", "True", "--learning-rate", "0.001", template="killed"),
        "learning_rate (saved 0.00025, given 0.001)",
    ),
    "resume with another environment": (
        _train("--resume", "True", "--env", "BARFI-CartPole", template="killed"),
        "env (saved 'CartPole-v1', given 'BARFI-CartPole')",
    ),
    "resume with a malformed config.json": (
        _train("--resume", "True", template="killed", damage=_damage_config),
        "config.json is not valid JSON (line 1",
    ),
    "resume with every checkpoint unreadable": (
        _train("--resume", "True", template="killed", damage=_truncate_every_checkpoint),
        "can be read",
    ),
    "bonus with bonus_coef 0 (a warning; then the folder holds a run)": (
        _train("--bonus", "count", "--bonus-coef", "0", template="finished"),
        "bonus 'count' is computed but never added to the reward",
    ),
    "eval with 0 episodes": (
        lambda tmp_path, runs: ["eval", "--run", str(_copy(runs["finished"], tmp_path)), "--episodes", "0"],
        "--episodes must be at least 1",
    ),
    "eval with every checkpoint unreadable": (
        lambda tmp_path, runs: (
            _truncate_every_checkpoint(_copy(runs["finished"], tmp_path)) or ["eval", "--run", str(tmp_path / "run")]
        ),
        "can be read",
    ),
    "empty sweep file": (lambda tmp_path, runs: _sweep_file("")(tmp_path), "the sweep file is empty"),
    "sweep with log_every 0": (
        lambda tmp_path, runs: _sweep_file("base: {total_timesteps: 1024}\nrun: {log_every: 0}\n")(tmp_path),
        "study.yaml:2: invalid run settings: log_every must be a positive integer",
    ),
    "sweep with checkpoint_every 0": (
        lambda tmp_path, runs: _sweep_file("base: {total_timesteps: 1024}\nrun: {checkpoint_every: 0}\n")(tmp_path),
        "checkpoint_every must be a positive integer",
    ),
    "sweep with a nan learning rate": (
        lambda tmp_path, runs: _sweep_file("base: {total_timesteps: 1024}\naxes: {learning_rate: [.nan]}\n")(tmp_path),
        "learning_rate must be a finite number",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_with_a_message_and_changes_no_file(case, tmp_path, capsys, finished_run, killed_run):
    setup, message = CASES[case]
    argv = setup(tmp_path, {"finished": finished_run, "killed": killed_run})
    before = _snapshot(tmp_path)
    code, output = _run_cli(argv, capsys)
    assert code == 2, output
    assert message in output
    assert _snapshot(tmp_path) == before
    assert "Traceback" not in output


@pytest.mark.parametrize("blocked", ["read-only", "not a folder"])
@pytest.mark.parametrize("command", ["train", "resume", "sweep", "report"])
def test_a_folder_that_cannot_be_written_gives_one_line(command, blocked, tmp_path, capsys, finished_run, killed_run):
    """A read-only output folder (or, where the tests run as root, which writes anyway, a path through a
    file) is one line naming the file, and changes nothing."""
    if blocked == "read-only" and hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root writes to read-only folders")
    folder = tmp_path / "out"
    run = folder / "run"
    if command == "resume":
        shutil.copytree(killed_run, run)
    elif command == "report":
        shutil.copytree(finished_run, run)
    if blocked == "not a folder":
        if command in ("resume", "report"):
            (run / ("metrics.jsonl.tmp" if command == "resume" else "report.md")).mkdir()
        else:
            folder.write_text("a file where a folder should be")
    else:
        folder.mkdir(exist_ok=True)
    (tmp_path / "study.yaml").write_text("base: {total_timesteps: 1024}\n")
    argv = {
        "train": ["train", "ppo", *TINY, "--out", str(run), "--progress", "False"],
        "resume": ["train", "ppo", "--out", str(run), "--resume", "True", "--progress", "False"],
        "sweep": ["sweep", str(tmp_path / "study.yaml"), "--out-root", str(folder)],
        "report": ["report", str(run)],
    }[command]
    before = _snapshot(tmp_path)
    folders = [p for p in [folder, *folder.rglob("*")] if p.is_dir()] if blocked == "read-only" else []
    for path in folders:
        path.chmod(0o555)
    try:
        code, output = _run_cli(argv, capsys)
    finally:
        for path in folders:
            path.chmod(0o755)
    assert code == 2, output
    assert "error: cannot write" in output and "Traceback" not in output
    assert _snapshot(tmp_path) == before


def test_envs_make_refuses_a_death_penalty_that_is_not_a_number():
    import envs

    with pytest.raises(ValueError, match="death_penalty must be a number >= 0"):
        envs.make("MultiRoom-N4", death_penalty="x")


def test_evaluate_policy_refuses_zero_episodes():
    from jaxrl.evaluate import evaluate_policy

    with pytest.raises(ValueError, match="num_episodes must be a positive integer"):
        evaluate_policy(TINY_CONFIG, None, jax.random.PRNGKey(0), num_episodes=0)


# ------------------------------------------------------------------- repaired files: resume goes on


def _rows(path: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(line).items() if k not in TIMING_FIELDS}
        for line in path.read_text().splitlines()
    ]


def _resume(out: Path, capsys) -> str:
    code, output = _run_cli(["train", "ppo", "--out", str(out), "--resume", "True", "--progress", "False"], capsys)
    assert code == 0, output
    return output


def test_resume_takes_unset_options_from_the_saved_run(tmp_path, capsys, finished_run, killed_run):
    """`--resume` with no other option resumes both seeds with the saved settings (not the defaults)."""
    out = _copy(killed_run, tmp_path)
    _resume(out, capsys)
    assert _rows(out / "metrics.jsonl") == _rows(finished_run / "metrics.jsonl")
    assert json.loads((out / "config.json").read_text())["run"]["num_seeds"] == 2


def test_resume_drops_a_cut_last_metrics_line(tmp_path, capsys, finished_run, killed_run):
    out = _copy(killed_run, tmp_path)
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 320, "update": 5, "se')
    output = _resume(out, capsys)
    assert "metrics.jsonl: the last line was cut" in output
    assert _rows(out / "metrics.jsonl") == _rows(finished_run / "metrics.jsonl")


def test_report_ignores_a_cut_last_metrics_line_with_a_warning(tmp_path, capsys, finished_run):
    out = _copy(finished_run, tmp_path)
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 3')
    code, output = _run_cli(["report", str(out)], capsys)
    assert code == 0 and "the last line was cut" in output


@pytest.mark.parametrize(
    "damage",
    [
        lambda step: [p.write_bytes(p.read_bytes()[:5]) for p in step.rglob("*") if p.parent.name == "d"],
        lambda step: (step / "train_state" / "_METADATA").unlink(),
        lambda step: (step / "policy" / "manifest.ocdbt").write_bytes(b""),
    ],
    ids=["data truncated", "metadata missing", "manifest cut"],
)
def test_resume_falls_back_past_a_damaged_checkpoint(damage, tmp_path, capsys, finished_run, killed_run):
    out = _copy(killed_run, tmp_path)
    damage(out / "checkpoints" / str(4 * BATCH))
    output = _resume(out, capsys)
    assert f"checkpoints/{4 * BATCH} is unreadable" in output and f"resuming from step {2 * BATCH}" in output
    assert (out / "checkpoints_unreadable" / str(4 * BATCH)).is_dir()  # moved aside, not deleted
    assert _rows(out / "metrics.jsonl") == _rows(finished_run / "metrics.jsonl")


def _like(num_seeds: int):
    trainer = make_train(TINY_CONFIG)
    hparams = jax.tree.map(lambda x: jnp.stack([x] * num_seeds), TINY_CONFIG.hyperparams())
    return jax.eval_shape(jax.vmap(trainer.init_fn), jnp.zeros((num_seeds, 2), jnp.uint32), hparams)


def test_nan_injected_into_one_seed_of_a_checkpoint(tmp_path, capsys, finished_run, killed_run):
    """Seed 1's parameters turned to NaN in the newest checkpoint: on resume that seed is marked failed
    with its finite parameters from the older checkpoint kept, and seed 0 goes on as if nothing happened."""
    from jaxrl.checkpoints import Checkpointer

    out = _copy(killed_run, tmp_path)
    step = 4 * BATCH
    checkpointer = Checkpointer(out / "checkpoints")
    state, meta = checkpointer.restore(step, _like(2))
    checkpointer.close()
    nan_params = jax.tree.map(lambda x: x.at[1].set(jnp.nan), state.params)
    shutil.rmtree(out / "checkpoints" / str(step))
    checkpointer = Checkpointer(out / "checkpoints")
    checkpointer.save(step, state.replace(params=nan_params), meta)
    checkpointer.close()

    code, output = _run_cli(["train", "ppo", "--out", str(out), "--resume", "True", "--progress", "False"], capsys)
    assert code == 2 and "1 trial(s) failed" in output
    assert f"holds NaN or inf parameters for this trial; its finite parameters of checkpoint step {2 * BATCH}" in output
    status = json.loads((out / "status.json").read_text())
    assert status["trials"] == {"seed=0": "done", "seed=1": "failed"}
    full = _rows(finished_run / "metrics.jsonl")
    rows = _rows(out / "metrics.jsonl")
    assert [r for r in rows if r["seed"] == 0] == [r for r in full if r["seed"] == 0]
    assert [r["update"] for r in rows if r["seed"] == 1] == [1, 2, 3, 4]
    checkpointer = Checkpointer(out / "checkpoints")
    final, meta = checkpointer.restore(6 * BATCH, _like(2))
    older, _ = Checkpointer(killed_run / "checkpoints").restore(2 * BATCH, _like(2))
    assert list(meta["failed"]) == ["seed=1"]
    for got, kept in zip(jax.tree.leaves(final.params), jax.tree.leaves(older.params), strict=True):
        np.testing.assert_array_equal(got[1], kept[1])


def test_overwrite_starts_over(tmp_path, capsys, finished_run):
    out = _copy(finished_run, tmp_path)
    (out / "metrics.jsonl").write_text('{"update": 99}\n')
    code, output = _run_cli(
        ["train", "ppo", *TINY, "--num-seeds", "2", "--log-every", "1", "--checkpoint-every", "2",
         "--out", str(out), "--overwrite", "True", "--progress", "False"],
        capsys,
    )
    assert code == 0 and "deleting the run" in output
    assert _rows(out / "metrics.jsonl") == _rows(finished_run / "metrics.jsonl")


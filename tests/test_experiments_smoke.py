"""Experiment scripts: experiments/minihack_tasks.py for a couple of thousand steps of one agent on one
real MiniHack task (checking the CSV it writes), and the plumbing of experiments/global_vs_episodic.py
(its sweep file, configs and aggregation; no training)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import global_vs_episodic  # noqa: E402

from jaxrl.bonuses import CombinedBonus, CountBonus, E3BBonus, EpisodicCountBonus, make_bonus  # noqa: E402
from jaxrl.stats import interquartile_mean  # noqa: E402


def test_sweep_sizes_and_configs_cover_the_paper_study() -> None:
    full = global_vs_episodic.load_sweep(global_vs_episodic.SWEEP_FILE, "full")
    assert full["studies"]["MultiRoom-N6-Lava"]["contexts"] == [1, 3, 5, 10, -1]
    assert full["seeds"] >= 5
    assert set(full["methods"]) == {
        "none", "count", "episodic_count", "rnd", "noveld", "e3b", "e3b*rnd", "e3b+rnd", "e3b*count"
    }  # fmt: skip
    quick = global_vs_episodic.load_sweep(global_vs_episodic.SWEEP_FILE, "quick")
    assert quick["base"]["num_envs"] < full["base"]["num_envs"]  # the size overrides the base settings
    assert quick["base"]["learning_rate"] == full["base"]["learning_rate"]

    # KeyRoom counts on messages, MultiRoom on positions; the product keeps E3B first (episodic x global).
    config = global_vs_episodic.make_config(full, "KeyRoom-S10", -1, "e3b*count")
    assert config.env_kwargs == {"sight": True, "num_contexts": -1, "context_seed": 0}
    assert config.network == "gru"  # the paper's agent is recurrent (issue 15)
    assert "inventory" in config.obs_keys and "message" not in config.obs_keys
    bonus = make_bonus(config.bonus, **config.bonus_kwargs)
    assert isinstance(bonus, CombinedBonus) and bonus.mode == "product"
    assert isinstance(bonus.first, E3BBonus) and isinstance(bonus.second, CountBonus)
    assert bonus.second.key == "message"
    episodic = global_vs_episodic.make_config(full, "MultiRoom-N6-Lava", 3, "episodic_count")
    built = make_bonus(episodic.bonus, **episodic.bonus_kwargs)
    assert isinstance(built, EpisodicCountBonus) and built.key == "position"
    assert episodic.env_kwargs["num_contexts"] == 3
    assert episodic.env_kwargs["area"] == "25x25" and episodic.env_kwargs["sight"] is True


def test_aggregate_and_summary(tmp_path: Path) -> None:
    scores = [0.0, 1.0, 0.5, 0.25, 0.75, 0.9]
    # Seeds from two programs (a resume added the last two): times are summed over the programs.
    rows = [
        {"study": "MultiRoom-N6-Lava", "num_contexts": "-1", "method": "count", "success_rate": str(v),
         "env_steps": "1000", "compile_s": "1.0" if i < 4 else "3.0", "run_s": "2.0" if i < 4 else "5.0",
         "seeds_in_program": "4" if i < 4 else "2"}
        for i, v in enumerate(scores)
    ]  # fmt: skip
    (entry,) = global_vs_episodic.aggregate(rows)
    assert entry["seeds"] == len(scores)
    assert entry["compile_s"] == pytest.approx(4.0) and entry["run_s"] == pytest.approx(7.0)
    assert entry["iqm"] == pytest.approx(interquartile_mean(np.array(scores)))
    assert entry["low"] <= entry["iqm"] <= entry["high"]
    spec = global_vs_episodic.load_sweep(global_vs_episodic.SWEEP_FILE, "quick")
    global_vs_episodic.write_summary(tmp_path / "summary.md", [entry], spec, "quick", 3.0, "cmd")
    text = (tmp_path / "summary.md").read_text()
    assert "| MultiRoom-N6-Lava | inf | count |  | 6 |" in text and "| 0.00 |" in text  # paper's number
    assert "Not run here" in text  # the quick size names what the full study adds


def fake_programs(monkeypatch: pytest.MonkeyPatch, success: object = None) -> list[tuple[object, list[int], object]]:
    """Replaces training with a stub; returns the list of (config, seeds, per-trial coefficients) it is
    called with. ``success(config, seed, coef)`` sets a trial's final success (0.5 by default)."""
    calls: list[tuple[object, list[int], object]] = []

    def fake_program(config, seeds, updates_per_chunk, final_fraction, eval_steps=0, coefs=None):  # noqa: ANN001, ANN202
        calls.append((config, list(seeds), coefs))
        n = len(seeds)
        trial_coefs = coefs or [config.bonus_coef] * n
        rates = [0.5 if success is None else success(config, s, c) for s, c in zip(seeds, trial_coefs, strict=True)]
        return {
            "success_rate": np.array(rates, float),
            "final_episodes": np.full(n, 10), "episode_return_mean": np.zeros(n),
            "curve_steps": np.array([100]), "curves": np.zeros((n, 1)), "env_steps": 100,
            "compile_s": 1.0, "run_s": 2.0,
        }  # fmt: skip

    monkeypatch.setattr(global_vs_episodic, "run_program", fake_program)
    return calls


def test_resume_runs_only_the_missing_seeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-run with more seeds trains only the new ones, and writes one row per seed in all."""
    calls = fake_programs(monkeypatch)
    argv = ["--quick", "--out", str(tmp_path), "--methods", "count", "--contexts", "1", "--compilation-cache", ""]
    global_vs_episodic.main([*argv, "--seeds", "2"])
    global_vs_episodic.main([*argv, "--seeds", "3"])
    global_vs_episodic.main([*argv, "--seeds", "3"])  # nothing left to run
    assert [seeds for _, seeds, _ in calls] == [[0, 1], [2]]
    rows = global_vs_episodic.read_rows(tmp_path / "runs.csv")
    assert sorted(int(r["seed"]) for r in rows) == [0, 1, 2]
    assert [r["seeds_in_program"] for r in rows] == ["2", "2", "1"]


def test_one_results_folder_holds_one_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs with another coefficient or budget are refused in a folder that has runs; --fresh starts over."""
    calls = fake_programs(monkeypatch)
    argv = ["--quick", "--out", str(tmp_path), "--methods", "count", "--contexts", "1", "--compilation-cache", ""]
    global_vs_episodic.main([*argv, "--seeds", "1", "--bonus-coef", "0.01"])
    assert calls[-1][0].bonus_coef == 0.01
    summary = (tmp_path / "summary.md").read_text()
    assert "--bonus-coef 0.01" in summary and "bonus coefficient 0.01" in summary
    with pytest.raises(SystemExit, match="base differ"):
        global_vs_episodic.main([*argv, "--seeds", "2"])  # the sweep file's coefficient
    with pytest.raises(SystemExit, match="total_timesteps differ"):
        global_vs_episodic.main([*argv, "--seeds", "2", "--bonus-coef", "0.01", "--total-timesteps", "999"])
    with pytest.raises(SystemExit, match="base differ"):
        global_vs_episodic.main([*argv, "--report-only"])  # its summary would name the wrong coefficient
    assert len(calls) == 1
    global_vs_episodic.main([*argv, "--seeds", "2", "--bonus-coef", "0.01"])  # same setting: resumes seed 1
    global_vs_episodic.main([*argv, "--seeds", "1", "--fresh"])
    coefs = [config.bonus_coef for config, _, _ in calls]
    assert coefs[:2] == [0.01, 0.01] and coefs[2] != 0.01
    assert len(global_vs_episodic.read_rows(tmp_path / "runs.csv")) == 1


@pytest.mark.minihack
@pytest.mark.slow
def test_minihack_tasks_script_writes_csv(tmp_path: Path) -> None:
    pytest.importorskip("minihack")
    steps, num_envs, num_steps = 2000, 4, 64
    command = [
        sys.executable,
        str(ROOT / "experiments" / "minihack_tasks.py"),
        "--steps", str(steps),
        "--tasks", "MultiRoom-N6-Lava",
        "--methods", "count",
        "--seeds", "1",
        "--num-envs", str(num_envs),
        "--num-steps", str(num_steps),
        "--out", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    with (tmp_path / "runs.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    row = rows[0]
    assert (row["task"], row["method"], row["bonus"], row["seed"]) == ("MultiRoom-N6-Lava", "count", "count", "0")
    batch = num_envs * num_steps
    # Whole PPO updates, at least the requested steps and less than one batch more.
    assert int(row["env_steps"]) % batch == 0 and steps <= int(row["env_steps"]) < steps + batch
    assert 0.0 <= float(row["success_rate"]) <= 1.0
    assert float(row["steps_per_s"]) > 0
    summary = (tmp_path / "summary.md").read_text()
    assert "steps/s" in summary and "hours" in summary
    assert "| MultiRoom-N6-Lava | count | 0 |" in summary
    assert (tmp_path / "success.png").stat().st_size > 0


def sweep_rows(table: dict[tuple[str, float, int], list[float]]) -> list[dict[str, str]]:
    """Per-seed rows of a coefficient sweep from ``{(method, coef, |C|): [success per seed]}``."""
    return [
        {
            "study": "S",
            "method": m,
            "bonus_coef": str(c),
            "num_contexts": str(n),
            "seed": str(i),
            "success_rate": str(v),
        }
        for (m, c, n), values in table.items()
        for i, v in enumerate(values)
    ]


def test_select_coefficients_rule_with_controls() -> None:
    select = global_vs_episodic.select_coefficients
    # Positive control: 0.1 solves both cells, the others do not.
    picked = select(sweep_rows({
        ("a", 0.01, 1): [0.5, 0.5], ("a", 0.01, -1): [0.0, 0.0],
        ("a", 0.1, 1): [1.0, 1.0], ("a", 0.1, -1): [1.0, 0.8],
        ("a", 1.0, 1): [0.0, 0.0], ("a", 1.0, -1): [0.2, 0.0],
    }))["a"]  # fmt: skip
    assert picked["coef"] == 0.1 and picked["decided"] and picked["score"] == pytest.approx(0.95)
    assert picked["scores"] == pytest.approx({0.01: 0.25, 0.1: 0.95, 1.0: 0.05})
    # The average over cells decides, not the best single cell; a near-tie goes to the smaller coefficient.
    picked = select(sweep_rows({
        ("b", 0.1, 1): [0.6], ("b", 0.1, -1): [0.6], ("b", 1.0, 1): [0.0], ("b", 1.0, -1): [0.9],
        ("c", 0.01, 1): [0.98], ("c", 0.01, -1): [0.98], ("c", 0.1, 1): [1.0], ("c", 0.1, -1): [1.0],
        ("d", 0.01, 1): [0.5], ("d", 0.01, -1): [0.5], ("d", 0.1, 1): [1.0], ("d", 0.1, -1): [1.0],
    }))  # fmt: skip
    assert (picked["b"]["coef"], picked["c"]["coef"], picked["d"]["coef"]) == (0.1, 0.01, 0.1)
    # Negative control: nothing works at any coefficient: undecided, the smallest by the tie rule.
    picked = select(sweep_rows({("e", 1.0, 1): [0.0, 0.0], ("e", 0.1, 1): [0.0, 0.02], ("e", 0.01, 1): [0.0, 0.0]}))
    assert picked["e"]["coef"] == 0.01 and not picked["e"]["decided"]
    with pytest.raises(ValueError, match="lacks"):  # a missing cell would bias the average
        select(sweep_rows({("a", 0.1, 1): [1.0], ("a", 0.1, -1): [1.0], ("a", 1.0, 1): [1.0]}))


def test_coef_sweep_runs_every_coefficient_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--coef-sweep``: one program per (|C|, method) over (coefficient, seed) trials, rows per coefficient,
    resumable; the summary carries the full table and the selection, and the study's summary repeats it."""

    def success(config, seed, coef):  # noqa: ANN001, ANN202
        return 1.0 if (config.bonus == "count" and coef == 0.1) else 0.0

    calls = fake_programs(monkeypatch, success)
    argv = ["--quick", "--out", str(tmp_path), "--compilation-cache", ""]
    global_vs_episodic.main([*argv, "--coef-sweep"])
    quick = global_vs_episodic.load_sweep(global_vs_episodic.SWEEP_FILE, "quick")["coef_sweep"]
    assert len(calls) == len(quick["contexts"]) * len(quick["methods"])
    for config, seeds, coefs in calls:
        assert sorted(zip(coefs, seeds, strict=True)) == [(c, 0) for c in quick["coefs"]]
        assert config.total_timesteps == quick["total_timesteps"]
    global_vs_episodic.main([*argv, "--coef-sweep"])  # resumes: nothing left
    assert len(calls) == len(quick["contexts"]) * len(quick["methods"])
    rows = global_vs_episodic.read_rows(tmp_path / "coef_sweep" / "runs.csv")
    assert sorted({float(r["bonus_coef"]) for r in rows}) == quick["coefs"]
    text = (tmp_path / "coef_sweep" / "summary.md").read_text()
    assert "| count | 0.1 | 1.00 (1.00) | 1.00 (1.00) | 1.00 | **yes** |" in text
    assert "| episodic_count | 0.01 | 0.00 (0.00) | 0.00 (0.00) | 0.00 | yes (undecided) |" in text
    with pytest.raises(SystemExit, match="exclude"):
        global_vs_episodic.main([*argv, "--coef-sweep", "--bonus-coef", "0.1"])
    # The study: per-method coefficients from bonus_coefs reach the configs; its summary shows the sweep.
    spec = global_vs_episodic.load_sweep(global_vs_episodic.SWEEP_FILE, "quick")
    spec["bonus_coefs"] = {"count": 0.01}
    assert global_vs_episodic.make_config(spec, "MultiRoom-N6-Lava", 1, "count").bonus_coef == 0.01
    assert global_vs_episodic.make_config(spec, "MultiRoom-N6-Lava", 1, "e3b*count").bonus_coef == 0.1
    sweep_csv = str(tmp_path / "coef_sweep" / "runs.csv")
    global_vs_episodic.main([*argv, "--methods", "count,episodic_count", "--contexts", "1", "--seeds", "1",
                             "--coefs-from", sweep_csv])  # fmt: skip
    assert [(c.bonus, c.bonus_coef) for c, _, _ in calls[-2:]] == [("count", 0.1), ("episodic_count", 0.01)]
    text = (tmp_path / "summary.md").read_text()
    assert "## The intrinsic coefficient per method" in text and "count 0.1, episodic_count 0.01" in text


def test_shortest_path_follows_the_engine_rules() -> None:
    """Hand-made maps: a closed door costs a step to open, doors are never crossed diagonally, lava and
    walls block, an unreachable goal gives -1; and the path found is really walked by the environment."""
    from envs.gridworld import tables

    t = {".": tables.FLOOR, "|": tables.WALL, "+": tables.DOOR_CLOSED, "}": tables.LAVA, ">": tables.GOAL}
    t |= {"-": tables.DOOR_OPEN}

    def grid(text: str) -> np.ndarray:
        return np.array([[t[ch] for ch in row] for row in text.split()], np.uint8)

    path = global_vs_episodic.shortest_path
    assert path(grid("...> ...."), (0, 1))[0] == 3  # diagonal moves
    assert path(grid(".|.. .+.> .|.."), (0, 0))[0] == 1 + 2 + 2  # down, open + enter (no diagonal), 2 more
    assert path(grid(".|.. .-.> .|.."), (0, 0))[0] == 1 + 1 + 2
    assert path(grid(".}>"), (0, 0)) == (-1, [])  # lava is never entered
    length, cells = path(grid("..}}. .}... ...}>"), (0, 0))
    assert length == 4 and cells == [(0, 0), (1, 0), (2, 1), (3, 1), (4, 2)]


@pytest.mark.slow
def test_context_levels_paths_are_walked_by_the_environment() -> None:
    """The study's |C| = 5 levels: the shortest path found on each, stepped through the environment as
    compass moves (a closed door: the same move twice), ends the episode with the goal's reward."""
    import jax

    import envs
    from envs.gridworld import tables

    kwargs = {"area": "25x25", "sight": True}
    levels = global_vs_episodic.context_levels("MultiRoom-N4-Lava", kwargs, 5, 0)
    assert [lv["context"] for lv in levels] == list(range(5))
    assert all(lv["ascii"].count("@") == 1 and lv["ascii"].count(">") == 1 for lv in levels)
    env, params = envs.make("MultiRoom-N4-Lava", **kwargs, num_contexts=5, context_seed=0)
    step = jax.jit(env.step)
    key = jax.random.PRNGKey(1)
    found = set()
    while len(found) < 5:
        key, k = jax.random.split(key)
        _, state = env.reset(k, params)
        context = int(state.context)
        if context in found:
            continue
        found.add(context)
        grid = np.asarray(state.grid)
        length, cells = global_vs_episodic.shortest_path(grid, tuple(int(v) for v in state.position))
        assert length == levels[context]["shortest_path"] > 0
        moves = [
            tables.DIRECTIONS.tolist().index([b[0] - a[0], b[1] - a[1]]) for a, b in zip(cells, cells[1:], strict=False)
        ]
        actions = [
            m
            for m, cell in zip(moves, cells[1:], strict=True)
            for _ in range(2 if grid[cell[1], cell[0]] == tables.DOOR_CLOSED else 1)
        ]
        assert len(actions) == length
        for i, action in enumerate(actions):
            _, state, reward, terminated, _, _ = step(jax.random.PRNGKey(i), state, action, params)
            assert bool(terminated) == (i == len(actions) - 1), (context, i)
        assert float(reward) == 1.0


def test_evaluation_rows_per_level_and_how_failures_end() -> None:
    """Per-level rows of the final policies' evaluation, and the summary line that names the levels never
    solved and how their episodes end (lava or the time limit)."""
    evaluation = {
        "episodes": np.array([10]), "successes": np.array([4]), "died": np.array([5]), "timed_out": np.array([1]),
        "context_episodes": np.array([[4, 6]]), "context_successes": np.array([[4, 0]]),
        "context_died": np.array([[0, 5]]), "context_timed_out": np.array([[0, 1]]),
    }  # fmt: skip
    common = {"study": "MultiRoom-N4-Lava", "num_contexts": 2, "method": "count"}
    rows = global_vs_episodic.evaluation_rows(common, [3], evaluation)
    assert [(r["context"], r["success_rate"], r["died"], r["timed_out"]) for r in rows] == [
        ("all", "0.4000", "0.5000", "0.1000"), (0, "1.0000", "0.0000", "0.0000"), (1, "0.0000", "0.8333", "0.1667")
    ]  # fmt: skip
    rows = [{k: str(v) for k, v in r.items()} for r in rows]
    (line,) = [x for x in global_vs_episodic.evaluation_lines(rows, ["count"]) if x.startswith("- ")]
    assert "level 0: 1.00 (0/1, lava 0.00, time limit 0.00)" in line
    assert "level 1: 0.00 (1/1, lava 0.83, time limit 0.17)" in line

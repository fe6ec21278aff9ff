"""Global vs episodic exploration bonuses in contextual MDPs (Henaff, Jiang, Raileanu, ICML 2023).

The paper's controlled study on our JAX gridworlds: PPO with each exploration bonus on

- ``MultiRoom-N6-Lava`` with counts on the agent's (x, y) and |C| in {1, 3, 5, 10, infinite} level seeds,
- ``Corridor-R5`` with |C| = 1 (shared structure: the global bonus should win),
- ``KeyRoom-S10`` with counts on messages at |C| = infinite (messages are shared across contexts),

for the methods no bonus, global count, episodic count, RND, NovelD, E3B, E3B x RND, E3B + RND and
E3B x global count. Claim tested: the global count solves MultiRoom at |C| = 1 (paper: 0.99) and fails
at |C| = infinite (0.00) where the episodic count holds (about 0.87); the product E3B x global works
in every setting.

    python experiments/global_vs_episodic.py --quick     # a smoke size (see sweeps/global_vs_episodic.yaml)
    python experiments/global_vs_episodic.py --size medium --coef-sweep --out results/global_vs_episodic/medium_gru
        # the coefficient sweep (sweep file: coef_sweep) into medium_gru/coef_sweep/; its selection
        # (select_coefficients) goes into the size's bonus_coefs, which the study then uses:
    python experiments/global_vs_episodic.py --size medium --out results/global_vs_episodic/medium_gru
        # CPU-sized: MultiRoom-N4-Lava at every |C|, Corridor-R5, KeyRoom-S10; 9 methods x 5 seeds x 500k steps
    python experiments/global_vs_episodic.py             # the full study (hours; see the summary)
    python experiments/global_vs_episodic.py --studies Corridor-R5 --methods count,e3b --seeds 3
    python experiments/global_vs_episodic.py --quick --report-only   # rewrite summary and PNG from runs.csv

Every (study, |C|, method) is one compiled program with the seeds vmapped (|C| is an environment
kwarg, fixed inside the program). Finished programs are appended to ``runs.csv`` as they complete, and
a re-run skips the seeds it already has (``--fresh`` starts over), so a long run can be stopped and
resumed, seeds can be added with a larger ``--seeds``, and several processes (say one per core, split
with ``--contexts``) can write into one ``--out``. Writes, in
``results/global_vs_episodic/`` (or ``--out``): ``runs.csv`` (one row per seed: final success rate,
steps, wall time), ``curves.csv`` (success per chunk of updates), ``success_vs_contexts.png`` and
``summary.md`` (IQM with 95% stratified-bootstrap intervals beside the paper's numbers).
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import yaml

import envs
from jaxrl.ppo import PPOConfig, make_train
from jaxrl.report import git_revision
from jaxrl.stats import bootstrap_ci

ROOT = Path(__file__).resolve().parents[1]
SWEEP_FILE = ROOT / "sweeps" / "global_vs_episodic.yaml"
OUT_DIR = ROOT / "results" / "global_vs_episodic"
RUN_FIELDS = (
    "study",
    "num_contexts",
    "method",
    "bonus",
    "bonus_coef",
    "seed",
    "success_rate",
    "final_episodes",
    "episode_return_mean",
    "env_steps",
    "compile_s",
    "run_s",
    "seeds_in_program",
)
# Reported by Henaff et al. (2023) for MultiRoom-N6-Lava (success rate), by |C| (-1: infinite).
PAPER_NUMBERS = {
    ("MultiRoom-N6-Lava", "count", 1): "0.99",
    ("MultiRoom-N6-Lava", "count", -1): "0.00",
    ("MultiRoom-N6-Lava", "episodic_count", -1): "~0.87",
}
PAPER_QUALITATIVE = {
    "Corridor-R5": "global works; episodic unreliable (picks the rewarding corridor w.p. 1/M); product works",
    "KeyRoom-S10": "counts on messages: global and episodic both work; product works",
}


# --------------------------------------------------------------------------------------------------
# The sweep file


def load_sweep(path: Path, size: str) -> dict[str, Any]:
    """The sweep file with the named size's overrides (total_timesteps, seeds, studies, methods) applied."""
    spec = yaml.safe_load(Path(path).read_text())
    sizes = spec.pop("sizes")
    if size not in sizes:
        raise ValueError(f"{path}: size {size!r} not among {sorted(sizes)}")
    chosen = dict(sizes[size])
    if "base" in chosen:
        spec["base"] = {**spec["base"], **chosen.pop("base")}
    if "studies" in chosen:
        spec["studies"] = chosen.pop("studies")
    if "methods" in chosen:
        unknown = [m for m in chosen["methods"] if m not in spec["methods"]]
        if unknown:
            raise ValueError(f"{path}: size {size!r} names unknown methods {unknown}")
        spec["methods"] = {m: spec["methods"][m] for m in chosen.pop("methods")}
    spec.update(chosen)
    return spec


def context_label(num_contexts: int) -> str:
    return "inf" if num_contexts < 0 else str(num_contexts)


def study_env_kwargs(spec: dict[str, Any], study: str) -> dict[str, Any]:
    """Environment kwargs of a study: the sweep's ``env_kwargs`` (to every study) and the study's own."""
    return {**spec.get("env_kwargs", {}), **spec["studies"][study].get("env_kwargs", {})}


def make_config(spec: dict[str, Any], study: str, num_contexts: int, method: str) -> PPOConfig:
    """The PPO config of one program: the base settings, the study's environment and the method's bonus."""
    bonus = spec["methods"][method]
    env_kwargs = study_env_kwargs(spec, study)
    env, params = envs.make(study, **env_kwargs)
    present = set(env.observation_space(params).spaces)
    policy_keys = tuple(k for k in spec["policy_keys"] if k in present)
    bonus_kwargs: dict[str, Any] = {}
    if bonus != "none":
        parts = bonus.replace("*", " ").replace("+", " ").split()
        options = dict(spec.get("bonus_kwargs", {}))
        if "+" not in bonus:
            options.pop("sum_weight", None)
        if any(p in ("count", "episodic_count", "noveld") for p in parts):
            options["key"] = spec["studies"][study]["count_key"]
        if "obs_keys" in options:
            options["obs_keys"] = tuple(k for k in options["obs_keys"] if k in present)
        # Each option goes to the parts that have it; drop the ones no part takes.
        from jaxrl.bonuses import BONUSES

        fields = set().union(*(BONUSES[p].__dataclass_fields__ for p in parts))
        bonus_kwargs = {k: v for k, v in options.items() if k in fields or k == "sum_weight"}
    base = dict(spec["base"])
    base["hidden_sizes"] = tuple(base.get("hidden_sizes", (64, 64)))
    base["bonus_coef"] = method_coef(spec, method)
    return PPOConfig(
        env=study,
        env_kwargs={
            **env_kwargs,
            "num_contexts": int(num_contexts),
            "context_seed": int(spec.get("context_seed", 0)),
        },
        total_timesteps=int(spec["total_timesteps"]),
        obs_keys=policy_keys,
        bonus=bonus,
        bonus_kwargs=bonus_kwargs,
        **{k: v for k, v in base.items() if k != "bonus"},
    )


def method_coef(spec: dict[str, Any], method: str) -> float:
    """The intrinsic coefficient of ``method``: its entry in ``bonus_coefs`` (chosen by the coefficient
    sweep), else ``base.bonus_coef``."""
    return float(spec.get("bonus_coefs", {}).get(method, spec["base"]["bonus_coef"]))


SETTINGS_FILE = "settings.json"


def result_settings(spec: dict[str, Any]) -> dict[str, Any]:
    """Every setting that changes a seed's result (not which seeds, studies or methods are run)."""
    keys = ("base", "bonus_kwargs", "total_timesteps", "policy_keys", "final_fraction", "context_seed")
    keys += ("env_kwargs", "eval_episode_lengths", "bonus_coefs", "sweep_coefs")
    studies = {study: study_env_kwargs(spec, study) for study in spec["studies"]}
    return {k: spec.get(k) for k in keys} | {"methods": spec["methods"], "study_env_kwargs": studies}


def check_settings(out: Path, spec: dict[str, Any], record: bool = True) -> None:
    """Refuses to add runs to, or report on, ``out`` with other settings than its runs were made with
    (one folder, one setting); ``record`` writes this run's settings into the folder."""
    path = out / SETTINGS_FILE
    wanted = json.loads(json.dumps(result_settings(spec)))
    if path.exists():
        earlier = json.loads(path.read_text())
        merged = ("methods", "study_env_kwargs")  # compared per entry (a size may run other studies)
        changed = {k for k in wanted.keys() & earlier.keys() if k not in merged and wanted[k] != earlier[k]}
        changed |= {
            f"study_env_kwargs.{s}"
            for s in wanted["study_env_kwargs"].keys() & earlier.get("study_env_kwargs", {}).keys()
            if wanted["study_env_kwargs"][s] != earlier["study_env_kwargs"][s]
        }
        changed |= {
            f"methods.{m}"
            for m in wanted["methods"].keys() & earlier.get("methods", {}).keys()
            if wanted["methods"][m] != earlier["methods"][m]
        }
        if changed:
            raise SystemExit(
                f"{out} holds runs made with other settings ({', '.join(sorted(changed))} differ; see "
                f"{path}). Use another --out, or --fresh to discard them."
            )
        wanted["methods"] = {**earlier.get("methods", {}), **wanted["methods"]}
        wanted["study_env_kwargs"] = {**earlier.get("study_env_kwargs", {}), **wanted["study_env_kwargs"]}
    if record:
        path.write_text(json.dumps(wanted, indent=1, sort_keys=True) + "\n")


# --------------------------------------------------------------------------------------------------
# Running one program


# Per-episode ``info`` entries the evaluation of the final policy reports (those the environment has).
EVAL_INFO = ("context", "key_seen", "key_picked_up", "door_unlocked", "door_entered")
EVAL_FLAGS = EVAL_INFO[1:]


def evaluate_final(trainer: Any, state: Any, seeds: list[int], num_steps: int) -> dict[str, np.ndarray]:
    """The final policies (stochastic, as in training) on fresh episodes: ``num_steps`` steps of every
    environment, per seed. Returns per seed the finished episodes and successes per context index
    (``[S, C]``, for ``num_contexts >= 1``) and, over all episodes, the fraction with each of the key
    task's events (``EVAL_FLAGS``, where the environment reports them)."""
    from jaxrl.rollout import RolloutState, collect_rollout

    config = trainer.config
    base_env, base_params = envs.make(config.env, **config.env_kwargs)
    reset_obs, reset_state = jax.eval_shape(base_env.reset, jax.random.PRNGKey(0), base_params)
    info = jax.eval_shape(base_env.step, jax.random.PRNGKey(0), reset_state, jnp.int32(0), base_params)[-1]
    info_keys = tuple(k for k in EVAL_INFO if k in info)
    num_contexts = max(int(config.env_kwargs.get("num_contexts", -1)), 0)
    num_envs = config.num_envs
    carry_size = config.gru_size if config.network == "gru" else 0

    def run(params: Any, key: jax.Array) -> dict[str, jax.Array]:
        key_reset, key_rollout = jax.random.split(key)
        obs, env_state = trainer.env.reset(key_reset, trainer.env_params)
        start = RolloutState(
            env_state, obs, jnp.ones(num_envs, bool), trainer.network.initial_carry(num_envs, carry_size), None
        )
        _, batch = collect_rollout(
            key_rollout,
            start,
            params,
            env=trainer.env,
            env_params=trainer.env_params,
            network=trainer.network,
            num_steps=num_steps,
            info_keys=info_keys,
        )
        done = batch.stats["episode_done"].astype(bool)
        success = done & (batch.stats["success"] > 0)
        # How the failures end: terminated without the goal (lava) or cut by the time limit.
        died = done & ~success & ~batch.truncated
        timed_out = done & ~success & batch.truncated
        out = {"episodes": done.sum(), "successes": success.sum(), "died": died.sum(), "timed_out": timed_out.sum()}
        if "context" in info_keys and num_contexts:
            one_hot = batch.stats["context"][..., None] == jnp.arange(num_contexts)
            out["context_episodes"] = (done[..., None] & one_hot).sum((0, 1))
            out["context_successes"] = (success[..., None] & one_hot).sum((0, 1))
            out["context_died"] = (died[..., None] & one_hot).sum((0, 1))
            out["context_timed_out"] = (timed_out[..., None] & one_hot).sum((0, 1))
        for flag in EVAL_FLAGS:
            if flag in info_keys:
                out[flag] = (done & batch.stats[flag]).sum()
        return out

    keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(s), 1_000_003) for s in seeds])
    return jax.device_get(jax.jit(jax.vmap(run))(state.params, keys))


def run_program(
    config: PPOConfig,
    seeds: list[int],
    updates_per_chunk: int,
    final_fraction: float,
    eval_steps: int = 0,
    coefs: list[float] | None = None,
) -> dict[str, Any]:
    """Trains ``config`` for every seed in one vmapped program. Returns per-seed final success rates
    (successes / episodes over the last ``final_fraction`` of updates), per-chunk curves and timings,
    and, with ``eval_steps``, the final policies' evaluation (`evaluate_final`) under ``evaluation``.
    ``coefs`` (one per entry of ``seeds``) gives each trial its own bonus coefficient, a vmapped
    hyperparameter, so a coefficient sweep is one program; by default every trial uses the config's."""
    if coefs is not None and len(coefs) != len(seeds):
        raise ValueError(f"coefs needs one coefficient per seed: {len(coefs)} coefs for {len(seeds)} seeds")
    trainer = make_train(config, updates_per_chunk=updates_per_chunk)
    chunk_lengths = trainer.chunk_lengths
    keys = [jax.random.PRNGKey(s) for s in seeds]
    if coefs is None:
        hparams = [config.hyperparams() for _ in seeds]
    else:
        hparams = [config.hyperparams(bonus_coef=c) for c in coefs]

    start = time.perf_counter()
    # Seeds are initialised one at a time and stacked: a vmapped init batches the orthogonal
    # initialisers' QR factorisations, and jaxlib's batched CPU QR (lapack sgeqrf through
    # ParallelBatchMap) deadlocked here on a loaded 2-core machine (all threads parked in futex waits).
    init = jax.jit(trainer.init_fn)
    state = jax.tree.map(lambda *xs: jnp.stack(xs), *[init(key, hp) for key, hp in zip(keys, hparams, strict=True)])
    compiled = {}
    for length in sorted(set(chunk_lengths)):
        update = jax.vmap(lambda s, n=length: trainer.update_fn(s, num_updates=n))
        compiled[length] = jax.jit(update).lower(state).compile()
    compile_s = time.perf_counter() - start

    start = time.perf_counter()
    rows = []
    for length in chunk_lengths:
        state, metrics = compiled[length](state)
        metrics = jax.device_get(metrics)
        rows.append({k: np.asarray(metrics[k]) for k in ("success_sum", "episodes", "episode_return_sum")})
        rows[-1]["updates"] = length
    run_s = time.perf_counter() - start
    evaluation = evaluate_final(trainer, state, seeds, eval_steps) if eval_steps > 0 else None

    updates = np.cumsum([r["updates"] for r in rows])
    total = updates[-1]
    final = updates > total * (1.0 - final_fraction) - 1e-9
    final[-1] = True
    pick = lambda name: np.stack([r[name] for r, f in zip(rows, final, strict=True) if f]).sum(0)
    episodes, successes, returns = pick("episodes"), pick("success_sum"), pick("episode_return_sum")
    safe = np.maximum(episodes, 1)
    curves = np.stack([r["success_sum"] / np.maximum(r["episodes"], 1) for r in rows], axis=1)  # [S, chunks]
    return {
        "success_rate": np.where(episodes > 0, successes / safe, 0.0),
        "final_episodes": episodes,
        "episode_return_mean": np.where(episodes > 0, returns / safe, np.nan),
        "curve_steps": updates * config.batch_size,
        "curves": curves,
        "env_steps": int(total * config.batch_size),
        "compile_s": compile_s,
        "run_s": run_s,
        "evaluation": evaluation,
    }


EVAL_FIELDS = (
    "study",
    "num_contexts",
    "method",
    "seed",
    "context",
    "episodes",
    "success_rate",
    "died",
    "timed_out",
    *EVAL_FLAGS,
)


def evaluation_rows(common: dict[str, Any], seeds: list[int], evaluation: dict[str, np.ndarray]) -> list[dict]:
    """Rows of ``evaluation.csv``: per seed one row over all episodes (``context`` "all", with the key
    task's event fractions where reported) and one per context index for small |C|."""
    rows = []
    for i, seed in enumerate(seeds):
        episodes = int(evaluation["episodes"][i])
        row = {
            **{k: common[k] for k in ("study", "num_contexts", "method")},
            "seed": seed,
            "context": "all",
            "episodes": episodes,
            "success_rate": f"{evaluation['successes'][i] / max(episodes, 1):.4f}",
            "died": f"{evaluation['died'][i] / max(episodes, 1):.4f}",
            "timed_out": f"{evaluation['timed_out'][i] / max(episodes, 1):.4f}",
        }
        for flag in EVAL_FLAGS:
            if flag in evaluation:
                row[flag] = f"{evaluation[flag][i] / max(episodes, 1):.4f}"
        rows.append(row)
        if "context_episodes" in evaluation:
            per_context = zip(
                *(evaluation[f"context_{k}"][i] for k in ("episodes", "successes", "died", "timed_out")), strict=True
            )
            for c, (n, k, died, timed_out) in enumerate(per_context):
                rows.append(
                    {
                        **{key: row[key] for key in ("study", "num_contexts", "method", "seed")},
                        "context": c,
                        "episodes": int(n),
                        "success_rate": f"{k / n:.4f}" if n else "",
                        "died": f"{died / n:.4f}" if n else "",
                        "timed_out": f"{timed_out / n:.4f}" if n else "",
                    }
                )
    return rows


def evaluation_lines(rows: list[dict[str, str]], methods: list[str]) -> list[str]:
    """Summary lines from ``evaluation.csv``: success per context (mean over seeds, and how many seeds
    never solved it) for each small-|C| setting, and the key task's events."""
    if not rows:
        return []
    lines = [
        "## The final policies, evaluated",
        "",
        "Fresh episodes of the final (stochastic) policy of every seed (`evaluation.csv`). Per context: "
        "mean success over seeds, and in brackets the seeds whose episodes on that level never succeeded and, "
        "where recorded, the fraction of episodes that ended in lava or at the time limit.",
        "",
    ]
    groups: dict[tuple[str, int, str], list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault((row["study"], int(row["num_contexts"]), row["method"]), []).append(row)
    order = sorted(groups, key=lambda g: (g[0], g[1] < 0, g[1], methods.index(g[2]) if g[2] in methods else 99))
    for study, num_contexts, method in order:
        members = groups[(study, num_contexts, method)]
        per_context = [r for r in members if r["context"] != "all" and r["success_rate"] != ""]
        if per_context:
            cells = []
            for c in sorted({int(r["context"]) for r in per_context}):
                level = [r for r in per_context if int(r["context"]) == c]
                values = [float(r["success_rate"]) for r in level]
                never = sum(v == 0.0 for v in values)
                ends = ""
                if all(r.get("died") for r in level):  # older files lack how failures end
                    died = np.mean([float(r["died"]) for r in level])
                    ends = f", lava {died:.2f}, time limit {np.mean([float(r['timed_out']) for r in level]):.2f}"
                cells.append(f"level {c}: {np.mean(values):.2f} ({never}/{len(values)}{ends})")
            lines.append(f"- {study}, |C| = {context_label(num_contexts)}, {method}: " + "; ".join(cells) + ".")
        overall = [r for r in members if r["context"] == "all"]
        flags = [f for f in EVAL_FLAGS if overall and overall[0].get(f)]
        if flags:
            means = ", ".join(f"{f} {np.mean([float(r[f]) for r in overall]):.2f}" for f in flags)
            lines.append(
                f"- {study}, |C| = {context_label(num_contexts)}, {method}: fraction of episodes with {means}."
            )
    return [*lines, ""]


# --------------------------------------------------------------------------------------------------
# The levels of a small |C| (issue 15, item 5): which are hard, and why


def shortest_path(grid: np.ndarray, start: tuple[int, int]) -> tuple[int, list[tuple[int, int]]]:
    """Fewest steps from ``start`` (x, y) onto the goal under the engine's movement rules (8 moves; doors
    never entered or left diagonally; a closed door takes a step to open, then one to enter; lava,
    walls and rock are never entered; locked doors count as walls), and one such path (cells, start
    first). ``(-1, [])`` when the goal cannot be reached. Dijkstra over at most H x W cells."""
    import heapq

    from envs.gridworld import tables

    height, width = grid.shape
    walkable = {tables.FLOOR, tables.CORRIDOR, tables.DOOR_CLOSED, tables.DOOR_OPEN, tables.DOORWAY}
    walkable |= {tables.GOAL, tables.STAIR_UP, tables.KEY}
    doors = {tables.DOOR_CLOSED, tables.DOOR_OPEN}
    dist = {start: 0}
    parent: dict[tuple[int, int], tuple[int, int]] = {}
    queue = [(0, start)]
    while queue:
        d, (x, y) = heapq.heappop(queue)
        if d > dist[(x, y)]:
            continue
        if grid[y, x] == tables.GOAL:
            path = [(x, y)]
            while path[-1] != start:
                path.append(parent[path[-1]])
            return d, path[::-1]
        for dx, dy in tables.DIRECTIONS.tolist():
            nx, ny = x + dx, y + dy
            if not (0 <= nx < width and 0 <= ny < height) or int(grid[ny, nx]) not in walkable:
                continue
            if dx and dy and (int(grid[y, x]) in doors or int(grid[ny, nx]) in doors):
                continue
            nd = d + (2 if grid[ny, nx] == tables.DOOR_CLOSED else 1)
            if nd < dist.get((nx, ny), 1 << 30):
                dist[(nx, ny)], parent[(nx, ny)] = nd, (x, y)
                heapq.heappush(queue, (nd, (nx, ny)))
    return -1, []


def context_levels(study: str, env_kwargs: dict[str, Any], num_contexts: int, context_seed: int) -> list[dict]:
    """The ``num_contexts`` fixed levels of a study, by context index: the map (ASCII), the shortest
    path's length, the lava cells of the level and those next to that path (8-neighbours: one wrong
    step from it), and the rooms' doors."""
    from envs.gridworld import render_ascii, tables

    env, params = envs.make(study, **env_kwargs, num_contexts=num_contexts, context_seed=context_seed)
    keys = jax.random.split(jax.random.PRNGKey(0), 32 * num_contexts)
    _, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    grids, positions, contexts = (np.asarray(x) for x in (states.grid, states.position, states.context))
    out = []
    for c in range(num_contexts):
        where = np.flatnonzero(contexts == c)
        if where.size == 0:
            raise RuntimeError(f"{study}: no reset drew context {c} of {num_contexts} in {keys.shape[0]} resets")
        grid, start = grids[where[0]], tuple(int(v) for v in positions[where[0]])
        length, path = shortest_path(grid, start)
        lava = grid == tables.LAVA
        near = set()
        for x, y in path:
            for dx, dy in tables.DIRECTIONS.tolist():
                if 0 <= y + dy < grid.shape[0] and 0 <= x + dx < grid.shape[1] and lava[y + dy, x + dx]:
                    near.add((x + dx, y + dy))
        shown = np.where(grid == tables.DOOR_LOCKED, tables.DOOR_CLOSED, grid)
        shown[start[1], start[0]] = tables.AGENT
        out.append(
            {
                "context": c,
                "shortest_path": length,
                "lava_cells": int(lava.sum()),
                "lava_next_to_path": len(near),
                "doors": int(np.isin(grid, [tables.DOOR_CLOSED, tables.DOOR_OPEN, tables.DOOR_LOCKED]).sum()),
                "ascii": render_ascii(shown),
            }
        )
    return out


def level_lines(evaluation: list[dict[str, str]], spec: dict[str, Any], out: Path) -> list[str]:
    """For each small |C| (at most 10) in ``evaluation``: its levels (`context_levels`) beside their
    success, and their maps in ``levels_<study>_C<n>.txt``."""
    settings = sorted({(r["study"], int(r["num_contexts"])) for r in evaluation if 0 < int(r["num_contexts"]) <= 10})
    if not settings:
        return []
    lines = ["## The levels of the small-|C| settings", ""]
    for study, num_contexts in settings:
        kwargs = study_env_kwargs(spec, study) if study in spec["studies"] else {}
        levels = context_levels(study, kwargs, num_contexts, int(spec.get("context_seed", 0)))
        name = f"levels_{study}_C{num_contexts}.txt"
        (out / name).write_text(
            "".join(
                f"level {lv['context']}: shortest path {lv['shortest_path']} steps, {lv['lava_next_to_path']} lava "
                f"cells next to it\n{lv['ascii']}\n\n"
                for lv in levels
            )
        )
        for lv in levels:
            success = [
                float(r["success_rate"])
                for r in evaluation
                if (r["study"], int(r["num_contexts"])) == (study, num_contexts)
                and r["context"] == str(lv["context"])
                and r["success_rate"] != ""
            ]
            lines.append(
                f"- {study}, |C| = {num_contexts}, level {lv['context']}: shortest path {lv['shortest_path']} steps "
                f"(closed doors count 2), {lv['doors']} doors, {lv['lava_cells']} lava cells of which "
                f"{lv['lava_next_to_path']} next to that path; evaluated success over all methods and seeds "
                f"{np.mean(success) if success else float('nan'):.2f} (`{name}`)."
            )
    return [*lines, ""]


def plot_curves(rows: list[dict[str, str]], path: Path) -> None:
    """Per-seed success curves (``curves.csv``): one panel per (study, |C|), one line per (method,
    coefficient, seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return
    panels = sorted({(r["study"], int(r["num_contexts"])) for r in rows}, key=lambda p: (p[0], p[1] < 0, p[1]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (study, num_contexts) in zip(axes[0], panels, strict=True):
        lines: dict[tuple[str, str], dict[int, list[tuple[int, float]]]] = {}
        for r in rows:
            if (r["study"], int(r["num_contexts"])) == (study, num_contexts):
                label = (r["method"], r.get("bonus_coef") or "")
                lines.setdefault(label, {}).setdefault(int(r["seed"]), []).append(
                    (int(r["env_steps"]), float(r["success_rate"]))
                )
        for i, (label, seeds) in enumerate(sorted(lines.items())):
            for j, points in enumerate(p for _, p in sorted(seeds.items())):
                xs, ys = zip(*sorted(points), strict=True)
                name = f"{label[0]} {label[1]}".strip()
                ax.plot(xs, ys, color=plt.cm.tab10(i % 10), alpha=0.8, label=name if j == 0 else None)
        ax.set_title(f"{study}, |C| = {context_label(num_contexts)}")
        ax.set_xlabel("environment steps per seed")
        ax.set_ylabel("success rate per chunk (each seed a line)")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------
# Results files


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def append_rows(path: Path, fields: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """Appends ``rows`` (and the header to a new file) under an exclusive lock, so that several
    processes (one per core, split with --contexts or --methods) can share one results folder."""
    with path.open("a+", newline="") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            writer = csv.DictWriter(f, fieldnames=fields)
            if f.tell() == 0:
                writer.writeheader()
            else:  # a file written by an older version of this script has other columns
                f.seek(0)
                header = next(csv.reader(f), [])
                if tuple(header) != tuple(fields):
                    raise SystemExit(
                        f"{path} has columns {header}, this script writes {list(fields)}: use another --out"
                    )
                f.seek(0, os.SEEK_END)
            writer.writerows(rows)
            f.flush()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def aggregate(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """IQM and 95% stratified-bootstrap interval of the final success rate per (study, |C|, method,
    bonus coefficient); rows written before the coefficient was recorded have ``bonus_coef`` None."""
    groups: dict[tuple[str, int, str, float | None], list[dict[str, str]]] = {}
    for row in rows:
        coef = float(row["bonus_coef"]) if row.get("bonus_coef") else None
        groups.setdefault((row["study"], int(row["num_contexts"]), row["method"], coef), []).append(row)
    out = []
    for (study, num_contexts, method, coef), members in groups.items():
        scores = np.array([float(r["success_rate"]) for r in members])
        ci = bootstrap_ci(scores, "iqm", reps=2000, seed=0)
        out.append(
            {
                "study": study,
                "num_contexts": num_contexts,
                "method": method,
                "bonus_coef": coef,
                "scores": scores.tolist(),  # per seed, in the order of runs.csv
                "seeds": len(members),
                "iqm": ci.point,
                "low": ci.low,
                "high": ci.high,
                "mean": float(scores.mean()),
                "env_steps": int(members[0]["env_steps"]),
                # Summed over the programs that trained these seeds (a resume that added seeds ran a
                # second program): each row carries its program's times and how many seeds it had.
                "compile_s": sum(float(r["compile_s"]) / int(r["seeds_in_program"]) for r in members),
                "run_s": sum(float(r["run_s"]) / int(r["seeds_in_program"]) for r in members),
            }
        )
    return out


def plot(summary: list[dict[str, Any]], methods: list[str], path: Path) -> None:
    """Success against |C| per method on MultiRoom; one panel per other study (bars per method)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    studies = sorted({s["study"] for s in summary}, key=lambda s: (not s.startswith("MultiRoom"), s))
    fig, axes = plt.subplots(1, len(studies), figsize=(6 * len(studies), 4.2), squeeze=False)
    colors = {m: plt.cm.tab10(i % 10) for i, m in enumerate(methods)}
    for ax, study in zip(axes[0], studies, strict=True):
        entries = [s for s in summary if s["study"] == study]
        contexts = sorted({s["num_contexts"] for s in entries}, key=lambda c: (c < 0, c))
        if len(contexts) > 1:
            xs = {c: i for i, c in enumerate(contexts)}
            for j, method in enumerate(methods):
                pts = sorted(((xs[s["num_contexts"]], s) for s in entries if s["method"] == method), key=lambda p: p[0])
                if not pts:
                    continue
                x = [p[0] + 0.04 * (j - (len(methods) - 1) / 2) for p in pts]  # spread the error bars
                y = np.array([p[1]["iqm"] for p in pts])
                err = np.array([[p[1]["iqm"] - p[1]["low"], p[1]["high"] - p[1]["iqm"]] for p in pts]).T
                ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=method, color=colors[method])
            ax.set_xticks(range(len(contexts)), [context_label(c) for c in contexts])
            ax.set_xlabel("number of contexts |C|")
        else:
            present = [m for m in methods if any(s["method"] == m for s in entries)]
            for i, method in enumerate(present):
                s = next(e for e in entries if e["method"] == method)
                ax.bar(i, s["iqm"], color=colors[method])
                ax.errorbar(i, s["iqm"], yerr=[[s["iqm"] - s["low"]], [s["high"] - s["iqm"]]], color="k", capsize=3)
            ax.set_xticks(range(len(present)), present, rotation=45, ha="right")
            ax.set_xlabel(f"|C| = {context_label(contexts[0])}")
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("final success rate (IQM, 95% CI)")
        ax.set_title(study)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        axes[0][0].legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_summary(
    path: Path,
    summary: list[dict[str, Any]],
    spec: dict[str, Any],
    size: str,
    wall_s: float,
    command: str,
    evaluation: list[dict[str, str]] | None = None,
) -> None:
    total_steps = sum(s["env_steps"] * s["seeds"] for s in summary)
    total_program_s = sum(s["compile_s"] + s["run_s"] for s in summary)
    lines = [
        "# Global vs episodic exploration bonuses (Henaff et al., ICML 2023) on our gridworlds",
        "",
        "**Claim tested.** A global count bonus solves MultiRoom-N6-Lava when few contexts are shared "
        "(paper: 0.99 success at |C| = 1) and fails with a fresh level every episode (0.00 at |C| = "
        "infinite), where an episodic count holds (about 0.87); the product of an episodic and a "
        "global bonus (E3B x RND, E3B x count) works in every setting, including Corridor-R5 at "
        "|C| = 1 (global wins) and KeyRoom-S10 with counts on messages at |C| = infinite (both work).",
        "",
        f"**Size run here:** `{size}`; command `{command}`. Total {total_steps:,} environment steps over "
        f"{program_count(summary)} programs, {total_program_s / 60:.1f} min of compile + run summed over the programs "
        f"(from runs.csv; the last invocation of the script took {wall_s / 60:.1f} min). Git commit when "
        f"this summary was written: `{git_revision()}`. Machine: {os.cpu_count()} CPU cores, "
        f"JAX backend `{jax.default_backend()}`, load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        f"**Covered here:** {coverage(summary, spec)}",
        "",
        full_estimate(summary),
        "",
        f"**Setup.** PPO ({network_label(spec['base'])}, "
        f"{spec['base'].get('hidden_sizes')} {spec['base'].get('activation')}), {spec['base']['num_envs']} "
        f"envs x {spec['base']['num_steps']} steps per update, lr {spec['base']['learning_rate']}, "
        f"entropy {spec['base']['ent_coef']}; policy reads {spec['policy_keys']} (where present); "
        f"environment options {spec.get('env_kwargs', {})} (MultiRoom's generation area: "
        f"{ {s: v.get('env_kwargs', {}).get('area') for s, v in spec['studies'].items() if 'MultiRoom' in s} }); "
        f"bonus coefficient {coefs_label(spec)} on the intrinsic reward divided by its running "
        f"standard deviation; bonus options {spec.get('bonus_kwargs')}. Success rate = successful "
        f"episodes / finished episodes over the last chunks of {spec['updates_per_chunk']} updates that "
        f"cover at least the final {spec['final_fraction']:.0%} of training updates, per seed; IQM over "
        "seeds with a 95% percentile bootstrap interval (`jaxrl.stats`). The seeds of "
        "one program share the same set of |C| levels (context_seed "
        f"{spec.get('context_seed', 0)}). The paper used IMPALA with an LSTM for 50M frames; our "
        "budgets are far smaller (see the steps column).",
        "",
        "| study | contexts | method | coefficient | seeds | success IQM [95% CI] | mean | paper "
        "| env steps / seed | compile s | run s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    methods = list(spec["methods"])
    order = sorted(
        summary,
        key=lambda s: (
            s["study"], s["num_contexts"] < 0, s["num_contexts"], methods.index(s["method"]), s["bonus_coef"] or 0
        ),
    )  # fmt: skip
    for s in order:
        paper = PAPER_NUMBERS.get((s["study"], s["method"], s["num_contexts"]), "")
        lines.append(
            f"| {s['study']} | {context_label(s['num_contexts'])} | {s['method']} | "
            f"{'' if s['bonus_coef'] is None else format(s['bonus_coef'], 'g')} | {s['seeds']} | "
            f"{s['iqm']:.2f} [{s['low']:.2f}, {s['high']:.2f}] | {s['mean']:.2f} | {paper} | "
            f"{s['env_steps']:,} | {s['compile_s']:.0f} | {s['run_s']:.0f} |"
        )
    lines += ["", "Paper, qualitatively: " + "; ".join(f"{k}: {v}" for k, v in PAPER_QUALITATIVE.items()), ""]
    if spec.get("sweep_coefs"):
        lines += coefficient_lines(read_rows(path.parent / "runs.csv"), methods, "runs.csv")
    else:
        lines += ["## What our runs show", "", *findings(summary), ""]
        lines += evaluation_lines(evaluation or [], methods)
        lines += level_lines(evaluation or [], spec, path.parent)
        sweep_rows = read_rows(path.parent / COEF_SWEEP_DIR / "runs.csv")
        lines += coefficient_lines(sweep_rows, methods, f"{COEF_SWEEP_DIR}/runs.csv")
    path.write_text("\n".join(lines))


def program_count(summary: list[dict[str, Any]]) -> int:
    """Compiled programs behind ``summary``: one per (study, |C|, method), whatever its coefficients."""
    return len({(s["study"], s["num_contexts"], s["method"]) for s in summary})


def coefs_label(spec: dict[str, Any]) -> str:
    """How the summary names the intrinsic coefficients: swept, per method, or one for all."""
    if spec.get("sweep_coefs"):
        return "swept over " + ", ".join(f"{c:g}" for c in spec["sweep_coefs"])
    per_method = {m: method_coef(spec, m) for m in spec["methods"] if m != "none"}
    if len(set(per_method.values())) <= 1:
        return f"{spec['base']['bonus_coef']}"
    return "per method (" + ", ".join(f"{m} {c:g}" for m, c in per_method.items()) + ")"


def network_label(base: dict[str, Any]) -> str:
    """How the summary names the agent's network."""
    if base.get("network", "mlp") == "gru":
        return f"recurrent: GRU of {base.get('gru_size', PPOConfig.gru_size)}"
    return "feed-forward"


def coverage(summary: list[dict[str, Any]], spec: dict[str, Any]) -> str:
    """Which (study, |C|) settings and methods this results folder holds, and what the full study adds."""
    done = sorted({(s["study"], s["num_contexts"]) for s in summary}, key=lambda x: (x[0], x[1] < 0, x[1]))
    methods = [m for m in spec["methods"] if any(s["method"] == m for s in summary)]
    full = load_sweep(SWEEP_FILE, "full")
    missing_methods = [m for m in full["methods"] if m not in methods]
    missing = [
        f"{study} |C|={context_label(c)}"
        for study, study_spec in full["studies"].items()
        for c in study_spec["contexts"]
        if (study, c) not in done
    ]
    text = "settings " + ", ".join(f"{s} |C|={context_label(c)}" for s, c in done) + f"; methods {', '.join(methods)}."
    partial_settings = []
    for study, c in done:
        present = {s["method"] for s in summary if s["study"] == study and s["num_contexts"] == c}
        if set(methods) - present:
            partial_settings.append(f"{study} |C|={context_label(c)} ({', '.join(m for m in methods if m in present)})")
    if partial_settings:
        text += " Settings run with only some methods: " + "; ".join(partial_settings) + "."
    if missing or missing_methods:
        text += (
            " Not run here (the full study has them): "
            + ", ".join(missing + [f"method {m}" for m in missing_methods])
            + "."
        )
    return text


def full_estimate(summary: list[dict[str, Any]]) -> str:
    """The full study's cost extrapolated from the measured speed and compile times of these programs."""
    full = load_sweep(SWEEP_FILE, "full")
    programs = sum(len(s["contexts"]) for s in full["studies"].values()) * len(full["methods"])
    steps = programs * int(full["seeds"]) * int(full["total_timesteps"])
    run_s = sum(s["run_s"] for s in summary)
    speed = sum(s["env_steps"] * s["seeds"] for s in summary) / run_s if run_s > 0 else float("nan")
    compile_s = sum(s["compile_s"] for s in summary) / max(program_count(summary), 1) if summary else float("nan")
    hours = (steps / speed + programs * compile_s) / 3600
    return (
        f"**Full study:** `python experiments/global_vs_episodic.py` runs {programs} programs x "
        f"{full['seeds']} seeds x {int(full['total_timesteps']):,} steps = {steps:,} environment steps. "
        f"These programs ran at {speed:,.0f} steps/s (all seeds of a program together) with "
        f"{compile_s:.0f} s of compile each, so on this machine the full study would take about "
        f"{hours:,.0f} hours ({hours / 24:,.1f} days) for one process; programs split over processes "
        "(one per core, with --studies/--methods/--contexts, into the same --out) divide that by the "
        "number of processes. It is meant for an accelerator or a many-core machine (not measured "
        "here). It can be stopped and resumed."
    )


def clearly_above(higher: dict[str, Any], lower: dict[str, Any]) -> str:
    """How a claim "``higher`` beats ``lower``" reads: agreed only when the 95% intervals do not overlap."""
    return "agrees with" if higher["low"] > lower["high"] else "does not clearly show"


def findings(summary: list[dict[str, Any]]) -> list[str]:
    """Plain statements read off the numbers; no claim beyond what they support."""
    best = max((s["iqm"] for s in summary), default=0.0)
    if best < 0.05:
        return [
            "No method reached a success rate of 0.05 at this budget (best IQM "
            f"{best:.2f}). At this size the study cannot separate the bonuses: it only checks that every "
            "program compiles and runs end to end. The paper's comparison needs far larger budgets."
        ]
    out = []
    lookup = {(s["study"], s["num_contexts"], s["method"]): s for s in summary}
    for study in sorted({s["study"] for s in summary}):
        for num_contexts in sorted({s["num_contexts"] for s in summary if s["study"] == study}):
            entries = sorted(
                (s for s in summary if s["study"] == study and s["num_contexts"] == num_contexts),
                key=lambda s: -s["iqm"],
            )
            ranking = ", ".join(f"{s['method']} {s['iqm']:.2f}" for s in entries)
            out.append(f"- {study}, |C| = {context_label(num_contexts)}: {ranking}.")
    for study in sorted({s["study"] for s in summary}):
        for method in dict.fromkeys(s["method"] for s in summary if s["study"] == study):
            points = sorted(
                ((s["num_contexts"], s["iqm"]) for s in summary if s["study"] == study and s["method"] == method),
                key=lambda p: (p[0] < 0, p[0]),
            )
            if len(points) >= 3:
                trend = ", ".join(f"{context_label(c)}: {v:.2f}" for c, v in points)
                out.append(f"- {study}, {method}, success against |C| ({trend}).")
    # The published numbers are for MultiRoom; Corridor-R5 and KeyRoom-S10 have qualitative claims.
    works = 0.5  # our reading of "works" for a qualitative claim: success IQM of at least 0.5
    for study, num_contexts in (("Corridor-R5", 1), ("KeyRoom-S10", -1)):
        parts = {m: lookup.get((study, num_contexts, m)) for m in ("count", "episodic_count", "e3b*count")}
        if not any(parts.values()):
            continue
        said = ", ".join(f"{m} {e['iqm']:.2f}" for m, e in parts.items() if e)
        held = ", ".join(f"{m} {'works' if e['iqm'] >= works else 'does not'}" for m, e in parts.items() if e)
        out.append(
            f"- {study}, |C| = {context_label(num_contexts)}: {said}. Paper: {PAPER_QUALITATIVE[study]}. Here, "
            f"reading 'works' as success IQM >= {works}: {held}."
        )
    for study in sorted({s["study"] for s in summary if s["study"].startswith("MultiRoom")}):
        g1, ginf = lookup.get((study, 1, "count")), lookup.get((study, -1, "count"))
        einf = lookup.get((study, -1, "episodic_count"))
        if g1 and ginf:
            verdict = clearly_above(g1, ginf)
            out.append(
                f"- Global count, {study}: {g1['iqm']:.2f} at |C| = 1 vs {ginf['iqm']:.2f} at |C| = "
                f"infinite; non-overlapping intervals would be needed to call a drop; this {verdict} the "
                "paper's drop (0.99 -> 0.00 on MultiRoom-N6-Lava)."
            )
        if einf and ginf:
            verdict = clearly_above(einf, ginf)
            out.append(
                f"- {study} at |C| = infinite: the episodic count gets {einf['iqm']:.2f} vs global "
                f"{ginf['iqm']:.2f}: this {verdict} the paper's episodic > global (about 0.87 vs 0.00 on "
                "MultiRoom-N6-Lava)."
            )
    return out


# --------------------------------------------------------------------------------------------------
# The coefficient sweep (issue 15, item 3): the paper swept the intrinsic coefficient per method and
# reported the best; ours is chosen by a rule fixed before the runs, `select_coefficients`.

COEF_SWEEP_DIR = "coef_sweep"
SELECTION_RULE = (
    "For each method, score each coefficient by its mean final success over seeds, averaged over the "
    "|C| cells of the sweep (each cell weighs the same). The highest score wins; coefficients within "
    "{tie_margin} of it count as tied and the smallest of those wins (it changes the task's reward "
    "least). A method whose best score is below {min_success} is undecided: the rule then falls to the "
    "smallest coefficient, and the study's result for that method says nothing about its best coefficient."
)


def select_coefficients(
    rows: list[dict[str, str]], tie_margin: float = 0.05, min_success: float = 0.05
) -> dict[str, dict[str, Any]]:
    """The coefficient per method by `SELECTION_RULE`, from per-seed rows (``method``, ``num_contexts``,
    ``bonus_coef``, ``success_rate``) of one study. Returns per method ``coef``, ``score``, ``decided``
    and ``scores`` (per coefficient). Refuses a sweep where some coefficient lacks a |C| cell that
    another has: a missing cell would bias the average."""
    if not rows:
        raise ValueError("select_coefficients: no rows")
    if len({r["study"] for r in rows if "study" in r}) > 1:
        raise ValueError(f"select_coefficients: rows of several studies {sorted({r['study'] for r in rows})}")
    cells: dict[str, dict[float, dict[int, list[float]]]] = {}
    for r in rows:
        if not r.get("bonus_coef"):
            raise ValueError(f"select_coefficients: a row without bonus_coef: {r}")
        per_coef = cells.setdefault(r["method"], {}).setdefault(float(r["bonus_coef"]), {})
        per_coef.setdefault(int(r["num_contexts"]), []).append(float(r["success_rate"]))
    out = {}
    for method, per_coef in cells.items():
        contexts = set().union(*(c.keys() for c in per_coef.values()))
        for coef, per_context in per_coef.items():
            if set(per_context) != contexts:
                missing = sorted(contexts - set(per_context))
                raise ValueError(f"select_coefficients: {method} at {coef} lacks |C| cells {missing}")
        scores = {coef: float(np.mean([np.mean(v) for v in pc.values()])) for coef, pc in per_coef.items()}
        best = max(scores.values())
        chosen = min(c for c, v in scores.items() if v >= best - tie_margin)
        out[method] = {"coef": chosen, "score": scores[chosen], "decided": best >= min_success, "scores": scores}
    return out


def coefficient_lines(rows: list[dict[str, str]], methods: list[str], source: str) -> list[str]:
    """The coefficient sweep's full table (per seed) and the selection, for summary.md."""
    if not rows:
        return []
    selection = select_coefficients(rows)
    contexts = sorted({int(r["num_contexts"]) for r in rows}, key=lambda c: (c < 0, c))
    study = rows[0]["study"]
    lines = [
        "## The intrinsic coefficient per method (the coefficient sweep)",
        "",
        f"From `{source}` ({study}, {int(rows[0]['env_steps']):,} steps per seed; final success per seed, "
        f"then the mean). Rule (`select_coefficients`): " + SELECTION_RULE.format(tie_margin=0.05, min_success=0.05),
        "",
        "| method | coefficient | "
        + " | ".join(f"\\|C\\| = {context_label(c)}: per seed (mean)" for c in contexts)
        + " | score | chosen |",
        "|---|---|" + "---|" * len(contexts) + "---|---|",
    ]
    order = [m for m in methods if m in selection] + sorted(set(selection) - set(methods))
    for method in order:
        pick = selection[method]
        for coef in sorted(pick["scores"]):
            cells = []
            for c in contexts:
                values = [
                    float(r["success_rate"])
                    for r in sorted(rows, key=lambda r: int(r["seed"]))
                    if r["method"] == method and float(r["bonus_coef"]) == coef and int(r["num_contexts"]) == c
                ]
                cells.append(" ".join(f"{v:.2f}" for v in values) + f" ({np.mean(values):.2f})")
            chosen = ("**yes**" if pick["decided"] else "yes (undecided)") if coef == pick["coef"] else ""
            lines.append(
                f"| {method} | {coef:g} | " + " | ".join(cells) + f" | {pick['scores'][coef]:.2f} | {chosen} |"
            )
    return [*lines, ""]


def coef_sweep_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec of the coefficient sweep: its study at its |C| cells, its methods, seeds and budget; the
    coefficients it tries are under ``sweep_coefs`` (per-method ``bonus_coefs`` do not apply)."""
    sweep = spec.get("coef_sweep")
    if not sweep:
        raise SystemExit("the sweep file's size has no coef_sweep section")
    study = sweep["study"]
    if study not in spec["studies"]:
        raise SystemExit(f"coef_sweep.study {study!r} is not among this size's studies {sorted(spec['studies'])}")
    unknown = [m for m in sweep["methods"] if m not in spec["methods"]]
    if unknown:
        raise SystemExit(f"coef_sweep names unknown methods {unknown}")
    coefs = [float(c) for c in sweep["coefs"]]
    if len(coefs) < 2 or min(coefs) < 0:
        raise SystemExit(f"coef_sweep.coefs needs at least two coefficients >= 0, got {coefs}")
    out = {k: v for k, v in spec.items() if k not in ("coef_sweep", "bonus_coefs")}
    out["studies"] = {study: {**spec["studies"][study], "contexts": list(sweep["contexts"])}}
    out["methods"] = {m: spec["methods"][m] for m in sweep["methods"]}
    out["seeds"] = int(sweep["seeds"])
    out["total_timesteps"] = int(sweep["total_timesteps"])
    out["eval_episode_lengths"] = 0
    out["sweep_coefs"] = coefs
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="full", help="a size of the sweep file: quick, medium or full")
    parser.add_argument("--quick", action="store_true", help="same as --size quick")
    parser.add_argument("--sweep", type=Path, default=SWEEP_FILE)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--studies", help="comma-separated subset of the studies")
    parser.add_argument("--methods", help="comma-separated subset of the methods")
    parser.add_argument("--contexts", help="comma-separated subset of |C| values (-1: infinite)")
    parser.add_argument("--seeds", type=int, help="override the number of seeds")
    parser.add_argument("--total-timesteps", type=int, help="override the budget per seed")
    parser.add_argument("--bonus-coef", type=float, help="override the intrinsic coefficient of every method")
    parser.add_argument(
        "--coefs-from",
        type=Path,
        help="a coefficient sweep's runs.csv: each method it swept uses the coefficient select_coefficients picks",
    )
    parser.add_argument(
        "--coef-sweep",
        action="store_true",
        help=f"run the size's coef_sweep section (every coefficient per method) into <out>/{COEF_SWEEP_DIR}/",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="run nothing: rewrite summary.md and the PNG from runs.csv"
    )
    parser.add_argument("--fresh", action="store_true", help="discard earlier rows in --out instead of resuming")
    parser.add_argument(
        "--compilation-cache",
        default=str(Path.home() / ".cache" / "jaxrl" / "jax_compilation_cache"),
        help="JAX persistent compilation cache ('' to disable); re-runs skip compiles",
    )
    args = parser.parse_args(argv)

    if args.compilation_cache:
        jax.config.update("jax_compilation_cache_dir", args.compilation_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    size = "quick" if args.quick else args.size
    spec = load_sweep(args.sweep, size)
    if args.seeds:
        spec["seeds"] = args.seeds
    if args.total_timesteps:
        spec["total_timesteps"] = args.total_timesteps
    if args.bonus_coef is not None:
        if not args.bonus_coef >= 0:
            raise SystemExit(f"--bonus-coef must be >= 0, got {args.bonus_coef}")
        if args.coef_sweep:
            raise SystemExit("--bonus-coef and --coef-sweep exclude each other (the sweep sets the coefficients)")
        spec["base"] = {**spec["base"], "bonus_coef": args.bonus_coef}
        spec["bonus_coefs"] = {}
    if args.coefs_from is not None:
        if args.coef_sweep or args.bonus_coef is not None:
            raise SystemExit("--coefs-from excludes --coef-sweep and --bonus-coef")
        selection = select_coefficients(read_rows(args.coefs_from))
        spec["bonus_coefs"] = {**spec.get("bonus_coefs", {}), **{m: p["coef"] for m, p in selection.items()}}
        print(f"coefficients from {args.coefs_from}: {spec['bonus_coefs']}")
    if args.coef_sweep:
        spec = coef_sweep_spec(spec)
    studies = spec["studies"]
    if args.studies:
        studies = {s: studies[s] for s in args.studies.split(",")}
    methods = list(spec["methods"]) if not args.methods else args.methods.split(",")
    unknown = [m for m in methods if m not in spec["methods"]]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; known: {list(spec['methods'])}")
    only_contexts = None if not args.contexts else {int(c) for c in args.contexts.split(",")}

    out = args.out / COEF_SWEEP_DIR if args.coef_sweep else args.out
    out.mkdir(parents=True, exist_ok=True)
    runs_csv, curves_csv, eval_csv = out / "runs.csv", out / "curves.csv", out / "evaluation.csv"
    if args.fresh:
        for path in (runs_csv, curves_csv, eval_csv, out / SETTINGS_FILE):
            path.unlink(missing_ok=True)
    check_settings(out, spec, record=not args.report_only)
    # Resuming is per seed: a program runs the seeds its rows do not have yet (seed s always trains
    # from PRNGKey(s), so seeds added later, with a larger --seeds, match a run that had them all).
    # Rows written before the coefficient was recorded carry the folder's (its settings.json) coefficient.
    done = {
        (r["study"], int(r["num_contexts"]), r["method"], float(r.get("bonus_coef") or method_coef(spec, r["method"])),
         int(r["seed"]))
        for r in read_rows(runs_csv)
    }  # fmt: skip
    seeds = list(range(int(spec["seeds"])))
    start = time.perf_counter()
    for study, study_spec in studies.items():
        for num_contexts in study_spec["contexts"]:
            if only_contexts is not None and num_contexts not in only_contexts:
                continue
            for method in methods:
                if args.report_only:
                    continue
                # One program per (study, |C|, method): its trials are the (coefficient, seed) pairs not done.
                method_coefs = spec.get("sweep_coefs") or [method_coef(spec, method)]
                trials = [
                    (c, seed)
                    for c in method_coefs
                    for seed in seeds
                    if (study, num_contexts, method, c, seed) not in done
                ]
                if not trials:
                    print(f"skip {study} |C|={context_label(num_contexts)} {method} (in {runs_csv})")
                    continue
                missing = [seed for _, seed in trials]
                trial_coefs = [c for c, _ in trials]
                config = make_config(spec, study, num_contexts, method)
                eval_steps = int(spec.get("eval_episode_lengths", 0)) * int(
                    envs.make(study, **study_env_kwargs(spec, study))[1].max_steps_in_episode
                )
                result = run_program(
                    config, missing, int(spec["updates_per_chunk"]), float(spec["final_fraction"]), eval_steps,
                    coefs=trial_coefs,
                )  # fmt: skip
                print(
                    f"{study} |C|={context_label(num_contexts)} {method} coefs {trial_coefs} seeds {missing}: success "
                    f"{np.round(result['success_rate'], 2)} steps {result['env_steps']:,}/seed compile "
                    f"{result['compile_s']:.0f}s run {result['run_s']:.0f}s",
                    flush=True,
                )
                common = {"study": study, "num_contexts": num_contexts, "method": method, "bonus": config.bonus}
                append_rows(
                    runs_csv,
                    RUN_FIELDS,
                    [
                        {
                            **common,
                            "bonus_coef": trial_coefs[i],
                            "seed": seed,
                            "success_rate": f"{result['success_rate'][i]:.4f}",
                            "final_episodes": int(result["final_episodes"][i]),
                            "episode_return_mean": f"{result['episode_return_mean'][i]:.4f}",
                            "env_steps": result["env_steps"],
                            "compile_s": f"{result['compile_s']:.1f}",
                            "run_s": f"{result['run_s']:.1f}",
                            "seeds_in_program": len(missing),
                        }
                        for i, seed in enumerate(missing)
                    ],
                )
                if result.get("evaluation") is not None:
                    append_rows(eval_csv, EVAL_FIELDS, evaluation_rows(common, missing, result["evaluation"]))
                append_rows(
                    curves_csv,
                    ("study", "num_contexts", "method", "bonus", "bonus_coef", "seed", "env_steps", "success_rate"),
                    [
                        {
                            **common,
                            "bonus_coef": trial_coefs[i],
                            "seed": seed,
                            "env_steps": int(steps),
                            "success_rate": f"{value:.4f}",
                        }
                        for i, seed in enumerate(missing)
                        for steps, value in zip(result["curve_steps"], result["curves"][i], strict=True)
                    ],
                )
    rows = read_rows(runs_csv)
    summary = aggregate(rows)
    if spec.get("sweep_coefs"):  # one line per (method, coefficient)
        labelled = [{**s, "method": f"{s['method']} {s['bonus_coef']:g}"} for s in summary]
        plot(labelled, sorted({s["method"] for s in labelled}), out / "success_vs_contexts.png")
    else:
        plot(
            summary,
            [m for m in spec["methods"] if any(s["method"] == m for s in summary)],
            out / "success_vs_contexts.png",
        )
    command = " ".join(
        ["python experiments/global_vs_episodic.py"]
        + ([] if size == "full" else [f"--size {size}"])
        + ([] if args.out == OUT_DIR else [f"--out {args.out}"])
        + [
            f"--{flag.replace('_', '-')} {value}"
            for flag, value in vars(args).items()
            if flag in ("seeds", "total_timesteps", "bonus_coef") and value is not None
        ]
        + (["--coef-sweep"] if args.coef_sweep else [])
        + ([f"--coefs-from {args.coefs_from}"] if args.coefs_from else [])
    )
    plot_curves(read_rows(curves_csv), out / "curves_per_seed.png")
    write_summary(out / "summary.md", summary, spec, size, time.perf_counter() - start, command, read_rows(eval_csv))
    print(f"wrote {runs_csv}, {curves_csv}, {out / 'success_vs_contexts.png'}, {out / 'summary.md'}")


if __name__ == "__main__":
    main()

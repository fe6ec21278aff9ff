"""Random-action steps per second of the JAX gridworld tasks against NAVIX and the real MiniHack.

Contenders, measured in one run:

- ours: ``MultiRoom-N4`` and ``KeyRoom-S10`` (``envs.make``), ``num_envs`` copies under ``jax.vmap``,
  ``num_steps`` steps in one jitted ``lax.scan``, uniformly random actions drawn inside the scan,
  auto-reset on (our ``step`` generates a new level only for the environments whose episode ended);
- NAVIX ``Navix-DoorKey-8x8-v0`` (``navix.make``, its default observation and 100-step limit; 0.7.4 in the
  project's ``bench`` extra, 4.0.0 on Python >= 3.12: the same API; ``--skip-navix`` where it is absent),
  rolled out the same way (``env.step(timestep, action)``; NAVIX resets on the step after an episode
  ends, inside the same ``vmap``);
- the real ``MiniHack-MultiRoom-N4-v0`` (NLE), one process and gymnasium's ``AsyncVectorEnv`` with 2
  worker processes (`benchmarks/minihack_reference.py`).

The JAX rollouts carry the observation through the scan and return the last one, plus the sums of
rewards and episode ends, so that no part of the step is optimised away (a learner's rollout carries
the observation the same way). Every repeat starts from the same batch of reset states, made before
timing (the initial reset of 4096 levels is not a step; MiniHack's first reset is not timed either);
the auto-resets during the rollout are timed. Timings start after a warm-up call (the compile, timed separately),
wait with ``block_until_ready``, and the JAX contenders are measured in turns (round-robin) so that a
change in the machine's load hits them alike; the median over repeats is reported. Wall-clock and
process CPU time are both recorded: on a shared machine CPU time is the steadier measure, and
"per core" is steps per CPU-second (for the JAX contenders XLA spreads one rollout over the cores; for
MiniHack's vector env the CPU time of the worker processes is included, see `minihack_results`).

    python benchmarks/gridworld_throughput.py           # 4096 envs x 32 steps, MiniHack 1000 steps
    python benchmarks/gridworld_throughput.py --full    # 4096 envs x 256 steps, MiniHack 4000 steps
    python benchmarks/gridworld_throughput.py --profile # also: where our step's time goes
    python benchmarks/gridworld_throughput.py --full --one-core  # every contender on one CPU core
    taskset -c 0 python benchmarks/gridworld_throughput.py --sight --sight-against 19d1fb3 --num-envs 32
        # the study's tasks with and without sight=True, and sight as it was at a revision (same run)

``--one-core`` pins the process (and MiniHack's worker processes) to one core before JAX starts, so
XLA runs one thread: "per core" then means literally one core for every contender, as for the
one-process MiniHack, and no CPU time goes to XLA's thread pool waiting on the other core.
"""

from __future__ import annotations

import os
import sys

if "--one-core" in sys.argv[1:]:
    # Before anything imports jax: XLA starts its threads at import, and sched_setaffinity pins only
    # the calling thread (threads started later inherit it). Pinning here pins them all.
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import envs  # noqa: E402

OURS = ("MultiRoom-N4", "KeyRoom-S10")
NAVIX_ID = "Navix-DoorKey-8x8-v0"
MINIHACK_ID = "MiniHack-MultiRoom-N4-v0"
MINIHACK_WORKERS = 2


def ours_rollout(
    name: str, num_envs: int, num_steps: int, env: Any = None, **make_kwargs: Any
) -> Callable[[jax.Array], Any]:
    """A jitted rollout of ``num_envs x num_steps`` random-action steps of our task ``name`` (built with
    ``make_kwargs``; ``env`` replaces the environment, keeping the params)."""
    made, params = envs.make(name, **make_kwargs)
    env = made if env is None else env
    num_actions = env.action_space(params).n
    batched_reset = jax.vmap(env.reset, in_axes=(0, None))
    batched_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def rollout(key: jax.Array, obs: Any, state: Any) -> Any:
        def body(carry, key_t):
            obs, state, total = carry
            key_action, key_step = jax.random.split(key_t)
            actions = jax.random.randint(key_action, (num_envs,), 0, num_actions)
            obs, state, reward, terminated, truncated, _ = batched_step(
                jax.random.split(key_step, num_envs), state, actions, params
            )
            total = total + reward.sum() + (terminated | truncated).sum()
            return (obs, state, total), None

        carry = (obs, state, jnp.float32(0))
        (obs, state, total), _ = jax.lax.scan(body, carry, jax.random.split(key, num_steps))
        return total, obs, state

    initial = jax.block_until_ready(jax.jit(batched_reset)(jax.random.split(jax.random.PRNGKey(0), num_envs), params))
    compiled = jax.jit(rollout)
    return lambda key: compiled(key, *initial)


def navix_rollout(num_envs: int, num_steps: int) -> Callable[[jax.Array], Any]:
    """The same rollout for NAVIX's DoorKey-8x8 (its step reads the PRNG key from the timestep)."""
    import navix

    env = navix.make(NAVIX_ID)
    num_actions = int(env.action_space.maximum) + 1

    def rollout(key: jax.Array, timestep: Any) -> Any:
        def body(carry, key_t):
            timestep, total = carry
            actions = jax.random.randint(key_t, (num_envs,), 0, num_actions)
            timestep = jax.vmap(env.step)(timestep, actions)
            total = total + timestep.reward.sum() + (timestep.step_type > 0).sum()
            return (timestep, total), None

        (timestep, total), _ = jax.lax.scan(body, (timestep, jnp.float32(0)), jax.random.split(key, num_steps))
        return total, timestep

    initial = jax.block_until_ready(jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), num_envs)))
    compiled = jax.jit(rollout)
    return lambda key: compiled(key, initial)


# The exploration study's tasks (issue 20), timed with and without NetHack-like sight (``--sight``).
SIGHT_TASKS = {
    "MultiRoom-N4-Lava 25x25": ("MultiRoom-N4-Lava", {"area": "25x25"}),
    "MultiRoom-N6-Lava 25x25": ("MultiRoom-N6-Lava", {"area": "25x25"}),
    "Corridor-R5": ("Corridor-R5", {}),
    "KeyRoom-S10": ("KeyRoom-S10", {}),
}


def engine_at(revision: str) -> Any:
    """The gridworld rules module (``GridEnv``) as it was at git ``revision`` (``envs/gridworld/engine.py``
    before the engine was split, ``rules.py`` after), imported under a private name."""
    import importlib.util
    import subprocess
    import tempfile

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for path in ("envs/gridworld/engine.py", "envs/gridworld/rules.py"):
        shown = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=root, capture_output=True, text=True)
        if shown.returncode == 0:
            break
    else:
        raise SystemExit(f"--sight-against {revision}: no gridworld engine at that revision")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as source:
        source.write(shown.stdout)
    spec = importlib.util.spec_from_file_location(f"gridworld_engine_{revision}", source.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def sight_rollouts(num_envs: int, num_steps: int, against: str | None) -> dict[str, Callable[[jax.Array], Any]]:
    """Per study task: sight off, sight on, and (``against``) sight on with the engine of that revision."""
    old = engine_at(against) if against else None
    rollouts = {}
    for label, (name, kwargs) in SIGHT_TASKS.items():
        rollouts[f"{label} no sight"] = ours_rollout(name, num_envs, num_steps, **kwargs)
        rollouts[f"{label} sight"] = ours_rollout(name, num_envs, num_steps, sight=True, **kwargs)
        if old is not None:
            task = envs.make(name, sight=True, **kwargs)[0].task
            rollouts[f"{label} sight@{against}"] = ours_rollout(
                name, num_envs, num_steps, env=old.GridEnv(task, sight=True), sight=True, **kwargs
            )
    return rollouts


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return time.perf_counter() - start_wall, time.process_time() - start_cpu


def machine() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu_model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import importlib.metadata

    versions = {}
    for package in ("navix", "minihack", "nle", "gymnasium"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu_model,
        "cores": os.cpu_count(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        **versions,
        "load_average_before": os.getloadavg(),
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
    }


def profile_step(name: str, num_envs: int, num_steps: int, repeats: int) -> dict[str, float]:
    """CPU seconds per million steps of the parts of our step, each in its own jitted scan (compare
    with the full auto-resetting ``step`` of the main measurement): ``step_env`` alone (movement,
    doors, observation) with a key per environment, the same with one key shared by all environments
    (XLA then draws the step's random numbers once, so the difference is the per-environment threefry
    draw), and a batched level generation for every environment (what an auto-reset costs per
    environment that needs one; `reset_where` generates only for those)."""
    env, params = envs.make(name)
    num_actions = env.action_space(params).n
    keys0 = jax.random.split(jax.random.PRNGKey(0), num_envs)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys0, params)

    def scan_of(step: Callable[[Any, jax.Array], Any]) -> Callable[[], Any]:
        def run(carry, key):
            return jax.lax.scan(step, carry, jax.random.split(key, num_steps))[0]

        compiled = jax.jit(run)
        jax.block_until_ready(compiled((obs, state), jax.random.PRNGKey(1)))
        return lambda: compiled((obs, state), jax.random.PRNGKey(2))

    def actions_of(key):
        return jax.random.randint(key, (num_envs,), 0, num_actions)

    def step_env_per_env_keys(carry, key):
        k_a, k_s = jax.random.split(key)
        keys = jax.random.split(k_s, num_envs)
        obs, state, *_ = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))(keys, carry[1], actions_of(k_a), params)
        return (obs, state), None

    def step_env_shared_key(carry, key):
        k_a, k_s = jax.random.split(key)
        keys = jnp.broadcast_to(k_s, (num_envs, *k_s.shape))  # XLA draws the step's uniforms once
        obs, state, *_ = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))(keys, carry[1], actions_of(k_a), params)
        return (obs, state), None

    def generate_all(carry, key):
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)
        return (obs, state), None

    parts = {
        "step_env alone, per-env keys (no auto-reset)": step_env_per_env_keys,
        "step_env alone, one key for all envs (no per-env threefry draw)": step_env_shared_key,
        "level generation for every env (vmap reset)": generate_all,
    }
    out = {}
    for label, step in parts.items():
        run = scan_of(step)
        cpu = statistics.median(timed(run)[1] for _ in range(repeats))
        out[label] = cpu / (num_envs * num_steps) * 1e6
    return out


def cpu_seconds(children: bool) -> float:
    """CPU seconds of this process, plus those of its finished child processes if ``children``."""
    usage = [resource.getrusage(resource.RUSAGE_SELF)]
    if children:
        usage.append(resource.getrusage(resource.RUSAGE_CHILDREN))
    return sum(u.ru_utime + u.ru_stime for u in usage)


def minihack_results(num_steps: int) -> dict[str, dict[str, float]]:
    """Steps/s of the real MiniHack (its own timer around the stepping loop) and steps per CPU-second.

    CPU time is taken as the difference between a run of ``num_steps`` and one of ``num_steps // 4``,
    after a warm-up run, so that construction, imports in the worker processes and the first reset
    cancel out; the vector
    env's CPU time is that of this process plus its (joined) worker processes."""
    try:
        from benchmarks.minihack_reference import minihack_steps_per_second
    except ModuleNotFoundError:  # run as a script: benchmarks/ is on sys.path
        from minihack_reference import minihack_steps_per_second

    minihack_steps_per_second(MINIHACK_ID, 10, vector=False)  # one-time costs (imports, first make)
    out = {}
    for vector in (False, True):
        runs = []
        for steps in (max(1, num_steps // 4), num_steps):
            start = cpu_seconds(children=vector)
            rate = minihack_steps_per_second(MINIHACK_ID, steps, vector=vector, num_workers=MINIHACK_WORKERS)
            runs.append((steps, rate, cpu_seconds(children=vector) - start))
        (short_steps, _, short_cpu), (long_steps, rate, long_cpu) = runs
        per_cpu_second = (long_steps - short_steps) / max(long_cpu - short_cpu, 1e-9)
        label = f"MiniHack {MINIHACK_ID} " + (
            f"(AsyncVectorEnv, {MINIHACK_WORKERS} workers)" if vector else "(1 process)"
        )
        out[label] = {
            "steps_per_second": rate,
            "steps_per_cpu_second": per_cpu_second,
            "cores_busy": rate / per_cpu_second,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=4096)
    parser.add_argument("--num-steps", type=int, default=32)
    parser.add_argument("--minihack-steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="4096 envs x 256 steps, MiniHack 4000 steps")
    parser.add_argument("--skip-minihack", action="store_true")
    parser.add_argument("--skip-navix", action="store_true", help="ours only (where NAVIX is not installed)")
    parser.add_argument("--profile", action="store_true", help="also time the parts of our step")
    parser.add_argument("--json", type=str, default=None, help="also write the results to this file")
    parser.add_argument(
        "--sight", action="store_true", help="instead: the study's tasks with and without sight=True (ours only)"
    )
    parser.add_argument(
        "--sight-against", type=str, default=None, metavar="REV",
        help="with --sight, also time sight=True with the gridworld engine of git revision REV (same run)",
    )
    parser.add_argument(
        "--one-core", action="store_true", help="pin every contender to one CPU core (the first this process may use)"
    )
    args = parser.parse_args()
    if args.one_core:  # pinned at the top of this file, before jax was imported; check that it held
        threads = os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else []
        unpinned = [t for t in threads if len(os.sched_getaffinity(int(t))) != 1]
        if unpinned:
            raise SystemExit(f"--one-core: {len(unpinned)} of {len(threads)} threads are not pinned to one core")
    if args.full:
        args.num_envs, args.num_steps, args.minihack_steps = 4096, 256, 4000
    if min(args.num_envs, args.num_steps, args.minihack_steps, args.repeats) <= 0:
        parser.error("--num-envs, --num-steps, --minihack-steps and --repeats must be positive")

    info = machine()
    print(json.dumps(info), flush=True)
    if args.sight:
        args.skip_navix = args.skip_minihack = True
        rollouts = sight_rollouts(args.num_envs, args.num_steps, args.sight_against)
    else:
        rollouts = {f"ours {name}": ours_rollout(name, args.num_envs, args.num_steps) for name in OURS}
    if not args.skip_navix:
        rollouts[f"NAVIX {NAVIX_ID}"] = navix_rollout(args.num_envs, args.num_steps)
    compile_seconds = {}
    for label, rollout in rollouts.items():
        compile_seconds[label] = timed(lambda rollout=rollout: rollout(jax.random.PRNGKey(0)))[0]
        print(f"compiled {label} in {compile_seconds[label]:.1f}s", flush=True)

    wall: dict[str, list[float]] = {label: [] for label in rollouts}
    cpu: dict[str, list[float]] = {label: [] for label in rollouts}
    for repeat in range(args.repeats):
        for label, rollout in rollouts.items():
            w, c = timed(lambda rollout=rollout: rollout(jax.random.PRNGKey(repeat + 1)))
            wall[label].append(w)
            cpu[label].append(c)
    steps = args.num_envs * args.num_steps
    results: dict[str, dict[str, float]] = {
        label: {
            "steps_per_second": steps / statistics.median(wall[label]),
            "steps_per_cpu_second": steps / statistics.median(cpu[label]),
            "cores_busy": statistics.median(cpu[label]) / statistics.median(wall[label]),
            "compile_seconds": compile_seconds[label],
        }
        for label in rollouts
    }

    if not args.skip_minihack:
        results.update(minihack_results(args.minihack_steps))
    info["load_average_after"] = os.getloadavg()

    print(
        f"\n{args.num_envs} envs x {args.num_steps} steps (JAX, median of {args.repeats}, round-robin); "
        f"MiniHack {args.minihack_steps} steps"
    )
    print("\n| contender | steps/s (median wall) | steps per core-second | cores busy | compile s |")
    print("|---|---:|---:|---:|---:|")
    for label, r in results.items():
        compile_text = f"{r['compile_seconds']:.1f}" if "compile_seconds" in r else "-"
        print(
            f"| {label} | {r['steps_per_second']:,.0f} | {r['steps_per_cpu_second']:,.0f} | "
            f"{r['cores_busy']:.2f} | {compile_text} |"
        )
    navix = results.get(f"NAVIX {NAVIX_ID}")
    minihack = {k: v for k, v in results.items() if k.startswith("MiniHack")}
    print()
    if args.sight:
        for label in SIGHT_TASKS:
            rate = {k[len(label) + 1 :]: r["steps_per_cpu_second"] for k, r in results.items() if k.startswith(label)}
            text = f"{label}: sight / no sight {rate['sight'] / rate['no sight']:.3f}x"
            if args.sight_against:
                old = rate[f"sight@{args.sight_against}"]
                text += (
                    f"; at {args.sight_against}: {old / rate['no sight']:.3f}x; "
                    f"sight now / sight at {args.sight_against}: {rate['sight'] / old:.2f}x (per CPU-second)"
                )
            print(text)
    for name in OURS if not args.sight else ():
        ours = results[f"ours {name}"]
        if navix is not None:
            print(
                f"{name} / NAVIX: {ours['steps_per_second'] / navix['steps_per_second']:.2f}x (wall), "
                f"{ours['steps_per_cpu_second'] / navix['steps_per_cpu_second']:.2f}x (per CPU-second)"
            )
        for label, r in minihack.items():
            print(
                f"{name} / {label}: {ours['steps_per_cpu_second'] / r['steps_per_cpu_second']:,.0f}x per core, "
                f"{ours['steps_per_second'] / r['steps_per_second']:,.0f}x wall"
            )

    profile = {}
    if args.profile and not args.sight:
        for name in OURS:
            profile[name] = profile_step(name, args.num_envs, min(args.num_steps, 32), args.repeats)
            full_step = 1e6 / results[f"ours {name}"]["steps_per_cpu_second"]
            profile[name] = {"full step (auto-reset), from the measurement above": full_step, **profile[name]}
            print(f"\n{name}: CPU seconds per million env steps")
            for part, value in profile[name].items():
                print(f"  {part}: {value:.3f}")
    print(json.dumps({"load_average_after": info["load_average_after"]}))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                {
                    "num_envs": args.num_envs,
                    "num_steps": args.num_steps,
                    "minihack_steps": args.minihack_steps,
                    "machine": info,
                    "results": results,
                    "profile": profile,
                },
                out,
            )


if __name__ == "__main__":
    main()

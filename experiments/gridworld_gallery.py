"""A gallery of generated gridworld levels, to look at: one PNG with two levels of each task family
and variant, and the same levels as ASCII text (NetHack's symbols). Dark levels are shown revealed.

    python experiments/gridworld_gallery.py                      # results/gridworld_gallery/
    python experiments/gridworld_gallery.py --tasks KeyRoom-S15,MazeWalk-45x19 --levels 4
    python experiments/gridworld_gallery.py --tasks MultiRoom-N6-Lava@25x25   # MultiRoom's paper-era area
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import envs
from envs.gridworld import TASKS, render_ascii, render_rgb

DEFAULT_TASKS = (
    "MultiRoom-N4",
    "MultiRoom-N6-Lava",
    "MultiRoom-N4-Lava@25x25",
    "MultiRoom-N6-Lava@25x25",
    "MultiRoom-N4-Locked",
    "MultiRoom-N10-OpenDoor",
    "KeyRoom-S10",
    "KeyRoom-S15",
    "LavaCrossingS11N5",
    "SimpleCrossingS9N2",
    "Corridor-R5",
    "MazeWalk-15x15",
    "MazeWalk-45x19",
)
OUT_DIR = Path(__file__).resolve().parents[1] / "results" / "gridworld_gallery"


def levels_of(name: str, num_levels: int, seed: int) -> list[np.ndarray]:
    """Glyph maps of the first ``num_levels`` fresh levels of task ``name`` (``num_contexts=-1``;
    ``<task>@<area>`` picks MultiRoom's generation area). Dark tasks (MazeWalk) are shown revealed: the
    agent itself sees only the cells it has been next to."""
    task, _, area = name.partition("@")
    env, params = envs.make(task, **({"area": area} if area else {}))
    keys = jax.random.split(jax.random.PRNGKey(seed), num_levels)
    _, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    states = states.replace(seen=jnp.ones_like(states.seen))
    glyphs = jax.vmap(env.glyphs)(states)
    return [np.asarray(g) for g in glyphs]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", help="comma-separated task names (default: one or two per family)")
    parser.add_argument("--levels", type=int, default=2, help="levels per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    names = args.tasks.split(",") if args.tasks else list(DEFAULT_TASKS)
    unknown = [n for n in names if n.partition("@")[0] not in TASKS]
    if unknown:
        parser.error(f"unknown tasks {unknown}; known: {sorted(TASKS)}")
    if args.levels < 1:
        parser.error("--levels must be at least 1")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    maps = {name: levels_of(name, args.levels, args.seed) for name in names}
    text = []
    for name, levels in maps.items():
        for i, glyphs in enumerate(levels):
            text.append(f"{name}, level {i} (seed {args.seed}):\n{render_ascii(glyphs)}\n")
    (args.out / "levels.txt").write_text("\n".join(text))

    fig, axes = plt.subplots(len(names), args.levels, figsize=(7 * args.levels, 2.4 * len(names)), squeeze=False)
    for row, (name, levels) in enumerate(maps.items()):
        for col, glyphs in enumerate(levels):
            ax = axes[row][col]
            ax.imshow(render_rgb(glyphs), interpolation="nearest")
            ax.set_title(f"{name} #{col}", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out / "levels.png", dpi=80)
    plt.close(fig)
    print(f"wrote {args.out / 'levels.png'} and {args.out / 'levels.txt'}")


if __name__ == "__main__":
    main()

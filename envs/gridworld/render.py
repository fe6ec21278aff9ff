"""Rendering of gridworld glyph maps: RGB images (16 x 16 tiles drawn here), ASCII text, GIFs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from envs.gridworld import tables

TILE = 16
# Base colours per glyph id.
COLOURS = np.array(
    [
        (0, 0, 0),  # rock
        (70, 70, 70),  # floor
        (150, 150, 170),  # wall
        (110, 90, 60),  # corridor
        (170, 110, 40),  # closed door
        (170, 110, 40),  # open door
        (90, 80, 60),  # doorway
        (230, 80, 20),  # lava
        (40, 200, 60),  # goal (stairs down)
        (60, 90, 200),  # stairs up
        (240, 210, 40),  # key
        (240, 240, 240),  # agent
    ],
    np.uint8,
)


def _tile_images() -> np.ndarray:
    """``uint8[NUM_GLYPHS, 16, 16, 3]``: a small drawing per glyph."""
    yy, xx = np.mgrid[0:TILE, 0:TILE]
    centre = (TILE - 1) / 2
    disc = (xx - centre) ** 2 + (yy - centre) ** 2 <= (TILE * 0.35) ** 2
    border = (xx == 0) | (yy == 0) | (xx == TILE - 1) | (yy == TILE - 1)
    tiles = np.zeros((tables.NUM_GLYPHS, TILE, TILE, 3), np.uint8)
    floor = COLOURS[tables.FLOOR]
    for glyph, colour in enumerate(COLOURS):
        tiles[glyph] = colour
    tiles[tables.FLOOR][border] = (50, 50, 50)
    tiles[tables.WALL][(yy % 8 == 0) | ((xx + 8 * (yy // 8)) % 16 == 0)] = (100, 100, 120)  # bricks
    tiles[tables.DOOR_CLOSED][(xx == TILE // 2) & (yy > 2) & (yy < TILE - 3)] = (90, 50, 10)
    tiles[tables.DOOR_CLOSED][border] = (90, 50, 10)
    tiles[tables.DOOR_OPEN] = floor
    tiles[tables.DOOR_OPEN][(xx < 3) | (xx > TILE - 4)] = COLOURS[tables.DOOR_OPEN]
    tiles[tables.LAVA][(np.sin(xx / 2.0) * 2 + yy) % 5 < 1.5] = (255, 170, 40)
    for glyph in (tables.GOAL, tables.STAIR_UP):  # stairs: stripes on floor
        tiles[glyph] = floor
        tiles[glyph][(yy % 4 < 2) & (xx > 2) & (xx < TILE - 3)] = COLOURS[glyph]
    tiles[tables.KEY] = floor
    tiles[tables.KEY][
        ((yy - 5) ** 2 + (xx - 5) ** 2 <= 9)
        | ((yy == 5) & (xx >= 5) & (xx < 14))
        | ((xx == 12) & (yy >= 5) & (yy < 9))
    ] = COLOURS[tables.KEY]
    tiles[tables.AGENT] = floor
    tiles[tables.AGENT][disc] = COLOURS[tables.AGENT]
    return tiles


TILES = _tile_images()


def render_rgb(glyphs: np.ndarray) -> np.ndarray:
    """``uint8[H*16, W*16, 3]`` image of a glyph map ``[H, W]``."""
    glyphs = np.asarray(glyphs, np.int64)
    height, width = glyphs.shape
    image = TILES[glyphs]  # [H, W, 16, 16, 3]
    return image.transpose(0, 2, 1, 3, 4).reshape(height * TILE, width * TILE, 3)


def render_ascii(glyphs: np.ndarray) -> str:
    """The map as NetHack-like text: walls and open doors drawn ``-`` or ``|`` by orientation."""
    glyphs = np.asarray(glyphs)
    height, width = glyphs.shape
    symbols = {
        tables.ROCK: " ",
        tables.FLOOR: ".",
        tables.CORRIDOR: "#",
        tables.DOOR_CLOSED: "+",
        tables.DOORWAY: ".",
        tables.LAVA: "}",
        tables.GOAL: ">",
        tables.STAIR_UP: "<",
        tables.KEY: "(",
        tables.AGENT: "@",
    }
    walled = {tables.WALL, tables.DOOR_CLOSED, tables.DOOR_OPEN, tables.DOORWAY}

    def is_wall(y: int, x: int) -> bool:
        return 0 <= y < height and 0 <= x < width and int(glyphs[y, x]) in walled

    lines = []
    for y in range(height):
        row = []
        for x in range(width):
            g = int(glyphs[y, x])
            if g == tables.WALL or g == tables.DOOR_OPEN:
                horizontal = is_wall(y, x - 1) or is_wall(y, x + 1)
                vertical = is_wall(y - 1, x) or is_wall(y + 1, x)
                wall_char = "|" if vertical and not horizontal else "-"
                if g == tables.DOOR_OPEN:  # NetHack draws an open door across its wall
                    wall_char = "-" if wall_char == "|" else "|"
                row.append(wall_char)
            else:
                row.append(symbols[g])
        lines.append("".join(row).rstrip())
    return "\n".join(lines)


def save_gif(frames: Sequence[np.ndarray], path: str | Path, fps: int = 8, scale: int = 1) -> Path:
    """Write RGB frames (``uint8[H, W, 3]``) or glyph maps (``[H, W]``) as an animated GIF."""
    from PIL import Image

    if not frames:
        raise ValueError("save_gif needs at least one frame")
    images = []
    for frame in frames:
        frame = np.asarray(frame)
        if frame.ndim == 2:
            frame = render_rgb(frame)
        image = Image.fromarray(frame.astype(np.uint8))
        if scale != 1:
            image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
        images.append(image)
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


def episode_gif(
    env, params, key, actions: Sequence[int] | None, path: str | Path, max_steps: int = 200, fps: int = 8
) -> Path:
    """Play one episode (the given actions, or uniform random ones) and write it as a GIF.

    Steps with ``step_env`` so the last frame is the episode's end, not the next episode's start."""
    import jax

    key, key_reset = jax.random.split(key)
    _, state = env.reset(key_reset, params)
    frames = [np.asarray(env.glyphs(state))]
    step = jax.jit(env.step_env)
    num = len(actions) if actions is not None else max_steps
    for t in range(num):
        key, key_action, key_step = jax.random.split(key, 3)
        action = actions[t] if actions is not None else env.action_space(params).sample(key_action)
        _, state, _, terminated, _ = step(key_step, state, action, params)
        frames.append(np.asarray(env.glyphs(state)))
        if bool(terminated):
            break
    return save_gif(frames, path, fps=fps)

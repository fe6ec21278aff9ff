"""Pictures of the driving world: a top-down RGB frame of the whole route, the bird's-eye-view
observation in colour, and a GIF of an episode. Drawing runs on the host with matplotlib."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np

from envs.driving.env import Driving, DrivingState
from envs.driving.rewards import INFRACTIONS
from envs.driving.world import CAR_LENGTH, CAR_WIDTH, GREEN, RED, YELLOW, DrivingParams, light_states

ROAD = "#808080"
LIGHT_COLOURS = {GREEN: "#2ca02c", YELLOW: "#ffbf00", RED: "#d62728"}
BEV_COLOURS = np.array([
    [0.55, 0.55, 0.55],  # road
    [0.35, 0.55, 0.85],  # route lane
    [0.95, 0.95, 0.95],  # vehicles
    [0.85, 0.15, 0.15],  # red light (0.5: yellow)
    [0.20, 0.75, 0.25],  # green light
])


def _offset_line(points: np.ndarray, headings: np.ndarray, lateral: float) -> np.ndarray:
    normal = np.stack([-np.sin(headings), np.cos(headings)], axis=1)
    return points + lateral * normal


def _car(ax, x: float, y: float, heading: float, colour: str) -> None:
    from matplotlib.patches import Polygon

    c, s = np.cos(heading), np.sin(heading)
    corners = np.array([[CAR_LENGTH / 2, CAR_WIDTH / 2], [CAR_LENGTH / 2, -CAR_WIDTH / 2],
                        [-CAR_LENGTH / 2, -CAR_WIDTH / 2], [-CAR_LENGTH / 2, CAR_WIDTH / 2]])
    world = corners @ np.array([[c, s], [-s, c]]) + np.array([x, y])
    ax.add_patch(Polygon(world, closed=True, facecolor=colour, edgecolor="black", linewidth=0.6, zorder=5))


def render_frame(state: DrivingState, params: DrivingParams, pixels: int = 480,
                 trail: np.ndarray | None = None) -> np.ndarray:
    """An RGB image ``(pixels, pixels, 3)`` uint8 of the whole route: road, crossing roads, stop lines in
    their light's colour, other vehicles (blue), the ego vehicle (red) and, if given, its trail."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    from envs.driving.world import point_at, vehicle_poses

    state = jax.tree.map(np.asarray, state)
    route = state.route
    lane_width = params.lane_width
    points, headings = route.points, route.headings
    right = _offset_line(points, headings, -lane_width / 2)
    left = _offset_line(points, headings, 1.5 * lane_width)
    centre = _offset_line(points, headings, lane_width / 2)

    fig = plt.figure(figsize=(pixels / 100, pixels / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_facecolor("#cfe3c1")
    junction_centres, junction_headings = point_at(route, route.junctions, lane_width / 2)
    for centre_point, heading in zip(np.asarray(junction_centres), np.asarray(junction_headings),
                                     strict=True):
        u = np.array([np.cos(heading), np.sin(heading)])
        n = np.array([-u[1], u[0]])
        signs = ((-1, -1), (1, -1), (1, 1), (-1, 1))
        corners = [centre_point + a * lane_width * u + b * 40.0 * n for a, b in signs]
        ax.add_patch(Polygon(np.array(corners), closed=True, facecolor=ROAD, edgecolor="none", zorder=1))
    ax.add_patch(Polygon(np.concatenate([right, left[::-1]]), closed=True, facecolor=ROAD, edgecolor="none",
                         zorder=2))
    ax.plot(centre[:, 0], centre[:, 1], color="white", linewidth=1.0, dashes=(4, 4), zorder=3)
    ax.plot(points[:, 0], points[:, 1], color="#4f7fd6", linewidth=0.8, alpha=0.6, zorder=3)

    lights = np.asarray(light_states(route, state.time, params))
    for stop, light in zip(route.stop_lines, lights, strict=True):
        a, _ = point_at(route, stop, -lane_width / 2)
        b, _ = point_at(route, stop, lane_width / 2)
        ax.plot([a[0], b[0]], [a[1], b[1]], color=LIGHT_COLOURS[int(light)], linewidth=3.0, zorder=4)

    positions, vehicle_headings, _ = vehicle_poses(route, state.traffic, params)
    for position, heading, active in zip(np.asarray(positions), np.asarray(vehicle_headings),
                                         state.traffic.active, strict=True):
        if active:
            _car(ax, position[0], position[1], heading, "#1f77b4")
    if trail is not None and len(trail) > 1:
        ax.plot(trail[:, 0], trail[:, 1], color="#d62728", linewidth=0.8, alpha=0.7, zorder=4)
    _car(ax, float(state.ego.x), float(state.ego.y), float(state.ego.psi), "#d62728")

    everything = np.concatenate([left, right])
    low, high = everything.min(axis=0) - 8.0, everything.max(axis=0) + 8.0
    middle, half = (low + high) / 2, (high - low).max() / 2
    ax.set_xlim(middle[0] - half, middle[0] + half)
    ax.set_ylim(middle[1] - half, middle[1] + half)
    ax.set_aspect("equal")
    ax.axis("off")
    counts = {name: int(c) for name, c in zip(INFRACTIONS, state.infraction_counts, strict=True) if c}
    ax.text(0.01, 0.99, f"t={int(state.time) * 0.1:.1f}s  v={float(state.ego.v):.1f} m/s  "
            f"RC={float(state.route_completion):.2f}\n{counts or 'no infraction'}",
            transform=ax.transAxes, va="top", fontsize=8, family="monospace", zorder=6)
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def bev_to_rgb(bev: np.ndarray, scale: int = 4) -> np.ndarray:
    """The ``(H, W, 5)`` bird's-eye-view observation as an RGB uint8 image, each pixel ``scale`` wide."""
    bev = np.asarray(bev)
    image = np.full(bev.shape[:2] + (3,), 0.15)
    for channel in range(bev.shape[-1]):
        weight = bev[..., channel:channel + 1]
        image = image * (1 - weight) + BEV_COLOURS[channel] * weight
    image = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def save_gif(frames: Sequence[np.ndarray], path: str | Path, fps: int = 10) -> None:
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)


def episode_frames(env: Driving, params: DrivingParams, key: jax.Array,
                   policy: Callable[[DrivingState, jax.Array], jax.Array], every: int = 2,
                   pixels: int = 400) -> list[np.ndarray]:
    """Run one episode (until it ends or times out) with ``policy(state, obs) -> action`` and render
    every ``every``-th step; the last frame is the final state."""
    key_reset, key_steps = jax.random.split(key)
    obs, state = env.reset_env(key_reset, params)
    step = jax.jit(lambda k, s, o: env.step_env(k, s, policy(s, o), params))
    frames, trail = [], [np.array([float(state.ego.x), float(state.ego.y)])]
    for t in range(params.max_steps_in_episode):
        if t % every == 0:
            frames.append(render_frame(state, params, pixels, np.array(trail)))
        obs, state, _, terminated, _ = step(jax.random.fold_in(key_steps, t), state, obs)
        trail.append(np.array([float(state.ego.x), float(state.ego.y)]))
        if bool(terminated) or bool(env.is_truncated(state, params)):
            break
    frames.append(render_frame(state, params, pixels, np.array(trail)))
    return frames

"""``Driving-v0``: follow a generated route through traffic and traffic lights (CaRL's setting in 2-D).

    env, params = envs.make("Driving-v0", reward="simple", observation="vector")

Actions are ``[steer, acceleration or brake]`` in [-1, 1]. Each step detects six infractions
(`rewards.INFRACTIONS`); a collision, a red light, leaving the road and being stuck end the episode,
as does finishing the route. ``info`` carries ``route_completion`` (0..1), ``driving_score`` (the
CARLA leaderboard's), ``infractions`` (a count per kind) and ``success`` (route finished); on the
last step of an episode they describe the whole episode.

As in the authors' code (CaRL's ``simple_reward.py``: ``truncation = finished_route``), finishing the
route is a truncation, not a termination: `Driving.is_truncated` holds on the step the route is
finished as well as at the time limit, so agents bootstrap from the value of the final observation.
Infractions (collision, red light, off road, stuck) terminate. The reward rules and the remaining
differences from the authors' reward are in `envs.driving.rewards`.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces
from envs.core import Environment
from envs.driving import rewards
from envs.driving.world import (
    CAR_LENGTH,
    CAR_WIDTH,
    DT,
    HALF_LENGTH,
    RED,
    YELLOW,
    DrivingParams,
    Ego,
    Route,
    Traffic,
    bicycle_step,
    collides,
    generate_route,
    light_states,
    point_at,
    project,
    route_key,
    spawn_traffic,
    speed_limit_at,
    step_traffic,
    to_ego_frame,
    vehicle_poses,
    wrap_angle,
)

NUM_ROUTE_POINTS = 10
ROUTE_POINT_SPACING = 5.0  # m
SENSOR_RANGE = 60.0  # m: farther vehicles and lights are not observed
END_TOLERANCE = 1.0  # m: the route is finished this close to its end
BEV_CHANNELS = ("road", "route", "vehicles", "red_light", "green_light")
NUM_MEASUREMENTS = 12


@struct.dataclass
class DrivingState:
    time: jax.Array
    ego: Ego
    route: Route
    traffic: Traffic
    route_index: jax.Array  # segment the ego projected onto last step
    s: jax.Array  # current projection: arc length, lateral offset (left positive), heading error
    d: jax.Array
    heading_error: jax.Array
    progress: jax.Array  # furthest arc length reached, m
    off_lane_progress: jax.Array  # progress made while off road or in the opposite lane, m
    route_completion: jax.Array
    previous_action: jax.Array  # (2,)
    lon_acc: jax.Array  # last step's motion, for the comfort metrics
    lat_acc: jax.Array
    yaw_rate: jax.Array
    infraction_counts: jax.Array  # (6,) int32, order of rewards.INFRACTIONS
    infraction_active: jax.Array  # (6,) bool: the condition held last step (counts are rising edges)
    still_steps: jax.Array  # consecutive steps below 0.1 m/s
    ttc_hold: jax.Array  # steps left of the time-to-collision penalty
    comfort_hold: jax.Array  # (6,) int32: steps left of each comfort metric's penalty
    lane_centre_counter: jax.Array  # the simple reward's lane-centre counter (rewards.update_lane_centre_counter)


class Driving(Environment[DrivingState, DrivingParams]):
    # Stateless: all instances are equal, so jitted methods (static ``self``) compile once per class.
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    @property
    def default_params(self) -> DrivingParams:
        return DrivingParams()

    # ------------------------------------------------------------------------------------------

    def reset_env(self, key: jax.Array, params: DrivingParams) -> tuple[Any, DrivingState]:
        k_route, k_traffic = jax.random.split(key)
        route = generate_route(route_key(k_route, params), params)
        traffic = spawn_traffic(k_traffic, params)
        ego = Ego(x=route.points[0, 0], y=route.points[0, 1], psi=route.headings[0], v=jnp.float32(0.0))
        zero = jnp.float32(0.0)
        num = len(rewards.INFRACTIONS)
        state = DrivingState(
            time=jnp.int32(0), ego=ego, route=route, traffic=traffic, route_index=jnp.int32(0),
            s=zero, d=zero, heading_error=zero, progress=zero, off_lane_progress=zero, route_completion=zero,
            previous_action=jnp.zeros(2, jnp.float32), lon_acc=zero, lat_acc=zero, yaw_rate=zero,
            infraction_counts=jnp.zeros(num, jnp.int32), infraction_active=jnp.zeros(num, bool),
            still_steps=jnp.int32(0), ttc_hold=jnp.int32(0),
            comfort_hold=jnp.zeros(rewards.NUM_COMFORT_METRICS, jnp.int32), lane_centre_counter=jnp.int32(0),
        )
        return self.get_obs(state, params), state

    def step_env(self, key: jax.Array, state: DrivingState, action: jax.Array, params: DrivingParams):
        route, lane_width = state.route, params.lane_width
        action = jnp.clip(jnp.asarray(action, jnp.float32).reshape(2), -1.0, 1.0)
        ego = bicycle_step(state.ego, action, params)
        xy = jnp.stack([ego.x, ego.y])
        s, d, route_heading, index = project(route, xy, state.route_index, params.projection_window)
        time = state.time + 1
        traffic = step_traffic(key, state.traffic, route, s, d, ego.v, time, params)
        lights = light_states(route, time, params)

        # Progress along the route (monotone; not counted when far from the road).
        on_route = jnp.abs(d) < 3 * lane_width
        projected = jnp.clip(s, 0.0, route.length)
        reached = jnp.where(on_route, jnp.maximum(state.progress, projected), state.progress)
        completed = reached >= route.length - END_TOLERANCE
        progress = jnp.where(completed, route.length, reached)
        progress_gain = progress - state.progress
        route_completion = progress / route.length

        # Infractions.
        in_junction = jnp.any(jnp.abs(s - route.junctions) < lane_width)
        outside = (d < -lane_width / 2) | (d > 1.5 * lane_width)
        on_crossing_road = in_junction & (jnp.abs(d) < 4 * lane_width)
        off_road = outside & ~on_crossing_road
        opposite_lane = (d > lane_width / 2 + params.opposite_lane_margin) & ~outside
        positions, headings, _ = vehicle_poses(route, traffic, params)
        collision = collides(ego, positions, headings)
        front_before, front_after = state.progress + HALF_LENGTH, progress + HALF_LENGTH
        crossed = (front_before < route.stop_lines) & (front_after >= route.stop_lines)
        red_light = jnp.any(crossed & (lights == RED))
        speed_limit = speed_limit_at(route, s)
        speeding = ego.v > speed_limit + params.speeding_tolerance
        still_steps = jnp.where(ego.v < 0.1, state.still_steps + 1, 0)
        stuck = still_steps >= params.stuck_steps
        conditions = jnp.stack([collision, red_light, off_road, opposite_lane, speeding, stuck])
        new_infractions = conditions & ~state.infraction_active
        infraction_counts = state.infraction_counts + new_infractions.astype(jnp.int32)
        off_lane = off_road | opposite_lane
        off_lane_progress = state.off_lane_progress + jnp.where(off_lane, progress_gain, 0.0)
        failed = collision | red_light | off_road | stuck
        terminated = failed  # finishing the route is a truncation (`is_truncated`)

        # Time to collision with vehicles ahead that overlap the ego laterally.
        vehicle_lateral = traffic.lane * lane_width
        vehicle_direction = jnp.where(traffic.lane == 0, 1.0, -1.0)
        gap_along = traffic.s - s
        in_path = traffic.active & (gap_along > 0) & (jnp.abs(vehicle_lateral - d) < CAR_WIDTH + 0.2)
        closing = ego.v - vehicle_direction * traffic.v
        time_to_collision = (gap_along - CAR_LENGTH) / jnp.maximum(closing, 1e-3)
        ttc = jnp.where(in_path & (closing > 0), time_to_collision, jnp.inf)
        short_ttc = jnp.any(ttc < params.ttc_threshold)
        ttc_hold = rewards.update_hold(state.ttc_hold, short_ttc, params.ttc_hold_steps)

        # Comfort metrics from the realised motion.
        lon_acc = (ego.v - state.ego.v) / DT
        yaw_rate = wrap_angle(ego.psi - state.ego.psi) / DT
        lat_acc = state.ego.v * yaw_rate
        comfort_violated = rewards.comfort_violations(
            lon_acc, lat_acc, yaw_rate, (yaw_rate - state.yaw_rate) / DT, (lon_acc - state.lon_acc) / DT,
            jnp.hypot(lon_acc - state.lon_acc, lat_acc - state.lat_acc) / DT,
        )
        comfort_hold = rewards.update_hold(state.comfort_hold, comfort_violated, params.comfort_hold_steps)
        lane_centre_counter = rewards.update_lane_centre_counter(state.lane_centre_counter, jnp.abs(d),
                                                                 in_junction)

        heading_error = wrap_angle(ego.psi - route_heading)
        vehicle_distance = jnp.min(jnp.where(in_path, gap_along, jnp.inf))
        red_distance = jnp.min(jnp.where((lights == RED) & (route.stop_lines - front_after > -0.5),
                                         route.stop_lines - front_after, jnp.inf))
        facts = rewards.StepFacts(
            progress_percent=100.0 * progress_gain / route.length,
            speed=ego.v, speed_limit=speed_limit,
            desired_speed=rewards.roach_desired_speed(speed_limit, vehicle_distance, red_distance),
            ttc_penalty=ttc_hold > 0, comfort_violations=jnp.sum((comfort_hold > 0).astype(jnp.int32)),
            lane_centre_penalty=~in_junction & (lane_centre_counter > rewards.LANE_CENTRE_STEPS),
            lateral_distance=jnp.abs(d), off_lane=off_lane, heading_error=heading_error,
            steer_change=jnp.abs(action[0] - state.previous_action[0]),
            collision=collision, red_light=red_light, failed=failed,
        )
        reward = rewards.REWARDS[params.reward](facts)

        state = DrivingState(
            time=time, ego=ego, route=route, traffic=traffic, route_index=index, s=s, d=d,
            heading_error=heading_error, progress=progress, off_lane_progress=off_lane_progress,
            route_completion=route_completion, previous_action=action, lon_acc=lon_acc, lat_acc=lat_acc,
            yaw_rate=yaw_rate, infraction_counts=infraction_counts, infraction_active=conditions,
            still_steps=still_steps, ttc_hold=ttc_hold, comfort_hold=comfort_hold,
            lane_centre_counter=lane_centre_counter,
        )
        info = {
            "route_completion": route_completion,
            "driving_score": rewards.driving_score(route_completion, off_lane_progress / route.length,
                                                   infraction_counts),
            "infractions": {name: infraction_counts[i] for i, name in enumerate(rewards.INFRACTIONS)},
            "success": completed,
        }
        return self.get_obs(state, params), state, reward, terminated, info

    def is_truncated(self, state: DrivingState, params: DrivingParams) -> jax.Array:
        """The time limit, or the route finished (a truncation in the authors' code)."""
        return (state.time >= params.max_steps_in_episode) | route_finished(state)

    # ------------------------------------------------------------------------------------------
    # Observations

    def measurements(self, state: DrivingState, params: DrivingParams) -> jax.Array:
        """Speed, limits, lane position, last action and the next traffic light, scaled to about [-1, 1]."""
        route, ego = state.route, state.ego
        limit = speed_limit_at(route, state.s)
        limit_ahead = jnp.min(speed_limit_at(route, state.s + jnp.asarray([10.0, 20.0, 30.0])))
        lights = light_states(route, state.time, params)
        to_line = route.stop_lines - (state.s + HALF_LENGTH)
        upcoming = to_line > -0.5
        next_light = jnp.argmin(jnp.where(upcoming, to_line, jnp.inf))
        has_next = jnp.any(upcoming)
        next_distance = jnp.where(has_next, jnp.clip(to_line[next_light], 0.0, SENSOR_RANGE), SENSOR_RANGE)
        next_state = jax.nn.one_hot(lights[next_light], 3) * has_next
        red_distance = jnp.min(jnp.where(upcoming & (lights == RED), jnp.clip(to_line, 0.0, SENSOR_RANGE),
                                         SENSOR_RANGE))
        return jnp.concatenate([
            jnp.stack([ego.v / 10.0, limit / 10.0, limit_ahead / 10.0, state.d / params.lane_width,
                       state.heading_error, state.previous_action[0], state.previous_action[1],
                       next_distance / SENSOR_RANGE]),
            next_state,
            jnp.stack([red_distance / SENSOR_RANGE]),
        ]).astype(jnp.float32)

    def vector_obs(self, state: DrivingState, params: DrivingParams) -> jax.Array:
        """Route points ahead in the ego frame, the measurements, and each vehicle slot's
        ``[visible, x, y, vx, vy]`` relative to the ego (zeros when not visible)."""
        ego = state.ego
        ahead = state.s + ROUTE_POINT_SPACING * jnp.arange(1, NUM_ROUTE_POINTS + 1, dtype=jnp.float32)
        points, _ = point_at(state.route, ahead)
        route_points = to_ego_frame(ego, points) / 25.0
        positions, _, velocities = vehicle_poses(state.route, state.traffic, params)
        relative = to_ego_frame(ego, positions)
        c, s = jnp.cos(ego.psi), jnp.sin(ego.psi)
        ego_velocity = ego.v * jnp.stack([c, s])
        dv = velocities - ego_velocity
        relative_velocity = jnp.stack([c * dv[:, 0] + s * dv[:, 1], -s * dv[:, 0] + c * dv[:, 1]], axis=-1)
        visible = state.traffic.active & (jnp.linalg.norm(relative, axis=-1) < SENSOR_RANGE)
        vehicles = jnp.concatenate([visible[:, None].astype(jnp.float32), relative / 30.0,
                                    relative_velocity / 10.0], axis=-1)
        vehicles = vehicles * visible[:, None]
        return jnp.concatenate([route_points.reshape(-1), self.measurements(state, params),
                                vehicles.reshape(-1)]).astype(jnp.float32)

    def bird_eye_view(self, state: DrivingState, params: DrivingParams) -> jax.Array:
        """A ``(bev_size, bev_size, 5)`` raster around the ego, which faces up (row 0 is ahead) and sits
        a quarter of the way up from the bottom. Channels: `BEV_CHANNELS` (red_light is 1 for red and
        0.5 for yellow)."""
        size, resolution, lane_width = params.bev_size, params.bev_resolution, params.lane_width
        route, ego = state.route, state.ego
        forward = (0.75 * size - 0.5 - jnp.arange(size, dtype=jnp.float32)) * resolution
        left = (0.5 * size - 0.5 - jnp.arange(size, dtype=jnp.float32)) * resolution
        f, lft = forward[:, None], left[None, :]
        c, s_ = jnp.cos(ego.psi), jnp.sin(ego.psi)
        pixels = jnp.stack([ego.x + f * c - lft * s_, ego.y + f * s_ + lft * c], axis=-1)  # (H, W, 2)

        # Nearest route segment of each pixel, within a window around the ego.
        n, window = route.points.shape[0], params.projection_window
        start = jnp.clip(state.route_index - window // 5, 0, n - window)
        points = jax.lax.dynamic_slice(route.points, (start, 0), (window, 2))
        a, ab = points[:-1], points[1:] - points[:-1]
        ds = route.spacing
        rel = pixels[:, :, None, :] - a  # (H, W, K, 2)
        t = jnp.clip(jnp.sum(rel * ab, axis=-1) / (ds * ds), 0.0, 1.0)
        residual = rel - t[..., None] * ab
        distance2 = jnp.sum(residual**2, axis=-1)
        k = jnp.argmin(distance2, axis=-1)
        ab_k = ab[k]
        rel_k = jnp.take_along_axis(rel, k[..., None, None], axis=2)[:, :, 0]
        lateral = (ab_k[..., 0] * rel_k[..., 1] - ab_k[..., 1] * rel_k[..., 0]) / ds
        along_error = jnp.min(distance2, axis=-1) - lateral**2
        pixel_s = (start + k + jnp.take_along_axis(t, k[..., None], axis=2)[..., 0]) * ds
        on_centre_lines = along_error < 0.5
        road = on_centre_lines & (lateral >= -lane_width / 2) & (lateral <= 1.5 * lane_width)
        route_lane = on_centre_lines & (jnp.abs(lateral) <= lane_width / 2)

        centres, headings = point_at(route, route.junctions, lane_width / 2)
        u = jnp.stack([jnp.cos(headings), jnp.sin(headings)], axis=-1)  # (J, 2)
        offset = pixels[:, :, None, :] - centres
        crossing_along = jnp.sum(offset * u, axis=-1)
        crossing_across = offset[..., 1] * u[:, 0] - offset[..., 0] * u[:, 1]
        crossing = (jnp.abs(crossing_along) <= lane_width) & (jnp.abs(crossing_across) <= 40.0)
        crossing = jnp.any(crossing, axis=-1)
        road = road | crossing

        positions, vehicle_headings, _ = vehicle_poses(route, state.traffic, params)
        offset = pixels[:, :, None, :] - positions
        vu = jnp.stack([jnp.cos(vehicle_headings), jnp.sin(vehicle_headings)], axis=-1)
        v_along = jnp.sum(offset * vu, axis=-1)
        v_across = offset[..., 1] * vu[:, 0] - offset[..., 0] * vu[:, 1]
        vehicles = jnp.any((jnp.abs(v_along) <= HALF_LENGTH) & (jnp.abs(v_across) <= CAR_WIDTH / 2), axis=-1)

        lights = light_states(route, state.time, params)
        on_line = (jnp.abs(pixel_s[..., None] - route.stop_lines) <= 0.75) & route_lane[..., None]
        red = jnp.max(on_line * jnp.where(lights == RED, 1.0, jnp.where(lights == YELLOW, 0.5, 0.0)), axis=-1)
        green = jnp.any(on_line & (lights == 0), axis=-1)
        return jnp.stack([road, route_lane, vehicles, red, green], axis=-1).astype(jnp.float32)

    def get_obs(self, state: DrivingState, params: DrivingParams) -> Any:
        if params.observation == "bev":
            return {"bev": self.bird_eye_view(state, params),
                    "measurements": self.measurements(state, params)}
        return self.vector_obs(state, params)

    # ------------------------------------------------------------------------------------------

    def action_space(self, params: DrivingParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)

    def observation_space(self, params: DrivingParams | None = None) -> spaces.Space:
        params = params or self.default_params
        if params.observation == "bev":
            return spaces.Dict({
                "bev": spaces.Box(0.0, 1.0, (params.bev_size, params.bev_size, len(BEV_CHANNELS))),
                "measurements": spaces.Box(-jnp.inf, jnp.inf, (NUM_MEASUREMENTS,), jnp.float32),
            })
        size = 2 * NUM_ROUTE_POINTS + NUM_MEASUREMENTS + 5 * params.num_vehicles
        return spaces.Box(-jnp.inf, jnp.inf, (size,), jnp.float32)

    @property
    def name(self) -> str:
        return "Driving-v0"


def route_finished(state: DrivingState) -> jax.Array:
    """Whether the route is finished (`Driving.step_env` sets ``progress`` to the route length then)."""
    return state.progress >= state.route.length


def make_driving(
    reward: str = "simple",
    observation: str = "vector",
    traffic_density: float = 0.75,
    num_vehicles: int = 4,
    num_lights: int = 2,
    route_length: float = 180.0,
    max_turn: float = math.pi / 2,
    max_steps_in_episode: int = 500,
    num_contexts: int = -1,
    context_seed: int = 0,
    bev_size: int = 40,
) -> tuple[Driving, DrivingParams]:
    """Build ``Driving-v0``; every argument is checked and refused with a reason."""
    if reward not in rewards.REWARDS:
        raise ValueError(f"reward must be one of {sorted(rewards.REWARDS)}, got {reward!r}")
    if observation not in ("vector", "bev"):
        raise ValueError(f"observation must be 'vector' or 'bev', got {observation!r}")
    if not 0.0 <= traffic_density <= 1.0:
        raise ValueError(f"traffic_density is a probability in [0, 1], got {traffic_density}")
    if num_vehicles < 1:
        raise ValueError(f"num_vehicles must be at least 1, got {num_vehicles}")
    if num_lights < 1:
        raise ValueError(f"num_lights must be at least 1, got {num_lights}")
    if not 60.0 <= route_length <= 1000.0:
        raise ValueError(f"route_length must be in [60, 1000] m (lights, traffic), got {route_length}")
    if not 0.0 <= max_turn <= math.pi / 2:
        raise ValueError(f"max_turn must be in [0, pi/2] rad, got {max_turn}")
    if max_steps_in_episode <= 0:
        raise ValueError(f"max_steps_in_episode must be positive, got {max_steps_in_episode}")
    if num_contexts == 0 or num_contexts < -1:
        raise ValueError(f"num_contexts must be -1 (fresh route each reset) or positive, got {num_contexts}")
    if bev_size < 8:
        raise ValueError(f"bev_size must be at least 8 pixels, got {bev_size}")
    num_waypoints = max(64, int(math.ceil(route_length / 1.42)) + 1)  # 128 for 180 m
    params = DrivingParams(
        reward=reward, observation=observation, traffic_density=traffic_density, num_vehicles=num_vehicles,
        num_lights=num_lights, route_length=route_length, max_turn=max_turn,
        max_steps_in_episode=max_steps_in_episode, num_contexts=num_contexts, context_seed=context_seed,
        bev_size=bev_size, num_waypoints=num_waypoints,
    )
    return Driving(), params


def run_episode(env: Driving, params: DrivingParams, key: jax.Array,
                policy: Any) -> tuple[dict[str, Any], jax.Array, jax.Array]:
    """Drive one episode to its end (termination or time limit) with ``policy(state, obs, key)``; pure,
    so it jits and vmaps over keys. Returns the last step's ``info`` (the episode's route completion,
    driving score, infraction counts, success), the undiscounted return and the episode length."""
    key_reset, key_steps = jax.random.split(key)
    obs, state = env.reset_env(key_reset, params)
    empty_info = {
        "route_completion": jnp.float32(0.0), "driving_score": jnp.float32(0.0),
        "infractions": {name: jnp.int32(0) for name in rewards.INFRACTIONS}, "success": jnp.bool_(False),
    }

    def body(carry, step_key):
        obs, state, done, info, total = carry
        k_policy, k_step = jax.random.split(step_key)
        action = policy(state, obs, k_policy)
        next_obs, next_state, reward, terminated, next_info = env.step_env(k_step, state, action, params)
        finished = terminated | env.is_truncated(next_state, params)
        keep = lambda old, new: jax.tree.map(lambda a, b: jnp.where(done, a, b), old, new)
        carry = (keep(obs, next_obs), keep(state, next_state), done | finished, keep(info, next_info),
                 total + jnp.where(done, 0.0, reward))
        return carry, None

    init = (obs, state, jnp.bool_(False), empty_info, jnp.float32(0.0))
    step_keys = jax.random.split(key_steps, params.max_steps_in_episode)
    (_, state, _, info, total), _ = jax.lax.scan(body, init, step_keys)
    return info, total, state.time

"""A scripted driver: pure pursuit for steering, the Intelligent Driver Model for speed.

It reads the privileged state (route, lights, other vehicles), so it is the upper reference a learned
policy is compared with, and the proof that generated routes are drivable. Speed targets: 95 % of the
speed limit, slowed in advance of lower limits and of curves (lateral acceleration <= 2.5 m/s^2); it
keeps a 1.5 s headway to the vehicle ahead and stops before red lights, and before yellow ones when
it can stop comfortably.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.driving.env import DrivingState
from envs.driving.world import (
    CAR_LENGTH,
    CAR_WIDTH,
    HALF_LENGTH,
    RED,
    YELLOW,
    DrivingParams,
    idm_acceleration,
    light_states,
    point_at,
    speed_limit_at,
    to_ego_frame,
)

LIMIT_MARGIN = 0.95
LATERAL_ACCELERATION = 2.5  # m/s^2 in curves
COMFORT_BRAKING = 2.0  # m/s^2 to slow before lower limits and curves
YELLOW_STOP_DECELERATION = 2.5  # stop at yellow only if this suffices
ACCELERATION_RATE = 0.35  # m/s^2 per step: keeps jerk within the comfort bound
EMERGENCY = -4.0  # IDM decelerations below this are applied at once
SPEED_GAIN = 2.0  # 1/s


def pure_pursuit_steer(state: DrivingState, params: DrivingParams) -> jax.Array:
    """Steer towards the ego-lane point a speed-dependent look-ahead distance along the route."""
    lookahead = jnp.clip(0.8 * state.ego.v + 4.0, 5.0, 14.0)
    target, _ = point_at(state.route, state.s + lookahead)
    local = to_ego_frame(state.ego, target)
    curvature = 2.0 * local[1] / jnp.maximum(jnp.sum(local**2), 1e-3)
    delta = jnp.arctan(curvature * params.wheelbase)
    return jnp.clip(delta / params.max_steer, -1.0, 1.0)


def target_acceleration(state: DrivingState, params: DrivingParams) -> jax.Array:
    route, ego, s = state.route, state.ego, state.s
    # Free-road speed: the lowest of the speeds allowed now by limits and curves ahead.
    ahead = jnp.arange(0.0, 50.0, 2.0)
    samples = s + ahead
    limits = LIMIT_MARGIN * speed_limit_at(route, samples)
    index = jnp.clip(jnp.floor(samples / route.spacing), 0, route.points.shape[0] - 1).astype(jnp.int32)
    curve_speed = jnp.sqrt(LATERAL_ACCELERATION / jnp.maximum(jnp.abs(route.curvature[index]), 1e-3))
    braking_room = jnp.maximum(ahead - 3.0, 0.0)
    allowed = jnp.sqrt(jnp.minimum(limits, curve_speed) ** 2 + 2 * COMFORT_BRAKING * braking_room)
    desired_speed = jnp.min(allowed)

    # The nearest obstacle in the ego's path: a vehicle, or a stop line that must be respected.
    traffic = state.traffic
    vehicle_lateral = traffic.lane * params.lane_width
    along = traffic.s - s
    in_path = traffic.active & (along > 0) & (jnp.abs(vehicle_lateral - state.d) < CAR_WIDTH + 0.5)
    gaps = jnp.where(in_path, along - CAR_LENGTH, jnp.inf)
    nearest = jnp.argmin(gaps)
    direction = jnp.where(traffic.lane[nearest] == 0, 1.0, -1.0)
    gap, leader_speed = gaps[nearest], direction * traffic.v[nearest]

    lights = light_states(route, state.time, params)
    to_line = route.stop_lines - (s + HALF_LENGTH) - 1.0
    stoppable = ego.v**2 < 2 * YELLOW_STOP_DECELERATION * jnp.maximum(to_line, 1e-3)
    must_stop = (to_line > -1.0) & ((lights == RED) | ((lights == YELLOW) & stoppable))
    line_gap = jnp.min(jnp.where(must_stop, jnp.maximum(to_line, 0.0) + 2.0, jnp.inf))
    use_line = line_gap < gap
    gap = jnp.where(use_line, line_gap, gap)
    leader_speed = jnp.where(use_line, 0.0, leader_speed)
    following = idm_acceleration(ego.v, desired_speed, gap, leader_speed, a_max=2.0, b_comfort=3.0,
                                 headway=1.5, min_gap=3.0)
    # IDM brakes only gently when a little over its desired speed; track the braking curve tightly.
    tracking = SPEED_GAIN * (desired_speed - ego.v)
    return jnp.minimum(following, tracking)


def scripted_action(state: DrivingState, params: DrivingParams) -> jax.Array:
    """``[steer, accel]`` in [-1, 1] for the current state."""
    acceleration = target_acceleration(state, params)
    previous = state.previous_action[1]
    previous = jnp.where(previous >= 0, previous * params.max_acceleration, previous * params.max_braking)
    smooth = jnp.clip(acceleration, previous - ACCELERATION_RATE, previous + ACCELERATION_RATE)
    acceleration = jnp.where(acceleration < EMERGENCY, jnp.minimum(acceleration, smooth), smooth)
    acceleration = jnp.clip(acceleration, -params.max_braking, params.max_acceleration)
    # Hold the car still when stopped and asked to wait (IDM would creep).
    throttle = jnp.where(acceleration >= 0, acceleration / params.max_acceleration,
                         acceleration / params.max_braking)
    return jnp.stack([pure_pursuit_steer(state, params), throttle]).astype(jnp.float32)

"""The driving world: procedurally generated routes, traffic, traffic lights, dynamics and geometry.

Everything here is a pure JAX function with fixed shapes, so that thousands of worlds run under
``jax.vmap``. Units are metres, seconds and radians; one step is ``DT = 0.1`` s (10 Hz, as CARLA).

The road is the corridor around the route: two lanes of ``lane_width``, the ego lane centred on the
route polyline (lateral offset ``d = 0``) and the opposite lane on its left (``d = lane_width``), with
``d`` positive to the left. At each junction a two-lane road crosses the route at right angles; a
traffic light with a stop line sits before it. Other vehicles move along the route polyline: those
in the ego lane (the first is the lead vehicle) follow the Intelligent Driver Model, stop at red
lights and brake at random; those in the opposite lane come towards the ego vehicle.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

DT = 0.1
CAR_LENGTH = 4.5
CAR_WIDTH = 2.0
HALF_LENGTH = CAR_LENGTH / 2
# Each car is covered by three discs along its axis, for a cheap collision test.
DISC_OFFSETS = (-1.5, 0.0, 1.5)
DISC_RADIUS = 1.0
SPEED_LIMIT_CHOICES = (30 / 3.6, 40 / 3.6, 50 / 3.6)  # 30, 40 and 50 km/h
GREEN, YELLOW, RED = 0, 1, 2
FAR_AWAY = 1.0e4  # where inactive vehicles are parked


@struct.dataclass
class DrivingParams:
    """World parameters. Static fields fix shapes or code paths; the others may be vmapped."""

    route_length: float = 180.0
    max_turn: float = math.pi / 2  # largest heading change of one curve; 0 gives straight roads
    min_curve_radius: float = 20.0
    max_curve_radius: float = 50.0
    lane_width: float = 3.5
    traffic_density: float = 0.75  # probability that each vehicle slot is occupied
    lead_brake_probability: float = 0.005  # per step while cruising, for vehicles in the ego lane
    lead_brake_deceleration: float = 5.0
    # ego vehicle: kinematic bicycle
    wheelbase: float = 2.7
    max_steer: float = 0.5
    max_acceleration: float = 3.0
    max_braking: float = 6.0
    max_speed: float = 20.0
    # traffic lights (seconds)
    green_duration: float = 8.0
    yellow_duration: float = 3.0
    red_duration: float = 6.0
    # infractions
    speeding_tolerance: float = 0.5  # m/s over the limit before speeding counts as an infraction
    opposite_lane_margin: float = 0.0  # how far the ego centre may cross the centre line
    stuck_steps: int = 120  # steps below 0.1 m/s that count as being stuck (blocked)
    ttc_threshold: float = 0.95  # s; nuPlan's bound
    ttc_hold_steps: int = 500  # CaRL's ttc_penalty_ticks (500 ticks of its 10 Hz simulator = 500 steps)
    comfort_hold_steps: int = 500  # CaRL's comfort_penalty_ticks, per comfort metric
    context_seed: int = 0  # with num_contexts > 0, the fixed routes are drawn from this seed
    # static: shapes and code paths
    max_steps_in_episode: int = struct.field(pytree_node=False, default=500)  # fixes episode scan lengths
    # contexts: -1 draws a fresh route at every reset, N > 0 draws from N fixed routes
    num_contexts: int = struct.field(pytree_node=False, default=-1)
    num_waypoints: int = struct.field(pytree_node=False, default=128)
    num_vehicles: int = struct.field(pytree_node=False, default=4)
    num_lights: int = struct.field(pytree_node=False, default=2)
    num_speed_sections: int = struct.field(pytree_node=False, default=4)
    num_curves: int = struct.field(pytree_node=False, default=4)
    reward: str = struct.field(pytree_node=False, default="simple")
    observation: str = struct.field(pytree_node=False, default="vector")
    bev_size: int = struct.field(pytree_node=False, default=40)
    bev_resolution: float = struct.field(pytree_node=False, default=1.2)  # metres per pixel
    projection_window: int = struct.field(pytree_node=False, default=40)


@struct.dataclass
class Route:
    points: jax.Array  # (N, 2) ego-lane centre line
    headings: jax.Array  # (N,) heading of the segment that starts at each point
    curvature: jax.Array  # (N,)
    length: jax.Array  # ()
    section_limits: jax.Array  # (S,) speed limit of each equal-length section, m/s
    junctions: jax.Array  # (J,) arc length of each junction centre
    stop_lines: jax.Array  # (J,) arc length of each stop line
    light_offsets: jax.Array  # (J,) phase of each light's cycle at t = 0, seconds

    @property
    def spacing(self) -> jax.Array:
        return self.length / (self.points.shape[0] - 1)


@struct.dataclass
class Traffic:
    s: jax.Array  # (V,) arc length along the route
    v: jax.Array  # (V,) speed, >= 0
    lane: jax.Array  # (V,) 0: ego lane, driving with the route; 1: opposite lane, driving against it
    active: jax.Array  # (V,) bool
    speed_factor: jax.Array  # (V,) desired speed as a fraction of the speed limit
    brake_time_left: jax.Array  # (V,) seconds left of a random braking episode


@struct.dataclass
class Ego:
    x: jax.Array
    y: jax.Array
    psi: jax.Array
    v: jax.Array


# ----------------------------------------------------------------------------------------------
# Route generation


def generate_route(key: jax.Array, params: DrivingParams) -> Route:
    """A polyline of straights and arcs from a few random turn choices, with junctions on straights.

    Curves of random angle (up to ``max_turn``) and radius alternate with straights; the heading is
    kept within +-90 degrees of the start so that the route never folds back onto itself. Curvature is
    zeroed 20 m around each junction, so junctions sit on straight road.
    """
    n, num_curves, num_lights = params.num_waypoints, params.num_curves, params.num_lights
    keys = jax.random.split(key, 8)
    length = jnp.asarray(params.route_length, jnp.float32)
    ds = length / (n - 1)
    arc = jnp.arange(n, dtype=jnp.float32) * ds

    # Segments: straight, curve, straight, curve, ... ; segment k starts at starts[k].
    straight_lengths = jax.random.uniform(keys[0], (num_curves + 1,), minval=10.0, maxval=35.0)
    angles = jax.random.uniform(keys[1], (num_curves,), minval=-1.0, maxval=1.0) * params.max_turn
    radii = jax.random.uniform(keys[2], (num_curves,), minval=params.min_curve_radius,
                               maxval=params.max_curve_radius)
    curve_lengths = jnp.maximum(jnp.abs(angles) * radii, 1.0)
    segment_lengths = jnp.stack([straight_lengths[:-1], curve_lengths], axis=1).reshape(-1)
    segment_lengths = jnp.concatenate([segment_lengths, straight_lengths[-1:]])
    segment_curvature = jnp.stack([jnp.zeros(num_curves), angles / curve_lengths], axis=1).reshape(-1)
    segment_curvature = jnp.concatenate([segment_curvature, jnp.zeros(1)])
    starts = jnp.cumsum(segment_lengths) - segment_lengths
    segment = jnp.clip(jnp.searchsorted(starts, arc, side="right") - 1, 0, segment_lengths.shape[0] - 1)
    kappa = segment_curvature[segment]

    # Junctions spread evenly along the route, jittered; straight road around each.
    base = (jnp.arange(num_lights, dtype=jnp.float32) + 1.0) / (num_lights + 1)
    jitter = jax.random.uniform(keys[3], (num_lights,), minval=-0.06, maxval=0.06)
    junctions = (base + jitter) * length
    near_junction = jnp.any(jnp.abs(arc[:, None] - junctions[None, :]) < 20.0, axis=1)
    kappa = jnp.where(near_junction, 0.0, kappa)

    heading = jnp.clip(jnp.cumsum(kappa * ds) - kappa[0] * ds, -math.pi / 2, math.pi / 2)
    mid = 0.5 * (heading[1:] + heading[:-1])
    steps = ds * jnp.stack([jnp.cos(mid), jnp.sin(mid)], axis=1)
    points = jnp.concatenate([jnp.zeros((1, 2)), jnp.cumsum(steps, axis=0)], axis=0)
    segment_vectors = points[1:] - points[:-1]
    headings = jnp.arctan2(segment_vectors[:, 1], segment_vectors[:, 0])
    headings = jnp.concatenate([headings, headings[-1:]])
    curvature = jnp.concatenate([(heading[1:] - heading[:-1]) / ds, jnp.zeros(1)])

    choices = jnp.asarray(SPEED_LIMIT_CHOICES, jnp.float32)
    section_limits = choices[jax.random.randint(keys[4], (params.num_speed_sections,), 0, len(choices))]
    cycle = params.green_duration + params.yellow_duration + params.red_duration
    light_offsets = jax.random.uniform(keys[5], (num_lights,), minval=0.0, maxval=1.0) * cycle
    # The stop line is one metre before the crossing road, which spans junction +- lane_width.
    stop_lines = junctions - params.lane_width - 1.0
    return Route(points=points, headings=headings, curvature=curvature, length=length,
                 section_limits=section_limits, junctions=junctions, stop_lines=stop_lines,
                 light_offsets=light_offsets)


def route_key(key: jax.Array, params: DrivingParams) -> jax.Array:
    """The key a route is generated from: fresh, or one of ``num_contexts`` fixed ones."""
    if params.num_contexts <= 0:
        return key
    context = jax.random.randint(key, (), 0, params.num_contexts)
    return jax.random.fold_in(jax.random.PRNGKey(params.context_seed), context)


# ----------------------------------------------------------------------------------------------
# Geometry on the route


def speed_limit_at(route: Route, s: jax.Array) -> jax.Array:
    num_sections = route.section_limits.shape[0]
    section = jnp.clip(jnp.floor(s / route.length * num_sections), 0, num_sections - 1).astype(jnp.int32)
    return route.section_limits[section]


def point_at(route: Route, s: jax.Array, lateral: jax.Array | float = 0.0) -> tuple[jax.Array, jax.Array]:
    """Position and heading at arc length ``s`` and lateral offset ``lateral`` (left positive);
    beyond either end the route is extended straight."""
    n = route.points.shape[0]
    ds = route.spacing
    index = jnp.clip(jnp.floor(s / ds), 0, n - 2).astype(jnp.int32)
    heading = route.headings[index]
    direction = jnp.stack([jnp.cos(heading), jnp.sin(heading)], axis=-1)
    normal = jnp.stack([-jnp.sin(heading), jnp.cos(heading)], axis=-1)
    along = (s - index * ds)[..., None]
    position = route.points[index] + along * direction + jnp.asarray(lateral)[..., None] * normal
    return position, heading


def project(route: Route, xy: jax.Array, previous_index: jax.Array, window: int) -> tuple[jax.Array, ...]:
    """Project a point onto the route near the previous projection (so a route that comes close to
    itself cannot make the projection jump). Returns ``(s, d, heading, index)``: arc length, signed
    lateral offset (left positive), route heading there, and the segment index."""
    n = route.points.shape[0]
    back = window // 5
    start = jnp.clip(previous_index - back, 0, n - window)
    points = jax.lax.dynamic_slice(route.points, (start, 0), (window, 2))
    headings = jax.lax.dynamic_slice(route.headings, (start,), (window,))
    a, b = points[:-1], points[1:]
    ab = b - a
    ds = route.spacing
    t = jnp.sum((xy - a) * ab, axis=1) / (ds * ds)
    indices = start + jnp.arange(window - 1)
    # Before the first point and past the last the route extends straight.
    t = jnp.clip(t, jnp.where(indices == 0, -jnp.inf, 0.0), jnp.where(indices == n - 2, jnp.inf, 1.0))
    closest = a + t[:, None] * ab
    distance = jnp.sum((xy - closest) ** 2, axis=1)
    k = jnp.argmin(distance)
    s = (indices[k] + t[k]) * ds
    cross = ab[k, 0] * (xy[1] - a[k, 1]) - ab[k, 1] * (xy[0] - a[k, 0])
    d = cross / ds
    return s, d, headings[k], indices[k]


def wrap_angle(angle: jax.Array) -> jax.Array:
    return (angle + jnp.pi) % (2 * jnp.pi) - jnp.pi


def to_ego_frame(ego: Ego, xy: jax.Array) -> jax.Array:
    """World points ``(..., 2)`` in the ego frame: x forward, y left."""
    c, s = jnp.cos(ego.psi), jnp.sin(ego.psi)
    dx, dy = xy[..., 0] - ego.x, xy[..., 1] - ego.y
    return jnp.stack([c * dx + s * dy, -s * dx + c * dy], axis=-1)


# ----------------------------------------------------------------------------------------------
# Traffic lights


def light_states(route: Route, time: jax.Array, params: DrivingParams) -> jax.Array:
    """GREEN, YELLOW or RED for each light at step ``time``."""
    cycle = params.green_duration + params.yellow_duration + params.red_duration
    phase = jnp.mod(time * DT + route.light_offsets, cycle)
    return jnp.where(phase < params.green_duration, GREEN,
                     jnp.where(phase < params.green_duration + params.yellow_duration, YELLOW, RED))


# ----------------------------------------------------------------------------------------------
# Ego dynamics


def bicycle_step(ego: Ego, action: jax.Array, params: DrivingParams) -> Ego:
    """Kinematic bicycle, explicit Euler at 10 Hz. ``action = [steer, accel]`` in [-1, 1]; a negative
    ``accel`` brakes with up to ``max_braking``. Speed is clipped to [0, max_speed] (no reverse)."""
    action = jnp.clip(action, -1.0, 1.0)
    steer, throttle = action[0], action[1]
    delta = steer * params.max_steer
    acceleration = jnp.where(throttle >= 0, throttle * params.max_acceleration, throttle * params.max_braking)
    return Ego(
        x=ego.x + ego.v * jnp.cos(ego.psi) * DT,
        y=ego.y + ego.v * jnp.sin(ego.psi) * DT,
        psi=wrap_angle(ego.psi + ego.v / params.wheelbase * jnp.tan(delta) * DT),
        v=jnp.clip(ego.v + acceleration * DT, 0.0, params.max_speed),
    )


# ----------------------------------------------------------------------------------------------
# Other vehicles


def spawn_traffic(key: jax.Array, params: DrivingParams) -> Traffic:
    """The first half of the slots drive in the ego lane ahead of the ego vehicle (slot 0 is the lead
    vehicle), the others come towards it in the opposite lane."""
    v_count = params.num_vehicles
    k_active, k_same, k_opposite, k_factor, k_speed = jax.random.split(key, 5)
    num_same = (v_count + 1) // 2
    lane = (jnp.arange(v_count) >= num_same).astype(jnp.int32)
    length = params.route_length
    slot = jnp.arange(v_count)
    # Ego-lane vehicles: the lead 15-35 m ahead, the others spread further on.
    same_s = 15.0 + 20.0 * jax.random.uniform(k_same, (v_count,)) + slot * 0.35 * length
    opposite_index = slot - num_same
    spacing = length / max(1, v_count - num_same)
    opposite_s = 40.0 + (opposite_index + jax.random.uniform(k_opposite, (v_count,))) * spacing
    s = jnp.where(lane == 0, same_s, opposite_s)
    active = jax.random.uniform(k_active, (v_count,)) < params.traffic_density
    speed_factor = jax.random.uniform(k_factor, (v_count,), minval=0.7, maxval=1.0)
    initial_fraction = jax.random.uniform(k_speed, (v_count,), minval=0.5, maxval=1.0)
    v = speed_factor * SPEED_LIMIT_CHOICES[0] * initial_fraction
    return Traffic(s=s, v=v, lane=lane, active=active, speed_factor=speed_factor,
                   brake_time_left=jnp.zeros(v_count))


def idm_acceleration(v: jax.Array, v_desired: jax.Array, gap: jax.Array, v_leader: jax.Array,
                     a_max: float = 2.0, b_comfort: float = 3.0, headway: float = 1.5,
                     min_gap: float = 3.0) -> jax.Array:
    """The Intelligent Driver Model (Treiber et al. 2000); ``gap`` is bumper to bumper."""
    desired_gap = min_gap + v * headway + v * (v - v_leader) / (2 * math.sqrt(a_max * b_comfort))
    free = 1.0 - (v / jnp.maximum(v_desired, 0.1)) ** 4
    interaction = (jnp.maximum(desired_gap, 0.0) / jnp.maximum(gap, 0.1)) ** 2
    return a_max * (free - interaction)


def step_traffic(key: jax.Array, traffic: Traffic, route: Route, ego_s: jax.Array, ego_d: jax.Array,
                 ego_v: jax.Array, time: jax.Array, params: DrivingParams) -> Traffic:
    """Move every vehicle one step: IDM behind its leader (and, in the ego lane, the ego vehicle and red
    stop lines), random braking episodes in the ego lane, parked far away once off the route."""
    direction = jnp.where(traffic.lane == 0, 1.0, -1.0)
    same_lane = (traffic.lane[:, None] == traffic.lane[None, :]) & traffic.active[None, :]
    ahead = direction[:, None] * (traffic.s[None, :] - traffic.s[:, None])
    is_leader = same_lane & (ahead > 0)
    gaps = jnp.where(is_leader, ahead - CAR_LENGTH, jnp.inf)
    leader = jnp.argmin(gaps, axis=1)
    gap = jnp.min(gaps, axis=1)
    v_leader = traffic.v[leader]

    # The ego vehicle is an obstacle for vehicles behind it in its lane.
    ego_ahead = ego_s - traffic.s
    ego_in_lane = (traffic.lane == 0) & (ego_ahead > 0) & (ego_d < params.lane_width / 2)
    ego_gap = jnp.where(ego_in_lane, ego_ahead - CAR_LENGTH, jnp.inf)
    use_ego = ego_gap < gap
    gap = jnp.where(use_ego, ego_gap, gap)
    v_leader = jnp.where(use_ego, ego_v, v_leader)

    # Red (and stoppable yellow) lights are standing obstacles at the stop line for the ego lane.
    lights = light_states(route, time, params)
    to_line = route.stop_lines[None, :] - (traffic.s[:, None] + HALF_LENGTH)
    stoppable = traffic.v[:, None] ** 2 < 2 * 3.0 * jnp.maximum(to_line, 1e-3)
    must_stop = (lights[None, :] == RED) | ((lights[None, :] == YELLOW) & stoppable)
    light_gap = jnp.where((traffic.lane[:, None] == 0) & (to_line > -0.5) & must_stop, to_line + 2.5, jnp.inf)
    light_gap = jnp.min(light_gap, axis=1)
    use_light = light_gap < gap
    gap = jnp.where(use_light, light_gap, gap)
    v_leader = jnp.where(use_light, 0.0, v_leader)

    v_desired = traffic.speed_factor * speed_limit_at(route, traffic.s)
    acceleration = jnp.clip(idm_acceleration(traffic.v, v_desired, gap, v_leader), -8.0, 2.0)

    k_start, k_duration = jax.random.split(key)
    braking = traffic.brake_time_left > 0
    # A braking episode starts only while the vehicle cruises (not when already slow or stopped).
    cruising = traffic.v > 0.5 * v_desired
    start = (~braking & cruising & (traffic.lane == 0)
             & (jax.random.uniform(k_start, traffic.s.shape) < params.lead_brake_probability))
    duration = jax.random.uniform(k_duration, traffic.s.shape, minval=0.5, maxval=2.0)
    brake_time_left = jnp.where(start, duration, jnp.maximum(traffic.brake_time_left - DT, 0.0))
    acceleration = jnp.where(brake_time_left > 0, jnp.minimum(acceleration, -params.lead_brake_deceleration),
                             acceleration)

    s = traffic.s + direction * traffic.v * DT
    v = jnp.clip(traffic.v + acceleration * DT, 0.0, params.max_speed)
    gone = jnp.where(traffic.lane == 0, s > route.length + 20.0, s < -20.0)
    return traffic.replace(s=s, v=v, active=traffic.active & ~gone, brake_time_left=brake_time_left)


def vehicle_poses(route: Route, traffic: Traffic,
                  params: DrivingParams) -> tuple[jax.Array, jax.Array, jax.Array]:
    """World position ``(V, 2)``, heading ``(V,)`` and velocity ``(V, 2)`` of each vehicle; inactive ones
    are parked far away (each at its own spot) with zero velocity."""
    lateral = traffic.lane * params.lane_width
    position, heading = point_at(route, traffic.s, lateral)
    heading = jnp.where(traffic.lane == 0, heading, wrap_angle(heading + jnp.pi))
    parked = FAR_AWAY + 100.0 * jnp.arange(traffic.s.shape[0], dtype=jnp.float32)
    position = jnp.where(traffic.active[:, None], position, parked[:, None])
    speed = jnp.where(traffic.active, traffic.v, 0.0)
    velocity = speed[:, None] * jnp.stack([jnp.cos(heading), jnp.sin(heading)], axis=-1)
    return position, heading, velocity


def discs(position: jax.Array, heading: jax.Array) -> jax.Array:
    """Centres ``(..., 3, 2)`` of the discs that cover a car."""
    offsets = jnp.asarray(DISC_OFFSETS)
    direction = jnp.stack([jnp.cos(heading), jnp.sin(heading)], axis=-1)
    return position[..., None, :] + offsets[:, None] * direction[..., None, :]


def collides(ego: Ego, positions: jax.Array, headings: jax.Array) -> jax.Array:
    """Whether the ego car overlaps any vehicle (disc cover)."""
    ego_discs = discs(jnp.stack([ego.x, ego.y]), ego.psi)  # (3, 2)
    other = discs(positions, headings)  # (V, 3, 2)
    distance = jnp.linalg.norm(other[:, :, None, :] - ego_discs[None, None, :, :], axis=-1)
    return jnp.any(distance < 2 * DISC_RADIUS)

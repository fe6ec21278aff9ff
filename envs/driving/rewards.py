"""The two rewards CaRL compares, and the CARLA-leaderboard driving score that judges both.

Both rewards are pure functions of the facts the world computes each step (`StepFacts`). The simple
reward follows the authors' code (autonomousvision/CaRL, ``team_code_roach/reward/simple_reward.py``
with the defaults of ``team_code_roach/rl_config.py``), whose simulator ticks at ``frame_rate = 10``
Hz, the rate of our steps (``world.DT = 0.1`` s), so a tick there is a step here:

- progress: route completion gained this step, in percent (a finished route sums to 100);
- 0 while outside the route lanes (opposite lane, off road): ``use_outside_route_lanes``;
- speeding: ``max(0, 1 - (v - v_limit) / 2.23 m/s)`` (``max_overspeed_value_threshold``);
- time to collision too short: ``x 0.5``, held for 500 ticks after the last violation
  (``ttc_penalty_ticks = 500``: 50 s, so in practice the rest of an episode); the env keeps the hold;
- comfort: ``x (1 - 0.5 k / 6)`` where ``k`` counts the six nuPlan metrics violated within the last
  500 ticks (``comfort_penalty_ticks = 500``, one hold per metric); the env keeps the holds;
- lane centre: ``x 0.5`` while a counter, raised each step the ego is more than 0.5 m from the lane
  centre (``lane_distance_violation_threshold``) outside a junction and lowered (to 0) otherwise,
  exceeds 30 ticks (``lane_dist_penalty_time = 3 s x 10 Hz``); no factor inside junctions;
- collision or red light: ``-1`` added on that (terminating) step (``terminal_hint = 1`` with
  ``use_rl_termination_hint``); other terminations add 0 (``terminal_reward = 0``).

Differences that remain (the rest are our world's, not the reward's): the comfort metrics are one-step
finite differences of the realised motion, where the authors smooth a 15-tick history with a
Savitzky-Golay filter, so ours are stricter on jerk (the scripted controller ramps its acceleration to
stay inside them); TTC uses a constant-velocity gap along the route with nuPlan's 0.95 s bound, where
the authors project bounding boxes 0.1 to 0.9 s ahead; the time limit (500 steps) is a truncation here,
where the authors' 1,200 s timeout is a termination (a finished route takes well under 500 steps here,
so the limit only cuts policies that dawdle, and bootstrapping through it is the correct treatment of a
limit the agent does not observe). The holds and the lane-centre counter are not in our observation.
`papers/carl.md` gives a continuous lane-centre factor, ``1 - clip(d / (lane_width / 2), 0, 1)``: a
denser signal than the code's binary factor, which we follow.

The shaped (Roach) reward follows `papers/carl.md`. Our world uses SI units, so the sheet's constants
are used unchanged, with one exception:
Roach's speed term divides by 6 m/s, which is Roach's top desired speed, so that the term stays in
[0, 1]. Our speed limits reach 13.9 m/s; with a fixed 6 m/s a car at rest would earn about -1.3 per
step and the cheapest plan would be to end the episode by leaving the road. The divisor is therefore
the desired-speed ceiling of our world, the speed limit (never below Roach's 6 m/s).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

INFRACTIONS = ("collision", "red_light", "off_road", "opposite_lane", "speeding", "stuck")

# Multiplicative driving-score penalty per occurrence, as the CARLA leaderboard uses them:
# collision with a vehicle 0.60, red light 0.70. The leaderboard has no speeding infraction and ends a
# blocked route without a factor (the lost completion is the penalty), so those count 1.0. Driving
# off road or outside the route lanes is not a factor in CARLA either: the share of the route done
# there is subtracted from route completion (see `driving_score`).
PENALTY_FACTORS = {
    "collision": 0.60,
    "red_light": 0.70,
    "off_road": 1.0,
    "opposite_lane": 1.0,
    "speeding": 1.0,
    "stuck": 1.0,
}

# nuPlan's comfort bounds (the six metrics CaRL's comfort factor counts).
COMFORT_BOUNDS = {
    "min_lon_acceleration": -4.05,  # m/s^2
    "max_lon_acceleration": 2.40,
    "max_abs_lat_acceleration": 4.89,
    "max_abs_yaw_rate": 0.95,  # rad/s
    "max_abs_yaw_acceleration": 1.93,  # rad/s^2
    "max_abs_lon_jerk": 4.13,  # m/s^3
    "max_abs_jerk_magnitude": 8.37,
}
NUM_COMFORT_METRICS = 6

# The authors' constants (rl_config.py); ticks are our 0.1 s steps.
SPEEDING_SCALE = 2.23  # m/s: the speed factor reaches 0 at 2.23 m/s over the limit
TTC_FACTOR = 0.5
TTC_HOLD_STEPS = 500  # ttc_penalty_ticks
COMFORT_WEIGHT = 0.5  # comfort_penalty_factor
COMFORT_HOLD_STEPS = 500  # comfort_penalty_ticks
LANE_CENTRE_THRESHOLD = 0.5  # m: lane_distance_violation_threshold
LANE_CENTRE_STEPS = 30  # lane_dist_penalty_time = int(3.0 s * 10 Hz)
LANE_CENTRE_FACTOR = 0.5
TERMINAL_HINT = 1.0  # subtracted on a collision or a red light
ROACH_SPEED_SCALE = 6.0  # m/s: Roach's top desired speed; ours is the speed limit (see the module doc)
ROACH_POSITION_SCALE = 2.0  # m
ROACH_STEER_CHANGE = 0.01
ROACH_ACTION_PENALTY = 0.1


@struct.dataclass
class StepFacts:
    """What one step did, as the rewards need it."""

    progress_percent: jax.Array  # route completion gained this step, in percent
    speed: jax.Array  # m/s
    speed_limit: jax.Array  # m/s
    desired_speed: jax.Array  # Roach's v_desired: the limit, lowered before hazards and red lights
    ttc_penalty: jax.Array  # bool: time-to-collision was too short within the hold window
    comfort_violations: jax.Array  # how many of the 6 comfort metrics were violated within their holds
    lane_centre_penalty: jax.Array  # bool: off the lane centre for too long, outside a junction
    lateral_distance: jax.Array  # |distance| from the ego lane centre, m (the shaped reward's)
    off_lane: jax.Array  # bool: in the opposite lane or off road
    heading_error: jax.Array  # rad, ego heading minus route heading
    steer_change: jax.Array  # |steer_t - steer_{t-1}| in action units
    collision: jax.Array  # bool, this step
    red_light: jax.Array  # bool, ran a red light this step
    failed: jax.Array  # bool: terminated by an infraction (collision, red light, off road, stuck)


def comfort_violations(lon_acc: jax.Array, lat_acc: jax.Array, yaw_rate: jax.Array, yaw_acc: jax.Array,
                       lon_jerk: jax.Array, jerk_magnitude: jax.Array) -> jax.Array:
    """Which of nuPlan's six comfort metrics are out of bounds, shape (6,) bool, in the authors' order
    (longitudinal and lateral acceleration, jerk magnitude, longitudinal jerk, yaw rate and yaw
    acceleration; the order only names the holds)."""
    b = COMFORT_BOUNDS
    violated = jnp.stack([
        (lon_acc < b["min_lon_acceleration"]) | (lon_acc > b["max_lon_acceleration"]),
        jnp.abs(lat_acc) > b["max_abs_lat_acceleration"],
        jerk_magnitude > b["max_abs_jerk_magnitude"],
        jnp.abs(lon_jerk) > b["max_abs_lon_jerk"],
        jnp.abs(yaw_rate) > b["max_abs_yaw_rate"],
        jnp.abs(yaw_acc) > b["max_abs_yaw_acceleration"],
    ])
    return violated


def update_hold(remaining: jax.Array, violated: jax.Array, hold_steps: int) -> jax.Array:
    """The authors' hold: count the remaining ticks down (to 0), then restart at ``hold_steps`` where
    violated this step. The penalty applies while ``remaining > 0``."""
    return jnp.where(violated, hold_steps, jnp.maximum(remaining - 1, 0)).astype(jnp.int32)


def update_lane_centre_counter(counter: jax.Array, lateral_distance: jax.Array, in_junction: jax.Array) -> jax.Array:
    """The authors' lane-centre counter: +1 on a step more than 0.5 m from the lane centre, -1 (not
    below 0) otherwise; unchanged inside a junction. The factor applies while it exceeds 30."""
    step = jnp.where(lateral_distance > LANE_CENTRE_THRESHOLD, counter + 1, jnp.maximum(counter - 1, 0))
    return jnp.where(in_junction, counter, step).astype(jnp.int32)


def simple_penalty_factor(facts: StepFacts) -> jax.Array:
    """The product of CaRL's multiplicative factors in [0, 1] (module doc): speeding
    ``max(0, 1 - (v - v_limit) / 2.23)``, short TTC (held) ``x 0.5``, comfort (held) ``x (1 - 0.5 k / 6)``,
    lane centre ``x 0.5`` after more than 3 s beyond 0.5 m, and 0 while outside the route lanes."""
    speeding = jnp.clip(1.0 - jnp.maximum(facts.speed - facts.speed_limit, 0.0) / SPEEDING_SCALE, 0.0, 1.0)
    ttc = jnp.where(facts.ttc_penalty, TTC_FACTOR, 1.0)
    comfort = 1.0 - COMFORT_WEIGHT * facts.comfort_violations / NUM_COMFORT_METRICS
    centre = jnp.where(facts.lane_centre_penalty, LANE_CENTRE_FACTOR, 1.0)
    return jnp.where(facts.off_lane, 0.0, speeding * ttc * comfort * centre)


def simple_reward(facts: StepFacts) -> jax.Array:
    """CaRL's simple reward: ``r = delta RC (percent) x penalty factors``, so a clean, finished route sums
    to 100, with ``-1`` added on a step that ends the episode with a collision or a red light. Finishing
    the route gives no bonus."""
    progress = facts.progress_percent * simple_penalty_factor(facts)
    hint = jnp.where(facts.collision | facts.red_light, TERMINAL_HINT, 0.0)
    return (progress - hint).astype(jnp.float32)


def shaped_reward(facts: StepFacts) -> jax.Array:
    """The Roach-style sum (sheet, "Shaped baseline"):
    ``r_speed = 1 - |v - v_desired| / v_top`` with ``v_top = max(v_limit, 6 m/s)`` (Roach: 6 m/s, its top
    desired speed), ``r_position = -d_lat / 2``, ``r_rotation = -|heading error|``,
    ``r_action = -0.1`` when the steering changes by more than 0.01, and ``r_terminal = -1`` on a
    termination by an infraction, with an extra ``-v`` on a collision or a red light. Reaching the end
    of the route is not a failure and gets no terminal term."""
    top_speed = jnp.maximum(facts.speed_limit, ROACH_SPEED_SCALE)
    r_speed = 1.0 - jnp.abs(facts.speed - facts.desired_speed) / top_speed
    r_position = -facts.lateral_distance / ROACH_POSITION_SCALE
    r_rotation = -jnp.abs(facts.heading_error)
    r_action = jnp.where(facts.steer_change > ROACH_STEER_CHANGE, -ROACH_ACTION_PENALTY, 0.0)
    r_terminal = (jnp.where(facts.failed, -1.0, 0.0)
                  - jnp.where(facts.collision | facts.red_light, facts.speed, 0.0))
    return (r_speed + r_position + r_rotation + r_action + r_terminal).astype(jnp.float32)


REWARDS = {"simple": simple_reward, "shaped": shaped_reward}


def roach_desired_speed(speed_limit: jax.Array, vehicle_distance: jax.Array,
                        red_light_distance: jax.Array) -> jax.Array:
    """Roach lowers the desired speed linearly to 0 over a ramp before a hazard: for a vehicle ahead the
    ramp ends 8 m (centre to centre) from it, for a red light at the stop line. Roach's ramp is 5 m at
    its 6 m/s top speed; our limits reach 13.9 m/s, so the ramp is scaled to the same deceleration,
    ``v_limit^2 / (2 * 3.6 m/s^2)`` (= 5 m at 6 m/s)."""
    ramp = jnp.maximum(speed_limit**2 / (2 * 3.6), 5.0)
    vehicle = jnp.clip((vehicle_distance - 8.0) / ramp, 0.0, 1.0)
    light = jnp.clip(red_light_distance / ramp, 0.0, 1.0)
    return speed_limit * jnp.minimum(vehicle, light)


def driving_score(route_completion: jax.Array, off_lane_fraction: jax.Array,
                  infraction_counts: jax.Array) -> jax.Array:
    """CARLA leaderboard driving score: route completion, less the share of the route driven off road
    or outside the route lanes, times ``factor ** count`` for each infraction (`PENALTY_FACTORS`, in
    the order of `INFRACTIONS`)."""
    factors = jnp.asarray([PENALTY_FACTORS[name] for name in INFRACTIONS], jnp.float32)
    penalty = jnp.prod(factors ** infraction_counts.astype(jnp.float32), axis=-1)
    completion = jnp.clip(route_completion - off_lane_fraction, 0.0, 1.0)
    return completion * penalty

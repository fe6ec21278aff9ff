"""Driving-v0: dynamics, infractions, rewards, driving score, scripted controller, jit/vmap."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.driving import INFRACTIONS, run_episode, scripted_action
from envs.driving import rewards as R
from envs.driving.world import (
    HALF_LENGTH,
    SPEED_LIMIT_CHOICES,
    Ego,
    bicycle_step,
    generate_route,
    light_states,
    route_key,
)


def compiled(fn, *args):
    """``jax.jit(fn)`` compiled for ``args`` without LLVM's optimisations: compiling dominates here."""
    return jax.jit(fn).lower(*args).compile(compiler_options={"xla_backend_optimization_level": 0})


def straight_world(**kwargs):
    """A straight road along +x from the origin with no traffic: lateral offset is y, arc length x."""
    env, params = envs.make("Driving-v0", max_turn=0.0, traffic_density=0.0, **kwargs)
    _, state = env.reset(jax.random.PRNGKey(3), params)
    return env, params, state


def place(state, s: float, d: float = 0.0, v: float = 0.0):
    """Put the ego at arc length ``s``, offset ``d``, speed ``v`` on the straight road, as if it had
    driven there in its lane."""
    ego = Ego(x=jnp.float32(s), y=jnp.float32(d), psi=jnp.float32(0.0), v=jnp.float32(v))
    index = jnp.int32(s / float(state.route.spacing))
    return state.replace(ego=ego, s=jnp.float32(s), d=jnp.float32(d), progress=jnp.float32(s),
                         route_index=index)


def one_vehicle(state, s: float):
    """Only slot 0 active: a standing vehicle in the ego lane at arc length ``s``."""
    traffic = state.traffic
    return traffic.replace(active=jnp.arange(traffic.s.shape[0]) == 0, s=traffic.s.at[0].set(s),
                           v=traffic.v.at[0].set(0.0), lane=traffic.lane.at[0].set(0))


@pytest.fixture(scope="module")
def step_env():
    env, params, state = straight_world()
    return compiled(env.step_env, jax.random.PRNGKey(0), state, jnp.zeros(2, jnp.float32), params)


def _step(step_env, state, params, action=(0.0, 0.0)):
    return step_env(jax.random.PRNGKey(0), state, jnp.asarray(action, jnp.float32), params)


def counts(info) -> dict[str, int]:
    return {name: int(info["infractions"][name]) for name in INFRACTIONS}


# ---------------------------------------------------------------------------------------------
# Dynamics and route generation


def test_bicycle_model_matches_hand_computation():
    _, params = envs.make("Driving-v0")
    ego = Ego(x=jnp.float32(1.0), y=jnp.float32(2.0), psi=jnp.float32(0.3), v=jnp.float32(5.0))
    out = bicycle_step(ego, jnp.asarray([0.4, 0.5]), params)
    delta = 0.4 * 0.5  # steer * max_steer
    assert float(out.x) == pytest.approx(1.0 + 5.0 * math.cos(0.3) * 0.1, abs=1e-6)
    assert float(out.y) == pytest.approx(2.0 + 5.0 * math.sin(0.3) * 0.1, abs=1e-6)
    assert float(out.psi) == pytest.approx(0.3 + 5.0 / 2.7 * math.tan(delta) * 0.1, abs=1e-6)
    assert float(out.v) == pytest.approx(5.0 + 0.5 * 3.0 * 0.1, abs=1e-6)
    braked = bicycle_step(ego, jnp.asarray([0.0, -0.5]), params)
    assert float(braked.v) == pytest.approx(5.0 - 0.5 * 6.0 * 0.1, abs=1e-6)
    assert float(braked.psi) == pytest.approx(0.3, abs=1e-7)
    slow = ego.replace(v=jnp.float32(0.2))
    assert float(bicycle_step(slow, jnp.asarray([0.0, -1.0]), params).v) == 0.0  # no reverse
    clipped = bicycle_step(ego, jnp.asarray([3.0, 0.0]), params)  # actions are clipped to [-1, 1]
    assert float(clipped.psi) == pytest.approx(0.3 + 5.0 / 2.7 * math.tan(0.5) * 0.1, abs=1e-6)


def test_generated_routes_are_well_formed():
    _, params = envs.make("Driving-v0")
    keys = jax.random.split(jax.random.PRNGKey(1), 64)
    generate = compiled(jax.vmap(generate_route, in_axes=(0, None)), keys, params)
    route = jax.tree.map(np.asarray, generate(keys, params))
    spacing = np.linalg.norm(np.diff(route.points, axis=1), axis=-1)
    assert np.allclose(spacing, params.route_length / (params.num_waypoints - 1), rtol=1e-3)
    assert np.all(np.abs(route.headings) <= math.pi / 2 + 1e-5)  # never folds back
    assert np.all(np.diff(route.points[..., 0], axis=1) >= -1e-4)
    ds = params.route_length / (params.num_waypoints - 1)
    arc = np.arange(params.num_waypoints) * ds
    near = np.abs(arc[None, :, None] - route.junctions[:, None, :]).min(-1) < 15.0
    assert np.all(np.abs(route.curvature[near]) < 1e-4)  # junctions sit on straight road
    assert np.all(route.stop_lines < route.junctions) and np.all(route.stop_lines > 30.0)
    assert np.all(np.isclose(route.section_limits[..., None], np.asarray(SPEED_LIMIT_CHOICES)).any(-1))
    assert np.ptp(route.points[:, -1, 1]) > 10.0  # the routes differ


def test_fixed_contexts_repeat_routes():
    _, params = envs.make("Driving-v0", num_contexts=3)
    keys = jax.random.split(jax.random.PRNGKey(0), 24)
    contexts = np.asarray(jax.vmap(lambda k: route_key(k, params))(keys))
    assert len({tuple(c) for c in contexts}) == 3
    fresh = np.asarray(jax.vmap(lambda k: route_key(k, params.replace(num_contexts=-1)))(keys))
    assert len({tuple(c) for c in fresh}) == 24


def test_invalid_arguments_are_refused():
    for kwargs, word in [({"reward": "dense"}, "reward"), ({"observation": "rgb"}, "observation"),
                         ({"traffic_density": 1.5}, "traffic_density"), ({"num_vehicles": 0}, "num_vehicles"),
                         ({"max_turn": 3.0}, "max_turn"), ({"num_contexts": 0}, "num_contexts")]:
        with pytest.raises(ValueError, match=word):
            envs.make("Driving-v0", **kwargs)


# ---------------------------------------------------------------------------------------------
# Infractions, each in a scenario built to cause it


def test_collision_with_a_vehicle(step_env):
    _, params, state = straight_world()
    state = place(state, 20.0, v=2.0)
    traffic = one_vehicle(state, 23.0)
    _, after, reward, terminated, info = _step(step_env, state.replace(traffic=traffic), params)
    assert counts(info) == {**dict.fromkeys(INFRACTIONS, 0), "collision": 1}
    # The authors add -1 to the step's progress reward (halved here: the time to collision is short too).
    progress_percent = 100.0 * (float(after.progress) - 20.0) / params.route_length
    assert bool(terminated) and float(reward) == pytest.approx(0.5 * progress_percent - 1.0, abs=1e-5)
    completion = float(after.progress) / params.route_length
    assert float(info["driving_score"]) == pytest.approx(0.6 * completion, rel=1e-5)
    # The same vehicle 12 m ahead is no collision.
    far = traffic.replace(s=traffic.s.at[0].set(32.0))
    _, _, _, terminated, info = _step(step_env, state.replace(traffic=far), params)
    assert counts(info)["collision"] == 0 and not bool(terminated)


def test_leaving_the_road(step_env):
    _, params, state = straight_world()
    _, _, reward, terminated, info = _step(step_env, place(state, 20.0, d=-2.5, v=5.0), params)
    assert counts(info) == {**dict.fromkeys(INFRACTIONS, 0), "off_road": 1}
    assert bool(terminated) and float(reward) == 0.0


def test_opposite_lane(step_env):
    _, params, state = straight_world()
    _, after, reward, terminated, info = _step(step_env, place(state, 20.0, d=3.5, v=5.0), params)
    assert counts(info) == {**dict.fromkeys(INFRACTIONS, 0), "opposite_lane": 1}
    assert not bool(terminated)
    assert float(after.progress) == pytest.approx(20.5, abs=1e-4)
    assert float(reward) == 0.0  # progress in the opposite lane earns nothing
    # CARLA discounts the route driven outside the route lanes from route completion.
    assert float(info["driving_score"]) == pytest.approx(20.0 / params.route_length, rel=1e-4)
    # Staying there is one occurrence, not one per step.
    _, _, _, _, info = _step(step_env, after, params)
    assert counts(info)["opposite_lane"] == 1


def test_running_a_red_light(step_env):
    _, params, state = straight_world()
    stop = float(state.route.stop_lines[0])
    near_line = place(state, stop - HALF_LENGTH - 0.2, v=5.0)
    red = near_line.replace(route=near_line.route.replace(light_offsets=jnp.asarray([12.0, 0.0])))
    assert int(light_states(red.route, red.time + 1, params)[0]) == 2
    _, after, reward, terminated, info = _step(step_env, red, params)
    assert counts(info) == {**dict.fromkeys(INFRACTIONS, 0), "red_light": 1}
    progress_percent = 100.0 * (float(after.progress) - float(red.progress)) / params.route_length
    assert bool(terminated) and float(reward) == pytest.approx(progress_percent - 1.0, abs=1e-5)
    assert float(info["driving_score"]) == pytest.approx(0.7 * float(info["route_completion"]), rel=1e-5)
    green = near_line.replace(route=near_line.route.replace(light_offsets=jnp.asarray([0.0, 0.0])))
    _, _, reward, terminated, info = _step(step_env, green, params)
    assert counts(info) == dict.fromkeys(INFRACTIONS, 0) and not bool(terminated) and float(reward) > 0


def test_speeding_and_the_speed_factor(step_env):
    _, params, state = straight_world()
    limit = float(state.route.section_limits[0])
    _, _, reward, terminated, info = _step(step_env, place(state, 20.0, v=limit + 2.0), params)
    assert counts(info) == {**dict.fromkeys(INFRACTIONS, 0), "speeding": 1}
    assert not bool(terminated)
    progress_percent = 100.0 * (limit + 2.0) * 0.1 / params.route_length
    assert float(reward) == pytest.approx(progress_percent * (1.0 - 2.0 / 2.23), rel=1e-4)
    _, _, reward, _, info = _step(step_env, place(state, 20.0, v=limit), params)
    assert counts(info)["speeding"] == 0
    assert float(reward) == pytest.approx(100.0 * limit * 0.1 / params.route_length, rel=1e-4)


def test_getting_stuck(step_env):
    _, params, state = straight_world()
    params = params.replace(stuck_steps=5)
    state = place(state, 20.0, v=0.0)
    for t in range(1, 6):
        _, state, _, terminated, info = _step(step_env, state, params)
        assert bool(terminated) == (t == 5)
        assert counts(info)["stuck"] == (t == 5)


# ---------------------------------------------------------------------------------------------
# Rewards and the driving score


def facts(**overrides) -> R.StepFacts:
    base = dict(progress_percent=0.5, speed=8.0, speed_limit=10.0, desired_speed=10.0, ttc_penalty=False,
                comfort_violations=0, lane_centre_penalty=False, lateral_distance=0.0, off_lane=False,
                heading_error=0.0, steer_change=0.0, collision=False, red_light=False, failed=False)
    base.update(overrides)
    return R.StepFacts(**{k: jnp.asarray(v) for k, v in base.items()})


def test_simple_reward_factors_against_hand_computation():
    assert float(R.simple_reward(facts())) == pytest.approx(0.5)
    assert float(R.simple_reward(facts(speed=11.0))) == pytest.approx(0.5 * (1 - 1.0 / 2.23), rel=1e-5)
    assert float(R.simple_reward(facts(speed=13.0))) == 0.0
    assert float(R.simple_reward(facts(ttc_penalty=True))) == pytest.approx(0.25)
    assert float(R.simple_reward(facts(comfort_violations=3))) == pytest.approx(0.5 * (1 - 0.5 * 3 / 6))
    assert float(R.simple_reward(facts(lane_centre_penalty=True))) == pytest.approx(0.25)
    assert float(R.simple_reward(facts(lateral_distance=1.5))) == pytest.approx(0.5)  # only via the counter
    assert float(R.simple_reward(facts(off_lane=True))) == 0.0
    assert float(R.simple_reward(facts(collision=True, failed=True))) == pytest.approx(0.5 - 1.0)
    assert float(R.simple_reward(facts(red_light=True, failed=True))) == pytest.approx(0.5 - 1.0)
    assert float(R.simple_reward(facts(failed=True))) == pytest.approx(0.5)  # off road, stuck: no hint
    combined = facts(speed=10.5, ttc_penalty=True, comfort_violations=1, lane_centre_penalty=True)
    expected = 0.5 * (1 - 0.5 / 2.23) * 0.5 * (1 - 0.5 / 6) * 0.5
    assert float(R.simple_reward(combined)) == pytest.approx(expected, rel=1e-5)


def test_hold_and_lane_centre_counter_rules():
    hold = R.update_hold(jnp.asarray([0, 3, 500]), jnp.asarray([True, False, False]), 500)
    assert hold.tolist() == [500, 2, 499]
    c = jnp.int32(5)
    assert int(R.update_lane_centre_counter(c, jnp.float32(0.51), jnp.bool_(False))) == 6
    assert int(R.update_lane_centre_counter(c, jnp.float32(0.5), jnp.bool_(False))) == 4
    assert int(R.update_lane_centre_counter(jnp.int32(0), jnp.float32(0.0), jnp.bool_(False))) == 0
    assert int(R.update_lane_centre_counter(c, jnp.float32(1.0), jnp.bool_(True))) == 5  # junction: unchanged


def _progress_percent(before, after, params) -> float:
    return 100.0 * (float(after.progress) - float(before.progress)) / params.route_length


def test_ttc_penalty_is_held_for_500_steps(step_env):
    """A vehicle standing 2.5 m beyond the ego's bumper at 5 m/s (time to collision 0.5 s) halves the
    reward and starts a 500-step hold (CaRL: 500 ticks at 10 Hz); with the road then clear, the factor
    stays until the hold has run out."""
    _, params, state = straight_world()
    state = place(state, 20.0, v=5.0)
    close = state.replace(traffic=one_vehicle(state, 20.0 + 4.5 + 2.5))
    _, after, reward, terminated, _ = _step(step_env, close, params)
    assert not bool(terminated) and int(after.ttc_hold) == 500
    assert float(reward) == pytest.approx(0.5 * _progress_percent(close, after, params), rel=1e-5)
    clear = state.replace(traffic=state.traffic.replace(active=jnp.zeros_like(state.traffic.active)))
    _, after, reward, _, _ = _step(step_env, clear.replace(ttc_hold=jnp.int32(2)), params)
    assert int(after.ttc_hold) == 1
    assert float(reward) == pytest.approx(0.5 * _progress_percent(clear, after, params), rel=1e-5)
    before = after
    _, after, reward, _, _ = _step(step_env, before, params)
    assert int(after.ttc_hold) == 0
    assert float(reward) == pytest.approx(_progress_percent(before, after, params), rel=1e-5)
    # Without the vehicle no hold starts.
    _, after, _, _, _ = _step(step_env, clear, params)
    assert int(after.ttc_hold) == 0


def test_comfort_penalty_is_held_per_metric_for_500_steps(step_env):
    """Full braking from 10 m/s (-6 m/s^2 after cruising) breaks three comfort bounds: longitudinal
    acceleration, longitudinal jerk and jerk magnitude; the factor is 1 - 0.5 * 3 / 6 and each metric
    is held for 500 steps, counting down while the ego then cruises."""
    _, params, state = straight_world()
    state = place(state, 20.0, v=10.0)
    _, after, reward, _, _ = _step(step_env, state, params, action=(0.0, -1.0))
    assert after.comfort_hold.tolist() == [500, 0, 500, 500, 0, 0]
    assert float(reward) == pytest.approx(0.75 * _progress_percent(state, after, params), rel=1e-5)
    cruising = state.replace(comfort_hold=jnp.asarray([0, 0, 0, 2, 0, 0], jnp.int32))
    _, after, reward, _, _ = _step(step_env, cruising, params)
    assert after.comfort_hold.tolist() == [0, 0, 0, 1, 0, 0]
    assert float(reward) == pytest.approx((1 - 0.5 / 6) * _progress_percent(cruising, after, params), rel=1e-5)
    _, after2, reward, _, _ = _step(step_env, after, params)
    assert after2.comfort_hold.tolist() == [0] * 6
    assert float(reward) == pytest.approx(_progress_percent(after, after2, params), rel=1e-5)


def test_lane_centre_factor_after_3_seconds_off_centre(step_env):
    """Cruising 0.7 m off the lane centre: full reward for 30 steps (3 s), then x 0.5 from the 31st;
    one step back at the centre lowers the counter to 30 and lifts the factor. Within 0.5 m it falls."""
    _, params, state = straight_world()
    first_junction = float(state.route.junctions[0])
    state = place(state, 5.0, d=0.7, v=5.0)
    assert first_junction > 5.0 + 31 * 0.5 + params.lane_width
    factors = []
    for _ in range(31):
        _, after, reward, _, _ = _step(step_env, state, params)
        factors.append(float(reward) / _progress_percent(state, after, params))
        state = after
    np.testing.assert_allclose(factors, [1.0] * 30 + [0.5], rtol=1e-4)
    assert int(state.lane_centre_counter) == 31
    centred = place(state, float(state.s), d=0.0, v=5.0)
    _, after, reward, _, _ = _step(step_env, centred, params)
    assert int(after.lane_centre_counter) == 30
    assert float(reward) == pytest.approx(_progress_percent(centred, after, params), rel=1e-4)
    _, params, state = straight_world()
    grace = place(state, 5.0, d=0.45, v=5.0).replace(lane_centre_counter=jnp.int32(10))
    _, after, _, _, _ = _step(step_env, grace, params)
    assert int(after.lane_centre_counter) == 9
    # In a junction the counter is frozen and there is no factor.
    in_junction = place(state, first_junction, d=0.7, v=5.0).replace(lane_centre_counter=jnp.int32(40))
    _, after, reward, _, _ = _step(step_env, in_junction, params)
    assert int(after.lane_centre_counter) == 40
    assert float(reward) == pytest.approx(_progress_percent(in_junction, after, params), rel=1e-4)


def test_finishing_the_route_is_a_truncation():
    """As in the authors' code: reaching the end of the route truncates (the agent bootstraps), while
    infractions terminate."""
    env, params, state = straight_world()
    near_end = place(state, params.route_length - 1.2, v=5.0)
    obs, after, reward, terminated, truncated, info = env.step(jax.random.PRNGKey(0), near_end,
                                                               jnp.zeros(2), params)
    assert bool(info["success"]) and bool(truncated) and not bool(terminated)
    assert float(info["route_completion"]) == 1.0 and float(reward) > 0
    assert int(after.time) == 0  # auto-reset
    _, after, _, terminated, truncated, _ = env.step(jax.random.PRNGKey(0), place(state, 50.0, v=5.0),
                                                     jnp.zeros(2), params)
    assert not bool(terminated) and not bool(truncated)


def test_shaped_reward_against_hand_computation():
    f = facts(speed=8.0, desired_speed=10.0, lateral_distance=0.4, heading_error=-0.2, steer_change=0.05)
    assert float(R.shaped_reward(f)) == pytest.approx((1 - 2 / 10) - 0.4 / 2 - 0.2 - 0.1, abs=1e-6)
    slow_road = facts(speed=2.0, speed_limit=5.0, desired_speed=5.0)  # below Roach's 6 m/s: its divisor
    assert float(R.shaped_reward(slow_road)) == pytest.approx(1 - 3 / 6, abs=1e-6)
    assert float(R.shaped_reward(facts(speed=10.0, steer_change=0.005))) == pytest.approx(1.0)
    crash = facts(speed=10.0, collision=True, failed=True)
    assert float(R.shaped_reward(crash)) == pytest.approx(1.0 - 1.0 - 10.0)
    off = facts(speed=10.0, failed=True)  # e.g. left the road: -1 without the speed term
    assert float(R.shaped_reward(off)) == pytest.approx(0.0)
    # Roach's desired speed falls to 0 at the hazard, over a ramp of v_limit^2 / 7.2 m (>= 5 m).
    assert float(R.roach_desired_speed(jnp.float32(6.0), jnp.inf, jnp.float32(2.5))) == pytest.approx(3.0)
    assert float(R.roach_desired_speed(jnp.float32(12.0), jnp.float32(18.0), jnp.inf)) == pytest.approx(6.0)


def test_driving_score_formula():
    counts_ = jnp.asarray([2, 1, 0, 0, 3, 1])  # collision x2, red light, speeding x3, stuck
    score = R.driving_score(jnp.float32(0.8), jnp.float32(0.1), counts_)
    assert float(score) == pytest.approx((0.8 - 0.1) * 0.6**2 * 0.7, rel=1e-6)
    assert float(R.driving_score(jnp.float32(1.0), jnp.float32(0.0), jnp.zeros(6, jnp.int32))) == 1.0
    assert float(R.driving_score(jnp.float32(0.3), jnp.float32(0.5), jnp.zeros(6, jnp.int32))) == 0.0


@pytest.fixture(scope="module")
def controller_runs():
    """The scripted controller on 4 straight empty roads and 8 generated routes with traffic, in one
    compiled program (the two differ only in vmappable parameters)."""
    env, params = envs.make("Driving-v0")

    def run(p, key):
        return run_episode(env, p, key, lambda state, obs, k: scripted_action(state, p))

    straight = params.replace(max_turn=0.0, traffic_density=0.0)
    keys = jax.random.split(jax.random.PRNGKey(5), 12)
    batched = compiled(jax.vmap(run, in_axes=(None, 0)), params, keys[:4])
    return batched(straight, keys[:4]), batched(params, keys[4:8]), batched(params, keys[8:])


def test_simple_reward_sums_to_100_times_route_completion_on_a_clean_drive(controller_runs):
    (info, total, _), _, _ = controller_runs
    assert np.all(np.asarray(info["success"]))
    for name in INFRACTIONS:
        assert np.all(np.asarray(info["infractions"][name]) == 0), name
    # On the centre line of a straight road every factor is 1: the return is exactly 100 x RC.
    np.testing.assert_allclose(np.asarray(total), 100.0 * np.asarray(info["route_completion"]), atol=1e-2)


def test_controller_drives_generated_routes_cleanly(controller_runs):
    _, first, second = controller_runs
    info, total, _ = jax.tree.map(lambda a, b: np.concatenate([a, b]), first, second)
    completion = np.asarray(info["route_completion"])
    assert np.all(completion >= 0.95)
    for name in INFRACTIONS:
        assert np.all(np.asarray(info["infractions"][name]) == 0), name
    np.testing.assert_allclose(np.asarray(info["driving_score"]), completion, rtol=1e-6)
    # Curves and comfort cost a little through the multiplicative factors, never more than 100 x RC.
    assert np.all(np.asarray(total) <= 100.0 * completion + 1e-2)
    assert np.all(np.asarray(total) >= 80.0 * completion)


# ---------------------------------------------------------------------------------------------
# API, jit and vmap


def test_default_time_limit():
    # The shared checks run in test_env_conformance.py on the dict (BEV) observation with the shaped
    # reward; the vector observation is checked against its space below.
    _, params = envs.make("Driving-v0")
    assert params.max_steps_in_episode == 500


def test_jit_and_vmap_over_thousands_of_worlds():
    env, params = envs.make("Driving-v0")
    num = 4096
    keys = jax.random.split(jax.random.PRNGKey(0), num)
    obs, state = compiled(jax.vmap(env.reset_env, in_axes=(0, None)), keys, params)(keys, params)
    step = compiled(jax.vmap(env.step, in_axes=(0, 0, 0, None)), keys, state, jnp.zeros((num, 2)), params)
    for t in range(3):
        actions = jax.random.uniform(jax.random.PRNGKey(t), (num, 2), minval=-1.0, maxval=1.0)
        obs, state, reward, terminated, truncated, info = step(
            jax.random.split(jax.random.PRNGKey(100 + t), num), state, actions, params)
    assert obs.shape == (num, env.observation_space(params).shape[0]) and reward.shape == (num,)
    assert np.all(np.isfinite(np.asarray(obs))) and np.all(np.isfinite(np.asarray(reward)))
    assert bool(jnp.all(jax.vmap(env.observation_space(params).contains)(obs)))
    score = np.asarray(info["driving_score"])
    assert np.all((score >= 0) & (score <= 1)) and np.all(np.asarray(state.time) == 3)
    # Each world is its own route, and each moved under its own action.
    assert len(np.unique(np.round(np.asarray(state.route.points[:, -1, 1]), 2))) > num // 2
    assert len(np.unique(np.round(np.asarray(state.ego.v), 4))) > num // 4


def test_bird_eye_view_shows_lanes_and_vehicles():
    env, params, state = straight_world(observation="bev")
    state = place(state, 20.0)
    traffic = one_vehicle(state, 30.0)
    state = state.replace(traffic=traffic)
    bev = np.asarray(compiled(env.bird_eye_view, state, params)(state, params))
    size, res = params.bev_size, params.bev_resolution
    assert bev.shape == (size, size, 5) and bev.min() >= 0 and bev.max() <= 1

    def pixel(forward, left):
        return int(0.75 * size - forward / res), int(0.5 * size - left / res)

    assert bev[pixel(0.0, 0.0)][1] == 1 and bev[pixel(0.0, 0.0)][0] == 1  # own lane, on the road
    assert bev[pixel(0.0, 3.5)][0] == 1 and bev[pixel(0.0, 3.5)][1] == 0  # opposite lane: road, not route
    assert bev[pixel(0.0, -5.0)][0] == 0  # beyond the right edge
    assert bev[pixel(10.0, 0.0)][2] == 1 and bev[pixel(0.0, 0.0)][2] == 0  # the vehicle 10 m ahead


def test_render_frame_and_gif(tmp_path):
    from envs.driving.render import bev_to_rgb, render_frame, save_gif

    env, params, state = straight_world()
    frame = render_frame(place(state, 30.0), params, pixels=160)
    assert frame.shape == (160, 160, 3) and frame.dtype == np.uint8
    ego_red = (frame[..., 0] > 200) & (frame[..., 1] < 80) & (frame[..., 2] < 80)
    assert ego_red.sum() > 0
    save_gif([frame, frame], tmp_path / "episode.gif")
    assert (tmp_path / "episode.gif").stat().st_size > 0
    assert bev_to_rgb(np.zeros((8, 8, 5)), scale=2).shape == (16, 16, 3)


@pytest.mark.slow
def test_scripted_controller_is_clean_on_90_percent_of_routes():
    env, params = envs.make("Driving-v0")
    run = jax.jit(jax.vmap(lambda key: run_episode(env, params, key,
                                                   lambda state, obs, k: scripted_action(state, params))))
    info, _, _ = run(jax.random.split(jax.random.PRNGKey(123), 200))
    clean = np.asarray(info["route_completion"]) >= 0.95
    for name in INFRACTIONS:
        clean &= np.asarray(info["infractions"][name]) == 0
    assert clean.mean() >= 0.9, clean.mean()

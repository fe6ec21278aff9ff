"""CaRL (papers/carl.md): PPO with the simple reward and a Beta head learns to drive in ``Driving-v0``,
judged on held-out routes with the mean of its Beta distribution (results/carl/learning.md).

The fast tests check that the evaluation routes are really held out; the learning check is slow."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import carl_learning  # noqa: E402
import carl_minibatch  # noqa: E402

import envs  # noqa: E402
from envs.driving.world import route_key  # noqa: E402


def test_held_out_keys_are_the_routes_the_environment_draws():
    """`held_out_route_keys` mirrors how ``Driving-v0`` with ``num_contexts=1`` picks its route."""
    _, params = envs.make("Driving-v0", num_contexts=1, context_seed=0)
    keys = np.asarray(carl_minibatch.held_out_route_keys(500, 3))
    for j in range(3):
        drawn = route_key(jax.random.PRNGKey(j), params.replace(context_seed=500 + j))
        np.testing.assert_array_equal(np.asarray(drawn), keys[j])


def test_check_held_out_refuses_overlap_and_fresh_routes():
    carl_minibatch.check_held_out({"num_contexts": 1000, "context_seed": 0}, 16, 10_000)
    with pytest.raises(ValueError, match="also training routes"):  # training level 0 is held-out route 0
        carl_minibatch.check_held_out({"num_contexts": 1000, "context_seed": 10_000}, 16, 10_000)
    with pytest.raises(ValueError, match="finite route set"):
        carl_minibatch.check_held_out({"num_contexts": -1}, 16, 10_000)


@pytest.mark.slow
def test_ppo_simple_reward_reaches_route_completion_0_8_on_held_out_routes():
    """The recorded configuration, 3 seeds as one program: the mean over seeds of each policy's route
    completion on 32 held-out routes reaches 0.8 (results/carl/learning.md)."""
    config = carl_learning.learning_config()
    rows = carl_learning.train_and_evaluate(config, [config.learning_rate] * carl_learning.TEST_SEEDS, num_evals=3)
    final = [row for row in rows if row["steps"] == rows[-1]["steps"]]
    assert len(final) == carl_learning.TEST_SEEDS
    assert np.mean([row["route_completion"] for row in final]) >= 0.8, final


# ---------------------------------------------------------------------------------------------
# The mini-batch study's design and judgement (experiments/carl_minibatch.py)


def test_minibatch_sizes_differ_only_in_minibatch_and_data():
    """The sweep file at every size, as the paper scales: 4 mini-batches per epoch, fixed rollout length,
    envs grow with the mini-batch, every size takes the same number of gradient steps, and the two
    rewards are the labelled points; `design` refuses a sweep whose groups differ in anything else."""
    from jaxrl.sweep import load_plan, parse_plan

    path = ROOT / "sweeps" / "carl_minibatch.yaml"
    expected = {"quick": [256, 1024], "medium": [256, 1024, 4096], "full": [256, 1024, 4096, 16384]}
    for size, minibatches in expected.items():
        plan = load_plan(path, size=size)
        study = carl_minibatch.design(plan)
        assert study["rewards"] == ["simple", "shaped"] and study["minibatch_sizes"] == minibatches
        configs = [g.config for g in plan.groups]
        assert len(configs) == 2 * len(minibatches) and all(len(g.trials) == study["seeds"] for g in plan.groups)
        assert len({carl_minibatch.gradient_steps(c) for c in configs}) == 1
        for c in configs:
            assert c.num_minibatches == 4 and c.num_steps == 256 and c.num_updates == study["num_updates"]
            assert c.env_kwargs["reward"] in ("simple", "shaped")
    text = path.read_text().replace("total_timesteps: [20_480, 81_920]", "total_timesteps: [20_480, 61_440]")
    with pytest.raises(ValueError, match="differ in more than"):
        carl_minibatch.design(parse_plan(text, str(path), size="quick"))


def test_route_endings_sets_exactly_one_flag_per_route():
    scores = {"success": np.array([True, False, False, False, False, False]),
              "collision": np.array([0, 1, 0, 1, 0, 0]), "red_light": np.array([0, 0, 1, 1, 0, 0]),
              "off_road": np.array([0, 0, 0, 0, 1, 0]), "stuck": np.array([0, 0, 0, 0, 0, 0])}
    endings = carl_minibatch.route_endings(scores)
    table = np.stack([endings[f"ended_{name}"] for name in carl_minibatch.ENDINGS], axis=1)
    assert np.all(table.sum(axis=1) == 1)
    assert [carl_minibatch.ENDINGS[i] for i in table.argmax(axis=1)] == [
        "finished", "collision", "red_light", "collision", "off_road", "time_limit"]


def _entry(reward: str, minibatch: int, score: float, width: float = 0.02, learned: bool = True) -> dict:
    return {"reward": reward, "minibatch": minibatch, "driving_score": score, "driving_score_low": score - width,
            "driving_score_high": score + width, "learned": learned}


def test_judge_has_positive_and_negative_controls():
    rewards = ["simple", "shaped"]
    paper_like = [_entry("simple", 256, 0.5), _entry("simple", 4096, 0.7),
                  _entry("shaped", 256, 0.5), _entry("shaped", 4096, 0.3)]
    assert carl_minibatch.judge(paper_like, rewards)[0] == "reproduced"
    both_scale = [_entry("simple", 256, 0.5), _entry("simple", 4096, 0.7),
                  _entry("shaped", 256, 0.5), _entry("shaped", 4096, 0.7)]
    assert carl_minibatch.judge(both_scale, rewards)[0] == "not reproduced"
    reversed_ = [_entry("simple", 256, 0.5), _entry("simple", 4096, 0.3),
                 _entry("shaped", 256, 0.5), _entry("shaped", 4096, 0.7)]
    assert carl_minibatch.judge(reversed_, rewards)[0] == "not reproduced"
    unlearned = paper_like[:3] + [_entry("shaped", 4096, 0.3, learned=False)]
    verdict, _ = carl_minibatch.judge(unlearned, rewards)
    assert verdict.startswith("undecided") and "shaped 4096" in verdict


def test_learning_checks_flag_a_size_that_did_not_learn():
    curve = np.array([[0.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]] * 3)
    learned = [{"driving_score": 0.5 + 0.01 * s, "untrained_driving_score": 0.0} for s in range(3)]
    checks = carl_minibatch.learning_checks(learned, curve)
    assert checks["learned"] and checks["late_rise"] == pytest.approx(0.0)
    flat = [{"driving_score": 0.02 * s, "untrained_driving_score": 0.01} for s in range(3)]
    rising = np.array([np.linspace(0.0, 9.0, 10)] * 3)
    checks = carl_minibatch.learning_checks(flat, rising)
    assert not checks["learned"] and checks["late_rise"] == pytest.approx(3.0 / 9.0)
    # Beating the untrained policy is not enough when a policy that never steers does as well.
    assert not carl_minibatch.learning_checks(learned, curve, floor=0.5)["learned"]
    assert carl_minibatch.learning_checks(learned, curve, floor=0.4)["learned"]

"""A run sharded over two (simulated CPU) devices matches the single-device run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from jaxrl.ppo import PPOConfig
    from jaxrl.run import RunConfig, train_run
    from jaxrl.checkpoints import Checkpointer
    assert len(jax.devices()) == 2, jax.devices()
    out = sys.argv[1]
    config = PPOConfig(total_timesteps=1024, num_envs=4, num_steps=32, num_minibatches=2, update_epochs=2)
    for name, devices in (("single", 1), ("sharded", 2)):
        train_run(config, RunConfig(out=f"{out}/{name}", log_every=4, progress=False, devices=devices))
    rows = {n: [json.loads(l) for l in open(f"{out}/{n}/metrics.jsonl")] for n in ("single", "sharded")}
    diffs = [abs(a["loss"] - b["loss"]) for a, b in zip(rows["single"], rows["sharded"])]
    returns = [(a["episode_return_mean"], b["episode_return_mean"])
               for a, b in zip(rows["single"], rows["sharded"])]
    # The environments really are split: each device holds half of them after an update.
    import jax.numpy as jnp
    from jaxrl.ppo import make_train
    from jaxrl.sharding import make_mesh, runner_state_shardings
    trainer = make_train(config)
    keys = jnp.stack([jax.random.PRNGKey(0)])
    hp = jax.tree.map(lambda x: x[None], config.hyperparams())
    state = jax.vmap(trainer.init_fn)(keys, hp)
    shardings = runner_state_shardings(state, make_mesh(2), config.num_envs)
    state = jax.device_put(state, shardings)
    update = jax.jit(jax.vmap(trainer.update_fn), in_shardings=(shardings,), out_shardings=(shardings, None))
    state, _ = update(state)
    obs = state.rollout.obs
    shard_envs = sorted(s.data.shape[1] for s in obs.addressable_shards)
    print(json.dumps({"loss_diffs": diffs, "returns": returns, "rows": len(rows["single"]),
                      "devices": len(obs.sharding.device_set), "shard_envs": shard_envs}))
    """
)


def test_two_device_run_matches_single_device(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    script = tmp_path / "shard.py"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rows"] == 2
    assert report["devices"] == 2 and report["shard_envs"] == [2, 2]
    assert max(report["loss_diffs"]) < 1e-3
    for single, sharded in report["returns"]:
        assert abs(single - sharded) < 1e-3 * max(1.0, abs(single))

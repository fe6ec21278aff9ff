"""Agents, exploration bonuses, the training loop, checkpoints, sweeps and the CLI."""

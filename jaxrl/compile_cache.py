"""JAX's persistent compilation cache, set in one place for the command line and the experiments.

A program compiled once (a sweep group, an evaluator) is then read from disk by later processes with
the same JAX version and program, instead of compiled again. The cache changes no number.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "jaxrl" / "jax_compilation_cache"
ENV_VAR = "JAXRL_COMPILATION_CACHE"


def enable_compilation_cache(directory: str | Path | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache in ``directory`` (default: ``$JAXRL_COMPILATION_CACHE``,
    else ``~/.cache/jaxrl/jax_compilation_cache``); an empty string or "off" turns it off. Returns the
    folder in use, or None when off."""
    import jax

    if directory is None:
        directory = os.environ.get(ENV_VAR, str(DEFAULT_CACHE_DIR))
    if str(directory) in ("", "off", "none", "None"):
        return None
    path = Path(directory).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only home: compile as usual
        print(f"warning: no compilation cache in {path}: {exc.strerror or exc}", file=sys.stderr)
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    return path

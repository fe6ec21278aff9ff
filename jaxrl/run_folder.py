"""The files of a run folder, read and written safely (no JAX here: sweeps parse without it).

``config.json`` and ``status.json`` are written atomically (a temporary file, then ``os.replace``), so
a kill never leaves half a file. ``metrics.jsonl`` is appended line by line; a kill can cut its last
line, which the readers here drop with a warning. Damage they cannot repair raises ``RunFolderError``
with one line naming the file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
# What makes a folder hold a run; `--overwrite` removes exactly these.
RUN_FILES = (CONFIG_FILE, METRICS_FILE, STATUS_FILE, "checkpoints", "checkpoints_unreadable", "tensorboard")


class RunFolderError(ValueError):
    """A file of a run folder is damaged beyond repair; the message names it."""


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and ``os.replace``."""
    write_text_atomic(Path(path), json.dumps(data, indent=2, default=str))


def write_status(folder: Path, status: str, error: str | None, **extra: Any) -> None:
    """``status.json`` of a run or trial folder: ``{"status": "done"|"failed", "error": ..., **extra}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / STATUS_FILE, {"status": status, "error": error, **extra})


def read_status(folder: Path) -> dict[str, Any] | None:
    """The folder's status.json, or None if the run has not finished (or the file is unreadable)."""
    try:
        status = json.loads((Path(folder) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) and status.get("status") in ("done", "failed") else None


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; RunFolderError naming the file if it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RunFolderError(
            f"{path} is not valid JSON (line {err.lineno}: {err.msg}); repair it or start the run again"
        ) from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} should hold a JSON object, got {type(data).__name__}")
    return data


def read_metrics(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl``. A cut last line (a kill in mid-write) is dropped with a warning,
    and with ``repair`` removed from the file; a damaged line before the last is a RunFolderError."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            if number < len(lines):
                raise RunFolderError(
                    f"{path}:{number} is not a JSON row; only a cut last line can be dropped"
                ) from None
            action = "dropped it from the file" if repair else "ignoring it"
            warn(f"{path}: the last line was cut (a killed run?); {action}")
            if repair:
                write_text_atomic(path, "".join(ln + "\n" for ln in lines[:-1]))
            break
        rows.append(row)
    return rows


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def holds_run(folder: Path) -> list[str]:
    """The run files present in ``folder`` (empty when it holds no run)."""
    folder = Path(folder)
    return [name for name in RUN_FILES if (folder / name).exists()]

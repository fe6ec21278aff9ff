"""Sweep files as YAML with the line of every key, so that every error names its file and line."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import yaml


class SweepError(ValueError):
    """An invalid sweep file or an inconsistent sweep directory; the message names the file and line."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` (no dot) as a float, as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


@dataclasses.dataclass
class Source:
    """The parsed file and the line of every mapping key and sequence item, by path."""

    path: str
    lines: dict[tuple, int]

    def line(self, *path: Any) -> int:
        """The line of ``path`` (a tuple of keys and indices), or of its nearest recorded parent."""
        path_t = tuple(path)
        while path_t and path_t not in self.lines:
            path_t = path_t[:-1]
        return self.lines.get(path_t, 1)

    def error(self, message: str, *path: Any) -> SweepError:
        return SweepError(f"{self.path}:{self.line(*path)}: {message}")


def load_yaml(text: str, filename: str) -> tuple[Any, Source]:
    """The document in ``text`` and its `Source`; SweepError (with the line) for invalid YAML or a
    key given twice in one mapping."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise SweepError(f"{filename}:{line}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SweepError(f"{filename}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    source = Source(filename, {(): 1})
    if node is not None:
        _record_lines(node, (), source)
    return data, source


def _record_lines(node: yaml.Node, path: tuple, source: Source) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise SweepError(f"{source.path}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
            source.lines[path + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, path + (key,), source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            source.lines[path + (i,)] = item.start_mark.line + 1
            _record_lines(item, path + (i,), source)

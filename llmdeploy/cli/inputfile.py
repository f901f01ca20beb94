"""Reading the files users hand to commands (plans, check results, outputs, policy config), bounded.

One line per problem, whatever the file holds: a binary file, an endless one
(`/dev/zero`, a FIFO), JSON nested deeper than Python's stack, an integer of
5000 digits (past Python's int-to-string limit), or just too much of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

# Plans of our stacks are tens of KiB; a thousand-resource plan stays far below this.
MAX_INPUT_BYTES = 32 * 1024 * 1024
MAX_JSON_DEPTH = 64


class InputFileError(ValueError):
    """`str()` is one line: what was found, and what is accepted (the caller names the file)."""


def read_bounded_text(
    path: str | os.PathLike[str],
    limit: int = MAX_INPUT_BYTES,
    *,
    what: str = "a file",
    text: str = "JSON",
    unit: Literal["KiB", "MiB"] = "MiB",
) -> str:
    """The file's text: at most `limit` bytes of UTF-8, read without trusting its size.

    `what`, `text` and `unit` word the one-line error (`a stack file`, `YAML`, the limit in KiB).
    """
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as error:
        raise InputFileError(f"cannot read it ({error.strerror or error})") from None
    if len(raw) > limit:
        size = limit // (1024 * 1024 if unit == "MiB" else 1024)
        raise InputFileError(f"found more than {size} {unit}; accepted: {what} up to that size")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputFileError(
            f"found a byte that is not UTF-8 text (0x{raw[error.start]:02x} at byte {error.start}); "
            f"accepted: a UTF-8 {text} file"
        ) from None


def json_depth_problem(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Where `value` nests deeper than `limit` (iteratively: no recursion to exhaust), else None."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return f"found nesting deeper than {limit} levels; accepted: at most {limit}"
        if isinstance(current, dict):
            stack.extend((child, depth + 1) for child in current.values())
        elif isinstance(current, list):
            stack.extend((child, depth + 1) for child in current)
    return None


def parse_json(text: str, limit: int = MAX_JSON_DEPTH) -> Any:
    """JSON from `text`, with every way it can fail as one `InputFileError` line."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(f"not JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise InputFileError(f"found nesting too deep to read; accepted: at most {limit} levels") from None
    except ValueError as error:
        # Python refuses to parse integers past 4300 digits (CVE-2020-10735).
        raise InputFileError(f"not usable JSON: {' '.join(str(error).split())[:160]}") from None
    problem = json_depth_problem(value, limit)
    if problem:
        raise InputFileError(problem)
    return value


def read_json_file(path: str | Path, limit: int = MAX_INPUT_BYTES) -> Any:
    return parse_json(read_bounded_text(path, limit))

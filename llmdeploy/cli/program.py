"""The Pulumi program's own packages (`stacks`, `components`), imported from the program directory.

The wheel ships no top-level `stacks` or `components` (they would collide with any other package of
those names): they belong to the program. Pulumi's language host runs a program with its directory
first on sys.path; commands that read the program's settings import them the same way, from
`--program DIR`, and only when they run.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType


class ProgramModuleError(Exception):
    """The program directory has no such module (an llmdeploy program has `stacks/` and `components/`)."""


def import_from_program(program_dir: Path, module: str) -> ModuleType:
    """`module` (e.g. `stacks.settings`) as the program at `program_dir` would import it.

    A module already imported in this process is reused, as Python does; the program directory is on
    sys.path only while importing, so nothing else in the process sees it afterwards.
    """
    saved_path = list(sys.path)
    sys.path.insert(0, str(program_dir.resolve()))
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is None or not (module == error.name or module.startswith(f"{error.name}.")):
            raise  # a module the program itself imports is missing: the program's own error
        raise ProgramModuleError(
            f"{program_dir}: found no module {module!r}; accepted: an llmdeploy program directory "
            f"(Pulumi.yaml, __main__.py, stacks/, components/)"
        ) from None
    finally:
        sys.path[:] = saved_path
